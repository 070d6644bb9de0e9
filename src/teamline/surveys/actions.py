"""Every write of surveys: settings, the decision to send (or not) after a resolution, the
customer's answer, and their wish not to be asked again.

    conversation resolved ─(conversations hook, same transaction)─► send_survey task (run_after
    the team's delay) ─► do_send_survey: one Survey row per conversation (unique) + the message
    and its delivery task, one transaction ─► the customer answers on that channel ─►
    do_record_response: one SurveyResponse per survey (unique), the timeline, the KPIs.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation

from teamline.accounts.models import User
from teamline.analytics.actions import record_survey
from teamline.conversations.events import record
from teamline.conversations.models import Conversation, Message, Status, TimelineKind
from teamline.conversations.queries import system_message_channel
from teamline.conversations.replies import do_post_system_message
from teamline.core import jsonsafe
from teamline.core.errors import Conflict, InvalidInput, NotFound
from teamline.customers.actions import do_set_consent
from teamline.customers.models import Customer
from teamline.customers.queries import customer_language, has_consent
from teamline.customers.sms_opt_out import is_opted_out
from teamline.teams.models import Team

from . import prompts
from .models import (
    SCALES,
    SURVEY_CHANNELS,
    Survey,
    SurveyKind,
    SurveyQuota,
    SurveyResponse,
    SurveySettings,
    SurveyState,
)
from .tasks import send_survey

logger = logging.getLogger(__name__)

CONSENT_TOPIC = "surveys"
LINK_SALT = "teamline.surveys.link"


class SurveyClosed(Conflict):
    """The survey no longer takes answers (expired): 410 Gone."""

    code = "survey_closed"
    status = 410


# --- Settings -----------------------------------------------------------------------------------


def do_set_survey_settings(
    team: Team,
    *,
    csat_enabled: bool,
    nps_enabled: bool,
    channels: list[str],
    delay_minutes: int = 10,
    period_days: int = 30,
    answer_hours: int = 72,
    actor: User | None,
) -> SurveySettings:
    """Create or change a team's survey settings. InvalidInput names a channel Teamline cannot
    survey on or a number out of range."""
    unknown = [c for c in channels if c not in SURVEY_CHANNELS]
    if unknown:
        raise InvalidInput(f"Surveys cannot be sent on {', '.join(unknown)}.")
    if not 0 <= delay_minutes <= 7 * 24 * 60:
        raise InvalidInput("The delay is between 0 minutes and 7 days.")
    if not 0 <= period_days <= 3650:
        raise InvalidInput("The period is between 0 and 3650 days.")
    if not 1 <= answer_hours <= 30 * 24:
        raise InvalidInput("A survey takes answers for 1 hour to 30 days.")
    row, _created = SurveySettings.objects.update_or_create(
        team=team,
        defaults={
            "csat_enabled": csat_enabled,
            "nps_enabled": nps_enabled,
            "channels": sorted(set(channels), key=SURVEY_CHANNELS.index),
            "delay_minutes": delay_minutes,
            "period_days": period_days,
            "answer_hours": answer_hours,
        },
    )
    return row


def settings_for(team_id: int) -> SurveySettings | None:
    found = SurveySettings.objects.filter(team_id=team_id).first()
    if found is None or not (found.csat_enabled or found.nps_enabled):
        return None
    return found


# --- After a resolution -------------------------------------------------------------------------


def schedule_survey(conversation: Conversation, *, now: datetime) -> bool:
    """Called in the resolving transaction (conversations hook): when the team surveys, the
    send_survey task is enqueued in it, to run after the team's delay — durable with the
    resolution itself. One query when the team has no surveys."""
    found = settings_for(conversation.team_id)
    if found is None:
        return False
    run_after = now + timedelta(minutes=found.delay_minutes)
    send_survey.using(run_after=run_after).enqueue(conversation.pk)
    return True


def _claim_quota(customer: Customer, period_days: int, kinds: list[str], now: datetime) -> str:
    """The kind to send, claimed for the customer by a conditional UPDATE; "" when they were
    surveyed within the period. Both kinds enabled: they take turns (CSAT first)."""
    SurveyQuota.objects.get_or_create(customer=customer)
    quota = SurveyQuota.objects.get(customer=customer)
    kind = kinds[0]
    if len(kinds) > 1 and quota.last_kind == SurveyKind.CSAT:
        kind = SurveyKind.NPS.value
    elif len(kinds) > 1:
        kind = SurveyKind.CSAT.value
    # The WHERE is evaluated again on the locked row (PostgreSQL) or under the write lock
    # (SQLite): of two concurrent claims only one finds the customer free.
    free = Q(last_sent_at__isnull=True) | Q(last_sent_at__lte=now - timedelta(days=period_days))
    claimed = SurveyQuota.objects.filter(free, customer=customer).update(
        last_sent_at=now, last_kind=kind
    )
    return kind if claimed else ""


def link_for(survey: Survey, score: int) -> str:
    """The email's signed link for one score (views.answer_page checks it)."""
    value = signing.dumps({"t": survey.token, "s": score}, salt=LINK_SALT, compress=True)
    return settings.PUBLIC_URL + reverse("surveys:answer", args=[value])


def read_link(value: str, max_age_seconds: int = 31 * 24 * 3600) -> tuple[str, int]:
    """(token, score) of a signed link; NotFound when it is not ours or too old."""
    try:
        data = signing.loads(value[:500], salt=LINK_SALT, max_age=max_age_seconds)
    except signing.BadSignature as exc:
        raise NotFound("This survey link is not valid.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("t"), str):
        raise NotFound("This survey link is not valid.")
    score = data.get("s")
    if not isinstance(score, int) or isinstance(score, bool):
        raise NotFound("This survey link is not valid.")
    return data["t"], score


def _skip(
    conversation: Conversation, kind: str, channel: str, reason: str, now: datetime
) -> Survey:
    survey = Survey.objects.create(
        conversation=conversation,
        customer_id=conversation.customer_id,
        team_id=conversation.team_id,
        kind=kind,
        channel=channel,
        state=SurveyState.SKIPPED,
        reason=reason,
        created_at=now,
    )
    record(conversation, TimelineKind.SURVEY, event="skipped", survey=kind, reason=reason)
    return survey


def do_send_survey(conversation_id: int, *, now: datetime | None = None) -> Survey | None:
    """Decide and, when it may, send the survey of one resolved conversation; returns the
    Survey (sent or skipped with the reason), or None when the conversation is gone.

    Idempotent: a conversation has at most one Survey (unique), so a task run twice, a replay
    or a crash in the middle never asks twice. Skipped (recorded with the reason, nothing
    sent): the team surveys no more or not on this channel, the conversation was reopened, the
    customer opted out (consent topic `surveys`, or STOP on that SMS number), cannot be
    reached there now, or was surveyed within the team's period. Sent: the question in the
    customer's language on the channel they used last (do_post_system_message: the message and
    its delivery task in this transaction, the outbox). Records a `survey` timeline row."""
    now = now or timezone.now()
    conversation = (
        Conversation.objects.select_related("customer", "team", "inbox")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        return None
    existing = Survey.objects.filter(conversation=conversation).first()
    if existing is not None:
        return existing
    customer = conversation.customer
    found = settings_for(conversation.team_id)
    kinds = []
    if found is not None:
        kinds = [k for k, on in (("csat", found.csat_enabled), ("nps", found.nps_enabled)) if on]
    try:
        with transaction.atomic():
            target = system_message_channel(conversation)
            channel = target.channel if target is not None else conversation.channel
            kind = kinds[0] if kinds else SurveyKind.CSAT.value
            if found is None:
                return _skip(conversation, kind, channel, "surveys are off for this team", now)
            if Conversation.objects.filter(pk=conversation.pk, status=Status.RESOLVED).count() == 0:
                return _skip(conversation, kind, channel, "the conversation was reopened", now)
            if channel not in (found.channels or []):
                return _skip(conversation, kind, channel, f"no surveys on {channel}", now)
            if not has_consent(customer, CONSENT_TOPIC):
                return _skip(conversation, kind, channel, "the customer opted out", now)
            if target is None or (target.inbox is None and channel != "webchat"):
                return _skip(conversation, kind, channel, "no address on this channel", now)
            if channel == "sms" and is_opted_out(customer.attributes, target.to):
                return _skip(conversation, kind, channel, "the number sent STOP", now)
            if not target.reachability.reachable:
                why = target.reachability.reason or "not reachable now"
                return _skip(conversation, kind, channel, f"not reachable: {why}"[:200], now)
            kind = _claim_quota(customer, found.period_days, kinds, now)
            if not kind:
                why = f"surveyed within {found.period_days} days"
                return _skip(conversation, kinds[0], channel, why, now)
            language = customer_language(customer, conversation.inbox.config)
            survey = Survey.objects.create(
                conversation=conversation,
                customer=customer,
                team_id=conversation.team_id,
                kind=kind,
                channel=channel,
                language=language,
                state=SurveyState.SENT,
                created_at=now,
                expires_at=now + timedelta(hours=found.answer_hours),
            )
            with translation.override(language):
                content: dict[str, Any] = {
                    "survey": {
                        "token": survey.token,
                        "kind": kind,
                        "min": SCALES[kind][0],
                        "max": SCALES[kind][1],
                        "words": prompts.widget_words(kind),
                    }
                }
                links = None
                if channel == "email":
                    links = {s: link_for(survey, s) for s in prompts.scores(kind)}
                elif prompts.has_buttons(kind, channel):
                    content["choices"] = prompts.choices(kind, survey.token)
                    content["choices_button"] = prompts.choose_button()
                text = prompts.message_text(kind, channel, links)
            message = do_post_system_message(
                conversation, text, content=content, now=now, via=target
            )
            Survey.objects.filter(pk=survey.pk).update(message_id=message.pk)
            survey.message_id = message.pk
            record(conversation, TimelineKind.SURVEY, event="sent", survey=kind, channel=channel)
            return survey
    except IntegrityError:
        # A concurrent run decided first: its survey stands.
        return Survey.objects.filter(conversation=conversation).first()


# --- Answers ------------------------------------------------------------------------------------


def open_survey_for(customer_id: int, channel: str, now: datetime) -> Survey | None:
    """The survey a typed score on `channel` answers: the customer's newest one sent on that
    channel and still taking answers (answered ones too, so a repeat is a duplicate, not a new
    contact)."""
    return (
        Survey.objects.filter(
            customer_id=customer_id,
            channel=channel,
            state__in=(SurveyState.SENT, SurveyState.ANSWERED),
            expires_at__gt=now,
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def check_answer(survey: Survey, score: Any, comment: Any = "") -> tuple[int, str]:
    """The score and comment as stored, or InvalidInput saying what is wrong."""
    low, high = SCALES[survey.kind]
    if not isinstance(score, int) or isinstance(score, bool) or not low <= score <= high:
        raise InvalidInput(f"The score is a whole number from {low} to {high}.")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise InvalidInput("The comment is text.")
    comment = jsonsafe.clean_text(comment).strip()
    if len(comment) > prompts.MAX_COMMENT:
        raise InvalidInput(f"The comment is longer than {prompts.MAX_COMMENT} characters.")
    return score, comment


def do_record_response(
    survey: Survey,
    score: Any,
    *,
    comment: Any = "",
    channel: str,
    message: Message | None = None,
    now: datetime | None = None,
) -> SurveyResponse:
    """The customer's answer to `survey`. InvalidInput: a score off the scale, a comment too
    long; SurveyClosed (410): past its time; Conflict (409): already answered (the first answer
    stands: a conditional UPDATE sent → answered decides, and the response is unique per
    survey). Records a `survey` timeline row and counts it in the KPIs."""
    now = now or timezone.now()
    score, comment = check_answer(survey, score, comment)
    if survey.state == SurveyState.SKIPPED:
        raise NotFound("No such survey.")
    if survey.expires_at is not None and survey.expires_at <= now:
        raise SurveyClosed("This survey has closed.")
    with transaction.atomic():
        claimed = Survey.objects.filter(pk=survey.pk, state=SurveyState.SENT).update(
            state=SurveyState.ANSWERED
        )
        if not claimed:
            raise Conflict("This survey was already answered.")
        survey.state = SurveyState.ANSWERED
        response = SurveyResponse.objects.create(
            survey=survey,
            conversation_id=survey.conversation_id,
            customer_id=survey.customer_id,
            team_id=survey.team_id,
            kind=survey.kind,
            score=score,
            comment=comment,
            channel=channel,
            created_at=now,
        )
        conversation = Conversation.objects.get(pk=survey.conversation_id)
        record(
            conversation,
            TimelineKind.SURVEY,
            event="answered",
            survey=survey.kind,
            score=score,
            channel=channel,
            has_comment=bool(comment),
            message_id=message.pk if message is not None else None,
        )
        _count_in_kpis(conversation, survey, score, now)
    return response


def _count_in_kpis(conversation: Conversation, survey: Survey, score: int, at: datetime) -> None:
    """The answer in the KPIs' 15-minute fact table (analytics.actions.record_survey), in this
    transaction; keyed by the survey, so it is counted once whatever retries."""
    record_survey(conversation, survey.kind, score, at, key=f"survey:{survey.pk}")


def do_thank_customer(survey: Survey, *, now: datetime | None = None) -> None:
    """A short thank-you on the channel of a typed or tapped answer (sms, whatsapp,
    telegram); the widget and the email page say it themselves."""
    conversation = Conversation.objects.select_related("customer", "inbox").get(
        pk=survey.conversation_id
    )
    with translation.override(survey.language or customer_language(conversation.customer)):
        text = prompts.thanks()
    do_post_system_message(conversation, text, now=now)


def do_opt_out_of_surveys(customer: Customer, *, source: str, actor: User | None = None) -> None:
    """The customer asked never to be surveyed again (consent topic `surveys`, off)."""
    do_set_consent(customer, CONSENT_TOPIC, False, source=source, actor=actor)


def do_erase_survey_comments(customer_ids: list[int]) -> int:
    """A customer's erasure (privacy): their answers' comments emptied; the scores stay, as
    counted in the KPIs. Returns how many comments were emptied."""
    return (
        SurveyResponse.objects.filter(customer_id__in=customer_ids)
        .exclude(comment="")
        .update(comment="")
    )
