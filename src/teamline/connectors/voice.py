"""Phone calls through a TwiML-speaking provider (Twilio; SignalWire's LaML and Telnyx's TeXML
speak the same dialect).

Inbound:  POST /webhooks/twilio/<inbox-id>/                the call webhook (a call arrives)
          POST /webhooks/twilio/<inbox-id>/ivr/<step…>     Gather actions and Redirects of the
                                                           TwiML we answered (same prefix)
          POST /webhooks/twilio/<inbox-id>/status          the call's status callback
          POST /webhooks/twilio/<inbox-id>/recording/<call id>   a recording's status callback
          POST /webhooks/twilio/<inbox-id>/agent/<step…>   the agent's leg of a bridged call
                                                           (its TwiML and status callback)
          POST /webhooks/twilio/<inbox-id>/ivr/conference  conference events (no CallSid for
                                                           conference-start/end)
          POST /webhooks/twilio/<inbox-id>/dial/<conv>/<call>/…  the legs of an outbound call
                                                           (calls/dialout.py, `provide_step_flow`)
          POST /webhooks/twilio/<inbox-id>/monitor/<id>[/status]  a supervisor listening in
                                                           (calls/monitor.py)

Every request is verified the inbox's provider's way (voice_dialect.verify_request: Twilio's
X-Twilio-Signature over the URL and the sorted form, exactly as SMS is; SignalWire's the same
with its signing key; Telnyx's Ed25519 over the timestamped body): a forged or unsigned request
is 403 and nothing is stored. Then
the pipeline stores the raw request (connectors.actions.do_store_webhook_event), unique on the
event id below, and asks `acknowledge` for the answer, which is where a call differs from a
message: the answer is the call itself (TwiML), so it is decided in the request by the call
flow that selfservice provides (`provide_call_flow`; selfservice.ivr). This module only knows
the provider's dialect: what the request says (`CallRequest`) and how a script of verbs
(`Say`, `Gather`, `Redirect`, `Pause`, `Hangup`) is written as TwiML with xml.etree.

Idempotency (providers retry on timeouts and 5xx): the event id of a call step is
CallSid + the step path (each Gather action and Redirect URL names its own step), that of a
status callback CallSid + CallStatus (a leg's: CallSid + its status step + CallStatus), that of
a conference event ConferenceSid + CallSid + StatusCallbackEvent. The call flow keeps the
script it answered per step, so a retried step is answered with the same TwiML and changes
nothing.

A recording status callback (`recording/<call id>`, the URL calls.recording gave when it
started the recording) is handed to the recording handler the calls app provides
(`provide_recording_handler`); its event id is CallSid + RecordingSid + RecordingStatus.

Inbox credentials: {"account_sid", "auth_token"} (per dialect: voice_dialect.py). Inbox config:
"dialect" (twilio | signalwire | telnyx), {"language": "en"} (the IVR's
default language), "record": true to record answered calls (default off; the IVR announces
it; docs/channels/voice.md), "delete_after_download": true to delete a recording at the
provider once Teamline stored it, optional "voices" ({"nb": {"say": "nb-NO", "voice":
"Polly.Liv", "speech": "nb-NO"}}) to override a language's voice, "default_region" (phone
parsing), "urgent_option" (the menu key, 3-8, that reaches a person while the team takes
urgent matters only) and "urgent_words" ({"nb": "haster|akutt"}: more words a caller may say
for it).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse

from teamline.core.jsonsafe import clean_text

from . import voice_dialect
from .base import (
    Connector,
    ParsedEvent,
    PermanentSendError,
    Reachability,
    WebhookRejected,
    WebhookRequest,
    register,
)
from .sms import PROVIDER, TwilioSmsConnector, fields_of

if TYPE_CHECKING:
    from datetime import datetime

    from teamline.conversations.models import Inbox
    from teamline.customers.models import Customer

    from .base import OutboundMessage, SendResult

CHANNEL = "voice"
STATUS_SUFFIX = "status"
IVR_PREFIX = "ivr/"
RECORDING_PREFIX = "recording/"
AGENT_PREFIX = "agent/"
# What a step path may hold: it becomes part of URLs and of the stored event id.
MAX_STEP = 64
# The keys an inbox may give the IVR's urgent option: 0, 1, 2 and 9 are the menu's own.
URGENT_OPTION_KEYS = ("3", "4", "5", "6", "7", "8")


def config_problems(config: object) -> list[str]:
    """What is wrong with a voice inbox's config, in the words the admin form shows."""
    if not isinstance(config, dict):
        return ["Give a JSON object."]
    problems = voice_dialect.config_problems(config)
    if "urgent_option" in config and str(config["urgent_option"]) not in URGENT_OPTION_KEYS:
        problems.append(
            f"urgent_option must be one of the keys {', '.join(URGENT_OPTION_KEYS)} "
            "(0, 1, 2 and 9 are the menu's own)."
        )
    words = config.get("urgent_words", {})
    if not isinstance(words, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in words.items()
    ):
        problems.append(
            'urgent_words must map a language to its words, e.g. {"nb": "haster|akutt"}.'
        )
    # Recording is on only for a JSON true: "yes" or 1 would look on in the form and do nothing.
    for flag in ("record", "delete_after_download"):
        if flag in config and not isinstance(config[flag], bool):
            problems.append(f"{flag} must be true or false.")
    return problems


# ---------------------------------------------------------------------------------------------
# What the provider tells us, and what we answer (provider-neutral)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRequest:
    """One verified call webhook, read from the provider's form."""

    call_sid: str
    caller: str  # From, as the provider sent it (E.164 for phone calls)
    called: str  # To
    step: str  # "" for the call webhook, "ivr/…" for our own action URLs, "status"
    call_status: str = ""
    digits: str = ""
    speech: str = ""
    confidence: str = ""
    direction: str = ""
    duration: str = ""  # CallDuration on a final status callback
    # Conference events (<Conference statusCallback>): which room, what happened.
    conference_sid: str = ""
    conference_name: str = ""  # FriendlyName
    conference_event: str = ""  # StatusCallbackEvent: participant-join, conference-end, …


@dataclass(frozen=True)
class Say:
    text: str
    language: str  # BCP-47 for the provider (nb-NO)
    voice: str = ""


@dataclass(frozen=True)
class Gather:
    """Collect keys or speech; the result is posted to `action` (a step path)."""

    action: str
    prompts: tuple[Say, ...]
    speech_language: str
    timeout: int = 5
    num_digits: int = 1
    hints: str = ""


@dataclass(frozen=True)
class Redirect:
    to: str  # a step path


@dataclass(frozen=True)
class Pause:
    seconds: int


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Dial:
    """Connect the call to one target: a conference room (`conference`: the caller and the
    agent's leg each join the same room, so either side can be held, muted or monitored), a
    phone number (`number`, E.164) or a provider client (`client`, an identity). `action` is a
    step path the provider posts to when the Dial ends (then the call goes on with the TwiML
    answered there); `events` a step path for the conference's participant events."""

    conference: str = ""
    number: str = ""
    client: str = ""
    action: str = ""
    timeout: int = 30
    caller_id: str = ""
    # Conference options
    start_on_enter: bool = True
    end_on_exit: bool = False
    muted: bool = False  # a listener: hears the room, is not heard (supervisor monitoring)
    beep: bool = False
    events: str = ""
    # The CallSid of the participant this one coaches: only that participant hears them.
    coach: str = ""


Verb = Say | Gather | Redirect | Pause | Hangup | Dial


@dataclass(frozen=True)
class Script:
    verbs: tuple[Verb, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class RecordingCallback:
    """A recording's status callback: `call_id` is Teamline's call (from the URL), the rest
    what the provider says."""

    call_id: int
    call_sid: str
    recording_sid: str
    status: str  # in-progress | completed | absent | failed
    url: str = ""  # the media, without extension (RecordingUrl)
    duration_seconds: int | None = None
    channels: str = ""
    error_code: str = ""


class RecordingHandler(Protocol):
    """What happens on a recording status callback (the calls app provides it)."""

    def recording_status(self, inbox: Inbox, callback: RecordingCallback) -> None: ...


_recording_handler: RecordingHandler | None = None


def provide_recording_handler(handler: RecordingHandler) -> None:
    """Called by the calls app in its AppConfig.ready."""
    global _recording_handler
    _recording_handler = handler


def recording_handler() -> RecordingHandler:
    if _recording_handler is None:
        raise ImproperlyConfigured("no recording handler provided: is teamline.calls installed?")
    return _recording_handler


class CallFlow(Protocol):
    """What happens on a call (selfservice.ivr provides it)."""

    def answer(self, inbox: Inbox, call: CallRequest) -> Script: ...


_call_flow: CallFlow | None = None


def provide_call_flow(flow: CallFlow) -> None:
    """Called by the app that runs calls (selfservice) in its AppConfig.ready."""
    global _call_flow
    _call_flow = flow


def call_flow() -> CallFlow:
    if _call_flow is None:
        raise ImproperlyConfigured("no call flow provided: is teamline.selfservice installed?")
    return _call_flow


# Steps another app answers (calls' outbound legs: "dial/…", supervisors' "monitor/…"), by
# the step path's prefix.
_step_flows: dict[str, CallFlow] = {}


def provide_step_flow(prefix: str, flow: CallFlow) -> None:
    """Called in an AppConfig.ready: steps whose path starts with `prefix` (ending in "/")
    are answered by `flow` instead of the call flow."""
    if not prefix.endswith("/"):
        raise ValueError("a step prefix ends with '/'")
    _step_flows[prefix] = flow


def flow_for(step: str) -> CallFlow:
    for prefix, flow in _step_flows.items():
        if step.startswith(prefix):
            return flow
    return call_flow()


def is_status_step(step: str) -> bool:
    """The call's own status callback, or one of a leg Teamline placed (`…/status`)."""
    return step == STATUS_SUFFIX or step.endswith("/" + STATUS_SUFFIX)


# ---------------------------------------------------------------------------------------------
# TwiML
# ---------------------------------------------------------------------------------------------


def step_prefix(request: WebhookRequest) -> str:
    """The URL the provider called, cut after /webhooks/twilio/<inbox id>/: every URL of our
    TwiML is this prefix + a step path, so the provider comes back to the same inbox through
    the same host (and the signature it computes covers the URL we wrote)."""
    path_url = request.url.split("?", 1)[0]
    suffix = request.path_suffix
    if suffix and path_url.endswith(suffix):
        path_url = path_url[: -len(suffix)]
    return path_url if path_url.endswith("/") else path_url + "/"


def _say(parent: ET.Element, say: Say) -> None:
    element = ET.SubElement(parent, "Say", language=say.language)
    if say.voice:
        element.set("voice", say.voice)
    element.text = say.text


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _dial(parent: ET.Element, verb: Dial, prefix: str) -> None:
    dial = ET.SubElement(parent, "Dial", timeout=str(verb.timeout))
    if verb.action:
        dial.set("action", prefix + verb.action)
        dial.set("method", "POST")
    if verb.caller_id:
        dial.set("callerId", verb.caller_id)
    if verb.conference:
        room = ET.SubElement(
            dial,
            "Conference",
            startConferenceOnEnter=_flag(verb.start_on_enter),
            endConferenceOnExit=_flag(verb.end_on_exit),
            muted=_flag(verb.muted),
            beep=_flag(verb.beep),
        )
        if verb.coach:
            room.set("coach", verb.coach)
        if verb.events:
            room.set("statusCallback", prefix + verb.events)
            room.set("statusCallbackMethod", "POST")
            room.set("statusCallbackEvent", "start end join leave hold")
        room.text = verb.conference
    elif verb.number:
        ET.SubElement(dial, "Number").text = verb.number
    elif verb.client:
        ET.SubElement(dial, "Client").text = verb.client
    else:
        raise ValueError("a Dial needs a conference, a number or a client")


def render_twiml(script: Script, prefix: str) -> bytes:
    """The script as a TwiML document (xml.etree escapes every text and attribute)."""
    root = ET.Element("Response")
    for verb in script.verbs:
        if isinstance(verb, Say):
            _say(root, verb)
        elif isinstance(verb, Gather):
            gather = ET.SubElement(
                root,
                "Gather",
                input="dtmf speech",
                action=prefix + verb.action,
                method="POST",
                language=verb.speech_language,
                timeout=str(verb.timeout),
                numDigits=str(verb.num_digits),
            )
            if verb.hints:
                gather.set("hints", verb.hints)
            for prompt in verb.prompts:
                _say(gather, prompt)
        elif isinstance(verb, Redirect):
            ET.SubElement(root, "Redirect", method="POST").text = prefix + verb.to
        elif isinstance(verb, Pause):
            ET.SubElement(root, "Pause", length=str(verb.seconds))
        elif isinstance(verb, Hangup):
            ET.SubElement(root, "Hangup")
        elif isinstance(verb, Dial):
            _dial(root, verb, prefix)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# ---------------------------------------------------------------------------------------------
# The connector
# ---------------------------------------------------------------------------------------------


def call_request(request: WebhookRequest) -> CallRequest:
    """The call parameters of a verified request. WebhookRejected (400) when it is no call."""
    fields = fields_of(request)
    call_sid = fields.get("CallSid", "").strip()
    conference_sid = fields.get("ConferenceSid", "").strip()[:64]
    # Conference-wide events (conference-start/end) name a room, not a call.
    if (not call_sid and not conference_sid) or len(call_sid) > 64:
        raise WebhookRejected("no CallSid in the call webhook", status=400)
    step = request.path_suffix.strip("/")
    known = (
        step.startswith(IVR_PREFIX)
        or step.startswith(RECORDING_PREFIX)
        or step.startswith(AGENT_PREFIX)
        or any(step.startswith(p) for p in _step_flows)
    )
    if step and step != STATUS_SUFFIX and not known:
        raise WebhookRejected(f"no such call step {step[:40]!r}", status=404)
    if len(step) > MAX_STEP:
        raise WebhookRejected("call step too long", status=400)
    return CallRequest(
        call_sid=call_sid,
        caller=fields.get("From", "").strip(),
        called=fields.get("To", "").strip(),
        step=step,
        call_status=fields.get("CallStatus", "").strip().lower(),
        digits=fields.get("Digits", "").strip(),
        speech=fields.get("SpeechResult", "").strip(),
        confidence=fields.get("Confidence", "").strip(),
        direction=fields.get("Direction", "").strip(),
        duration=fields.get("CallDuration", "").strip(),
        conference_sid=conference_sid,
        conference_name=fields.get("FriendlyName", "").strip()[:128],
        conference_event=fields.get("StatusCallbackEvent", "").strip()[:40],
    )


def recording_callback(request: WebhookRequest) -> RecordingCallback:
    """The recording status of a verified `recording/<call id>` request. WebhookRejected (400)
    when it says no recording or no status, or names no call."""
    call = call_request(request)
    call_id = call.step.removeprefix(RECORDING_PREFIX)
    if not (call_id.isascii() and call_id.isdigit()) or len(call_id) > 18:
        raise WebhookRejected("no call id in the recording callback", status=404)
    # Text columns and JSON on PostgreSQL refuse NUL: every field is cleaned (docs/input.md).
    fields = {name: clean_text(value) for name, value in fields_of(request).items()}
    recording_sid = fields.get("RecordingSid", "").strip()
    status = fields.get("RecordingStatus", "").strip().lower()
    if not recording_sid or len(recording_sid) > 64:
        raise WebhookRejected("no RecordingSid in the recording callback", status=400)
    if not status or len(status) > 16:
        raise WebhookRejected("no RecordingStatus in the recording callback", status=400)
    duration = fields.get("RecordingDuration", "").strip()
    return RecordingCallback(
        call_id=int(call_id),
        call_sid=call.call_sid,
        recording_sid=recording_sid,
        status=status,
        url=fields.get("RecordingUrl", "").strip()[:500],
        duration_seconds=int(duration)
        if duration.isascii() and duration.isdigit() and len(duration) < 7
        else None,
        channels=fields.get("RecordingChannels", "").strip()[:8],
        error_code=fields.get("ErrorCode", "").strip()[:16],
    )


def _is_recording_step(request: WebhookRequest) -> bool:
    return request.path_suffix.strip("/").startswith(RECORDING_PREFIX)


@register
class TwilioVoiceConnector(Connector):
    provider = PROVIDER
    inbox_kinds = ("voice",)
    channel_for_kind = {"voice": CHANNEL}
    # A caller is on the line: Twilio does not retry a call webhook answered 5xx (it plays its
    # error message or goes to the fallback URL), so an overloaded process lets the call wait
    # for a slot, as SMS does (connectors/admission.py looks this up per provider).
    overload_wait_seconds = TwilioSmsConnector.overload_wait_seconds
    # Each step is the call flow itself, decided in the request: its own admission budget.
    caller_on_line = True

    def verify(self, inbox: Inbox, request: WebhookRequest) -> None:
        # Twilio and SignalWire sign the URL and form (HMAC); Telnyx the timestamped body
        # (Ed25519): connectors/voice_dialect.py.
        voice_dialect.verify_request(inbox, request)

    def event_id(self, inbox: Inbox, request: WebhookRequest) -> str:
        if _is_recording_step(request):
            rec = recording_callback(request)
            return f"{rec.call_sid}:recording:{rec.recording_sid}:{rec.status}"
        call = call_request(request)
        if call.step == STATUS_SUFFIX:
            return f"{call.call_sid}:status:{call.call_status or 'unknown'}"
        if call.conference_sid:
            return f"{call.conference_sid}:{call.call_sid or '-'}:{call.conference_event or '?'}"
        if is_status_step(call.step):
            return f"{call.call_sid}:{call.step}:{call.call_status or 'unknown'}"
        return f"{call.call_sid}:{call.step or 'start'}"

    def acknowledge(self, inbox: Inbox, request: WebhookRequest) -> HttpResponse:
        """The call's next TwiML, decided by the call flow (also for a retried step: the flow
        answers it with the script it gave the first time). A status callback gets empty
        TwiML, and so does a recording's, once the recording handler has recorded it (and,
        when the recording is complete, committed the task that fetches it)."""
        if _is_recording_step(request):
            recording_handler().recording_status(inbox, recording_callback(request))
            return HttpResponse(render_twiml(Script(), ""), content_type="text/xml; charset=utf-8")
        call = call_request(request)
        script = flow_for(call.step).answer(inbox, call)
        body = render_twiml(script, step_prefix(request))
        return HttpResponse(body, content_type="text/xml; charset=utf-8")

    def answered_in_request(self, inbox: Inbox, request: WebhookRequest) -> str:
        # Everything a call step does happens in the request (the provider waits for the
        # TwiML); the stored event is the raw record of the step, kept for audit and replay.
        step = request.path_suffix.strip("/") or "start"
        return f"call step {step!r} was answered in the request"

    def parse(self, inbox: Inbox, request: WebhookRequest) -> ParsedEvent:
        # Only a replay (`teamline webhooks replay`) processes a stored call step. A recording
        # callback is handed to the handler again (it acts on each status once), so a
        # callback whose answer failed half-way is not lost.
        if _is_recording_step(request):
            recording_handler().recording_status(inbox, recording_callback(request))
        return ParsedEvent(ignored=self.answered_in_request(inbox, request))

    def reachability(
        self,
        inbox: Inbox,
        customer: Customer,
        identity_value: str,
        now: datetime,
        *,
        channel: str = "",
    ) -> Reachability:
        return Reachability(False, "a phone call cannot carry a written reply")

    def send(self, inbox: Inbox, message: OutboundMessage) -> SendResult:
        raise PermanentSendError(
            "a voice inbox cannot send text messages; reply on another channel"
        )
