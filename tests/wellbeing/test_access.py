"""Who sees what: an agent sees only her own signals and suggestions; Siv sees alerts about
the agents of Oslo, which she supervises; Bo (Bergen) sees nothing of Oslo, not even by id."""

from __future__ import annotations

import pytest
from django.test import Client

from teamline.core.errors import NotFound
from teamline.wellbeing.access import access_own_alert, access_supervised_alert
from teamline.wellbeing.models import WellbeingAlert

from .support import at

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(morning) -> WellbeingAlert:
    return WellbeingAlert.objects.create(
        agent=morning.kari, signal="no_break", value=150, threshold=120, created_at=at(150)
    )


def api(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_supervisors_see_only_their_own_teams_agents(morning, alert):
    assert [a["agent_name"] for a in api(morning.siv).get("/api/v1/wellbeing/alerts").json()] == [
        morning.kari.name
    ]
    assert api(morning.bo).get("/api/v1/wellbeing/alerts").json() == []
    assert api(morning.ola).get("/api/v1/wellbeing/alerts").json() == []
    with pytest.raises(NotFound):
        access_supervised_alert(morning.bo, alert.pk)
    answer = api(morning.bo).post(f"/api/v1/wellbeing/alerts/{alert.pk}/acknowledge")
    assert answer.status_code == 404
    answer = api(morning.siv).post(f"/api/v1/wellbeing/alerts/{alert.pk}/acknowledge")
    assert answer.status_code == 200 and answer.json()["acknowledged"] is True


def test_agents_see_and_dismiss_only_their_own_suggestions(morning, alert):
    with pytest.raises(NotFound):
        access_own_alert(morning.ola, alert.pk)
    with pytest.raises(NotFound):
        access_own_alert(morning.siv, alert.pk)  # a supervisor acknowledges, never dismisses
    assert api(morning.ola).get("/api/v1/wellbeing/me").json()["suggestion"] is None
    assert (
        api(morning.ola).post(f"/api/v1/wellbeing/suggestions/{alert.pk}/dismiss").status_code
        == 404
    )
    mine = api(morning.kari).get("/api/v1/wellbeing/me").json()
    assert mine["suggestion"]["id"] == alert.pk
    assert [m["signal"] for m in mine["measures"]] == [
        "negative_run",
        "no_break",
        "long_handle",
        "typing_strain",
    ]
    dismissed = api(morning.kari).post(f"/api/v1/wellbeing/suggestions/{alert.pk}/dismiss")
    assert dismissed.status_code == 200 and dismissed.json()["dismissed"] is True


def test_the_desk_pages_show_each_person_what_is_theirs(morning, alert):
    kari_page = api(morning.kari).get("/desk/wellbeing/")
    assert kari_page.status_code == 200
    text = kari_page.content.decode()
    assert "What is measured about you" in text and "Time since your last break" in text
    assert "Alerts about your teams" not in text  # Kari supervises nobody
    notice = api(morning.kari).get("/desk/wellbeing/notice/").content.decode()
    assert "Take a five-minute break?" in notice and "Dismiss suggestion" in notice
    siv_page = api(morning.siv).get("/desk/wellbeing/").content.decode()
    assert "Acknowledge the alert about" in siv_page and morning.kari.name in siv_page
    bo_page = api(morning.bo).get("/desk/wellbeing/").content.decode()
    assert "No alerts about your teams" in bo_page and morning.kari.name not in bo_page
    assert (
        "Take a five-minute break?"
        not in api(morning.siv).get("/desk/wellbeing/notice/").content.decode()
    )
    bo_ack = api(morning.bo).post(f"/desk/wellbeing/alerts/{alert.pk}/acknowledge/")
    assert bo_ack.status_code == 404
    ola_dismiss = api(morning.ola).post(f"/desk/wellbeing/suggestions/{alert.pk}/dismiss/")
    assert ola_dismiss.status_code == 404


def test_a_teams_supervisor_changes_its_thresholds_and_nobody_else_can(morning):
    url = f"/api/v1/wellbeing/teams/{morning.oslo.pk}/settings"
    shown = api(morning.siv).get(url)
    assert shown.status_code == 200
    assert (shown.json()["negative_run"], shown.json()["break_minutes"]) == (3, 120)
    for outsider in (morning.bo, morning.kari, morning.ola):
        assert api(outsider).get(url).status_code == 404
        assert (
            api(outsider).put(url, {"negative_run": 5}, content_type="application/json").status_code
            == 404
        )
    changed = api(morning.siv).put(
        url, {"negative_run": 5, "break_minutes": 90}, content_type="application/json"
    )
    assert changed.status_code == 200
    assert (changed.json()["negative_run"], changed.json()["break_minutes"]) == (5, 90)
    too_low = api(morning.siv).put(url, {"negative_run": 1}, content_type="application/json")
    assert too_low.status_code == 422
    unknown = api(morning.siv).put(url, {"keystrokes": True}, content_type="application/json")
    assert unknown.status_code == 422
    kari_sees = api(morning.kari).get("/api/v1/wellbeing/me").json()["measures"]
    assert [m["threshold"] for m in kari_sees][:2] == [5, 90]


def test_the_suggestion_speaks_the_agents_desk_language(morning, alert):
    for language, words in (
        ("nb", "Ta en pause på fem minutter?"),
        ("zh-hans", "休息五分钟吧？"),
        ("pt", "Que tal uma pausa de cinco minutos?"),
    ):
        morning.kari.language = language
        morning.kari.save(update_fields=["language"])
        notice = api(morning.kari).get("/desk/wellbeing/notice/").content.decode()
        assert words in notice, language
