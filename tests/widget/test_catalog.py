"""The widget speaks the visitor's language: its words come from the server's catalog, chosen
from the page's and the browser's language tags, and the session stores and answers the
customer's language (docs/i18n.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from teamline.connectors import webchat
from teamline.customers.models import Customer
from teamline.widget.catalog import WIDGET_PLURALS, WIDGET_TEXTS

pytestmark = pytest.mark.django_db

SCRIPT = (
    Path(__file__).resolve().parents[2] / "src/teamline/widget/static/widget/teamline.js"
).read_text()


def catalog(client, inbox, languages="", **headers):
    return client.get(f"/widget/api/{inbox.public_id}/catalog", {"languages": languages}, **headers)


def test_every_text_of_the_widget_script_is_in_the_catalog():
    used = set(re.findall(r'\bt\("((?:[^"\\]|\\.)*)"', SCRIPT))
    for block in ("SENT_BY", "CALL_STATES", "METHOD_NAMES"):
        body = re.search(rf"var {block} = \{{(.*?)\}};", SCRIPT, re.S)
        assert body, block
        used |= set(re.findall(r':\s*"((?:[^"\\]|\\.)*)"', body.group(1)))
    plurals = set(re.findall(r'\btn\(\s*"((?:[^"\\]|\\.)*)",\s*"((?:[^"\\]|\\.)*)"', SCRIPT))
    assert used - set(WIDGET_TEXTS) == set()
    assert plurals - set(WIDGET_PLURALS) == set()


def test_a_taiwanese_browser_gets_traditional_chinese_words(client, inbox):
    answer = catalog(client, inbox, "zh-TW,en-US")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["language"], body["locale"]) == ("zh-hant", "zh-Hant")
    assert body["words"]["Chat with us"] == "與我們聊天"
    assert body["words"]["%(count)s new message"] == ["%(count)s 則新訊息"] * 2
    assert answer["Content-Language"] == "zh-hant"
    # Public, cacheable, readable from any brand page: it holds nobody's data.
    assert "public" in answer["Cache-Control"] and "max-age=3600" in answer["Cache-Control"]
    assert answer["Access-Control-Allow-Origin"] == "*"
    again = catalog(client, inbox, "zh-TW,en-US", HTTP_IF_NONE_MATCH=answer["ETag"])
    assert again.status_code == 304


def test_a_norwegian_page_gets_norwegian_words_with_their_plural(client, inbox):
    body = catalog(client, inbox, "no,en").json()
    assert body["language"] == "nb"
    assert body["words"]["Send"] == "Send"
    assert body["words"]["Close chat"] == "Lukk chatten"
    assert body["words"]["The wait is about %(count)s minute."] == [
        "Ventetiden er omtrent %(count)s minutt.",
        "Ventetiden er omtrent %(count)s minutter.",
    ]


def test_a_language_teamline_does_not_speak_gets_the_inbox_default(client, inbox):
    assert catalog(client, inbox, "de-DE,fr").json()["language"] == "en"
    inbox.config = {**(inbox.config or {}), "language": "et"}
    inbox.save(update_fields=["config"])
    body = catalog(client, inbox, "de-DE").json()
    assert body["language"] == "et"
    assert body["words"]["Chat with us"] == "Vestle meiega"


def test_an_unknown_inbox_has_no_catalog(client, inbox):
    assert client.get("/widget/api/00000000-0000-0000-0000-000000000000/catalog").status_code == 404
    assert client.post(f"/widget/api/{inbox.public_id}/catalog").status_code == 405


def test_the_session_stores_the_browsers_language_and_answers_the_customers(client, inbox):
    answer = client.post(
        f"/widget/api/{inbox.public_id}/session",
        data=json.dumps({"languages": "de-DE,nb-NO,en"}),
        content_type="application/json",
    )
    assert answer.status_code == 200
    assert answer.json()["language"] == "nb"
    claims = webchat.read_session(answer.json()["token"])
    customer = Customer.objects.get(pk=claims.customer_id)
    assert (customer.preferred_language, customer.language_source) == ("nb", "channel")

    refused = client.post(
        f"/widget/api/{inbox.public_id}/session",
        data=json.dumps({"languages": ["nb"]}),
        content_type="application/json",
    )
    assert refused.status_code == 400
