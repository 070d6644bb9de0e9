"""A visitor's chat session: what the embed script asks for before it opens the socket."""

import json

import pytest

from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import AgentProfile
from teamline.connectors import queries as connector_queries
from teamline.connectors import webchat
from teamline.core.testing import count_queries, create_customer, create_team
from teamline.customers.models import Customer, Identity
from teamline.teams import presenters as team_presenters

pytestmark = pytest.mark.django_db


def start(client, inbox, body=None, **headers):
    return client.post(
        f"/widget/api/{inbox.public_id}/session",
        data=json.dumps(body or {}),
        content_type="application/json",
        **headers,
    )


def customer_of(answer) -> Customer:
    claims = webchat.read_session(answer.json()["token"])
    return Customer.objects.get(pk=claims.customer_id)


def test_a_new_visitor_gets_a_session_and_meets_the_team(client, inbox, kari):
    answer = start(client, inbox)

    assert answer.status_code == 200
    body = answer.json()
    assert body["customer"] == {"name": ""}
    assert body["inbox"] == {
        "name": "Nordlys chat",
        "greeting": "Hi! Your team in Oslo answers here.",
        "calls": True,
    }
    assert body["team"]["name"] == "Oslo"
    assert body["team"]["members"] == [{"name": "Kari Nordmann", "photo": None, "online": True}]
    assert answer["Cache-Control"] == "no-store"
    assert customer_of(answer).identities.get().kind == "webchat"


@pytest.fixture
def held(monkeypatch):
    """The inbox and team card kept per process for as long as the test runs."""
    monkeypatch.setattr(connector_queries, "WEBHOOK_INBOX_SECONDS", 3600.0)
    monkeypatch.setattr(team_presenters, "TEAM_CARD_SECONDS", 3600.0)


def test_a_new_visitors_session_is_two_inserts_with_their_language(client, inbox, kari, held):
    """Ten thousand widgets open after a deploy: the inbox and the team card are read once per
    process (and window), and the visitor's browser language is stored with the visitor."""
    start(client, inbox)

    with count_queries() as queries:
        answer = start(client, inbox, {"languages": "nb-NO,en"})

    assert answer.status_code == 200
    assert [sql.split(" (")[0] for sql in queries] == [
        'INSERT INTO "customers_customer"',
        'INSERT INTO "customers_identity"',
    ], "\n".join(queries)
    visitor = customer_of(answer)
    assert (visitor.preferred_language, visitor.language_source) == ("nb", "channel")
    assert answer.json()["language"] == "nb"
    assert answer.json()["team"]["members"] == [
        {"name": "Kari Nordmann", "photo": None, "online": True}
    ]


def test_an_agent_going_offline_shows_at_the_next_visitors_widget(client, inbox, kari, held):
    assert start(client, inbox).json()["team"]["members"][0]["online"] is True

    do_set_presence(kari, "offline", actor=kari)

    assert start(client, inbox).json()["team"]["members"][0]["online"] is False


def test_a_change_made_by_another_process_shows_once_the_cards_window_passed(
    client, inbox, kari, held, monkeypatch
):
    assert start(client, inbox).json()["team"]["members"][0]["online"] is True
    # Another process changed it: no save in this one tells this process's card.
    AgentProfile.objects.filter(user=kari).update(presence="offline")
    assert start(client, inbox).json()["team"]["members"][0]["online"] is True

    monkeypatch.setattr(team_presenters, "TEAM_CARD_SECONDS", 0.0)

    assert start(client, inbox).json()["team"]["members"][0]["online"] is False


def test_a_deactivated_inbox_stops_opening_sessions_at_once(client, inbox, held):
    assert start(client, inbox).status_code == 200

    inbox.is_active = False
    inbox.save(update_fields=["is_active"])

    assert start(client, inbox).status_code == 404


def test_a_returning_visitor_resumes_their_session(client, inbox):
    first = start(client, inbox)
    again = start(client, inbox, {"token": first.json()["token"], "name": "Ingrid"})

    assert customer_of(again) == customer_of(first)
    assert again.json()["customer"] == {"name": "Ingrid"}
    assert Customer.objects.count() == 1


def test_a_customer_meets_their_own_home_team_rather_than_the_inbox_default(client, inbox):
    tromso = create_team("Tromsø")
    anna = create_customer(team=tromso, name="Anna")
    token = webchat.sign_session(str(inbox.public_id), anna.pk)

    answer = start(client, inbox, {"token": token})

    assert answer.json()["team"]["name"] == "Tromsø"


def test_a_token_of_another_inbox_starts_a_new_visitor(client, inbox, oslo):
    from teamline.core.testing import create_inbox

    other = create_inbox(oslo, name="Other brand")
    elsewhere = start(client, other)

    answer = start(client, inbox, {"token": elsewhere.json()["token"]})

    assert customer_of(answer) != customer_of(elsewhere)


def test_a_verified_customer_finds_the_same_thread_on_every_device(client, inbox):
    user_hash = webchat.identity_hash(inbox.secret, "nordlys-4711")
    body = {"user_id": "nordlys-4711", "user_hash": user_hash, "name": "Ola"}

    phone = start(client, inbox, body)
    laptop = start(client, inbox, body)

    assert phone.status_code == laptop.status_code == 200
    assert customer_of(phone) == customer_of(laptop)
    assert customer_of(phone).identities.get(kind="external").verified


def test_a_wrong_identity_signature_is_refused(client, inbox):
    answer = start(client, inbox, {"user_id": "nordlys-4711", "user_hash": "0" * 64})

    assert answer.status_code == 403
    assert answer.json()["code"] == "forbidden"
    assert not Identity.objects.filter(kind="external").exists()


def test_typing_somebody_elses_email_does_not_reach_their_history(client, inbox):
    anna = create_customer(name="Anna", identities=[("email", "anna@example.com", True)])

    answer = start(client, inbox, {"name": "Not Anna", "email": "anna@example.com"})

    visitor = customer_of(answer)
    assert visitor != anna
    assert visitor.attributes["unverified_email"] == "anna@example.com"
    assert not visitor.identities.filter(kind="email").exists()
    assert list(anna.identities.values_list("value", flat=True)) == ["anna@example.com"]


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("{not json", "must be a JSON object"),
        ("[1, 2]", "must be a JSON object"),
        ('{"token": 42}', "token must be a string"),
        ('{"name": "' + "x" * 5000 + '"}', "name is too long"),
        ('{"name": "' + "x" * 20_000 + '"}', "too large"),
    ],
)
def test_a_malformed_request_is_a_400_never_a_500(client, inbox, raw, detail):
    answer = client.post(
        f"/widget/api/{inbox.public_id}/session", data=raw, content_type="application/json"
    )

    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid"
    assert detail in answer.json()["detail"]


def test_deeply_nested_json_is_a_400_not_a_recursion_error(client, inbox):
    raw = "[" * 5000 + "]" * 5000
    answer = client.post(
        f"/widget/api/{inbox.public_id}/session", data=raw, content_type="application/json"
    )

    assert answer.status_code == 400


def test_an_unknown_or_inactive_inbox_is_not_found(client, inbox):
    inbox.is_active = False
    inbox.save(update_fields=["is_active"])

    answer = start(client, inbox)

    assert answer.status_code == 404
    assert answer.json() == {"code": "not_found", "detail": "No such inbox."}


def test_only_post_opens_a_session(client, inbox):
    answer = client.get(f"/widget/api/{inbox.public_id}/session")

    assert answer.status_code == 405
    assert answer.json()["code"] == "method_not_allowed"


def test_too_many_new_visitors_from_one_address_are_slowed_down(client, inbox, settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "RATE_NEW_SESSIONS_PER_IP_PER_HOUR": 2}
    addresses = ["203.0.113.9", "203.0.113.9", "203.0.113.9", "198.51.100.1"]

    answers = [start(client, inbox, REMOTE_ADDR=address) for address in addresses]

    assert [a.status_code for a in answers] == [200, 200, 429, 200]
    assert answers[2].json()["code"] == "rate_limited"


# --- Brand pages on other origins (CORS) ---------------------------------------------------


def test_any_page_may_use_an_inbox_without_an_allow_list(client, inbox):
    answer = start(client, inbox, HTTP_ORIGIN="https://shop.example")

    assert answer.status_code == 200
    assert answer["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Origin" in answer["Vary"]


def test_a_listed_brand_page_may_start_a_session_from_its_own_origin(client, inbox):
    inbox.allowed_origins = ["https://www.nordlys.example"]
    inbox.save(update_fields=["allowed_origins"])

    preflight = client.options(
        f"/widget/api/{inbox.public_id}/session",
        HTTP_ORIGIN="https://www.nordlys.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    answer = start(client, inbox, HTTP_ORIGIN="https://www.nordlys.example")

    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://www.nordlys.example"
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight["Access-Control-Allow-Headers"]
    assert answer.status_code == 200
    assert answer["Access-Control-Allow-Origin"] == "https://www.nordlys.example"


def test_a_page_not_on_the_allow_list_is_refused(client, inbox):
    inbox.allowed_origins = ["https://www.nordlys.example"]
    inbox.save(update_fields=["allowed_origins"])

    preflight = client.options(
        f"/widget/api/{inbox.public_id}/session", HTTP_ORIGIN="https://phish.example"
    )
    answer = start(client, inbox, HTTP_ORIGIN="https://phish.example")

    assert "Access-Control-Allow-Origin" not in preflight
    assert answer.status_code == 403
    assert "Access-Control-Allow-Origin" not in answer
    assert not Customer.objects.exists()
