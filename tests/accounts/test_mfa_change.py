"""A change to someone's second factors is audited as `mfa.changed` — what changed, never a
secret — and signs out every other browser of theirs (their desk sockets close); the browser
that made the change stays signed in."""

from __future__ import annotations

import json

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from asgiref.sync import sync_to_async
from django.test import Client

from teamline.audit.models import AuditEntry
from teamline.core.testing import create_agent, create_team, create_user
from tests.desk.page import Page
from tests.desk.test_session_socket import closed_with, open_socket

from .mfa_support import confirm_password, enrol_totp, sign_in, still_signed_in

# allauth announces a change after its transaction commits, as in production. Also on
# PostgreSQL + Redis (the sockets close through the Redis channel layer).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


@pytest.fixture
def kari(transactional_db):
    return create_agent("kari", team=create_team("Oslo"))


def mfa_entries() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="mfa.changed").order_by("seq"))


def test_turning_on_an_authenticator_app_signs_out_karis_other_browsers(kari):
    phone, laptop = sign_in("kari"), sign_in("kari")
    secret = enrol_totp(laptop)

    assert still_signed_in(laptop)
    assert not still_signed_in(phone)
    entries = mfa_entries()
    assert [(e.data["change"], e.data["type"]) for e in entries] == [
        ("added", "totp"),
        ("added", "recovery_codes"),
    ]
    assert all(e.actor == "kari" and e.target_id == str(kari.pk) for e in entries)
    codes = Authenticator.objects.get(user=kari, type="recovery_codes").wrap().get_unused_codes()
    written = json.dumps([e.data for e in AuditEntry.objects.all()])
    assert secret not in written and not any(code in written for code in codes)
    logout = AuditEntry.objects.filter(action="auth.logout").last()
    assert logout is not None and logout.data["reason"] == "mfa_changed"


def test_turning_it_off_and_new_recovery_codes_are_changes_too(kari):
    laptop = sign_in("kari")
    enrol_totp(laptop)
    phone = sign_in("kari", Client())
    # The phone now needs the second factor: Kari finishes signing in with a recovery code.
    codes = Authenticator.objects.get(user=kari, type="recovery_codes").wrap().get_unused_codes()
    assert phone.post("/accounts/2fa/authenticate/", {"code": codes[0]}).status_code == 302
    assert still_signed_in(phone)

    confirm_password(laptop, "/accounts/2fa/recovery-codes/generate/")
    assert laptop.post("/accounts/2fa/recovery-codes/generate/").status_code == 302
    assert mfa_entries()[-1].data["change"] == "reset"
    assert not still_signed_in(phone)

    page = Page(laptop.get("/accounts/2fa/totp/deactivate/").content)
    page.button("Deactivate")
    assert laptop.post("/accounts/2fa/totp/deactivate/").status_code == 302
    assert [e.data["change"] for e in mfa_entries()][-2:] == ["removed", "removed"]
    assert not Authenticator.objects.filter(user=kari).exists()
    assert still_signed_in(laptop)


def test_an_admin_removes_a_lost_authenticator_and_every_session_of_kari_ends(kari):
    laptop = sign_in("kari")
    secret = enrol_totp(laptop)
    create_user("root", role="admin")
    root = sign_in("root")
    totp = Authenticator.objects.get(user=kari, type="totp")
    response = root.post(
        f"/admin/mfa/authenticator/{totp.pk}/delete/", {"post": "yes"}, follow=False
    )
    assert response.status_code == 302
    assert not Authenticator.objects.filter(pk=totp.pk).exists()
    assert not still_signed_in(laptop)
    entry = mfa_entries()[-1]
    assert entry.actor == "root" and entry.data == {
        "change": "removed",
        "type": "totp",
        "authenticator": totp.pk,
    }
    assert pyotp.TOTP(secret).now() not in json.dumps(entry.data)
    # The removal is that one `mfa.changed` entry, not also a `settings.changed` one.
    assert not AuditEntry.objects.filter(action="settings.changed").exists()


async def test_an_mfa_change_closes_the_desk_sockets_of_the_other_browsers(transactional_db):
    await sync_to_async(create_agent)("kari", team=await sync_to_async(create_team)("Oslo"))
    phone, laptop = await sync_to_async(sign_in)("kari"), await sync_to_async(sign_in)("kari")
    phone_socket = await open_socket(phone)
    laptop_socket = await open_socket(laptop)

    await sync_to_async(enrol_totp)(laptop)

    assert await closed_with(phone_socket) == 4408
    assert await laptop_socket.receive_nothing(timeout=0.5)
    await laptop_socket.disconnect()
