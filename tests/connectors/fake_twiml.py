"""A fake TwiML voice provider for tests: it places calls on a voice inbox the way Twilio does.

It posts SIGNED call webhooks (X-Twilio-Signature with the inbox's auth token, over the URL
and the sorted form, as the provider signs them), parses the TwiML it gets back and follows it:
<Say> is recorded as what the caller heard, <Gather> takes the caller's next input (keys →
`Digits`, speech → `SpeechResult` + `Confidence`) and posts it to the action URL, or falls
through to the next verb when the caller says nothing, <Redirect> posts again, <Pause> is noted
(not slept), <Dial><Conference> puts the leg in a conference room, <Hangup> or the end of a
document ends the call. Every URL in the TwiML must point back under the inbox's webhook prefix.

    provider = FakeTwimlProvider(client, inbox, auth_token)
    call = provider.call("+4791234567", inputs=["1", None])
    assert "Saldoen din er 187,50 kroner." in call.heard
    call.hang_up()  # the final status callback

Two transports: the Django test client (default: in-process, in the test's transaction), or
real HTTP to a live server (`transport=HttpTransport()` with the live server's URL as `host`,
for browser tests).

The provider's REST side (`provider.start_rest()`): a loopback HTTP server on 127.0.0.1 that
answers the resources connectors/voice_rest.py uses (Calls, Conferences, Participants) with
basic auth (account SID, auth token), records every request, and acts like the provider:
a redirect makes the leg fetch the new Url, a placed call creates a leg that answers (or, per
number in `provider.answers`, does not: "no-answer", "busy", "failed") and fetches its Url,
participant updates are kept per participant, and ending a leg posts its final status callback.
Conference rooms post signed participant-join/leave and conference-start/end events to the
room's statusCallback. Point the inbox's config "api_base" at `rest.url`.

Recordings (`Calls/{CallSid}/Recordings.json`, as calls/recording.py starts them): the fake
keeps each recording's pauses and resumes (`provider.recordings`), serves its media as a small
dual-channel WAV (`…/Recordings/{Sid}.wav`, or the bytes a test put in `recording.media`),
deletes it (`DELETE …/Recordings/{Sid}.json`), and when the recorded leg ends posts the signed
recording status callback (`completed`, with RecordingUrl and RecordingDuration) to the URL it
was given. A recording of a call the fake did not place (a test that opened the call itself)
is accepted too; its test posts the callback. `rest.fail(method, path_end, status, message)`
makes the next matching request fail once.

Telnyx mode (`FakeTwimlProvider(..., dialect="telnyx", telnyx_key=<Ed25519 private key>,
api_key=…, application_sid=…)`): webhooks carry telnyx-timestamp and telnyx-signature-ed25519
(Ed25519 over "<timestamp>|<body>") instead of X-Twilio-Signature; the REST side lives under
`{rest.url}/v2/texml/Accounts/{AccountSid}` (`rest.api_base` is the inbox's "api_base"), takes
only `Authorization: Bearer <api_key>` and JSON bodies (flags as JSON booleans; a form body is
415), knows Calls, Conferences and Participants without ".json" (404 with it), refuses a call
placed without the inbox's ApplicationSid (422), answers a placed call with "call_sid" (no
"sid") and errors as {"errors": [{"code", "title", "detail"}]}, and names a recording's media by
its full URL. `rest.requests[i].body` is the JSON as sent.

What the REST side asks for happens after the request that asked (as with the real provider,
which acts after Teamline's transaction committed): with the test client the test runs it
with `provider.settle()`; over HTTP a worker thread runs it at once.
"""

from __future__ import annotations

import base64
import itertools
import json
import queue
import struct
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client

from teamline.connectors.sms import twilio_signature
from teamline.conversations.models import Inbox

_sids = itertools.count(1)
_rooms = itertools.count(1)
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
IN_ROOM = "in-room"  # what _run returns when a <Dial><Conference> put the leg in a room


@dataclass(frozen=True)
class Speech:
    """What the caller says at a <Gather> (instead of pressing keys)."""

    text: str
    confidence: str = "0.92"


@dataclass(frozen=True)
class Said:
    text: str
    language: str
    voice: str


# --- Transports -------------------------------------------------------------------------------


@dataclass
class Answer:
    """A webhook's answer over HTTP, read like a Django test response."""

    status_code: int
    content: bytes
    headers: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.headers[name.lower()]


class ClientTransport:
    def __init__(self, client: Client) -> None:
        self.client = client

    def post(self, url: str, body: str, headers: dict[str, str]) -> Any:
        return self.client.post(
            url, data=body, content_type="application/x-www-form-urlencoded", headers=headers
        )


class HttpTransport:
    """Posts to a live server (the URL's host is the server's)."""

    def post(self, url: str, body: str, headers: dict[str, str]) -> Any:
        response = httpx.post(
            url,
            content=body.encode(),
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
            timeout=15.0,
        )
        return Answer(
            response.status_code,
            response.content,
            {k.lower(): v for k, v in response.headers.items()},
        )


# --- Legs and rooms ---------------------------------------------------------------------------


@dataclass
class Call:
    """One leg at the provider: a caller's inbound call, or an outbound leg placed over REST."""

    provider: FakeTwimlProvider
    sid: str
    caller: str
    called: str
    direction: str = "inbound"
    status_callback: str = ""
    said: list[Said] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    gathers: list[dict[str, str]] = field(default_factory=list)
    pauses: list[int] = field(default_factory=list)
    ended: bool = False  # hung up by our TwiML (<Hangup> or the end of a document), or over
    on_hold: bool = False  # still in a Redirect loop when the test stopped following
    pending: tuple[str, dict[str, str]] | None = None  # the request the provider makes next
    room: str = ""  # the conference room the leg is in
    after_dial: list[ET.Element] = field(default_factory=list)  # the TwiML after its <Dial>
    statuses: list[str] = field(default_factory=list)  # status callbacks posted for the leg

    @property
    def heard(self) -> list[str]:
        return [s.text for s in self.said]

    def params(self, **extra: str) -> dict[str, str]:
        return {
            "AccountSid": self.provider.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": self.sid,
            "CallStatus": "in-progress",
            "Called": self.called,
            "Caller": self.caller,
            "Direction": self.direction,
            "From": self.caller,
            "To": self.called,
            **extra,
        }

    def hang_up(self, status: str = "completed", *, room_first: bool = False, **extra: str) -> Any:
        """The caller hangs up: the provider's final status callback, then (if the leg was in
        a room) the room's events and what they do to the others in it; `room_first`: the
        other way round (the provider does not promise an order)."""
        if room_first:
            self.provider.leave_room(self)
        response = self.provider.post_status(self, status, **extra)
        self.provider.leave_room(self)
        self.ended, self.on_hold, self.pending = True, False, None
        self.provider.drain_local()
        return response

    def keep_waiting(self, *inputs: str | Speech | None, rounds: int = 1) -> None:
        """Stay on the line for `rounds` more hold announcements (pressing `inputs`)."""
        assert self.pending is not None, "the call is not waiting"
        url, params = self.pending
        self.provider.follow(self, url, params, list(inputs), rounds + len(inputs))

    def retry_last(self) -> Any:
        """Post the last request again, byte for byte (a provider retry after a timeout)."""
        url, params = self.requests[-1]
        return self.provider.post(url, params)


@dataclass
class Participant:
    call_sid: str
    muted: bool
    end_on_exit: bool
    start_on_enter: bool
    callback: str
    hold: bool = False
    updates: list[dict[str, str]] = field(default_factory=list)  # REST updates, in order


@dataclass
class Room:
    sid: str
    name: str
    participants: dict[str, Participant] = field(default_factory=dict)
    started: bool = False
    callback: str = ""
    events: list[tuple[str, str]] = field(default_factory=list)  # (event, call sid)


def wav_bytes(seconds: float = 0.5, *, rate: int = 8000, channels: int = 2) -> bytes:
    """A valid 16-bit PCM WAV of silence (what a recording's .wav is made of)."""
    data = b"\x00\x00" * channels * int(seconds * rate)
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + len(data))
        + b"WAVE"
        + b"fmt "
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )


@dataclass
class Recording:
    sid: str
    call_sid: str
    callback: str  # RecordingStatusCallback
    channels: str  # RecordingChannels
    status: str = "in-progress"  # in-progress | paused | completed
    media: bytes = field(default_factory=wav_bytes)
    updates: list[dict[str, str]] = field(default_factory=list)  # pause/resume, in order
    deleted: bool = False


@dataclass(frozen=True)
class RestRequest:
    method: str
    path: str  # after /2010-04-01/Accounts/<sid> (Telnyx: after /v2/texml/Accounts/<sid>)
    form: dict[str, str]  # the body's fields as text (Telnyx's JSON flags as "true"/"false")
    query: dict[str, str]
    body: dict[str, Any] | None = None  # Telnyx: the JSON exactly as sent
    content_type: str = ""


TELNYX = "telnyx"
TELNYX_ROOT = "/v2/texml"


# --- The provider -----------------------------------------------------------------------------


class FakeTwimlProvider:
    def __init__(
        self,
        client: Client | None,
        inbox: Inbox,
        auth_token: str,
        *,
        host: str = "http://testserver",
        account_sid: str = "AC" + "0" * 32,
        transport: ClientTransport | HttpTransport | None = None,
        dialect: str = "twilio",
        telnyx_key: Ed25519PrivateKey | None = None,
        api_key: str = "",
        application_sid: str = "",
    ) -> None:
        assert dialect != TELNYX or (telnyx_key and api_key and application_sid), (
            "a Telnyx fake needs its signing key, API key and TeXML application"
        )
        if transport is None:
            assert client is not None, "give a test client or a transport"
            transport = ClientTransport(client)
        self.transport = transport
        self.client = client
        self.inbox = inbox
        self.auth_token = auth_token
        self.account_sid = account_sid
        self.prefix = f"{host}/webhooks/twilio/{inbox.public_id}/"
        self.legs: dict[str, Call] = {}
        self.rooms: dict[str, Room] = {}
        # Per number dialled over REST: "answer" (default), "no-answer", "busy", "failed".
        self.answers: dict[str, str] = {}
        # Per number dialled over REST: it rings until the test sets the event (a person who
        # takes their time to pick up), at most 30 s.
        self.rings_until: dict[str, threading.Event] = {}
        self.actions: queue.Queue[Callable[[], None]] = queue.Queue()
        self.lock = threading.RLock()
        self.rest: LoopbackRest | None = None
        self.errors: list[BaseException] = []
        self.posted: list[tuple[str, dict[str, str]]] = []  # every webhook, in order
        self.recordings: dict[str, Recording] = {}
        self.recording_seconds = 192  # RecordingDuration of a completed recording
        self._worker: threading.Thread | None = None
        self.dialect = dialect
        self.telnyx_key = telnyx_key
        self.api_key = api_key
        self.application_sid = application_sid

    @property
    def telnyx(self) -> bool:
        return self.dialect == TELNYX

    def new_call_sid(self) -> str:
        """Twilio's CallSids are CA + 32 characters; Telnyx's are "v3:" + an opaque token (a
        colon and a dash in an id that goes into URLs and event ids)."""
        if self.telnyx:
            return f"v3:Tx-{next(_sids):048d}"
        return f"CA{next(_sids):032d}"

    # --- Webhooks ---

    def post(
        self,
        url: str,
        params: dict[str, str],
        *,
        signature: str | None = None,
        timestamp: int | None = None,
    ) -> Any:
        """Post a signed webhook; `signature` "" posts it unsigned, any other text forges it
        (Telnyx: `timestamp` signs it as sent at that Unix time)."""
        body = urlencode(params)
        if self.telnyx:
            headers = self.telnyx_headers(body.encode(), signature=signature, timestamp=timestamp)
        else:
            if signature is None:
                signature = twilio_signature(self.auth_token, url, list(params.items()))
            headers = {"X-Twilio-Signature": signature} if signature else {}
        self.posted.append((url, params))
        return self.transport.post(url, body, headers)

    def telnyx_headers(
        self, body: bytes, *, signature: str | None = None, timestamp: int | None = None
    ) -> dict[str, str]:
        """Telnyx's signature headers: Ed25519 over "<timestamp>|<body>", base64."""
        assert self.telnyx_key is not None
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        if signature is None:
            raw = self.telnyx_key.sign(stamp.encode() + b"|" + body)
            signature = base64.b64encode(raw).decode()
        if not signature:
            return {}
        return {"telnyx-timestamp": stamp, "telnyx-signature-ed25519": signature}

    def posted_callbacks(self) -> list[tuple[str, dict[str, str]]]:
        """The status callbacks and conference events posted so far (to replay them)."""
        return [
            (url, params)
            for url, params in self.posted
            if url.endswith("/status") or url.endswith("/ivr/conference")
        ]

    def post_status(self, leg: Call, status: str, **extra: str) -> Any:
        leg.statuses.append(status)
        url = leg.status_callback or self.prefix + "status"
        response = self.post(url, leg.params(CallStatus=status, CallDuration="42", **extra))
        if status in FINAL_STATUSES:
            self.complete_recordings(leg.sid)
        return response

    def complete_recordings(self, call_sid: str) -> None:
        """The recorded leg ended: its recordings are complete and their status callbacks
        posted (signed, like every webhook)."""
        with self.lock:
            done = [
                r
                for r in self.recordings.values()
                if r.call_sid == call_sid and r.status != "completed"
            ]
            for recording in done:
                recording.status = "completed"
        for recording in done:
            response = self.post(self._url(recording.callback), self.recording_params(recording))
            assert response.status_code == 200, (response.status_code, recording.callback)

    def recording_params(self, recording: Recording, **extra: str) -> dict[str, str]:
        """What the provider posts to a recording's status callback."""
        assert self.rest is not None
        return {
            "AccountSid": self.account_sid,
            "CallSid": recording.call_sid,
            "RecordingSid": recording.sid,
            "RecordingUrl": f"{self.rest.root}/Recordings/{recording.sid}"
            + (".wav" if self.telnyx else ""),
            "RecordingStatus": recording.status,
            "RecordingDuration": str(self.recording_seconds),
            "RecordingChannels": "2" if recording.channels == "dual" else "1",
            "RecordingSource": "StartCallRecordingAPI",
            **extra,
        }

    def call(
        self,
        caller: str,
        *,
        inputs: list[str | Speech | None] = (),  # type: ignore[assignment]
        called: str = "+4721000000",
        sid: str | None = None,
        max_requests: int = 20,
    ) -> Call:
        """Place a call and follow its TwiML until it ends, the inputs run out at a wait loop,
        it joins a conference room, or `max_requests` webhooks were made."""
        call = Call(self, sid or self.new_call_sid(), caller, called)
        call.status_callback = self.prefix + "status"
        with self.lock:
            self.legs[call.sid] = call
        self.follow(call, self.prefix, call.params(), list(inputs), max_requests)
        return call

    def follow(
        self,
        call: Call,
        url: str,
        params: dict[str, str],
        inputs: list[str | Speech | None],
        max_requests: int,
    ) -> None:
        for _ in range(max_requests):
            call.requests.append((url, params))
            response = self.post(url, params)
            assert response.status_code == 200, (response.status_code, url)
            assert response["Content-Type"].startswith("text/xml")
            root = ET.fromstring(response.content)  # noqa: S314 - our own server's TwiML
            assert root.tag == "Response"
            next_request = self._run(call, list(root), inputs)
            if next_request == IN_ROOM:
                call.on_hold, call.pending = False, None
                return
            if next_request is None:
                self._finish(call)
                return
            assert isinstance(next_request, tuple)
            url, params = next_request
            call.pending = next_request
            if not inputs and "/ivr/wait/" in url:
                call.on_hold = True  # nothing more to press: the caller just waits
                return
        call.on_hold = True

    def _finish(self, call: Call) -> None:
        """Our TwiML ended the leg (<Hangup>, or nothing more to do)."""
        call.ended, call.on_hold, call.pending = True, False, None
        if call.direction != "inbound":
            self.post_status(call, "completed")

    def _url(self, value: str | None) -> str:
        assert value and value.startswith(self.prefix), f"{value!r} leaves {self.prefix}"
        return value

    def _run(
        self, call: Call, verbs: list[ET.Element], inputs: list[str | Speech | None]
    ) -> tuple[str, dict[str, str]] | str | None:
        for index, verb in enumerate(verbs):
            if verb.tag == "Say":
                call.said.append(
                    Said(verb.text or "", verb.get("language", ""), verb.get("voice", ""))
                )
            elif verb.tag == "Gather":
                call.gathers.append(dict(verb.attrib))
                assert verb.get("input") == "dtmf speech"
                for prompt in verb:
                    assert prompt.tag == "Say"
                    call.said.append(
                        Said(prompt.text or "", prompt.get("language", ""), prompt.get("voice", ""))
                    )
                given = inputs.pop(0) if inputs else None
                if given is None:
                    continue  # silence: the provider carries on with the next verb
                action = self._url(verb.get("action"))
                if isinstance(given, Speech):
                    extra = {"SpeechResult": given.text, "Confidence": given.confidence}
                else:
                    extra = {"Digits": given}
                return action, call.params(**extra)
            elif verb.tag == "Redirect":
                return self._url(verb.text), call.params()
            elif verb.tag == "Pause":
                call.pauses.append(int(verb.get("length", "1")))
            elif verb.tag == "Hangup":
                return None
            elif verb.tag == "Dial":
                rooms = verb.findall("Conference")
                assert len(rooms) == 1, "the fake dials conference rooms only"
                call.after_dial = verbs[index + 1 :]
                self.join_room(call, rooms[0])
                return IN_ROOM
            else:
                raise AssertionError(f"unexpected TwiML verb {verb.tag}")
        return None

    # --- Conference rooms ---

    def join_room(self, call: Call, noun: ET.Element) -> None:
        name = (noun.text or "").strip()
        callback = noun.get("statusCallback", "")
        if callback:
            self._url(callback)
        with self.lock:
            room = self.rooms.get(name)
            if room is None:
                room = self.rooms[name] = Room(f"CF{next(_rooms):032d}", name, callback=callback)
            room.participants[call.sid] = Participant(
                call.sid,
                muted=noun.get("muted") == "true",
                end_on_exit=noun.get("endConferenceOnExit") == "true",
                start_on_enter=noun.get("startConferenceOnEnter", "true") == "true",
                callback=callback,
            )
            call.room = name
            starts = not room.started and room.participants[call.sid].start_on_enter
            if starts:
                room.started = True
        self._room_event(room, "participant-join", call.sid)
        if starts:
            self._room_event(room, "conference-start", "")

    def leave_room(self, call: Call) -> None:
        """The leg leaves its room (hung up, redirected); a leg that ends the room on exit
        ends it, and the others in it go on with the TwiML after their <Dial>."""
        with self.lock:
            room = self.rooms.get(call.room)
            participant = room.participants.pop(call.sid, None) if room else None
            call.room = ""
        if room is None or participant is None:
            return
        self._room_event(room, "participant-leave", call.sid)
        if participant.end_on_exit or not room.participants:
            self._end_room(room)

    def _end_room(self, room: Room) -> None:
        with self.lock:
            others = [self.legs[sid] for sid in list(room.participants) if sid in self.legs]
            room.participants.clear()
            self.rooms.pop(room.name, None)
        for other in others:
            other.room = ""
            self._room_event(room, "participant-leave", other.sid)
        self._room_event(room, "conference-end", "")
        for other in others:
            self._after_dial(other)

    def _after_dial(self, leg: Call) -> None:
        verbs, leg.after_dial = leg.after_dial, []
        following = self._run(leg, verbs, [])
        if following is None:
            self._finish(leg)
        elif isinstance(following, tuple):
            self.follow(leg, following[0], following[1], [], 20)

    def _room_event(self, room: Room, event: str, call_sid: str) -> None:
        room.events.append((event, call_sid))
        if not room.callback:
            return
        params = {
            "AccountSid": self.account_sid,
            "ConferenceSid": room.sid,
            "FriendlyName": room.name,
            "StatusCallbackEvent": event,
            "SequenceNumber": str(len(room.events)),
        }
        if call_sid:
            participant = room.participants.get(call_sid)
            params.update(
                CallSid=call_sid,
                Muted="true" if participant and participant.muted else "false",
                Hold="true" if participant and participant.hold else "false",
            )
        response = self.post(room.callback, params)
        assert response.status_code == 200, (response.status_code, room.callback, event)

    def participant(self, room_name: str, call_sid: str) -> Participant | None:
        room = self.rooms.get(room_name)
        return room.participants.get(call_sid) if room else None

    def in_room(self, room_name: str) -> set[str]:
        room = self.rooms.get(room_name)
        return set(room.participants) if room else set()

    # --- The REST side ---

    def start_rest(self) -> LoopbackRest:
        """Serve the REST API on 127.0.0.1 (a free port) until `stop_rest`."""
        self.rest = LoopbackRest(self)
        if isinstance(self.transport, HttpTransport):
            self._worker = threading.Thread(target=self._work, daemon=True)
            self._worker.start()
        return self.rest

    def stop_rest(self) -> None:
        if self.rest is not None:
            self.rest.close()
        if self._worker is not None:
            self.actions.put(_STOP)
            self._worker.join(timeout=10)
            self._worker = None

    def later(self, action: Callable[[], None]) -> None:
        self.actions.put(action)

    def settle(self, max_actions: int = 100) -> int:
        """Run what the REST requests asked for (and what that asked for), in order; returns
        how many actions ran. Test-client transport only (over HTTP the worker runs them)."""
        assert self._worker is None, "over HTTP the worker runs the provider's actions"
        ran = 0
        while ran < max_actions:
            try:
                action = self.actions.get_nowait()
            except queue.Empty:
                return ran
            action()
            ran += 1
        raise AssertionError("the provider's actions do not settle")

    def drain_local(self) -> None:
        if self._worker is None and self.rest is not None:
            self.settle()

    def _work(self) -> None:
        while True:
            action = self.actions.get()
            if action is _STOP:
                return
            try:
                action()
            except BaseException as exc:
                self.errors.append(exc)

    # What the REST requests do (run by `settle` or the worker).

    def redirect(self, leg: Call, url: str) -> None:
        if leg.ended:
            return
        self.leave_room(leg)
        leg.pending, leg.on_hold = None, False
        self.follow(leg, self._url(url), leg.params(), [], 20)

    def end(self, leg: Call) -> None:
        if leg.ended:
            return
        leg.ended, leg.on_hold, leg.pending = True, False, None
        self.post_status(leg, "completed")
        self.leave_room(leg)

    def dial_out(self, leg: Call, url: str) -> None:
        self.post_status(leg, "ringing")
        picked_up = self.rings_until.get(leg.called)
        if picked_up is not None:
            picked_up.wait(timeout=30)
        outcome = self.answers.get(leg.called, "answer")
        if outcome != "answer":
            leg.ended = True
            self.post_status(leg, outcome)
            return
        self.post_status(leg, "in-progress")
        self.follow(leg, self._url(url), leg.params(), [], 20)

    def hang_up_leg(self, sid: str) -> None:
        """The person on leg `sid` hangs up (the agent puts their phone down)."""
        leg = self.legs[sid]
        leg.ended, leg.on_hold, leg.pending = True, False, None
        self.leave_room(leg)
        self.post_status(leg, "completed")
        self.drain_local()


_STOP: Callable[[], None] = lambda: None  # noqa: E731 - a sentinel the worker stops at


class LoopbackRest:
    """The provider's REST API on loopback (see the module docstring)."""

    def __init__(self, provider: FakeTwimlProvider) -> None:
        self.provider = provider
        self.requests: list[RestRequest] = []
        self.down = False  # answer 503 to everything (the provider is having an outage)
        self.failures: list[tuple[str, str, int, str]] = []  # see fail()
        handler = type("Handler", (_RestHandler,), {"rest": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def api_base(self) -> str:
        """What the inbox's config "api_base" is for this fake."""
        return self.url + TELNYX_ROOT if self.provider.telnyx else self.url

    @property
    def root(self) -> str:
        """The account's resources: {url}/2010-04-01/Accounts/{AccountSid} (Telnyx:
        {url}/v2/texml/Accounts/{AccountSid})."""
        return f"{self.url}{self._root_path}"

    @property
    def _root_path(self) -> str:
        if self.provider.telnyx:
            return f"{TELNYX_ROOT}/Accounts/{self.provider.account_sid}"
        return f"/2010-04-01/Accounts/{self.provider.account_sid}"

    def fail(self, method: str, path_end: str, status: int, message: str = "") -> None:
        """The next request of `method` whose path ends with `path_end` answers `status`."""
        self.failures.append((method, path_end, status, message))

    def made(self, method: str, path_end: str) -> list[RestRequest]:
        """The recorded requests of `method` whose path ends with `path_end`."""
        return [r for r in self.requests if r.method == method and r.path.endswith(path_end)]

    def handle(
        self,
        method: str,
        path: str,
        form: dict[str, str],
        body: dict[str, Any] | None = None,
        content_type: str = "",
    ) -> tuple[int, dict[str, Any] | bytes]:
        status, data = self._handle(method, path, form, body, content_type)
        if self.provider.telnyx and isinstance(data, dict) and status >= 400:
            # Telnyx's error shape.
            data = {
                "errors": [
                    {
                        "code": str(data.get("code", "")),
                        "title": "Request failed",
                        "detail": data.get("message", ""),
                    }
                ]
            }
        return status, data

    def _handle(
        self,
        method: str,
        path: str,
        form: dict[str, str],
        body: dict[str, Any] | None,
        content_type: str,
    ) -> tuple[int, dict[str, Any] | bytes]:
        provider = self.provider
        root = self._root_path
        parts = urlsplit(path)
        if not parts.path.startswith(root):
            return 404, {"code": 20404, "message": "not found"}
        rest_path = parts.path[len(root) :]
        query = dict(parse_qsl(parts.query))
        with provider.lock:
            self.requests.append(
                RestRequest(method, rest_path, form, query, body, content_type.split(";")[0])
            )
        if self.down:
            return 503, {"code": 20503, "message": "Service unavailable"}
        with provider.lock:
            for failure in self.failures:
                if failure[0] == method and rest_path.endswith(failure[1]):
                    self.failures.remove(failure)
                    return failure[2], {"code": 21220, "message": failure[3]}
        segments = [unquote(s) for s in rest_path.strip("/").split("/")]
        if provider.telnyx:
            telnyx = self._telnyx_segments(method, segments, form, content_type)
            if isinstance(telnyx, tuple):
                return telnyx
            segments = telnyx
        if segments[0] == "Recordings" or (
            segments[0] == "Calls" and len(segments) > 2 and segments[2].startswith("Recordings")
        ):
            return self._recording(method, segments, form)
        if method == "POST" and segments == ["Calls.json"]:
            return self._place_call(form)
        if method == "POST" and len(segments) == 2 and segments[0] == "Calls":
            return self._update_call(segments[1].removesuffix(".json"), form)
        if method == "GET" and segments == ["Conferences.json"]:
            room = provider.rooms.get(query.get("FriendlyName", ""))
            found = [room] if room is not None and room.participants else []
            return 200, {
                "conferences": [
                    {"sid": r.sid, "friendly_name": r.name, "status": "in-progress"} for r in found
                ]
            }
        if method == "POST" and len(segments) == 4 and segments[2] == "Participants":
            return self._update_participant(segments[1], segments[3].removesuffix(".json"), form)
        return 404, {"code": 20404, "message": f"no such resource {rest_path}"}

    def _telnyx_segments(
        self, method: str, segments: list[str], form: dict[str, str], content_type: str
    ) -> list[str] | tuple[int, dict[str, Any]]:
        """Telnyx's paths as Twilio's (Calls → Calls.json …), after Telnyx's own checks."""
        if method == "POST" and not content_type.startswith("application/json"):
            return 415, {"code": 10015, "message": "Content-Type must be application/json"}
        if segments and segments[0] in {"Calls", "Conferences", "Calls.json", "Conferences.json"}:
            recordings = len(segments) > 2 and segments[2].startswith("Recordings")
            if not recordings:
                if any(s.endswith(".json") for s in segments):
                    return 404, {"code": 10005, "message": "Resource not found"}
                segments = [*segments[:-1], segments[-1] + ".json"]
        if method == "POST" and segments == ["Calls.json"]:
            if form.get("ApplicationSid") != self.provider.application_sid:
                return 422, {"code": 10032, "message": "ApplicationSid is invalid"}
            if "Timeout" in form or "Method" in form:
                return 422, {"code": 10032, "message": "unknown parameter"}
        return segments

    def _recording(
        self, method: str, segments: list[str], form: dict[str, str]
    ) -> tuple[int, dict[str, Any] | bytes]:
        provider = self.provider
        not_found = (404, {"code": 20404, "message": "The requested resource was not found"})
        if method == "POST" and len(segments) == 3 and segments[2] == "Recordings.json":
            leg = provider.legs.get(segments[1])
            if leg is not None and leg.ended:
                return 400, {"code": 21220, "message": "Call is not in-progress."}
            recording = Recording(
                f"RE{next(_sids):032d}",
                segments[1],
                callback=form.get("RecordingStatusCallback", ""),
                channels=form.get("RecordingChannels", "mono"),
            )
            with provider.lock:
                provider.recordings[recording.sid] = recording
            return 201, {"sid": recording.sid, "status": "in-progress", "call_sid": segments[1]}
        if method == "POST" and len(segments) == 4:
            recording = provider.recordings.get(segments[3].removesuffix(".json"))
            if recording is None or recording.call_sid != segments[1]:
                return not_found
            if recording.status == "completed":
                return 400, {"code": 21220, "message": "Recording is not in-progress."}
            with provider.lock:
                recording.status = "paused" if form.get("Status") == "paused" else "in-progress"
                recording.updates.append(dict(form))
            return 200, {"sid": recording.sid, "status": recording.status}
        if len(segments) == 2 and segments[0] == "Recordings":
            name = segments[1]
            recording = provider.recordings.get(name.rsplit(".", 1)[0])
            if recording is None or recording.deleted:
                return not_found
            if method == "GET" and name.endswith(".wav"):
                return 200, recording.media
            if method == "DELETE" and name.endswith(".json"):
                recording.deleted = True
                return 204, b""
        return not_found

    def _place_call(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        provider = self.provider
        for name in ("To", "From", "Url"):
            if not form.get(name):
                return 400, {"code": 21201, "message": f"No '{name}' number is specified"}
        leg = Call(
            provider,
            provider.new_call_sid(),
            caller=form["From"],
            called=form["To"],
            direction="outbound-api",
            status_callback=form.get("StatusCallback", ""),
        )
        with provider.lock:
            provider.legs[leg.sid] = leg
        provider.later(lambda: provider.dial_out(leg, form["Url"]))
        if provider.telnyx:
            return 200, {
                "call_sid": leg.sid,
                "status": "queued",
                "to": leg.called,
                "from": leg.caller,
            }
        return 201, {"sid": leg.sid, "status": "queued", "to": leg.called, "from": leg.caller}

    def _update_call(self, sid: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        provider = self.provider
        leg = provider.legs.get(sid)
        if leg is None:
            return 404, {"code": 20404, "message": f"The requested resource {sid} was not found"}
        if leg.ended:
            return 400, {"code": 21220, "message": "Call is not in-progress. Cannot redirect."}
        if form.get("Status") == "completed":
            provider.later(lambda: provider.end(leg))
        elif form.get("Url"):
            provider.later(lambda: provider.redirect(leg, form["Url"]))
        else:
            return 400, {"code": 21218, "message": "Invalid call update"}
        return 200, {"sid": sid, "status": "in-progress"}

    def _update_participant(
        self, room_sid: str, call_sid: str, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        provider = self.provider
        with provider.lock:
            room = next((r for r in provider.rooms.values() if r.sid == room_sid), None)
            participant = room.participants.get(call_sid) if room else None
            if participant is None:
                return 404, {"code": 20404, "message": "participant not found"}
            if "Hold" in form:
                participant.hold = form["Hold"] == "true"
            if "Muted" in form:
                participant.muted = form["Muted"] == "true"
            participant.updates.append(dict(form))
        return 200, {"call_sid": call_sid, "hold": participant.hold, "muted": participant.muted}


class _RestHandler(BaseHTTPRequestHandler):
    rest: LoopbackRest

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _authorized(self) -> bool:
        provider = self.rest.provider
        if provider.telnyx:
            return self.headers.get("Authorization", "") == f"Bearer {provider.api_key}"
        expected = base64.b64encode(
            f"{provider.account_sid}:{provider.auth_token}".encode()
        ).decode()
        return self.headers.get("Authorization", "") == f"Basic {expected}"

    def _answer(self, status: int, data: dict[str, Any] | bytes) -> None:
        media = isinstance(data, bytes) and bool(data)
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "audio/x-wav" if media else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        body: dict[str, Any] | None = None
        if self.rest.provider.telnyx and content_type.startswith("application/json"):
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                self._answer(400, {"errors": [{"code": "10002", "detail": "not an object"}]})
                return
            form = {name: _as_text(value) for name, value in body.items()}
        else:
            form = dict(parse_qsl(raw.decode())) if raw else {}
        if not self._authorized():
            self._answer(401, {"code": 20003, "message": "Authenticate"})
            return
        status, data = self.rest.handle(method, self.path, form, body, content_type)
        self._answer(status, data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")


def _as_text(value: Any) -> str:
    """A JSON value as the provider reads it: flags must be real booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
