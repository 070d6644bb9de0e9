"""A supervisor listens in on a phone call of their team: Teamline calls the supervisor's phone
through the provider, and when they answer, the TwiML the provider fetches (signed, under the
voice inbox's webhook prefix) puts them into the call's conference room muted and without a
beep, so neither the customer nor the agent notices. Stopping hangs the supervisor's leg up.
Everything is on the conversation's timeline. Supervisors of other teams, agents and browser
calls are refused.

The provider's REST side is a loopback recorder (tests/calls/loopback_rest.py); its webhooks
are posted signed through the Django test client."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.test import override_settings

from teamline.accounts.actions import do_ensure_agent_profile
from teamline.accounts.models import AgentProfile, CallVia, Role
from teamline.calls import monitor as monitoring
from teamline.calls.actions import do_accept_call, do_end_call, do_mark_call_connected
from teamline.calls.models import Call, CallMedium, CallMonitor, MonitorMode, MonitorState
from teamline.calls.monitor import BROWSER_CALL_REFUSAL, do_end_monitoring, do_monitor_call
from teamline.connectors.models import WebhookEvent
from teamline.conversations.models import Inbox, TimelineEvent, TimelineKind
from teamline.core.errors import Forbidden, InvalidInput
from teamline.core.testing import create_agent, create_customer, create_team, create_user
from tests.calls.loopback_rest import LoopbackRest
from tests.calls.supervision_support import call_from, quiet_phone  # noqa: F401 - a fixture
from tests.connectors.fake_twiml import FakeTwimlProvider

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quiet_phone")]

ACCOUNT = "AC" + "1" * 32
TOKEN = "voice-auth-token-supervisors"
SIV_PHONE = "+4790000001"
NORA = "+4791234567"


@pytest.fixture
def rest():
    with LoopbackRest(ACCOUNT, TOKEN) as server:
        yield server


@pytest.fixture
def north():
    return create_team("North")


@pytest.fixture
def inbox(north, rest):
    inbox = Inbox(
        name="North phone",
        kind="voice",
        default_team=north,
        config={"language": "en", "api_base": rest.base, "from_number": "+4721000000"},
    )
    inbox.credentials = {"account_sid": ACCOUNT, "auth_token": TOKEN}
    inbox.save()
    return inbox


@pytest.fixture
def provider(client, inbox):
    return FakeTwimlProvider(client, inbox, TOKEN, account_sid=ACCOUNT)


@pytest.fixture(autouse=True)
def public_url():
    # The provider fetches the URLs Teamline gives it: here, through the test client.
    with override_settings(PUBLIC_URL="http://testserver"):
        yield


@pytest.fixture
def endpoints(monkeypatch):
    """Supervisors' phone numbers, as their agent profiles would hold them."""
    numbers: dict[int, str] = {}
    monkeypatch.setattr(monitoring, "monitor_endpoint", lambda user: numbers.get(user.pk, ""))
    return numbers


@pytest.fixture
def kari(north):
    return create_agent("kari", team=north, presence="available", display_name="Kari")


@pytest.fixture
def siv(north, endpoints):
    siv = create_user("siv", role=Role.SUPERVISOR, supervises=north, display_name="Siv")
    endpoints[siv.pk] = SIV_PHONE
    return siv


@pytest.fixture
def talking(north, inbox, kari) -> Call:
    """Nora talks to Kari on the phone; Kari's leg is in the room too."""
    nora = create_customer(team=north, name="Nora")
    call = call_from(nora, inbox=inbox, sid="CA" + "a" * 32)
    call = do_mark_call_connected(do_accept_call(call, actor=kari))
    Call.objects.filter(pk=call.pk).update(agent_call_sid="CA" + "b" * 32)
    call.refresh_from_db()
    return call


def answer(provider, monitor: CallMonitor, step: str = "", **extra: str):
    """The provider's request for the supervisor's leg (the leg answered, or its status)."""
    params = {
        "AccountSid": ACCOUNT,
        "CallSid": monitor.provider_call_sid,
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
        "From": "+4721000000",
        "To": monitor.endpoint,
        **extra,
    }
    return provider.post(f"{provider.prefix}monitor/{monitor.pk}{step}", params)


def timeline(call: Call) -> list[tuple[str, str | None]]:
    rows = TimelineEvent.objects.filter(
        conversation=call.conversation, kind=TimelineKind.CALL
    ).order_by("pk")
    return [(row.data["event"], row.actor.name if row.actor else None) for row in rows]


@pytest.mark.integration
def test_a_supervisor_listens_in_muted_and_unheard(talking, siv, rest, provider, inbox):
    monitor = do_monitor_call(talking, supervisor=siv)

    (placed,) = rest.requests
    assert placed.path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
    prefix = f"http://testserver/webhooks/twilio/{inbox.public_id}/"
    assert placed.form["To"] == SIV_PHONE
    assert placed.form["From"] == "+4721000000"
    assert placed.form["Url"] == f"{prefix}monitor/{monitor.pk}"
    assert placed.form["StatusCallback"] == f"{prefix}monitor/{monitor.pk}/status"
    assert monitor.state == MonitorState.DIALING and monitor.provider_call_sid

    # Siv picks up: the provider fetches the leg's TwiML.
    response = answer(provider, monitor)
    assert response.status_code == 200
    twiml = ET.fromstring(response.content)  # noqa: S314 - our own server's TwiML
    say, dial = list(twiml)
    assert say.text == "Listening to Kari's call with Nora. Nobody hears you."
    (room,) = list(dial)
    assert room.tag == "Conference" and room.text == f"teamline-call-{talking.pk}"
    assert room.get("muted") == "true"
    assert room.get("beep") == "false"
    assert room.get("startConferenceOnEnter") == "false"
    assert room.get("endConferenceOnExit") == "false"
    assert room.get("coach") is None
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.LISTENING and monitor.answered_at is not None

    # A provider retry of the step is answered the same and stored once.
    again = answer(provider, monitor)
    assert again.content == response.content
    assert WebhookEvent.objects.filter(external_id__contains=f"monitor/{monitor.pk}").count() == 1
    assert timeline(talking)[-1] == ("monitored", "Siv")


def test_stopping_hangs_up_the_supervisors_leg_and_is_audited(talking, siv, rest, provider):
    monitor = do_monitor_call(talking, supervisor=siv)
    answer(provider, monitor)

    ended = do_end_monitoring(monitor, reason="stopped listening", actor=siv, hang_up=True)

    assert ended is not None and ended.state == MonitorState.ENDED
    hang_up = rest.requests[-1]
    assert hang_up.path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{monitor.provider_call_sid}.json"
    assert hang_up.form == {"Status": "completed"}
    # The leg's final status callback then changes nothing.
    assert answer(provider, monitor, "/status", CallStatus="completed").status_code == 200
    assert timeline(talking)[-2:] == [("monitored", "Siv"), ("monitor ended", "Siv")]
    # Siv may listen again later: a new leg.
    assert do_monitor_call(talking, supervisor=siv).pk != monitor.pk


def test_the_supervisor_hanging_up_ends_their_monitoring_once(talking, siv, provider):
    monitor = do_monitor_call(talking, supervisor=siv)
    answer(provider, monitor)
    for _ in range(2):  # the provider retries its final status
        assert answer(provider, monitor, "/status", CallStatus="completed").status_code == 200
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.ENDED
    assert monitor.end_reason == "the supervisor's leg: completed"
    assert [event for event, _ in timeline(talking)].count("monitor ended") == 1


def test_a_call_that_ended_before_the_supervisor_answered_is_not_joined(talking, siv, provider):
    monitor = do_monitor_call(talking, supervisor=siv)
    do_end_call(talking, reason="the customer hung up")
    twiml = ET.fromstring(answer(provider, monitor).content)  # noqa: S314
    assert [verb.tag for verb in twiml] == ["Say", "Hangup"]
    assert twiml[0].text == "The call has ended."
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.ENDED


def test_coaching_is_heard_by_the_agent_only(talking, siv, provider):
    monitor = do_monitor_call(talking, supervisor=siv, mode=MonitorMode.COACH)
    say, dial = list(ET.fromstring(answer(provider, monitor).content))  # noqa: S314
    assert say.text == "Coaching Kari on the call with Nora. Only Kari hears you."
    (room,) = list(dial)
    assert room.get("coach") == talking.agent_call_sid
    assert room.get("muted") == "false" and room.get("beep") == "false"
    assert timeline(talking)[-1] == ("coached", "Siv")


def test_only_supervisors_of_the_calls_team_may_listen(talking, kari, endpoints, rest):
    south_supervisor = create_user(role=Role.SUPERVISOR, supervises=create_team("South"))
    endpoints[south_supervisor.pk] = "+4790000002"
    endpoints[kari.pk] = "+4790000003"
    with pytest.raises(Forbidden):
        do_monitor_call(talking, supervisor=south_supervisor)
    with pytest.raises(Forbidden):
        do_monitor_call(talking, supervisor=kari)
    admin = create_user(role=Role.ADMIN)
    endpoints[admin.pk] = "+4790000004"
    assert do_monitor_call(talking, supervisor=admin).supervisor == admin
    assert [r.form["To"] for r in rest.requests] == ["+4790000004"]


def test_a_browser_call_cannot_be_listened_to(north, kari, siv, rest):
    video = call_from(create_customer(team=north), CallMedium.VIDEO)
    video = do_mark_call_connected(do_accept_call(video, actor=kari))
    with pytest.raises(InvalidInput) as refused:
        do_monitor_call(video, supervisor=siv)
    assert refused.value.message == BROWSER_CALL_REFUSAL
    assert rest.requests == [] and not CallMonitor.objects.exists()


def test_clear_refusals_and_nothing_kept_when_the_provider_fails(talking, siv, endpoints, rest):
    rest.fail_with = 503
    with pytest.raises(InvalidInput, match="did not answer, so nobody is calling you"):
        do_monitor_call(talking, supervisor=siv)
    assert not CallMonitor.objects.exists()
    rest.fail_with = None
    do_monitor_call(talking, supervisor=siv)
    with pytest.raises(InvalidInput, match="already listening"):
        do_monitor_call(talking, supervisor=siv)  # a double click: one leg
    endpoints[siv.pk] = ""
    do_end_monitoring(CallMonitor.objects.get(), reason="stopped")
    with pytest.raises(InvalidInput, match="Add your phone number"):
        do_monitor_call(talking, supervisor=siv)


def test_forged_or_foreign_monitor_steps_are_refused(talking, siv, provider):
    monitor = do_monitor_call(talking, supervisor=siv)
    url = f"{provider.prefix}monitor/{monitor.pk}"
    params = {"AccountSid": ACCOUNT, "CallSid": monitor.provider_call_sid, "CallStatus": "ringing"}
    stored = WebhookEvent.objects.count()
    assert provider.post(url, params, signature="forged").status_code == 403
    assert provider.post(url, params, signature="").status_code == 403
    assert WebhookEvent.objects.count() == stored
    # Signed, but another call's SID: nothing to join.
    other = provider.post(url, {**params, "CallSid": "CA" + "f" * 32})
    assert [verb.tag for verb in ET.fromstring(other.content)] == ["Hangup"]  # noqa: S314
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.DIALING


def test_admins_read_who_listened_in_the_admin_and_cannot_change_it(talking, siv, client):
    monitor = do_monitor_call(talking, supervisor=siv)
    client.force_login(create_user("root", role=Role.ADMIN))
    listing = client.get("/admin/calls/callmonitor/")
    assert listing.status_code == 200 and str(monitor) in listing.content.decode()
    assert client.get("/admin/calls/callmonitor/add/").status_code == 403
    change = client.post(f"/admin/calls/callmonitor/{monitor.pk}/change/", {"state": "ended"})
    assert change.status_code in (200, 403)
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.DIALING


def test_the_supervisors_leg_rings_where_their_profile_says_they_take_calls(north):
    sunniva = create_user("sunniva", role=Role.SUPERVISOR, supervises=north)
    do_ensure_agent_profile(sunniva)
    assert monitoring.monitor_endpoint(sunniva) == ""
    AgentProfile.objects.filter(user=sunniva).update(phone_number="+4790000009")
    assert monitoring.monitor_endpoint(sunniva) == "+4790000009"
    AgentProfile.objects.filter(user=sunniva).update(call_via=CallVia.CLIENT)
    assert monitoring.monitor_endpoint(sunniva) == "client:sunniva"
