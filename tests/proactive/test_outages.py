"""An outage from declaration to follow-up, through the real entry points: an admin's client
declares it in the API; the customers of the region who can be reached get a notice by SMS
(the loopback Twilio captures it), the bot and the IVR say "we know about it" first, routing
tags a contact from the region and the desk shows it, a surge names it as its cause; the admin
ends it and everyone notified or who contacted us gets the follow-up."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import TestCase
from django.utils import timezone

from teamline.accounts.actions import do_create_api_token
from teamline.accounts.models import Role
from teamline.audit.models import AuditEntry
from teamline.conversations.models import Conversation
from teamline.core.events import EventType
from teamline.core.testing import capture_events, create_customer, create_user, customer_says
from teamline.customers.actions import do_set_time_zone
from teamline.customers.models import Customer
from teamline.proactive.models import Notice, NoticeStatus, OutageContact
from teamline.proactive.outages import do_declare_outage, notify_customers
from teamline.routing.models import WorkItem
from teamline.routing.surge import check_surges
from tests.connectors.support import run_tasks
from tests.proactive.care_world import daytime_zone
from tests.selfservice.bot_world import PEOPLE, text_sms
from tests.selfservice.conftest import inbox, oslo, phone  # noqa: F401 - the IVR's fixtures

pytestmark = pytest.mark.django_db

KARI = PEOPLE["nb"]  # +4791234567, a subscriber in Oslo
OLA = PEOPLE["en"]  # writes in English
TIINA = PEOPLE["et"]  # lives in Tartu


@pytest.fixture
def admin_api(client):
    admin = create_user("ops", role=Role.ADMIN)
    _token, secret = do_create_api_token(
        admin, name="network feed", actor=admin, scopes=["read", "write", "admin"]
    )
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    def call(method: str, path: str, body: dict | None = None):
        send = getattr(client, method)
        if body is None:
            return send(f"/api/v1{path}", **headers)
        return send(f"/api/v1{path}", data=body, content_type="application/json", **headers)

    return call


def fresh(provider) -> list[dict[str, str]]:
    """Every SMS sent since the last look, Teamline's own notices included."""
    sent = provider.sent()
    new, provider.seen = sent[provider.seen :], len(sent)
    return new


def customer(person, team, region: str):
    return create_customer(
        team=team,
        region=region,
        preferred_language=person.language,
        identities=[("phone", person.number, True)],
    )


def test_an_outage_from_declaration_to_follow_up(client, sms, twilio, nordlys, admin_api, daytime):
    kari = customer(KARI, nordlys, "oslo")  # the region as her record spells it
    # Told at once whenever the test runs: her clock shows the afternoon (not quiet hours).
    do_set_time_zone(kari, daytime_zone(), actor=None)
    tiina = customer(TIINA, nordlys, "Tartu")
    # Kari and Tiina wrote before: the bot answered them, so they have a channel we reach.
    text_sms(client, sms, KARI.number, KARI.asks["balance"])
    text_sms(client, sms, TIINA.number, TIINA.asks["balance"])
    fresh(twilio)

    response = admin_api(
        "post",
        "/outages",
        {
            "regions": ["OSLO"],
            "title": "Mobile network down in Oslo centre",
            "message": "Our engineers are on site.",
            "critical": False,
            "expected_end": (timezone.now() + timedelta(hours=3)).isoformat(),
        },
    )
    assert response.status_code == 201, response.content
    outage = response.json()
    assert outage["active"] and outage["regions"] == ["OSLO"] and outage["source"] == "api"
    assert AuditEntry.objects.filter(action="outage.declared", target_id=str(outage["id"]))
    run_tasks()

    # Kari is told by SMS; Tiina (Tartu) is not.
    [notice] = fresh(twilio)
    assert notice["to"] == KARI.number
    assert "Mobile network down in Oslo centre" in notice["text"]
    assert "Our engineers are on site." in notice["text"]
    statuses = dict(Notice.objects.filter(source="outage").values_list("customer_id", "status"))
    assert statuses == {kari.pk: NoticeStatus.SENT}
    assert tiina.pk not in statuses

    # Ola, new in Oslo (his record spells it "Oslo "), writes for the first time: the bot says
    # it knows about the outage before anything else.
    ola = customer(OLA, nordlys, "Oslo ")
    do_set_time_zone(ola, daytime_zone(), actor=None)
    text_sms(client, sms, OLA.number, OLA.asks["balance"])
    [answer] = fresh(twilio)
    assert answer["text"].startswith(
        "We know about the outage in Oslo : Mobile network down in Oslo centre."
    ) or answer["text"].startswith(
        "We know about the outage in Oslo: Mobile network down in Oslo centre."
    )
    assert OLA.hears["balance"] in answer["text"]

    # He asks for a person: routing tags his contact with the outage, the desk shows it.
    text_sms(client, sms, OLA.number, OLA.handoff_word)
    conversation = Conversation.objects.get(customer=ola)
    assert WorkItem.objects.filter(conversation=conversation).exists()
    assert OutageContact.objects.filter(outage_id=outage["id"], conversation=conversation)
    supervisor = create_user("sigrid", role=Role.SUPERVISOR, supervises=nordlys)
    client.force_login(supervisor)
    page = client.get(f"/desk/conversations/{conversation.pk}/")
    assert b"Mobile network down in Oslo centre" in page.content
    client.logout()

    # The list shows it active.
    listed = admin_api("get", "/outages").json()
    assert [o["id"] for o in listed if o["active"]] == [outage["id"]]

    fresh(twilio)
    ended = admin_api(
        "post", f"/outages/{outage['id']}/end", {"message": "The network is back. Sorry!"}
    )
    assert ended.status_code == 200, ended.content
    assert ended.json()["active"] is False
    run_tasks()

    follow_ups = {m["to"]: m["text"] for m in fresh(twilio)}
    assert follow_ups == {
        KARI.number: "The network is back. Sorry!",
        OLA.number: "The network is back. Sorry!",
    }
    # Ending twice is a conflict; the bot no longer mentions it.
    again = admin_api("post", f"/outages/{outage['id']}/end", {})
    assert again.status_code == 409
    text_sms(client, sms, TIINA.number, TIINA.asks["balance"])
    assert "Oslo" not in fresh(twilio)[0]["text"]


def test_the_ivr_says_it_knows_about_the_outage_before_the_menu(phone, oslo, admin_api):  # noqa: F811
    customer(KARI, oslo, "Oslo")
    admin_api(
        "post",
        "/outages",
        {"regions": ["oslo"], "title": "Mast down at Grønland", "message": "Fixed by noon."},
    )

    call = phone.call(KARI.number, inputs=["0"])

    first = [i for i, text in enumerate(call.heard) if "Mast down at Grønland" in text]
    menu = [i for i, text in enumerate(call.heard) if "1" in text and "2" in text]
    assert first, call.heard
    assert not menu or first[0] < menu[0]


def test_a_surge_in_a_region_with_an_outage_names_it_as_the_cause(nordlys, admin_api):
    nordlys.surge_queue_length = 1
    nordlys.save()
    declared = admin_api(
        "post", "/outages", {"regions": ["Oslo"], "title": "Fibre cut", "message": "Working."}
    ).json()
    someone = create_customer(team=nordlys, region="Oslo")
    customer_says(someone, "Hello?")

    with capture_events() as sent, TestCase.captureOnCommitCallbacks(execute=True):
        check_surges()
    [surge] = [event for event, _ in sent if event.type == EventType.ROUTING_SURGE]
    assert surge.staff["cause"]["outage"]["id"] == declared["id"]
    assert surge.staff["cause"]["outage"]["title"] == "Fibre cut"


def test_only_admins_use_the_outages_api_and_bad_input_is_a_clear_4xx(client, nordlys):
    agent = create_user("agnes", role=Role.AGENT, team=nordlys)
    _t, secret = do_create_api_token(agent, name="mine", actor=agent)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    body = {"regions": ["Oslo"], "title": "x", "message": "y"}
    refused = client.post("/api/v1/outages", data=body, content_type="application/json", **auth)
    assert refused.status_code == 403

    admin = create_user("root", role=Role.ADMIN)
    _t, secret = do_create_api_token(admin, name="ops", actor=admin)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    for bad in (
        {"regions": [], "title": "x", "message": "y"},
        {"regions": ["Oslo"], "title": "", "message": "y"},
        {"regions": ["Os\u0000lo"], "title": "x", "message": "y"},
        {"regions": ["Oslo"], "title": "x" * 201, "message": "y"},
        {"regions": ["Oslo"], "title": "x", "message": "y", "expected_end": "tomorrow"},
        {"regions": ["Oslo"] * 51, "title": "x", "message": "y"},
    ):
        response = client.post("/api/v1/outages", data=bad, content_type="application/json", **auth)
        assert response.status_code in (400, 422), (bad, response.content)
    past = {**body, "expected_end": "2020-01-01T00:00:00Z"}
    response = client.post("/api/v1/outages", data=past, content_type="application/json", **auth)
    assert response.status_code == 409
    assert client.post("/api/v1/outages/999999/end", **auth).status_code == 404
    declared = client.post("/api/v1/outages", data=body, content_type="application/json", **auth)
    end = f"/api/v1/outages/{declared.json()['id']}/end"
    long = {"message": "x" * 1001}
    assert client.post(end, data=long, content_type="application/json", **auth).status_code == 400
    assert client.post(end, data="[1]", content_type="application/json", **auth).status_code == 400
    no_body = client.post(end, data="", content_type="application/json", **auth)
    assert no_body.status_code == 200  # no body: the default follow-up


@pytest.mark.parametrize(
    ("language", "region", "first_words"),
    [
        ("et", "Tartu", "Teame riket piirkonnas Tartu: Levi puudub."),
        ("zh-hans", "Guangdong", "我们已知道Guangdong的故障：信号中断。"),
    ],
)
def test_the_bot_says_it_knows_in_the_customers_language(
    client, sms, twilio, nordlys, admin_api, language, region, first_words
):
    person = PEOPLE[language]
    customer(person, nordlys, region)
    title = {"et": "Levi puudub", "zh-hans": "信号中断"}[language]
    admin_api("post", "/outages", {"regions": [region], "title": title, "message": "…"})
    fresh(twilio)

    text_sms(client, sms, person.number, person.asks["balance"])

    answer = [m for m in fresh(twilio) if m["to"] == person.number][-1]
    assert answer["text"].startswith(first_words), answer["text"]
    assert person.hears["balance"] in answer["text"]


@pytest.mark.parametrize(("critical", "status"), [(False, "deferred"), (True, "sent")])
def test_a_notice_at_night_waits_for_the_morning_unless_the_outage_is_critical(
    client, sms, twilio, nordlys, critical, status
):
    kari = customer(KARI, nordlys, "Oslo")
    Customer.objects.filter(pk=kari.pk).update(time_zone="Europe/Oslo")
    text_sms(client, sms, KARI.number, KARI.asks["balance"])
    admin = create_user("ops", role=Role.ADMIN)
    outage = do_declare_outage(
        regions=["Oslo"], title="Fibre cut", message="Working.", critical=critical, actor=admin
    )
    night = datetime(2026, 12, 5, 23, 30, tzinfo=ZoneInfo("Europe/Oslo"))

    notify_customers(outage.pk, "notice", now=night)

    notice = Notice.objects.get(source="outage", customer=kari)
    assert notice.status == status
    if not critical:
        assert notice.deferred_until == datetime(2026, 12, 6, 8, 0, tzinfo=ZoneInfo("Europe/Oslo"))
