"""The bot's small world: the Nordlys team, its SMS (Twilio) and WhatsApp (Meta) inboxes with
the bot on, the operator's telco service on loopback (fake_telco.py) knowing one subscriber per
language, and customers who text and write through signed provider webhooks. The providers'
APIs are loopback fakes (tests/connectors/fake_provider.py) that capture every outbound
message."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

from django.test import Client

from teamline.conversations.models import Inbox, Message, SenderKind
from teamline.core.testing import create_team
from teamline.teams.actions import do_set_business_hours
from teamline.teams.models import Team
from tests.connectors.fake_provider import FakeProvider
from tests.connectors.support import run_tasks

TWILIO_TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
TWILIO_ACCOUNT = "AC" + "0123456789abcdef" * 2
META_SECRET = "3f1a9c0e5b7d4a2f8e6c1b0d9a7f5e3c"
PHONE_NUMBER_ID = "106540352242922"
TELCO_SECRET = "telco-secret-for-the-bot-tests"


@dataclass(frozen=True)
class Person:
    language: str
    number: str  # E.164: their SMS and WhatsApp number, and their subscription
    region: str
    balance: str
    currency: str
    # What they write for each intent, in their language.
    asks: dict[str, str]
    # What the bot's answer to each intent says (a part of it), in their language.
    hears: dict[str, str]
    handoff_word: str


PEOPLE = {
    "en": Person(
        "en",
        "+447911123456",
        "London",
        "23.40",
        "GBP",
        asks={
            "balance": "What is my balance?",
            "data_left": "How much data do I have left?",
            "buy_data": "I want to buy more data",
            "bill_explained": "Can you explain my bill?",
            "outage": "Is there an outage where I live?",
            "opening_hours": "What are your opening hours?",
        },
        hears={
            "balance": "Your balance is 23.40 pounds.",
            "data_left": "You have 7.0 of 10.0 gigabytes of data left",
            "buy_data": "You can buy more data in our app",
            "bill_explained": "Your plan is Smart 10 GB.",
            "outage": "There are no known outages in London right now.",
            "opening_hours": "Nordlys answers Mon-Fri 08:00-20:00; Sat 10:00-16:00.",
        },
        handoff_word="agent",
    ),
    "nb": Person(
        "nb",
        "+4791234567",
        "Oslo",
        "187.50",
        "NOK",
        asks={
            "balance": "Hva er saldoen min?",
            "data_left": "Hvor mye data har jeg igjen?",
            "buy_data": "Jeg vil kjøpe mer data",
            "bill_explained": "Kan du forklare regningen min?",
            "outage": "Er det driftsavbrudd der jeg bor?",
            "opening_hours": "Hva er åpningstidene deres?",
        },
        hears={
            "balance": "Saldoen din er 187,50 kroner.",
            "data_left": "Du har 7,0 av 10,0 gigabyte data igjen",
            "buy_data": "Du kan kjøpe mer data i appen vår",
            "bill_explained": "Abonnementet ditt er Smart 10 GB.",
            "outage": "Kjent driftsavbrudd i Oslo: Mobildata nede på Grünerløkka.",
            "opening_hours": "Nordlys svarer man-fre 08:00-20:00; lør 10:00-16:00.",
        },
        handoff_word="menneske",
    ),
    "et": Person(
        "et",
        "+37251234567",
        "Tallinn",
        "12.30",
        "EUR",
        asks={
            "balance": "Mis on minu saldo?",
            "data_left": "Kui palju andmeid mul alles on?",
            "buy_data": "Tahan osta andmeid juurde",
            "bill_explained": "Palun selgitage minu arvet",
            "outage": "Kas minu piirkonnas on rike?",
            "opening_hours": "Millal olete lahti?",
        },
        hears={
            "balance": "Teie saldo on 12,30",
            "data_left": "gigabaidist andmemahust on alles 7,0",
            "buy_data": "Andmeid saate juurde osta meie äpis",
            "bill_explained": "Teie pakett on Smart 10 GB.",
            "outage": "Piirkonnas Tallinn ei ole praegu teadaolevaid rikkeid.",
            "opening_hours": "Nordlys vastab esmasp.-reede 08:00-20:00; laup. 10:00-16:00.",
        },
        handoff_word="inimene",
    ),
    "pt": Person(
        "pt",
        "+351912345678",
        "Lisboa",
        "9.95",
        "EUR",
        asks={
            "balance": "Qual é o meu saldo?",
            "data_left": "Quantos dados me restam?",
            "buy_data": "Quero comprar mais dados",
            "bill_explained": "Pode explicar a minha fatura?",
            "outage": "Há alguma avaria na minha zona?",
            "opening_hours": "Qual é o vosso horário?",
        },
        hears={
            "balance": "O seu saldo é de 9,95",
            "data_left": "Tem 7,0 de 10,0 gigabytes de dados",
            "buy_data": "Pode comprar mais dados na nossa app",
            "bill_explained": "O seu tarif",
            "outage": "avarias conhecidas em Lisboa neste momento.",
            "opening_hours": "Nordlys responde Seg-Sex 08:00-20:00; S",
        },
        handoff_word="pessoa",
    ),
    "zh-hans": Person(
        "zh-hans",
        "+8613800138000",
        "Guangdong",
        "56.80",
        "CNY",
        asks={
            "balance": "我的余额是多少？",
            "data_left": "我还剩多少流量？",
            "buy_data": "我想买流量",
            "bill_explained": "请解释一下我的账单",
            "outage": "我这里有故障吗？",
            "opening_hours": "你们的营业时间是什么？",
        },
        hears={
            "balance": "您的余额是 56.80",
            "data_left": "GB 流量还剩 7.0 GB",
            "buy_data": "购买更多流量",
            "bill_explained": "您的套餐是Smart 10 GB",
            "outage": "Guangdong 目前没有已知的故障",
            "opening_hours": "Nordlys的服务时间",
        },
        handoff_word="人工",
    ),
    "zh-hant": Person(
        "zh-hant",
        "+886912345678",
        "Taipei",
        "320.00",
        "TWD",
        asks={
            "balance": "我的餘額是多少？",
            "data_left": "我還剩多少流量？",
            "buy_data": "我想買流量",
            "bill_explained": "請解釋一下我的帳單",
            "outage": "我這裡有故障嗎？",
            "opening_hours": "你們的營業時間是什麼？",
        },
        hears={
            "balance": "您的餘額是 320.00 TWD",
            "data_left": "數據用量還剩 7.0 GB",
            "buy_data": "購買更多數據",
            "bill_explained": "您的資費方案是Smart 10 GB",
            "outage": "Taipei 目前沒有已知的故障",
            "opening_hours": "Nordlys的服務時間",
        },
        handoff_word="人工",
    ),
}
INTENTS = ("balance", "data_left", "buy_data", "bill_explained", "outage", "opening_hours")

OUTAGE = {
    "id": "OUT-1",
    "title": "Mobildata nede på Grünerløkka",
    "regions": ["Oslo"],
    "started_at": "2026-12-05T08:00:00+00:00",
    "expected_end": None,
}


def subscriber(person: Person) -> dict[str, Any]:
    ends = (date.today() + timedelta(days=20)).isoformat()
    return {
        "msisdn": person.number,
        "name": "",
        "language": person.language,
        "region": person.region,
        "plan": "Smart 10 GB",
        "balance": {"balance": person.balance, "currency": person.currency},
        "usage": {"data_used_mb": 3072, "data_cap_mb": 10240, "period_ends": ends},
    }


def subscribers() -> dict[str, dict[str, Any]]:
    return {p.number: subscriber(p) for p in PEOPLE.values()}


def nordlys() -> Team:
    team = create_team("Nordlys", region="Oslo")
    weekdays = [(day, time(8), time(20)) for day in range(5)]
    do_set_business_hours(team, [*weekdays, (5, time(10), time(16))])
    return team


def sms_inbox(team: Team, api_base: str, **config: Any) -> Inbox:
    inbox = Inbox(name="Nordlys SMS", kind="sms", default_team=team)
    inbox.credentials = {"account_sid": TWILIO_ACCOUNT, "auth_token": TWILIO_TOKEN}
    inbox.config = {"from_number": "+4759440000", "api_base": api_base, "bot": True, **config}
    inbox.save()
    return inbox


def whatsapp_inbox(team: Team, api_base: str, **config: Any) -> Inbox:
    inbox = Inbox(name="Nordlys WhatsApp", kind="whatsapp", default_team=team)
    inbox.credentials = {
        "app_secret": META_SECRET,
        "access_token": "EAAG-test-access-token",
        "verify_token": "verify-me",
    }
    inbox.config = {
        "api_version": "v21.0",
        "phone_number_id": PHONE_NUMBER_ID,
        "api_base": api_base,
        "bot": True,
        **config,
    }
    inbox.save()
    return inbox


_ids = itertools.count(1)


class Provider:
    """A provider's API (loopback) that accepts every outbound message and keeps it."""

    def __init__(self, fake: FakeProvider, kind: str) -> None:
        self.fake = fake
        self.kind = kind
        self.seen = 0

    def _accept_next(self, count: int = 8) -> None:
        for _ in range(count):
            n = next(_ids)
            if self.kind == "sms":
                self.fake.respond(201, {"sid": f"SM{n:032x}", "status": "queued"})
            else:
                self.fake.respond(200, {"messages": [{"id": f"wamid.OUT{n}"}]})

    def sent(self) -> list[dict[str, str]]:
        """Every message sent to the provider so far: {"to", "text"}."""
        out = []
        for request in self.fake.requests:
            if self.kind == "sms":
                form = request.form()
                out.append({"to": form["To"][0], "text": form["Body"][0]})
            else:
                body = request.json()
                out.append({"to": "+" + body["to"], "text": body["text"]["body"]})
        return out

    def new(self) -> list[dict[str, str]]:
        """What the bot and agents sent since the last call. Teamline's own notices (routing's
        "Team Nordlys is closed right now…", which depends on the hour the tests run) are left
        out."""
        sent = self.sent()
        fresh, self.seen = sent[self.seen :], len(sent)
        notices = set(
            Message.objects.filter(sender_kind=SenderKind.SYSTEM, is_internal=False).values_list(
                "text", flat=True
            )
        )
        return [m for m in fresh if m["text"] not in notices]


def _twilio_signature(url: str, fields: dict[str, str]) -> str:
    data = url + "".join(name + fields[name] for name in sorted(fields))
    digest = hmac.new(TWILIO_TOKEN.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def text_sms(client: Client, inbox: Inbox, sender: str, body: str) -> None:
    """The customer texts `body` from `sender`: Twilio's signed webhook, then the worker."""
    sid = f"SM{next(_ids):032x}"
    fields = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": TWILIO_ACCOUNT,
        "From": sender,
        "To": "+4759440000",
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    path = f"/webhooks/twilio/{inbox.public_id}/"
    response = client.post(
        path,
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=_twilio_signature(f"http://testserver{path}", fields),
    )
    assert response.status_code == 200, response.content
    run_tasks()


def write_whatsapp(client: Client, inbox: Inbox, sender: str, text: str) -> None:
    """The customer writes on WhatsApp: Meta's signed webhook, then the worker."""
    wa_id = sender.lstrip("+")
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "4722334455",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "contacts": [{"profile": {"name": "Kunde"}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": f"wamid.IN{next(_ids)}",
                                    "timestamp": "1764921600",
                                    "text": {"body": text},
                                    "type": "text",
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    body = json.dumps(payload, ensure_ascii=False).encode()
    signature = "sha256=" + hmac.new(META_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = client.post(
        f"/webhooks/meta/{inbox.public_id}/",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature,
    )
    assert response.status_code == 200, response.content
    run_tasks()


def form_of(body: bytes) -> dict[str, list[str]]:
    return parse_qs(body.decode(), keep_blank_values=True)
