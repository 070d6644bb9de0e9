"""Every write of wellbeing (docs/analytics.md, "Wellbeing").

Raising an alert (`evaluate_agent`) writes one WellbeingAlert and, after commit, sends the
private suggestion to the agent (`wellbeing.suggestion`, `user.<agent>` only) and the alert to
the supervisors of the agent's teams (`wellbeing.alert`, each `user.<supervisor>`): never to a
team group, so colleagues do not see it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from teamline.accounts.models import PresenceSpan, User
from teamline.conversations.models import Direction, Message, SenderKind
from teamline.core.errors import Forbidden, InvalidInput
from teamline.core.events import Event, EventType, Recipients, send_event_on_commit, user_group
from teamline.teams.models import Team

from .access import access_own_alert, access_supervised_alert
from .models import (
    AgentWellbeing,
    ConversationMood,
    Signal,
    TypingMinute,
    WellbeingAlert,
    WellbeingSettings,
)
from .queries import (
    RETENTION,
    TYPING_RETENTION,
    WORKING,
    Measure,
    last_alert,
    last_alerts,
    measurements,
    present_alert,
    settings_by_agent,
    settings_for,
    supervisor_ids,
    typing_opted_in,
    work_started_many,
)
from .sentiment import MAX_SCORE

MAX_KEYS_PER_MINUTE = 2000
MAX_PAUSE_VARIANCE = 3600.0


# --- The agent's choices -------------------------------------------------------------------


def do_set_typing_opt_in(agent: User, on: bool, *, actor: User) -> AgentWellbeing:
    """Turn typing-rhythm measuring on or off for oneself (only the agent may). Turning it off
    deletes the typing minutes already stored."""
    if actor.pk != agent.pk:
        raise Forbidden("Only the agent chooses whether their typing rhythm is measured.")
    now = timezone.now()
    with transaction.atomic():
        row, _ = AgentWellbeing.objects.update_or_create(
            user=agent, defaults={"typing_opt_in": on, "changed_at": now}
        )
        if not on:
            TypingMinute.objects.filter(agent=agent).delete()
    return row


def do_record_typing_minute(
    *, keys: int, corrections: int, pause_variance: float, actor: User
) -> TypingMinute:
    """Store one minute of the actor's typing rhythm as the desk aggregated it (counts and a
    variance, never keys), then evaluate their signals. Refused unless they opted in. The
    minute is the server's current minute: a retry within it returns the stored row."""
    if not typing_opted_in(actor):
        raise Forbidden(
            "Typing rhythm is not measured for you: turn it on on your wellbeing page first."
        )
    for name, value in (("keys", keys), ("corrections", corrections)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{name} must be a whole number.")
    if not 0 <= keys <= MAX_KEYS_PER_MINUTE:
        raise InvalidInput(f"keys must be between 0 and {MAX_KEYS_PER_MINUTE}.")
    if not 0 <= corrections <= keys:
        raise InvalidInput("corrections must be between 0 and keys.")
    if not math.isfinite(pause_variance) or not 0 <= pause_variance <= MAX_PAUSE_VARIANCE:
        raise InvalidInput(f"pause_variance must be between 0 and {MAX_PAUSE_VARIANCE:g}.")
    now = timezone.now()
    minute = now.replace(second=0, microsecond=0)
    try:
        with transaction.atomic():
            row = TypingMinute.objects.create(
                agent=actor,
                minute=minute,
                keys=keys,
                corrections_ratio=round(corrections / keys, 4) if keys else 0.0,
                pause_variance=pause_variance,
            )
    except IntegrityError:
        return TypingMinute.objects.get(agent=actor, minute=minute)
    evaluate_agent(actor, now, signals={Signal.TYPING_STRAIN})
    return row


def do_dismiss_suggestion(actor: User, alert_id: object) -> WellbeingAlert:
    """The agent puts a suggestion away (their other desk tabs hide it too)."""
    alert = access_own_alert(actor, alert_id)
    with transaction.atomic():
        if WellbeingAlert.objects.filter(pk=alert.pk, dismissed_at__isnull=True).update(
            dismissed_at=timezone.now()
        ):
            alert.refresh_from_db()
            send_event_on_commit(
                Event(EventType.WELLBEING_SUGGESTION, staff={"alert": present_alert(alert)}),
                Recipients(staff=frozenset({user_group(actor.pk)})),
            )
    return alert


def do_acknowledge_alert(actor: User, alert_id: object) -> WellbeingAlert:
    """A supervisor of the agent's team notes they have seen the alert."""
    alert = access_supervised_alert(actor, alert_id)
    WellbeingAlert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=actor
    )
    alert.refresh_from_db()
    return alert


def do_set_wellbeing_settings(
    team: Team, *, actor: User | None, **values: Any
) -> WellbeingSettings:
    """A team's thresholds (validated against the fields' bounds)."""
    row = WellbeingSettings.objects.filter(team=team).first() or WellbeingSettings(team=team)
    for name, value in values.items():
        if name in ("id", "team", "team_id") or not hasattr(row, name):
            raise InvalidInput(f"Unknown setting {name!r}.")
        setattr(row, name, value)
    try:
        row.full_clean()
    except ValidationError as exc:
        raise InvalidInput("; ".join(exc.messages)) from None
    row.save()
    return row


# --- Measuring -----------------------------------------------------------------------------


def record_conversation_mood(
    conversation_id: int, agent_id: int, resolved_at: datetime
) -> ConversationMood | None:
    """The customer sentiment of one handled conversation (the mean of its customer text
    messages' scores since it was last handled), then the agent's signals. Idempotent: a
    replayed task finds the row of this resolution and changes nothing."""
    agent = User.objects.filter(pk=agent_id, is_active=True).first()
    if agent is None:
        return None
    if ConversationMood.objects.filter(
        conversation_id=conversation_id, resolved_at=resolved_at
    ).exists():
        return None
    previous = (
        ConversationMood.objects.filter(
            conversation_id=conversation_id, resolved_at__lt=resolved_at
        )
        .order_by("-resolved_at")
        .values_list("resolved_at", flat=True)
        .first()
    )
    messages = Message.objects.filter(
        conversation_id=conversation_id,
        direction=Direction.INBOUND,
        sender_kind=SenderKind.CUSTOMER,
        created_at__lte=resolved_at,
    ).exclude(text="")
    if previous is not None:
        messages = messages.filter(created_at__gt=previous)
    scores: list[float] = []
    for content in messages.values_list("content", flat=True)[:500]:
        content = content or {}
        if "survey_answer" in content:
            continue  # an answer to a survey is not the conversation's mood
        scores.append(_score_of(content.get("sentiment")))
    rules = settings_for(agent)
    mean = round(sum(scores) / len(scores), 3) if scores else 0.0
    try:
        with transaction.atomic():
            row = ConversationMood.objects.create(
                agent=agent,
                conversation_id=conversation_id,
                resolved_at=resolved_at,
                messages=len(scores),
                score_sum=round(sum(scores), 3),
                mean=mean,
                negative=bool(scores) and mean <= rules.negative_mean,
            )
    except IntegrityError:
        return None  # a concurrent run of the same task stored it
    evaluate_agent(agent, resolved_at, signals={Signal.NEGATIVE_RUN, Signal.LONG_HANDLE})
    return row


def _score_of(mood: Any) -> float:
    """A stored message score (the hook wrote it; a malformed one counts as neutral)."""
    value = mood.get("score") if isinstance(mood, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0.0
    return max(-MAX_SCORE, min(MAX_SCORE, float(value)))


def evaluate_agent(
    agent: User, now: datetime, *, signals: set[str] | None = None
) -> list[WellbeingAlert]:
    """Raise an alert for each signal (of `signals`, all when None) past its threshold, unless
    the same signal was raised for this agent within the team's cooldown (a break signal: since
    the last break). Nothing when the agent's team turned wellbeing off."""
    rules = settings_for(agent)
    if not rules.enabled:
        return []
    raised = []
    for measure in measurements(agent, now, signals=signals):
        if not measure.over or measure.value is None:
            continue
        previous = last_alert(agent.pk, measure.signal)
        if previous is not None and previous.created_at > now - timedelta(
            minutes=rules.cooldown_minutes
        ):
            continue
        if (
            measure.signal == Signal.NO_BREAK
            and previous is not None
            and previous.created_at > now - timedelta(minutes=measure.value)
        ):
            continue  # already suggested in this stretch of work
        raised.append(_raise(agent, measure, now))
    return raised


def _raise(agent: User, measure: Measure, now: datetime) -> WellbeingAlert:
    with transaction.atomic():
        alert = WellbeingAlert.objects.create(
            agent=agent,
            signal=measure.signal,
            value=float(measure.value or 0),
            threshold=float(measure.threshold),
            created_at=now,
        )
        payload = present_alert(alert)
        send_event_on_commit(
            Event(EventType.WELLBEING_SUGGESTION, staff={"alert": payload}),
            Recipients(staff=frozenset({user_group(agent.pk)})),
        )
        supervisors = supervisor_ids(agent.pk)
        if supervisors:
            send_event_on_commit(
                Event(
                    EventType.WELLBEING_ALERT,
                    staff={"alert": payload, "agent": {"id": agent.pk, "name": agent.name}},
                ),
                Recipients(staff=frozenset(user_group(pk) for pk in supervisors)),
            )
    return alert


def sweep_agents(now: datetime) -> int:
    """The periodic check of the time since each working agent's last break, and the purge of
    what is kept no longer (typing minutes after 24 hours, moods and alerts after 30 days).
    Returns the number of alerts raised."""
    agent_ids = list(
        PresenceSpan.objects.filter(
            ended_at__isnull=True, presence__in=WORKING, user__is_active=True
        ).values_list("user_id", flat=True)
    )
    raised = 0
    if agent_ids:
        # A handful of queries whatever the number of agents; only those past their team's
        # threshold and not yet told in this stretch of work are evaluated one by one.
        rules = settings_by_agent(agent_ids)
        starts = work_started_many(
            agent_ids, now, {a: timedelta(minutes=r.min_break_minutes) for a, r in rules.items()}
        )
        due = [
            a
            for a in agent_ids
            if rules[a].enabled
            and (start := starts[a]) is not None
            and now - start >= timedelta(minutes=rules[a].break_minutes)
        ]
        told = last_alerts(due, Signal.NO_BREAK) if due else {}
        due = [a for a in due if told.get(a) is None or told[a] <= cast(datetime, starts[a])]
        for agent in User.objects.filter(pk__in=due):
            raised += len(evaluate_agent(agent, now, signals={Signal.NO_BREAK}))
    TypingMinute.objects.filter(minute__lt=now - TYPING_RETENTION).delete()
    ConversationMood.objects.filter(resolved_at__lt=now - RETENTION).delete()
    WellbeingAlert.objects.filter(created_at__lt=now - RETENTION).delete()
    return raised
