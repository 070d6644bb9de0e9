"""A customer signs in to the help center with a one-time code sent to a phone number or email
address that is already a verified identity of theirs: short-lived, single use, hashed at rest,
never logged, limited per address and per IP — and nobody learns from the pages which
addresses belong to a customer."""

from __future__ import annotations

import logging
import re
import socket
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from aiosmtpd.controller import Controller
from django.test import Client
from django.utils import timezone

from teamline.conversations.models import Inbox, Message
from teamline.core.testing import create_customer
from teamline.customers.models import OneTimeCode

from .conftest import INGRID_PHONE, sign_in, texted_code

pytestmark = pytest.mark.django_db

SID = {"sid": "SM" + "2" * 32, "status": "queued"}


def ask_for_code(client: Client, address: str, **extra: str):
    return client.post("/help/community/sign-in?lang=en", {"address": address, **extra}, **{})


def test_ingrid_signs_in_with_the_code_texted_to_her_verified_number(ingrid, twilio, caplog):
    caplog.set_level(logging.DEBUG)
    client = Client()
    twilio.respond(200, SID)
    response = ask_for_code(client, "+47 912 34 567")
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert "If +47 912 34 567 belongs to a verified customer, a code is on its way" in (
        page.content.decode()
    )
    text = twilio.requests[-1].form()
    assert text["To"] == [INGRID_PHONE] and text["From"] == ["+4759440000"]
    code = texted_code(twilio, INGRID_PHONE)
    assert "expires in 10 minutes" in text["Body"][0]

    response = client.post(
        "/help/community/sign-in/code?lang=en", {"code": code[:3] + " " + code[3:]}
    )
    assert response.status_code == 302 and response["Location"] == "/help/community/en/"
    assert "Signed in as Ingrid Hansen" in client.get("/help/community/en/").content.decode()

    # The code exists only as a keyed hash, in no message and in no log line.
    stored = OneTimeCode.objects.get()
    assert code not in stored.code_hash and len(stored.code_hash) == 64
    assert stored.used_at is not None
    assert not Message.objects.exists()
    assert code not in caplog.text


def test_a_code_works_once(ingrid, twilio):
    client = Client()
    twilio.respond(200, SID)
    ask_for_code(client, INGRID_PHONE)
    code = texted_code(twilio, INGRID_PHONE)
    thief = Client()
    thief.cookies = client.cookies  # the same pending sign-in, replayed after it succeeded
    assert client.post("/help/community/sign-in/code", {"code": code}).status_code == 302
    replay = Client()
    twilio.respond(200, SID)
    ask_for_code(replay, "+4700000000")  # an unknown number still reaches the code page
    response = replay.post("/help/community/sign-in/code", {"code": code})
    assert response.status_code == 400
    second = Client()
    second.post("/help/community/sign-in?lang=en", {"address": INGRID_PHONE})
    # Asking again issued a new code and superseded nothing used; the old one stays spent.
    response = second.post("/help/community/sign-in/code?lang=en", {"code": code})
    assert response.status_code == 400
    assert "That code is wrong or has expired" in response.content.decode()


def test_an_expired_code_is_refused(ingrid, twilio):
    client = Client()
    twilio.respond(200, SID)
    ask_for_code(client, INGRID_PHONE)
    code = texted_code(twilio, INGRID_PHONE)
    OneTimeCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.post("/help/community/sign-in/code?lang=en", {"code": code})
    assert response.status_code == 400
    assert "Signed in as" not in client.get("/help/community/en/").content.decode()


def test_five_wrong_guesses_kill_the_code(ingrid, twilio):
    client = Client()
    twilio.respond(200, SID)
    ask_for_code(client, INGRID_PHONE)
    code = texted_code(twilio, INGRID_PHONE)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert client.post("/help/community/sign-in/code", {"code": wrong}).status_code == 400
    assert client.post("/help/community/sign-in/code", {"code": code}).status_code == 400


def test_an_unknown_or_unverified_address_gets_the_same_answer_and_no_text(ingrid, twilio):
    create_customer(name="Unverified", identities=[("phone", "+4793456789", False)])
    pages = []
    for address in ("+4793456789", "+4799999999", "not a number", "nobody@example.com"):
        client = Client()
        response = ask_for_code(client, address)
        assert response.status_code == 302
        page = client.get(response["Location"]).content.decode().replace(address, "X")
        pages.append(re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page))
    assert len(set(pages)) == 1
    assert twilio.requests == []
    assert not OneTimeCode.objects.exists()


def test_codes_to_one_address_are_limited_even_for_addresses_nobody_holds(ingrid, twilio):
    for address in (INGRID_PHONE, "+4799999999"):
        for _ in range(5):
            twilio.respond(200, SID)
            client = Client(REMOTE_ADDR=f"10.0.0.{len(twilio.requests)}")
            assert ask_for_code(client, address).status_code == 302
        response = ask_for_code(Client(REMOTE_ADDR="10.9.9.9"), address)
        assert response.status_code == 429
        assert response["Retry-After"]
        assert "Too many requests." in response.content.decode()


def test_code_requests_from_one_ip_are_limited(ingrid, twilio):
    client = Client(REMOTE_ADDR="192.0.2.7")
    for n in range(10):
        assert ask_for_code(client, f"+479{n:07d}").status_code == 302
    assert ask_for_code(client, "+4798888888").status_code == 429


def test_a_provider_that_fails_is_a_clear_error_not_a_500(ingrid, twilio):
    twilio.respond(503, {"message": "down"})
    response = ask_for_code(Client(), INGRID_PHONE)
    assert response.status_code == 503
    assert "could not send the code just now" in response.content.decode()


def test_bad_input_is_refused_clearly(ingrid, twilio):
    assert ask_for_code(Client(), "+47\x0091234567").status_code == 422
    assert ask_for_code(Client(), "x" * 400).status_code == 400
    assert ask_for_code(Client(), INGRID_PHONE, website="http://spam.example").status_code == 400
    assert twilio.requests == []


def test_signing_out_forgets_the_customer(ingrid, twilio):
    client = sign_in(Client(), twilio, INGRID_PHONE)
    assert client.post("/help/community/sign-out", {"lang": "en"}).status_code == 302
    assert "Signed in as" not in client.get("/help/community/en/").content.decode()


def test_the_code_text_follows_the_customers_language(oslo, sms_inbox, twilio):
    create_customer(
        name="Kadri", preferred_language="et", identities=[("phone", "+37251234567", True)]
    )
    twilio.respond(200, SID)
    ask_for_code(Client(), "+37251234567")
    assert "kood" in twilio.requests[-1].form()["Body"][0].lower()


class MailRecorder:
    """A local SMTP server standing in for the customer's mail provider."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        )
        return "250 OK"


def test_a_customer_signs_in_with_the_code_mailed_to_her_verified_address(oslo):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    recorder = MailRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        Inbox.objects.create(
            name="Nordlys mail",
            kind="email",
            default_team=oslo,
            config={
                "address": "help@nordlys.example",
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "starttls": False,
                "smtp_timeout": 5,
            },
        )
        create_customer(
            team=oslo, name="Mari Lind", identities=[("email", "Mari@Example.com", True)]
        )
        client = Client()
        response = ask_for_code(client, "mari@example.com")
        assert response.status_code == 302
        [mail] = recorder.messages
        assert mail["To"] == "mari@example.com" and mail["Subject"] == "Your sign-in code"
        code = re.search(r"\b(\d{6})\b", mail.get_content()).group(1)
        response = client.post("/help/community/sign-in/code?lang=en", {"code": code})
        assert response.status_code == 302
        assert "Signed in as Mari Lind" in client.get("/help/community/en/").content.decode()
        assert not Message.objects.exists()
    finally:
        controller.stop()
