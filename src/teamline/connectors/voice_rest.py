"""Controlling live calls through a TwiML-speaking provider's REST API (Twilio; SignalWire's
LaML and Telnyx's TeXML expose the same resources under their own base URL).

Every request is `{api_base}/2010-04-01/Accounts/{AccountSid}/…` with HTTP basic auth
(account SID, auth token) and a form body, as the provider documents it:

    place_call        POST …/Calls.json                    To, From, Url, StatusCallback…
    redirect_call     POST …/Calls/{CallSid}.json          Url (the call fetches new TwiML)
    end_call          POST …/Calls/{CallSid}.json          Status=completed
    find_conference   GET  …/Conferences.json?FriendlyName=…&Status=in-progress
    update_participant POST …/Conferences/{Sid}/Participants/{CallSid}.json  Hold, Muted
    start_recording   POST …/Calls/{CallSid}/Recordings.json
    set_recording     POST …/Calls/{CallSid}/Recordings/{Sid}.json  Status=paused|in-progress
    fetch_recording   GET  the recording's media URL (…/Recordings/{Sid}.wav)
    delete_recording  DELETE …/Recordings/{Sid}.json

Inbox credentials: {"account_sid", "auth_token"}; config: "from_number" (the number outbound
calls show, E.164), optional "api_base" (default https://api.twilio.com; SignalWire:
https://<space>.signalwire.com/api/laml, Telnyx: https://api.telnyx.com/v2/texml).

Errors: a provider that does not answer, or answers 429/5xx, raises `VoiceProviderUnavailable`
(try again later); any other refusal raises `VoiceProviderRefused` with the provider's message.
Nothing here writes to the database: callers (the calls app's actions) decide what a failure
means for the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from django.conf import settings

from .sms import PROVIDER

if TYPE_CHECKING:
    from teamline.conversations.models import Inbox

DEFAULT_API_BASE = "https://api.twilio.com"
# A live call waits on these requests (an agent pressed "Accept"): fail fast and say so.
TIMEOUT = httpx.Timeout(5.0, connect=2.0)
# What fetch_recording accepts (a one-hour mono WAV at 8 kHz is ~58 MB).
MAX_RECORDING_BYTES = 100 * 1024 * 1024


class VoiceProviderError(Exception):
    """The provider did not do what was asked."""


class VoiceProviderUnavailable(VoiceProviderError):
    """No answer, a timeout, 429 or 5xx: the same request may work later."""


class VoiceProviderRefused(VoiceProviderError):
    """The provider refused the request (4xx other than 429): retrying changes nothing."""

    def __init__(self, message: str, *, status: int, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Account:
    """Where and as whom an inbox talks to its provider."""

    api_base: str
    account_sid: str
    auth_token: str
    from_number: str

    @property
    def root(self) -> str:
        return f"{self.api_base}/2010-04-01/Accounts/{quote(self.account_sid, safe='')}"


def account_of(inbox: Inbox) -> Account:
    """The inbox's provider account. VoiceProviderRefused when its credentials are missing."""
    credentials = inbox.credentials or {}
    config = inbox.config or {}
    account_sid = str(credentials.get("account_sid") or "")
    auth_token = str(credentials.get("auth_token") or "")
    if not account_sid or not auth_token:
        raise VoiceProviderRefused(
            "the voice inbox is missing its account SID or auth token", status=0
        )
    return Account(
        api_base=str(config.get("api_base") or DEFAULT_API_BASE).rstrip("/"),
        account_sid=account_sid,
        auth_token=auth_token,
        from_number=str(config.get("from_number") or ""),
    )


def webhook_url(inbox: Inbox, step: str = "") -> str:
    """An absolute URL under the inbox's voice webhook prefix (what the provider fetches or
    posts to): /webhooks/twilio/<public id>/<step>. Verified like every call webhook."""
    return f"{settings.PUBLIC_URL}/webhooks/{PROVIDER}/{inbox.public_id}/{step}"


def _request(
    account: Account, method: str, path: str, form: dict[str, str] | None = None
) -> dict[str, Any]:
    url = path if path.startswith(("http://", "https://")) else account.root + path
    try:
        with httpx.Client(timeout=TIMEOUT) as client:
            response = client.request(
                method, url, data=form, auth=(account.account_sid, account.auth_token)
            )
    except httpx.TimeoutException as exc:
        raise VoiceProviderUnavailable("the voice provider did not answer in time") from exc
    except httpx.HTTPError as exc:
        raise VoiceProviderUnavailable(
            f"the voice provider is unreachable: {type(exc).__name__}"
        ) from exc
    return _answer(response)


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if response.status_code == 429 or response.status_code >= 500:
        raise VoiceProviderUnavailable(
            f"voice provider HTTP {response.status_code}: {data.get('message') or 'try later'}"
        )
    if response.status_code >= 400:
        raise VoiceProviderRefused(
            f"voice provider HTTP {response.status_code}: "
            f"{data.get('message') or 'request refused'}",
            status=response.status_code,
            code=str(data.get("code") or ""),
        )
    return data


def _sid(data: dict[str, Any], what: str) -> str:
    sid = str(data.get("sid") or "")
    if not sid:
        raise VoiceProviderRefused(f"the voice provider answered without a {what} SID", status=0)
    return sid


def place_call(
    inbox: Inbox,
    *,
    to: str,
    url: str,
    status_callback: str,
    timeout_seconds: int = 30,
    caller_id: str = "",
) -> str:
    """Dial `to` (E.164, or `client:<identity>` / `sip:…` as the provider allows); when it
    answers the provider fetches TwiML from `url`. Status callbacks (initiated, ringing,
    answered, completed — with no-answer/busy/failed as the final CallStatus) go to
    `status_callback`. Returns the new call's SID."""
    account = account_of(inbox)
    caller = caller_id or account.from_number
    if not caller:
        raise VoiceProviderRefused("the voice inbox has no from_number to call from", status=0)
    form = {
        "To": to,
        "From": caller,
        "Url": url,
        "Method": "POST",
        "StatusCallback": status_callback,
        "StatusCallbackMethod": "POST",
        "StatusCallbackEvent": "initiated ringing answered completed",
        "Timeout": str(timeout_seconds),
    }
    return _sid(_request(account, "POST", "/Calls.json", form), "call")


def redirect_call(inbox: Inbox, call_sid: str, url: str) -> None:
    """The live call leaves its current TwiML and fetches `url` (e.g. from the hold loop
    into the conference with its agent)."""
    account = account_of(inbox)
    _request(
        account,
        "POST",
        f"/Calls/{quote(call_sid, safe='')}.json",
        {"Url": url, "Method": "POST"},
    )


def end_call(inbox: Inbox, call_sid: str) -> None:
    """Hang the call up (Status=completed; a call not answered yet is canceled by it too)."""
    account = account_of(inbox)
    _request(account, "POST", f"/Calls/{quote(call_sid, safe='')}.json", {"Status": "completed"})


def find_conference(inbox: Inbox, friendly_name: str) -> str | None:
    """The SID of the in-progress conference called `friendly_name`, or None."""
    account = account_of(inbox)
    path = f"/Conferences.json?FriendlyName={quote(friendly_name, safe='')}&Status=in-progress"
    data = _request(account, "GET", path)
    rooms = data.get("conferences")
    if isinstance(rooms, list):
        for room in rooms:
            if isinstance(room, dict) and room.get("sid"):
                return str(room["sid"])
    return None


def update_participant(
    inbox: Inbox,
    conference_sid: str,
    call_sid: str,
    *,
    hold: bool | None = None,
    muted: bool | None = None,
) -> None:
    """Put a conference participant on hold (they hear hold music and are not heard) or
    mute them (they hear, are not heard)."""
    form: dict[str, str] = {}
    if hold is not None:
        form["Hold"] = "true" if hold else "false"
    if muted is not None:
        form["Muted"] = "true" if muted else "false"
    if not form:
        return
    account = account_of(inbox)
    _request(
        account,
        "POST",
        f"/Conferences/{quote(conference_sid, safe='')}/Participants/"
        f"{quote(call_sid, safe='')}.json",
        form,
    )


def start_recording(inbox: Inbox, call_sid: str, *, status_callback: str) -> str:
    """Start recording the live call (both parties, from now). Returns the recording's SID;
    its status callback says when the media is ready (`RecordingUrl`)."""
    account = account_of(inbox)
    data = _request(
        account,
        "POST",
        f"/Calls/{quote(call_sid, safe='')}/Recordings.json",
        {
            "RecordingStatusCallback": status_callback,
            "RecordingStatusCallbackMethod": "POST",
            "RecordingStatusCallbackEvent": "in-progress completed absent",
            "RecordingChannels": "dual",
        },
    )
    return _sid(data, "recording")


def set_recording(inbox: Inbox, call_sid: str, recording_sid: str, *, paused: bool) -> None:
    """Pause a recording (nothing is recorded until resumed: card details are never kept;
    PauseBehavior=skip leaves no silence in the file) or resume it."""
    account = account_of(inbox)
    form = {"Status": "paused" if paused else "in-progress"}
    if paused:
        form["PauseBehavior"] = "skip"
    _request(
        account,
        "POST",
        f"/Calls/{quote(call_sid, safe='')}/Recordings/{quote(recording_sid, safe='')}.json",
        form,
    )


def fetch_recording(
    inbox: Inbox, recording_url: str, *, max_bytes: int = MAX_RECORDING_BYTES
) -> bytes:
    """The recording's media (WAV) from the URL its status callback named. Only URLs under
    the inbox's own API base are fetched (the callback is signed, but the URL still decides
    where our credentials go). More than `max_bytes` is refused (VoiceProviderRefused) while
    reading, before it is all in memory."""
    account = account_of(inbox)
    url = recording_url if recording_url.endswith((".wav", ".mp3")) else recording_url + ".wav"
    if not url.startswith(account.api_base + "/"):
        raise VoiceProviderRefused("the recording is not on the voice provider's API", status=0)
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(30.0, connect=2.0)) as client,
            client.stream("GET", url, auth=(account.account_sid, account.auth_token)) as response,
        ):
            if response.status_code == 429 or response.status_code >= 500:
                raise VoiceProviderUnavailable(
                    f"voice provider HTTP {response.status_code} for the recording"
                )
            if response.status_code >= 400:
                raise VoiceProviderRefused(
                    f"voice provider HTTP {response.status_code} for the recording",
                    status=response.status_code,
                )
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise VoiceProviderRefused("the recording is too large to keep", status=0)
                chunks.append(chunk)
    except httpx.TimeoutException as exc:
        raise VoiceProviderUnavailable("the voice provider did not send the recording") from exc
    except httpx.HTTPError as exc:
        raise VoiceProviderUnavailable(
            f"the voice provider is unreachable: {type(exc).__name__}"
        ) from exc
    return b"".join(chunks)


def delete_recording(inbox: Inbox, recording_sid: str) -> None:
    """Delete a recording at the provider (once Teamline keeps its own copy). A recording the
    provider no longer has (404) counts as deleted."""
    account = account_of(inbox)
    try:
        _request(account, "DELETE", f"/Recordings/{quote(recording_sid, safe='')}.json")
    except VoiceProviderRefused as exc:
        if exc.status != 404:
            raise
