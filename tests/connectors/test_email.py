"""Email connector: real SMTP on loopback in both directions (the built-in receiver and a local
recording SMTP server), threading, parsing (charsets, HTML, quotes, attachments), automated
mail, loops, duplicates, SMTP errors, IMAP polling against a fake server, the MTA pipe."""

from __future__ import annotations

import io
import smtplib
import socket
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command
from django_tasks_db.management.commands.db_worker import Worker

from teamline.connectors import email as email_connector
from teamline.connectors.base import (
    OutboundMessage,
    PermanentSendError,
    TransientSendError,
    WebhookRejected,
    WebhookRequest,
    connector_for_inbox,
    connector_for_provider,
)
from teamline.connectors.email_parts import imap
from teamline.connectors.email_parts.parsing import parse_email, strip_quoted
from teamline.connectors.email_parts.smtpd import make_controller
from teamline.connectors.models import WebhookEvent
from teamline.conversations.models import Conversation, Direction, Inbox, Message
from teamline.conversations.replies import do_send_reply
from teamline.core.testing import create_agent, create_team

ADDRESS = "support@brand.test"
CUSTOMER = "alice@example.com"


# --- helpers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Recorder:
    """A local SMTP server standing in for the customer's mail provider."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.rcpt_reply = "250 OK"
        self.messages: list[EmailMessage] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.rcpt_reply.startswith("250"):
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        from email import policy
        from email.parser import BytesParser

        self.envelopes.append(envelope)
        self.messages.append(
            BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        )
        return "250 OK"


@pytest.fixture
def recorder():
    handler = Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port  # type: ignore[attr-defined]
    yield handler
    controller.stop()


@pytest.fixture
def receiver():
    controller = make_controller("127.0.0.1", free_port(), max_size=200_000)
    controller.start()
    yield controller
    controller.stop()


def make_inbox(smtp_port: int = 1, **config: Any) -> Inbox:
    team = create_team("Support")
    return Inbox.objects.create(
        name="Brand Support",
        kind="email",
        default_team=team,
        config={
            "address": ADDRESS,
            "display_name": "Brand Support",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "starttls": False,
            "smtp_timeout": 5,
            **config,
        },
    )


def drain() -> None:
    """Run every ready task (pipeline processing, outbox) in this thread."""
    Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="email-tests",
        excluded_queue_names=[],
    ).run()


def customer_mail(
    text: str,
    *,
    subject: str = "My phone is broken",
    sender: str = f"Alice Example <{CUSTOMER}>",
    message_id: str | None = None,
    in_reply_to: str = "",
    references: str = "",
    **headers: str,
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ADDRESS
    mail["Subject"] = subject
    mail["Message-ID"] = message_id or make_msgid(domain="example.com")
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    if references:
        mail["References"] = references
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(text)
    return mail


def smtp_send(port: int, mail: EmailMessage, *, sender: str = CUSTOMER) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(mail, from_addr=sender, to_addrs=[ADDRESS])


def request(raw: bytes, **headers: str) -> WebhookRequest:
    return WebhookRequest("SMTP", "email:smtp", "", {}, headers, raw)


# --- the round trip over real SMTP ---------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_three_message_exchange_threads_both_ways_over_real_smtp(receiver, recorder):
    inbox = make_inbox(recorder.port)
    agent = create_agent("kari", team=inbox.default_team, presence="available")

    # 1. The customer writes to the built-in receiver (quoted history from an older thread).
    first = customer_mail(
        "My phone will not start since this morning.\n\n"
        "On Mon, 3 Mar 2025 at 10:00, Brand Support <support@brand.test> wrote:\n"
        "> Anything else we can do?\n",
        message_id="<first@example.com>",
    )
    smtp_send(receiver.port, first)
    event = WebhookEvent.objects.get(provider="email", external_id="<first@example.com>")
    assert event.inbox == inbox and event.headers["x-teamline-source"] == "smtp"
    assert b"My phone will not start" in bytes(event.body)
    drain()
    incoming = Message.objects.get(channel="email", external_id="<first@example.com>")
    conversation = incoming.conversation
    assert incoming.text == "My phone will not start since this morning."
    assert "Anything else we can do?" in incoming.content["original_text"]
    assert incoming.content["email"]["subject"] == "My phone is broken"
    assert incoming.content["sender"]["verified"] is False

    # 2. The agent answers: the outbox sends it to the customer's provider (the recorder).
    reply, _ = do_send_reply(
        conversation, "Sorry to hear that! Hold the power key 10 s.", actor=agent
    )
    drain()
    assert len(recorder.messages) == 1
    sent = recorder.messages[0]
    envelope = recorder.envelopes[0]
    assert envelope.mail_from == ADDRESS and envelope.rcpt_tos == [CUSTOMER]
    assert sent["Subject"] == "Re: My phone is broken"
    assert sent["From"].addresses[0].addr_spec == ADDRESS
    assert sent["From"].addresses[0].display_name == "Brand Support"
    assert sent["To"] == CUSTOMER
    assert sent["In-Reply-To"] == "<first@example.com>"
    assert sent["References"] == "<first@example.com>"
    assert sent["Message-ID"].endswith("@brand.test>")
    assert sent["Auto-Submitted"] is None  # a person wrote it
    assert "Hold the power key" in sent.get_content()
    reply.refresh_from_db()
    ours = sent["Message-ID"]
    assert reply.provider_message_id == ours
    assert email_connector.message_for_reference(ours) == reply

    # 3. The customer answers our mail: same conversation, their quote of us stripped.
    second = customer_mail(
        "Did that, it works again. Thanks!\n\n-- \nAlice\n",
        subject="Re: My phone is broken",
        message_id="<second@example.com>",
        in_reply_to=ours,
        references=f"<first@example.com> {ours}",
    )
    second.set_content(
        "Did that, it works again. Thanks!\n\n"
        "On Tue, 4 Mar 2025 at 09:12, Brand Support <support@brand.test> wrote:\n"
        "> Sorry to hear that! Hold the power key 10 s.\n"
        "\n-- \nAlice\n"
    )
    smtp_send(receiver.port, second)
    drain()
    answer = Message.objects.get(channel="email", external_id="<second@example.com>")
    assert answer.conversation_id == conversation.pk
    assert answer.text == "Did that, it works again. Thanks!"
    assert Conversation.objects.filter(customer=conversation.customer).count() == 1

    # 4. The agent's second reply threads under the customer's latest mail.
    do_send_reply(conversation, "Glad it works. Anything else?", actor=agent)
    drain()
    assert len(recorder.messages) == 2
    latest = recorder.messages[1]
    assert latest["Subject"] == "Re: My phone is broken"  # no "Re: Re:"
    assert latest["In-Reply-To"] == "<second@example.com>"
    assert latest["References"].split() == ["<first@example.com>", ours, "<second@example.com>"]
    assert latest["Message-ID"] != ours
    texts = [
        (m.direction, m.text)
        for m in Message.objects.filter(conversation=conversation).order_by("created_at", "pk")
    ]
    assert texts == [
        (Direction.INBOUND, "My phone will not start since this morning."),
        (Direction.OUTBOUND, "Sorry to hear that! Hold the power key 10 s."),
        (Direction.INBOUND, "Did that, it works again. Thanks!"),
        (Direction.OUTBOUND, "Glad it works. Anything else?"),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_message_id_is_absorbed(receiver):
    make_inbox()
    mail = customer_mail("Hello twice", message_id="<same@example.com>")
    smtp_send(receiver.port, mail)
    smtp_send(receiver.port, mail)  # the sending MTA retried
    drain()
    assert WebhookEvent.objects.filter(provider="email").count() == 1
    assert Message.objects.filter(channel="email").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_receiver_refuses_unknown_recipients_and_oversized_mail(receiver):
    make_inbox()
    with (
        smtplib.SMTP("127.0.0.1", receiver.port, timeout=10) as client,
        pytest.raises(smtplib.SMTPRecipientsRefused) as refused,
    ):
        client.send_message(customer_mail("hi"), from_addr=CUSTOMER, to_addrs=["x@brand.test"])
    code, _ = refused.value.recipients["x@brand.test"]
    assert code == 550
    big = customer_mail("x" * 300_000)
    with pytest.raises(smtplib.SMTPException) as too_big:
        smtp_send(receiver.port, big)
    assert getattr(too_big.value, "smtp_code", None) == 552
    # A +tag reaches the inbox.
    with smtplib.SMTP("127.0.0.1", receiver.port, timeout=10) as client:
        client.send_message(
            customer_mail("tagged"), from_addr=CUSTOMER, to_addrs=["Support+billing@brand.test"]
        )
    assert WebhookEvent.objects.filter(provider="email").count() == 1


# --- outbound errors and loops -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("450 4.2.1 Mailbox busy, try later", TransientSendError),
        ("550 5.1.1 No such user", PermanentSendError),
    ],
)
def test_smtp_4xx_is_transient_and_5xx_permanent(recorder, reply, error):
    inbox = make_inbox(recorder.port)
    recorder.rcpt_reply = reply
    with pytest.raises(error, match=reply.split()[0]):
        connector_for_inbox(inbox).send(
            inbox, OutboundMessage(0, CUSTOMER, "hi", extra={"subject": "Hi"})
        )


@pytest.mark.django_db
def test_connection_refused_is_transient():
    inbox = make_inbox(free_port())  # nothing listens there
    with pytest.raises(TransientSendError):
        email_connector.send_email(
            inbox, OutboundMessage(0, CUSTOMER, "hi", extra={"subject": "x"})
        )


@pytest.mark.django_db
def test_loops_are_prevented(recorder):
    inbox = make_inbox(recorder.port, aliases=["help@brand.test"])
    connector = connector_for_inbox(inbox)
    for own in (ADDRESS, "HELP@brand.test"):
        with pytest.raises(PermanentSendError, match="own inbox"):
            connector.send(inbox, OutboundMessage(0, own, "hi", extra={"subject": "x"}))
    with pytest.raises(PermanentSendError, match="never answered automatically"):
        connector.send(
            inbox,
            OutboundMessage(
                0, CUSTOMER, "auto", extra={"automated": True, "reply_to_automated": True}
            ),
        )
    with pytest.raises(PermanentSendError):
        connector.send(
            inbox, OutboundMessage(0, "no-reply@shop.example", "x", extra={"automated": True})
        )
    # An automated acknowledgement to a person is sent, and says it is automatic.
    result = connector.send(
        inbox, OutboundMessage(0, CUSTOMER, "We got it", extra={"automated": True, "subject": "Hi"})
    )
    assert recorder.messages[-1]["Auto-Submitted"] == "auto-replied"
    assert recorder.messages[-1]["Message-ID"] == result.provider_message_id
    # Our own mail coming back is not a customer writing.
    parsed = connector.parse(inbox, request(customer_mail("echo", sender=ADDRESS).as_bytes()))
    assert parsed.messages[0].automated


def test_webhook_deliveries_are_refused():
    connector = connector_for_provider("email")
    with pytest.raises(WebhookRejected):
        connector.verify(Inbox(kind="email"), request(b"Subject: x\r\n\r\nhi"))


# --- parsing -------------------------------------------------------------------------------

HTML_ONLY = b"""From: Bob <bob@example.com>
To: support@brand.test
Subject: =?utf-8?B?8J+TsSBQaG9uZSBpc3N1ZQ==?=
Message-ID: <html@example.com>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><head><style>p{color:red}</style><title>t</title></head><body>
<p onclick="steal()">Hello <b>team</b>, <a href="javascript:alert(1)">click</a>
<a href="https://example.com/x">link</a></p><script>alert('x')</script>
<img src="https://tracker.example/p.gif">
<div class="gmail_quote">On Mon, Support wrote:<blockquote>Old answer</blockquote></div>
</body></html>
"""


def test_html_is_sanitised_and_the_quote_is_not_shown():
    inbound = connector_for_provider("email").parse(Inbox(kind="email"), request(HTML_ONLY))
    message = inbound.messages[0]
    html = message.content["html"]
    assert "<script" not in html and "alert" not in html and "onclick" not in html
    assert "javascript:" not in html and "<img" not in html and "color:red" not in html
    assert "<b>team</b>" in html and 'href="https://example.com/x"' in html
    assert "steal()" in message.content["raw_html"]  # the original is kept (never rendered)
    assert message.text == "Hello team, click link"
    assert "Old answer" in message.content["original_text"]
    assert message.content["email"]["subject"] == "📱 Phone issue"  # RFC 2047, base64
    assert message.sender_verified is False and message.sender_value == "bob@example.com"


def test_rfc2047_headers_and_non_utf8_charsets():
    latin = (
        b"From: =?iso-8859-1?q?Ren=E9e_Dupr=E9?= <renee@example.fr>\r\n"
        b"To: support@brand.test\r\n"
        b"Subject: =?iso-8859-1?q?Probl=E8me_de_facture?=\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
    ) + "Ma facture est fausse, merci de vérifier.\r\n".encode("iso-8859-1")
    parsed = parse_email(latin)
    assert parsed.from_name == "Renée Dupré"
    assert parsed.subject == "Problème de facture"
    assert parsed.text == "Ma facture est fausse, merci de vérifier."
    assert parsed.event_id.startswith("sha256:")  # no Message-ID

    chinese_subject = (
        "=?gb2312?B?" + __import__("base64").b64encode("话费查询".encode("gb2312")).decode() + "?="
    )
    gb = (
        f"From: user@example.cn\r\nTo: support@brand.test\r\nSubject: {chinese_subject}\r\n"
        "Message-ID: <gb@example.cn>\r\n"
        "Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + __import__("base64").encodebytes("我的话费余额是多少？".encode("gb2312"))
    parsed = parse_email(gb)
    assert parsed.subject == "话费查询"
    assert parsed.text == "我的话费余额是多少？"


def test_attachments_are_kept_with_their_bytes():
    mail = customer_mail("See the photo and the invoice.")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    mail.add_attachment(png, maintype="image", subtype="png", filename="screen.png")
    mail.add_attachment(
        b"%PDF-1.4 ...", maintype="application", subtype="pdf", filename="facture été.pdf"
    )
    inbound = (
        connector_for_provider("email")
        .parse(Inbox(kind="email"), request(mail.as_bytes()))
        .messages[0]
    )
    assert inbound.text == "See the photo and the invoice."
    assert [(a.filename, a.content_type, a.data) for a in inbound.attachments] == [
        ("screen.png", "image/png", png),
        ("facture été.pdf", "application/pdf", b"%PDF-1.4 ..."),
    ]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Thanks!\n\n-----Original Message-----\nFrom: Support\nSent: Monday\nOld", "Thanks!"),
        (
            "Fine now.\n\n________________________________\nFrom: Support <s@b.test>\n"
            "Sent: Monday\nTo: me\nSubject: Re: x\n\nOld",
            "Fine now.",
        ),
        ("Yes please.\n> quoted line\n> another", "Yes please."),
        ("Call me.\n\n-- \nAlice Example\n+47 999 99 999", "Call me."),
        ("Ok.\n\nSent from my iPhone", "Ok."),
        ("Merci.\n\nLe lun. 3 mars 2025 à 10:00, Support <s@b.test> a écrit :\n> x", "Merci."),
        ("Just text, no quote.", "Just text, no quote."),
    ],
)
def test_quoted_history_and_signatures_are_stripped(text, shown):
    assert strip_quoted(text) == shown


BOUNCE = b"""From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: support@brand.test
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce1@mx.example.com>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; alice@example.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--B
Content-Type: text/rfc822-headers

From: Brand Support <support@brand.test>
To: alice@example.com
Subject: Re: My phone is broken
Message-ID: <teamline.7.abc@brand.test>

--B--
"""


def test_a_bounce_is_automated_and_fails_our_message():
    parsed = connector_for_provider("email").parse(Inbox(kind="email"), request(BOUNCE))
    assert parsed.messages[0].automated
    status = parsed.statuses[0]
    assert status.provider_message_id == "<teamline.7.abc@brand.test>"
    assert status.status == "failed" and "5.1.1" in status.error


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"X_Autoreply": "yes"},
        {"X_Autorespond": "Out of office"},
        {"Precedence": "bulk"},
        {"Precedence": "auto_reply"},
        {"Subject": "Automatic reply: My phone is broken"},
    ],
)
def test_auto_replies_are_recognised(headers):
    headers = dict(headers)
    subject = headers.pop("Subject", "Re: My phone is broken")
    mail = customer_mail("I am away until Monday.", subject=subject, **headers)
    parsed = parse_email(mail.as_bytes())
    assert parsed.automated, headers
    human = parse_email(customer_mail("x", Auto_Submitted="no").as_bytes())
    assert not human.automated


@pytest.mark.django_db(transaction=True)
def test_auto_replies_and_bounces_are_not_customer_messages(receiver):
    make_inbox()
    smtp_send(receiver.port, customer_mail("Real question", message_id="<q@example.com>"))
    auto = customer_mail(
        "I am away.", Auto_Submitted="auto-replied", message_id="<ooo@example.com>"
    )
    smtp_send(receiver.port, auto)
    with smtplib.SMTP("127.0.0.1", receiver.port, timeout=10) as client:
        client.sendmail("", [ADDRESS], BOUNCE)  # the null sender <>
    drain()
    customer_written = Message.objects.filter(channel="email", sender_kind="customer")
    assert list(customer_written.values_list("external_id", flat=True)) == ["<q@example.com>"]
    assert not Message.objects.filter(external_id="<ooo@example.com>", sender_kind="customer")
    conversation = customer_written.get().conversation
    assert conversation.unread_count == 1


# --- IMAP ----------------------------------------------------------------------------------


class FakeImap:
    """The imaplib.IMAP4 calls the poller makes, over an in-memory mailbox."""

    def __init__(self, messages: dict[int, bytes], uidvalidity: int = 1000) -> None:
        self.messages = messages
        self.uidvalidity = uidvalidity
        self.selected: tuple[str, bool] | None = None
        self.fetched: list[int] = []
        self.logged_out = False
        self._untagged: dict[str, list[bytes]] = {}

    def select(self, mailbox: str = "INBOX", readonly: bool = False):
        self.selected = (mailbox, readonly)
        self._untagged["UIDVALIDITY"] = [str(self.uidvalidity).encode()]
        return "OK", [str(len(self.messages)).encode()]

    def response(self, code: str):
        return code, self._untagged.pop(code, [None])

    def uid(self, command: str, *args: str):
        if command == "SEARCH":
            low = int(args[-1].split()[1].split(":")[0])
            found = [uid for uid in sorted(self.messages) if uid >= low]
            if not found and self.messages:
                found = [max(self.messages)]  # "n:*" always matches the highest UID
            return "OK", [" ".join(map(str, found)).encode()]
        if command == "FETCH":
            uid = int(args[0])
            assert args[1] == "(BODY.PEEK[])"  # never marks mail as read
            self.fetched.append(uid)
            raw = self.messages[uid]
            return "OK", [(f"1 (UID {uid} BODY[] {{{len(raw)}}}".encode(), raw), b")"]
        raise AssertionError(command)

    def logout(self):
        self.logged_out = True
        return "BYE", []


@pytest.mark.django_db(transaction=True)
def test_imap_polling_remembers_uidvalidity_and_uid_and_dedupes_message_ids():
    inbox = make_inbox(imap_host="imap.brand.test", imap_mailbox="INBOX")
    fake = FakeImap(
        {
            3: customer_mail("first", message_id="<i1@example.com>").as_bytes(),
            5: customer_mail("second", message_id="<i2@example.com>").as_bytes(),
        }
    )
    result = imap.poll_inbox(inbox, connector=lambda _inbox: fake)
    assert (result.fetched, result.stored, result.last_uid) == (2, 2, 5)
    assert fake.selected == ("INBOX", True) and fake.logged_out
    inbox.refresh_from_db()
    assert inbox.config["imap_state"]["INBOX"] == {"uidvalidity": 1000, "last_uid": 5}
    assert inbox.config["address"] == ADDRESS  # the rest of the config is untouched

    # Nothing new: the highest UID the server always returns is not fetched again.
    fake.fetched.clear()
    result = imap.poll_inbox(inbox, connector=lambda _inbox: fake)
    assert (result.fetched, fake.fetched) == (0, [])

    # New mail: only it is fetched.
    fake.messages[9] = customer_mail("third", message_id="<i3@example.com>").as_bytes()
    result = imap.poll_inbox(inbox, connector=lambda _inbox: fake)
    assert fake.fetched == [9] and result.stored == 1

    # The mailbox was rebuilt (new UIDVALIDITY, new UIDs): all re-read, nothing doubled.
    fake.uidvalidity = 2000
    fake.messages = {1: fake.messages[3], 2: fake.messages[5], 3: fake.messages[9]}
    fake.fetched.clear()
    result = imap.poll_inbox(inbox, connector=lambda _inbox: fake)
    assert fake.fetched == [1, 2, 3]
    assert (result.stored, result.duplicates, result.uidvalidity) == (0, 3, 2000)
    drain()
    assert WebhookEvent.objects.filter(provider="email").count() == 3
    assert Message.objects.filter(channel="email").count() == 3

    outcomes = imap.poll_all(connector=lambda _inbox: fake)
    assert [(i.pk, type(o).__name__) for i, o in outcomes] == [(inbox.pk, "PollResult")]


def test_imap_needs_tls():
    inbox = Inbox(kind="email", config={"imap_host": "imap.x", "imap_security": "none"})
    with pytest.raises(imap.ImapError, match="ssl"):
        imap.connect(inbox)


# --- the MTA pipe --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_mta_pipe_stores_once_and_refuses_unknown_inboxes(capsys):
    inbox = make_inbox()
    raw = customer_mail("Via Postfix", message_id="<pipe@example.com>").as_bytes()
    call_command("email_pipe", "--inbox", str(inbox.public_id), stdin=io.BytesIO(raw))
    call_command("email_pipe", "--inbox", str(inbox.public_id), stdin=io.BytesIO(raw))
    assert capsys.readouterr().out.split("\n")[:2] == [
        "stored <pipe@example.com>",
        "duplicate <pipe@example.com>",
    ]
    drain()
    assert Message.objects.get(channel="email").text == "Via Postfix"
    with pytest.raises(SystemExit) as unknown:
        call_command(
            "email_pipe",
            "--inbox",
            "00000000-0000-0000-0000-000000000000",
            stdin=io.BytesIO(raw),
        )
    assert unknown.value.code == 67
