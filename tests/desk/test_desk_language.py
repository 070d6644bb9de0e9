"""The desk in the agent's language: Kari picks Norwegian on My profile and the whole desk —
pages, htmx partials, what the desk's JavaScript says, the socket's error frames, dates — speaks
it; with no choice the desk follows her browser's Accept-Language (zh-TW → Traditional
Chinese), and English stays the default for everyone else."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from teamline.accounts.models import User
from teamline.core.testing import create_customer
from teamline.desk.templatetags.desk_tags import desk_datetime

from .page import Page
from .support import assigned_to, get_page
from .test_socket import connected, socket_test, teams  # noqa: F401 - the socket fixture

pytestmark = pytest.mark.django_db

PROFILE = "/desk/profile/"
LANGUAGE = "/desk/profile/language/"
INBOX = "/desk/"


def language_of(user: User) -> str:
    user.refresh_from_db()
    return user.language


def test_english_is_the_default_and_says_so(as_kari):
    response = as_kari.get(INBOX)

    assert response["Content-Language"] == "en"
    assert "Accept-Language" in response["Vary"]
    page = Page(response.content)
    assert page.root.find_all("html")[0].get("lang") == "en"
    assert page.h1().text == "Inbox"


@pytest.mark.integration
def test_kari_picks_norwegian_and_the_desk_speaks_it(as_kari, world):
    page = get_page(as_kari, PROFILE)
    picker = page.field("Language of the desk")
    options = {o.get("value"): (o.text, o.get("lang")) for o in picker.find_all("option")}
    assert options[""] == ("Automatic (your browser's language)", None)
    assert options["nb"] == ("Norsk bokmål", "nb")
    assert options["zh-hant"] == ("繁體中文", "zh-Hant")
    assert page.form_of(picker) is page.form_of(page.button("Save the desk language"))

    response = as_kari.post(LANGUAGE, {"language": "nb"})

    assert response.status_code == 302
    assert response["Location"] == reverse("desk:profile")
    assert language_of(world.kari) == "nb"
    page = get_page(as_kari, PROFILE)
    # Said in the language just chosen, and the page is now Norwegian throughout.
    assert "Skrivebordet snakker nå Norsk bokmål." in page.text
    assert page.root.find_all("html")[0].get("lang") == "nb"
    assert page.all("heading")[0].text == "Min profil"
    (chosen,) = [
        o
        for o in page.field("Skrivebordets språk").find_all("option")
        if o.get("selected") is not None
    ]
    assert chosen.get("value") == "nb"
    inbox = as_kari.get(INBOX, headers={"Accept-Language": "en-GB"})
    assert inbox["Content-Language"] == "nb"  # her choice wins over the browser's
    inbox_page = Page(inbox.content)
    assert inbox_page.h1().text == "Innboks"
    assert inbox_page.one("navigation", "Innboksvisninger")
    assert inbox_page.link("Min profil")


def test_automatic_follows_the_browser_mapped_to_the_six(as_kari, world):
    as_kari.post(LANGUAGE, {"language": "nb"})
    response = as_kari.post(LANGUAGE, {"language": ""})
    assert response.status_code == 302
    assert language_of(world.kari) == ""

    for header, lang, heading in [
        ("zh-TW,zh;q=0.9,en;q=0.8", "zh-Hant", "收件匣"),
        ("zh-CN", "zh-Hans", "收件箱"),
        ("no-NO,en;q=0.5", "nb", "Innboks"),
        ("fr-FR,et;q=0.7", "et", "Postkast"),
        ("pt-BR", "pt", "Caixa de entrada"),
        ("fr-FR,de;q=0.9", "en", "Inbox"),
    ]:
        page = get_page(as_kari, INBOX, **{"Accept-Language": header})
        assert page.root.find_all("html")[0].get("lang") == lang, header
        assert page.h1().text == heading, header


def test_a_language_the_desk_does_not_speak_is_refused_and_nothing_is_saved(as_kari, world):
    response = as_kari.post(LANGUAGE, {"language": "klingon"})

    assert response.status_code == 400
    page = Page(response.content)
    assert any("klingon" in alert and "zh-hant" in alert for alert in page.alerts())
    assert language_of(world.kari) == ""


def test_the_sign_in_page_follows_the_browser(client: Client):
    page = get_page(client, reverse("desk:login"), **{"Accept-Language": "zh-Hant-TW"})

    assert page.all("heading")[0].text == "登入工作台"
    assert page.field("使用者名稱").get("name") == "login"
    assert page.button("登入")


def test_htmx_partials_and_flash_sentences_speak_the_agents_language(as_kari, world):
    as_kari.post(LANGUAGE, {"language": "et"})
    conversation = assigned_to(world.kari, create_customer(name="Mari Maasikas"))

    partial = as_kari.get(
        INBOX + "?view=mine&status=open", headers={"HX-Request": "true", "HX-Target": "inbox-list"}
    )
    assert partial.status_code == 200
    assert partial["Content-Language"] == "et"
    text = Page(partial.content).text
    assert "Avatud vestlused, mulle määratud" in text
    assert "1 vestlus." in text

    response = as_kari.post(
        f"/desk/conversations/{conversation.pk}/status/",
        {"status": "resolved"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert '"desk:announce": "Vestlus on lahendatud."' in response["HX-Trigger"]


def test_the_desks_javascript_strings_come_from_the_catalog_in_the_agents_language(as_kari):
    as_kari.post(LANGUAGE, {"language": "pt"})
    page = get_page(as_kari, INBOX)
    (catalog,) = [
        s.get("src") for s in page.root.find_all("script") if "jsi18n" in (s.get("src") or "")
    ]
    assert catalog.startswith(reverse("desk:jsi18n"))

    response = as_kari.get(catalog)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    body = response.content.decode()
    assert "O cliente est\\u00e1 a escrever\\u2026" in body  # "Customer is typing…"
    assert "%(n)s por ler" in body


def test_dates_are_written_the_agents_way():
    moment = dt.datetime(2026, 12, 5, 14, 5, tzinfo=dt.UTC)
    expected = {
        "en": ("5 Dec 14:05", "5 Dec 2026"),
        "nb": ("5. des. 14:05", "5. des. 2026"),
        "zh-hant": ("12月5日 14:05", "2026年12月5日"),
        "pt": ("5 de dez. 14:05", "5 de dez. de 2026"),
        "et": ("5. dets 14:05", "5. dets 2026"),
    }
    for language, (short, date) in expected.items():
        with translation.override(language):
            assert desk_datetime(moment) == short
            assert desk_datetime(moment, "date") == date


@pytest.mark.integration
@socket_test
async def test_the_desk_sockets_error_frames_speak_the_agents_language(teams):  # noqa: F811
    kari = teams["kari"]
    kari.language = "zh-hans"
    await User.objects.filter(pk=kari.pk).aupdate(language="zh-hans")
    socket = await connected(kari)

    await socket.send_to(text_data="not json")

    frame = await socket.receive_json_from()
    assert frame == {"type": "error", "code": "invalid", "detail": "请发送 JSON 对象。"}
    await socket.disconnect()


def test_errors_from_the_actions_behind_the_desk_speak_the_agents_language(as_kari, world):
    as_kari.post(LANGUAGE, {"language": "nb"})

    response = as_kari.post(PROFILE, {"call_via": "phone", "phone_number": "90000009"})

    assert response.status_code == 400
    assert Page(response.content).alerts() == [
        "Skriv telefonnummeret med landskode, f.eks. +4790000000."
    ]


def test_a_wrong_password_is_said_in_the_browsers_language(client: Client, world):
    response = client.post(
        reverse("desk:login"),
        {"login": "kari", "password": "not her password"},
        headers={"Accept-Language": "zh-HK"},
    )

    assert response.status_code == 200
    (summary,) = Page(response.content).alerts()
    assert "請輸入正確的使用者名稱和密碼" in summary
