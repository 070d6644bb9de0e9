"""The operator's systems send events in batches (docs/proactive.md, "The event contract"):
stored once per sender id, bad events rejected by index, unknown customers kept."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from teamline.core.testing import create_customer, create_team
from teamline.customers.actions import do_add_identity
from teamline.proactive.models import Event

from .conftest import usage

pytestmark = pytest.mark.django_db


def test_a_batch_with_duplicates_and_bad_events_is_answered_per_event(post_events):
    astrid = create_customer(name="Astrid", identities=[("phone", "+4791234567", True)])
    batch = [
        usage("u-1"),
        usage("u-2", phone="+47 912 34 567"),  # the same customer, written another way
        usage("u-1"),  # the same id again within the batch: a duplicate
        {**usage("u-3"), "type": "weather"},
        {**usage("u-4"), "occurred_at": "yesterday"},
        {**usage("u-5"), "customer": {}},
        {**usage("u-6"), "occurred_at": None},
        "not an event",
        usage("u-7", phone="+4799999999"),  # nobody we know yet: kept
    ]

    response = post_events(batch)

    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 3
    assert body["duplicates"] == 1
    assert [r["index"] for r in body["rejected"]] == [3, 4, 5, 6, 7]
    assert "type must be one of" in body["rejected"][0]["error"]
    assert "occurred_at" in body["rejected"][1]["error"]
    assert "customer" in body["rejected"][2]["error"]
    stored = {e.external_id: e for e in Event.objects.all()}
    assert set(stored) == {"u-1", "u-2", "u-7"}
    assert stored["u-1"].customer == astrid and stored["u-2"].customer == astrid
    assert stored["u-2"].identity_value == "+4791234567"
    assert stored["u-7"].customer is None
    assert stored["u-1"].data == {"data_used_mb": 16_500, "data_cap_mb": 20_480}


def test_an_id_seen_before_is_a_duplicate_whatever_its_content(post_events):
    assert post_events([usage("u-1")]).json()["accepted"] == 1

    again = post_events([{**usage("u-1"), "data": {"data_used_mb": 1}}, usage("u-2")])

    assert again.json() == {"accepted": 1, "duplicates": 1, "rejected": []}
    assert Event.objects.get(external_id="u-1").data["data_used_mb"] == 16_500


def test_ids_are_unique_per_sender_not_across_senders(post_events, signed_post):
    assert post_events([usage("shared-1")]).json()["accepted"] == 1
    assert signed_post([usage("shared-1")]).json()["accepted"] == 1
    assert Event.objects.filter(external_id="shared-1").count() == 2


def test_identities_match_in_any_common_format():
    """Phone numbers with spaces or without their country code (read in the country of the
    region's team), email in any case, the brand's external id."""
    oslo = create_team("Oslo", region="NO-03")
    oslo.country = "NO"
    oslo.save()
    astrid = create_customer(team=oslo, identities=[("phone", "+4791234567", True)])
    bo = create_customer(identities=[("email", "bo@example.com", True)])
    li = create_customer(identities=[("external", "crm-42", True)])
    from django.test import Client

    from teamline.accounts.actions import do_create_api_token
    from teamline.core.testing import create_user

    admin = create_user("root", role="admin")
    _, secret = do_create_api_token(admin, name="t", actor=admin)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    batch = [
        {**usage("p-1", phone="912 34 567"), "region": "no-03"},
        {**usage("p-2"), "customer": {"phone": "+47 (912) 34-567"}},
        {**usage("e-1"), "customer": {"email": "  Bo@Example.COM "}},
        {**usage("x-1"), "customer": {"external_id": "crm-42", "phone": "+4791234567"}},
    ]
    response = client.post(
        "/api/v1/events", json.dumps({"events": batch}), content_type="application/json"
    )

    assert response.json() == {"accepted": 4, "duplicates": 0, "rejected": []}
    owners = dict(Event.objects.values_list("external_id", "customer_id"))
    assert owners == {"p-1": astrid.pk, "p-2": astrid.pk, "e-1": bo.pk, "x-1": li.pk}


def test_an_unknown_customers_events_are_matched_when_the_identity_appears(
    post_events, django_capture_on_commit_callbacks
):
    post_events([usage("early-1", phone="+4741234567"), usage("early-2", phone="+4741234567")])
    assert Event.objects.filter(customer__isnull=True).count() == 2

    customer = create_customer(name="Late")
    with django_capture_on_commit_callbacks(execute=True):
        do_add_identity(customer, "phone", "+47 41 23 45 67", verified=True)

    assert set(Event.objects.values_list("customer_id", flat=True)) == {customer.pk}
    # Handed to evaluation: the database queue has them now.
    assert Event.objects.filter(customer=customer, evaluated_at__isnull=True).count() == 2


def test_more_than_5000_events_is_413(post_events):
    response = post_events([usage(f"u-{i}") for i in range(5_001)])

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert Event.objects.count() == 0


def test_a_full_batch_is_stored_with_a_handful_of_queries(post_events):
    create_customer(identities=[("phone", "+4791234567", True)])
    batch = [usage(f"u-{i}", phone=f"+47912{i:05d}") for i in range(5_000)]

    with CaptureQueriesContext(connection) as queries:
        response = post_events(batch)

    assert response.json()["accepted"] == 5_000
    # The token (and its last use), the ids seen, the identities (one kind), one INSERT, and
    # the transaction's own statements — never one per event.
    statements = [q["sql"] for q in queries]
    assert len(statements) <= 8, statements
    assert sum("INSERT" in s for s in statements) == 1, statements


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({**usage("t-1"), "id": "a\x00b"}, "NUL"),
        ({**usage("t-2"), "data": {"note": "\ud800"}}, "surrogate"),
        ({**usage("t-3"), "data": {"n": 2**64}}, "too large a number"),
        ({**usage("t-4"), "data": {"a": [[[[[[[[["deep"]]]]]]]]]}}, "nested"),
        ({**usage("t-5"), "data": {f"k{i}": i for i in range(500)}}, "too large"),
        ({**usage("t-6"), "id": "x" * 201}, "longer than"),
        ({**usage("t-7"), "customer": {"phone": "12"}}, "phone"),
        ({**usage("t-8"), "region": 5}, "region"),
        ({**usage("t-9"), "data": []}, "data must be"),
    ],
)
def test_unsafe_or_oversized_values_reject_that_event_only(post_events, event, reason):
    body = json.dumps({"events": [event, usage("fine")]})

    response = post_events(body)

    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    [rejected] = response.json()["rejected"]
    assert rejected["index"] == 0 and reason in rejected["error"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("not json", 400),
        ('{"events": "many"}', 400),
        ("[1, 2]", 400),
        ('{"events": [' * 70 + "]" * 70 + "}", 400),
        ('{"events": [{"id": 1e999}]}', 400),
    ],
)
def test_a_body_that_is_not_a_batch_is_a_400(post_events, body, status):
    assert post_events(body).status_code == status
    assert Event.objects.count() == 0


def test_an_events_region_becomes_its_customers_region(post_events):
    """Customers of a region are those whose region matches: events say where they are."""
    astrid = create_customer(region="Bergen", identities=[("phone", "+4791234567", True)])
    bo = create_customer(region="oslo", identities=[("email", "bo@example.com", True)])

    post_events(
        [
            {**usage("r-1"), "region": "Trondheim", "occurred_at": "2026-12-05T08:00:00Z"},
            {**usage("r-2"), "region": "Oslo", "occurred_at": "2026-12-05T09:00:00Z"},
            {**usage("r-3"), "customer": {"email": "bo@example.com"}, "region": "OSLO"},
            usage("r-4"),  # no region: nothing changes
        ]
    )

    astrid.refresh_from_db()
    bo.refresh_from_db()
    assert astrid.region == "Oslo"  # the newest event's
    assert bo.region == "oslo"  # the same region, written otherwise: left as it was


def test_a_batch_larger_than_a_form_post_is_read_and_one_over_16_mb_is_413(post_events):
    """Django refuses bodies over 2.5 MB for forms; a full batch with some data is larger."""
    note = "x" * 700
    batch = [{**usage(f"big-{i}"), "data": {"note": note}} for i in range(5_000)]
    body = json.dumps({"events": batch})
    assert len(body) > 2_621_440

    assert post_events(body).json()["accepted"] == 5_000

    huge = json.dumps({"events": [{**usage("h"), "data": {"note": "y" * 7_000}}] * 2_500})
    assert len(huge) > 16 * 1024 * 1024
    response = post_events(huge)
    assert response.status_code == 413
    assert Event.objects.filter(external_id="h").count() == 0
