"""Remote agents through the JSON API (issue 11, item 6): an admin flags Kari as remote; from
then on every payload that shows her a customer has the phone numbers, emails and addresses
masked, while Ola on site still sees them; Kari reveals one value with a reason, audited."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from teamline.accounts.actions import do_set_remote_agent
from teamline.audit.models import AuditEntry
from teamline.conversations.inbound import do_receive_customer_message
from teamline.core.testing import create_customer, create_inbox
from teamline.routing.callbacks import do_request_callback

pytestmark = pytest.mark.django_db

PHONE, EMAIL = "+4791234567", "astrid@example.com"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def remote_kari(world):
    do_set_remote_agent(world.kari, True, actor=world.admin)
    world.kari.refresh_from_db()
    return world.kari


def raw_values_in(body: str) -> list[str]:
    return [value for value in (PHONE, EMAIL, "91234567") if value in body]


def test_an_admin_flags_a_remote_agent_and_it_is_audited(world, api_client_for):
    admin = api_client_for(world.admin)

    response = admin.put(
        f"/api/v1/users/{world.kari.pk}/remote", {"remote": True}, content_type="application/json"
    )

    assert response.status_code == 200
    assert response.json() == {"id": world.kari.pk, "username": "kari", "remote": True}
    world.kari.refresh_from_db()
    assert world.kari.is_remote is True
    entry = AuditEntry.objects.filter(action="settings.changed", target_id=str(world.kari.pk))
    assert entry.get().data == {"remote": True, "via": "api"}
    assert api_client_for(world.kari).get("/api/v1/me").json()["remote"] is True


def test_only_admins_flag_remote_agents_and_only_with_true_or_false(world, api_client_for):
    url = f"/api/v1/users/{world.kari.pk}/remote"
    # Staff management answers "no such user" to anyone but an admin (access_staff_user).
    by_supervisor = api_client_for(world.siv).put(url, {"remote": True}, "application/json")
    assert by_supervisor.status_code == 404
    admin = api_client_for(world.admin)
    assert admin.put(url, {"remote": "yes"}, "application/json").status_code == 422
    assert admin.put(url, {"remote": True, "x": 1}, "application/json").status_code == 422
    assert (
        admin.put("/api/v1/users/999999/remote", {"remote": True}, "application/json").status_code
        == 404
    )
    world.kari.refresh_from_db()
    assert world.kari.is_remote is False


def test_a_remote_agent_gets_the_customer_masked_and_an_on_site_agent_does_not(
    world, api_client_for, remote_kari
):
    customer = world.oslo_customer
    customer.attributes = {"plan": "Fri 20 GB", "home_address": "Storgata 12, 0155 Oslo"}
    customer.save()

    masked = api_client_for(remote_kari).get(f"/api/v1/customers/{customer.pk}")
    plain = api_client_for(world.ola).get(f"/api/v1/customers/{customer.pk}")

    assert masked.status_code == plain.status_code == 200
    assert raw_values_in(masked.content.decode()) == []
    assert "Storgata" not in masked.content.decode()
    identities = {row["kind"]: row for row in masked.json()["identities"]}
    assert identities["phone"]["value"] == "+47 ••• •• 567"
    assert identities["email"]["value"] == "a•••@example.com"
    assert identities["phone"]["masked"] is identities["email"]["masked"] is True
    assert masked.json()["attributes"] == {"plan": "Fri 20 GB", "home_address": "S••• ••, •• Oslo"}
    seen = {row["kind"]: row["value"] for row in plain.json()["identities"]}
    assert seen == {"phone": PHONE, "email": EMAIL}
    assert plain.json()["attributes"]["home_address"] == "Storgata 12, 0155 Oslo"


def test_conversations_and_messages_mask_a_customer_known_only_by_number_or_address(
    world, api_client_for, remote_kari
):
    known_by_number = create_customer(team=world.oslo, name=PHONE)
    inbox = create_inbox(world.oslo, name="Email")
    message, _ = do_receive_customer_message(
        inbox=inbox,
        customer=known_by_number,
        text="Please call me",
        channel="email",
        external_id="mail-1",
        channel_kind="email",
        content={"email": {"from": EMAIL, "cc": [f"Astrid <{EMAIL}>"], "subject": "Call me"}},
    )
    conversation = message.conversation
    kari, ola = api_client_for(remote_kari), api_client_for(world.ola)

    surfaces = [
        "/api/v1/conversations?view=team",
        f"/api/v1/conversations/{conversation.pk}",
        f"/api/v1/conversations/{conversation.pk}/messages",
        f"/api/v1/customers/{known_by_number.pk}",
    ]
    for url in surfaces:
        response = kari.get(url)
        assert response.status_code == 200, url
        assert raw_values_in(response.content.decode()) == [], url
        assert (
            ola.get(url).content.decode().count(EMAIL) + ola.get(url).content.decode().count(PHONE)
            > 0
        ), url
    detail = kari.get(f"/api/v1/conversations/{conversation.pk}").json()
    assert detail["customer"]["name"] == "+47 ••• •• 567"
    (mail,) = kari.get(f"/api/v1/conversations/{conversation.pk}/messages").json()["items"]
    assert mail["content"]["email"]["from"] == "a•••@example.com"
    assert mail["content"]["email"]["subject"] == "Call me"
    assert mail["text"] == "Please call me"


def test_a_callback_number_is_masked_for_a_remote_agent(world, api_client_for, remote_kari):
    callback = do_request_callback(world.oslo_waiting, "+47 912 34 567")

    masked = api_client_for(remote_kari).get(f"/api/v1/callbacks/{callback.pk}")
    plain = api_client_for(world.ola).get(f"/api/v1/callbacks/{callback.pk}")

    assert masked.json()["phone"] == "+47 ••• •• 567"
    assert plain.json()["phone"] == PHONE


def test_a_remote_agent_reveals_one_value_with_a_reason_and_it_is_audited(
    world, api_client_for, remote_kari
):
    customer = world.oslo_customer
    phone = customer.identities.get(kind="phone")
    kari = api_client_for(remote_kari, REMOTE_ADDR="192.0.2.7")

    response = kari.post(
        f"/api/v1/customers/{customer.pk}/reveal",
        {"field": f"identity:{phone.pk}", "reason": "Customer asks to confirm the number"},
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json() == {"field": f"identity:{phone.pk}", "value": PHONE}
    entry = AuditEntry.objects.get(action="customer.revealed")
    assert (entry.actor_id, entry.target_type, entry.target_id, entry.ip) == (
        remote_kari.pk,
        "customer",
        str(customer.pk),
        "192.0.2.7",
    )
    assert entry.data == {
        "field": f"identity:{phone.pk}",
        "reason": "Customer asks to confirm the number",
    }
    assert PHONE not in str(entry.data), "the audit log keeps no value"
    # One value only: the profile read afterwards is still masked.
    assert raw_values_in(kari.get(f"/api/v1/customers/{customer.pk}").content.decode()) == []


def test_a_reveal_needs_a_reason_and_a_field_masking_hides(world, api_client_for, remote_kari):
    customer = world.oslo_customer
    phone = customer.identities.get(kind="phone")
    kari = api_client_for(remote_kari)
    url = f"/api/v1/customers/{customer.pk}/reveal"
    other = world.bergen_customer

    def reveal(body, where=url):
        return kari.post(where, body, content_type="application/json").status_code

    assert reveal({"field": f"identity:{phone.pk}", "reason": "   "}) == 422
    assert reveal({"field": f"identity:{phone.pk}"}) == 422
    assert reveal({"field": f"identity:{phone.pk}", "reason": "a\u0000b"}) == 422
    assert reveal({"field": "attribute:plan", "reason": "curious"}) == 404
    assert reveal({"field": "identity:999999", "reason": "curious"}) == 404
    assert reveal({"field": "name", "reason": "curious"}) == 422
    # Another team's customer is not found, like every read outside one's teams.
    assert (
        reveal(
            {"field": f"identity:{phone.pk}", "reason": "x"}, f"/api/v1/customers/{other.pk}/reveal"
        )
        == 404
    )
    assert not AuditEntry.objects.filter(action="customer.revealed").exists()
