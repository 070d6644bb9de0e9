"""Admins require a second factor per role. A supervisor without one, once it is required, can
do nothing but set one up — in the desk, the admin and the API with her session — while API
tokens keep working."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse

from teamline.accounts.actions import do_create_api_token, do_set_mfa_requirement
from teamline.accounts.models import MFARequirement
from teamline.audit.models import AuditEntry
from teamline.core.errors import NotFound
from teamline.core.testing import create_agent, create_team, create_user
from tests.desk.test_session_socket import closed_with, open_socket, socket_of

from .mfa_support import enrol_totp, sign_in, still_signed_in

pytestmark = pytest.mark.django_db

ENROL = "/accounts/2fa/"


@pytest.fixture
def staff(db):
    oslo = create_team("Oslo")
    return {
        "root": create_user("root", role="admin"),
        "siv": create_user("siv", role="supervisor", team=oslo, supervises=oslo),
        "kari": create_agent("kari", team=oslo),
    }


def require(role: str, by) -> None:
    do_set_mfa_requirement(role, required=True, actor=by)


def test_every_role_has_a_row_and_none_is_required_in_the_test_settings(db):
    assert {r.role: r.required for r in MFARequirement.objects.all()} == {
        "agent": False,
        "supervisor": False,
        "admin": False,
    }


def test_siv_without_a_second_factor_is_sent_to_set_one_up(staff):
    require("supervisor", staff["root"])
    siv = sign_in("siv")

    response = siv.get(reverse("desk:inbox"))
    assert response.status_code == 302 and response["Location"] == ENROL
    page = siv.get(ENROL)
    assert page.status_code == 200
    assert "requires two-factor sign-in" in page.content.decode()

    htmx = siv.get(reverse("desk:inbox"), HTTP_HX_REQUEST="true")
    assert htmx.status_code == 403 and htmx["HX-Redirect"] == ENROL

    api = siv.get("/api/v1/me")
    assert api.status_code == 403 and api.json()["code"] == "mfa_required"

    assert siv.get("/admin/").status_code == 302  # not the admin either
    assert siv.post(reverse("desk:presence"), {"presence": "available"}).status_code == 302


def test_once_siv_has_an_authenticator_app_she_works_as_before(staff):
    require("supervisor", staff["root"])
    siv = sign_in("siv")
    enrol_totp(siv)
    assert still_signed_in(siv)
    assert siv.get("/api/v1/me").status_code == 200


def test_api_tokens_are_not_sessions_and_keep_working(staff):
    require("supervisor", staff["root"])
    _, secret = do_create_api_token(staff["siv"], name="report", actor=staff["siv"])
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/v1/me").status_code == 200


def test_agents_are_not_held_back_when_only_supervisors_must(staff):
    require("supervisor", staff["root"])
    assert still_signed_in(sign_in("kari"))


@pytest.mark.integration
def test_requiring_it_ends_the_sessions_of_those_who_have_none(staff):
    kari = sign_in("kari")
    siv = sign_in("siv")
    create_user("mona", role="supervisor")
    mona = sign_in("mona")
    enrol_totp(mona)

    require("supervisor", staff["root"])

    assert siv.get(reverse("desk:inbox"))["Location"].startswith(reverse("desk:login"))
    assert still_signed_in(mona), "a supervisor who has a second factor keeps working"
    assert still_signed_in(kari), "agents are not concerned"
    [entry] = AuditEntry.objects.filter(action="settings.changed")
    assert entry.actor == "root" and entry.target_id == "supervisor"
    assert entry.data == {
        "setting": "mfa_required",
        "role": "supervisor",
        "from": False,
        "to": True,
    }


def test_a_new_supervisor_is_refused_at_once_without_signing_in_again(staff):
    require("supervisor", staff["root"])
    kari = sign_in("kari")
    assert still_signed_in(kari)
    staff["kari"].role = "supervisor"
    staff["kari"].save(update_fields=["role"])
    assert kari.get(reverse("desk:inbox"))["Location"] == ENROL


def test_the_admin_edits_the_requirement_in_the_list_once_per_change(staff):
    root = sign_in("root")
    rows = {row.role: row for row in MFARequirement.objects.all()}
    form = {
        "form-TOTAL_FORMS": "3",
        "form-INITIAL_FORMS": "3",
        "_save": "Save",
    }
    for index, row in enumerate(MFARequirement.objects.order_by("pk")):
        form[f"form-{index}-id"] = str(row.pk)
        if row.role in ("supervisor", "admin"):
            form[f"form-{index}-required"] = "on"

    response = root.post("/admin/accounts/mfarequirement/", form)

    assert response.status_code == 302, response.content.decode()[:1500]
    assert rows["supervisor"].__class__.objects.get(role="supervisor").required
    entries = AuditEntry.objects.filter(action="settings.changed").order_by("seq")
    assert sorted(entry.target_id for entry in entries) == ["admin", "supervisor"]


def test_only_admins_change_the_requirement(staff):
    with pytest.raises(NotFound):
        do_set_mfa_requirement("agent", required=True, actor=staff["siv"])
    assert not MFARequirement.objects.get(role="agent").required


def test_the_admin_edits_the_requirement_in_the_admin(staff):
    root = sign_in("root")
    row = MFARequirement.objects.get(role="agent")
    response = root.post(
        f"/admin/accounts/mfarequirement/{row.pk}/change/", {"required": "on", "_save": "Save"}
    )
    assert response.status_code == 302, response.content.decode()[:1500]
    row.refresh_from_db()
    assert row.required
    # One change, one entry: the action's, which says what changed (the admin's own change
    # log, its History page, is not copied into the audit log a second time).
    [entry] = AuditEntry.objects.filter(action="settings.changed")
    assert entry.target_id == "agent" and entry.data["to"] is True
    assert LogEntry.objects.filter(object_id=str(row.pk)).exists()
    # The admin itself (no second factor, admins not required) still works.
    assert root.get("/admin/").status_code == 200


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
async def test_no_live_desk_for_siv_until_she_has_a_second_factor(transactional_db):
    oslo = await sync_to_async(create_team)("Oslo")
    root = await sync_to_async(create_user)("root", role="admin")
    await sync_to_async(create_user)("siv", role="supervisor", team=oslo, supervises=oslo)
    await sync_to_async(require)("supervisor", root)
    siv = await sync_to_async(sign_in)("siv")

    socket = await socket_of(siv)
    await socket.connect()
    assert await closed_with(socket) == 4401

    await sync_to_async(enrol_totp)(siv)
    socket = await open_socket(siv)
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()
