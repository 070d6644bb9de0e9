"""Staff sessions: every signed-in browser is recorded, and ends when its user signs out, ends
it, changes their password, an admin signs them out everywhere, or it sits idle too long.

Kari is an agent of the Oslo team (password `password-123`), Ada the admin."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from teamline.accounts.models import StaffSession
from teamline.accounts.sessions import describe_device
from teamline.accounts.tasks import sweep_sessions
from teamline.audit.models import AuditEntry
from teamline.core.testing import create_agent, create_team, create_user

pytestmark = pytest.mark.django_db

LOGIN = "/desk/login/"
PASSWORD = "password-123"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def kari():
    return create_agent("kari", team=create_team("Oslo"))


@pytest.fixture
def ada():
    return create_user("ada", role="admin")


def signed_in(username: str = "kari", *, agent: str = FIREFOX, address: str = "198.51.100.7"):
    client = Client(HTTP_USER_AGENT=agent, REMOTE_ADDR=address)
    response = client.post(LOGIN, {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return client


def is_signed_in(client: Client) -> bool:
    return client.get(reverse("desk:inbox")).status_code == 200


def test_signing_in_gives_the_browser_a_new_session_key(kari):
    client = Client()
    store = client.session  # an anonymous session, as a planted cookie would fix one
    store["planted"] = True
    store.save()
    before = client.cookies[settings.SESSION_COOKIE_NAME].value

    client.post(LOGIN, {"username": "kari", "password": PASSWORD})

    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after and after != before
    planted = Client()
    planted.cookies[settings.SESSION_COOKIE_NAME] = before
    assert not is_signed_in(planted)
    assert is_signed_in(client)


def test_each_sign_in_is_recorded_with_its_browser_and_address(kari):
    signed_in(agent=FIREFOX, address="198.51.100.7")
    signed_in(agent=SAFARI_IPHONE, address="2001:db8::5")

    rows = list(StaffSession.objects.filter(user=kari).order_by("pk"))
    assert [(describe_device(r.user_agent), r.ip) for r in rows] == [
        ("Firefox 128 on Windows", "198.51.100.7"),
        ("Safari 17 on iPhone", "2001:db8::5"),
    ]
    assert all(r.is_active and r.key_hash and len(r.key_hash) == 64 for r in rows)


def test_last_seen_moves_at_most_once_a_minute(kari):
    client = signed_in()
    row = StaffSession.objects.get(user=kari)
    StaffSession.objects.filter(pk=row.pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=5)
    )
    client.get(reverse("desk:inbox"))
    moved = StaffSession.objects.get(pk=row.pk).last_seen_at
    assert timezone.now() - moved < timedelta(seconds=5)

    client.get(reverse("desk:inbox"))
    assert StaffSession.objects.get(pk=row.pk).last_seen_at == moved


def test_signing_out_ends_the_session(kari):
    client = signed_in()
    client.post(reverse("desk:logout"))
    row = StaffSession.objects.get(user=kari)
    assert row.ended_at is not None and row.end_reason == "signed_out"


def test_a_password_change_on_the_command_line_ends_every_session(kari, monkeypatch):
    laptop, phone = signed_in(), signed_in(agent=SAFARI_IPHONE)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "a-much-longer-password-9")

    call_command("changepassword", "kari", stdout=StringIO())

    assert not is_signed_in(laptop) and not is_signed_in(phone)
    assert set(StaffSession.objects.values_list("end_reason", flat=True)) == {"password_changed"}
    entry = AuditEntry.objects.filter(action="auth.logout").latest("seq")
    assert entry.data["reason"] == "password_changed" and len(entry.data["sessions"]) == 2


def test_an_admin_who_changes_their_own_password_stays_signed_in_there_only(ada):
    here, elsewhere = signed_in("ada"), signed_in("ada", agent=SAFARI_IPHONE)
    new = "another-long-password-7"
    response = here.post(
        f"/admin/accounts/user/{ada.pk}/password/", {"password1": new, "password2": new}
    )
    assert response.status_code == 302, response.content[:500]

    assert here.get("/admin/").status_code == 200
    assert not is_signed_in(elsewhere)
    assert StaffSession.objects.filter(user=ada, ended_at__isnull=True).count() == 1


def test_an_admin_signs_an_agent_out_everywhere_from_the_admin(kari, ada):
    laptop, phone = signed_in(), signed_in(agent=SAFARI_IPHONE)
    admin = signed_in("ada")

    response = admin.post(
        "/admin/accounts/user/",
        {"action": "sign_out_everywhere", "_selected_action": [kari.pk]},
    )
    assert response.status_code == 302

    assert not is_signed_in(laptop) and not is_signed_in(phone)
    assert admin.get("/admin/").status_code == 200
    entry = AuditEntry.objects.filter(action="auth.logout").latest("seq")
    assert entry.actor_id == ada.pk and entry.target_id == str(kari.pk)


@override_settings(TEAMLINE={**settings.TEAMLINE, "IDLE_TIMEOUT_MINUTES": 15})
def test_a_session_idle_longer_than_the_timeout_is_signed_out(kari):
    client = signed_in()
    row = StaffSession.objects.get(user=kari)
    StaffSession.objects.filter(pk=row.pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=14)
    )
    assert is_signed_in(client)  # 14 minutes: still fine, and now seen again

    StaffSession.objects.filter(pk=row.pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=16)
    )
    response = client.get(reverse("desk:inbox"))
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert StaffSession.objects.get(pk=row.pk).end_reason == "idle"
    assert not is_signed_in(client)


@override_settings(TEAMLINE={**settings.TEAMLINE, "IDLE_TIMEOUT_MINUTES": 0})
def test_a_zero_idle_timeout_never_signs_anyone_out(kari):
    client = signed_in()
    StaffSession.objects.filter(user=kari).update(last_seen_at=timezone.now() - timedelta(days=3))
    assert is_signed_in(client)


def test_a_session_from_before_sessions_were_recorded_is_adopted(kari):
    client = signed_in()
    store = client.session
    del store["_teamline_session"]
    store.save()
    StaffSession.objects.all().delete()

    assert is_signed_in(client)
    assert StaffSession.objects.filter(user=kari, ended_at__isnull=True).count() == 1


@pytest.mark.parametrize(
    ("agent", "device"),
    [
        (FIREFOX, "Firefox 128 on Windows"),
        (SAFARI_IPHONE, "Safari 17 on iPhone"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
            "(KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
            "Edge 131 on macOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.6778.81 Mobile Safari/537.36",
            "Chrome 131 on Android",
        ),
        ("curl/8.5.0", "Unknown browser"),
        ("", "Unknown browser"),
    ],
)
def test_a_browser_is_named_from_its_user_agent(agent, device):
    assert describe_device(agent) == device


def test_ended_sessions_are_deleted_after_ninety_days(kari):
    old, recent = signed_in(), signed_in(agent=SAFARI_IPHONE)
    old.post(reverse("desk:logout"))
    recent.post(reverse("desk:logout"))
    first = StaffSession.objects.filter(user=kari).earliest("pk")
    StaffSession.objects.filter(pk=first.pk).update(ended_at=timezone.now() - timedelta(days=91))

    assert sweep_sessions.call()["removed"] == 1
    assert list(StaffSession.objects.values_list("end_reason", flat=True)) == ["signed_out"]
