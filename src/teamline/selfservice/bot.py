"""The bot on message channels and SMS keywords: simple contacts answered at once, a person
always one word away.

How a customer message reaches it. conversations.inbound.do_receive_customer_message offers
every inbound message to self-service (`SelfServiceFlow.take_message`, the `self_service`
hook of conversations/hooks.py, provided in SelfServiceConfig.ready) in the message's
transaction, under the conversation's row lock. Self-service takes a message when no agent has
the conversation and it starts or reopens it (or the bot already holds it), and

- the inbox has the bot on (`config["bot"]`) and the customer has not opted out of bots
  (customers.queries.opted_out_of_bots): the bot holds the conversation (a BotSession) and its
  turn runs as a task after commit (`bot_turn`); or
- the inbox answers SMS keywords (`config["sms_keywords"]`, SMS inboxes) and the message is
  one word: `sms_keyword` answers it in one SMS (an unknown word gets the help text).

A taken conversation waits on the customer (pending), so it sits in no agent's queue. The
carrier keywords STOP / START / HELP and phone calls are never taken: they work as before.

A handoff word, or the widget's "Talk to my team" button (`content["handoff"]`), hands over
in the same transaction: the message is routed like any other (team, ETA, callbacks). Two
turns in a row the bot did not understand, a backend that does not answer (circuit open), an
account question from a customer the channel cannot verify (web chat first asks to sign in)
hand over too, from the turn's task (`do_change_status` to open routes the conversation).
Every handoff leaves the agent an internal note with the bot's findings (what was asked and
answered, whether the customer was verified, why it handed over) and a timeline row.

Account data only for a verified customer: a message from the number the provider proves
(`content["sender"]["verified"]`), or a web chat / app session the brand vouched for (a
verified external identity); the telco backend is asked about that customer's verified phone
number. Every answer given is recorded as a self-service episode (actions.do_record_episode).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import phonenumbers
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from teamline.connectors.sms import sms_segments
from teamline.connectors.stepup import (
    do_request_sign_in_step_up,
    do_request_step_up,
    reachable_code_identities,
    sign_in_methods,
)
from teamline.conversations.actions import do_change_status
from teamline.conversations.events import record
from teamline.conversations.locks import lock_conversation
from teamline.conversations.models import (
    Conversation,
    Inbox,
    Message,
    SenderKind,
    Status,
    TimelineKind,
)
from teamline.conversations.presenters import level_of
from teamline.conversations.replies import do_add_internal_record, do_post_system_message
from teamline.conversations.stepup import masked_destination
from teamline.core.errors import TeamlineError
from teamline.customers import verification as levels
from teamline.customers.models import Customer, IdentityKind
from teamline.teams.models import Team

from . import answers
from .actions import do_record_episode, do_tag_contact_subject
from .intents import (
    ACCOUNT_INTENTS,
    BUY_DATA,
    DATA_LEFT,
    OPENING_HOURS,
    OUTAGE,
    TALK_TO_PERSON,
    Recognition,
    classify,
)
from .intents import (
    BALANCE as BALANCE_INTENT,
)
from .models import BotSession, BotState, EpisodeKind, SelfServiceTurn
from .telco import InvalidNumber, SubscriberNotFound, TelcoUnavailable, telco_backend
from .voices import COUNTRY_LANGUAGES, REGIONAL_VARIANTS, supported_language

logger = logging.getLogger(__name__)

FAILED_TURNS_TO_HAND_OVER = 2
BOT_LANGUAGES = ("en", "nb", "zh-hans", "zh-hant", "et", "pt")
MAX_FINDINGS_TURNS = 10
WIDGET_CHANNELS = frozenset({"webchat", "app"})


def bot_enabled(inbox: Inbox | None) -> bool:
    return inbox is not None and (inbox.config or {}).get("bot") is True


def sms_keywords_enabled(inbox: Inbox | None) -> bool:
    return (
        inbox is not None
        and inbox.kind == "sms"
        and (inbox.config or {}).get("sms_keywords") is True
    )


def agent_wrote_since(session: BotSession) -> bool:
    return Message.objects.filter(
        conversation_id=session.conversation_id,
        sender_kind=SenderKind.AGENT,
        created_at__gte=session.created_at,
    ).exists()


def end_session(session: BotSession, reason: str) -> None:
    BotSession.objects.filter(pk=session.pk, state=BotState.ACTIVE).update(
        state=BotState.ENDED, handoff_reason=reason[:64], ended_at=timezone.now()
    )


# --- The customer: language and verification ---------------------------------------------------


def language_of(
    recognition: Recognition,
    session: BotSession | None,
    customer: Customer,
    message: Message,
) -> str:
    """The language of the text when it says, else the conversation's so far, the customer's
    preference, their number's country, the inbox's default, English."""
    detected = recognition.language
    if detected in BOT_LANGUAGES:
        return str(detected)
    inbox_config = (message.inbox.config or {}) if message.inbox else {}
    candidates = [
        session.language if session is not None else "",
        customer.preferred_language,
        _country_language(message),
        str(inbox_config.get("language") or ""),
    ]
    for candidate in candidates:
        code = supported_language(candidate or "")
        code = REGIONAL_VARIANTS.get(code or "", code)
        if code in BOT_LANGUAGES and (detected != "zh" or str(code).startswith("zh")):
            return str(code)
    # Chinese written the same in both scripts, from nobody we know more about.
    return "zh-hans" if detected == "zh" else "en"


def _country_language(message: Message) -> str:
    sender = (message.content or {}).get("sender") or {}
    if sender.get("kind") != "phone":
        return ""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(str(sender["value"]), None))
    except (phonenumbers.NumberParseException, KeyError):
        return ""
    return COUNTRY_LANGUAGES.get(region or "", "")


@dataclass(frozen=True)
class Verification:
    verified: bool
    msisdn: str | None  # the verified number the telco backend is asked about
    how: str  # what proved it, for the agent


def verification_of(customer: Customer, message: Message) -> Verification:
    """Whether account data may be given (customers.verification: ACCOUNT_DATA needs the
    `code` level): the conversation reached it by a step-up, or the channel proves the
    number (a provider-proved sender, a session the brand signed)."""
    sender = (message.content or {}).get("sender") or {}
    identities = list(customer.identities.filter(verified=True))
    phones = [i.value for i in identities if i.kind == IdentityKind.PHONE]
    conversation = message.conversation
    if levels.allows(level_of(conversation), levels.ACCOUNT_DATA):
        return Verification(
            True, phones[0] if phones else None, f"step-up ({conversation.verification_method})"
        )
    if message.channel in WIDGET_CHANNELS:
        if any(i.kind == IdentityKind.EXTERNAL for i in identities):
            return Verification(True, phones[0] if phones else None, "signed-in session")
        return Verification(False, None, "anonymous web chat")
    if sender.get("verified") is True:
        number = str(sender.get("value") or "") if sender.get("kind") == "phone" else ""
        return Verification(
            True, number or (phones[0] if phones else None), "provider-proved sender"
        )
    return Verification(False, None, "sender not proved by the provider")


# --- One turn ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    intent: str
    outcome: str  # answered, not_understood, verify, handed_over, help
    texts: list[str]
    handoff: str = ""  # the reason, when the turn hands over
    answer: str = ""  # what the bot told the customer, for the findings
    extra: dict[str, Any] = field(default_factory=dict)


def _decide(
    recognition: Recognition,
    message: Message,
    verification: Verification,
    team: Team,
    customer: Customer,
    *,
    failed_turns: int,
    keyword: bool,
    now: datetime,
) -> Outcome:
    """What to answer, in the active language; reads the telco backend (no writes)."""
    intent = recognition.intent
    if intent is None:
        if keyword:
            return Outcome("", "help", [answers.sms_help_text()])
        if failed_turns + 1 >= FAILED_TURNS_TO_HAND_OVER:
            return Outcome("", "handed_over", [], handoff="two_failed_turns")
        return Outcome("", "not_understood", [answers.not_understood()])
    if intent == TALK_TO_PERSON:
        return Outcome(intent, "handed_over", [], handoff="asked_for_person")
    if intent in ACCOUNT_INTENTS and not verification.verified:
        if message.channel in WIDGET_CHANNELS:
            # A code to a phone or address already proven to be theirs raises the
            # conversation to `code` (run_turn sends it; conversations/stepup.py).
            identity = next(iter(reachable_code_identities(customer)), None)
            if identity is not None:
                return Outcome(
                    intent,
                    "step_up",
                    [answers.step_up_sent(masked_destination(identity))],
                    extra={"identity": identity},
                )
            # No code can reach them: the brand's sign-in or a passkey, in the widget.
            if sign_in_methods(message.conversation):
                return Outcome(
                    intent, "step_up", [answers.step_up_sign_in()], extra={"sign_in": True}
                )
            return Outcome(intent, "verify", [answers.verify_in_the_widget()])
        return Outcome(intent, "handed_over", [answers.cannot_verify()], handoff="unverified")
    try:
        if intent in ACCOUNT_INTENTS:
            if not verification.msisdn:
                return Outcome(intent, "handed_over", [answers.not_found()], handoff="no_number")
            if intent == BALANCE_INTENT:
                texts = [answers.balance_text(verification.msisdn)]
            elif intent == DATA_LEFT:
                texts = [answers.data_text(verification.msisdn)]
            else:
                texts = [answers.bill_text(verification.msisdn)]
        elif intent == BUY_DATA:
            texts = [answers.buy_data_text()]
        elif intent == OUTAGE:
            region = _region(verification, customer)
            if not region:
                if message.channel in WIDGET_CHANNELS:
                    return Outcome(intent, "verify", [answers.verify_in_the_widget()])
                return Outcome(
                    intent, "handed_over", [answers.cannot_verify()], handoff="no_region"
                )
            texts = answers.outage_texts(region, team, now)
        elif intent == OPENING_HOURS:
            texts = answers.hours_texts(team, now)
        else:  # an intent a new classifier knows and this bot does not answer yet
            return Outcome(intent, "handed_over", [], handoff="unknown_intent")
    except TelcoUnavailable:
        return Outcome(
            intent, "handed_over", [answers.backend_down()], handoff="backend_unavailable"
        )
    except (SubscriberNotFound, InvalidNumber):
        return Outcome(intent, "handed_over", [answers.not_found()], handoff="not_found")
    answer = " ".join(texts)
    if not keyword:
        texts = [*texts, answers.anything_else()]
    return Outcome(intent, "answered", texts, answer=answer)


def _region(verification: Verification, customer: Customer) -> str:
    """Where the customer lives: their subscription's region (verified), else their record's
    (outages are public: reading them needs no verification, only a place)."""
    if verification.verified and verification.msisdn:
        region = telco_backend().subscriber(verification.msisdn).region
        if region:
            return region
    return customer.region


def _one_message(texts: list[str], channel: str) -> str:
    """The turn's texts as one message; on SMS spelled in GSM-7 where the language can be,
    and in one segment when the closing line is what makes it two."""
    if channel != "sms":
        return "\n".join(texts)
    text = answers.gsm7(" ".join(texts))
    if sms_segments(text)[1] > 1 and len(texts) > 1:
        shorter = answers.gsm7(" ".join(texts[:-1]))
        if sms_segments(shorter)[1] == 1:
            return shorter
    return text


def run_turn(message_id: int, *, keyword: bool) -> str:
    """The bot's turn (or an SMS keyword's answer) for one customer message; idempotent on
    the message (SelfServiceTurn). Decides before the transaction (the telco backend may take
    its 2 s), then, under the conversation's lock, replies with a `bot` message through the
    channel's outbox, records the episode or hands over."""
    message = (
        Message.objects.select_related(
            "inbox", "conversation__team", "conversation__customer__home_team"
        )
        .filter(pk=message_id)
        .first()
    )
    if message is None or SelfServiceTurn.objects.filter(message_id=message_id).exists():
        return "done before"
    conversation = message.conversation
    customer = conversation.customer
    session = None
    if not keyword:
        session = BotSession.objects.filter(
            conversation=conversation, state=BotState.ACTIVE
        ).first()
        if session is None:
            return "no bot session"
    recognition = classify(message.text)
    language = language_of(recognition, session, customer, message)
    verification = verification_of(customer, message)
    now = timezone.now()
    with translation.override(language):
        outcome = _decide(
            recognition,
            message,
            verification,
            conversation.team,
            customer,
            failed_turns=session.failed_turns if session else 0,
            keyword=keyword,
            now=now,
        )
        if outcome.outcome == "step_up":
            try:
                if outcome.extra.pop("sign_in", False):
                    do_request_sign_in_step_up(conversation, actor=None, by_bot=True)
                else:
                    do_request_step_up(
                        conversation, outcome.extra.pop("identity"), actor=None, by_bot=True
                    )
            except TeamlineError as exc:
                # Too many codes this hour, or no channel takes it now: the other way.
                logger.info(
                    "bot step-up in conversation %s not sent: %s", conversation.pk, exc.code
                )
                outcome = Outcome(outcome.intent, "verify", [answers.verify_in_the_widget()])
        outcome = _known_outage_first(outcome, customer, conversation.team, session, now)
        try:
            with transaction.atomic():
                conv = lock_conversation(conversation.pk)
                if session is not None:
                    session = (
                        BotSession.objects.select_for_update()
                        .filter(pk=session.pk, state=BotState.ACTIVE)
                        .first()
                    )
                    if session is None:
                        return "handed over meanwhile"
                SelfServiceTurn.objects.create(
                    message=message, session=session, intent=outcome.intent, outcome=outcome.outcome
                )
                _apply(conv, session, message, outcome, verification, language, keyword, now)
        except IntegrityError:
            return "done before"  # a concurrent run of the same turn answered
    return outcome.outcome


def _known_outage_first(
    outcome: Outcome, customer: Customer, team: Team, session: BotSession | None, now: datetime
) -> Outcome:
    """An outage declared for the customer's region is said first, on the bot's first turn (or
    an SMS keyword's answer), before the customer has to ask: "we know about it"."""
    if outcome.intent == OUTAGE or (session is not None and (session.findings or {}).get("turns")):
        return outcome
    known = answers.known_outage_texts(customer.region, team, now)
    if not known:
        return outcome
    return replace(outcome, texts=[*known, *outcome.texts])


def _apply(
    conversation: Conversation,
    session: BotSession | None,
    message: Message,
    outcome: Outcome,
    verification: Verification,
    language: str,
    keyword: bool,
    now: datetime,
) -> None:
    if session is not None:
        findings = dict(session.findings or {})
        findings["verified"] = verification.verified
        findings["verified_by"] = verification.how
        turns = list(findings.get("turns") or [])
        turns.append(
            {
                "intent": outcome.intent or None,
                "outcome": outcome.outcome,
                "answer": outcome.answer[:300],
                "text": message.text[:200],
            }
        )
        findings["turns"] = turns[-MAX_FINDINGS_TURNS:]
        session.findings = findings
        session.language = language
        session.failed_turns = (
            session.failed_turns + 1 if outcome.outcome == "not_understood" else 0
        )
        session.save(update_fields=["findings", "language", "failed_turns"])
    if outcome.handoff:
        hand_over(
            conversation,
            session,
            message,
            reason=outcome.handoff,
            language=language,
            intent=outcome.intent,
            route=True,
            before=outcome.texts,
            verification=verification,
        )
        return
    channel = message.channel
    do_post_system_message(
        conversation,
        _one_message(outcome.texts, channel),
        content={"bot": {"intent": outcome.intent or None, "outcome": outcome.outcome}},
        now=now,
        sender_kind=SenderKind.BOT,
    )
    if outcome.outcome == "answered":
        do_record_episode(
            EpisodeKind.SMS_KEYWORD if keyword else EpisodeKind.BOT,
            channel=message.inbox.kind if message.inbox else channel,
            subject=outcome.intent,
            customer=conversation.customer,
            conversation=conversation,
            now=now,
        )


HANDOFF_REASONS = {
    "asked_for_person": "the customer asked for a person",
    "widget_button": "the customer pressed Talk to my team",
    "two_failed_turns": "the bot did not understand two messages in a row",
    "backend_unavailable": "the telco backend did not answer (down or circuit open)",
    "unverified": "an account question, and this channel cannot verify the customer",
    "no_number": "no verified phone number to look the account up by",
    "not_found": "the telco backend knows no subscription for the customer's number",
    "no_region": "an outage question, and the customer's region is unknown",
    "unknown_intent": "a question the bot has no answer for",
}


def hand_over(
    conversation: Conversation,
    session: BotSession | None,
    message: Message,
    *,
    reason: str,
    language: str,
    intent: str,
    route: bool,
    before: list[str] | None = None,
    verification: Verification | None = None,
) -> None:
    """Hand the conversation to the customer's team: the session ends, the agent gets the
    findings (internal note + timeline row), the customer is told in their language, and —
    with `route` — the conversation is opened and routed by the normal engine (without,
    the caller routes it: the inbound message's own transaction)."""
    now = timezone.now()
    verification = verification or verification_of(conversation.customer, message)
    findings: dict[str, Any] = dict(session.findings or {}) if session is not None else {}
    findings.setdefault("verified", verification.verified)
    findings.setdefault("verified_by", verification.how)
    if session is not None:
        BotSession.objects.filter(pk=session.pk).update(
            state=BotState.HANDED_OVER,
            handoff_reason=reason[:64],
            ended_at=now,
            findings=findings,
            language=language,
        )
    team = conversation.team
    with translation.override(language):
        texts = [*(before or []), answers.handing_over(team)]
        do_post_system_message(
            conversation,
            _one_message(texts, message.channel),
            content={"bot": {"intent": intent or None, "outcome": "handed_over"}},
            now=now,
            sender_kind=SenderKind.BOT,
        )
    note = _findings_note(findings, reason, intent, language)
    do_add_internal_record(
        conversation,
        note,
        channel=conversation.channel,
        external_id=f"bot-handoff:{message.pk}",
        content={"bot_findings": {**findings, "reason": reason, "intent": intent or None}},
    )
    record(
        conversation,
        TimelineKind.ROUTED,
        bot="handed_over",
        reason=HANDOFF_REASONS.get(reason, reason),
        intent=intent or None,
        verified=findings.get("verified"),
    )
    subject = _contact_subject(intent, findings)
    if route:
        conv = Conversation.objects.get(pk=conversation.pk)
        if conv.status != Status.OPEN and conv.assignee_id is None:
            do_change_status(conv, Status.OPEN, actor=None)
        if subject:
            do_tag_contact_subject(conv, subject, source="bot")
    elif subject:
        # The caller (the inbound message's transaction) creates the work item after this
        # returns: the contact is tagged once it is committed. Lost in a crash, the contact
        # counts against every episode of the customer: deflection is never overstated.
        conversation_id = conversation.pk
        transaction.on_commit(
            lambda: do_tag_contact_subject(
                Conversation.objects.get(pk=conversation_id), subject, source="bot"
            )
        )


def _contact_subject(intent: str, findings: dict[str, Any]) -> str:
    """What the contact the bot hands over is about (deflection's "same subject"): the intent
    it was working on — the one that failed, or, when the customer asked for a person, the
    last one they asked about; "" when the bot never learnt one."""
    if intent and intent != TALK_TO_PERSON:
        return intent
    for turn in reversed(findings.get("turns") or []):
        if turn.get("intent") and turn["intent"] != TALK_TO_PERSON:
            return str(turn["intent"])
    return ""


def _findings_note(findings: dict[str, Any], reason: str, intent: str, language: str) -> str:
    """What the agent reads before answering (staff-only, in the desk's words)."""
    lines = [f"Bot handoff: {HANDOFF_REASONS.get(reason, reason)}."]
    verified = findings.get("verified")
    how = findings.get("verified_by") or ""
    lines.append(f"Customer verified: {'yes' if verified else 'no'} ({how}). Language: {language}.")
    for turn in findings.get("turns") or []:
        asked = turn.get("intent") or "not understood"
        said = turn.get("answer") or turn.get("outcome")
        lines.append(f'- Asked: {asked} ("{turn.get("text", "")}"); bot: {said}')
    if intent and intent != TALK_TO_PERSON and not findings.get("turns"):
        lines.append(f"- Asked: {intent}")
    return "\n".join(lines)
