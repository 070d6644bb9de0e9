"""Who may send events: an admin's token with the `events` scope (or unscoped), or an
operator's system signing with an integration key — within the time window, each signed
request once (docs/proactive.md, "Keys and signing")."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.core.testing import create_agent, create_user
from teamline.proactive.actions import do_create_integration_key, do_revoke_integration_key
from teamline.proactive.models import Event

from .conftest import EVENTS_URL, usage

pytestmark = pytest.mark.django_db


def _post(client: Client, events=None):
    body = json.dumps({"events": events or [usage("a-1")]})
    return client.post(EVENTS_URL, body, content_type="application/json")


def _token(user, scopes=None) -> Client:
    _, secret = do_create_api_token(user, name="t", actor=user, scopes=scopes)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_an_admin_token_with_the_events_scope_or_none_sends_events(admin):
    assert _post(_token(admin, ["events"]), [usage("a-1")]).status_code == 202
    assert _post(_token(admin), [usage("a-2")]).status_code == 202
    assert Event.objects.count() == 2


def test_a_token_scoped_without_events_is_403_and_stores_nothing(admin):
    response = _post(_token(admin, ["read", "write"]))

    assert response.status_code == 403
    assert "events" in response.json()["detail"]
    assert Event.objects.count() == 0


def test_an_agent_may_not_send_events_even_with_the_scope():
    agent = create_agent("kari")

    assert _post(_token(agent, ["events"])).status_code == 403
    assert Event.objects.count() == 0


def test_no_credentials_is_401():
    assert _post(Client()).status_code == 401


def test_a_signed_batch_is_accepted_and_named_by_its_key(signed_post):
    response = signed_post([usage("n-1")])

    assert response.status_code == 202, response.content
    assert Event.objects.get().sender == f"key:{signed_post.key.pk}"
    signed_post.key.refresh_from_db()
    assert signed_post.key.last_used_at is not None


def test_a_wrong_signature_or_secret_is_401(signed_post):
    assert signed_post([usage("n-1")], secret="not-the-secret").status_code == 401
    assert signed_post([usage("n-1")], sig="sha256=" + "0" * 64).status_code == 401
    assert Event.objects.count() == 0


NOW = 1_800_000_000


@pytest.fixture
def server_clock(monkeypatch):
    """The server's clock stands still, so a second ticking between the test's stamp and the
    server's check cannot move a stamp across the window's edge."""
    monkeypatch.setattr("teamline.proactive.api.unix_time", lambda: float(NOW))


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_timestamp_outside_the_window_is_401(signed_post, server_clock, offset):
    response = signed_post([usage("n-1")], timestamp=NOW + offset)

    assert response.status_code == 401
    assert "X-Teamline-Timestamp" in response.json()["detail"]


@pytest.mark.parametrize("offset", [-300, 300])
def test_a_timestamp_on_the_window_edge_is_accepted(signed_post, server_clock, offset):
    assert signed_post([usage("n-1")], timestamp=NOW + offset).status_code == 202


def test_a_replayed_signed_request_is_401_even_within_the_window(signed_post):
    stamp = int(time.time())
    assert signed_post([usage("n-1")], timestamp=stamp).status_code == 202

    replay = signed_post([usage("n-1")], timestamp=stamp)

    assert replay.status_code == 401
    assert "already received" in replay.json()["detail"]


def test_a_revoked_or_unknown_key_is_401(signed_post, admin):
    do_revoke_integration_key(signed_post.key, actor=admin)
    assert signed_post([usage("n-1")]).status_code == 401
    assert signed_post([usage("n-1")], key="ik_unknown").status_code == 401
    assert Event.objects.count() == 0


def test_only_admins_make_integration_keys():
    from teamline.core.errors import Forbidden

    with pytest.raises(Forbidden):
        do_create_integration_key("Feed", actor=create_user("siv", role="supervisor"))
