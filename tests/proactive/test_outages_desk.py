"""The desk's Outages page: supervisors and admins declare, end and decide; agents may not;
a bad form is the page again with the error in an alert, never a 500."""

from __future__ import annotations

import pytest
from django.utils import timezone

from teamline.accounts.models import Role
from teamline.audit.models import AuditEntry
from teamline.core.testing import create_team, create_user
from teamline.proactive.models import Outage, SuspectedOutage, SuspicionState
from teamline.proactive.queries import active_outages_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def sigrid(client):
    team = create_team("Tartu", region="Tartu")
    supervisor = create_user("sigrid", role=Role.SUPERVISOR, supervises=team)
    client.force_login(supervisor)
    return supervisor


def test_a_supervisor_declares_and_ends_an_outage_on_the_desk(client, sigrid):
    page = client.get("/desk/outages/")
    assert page.status_code == 200
    assert b"No active outages." in page.content

    declared = client.post(
        "/desk/outages/declare/",
        {
            "regions": "Tartu, Tartu ,Elva",
            "title": "Mast down",
            "message": "We are on it.",
            "hours": "3",
            "critical": "on",
        },
        follow=True,
    )

    assert b"Outage declared: Mast down." in declared.content
    outage = Outage.objects.get()
    assert outage.regions == ["Tartu", "Elva"] and outage.critical
    assert outage.declared_by == sigrid and outage.expected_end is not None
    assert [o.id for o in active_outages_in("elva")] == [outage.pk]

    ended = client.post(
        f"/desk/outages/{outage.pk}/end/", {"follow_up": "All good again."}, follow=True
    )

    assert b"Outage ended: Mast down." in ended.content
    outage.refresh_from_db()
    assert outage.ended_at is not None and outage.follow_up == "All good again."
    assert AuditEntry.objects.filter(action="outage.ended", actor_id=sigrid.pk).exists()
    again = client.post(f"/desk/outages/{outage.pk}/end/", {})
    assert again.status_code == 400 and b'role="alert"' in again.content


@pytest.mark.parametrize(
    "form",
    [
        {"regions": "", "title": "x", "message": "y"},
        {"regions": "Tartu", "title": "", "message": "y"},
        {"regions": "Tartu", "title": "x", "message": "y", "hours": "-1"},
        {"regions": "Tartu", "title": "x", "message": "y", "hours": "99999"},
        {"regions": "Tartu", "title": "x" * 201, "message": "y"},
        {"regions": "Tar\x00tu", "title": "x", "message": "y"},
    ],
)
def test_a_bad_form_is_the_page_again_with_the_error(client, sigrid, form):
    response = client.post("/desk/outages/declare/", form)

    assert response.status_code == 400
    assert b'role="alert"' in response.content
    assert not Outage.objects.exists()


def test_agents_may_not_see_or_declare_outages(client):
    agent = create_user("agnes", role=Role.AGENT)
    client.force_login(agent)

    assert client.get("/desk/outages/").status_code == 403
    declared = client.post("/desk/outages/declare/", {"regions": "x", "title": "x", "message": "y"})
    assert declared.status_code == 403
    assert not Outage.objects.exists()


def test_a_supervisor_confirms_a_suspicion_from_the_desk(client, sigrid):
    suspicion = SuspectedOutage.objects.create(
        region="tartu",
        region_label="Tartu",
        source="contacts",
        observed=9,
        expected=0.1,
        p_value=1e-9,
        window_start=timezone.now(),
    )
    page = client.get("/desk/outages/")
    assert b"9 customers wrote that they have no signal" in page.content

    client.post(
        f"/desk/outages/suspected/{suspicion.pk}/",
        {"decision": "confirm", "title": "Network problem in Tartu", "message": "On it."},
    )

    suspicion.refresh_from_db()
    assert suspicion.state == SuspicionState.CONFIRMED and suspicion.decided_by == sigrid
    assert suspicion.outage.regions == ["Tartu"]
    assert client.post("/desk/outages/suspected/999999/", {}).status_code == 404
