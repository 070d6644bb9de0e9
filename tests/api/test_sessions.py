"""My sessions in the API: list them, end one, end all others; admins sign a staff member out
everywhere (`POST /api/v1/users/{id}/sign-out-everywhere`)."""

from __future__ import annotations

import pytest
from django.test import Client

from teamline.accounts.actions import do_create_api_token

pytestmark = pytest.mark.django_db

PASSWORD = "password-123"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def browser(username: str, agent: str = FIREFOX, address: str = "203.0.113.9") -> Client:
    client = Client(HTTP_USER_AGENT=agent, REMOTE_ADDR=address)
    assert (
        client.post("/desk/login/", {"username": username, "password": PASSWORD}).status_code == 302
    )
    return client


def still_signed_in(client: Client) -> bool:
    return client.get("/api/v1/me").status_code == 200


def test_i_see_my_sessions_with_this_one_marked(world):
    here = browser("kari")
    browser("kari", agent="curl/8.5.0", address="198.51.100.1")
    browser("ola")

    sessions = here.get("/api/v1/me/sessions").json()
    # Most recently seen first (the newer sign-in; "seen" moves at most once a minute).
    assert [(s["device"], s["ip"], s["current"]) for s in sessions] == [
        ("Unknown browser", "198.51.100.1", False),
        ("Firefox 128 on Linux", "203.0.113.9", True),
    ]
    assert {"created_at", "last_seen_at", "user_agent", "id"} <= set(sessions[0])


def test_ending_one_session_signs_that_browser_out(world):
    here, there = browser("kari"), browser("kari", agent="curl/8.5.0")
    theirs = next(s for s in here.get("/api/v1/me/sessions").json() if not s["current"])

    response = here.delete(f"/api/v1/me/sessions/{theirs['id']}")
    assert response.status_code == 204
    assert not still_signed_in(there) and still_signed_in(here)
    # Ended: gone from the list, and a second end is a 404.
    assert len(here.get("/api/v1/me/sessions").json()) == 1
    assert here.delete(f"/api/v1/me/sessions/{theirs['id']}").status_code == 404


def test_someone_elses_session_is_not_found(world):
    browser("ola")
    kari = browser("kari")
    ola_session = world.ola.staff_sessions.get()
    assert kari.delete(f"/api/v1/me/sessions/{ola_session.pk}").status_code == 404
    assert ola_session.__class__.objects.get(pk=ola_session.pk).is_active


def test_ending_all_others_keeps_this_browser(world):
    here = browser("kari")
    others = [browser("kari", agent="curl/8.5.0") for _ in range(2)]

    response = here.delete("/api/v1/me/sessions")
    assert response.status_code == 200 and response.json() == {"ended": 2}
    assert still_signed_in(here)
    assert not any(still_signed_in(other) for other in others)


def test_an_admin_signs_an_agent_out_everywhere_through_the_api(world, api_client_for):
    laptop, phone = browser("kari"), browser("kari", agent="curl/8.5.0")
    admin = api_client_for(world.admin)

    response = admin.post(f"/api/v1/users/{world.kari.pk}/sign-out-everywhere")
    assert response.status_code == 200 and response.json() == {"ended": 2}
    assert not still_signed_in(laptop) and not still_signed_in(phone)


def test_only_admins_sign_others_out_everywhere(world, api_client_for):
    browser("kari")
    response = api_client_for(world.ola).post(f"/api/v1/users/{world.kari.pk}/sign-out-everywhere")
    assert response.status_code == 404
    assert world.kari.staff_sessions.get().is_active
    _, read_only = do_create_api_token(
        world.admin, name="ro", actor=world.admin, scopes=["read", "admin"]
    )
    refused = Client(HTTP_AUTHORIZATION=f"Bearer {read_only}").post(
        f"/api/v1/users/{world.kari.pk}/sign-out-everywhere"
    )
    assert refused.status_code == 403 and "`write`" in refused.json()["detail"]
