"""Controlling live calls through a TwiML-speaking provider's REST API: Twilio, SignalWire's
LaML and Telnyx's TeXML expose the same resources under their own base URL; the inbox's
config "dialect" says which one it is (connectors/voice_dialect.py).

    place_call        POST …/Calls.json                    To, From, Url, StatusCallback…
    redirect_call     POST …/Calls/{CallSid}.json          Url (the call fetches new TwiML)
    end_call          POST …/Calls/{CallSid}.json          Status=completed
    find_conference   GET  …/Conferences.json?FriendlyName=…&Status=in-progress
    update_participant POST …/Conferences/{Sid}/Participants/{CallSid}.json  Hold, Muted
    start_recording   POST …/Calls/{CallSid}/Recordings.json
    set_recording     POST …/Calls/{CallSid}/Recordings/{Sid}.json  Status=paused|in-progress
    fetch_recording   GET  the recording's media URL (…/Recordings/{Sid}.wav)
    delete_recording  DELETE …/Recordings/{Sid}.json

Twilio and SignalWire: `{api_base}/2010-04-01/Accounts/{AccountSid}/…` with HTTP basic auth
(account SID, auth token) and form bodies. Telnyx: `{api_base}/Accounts/{AccountSid}/…` (its
account SID is the organisation id) with `Authorization: Bearer <api_key>` and JSON bodies
(booleans and numbers as JSON); its Calls, Conferences and Participants resources have no
".json" (its recordings do), placing a call names the TeXML application (`ApplicationSid`,
config "application_sid"), the new call's id comes back as "call_sid", a recording's media
URL is fetched as the callback gives it, and errors come as {"errors": [{"detail"}]}.

Inbox credentials: twilio {"account_sid", "auth_token"}; signalwire the same plus
"signing_key" (webhooks); telnyx {"account_sid", "api_key", "public_key"}. Config:
"from_number" (the number outbound calls show, E.164), optional "api_base" (default
https://api.twilio.com, Telnyx https://api.telnyx.com/v2/texml; SignalWire:
https://<space>.signalwire.com/api/laml).

Errors: a provider that does not answer, or answers 429/5xx, raises `VoiceProviderUnavailable`
(try again later); any other refusal raises `VoiceProviderRefused` with the provider's message.
Nothing here writes to the database: callers (the calls app's actions) decide what a failure
means for the call.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from django.conf import settings

from .base import PermanentSendError, TransientSendError
from .media import MediaRules, download_media
from .sms import PROVIDER
from .voice_dialect import TELNYX, dialect_of

if TYPE_CHECKING:
    from teamline.conversations.models import Inbox

DEFAULT_API_BASE = "https://api.twilio.com"
TELNYX_API_BASE = "https://api.telnyx.com/v2/texml"
# A live call waits on these requests (an agent pressed "Accept"): fail fast and say so.
TIMEOUT = httpx.Timeout(5.0, connect=2.0)
# What fetch_recording accepts (a one-hour mono WAV at 8 kHz is ~58 MB); nobody waits on it.
MAX_RECORDING_BYTES = 100 * 1024 * 1024
RECORDING_TIMEOUT = httpx.Timeout(30.0, connect=2.0)
RECORDING_MEDIA_RULES = MediaRules(
    limit=MAX_RECORDING_BYTES,
    refused="voice provider HTTP {status} for the recording",
    too_large="the recording is too large to keep",
    unreachable="the voice provider is unreachable: {error}",
    timed_out="the voice provider did not send the recording",
)


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


# A form or JSON body: values are text, flags or counts (each dialect encodes its own way).
Body = dict[str, str | bool | int]


@dataclass(frozen=True)
class Account:
    """Where and as whom an inbox talks to its provider."""

    api_base: str
    account_sid: str
    auth_token: str  # Twilio's auth token, SignalWire's API token, Telnyx's API key
    from_number: str
    dialect: str = "twilio"
    application_sid: str = ""  # Telnyx: the TeXML application that places calls

    @property
    def telnyx(self) -> bool:
        return self.dialect == TELNYX

    @property
    def root(self) -> str:
        sid = quote(self.account_sid, safe="")
        if self.telnyx:
            return f"{self.api_base}/Accounts/{sid}"
        return f"{self.api_base}/2010-04-01/Accounts/{sid}"

    def resource(self, path: str) -> str:
        """A call-control resource's path under the account: Twilio's all end in .json,
        Telnyx's Calls, Conferences and Participants do not."""
        return path if self.telnyx else path + ".json"

    def headers(self) -> dict[str, str]:
        if self.telnyx:
            return {"Authorization": f"Bearer {self.auth_token}", "Accept": "application/json"}
        return {}

    def auth(self) -> tuple[str, str] | None:
        return None if self.telnyx else (self.account_sid, self.auth_token)

    def encode(self, body: Body | None) -> dict[str, Any]:
        """httpx arguments for the body: JSON for Telnyx, a form (flags as true/false) else."""
        if body is None:
            return {}
        if self.telnyx:
            return {"json": body}
        return {
            "data": {
                name: ("true" if value else "false") if isinstance(value, bool) else str(value)
                for name, value in body.items()
            }
        }


def account_of(inbox: Inbox) -> Account:
    """The inbox's provider account. VoiceProviderRefused when its credentials are missing."""
    credentials = inbox.credentials or {}
    config = inbox.config or {}
    dialect = dialect_of(inbox)
    account_sid = str(credentials.get("account_sid") or "")
    secret_name = "api_key" if dialect == TELNYX else "auth_token"
    secret = str(credentials.get(secret_name) or "")
    if not account_sid or not secret:
        raise VoiceProviderRefused(
            f"the voice inbox is missing its account_sid or {secret_name}", status=0
        )
    default_base = TELNYX_API_BASE if dialect == TELNYX else DEFAULT_API_BASE
    return Account(
        api_base=str(config.get("api_base") or default_base).rstrip("/"),
        account_sid=account_sid,
        auth_token=secret,
        from_number=str(config.get("from_number") or ""),
        dialect=dialect,
        application_sid=str(config.get("application_sid") or ""),
    )


def webhook_url(inbox: Inbox, step: str = "") -> str:
    """An absolute URL under the inbox's voice webhook prefix (what the provider fetches or
    posts to): /webhooks/twilio/<public id>/<step>. Verified like every call webhook."""
    return f"{settings.PUBLIC_URL}/webhooks/{PROVIDER}/{inbox.public_id}/{step}"


def _request(account: Account, method: str, path: str, body: Body | None = None) -> dict[str, Any]:
    url = path if path.startswith(("http://", "https://")) else account.root + path
    try:
        with httpx.Client(timeout=TIMEOUT) as client:
            response = client.request(
                method,
                url,
                headers=account.headers(),
                auth=account.auth(),
                **account.encode(body),
            )
    except httpx.TimeoutException as exc:
        raise VoiceProviderUnavailable("the voice provider did not answer in time") from exc
    except httpx.HTTPError as exc:
        raise VoiceProviderUnavailable(
            f"the voice provider is unreachable: {type(exc).__name__}"
        ) from exc
    return _answer(response)


def _message(data: dict[str, Any]) -> tuple[str, str]:
    """The provider's reason and code: Twilio's {"message", "code"}, Telnyx's
    {"errors": [{"code", "title", "detail"}]}."""
    errors = data.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return str(first.get("detail") or first.get("title") or ""), str(first.get("code") or "")
    return str(data.get("message") or ""), str(data.get("code") or "")


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    message, code = _message(data)
    if response.status_code == 429 or response.status_code >= 500:
        raise VoiceProviderUnavailable(
            f"voice provider HTTP {response.status_code}: {message or 'try later'}"
        )
    if response.status_code >= 400:
        raise VoiceProviderRefused(
            f"voice provider HTTP {response.status_code}: {message or 'request refused'}",
            status=response.status_code,
            code=code,
        )
    return data


def _sid(data: dict[str, Any], what: str) -> str:
    # Telnyx answers a new call with "call_sid" (Twilio and SignalWire with "sid").
    sid = str(data.get("sid") or data.get("call_sid") or "")
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
    body: Body = {
        "To": to,
        "From": caller,
        "Url": url,
        "StatusCallback": status_callback,
        "StatusCallbackMethod": "POST",
        "StatusCallbackEvent": "initiated ringing answered completed",
    }
    if account.telnyx:
        # TeXML places calls through a TeXML application and has no softphone clients; its
        # documented request has no ring timeout (the application's applies).
        if not account.application_sid:
            raise VoiceProviderRefused(
                "the Telnyx voice inbox has no application_sid to place calls with", status=0
            )
        if to.startswith("client:"):
            raise VoiceProviderRefused(
                "Telnyx cannot ring a softphone client: set the agent's calls to ring a phone",
                status=0,
            )
        body.update(ApplicationSid=account.application_sid, UrlMethod="POST")
    else:
        body.update(Method="POST", Timeout=timeout_seconds)
    return _sid(_request(account, "POST", account.resource("/Calls"), body), "call")


def redirect_call(inbox: Inbox, call_sid: str, url: str) -> None:
    """The live call leaves its current TwiML and fetches `url` (e.g. from the hold loop
    into the conference with its agent)."""
    account = account_of(inbox)
    _request(
        account,
        "POST",
        account.resource(f"/Calls/{quote(call_sid, safe='')}"),
        {"Url": url, "Method": "POST"},
    )


def end_call(inbox: Inbox, call_sid: str) -> None:
    """Hang the call up (Status=completed; a call not answered yet is canceled by it too)."""
    account = account_of(inbox)
    _request(
        account,
        "POST",
        account.resource(f"/Calls/{quote(call_sid, safe='')}"),
        {"Status": "completed"},
    )


def find_conference(inbox: Inbox, friendly_name: str) -> str | None:
    """The SID of the in-progress conference called `friendly_name`, or None."""
    account = account_of(inbox)
    path = (
        account.resource("/Conferences")
        + f"?FriendlyName={quote(friendly_name, safe='')}&Status=in-progress"
    )
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
    body: Body = {}
    if hold is not None:
        body["Hold"] = hold
    if muted is not None:
        body["Muted"] = muted
    if not body:
        return
    account = account_of(inbox)
    _request(
        account,
        "POST",
        account.resource(
            f"/Conferences/{quote(conference_sid, safe='')}/Participants/{quote(call_sid, safe='')}"
        ),
        body,
    )


def start_recording(inbox: Inbox, call_sid: str, *, status_callback: str) -> str:
    """Start recording the live call (both parties, from now). Returns the recording's SID;
    its status callback says when the media is ready (`RecordingUrl`)."""
    account = account_of(inbox)
    body: Body = {
        "RecordingStatusCallback": status_callback,
        "RecordingStatusCallbackMethod": "POST",
        "RecordingStatusCallbackEvent": "in-progress completed absent",
        "RecordingChannels": "dual",
    }
    if account.telnyx:
        body["SendRecordingUrl"] = True  # the completed callback names the media
    data = _request(account, "POST", f"/Calls/{quote(call_sid, safe='')}/Recordings.json", body)
    return _sid(data, "recording")


def set_recording(inbox: Inbox, call_sid: str, recording_sid: str, *, paused: bool) -> None:
    """Pause a recording (nothing is recorded until resumed: card details are never kept;
    PauseBehavior=skip leaves no silence in the file) or resume it."""
    account = account_of(inbox)
    body: Body = {"Status": "paused" if paused else "in-progress"}
    if paused and not account.telnyx:
        # Twilio's: leave the paused part out of the file. TeXML documents only Status.
        body["PauseBehavior"] = "skip"
    _request(
        account,
        "POST",
        f"/Calls/{quote(call_sid, safe='')}/Recordings/{quote(recording_sid, safe='')}.json",
        body,
    )


def recording_media_url(inbox: Inbox, recording_sid: str) -> str:
    """Where a recording's media is when its callback named none (Twilio's resource URL,
    to which fetch_recording adds .wav)."""
    return f"{account_of(inbox).root}/Recordings/{quote(recording_sid, safe='')}"


def fetch_recording(
    inbox: Inbox, recording_url: str, *, max_bytes: int = MAX_RECORDING_BYTES
) -> bytes:
    """The recording's media (WAV) from the URL its status callback named. Only URLs under
    the inbox's own API base are fetched (the callback is signed, but the URL still decides
    where our credentials go). More than `max_bytes` is refused (VoiceProviderRefused) while
    reading, before it is all in memory."""
    account = account_of(inbox)
    on_api = recording_url.startswith(account.api_base + "/")
    if account.telnyx:
        # Telnyx's RecordingUrl is the file itself, often a short-lived link on its storage:
        # fetched as given, with the API key only when it is on the inbox's own API.
        url = recording_url
        if not on_api and not url.startswith("https://"):
            raise VoiceProviderRefused("the recording URL is not https", status=0)
    else:
        url = recording_url if recording_url.endswith((".wav", ".mp3")) else recording_url + ".wav"
        if not on_api:
            raise VoiceProviderRefused("the recording is not on the voice provider's API", status=0)
    headers = account.headers() if on_api else {}
    auth = account.auth() if on_api else None
    rules = replace(RECORDING_MEDIA_RULES, limit=max_bytes)
    try:
        with httpx.Client(timeout=RECORDING_TIMEOUT) as client:
            return download_media(client, url, rules, headers=headers, auth=auth).data
    except TransientSendError as exc:
        raise VoiceProviderUnavailable(str(exc)) from exc
    except PermanentSendError as exc:
        raise VoiceProviderRefused(str(exc), status=0) from exc


def delete_recording(inbox: Inbox, recording_sid: str) -> None:
    """Delete a recording at the provider (once Teamline keeps its own copy). A recording the
    provider no longer has (404) counts as deleted."""
    account = account_of(inbox)
    try:
        _request(account, "DELETE", f"/Recordings/{quote(recording_sid, safe='')}.json")
    except VoiceProviderRefused as exc:
        if exc.status != 404:
            raise
