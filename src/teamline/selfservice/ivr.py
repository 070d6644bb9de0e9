"""The phone IVR: a caller reaches self-service answers or their team's queue.

The voice connector (connectors/voice.py) verifies each call webhook, stores it raw and asks
this flow (`IvrFlow.answer`, provided at start-up) for the call's next script. The demo menu:

    1  balance and data left (telco backend)     2  known outages in the caller's region
    9  call me back (keeps the place in line)     0  talk to your team (a voice work item)

While an outage is declared for the caller's region (proactive), it is said right after the
welcome, before the menu. Invalid or no input repeats the menu once, then goes to 0. Waiting in
line, the caller hears their position and the routing engine's estimate (routing.eta) every
30–60 s with the callback offer; with no estimate they hear when the team answers again, never
an invented wait. Hanging up while waiting is an abandonment with the time waited (the work
item closes `abandoned`).

Language: the customer's preferred language, else the calling number's country, else the
inbox's configured default; prompts are gettext strings (selfservice/locale), spoken with the
language's voice (`VOICES`, overridable per inbox).

When an agent accepts the call (calls.actions.do_accept_call), the phone's CallControl
(calls/phone.py) redirects the caller out of the hold loop into the call's conference room
(`ivr/bridge`) and rings the agent's phone into the same room (`agent/<call id>`); the room's
events (`ivr/conference`) say when both are in. This flow only routes those steps there.

Idempotency: each step's script is stored (VoiceCallStep, unique on call + step) in the same
transaction as the step's effects, so a provider retry of the step is answered with the same
TwiML and changes nothing; status callbacks change a call only once (conditional updates).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from teamline.calls.actions import do_end_call
from teamline.calls.models import CallState
from teamline.calls.phone import (
    AGENT_STEP,
    BRIDGE_STEP,
    CONFERENCE_STEP,
    answer_agent_leg,
    bridge_script,
    phone_call_of,
    record_conference_event,
)
from teamline.calls.recording import records_calls
from teamline.connectors.voice import (
    URGENT_OPTION_KEYS,
    CallRequest,
    Dial,
    Gather,
    Hangup,
    Pause,
    Redirect,
    Say,
    Script,
    Verb,
)
from teamline.conversations.models import (
    Conversation,
    Inbox,
)
from teamline.core.errors import InvalidInput
from teamline.routing.callbacks import do_request_callback
from teamline.routing.eta import queue_status
from teamline.teams.hours import admits, next_opening, service_mode
from teamline.teams.models import ServiceMode, Team

from . import answers
from .actions import do_queue_call, do_record_call_status, do_record_episode, do_start_call
from .models import EpisodeKind, VoiceCall, VoiceCallStep
from .telco import InvalidNumber, SubscriberNotFound, TelcoUnavailable, telco_backend
from .voices import (
    prompt_language,
    supported_language,
    voice_for,
)

logger = logging.getLogger(__name__)

# Seconds of silence between two position announcements; with the announcement and the
# Gather's 5 s timeout the caller hears one every 30–60 s.
HOLD_PAUSE_SECONDS = 30
MENU_TIMEOUT_SECONDS = 6
MAX_OUTAGES_SPOKEN = 3


# --- Scripts (stored per step, answered again to retries) -------------------------------------

_VERBS: dict[str, type[Any]] = {
    "say": Say,
    "gather": Gather,
    "redirect": Redirect,
    "pause": Pause,
    "hangup": Hangup,
    "dial": Dial,
}


def _dump(script: Script) -> list[dict[str, Any]]:
    return [{"verb": type(v).__name__.lower(), **asdict(v)} for v in script.verbs]


def _load(rows: list[dict[str, Any]]) -> Script:
    verbs: list[Verb] = []
    for row in rows:
        fields = {k: v for k, v in row.items() if k != "verb"}
        if row["verb"] == "gather":
            fields["prompts"] = tuple(Say(**p) for p in fields["prompts"])
        verbs.append(_VERBS[row["verb"]](**fields))
    return Script(tuple(verbs))


class _Speaker:
    """Builds one step's verbs in the call's language and voice."""

    def __init__(self, inbox: Inbox, language: str) -> None:
        self.voice = voice_for(inbox, language)
        self.language = language
        self.verbs: list[Verb] = []

    def say(self, text: str) -> Say:
        return Say(text, self.voice.say_language, self.voice.voice)

    def speak(self, *texts: str) -> None:
        self.verbs.extend(self.say(t) for t in texts if t)

    def gather(self, action: str, *texts: str, timeout: int = MENU_TIMEOUT_SECONDS) -> None:
        self.verbs.append(
            Gather(
                action=action,
                prompts=tuple(self.say(t) for t in texts if t),
                speech_language=self.voice.speech_language,
                timeout=timeout,
            )
        )

    def script(self) -> Script:
        return Script(tuple(self.verbs))


def _menu_prompt() -> str:
    return _(
        "For your balance and data left, press 1. For outages where you live, press 2. "
        "To be called back, press 9. To talk to your team, press 0."
    )


def _menu_words() -> dict[str, list[str]]:
    """What a caller may say instead of pressing a key. Translated: '|' separates the
    alternatives; the first is the key's number word and counts only said alone (a Norwegian
    "en" is also an article), the others count where a word of what was said starts with them
    (so inflected forms count: "saldoen", "outages")."""
    return {
        # Translators: the number word first, said alone; then keywords, separated by |.
        "1": _("one|balance|credit|data").split("|"),
        # Translators: the number word first, said alone; then keywords, separated by |.
        "2": _("two|outage|outages|network").split("|"),
        # Translators: the number word first, said alone; then keywords, separated by |.
        "9": _("nine|call me back|callback").split("|"),
        # Translators: the number word first, said alone; then keywords, separated by |.
        "0": _("zero|team|agent|person|human").split("|"),
    }


def urgent_key(inbox: Inbox) -> str | None:
    """The menu key an inbox configured as its urgent option (config["urgent_option"], one of
    3–8: the other keys are the menu's own), or None."""
    key = str((inbox.config or {}).get("urgent_option") or "").strip()
    if not key:
        return None
    if key not in URGENT_OPTION_KEYS:
        # The admin form refuses it (connectors.voice.config_problems); one stored otherwise
        # (the API, a shell) is left out of the menu rather than taking a menu key.
        logger.warning(
            "inbox %s: urgent_option %r is not one of %s", inbox.pk, key, URGENT_OPTION_KEYS
        )
        return None
    return key


def _urgent_words(inbox: Inbox, language: str) -> list[str]:
    """What a caller may say for the urgent option: the translated words and the inbox's own
    for the call's language (config["urgent_words"][<language>], '|'-separated)."""
    # Translators: keywords a caller may say for the urgent option, separated by |.
    words = _("urgent|emergency").split("|")
    by_language = (inbox.config or {}).get("urgent_words")
    if not isinstance(by_language, dict):
        return words
    configured = by_language.get(language) or by_language.get(prompt_language(language))
    if isinstance(configured, str):
        words += configured.split("|")
    return words


def choice_of(
    digits: str,
    speech: str,
    language: str,
    *,
    urgent: str | None = None,
    urgent_words: list[str] | None = None,
) -> str:
    """The menu key the caller chose by keypad or by voice, or "". `urgent` is the inbox's
    urgent key (said as its digit or one of `urgent_words`)."""
    if digits:
        return digits[:1]
    spoken = speech.casefold().strip(" .,!?。！？，")
    if spoken in {"0", "1", "2", "9"} or (urgent and spoken == urgent):
        return spoken
    words = {key: [w.strip().casefold() for w in ws] for key, ws in _menu_words().items()}
    if urgent:
        # No number word of its own: the digit said alone counts above.
        words[urgent] = ["", *(w.strip().casefold() for w in urgent_words or [])]
    for key, (number, *_keywords) in words.items():
        if number and spoken == number:
            return key
    for key, (_number, *keywords) in words.items():
        for word in filter(None, keywords):
            if language.startswith("zh"):
                if word in spoken:  # no spaces between Chinese words
                    return key
            elif re.search(rf"(?<!\w){re.escape(word)}", spoken):
                return key  # at a word's start: "saldoen" is "saldo" inflected
    return ""


# --- Local formatting (numbers and times spoken in the call's language) -----------------------


def _team_of(call: VoiceCall) -> Team:
    return call.customer.home_team or call.inbox.default_team


# The same words on every channel (selfservice/answers.py).
_spoken_time = answers.spoken_time


# --- The flow --------------------------------------------------------------------------------


class IvrFlow:
    """The call flow the voice connector asks for each step (connectors.voice.CallFlow)."""

    def answer(self, inbox: Inbox, request: CallRequest) -> Script:
        now = timezone.now()
        if request.step == "status":
            do_record_call_status(inbox, request, now=now)
            return Script()
        # The bridge's own steps: the agent's leg (another CallSid, not a caller) and the
        # conference room's events.
        if request.step.startswith(AGENT_STEP):
            return answer_agent_leg(inbox, request, now=now)
        if request.step == CONFERENCE_STEP:
            record_conference_event(inbox, request, now=now)
            return Script()
        if not request.call_sid:
            return Script()  # only a conference event may name no call
        try:
            call = do_start_call(inbox, request, now=now)
        except InvalidInput:
            return _anonymous(inbox)
        step = request.step or "start"
        if step == BRIDGE_STEP:
            # Decided afresh each time (the call may be bridged again after a missed agent).
            return bridge_script(phone_call_of(inbox, call.call_sid))
        stored = VoiceCallStep.objects.filter(call=call, step=step).first()
        if stored is not None:
            return _load(stored.script)
        try:
            if _only_reads(step):
                # Decided before the transaction: SQLite's write lock (IMMEDIATE transactions)
                # is held for the INSERT only, not while the position and wait are read.
                script = self._decide(call, step, request, now)
                with transaction.atomic():
                    VoiceCallStep.objects.create(call=call, step=step, script=_dump(script))
            else:
                with transaction.atomic():
                    script = self._decide(call, step, request, now)
                    VoiceCallStep.objects.create(call=call, step=step, script=_dump(script))
        except IntegrityError:
            # A concurrent retry of the same step won: its effects stand, ours rolled back.
            stored = VoiceCallStep.objects.get(call=call, step=step)
            return _load(stored.script)
        return script

    def _decide(self, call: VoiceCall, step: str, request: CallRequest, now: datetime) -> Script:
        with translation.override(prompt_language(call.language)):
            speaker = _Speaker(call.inbox, call.language)
            parts = step.split("/")
            if step == "start":
                offer = self._greet(call, speaker, now)
                self._menu(speaker, 1, 0, offer)
            elif parts[:2] == ["ivr", "menu"] and len(parts) == 4:
                n, misses = _int(parts[2]), _int(parts[3])
                urgent = urgent_key(call.inbox)
                key = choice_of(
                    request.digits,
                    request.speech,
                    call.language,
                    urgent=urgent,
                    urgent_words=_urgent_words(call.inbox, call.language) if urgent else None,
                )
                offer = urgent if urgent and _limited(call, now) else None
                self._choose(call, speaker, key, n, misses, now, urgent=urgent, offer=offer)
            elif parts[:2] == ["ivr", "wait"] and len(parts) == 3:
                self._hold(call, speaker, _int(parts[2]), now)
            elif parts[:2] == ["ivr", "hold"] and len(parts) == 3:
                key = choice_of(request.digits, request.speech, call.language)
                if key == "9":
                    self._callback(call, speaker, now)
                else:
                    speaker.verbs.append(Redirect(f"ivr/wait/{_int(parts[2]) + 1}"))
            else:
                self._menu(speaker, 1, 0)
            return speaker.script()

    def _greet(self, call: VoiceCall, speaker: _Speaker, now: datetime) -> str | None:
        """Welcome, and when the team does not take everyone now, when it does. Returns the
        urgent key to offer in the menu (the inbox has one and the team takes urgent matters
        only), or None."""
        team = _team_of(call)
        speaker.speak(_("Welcome to {team}.").format(team=team.name))
        # An outage declared for the caller's region is said first: most callers call about it.
        known = answers.known_outage_texts(call.customer.region, team, now)
        if known:
            speaker.speak(*known[: MAX_OUTAGES_SPOKEN * 2])
        if records_calls(call.inbox):
            speaker.speak(
                _("This call may be recorded. We pause the recording while you give card details.")
            )
        mode = service_mode(team, now)
        if admits(mode, urgent=False):
            return None
        opens = next_opening(team, now)
        when = _spoken_time(team, opens, now) if opens is not None else ""
        if mode == ServiceMode.LIMITED and when:
            # A holiday or an incident: a human answers urgent matters only.
            text = _("Your team takes urgent matters only now and answers everyone {when}.")
        elif mode == ServiceMode.LIMITED:
            text = _("Your team takes urgent matters only now.")
        elif when:
            text = _("Your team is closed now and answers again {when}.")
        else:
            text = _("Your team is closed now.")
        speaker.speak(text.format(when=when))
        speaker.speak(_("Press 9 and we will call you back when they are in."))
        return urgent_key(call.inbox) if mode == ServiceMode.LIMITED else None

    def _menu(self, speaker: _Speaker, n: int, misses: int, offer: str | None = None) -> None:
        """The menu; `offer` is the urgent key, offered first while the team takes urgent
        matters only."""
        action = f"ivr/menu/{n}/{misses}"
        urgent = (
            _("If your matter is urgent, press {key} and a person will answer.").format(key=offer)
            if offer
            else ""
        )
        speaker.gather(action, urgent, _menu_prompt())
        # No input: the provider falls through to here and posts the same step without keys.
        speaker.verbs.append(Redirect(action))

    def _choose(
        self,
        call: VoiceCall,
        speaker: _Speaker,
        key: str,
        n: int,
        misses: int,
        now: datetime,
        *,
        urgent: str | None = None,
        offer: str | None = None,
    ) -> None:
        if key == "1":
            texts, answered = _balance_texts(call.caller)
            speaker.speak(*texts)
            if answered:
                _answered(call, "balance", now)
            self._menu(speaker, n + 1, 0, offer)
        elif key == "2":
            texts, answered = _outage_texts(call, now)
            speaker.speak(*texts)
            if answered:
                _answered(call, "outage", now)
            self._menu(speaker, n + 1, 0, offer)
        elif key == "9":
            self._callback(call, speaker, now)
        elif key == "0":
            self._queue(call, speaker, now)
        elif key and key == offer:
            # Urgent matters only, and this is one: routing serves it now (limited mode).
            speaker.speak(_("A person from your team will take your urgent call."))
            self._queue(call, speaker, now, urgent=True)
        elif key and key == urgent:
            # The team takes everyone (or no one) now: the urgent key is the team's queue.
            self._queue(call, speaker, now)
        elif misses == 0:
            speaker.speak(_("Sorry, I did not get that."))
            self._menu(speaker, n + 1, 1, offer)
        else:
            speaker.speak(_("Let me put you through to your team."))
            self._queue(call, speaker, now)

    def _queue(
        self, call: VoiceCall, speaker: _Speaker, now: datetime, *, urgent: bool = False
    ) -> None:
        do_queue_call(call, now=now, urgent=urgent)
        self._hold(call, speaker, 1, now)

    def _hold(self, call: VoiceCall, speaker: _Speaker, n: int, now: datetime) -> None:
        """One round of waiting: where the caller stands, the callback offer, a pause, again.
        The call comes as loaded for this step (do_start_call, with its conversation and work
        item) or as do_queue_call left it: no second load. The position is counted now; the
        estimate's parts are shared by the team's callers for a second or two
        (routing.eta.shared_estimate_parts)."""
        conv = call.conversation
        item = call.work_item if VoiceCall.work_item.is_cached(call) else None
        status = (
            queue_status(conv, now, item=item, shared_estimate=True) if conv is not None else None
        )
        if conv is None or status is None:
            self._with_agent(call, conv, speaker, n)
            return
        texts = []
        if status.position is not None:
            texts.append(_("You are number {position} in line.").format(position=status.position))
        if status.serving and status.eta_seconds is not None:
            minutes = max(1, math.ceil(status.eta_seconds / 60))
            texts.append(
                ngettext(
                    "The estimated wait is about {minutes} minute.",
                    "The estimated wait is about {minutes} minutes.",
                    minutes,
                ).format(minutes=minutes)
            )
        else:
            team = conv.team or _team_of(call)
            opens = None if status.serving else next_opening(team, now)
            if opens is not None:
                texts.append(
                    _("Your team answers again {when}.").format(when=_spoken_time(team, opens, now))
                )
            else:
                texts.append(_("We cannot estimate your wait right now."))
        texts.append(_("Press 9 and we will call you back instead; you keep your place in line."))
        speaker.gather(f"ivr/hold/{n}", *texts, timeout=5)
        speaker.verbs.append(Pause(HOLD_PAUSE_SECONDS))
        speaker.verbs.append(Redirect(f"ivr/wait/{n + 1}"))

    def _with_agent(
        self, call: VoiceCall, conv: Conversation | None, speaker: _Speaker, n: int
    ) -> None:
        """Out of line: the call rings for the agent routing chose (the caller waits on, told
        who will answer), or the agent accepted (the caller joins them: a hold round that
        raced the bridge's redirect), or there is nobody to wait for."""
        live = phone_call_of(call.inbox, call.call_sid)
        if live is not None and live.state in (
            CallState.CONNECTING,
            CallState.ACTIVE,
            CallState.HELD,
        ):
            speaker.verbs.extend(bridge_script(live).verbs)
            return
        assignee = conv.assignee if conv is not None else None
        if live is not None and live.state == CallState.WAITING and assignee is not None:
            name = assignee.display_name or assignee.get_username()
            speaker.speak(
                _("{name} from your team will answer your call in a moment.").format(name=name)
            )
            speaker.verbs.append(Pause(HOLD_PAUSE_SECONDS // 3))
            speaker.verbs.append(Redirect(f"ivr/wait/{n + 1}"))
            return
        speaker.speak(_("Thank you for calling."))
        speaker.verbs.append(Hangup())

    def _callback(self, call: VoiceCall, speaker: _Speaker, now: datetime) -> None:
        conv = do_queue_call(call, now=now)
        try:
            do_request_callback(conv, call.caller, now=now)
        except InvalidInput:
            # Not waiting any more: an agent took the call the moment it was queued.
            self._hold(call, speaker, 1, now)
            return
        VoiceCall.objects.filter(pk=call.pk).update(callback_requested=True)
        live = phone_call_of(call.inbox, call.call_sid)
        if live is not None:
            # This call ends here; the callback is another one, dialled out later.
            do_end_call(live, reason="the caller asked to be called back", now=now)
        speaker.speak(
            _("We will call you back on this number when it is your turn."),
            _("You keep your place in line. Goodbye."),
        )
        speaker.verbs.append(Hangup())


def _limited(call: VoiceCall, now: datetime) -> bool:
    """Whether the caller's team takes urgent matters only now (a holiday or an incident)."""
    return service_mode(_team_of(call), now) == ServiceMode.LIMITED


def _anonymous(inbox: Inbox) -> Script:
    """A caller without a usable number (withheld caller ID: providers send "anonymous" or a
    placeholder): nobody to recognise, answer or call back, so the call is told how to reach
    the team and ends; nothing is stored but the raw webhook."""
    language = supported_language(str((inbox.config or {}).get("language") or "")) or "en"
    with translation.override(prompt_language(language)):
        speaker = _Speaker(inbox, language)
        speaker.speak(
            _("Your number is hidden, so I cannot find your account."),
            _("Please call again from a number that is shown, or write to us. Goodbye."),
        )
        speaker.verbs.append(Hangup())
        return speaker.script()


def _only_reads(step: str) -> bool:
    """A hold-loop announcement (`ivr/wait/N`: the position and the wait) changes nothing but
    the step's own stored answer; every other step may act (queue, callback) and is decided in
    the transaction that stores its answer."""
    return step.startswith("ivr/wait/")


def _int(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 6 else 0


# --- Self-service answers ---------------------------------------------------------------------


def _answered(call: VoiceCall, intent: str, now: datetime) -> None:
    """The caller heard a self-service answer: an episode for deflection (selfservice/
    deflection.py). In the step's transaction, so a provider retry of the step records none."""
    do_record_episode(
        EpisodeKind.IVR,
        channel="voice",
        subject=intent,
        customer=call.customer,
        conversation=call.conversation,
        now=now,
    )


def _balance_texts(msisdn: str) -> tuple[list[str], bool]:
    """What the caller hears for key 1, and whether it answered them (balance and data left,
    one episode of intent `balance`). The words are every channel's (selfservice/answers.py)."""
    try:
        return [answers.balance_text(msisdn), answers.data_text(msisdn)], True
    except TelcoUnavailable:
        return [_("I can't read your balance right now; press 0 for your team.")], False
    except (SubscriberNotFound, InvalidNumber):
        return [_("I could not find a subscription for this number; press 0 for your team.")], False


def _outage_texts(call: VoiceCall, now: datetime) -> tuple[list[str], bool]:
    """What the caller hears for key 2, and whether it answered them (intent `outage`)."""
    try:
        region = telco_backend().subscriber(call.caller).region
        texts = answers.outage_texts(region, _team_of(call), now)[: MAX_OUTAGES_SPOKEN * 2]
        return texts, True
    except TelcoUnavailable:
        return [_("I can't check for outages right now; press 0 for your team.")], False
    except (SubscriberNotFound, InvalidNumber):
        return [_("I could not find a subscription for this number; press 0 for your team.")], False
