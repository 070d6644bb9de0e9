"""Wellbeing in the JSON API (docs/analytics.md, "Wellbeing"):

- `GET /api/v1/wellbeing/me` — what is measured about you: each signal's value and threshold,
  whether typing rhythm is measured, your open suggestion;
- `PUT /api/v1/wellbeing/me/typing` — turn typing-rhythm measuring on or off (off deletes it);
- `POST /api/v1/wellbeing/typing` — one minute of your typing rhythm, aggregated by the desk:
  `{keys, corrections, pause_variance}` and nothing else (403 unless you opted in);
- `POST /api/v1/wellbeing/suggestions/{id}/dismiss` — put your suggestion away;
- `GET /api/v1/wellbeing/alerts` — alerts about the agents of the teams you supervise;
- `POST /api/v1/wellbeing/alerts/{id}/acknowledge`;
- `GET|PUT /api/v1/wellbeing/teams/{id}/settings` — a team's thresholds (its supervisors and
  admins).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, cast

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema
from pydantic import ConfigDict, StrictBool, StrictFloat

from teamline.accounts.models import User
from teamline.core.apischema import MAX_ID, errors

from .access import access_settings_team
from .actions import (
    MAX_KEYS_PER_MINUTE,
    MAX_PAUSE_VARIANCE,
    do_acknowledge_alert,
    do_dismiss_suggestion,
    do_record_typing_minute,
    do_set_typing_opt_in,
    do_set_wellbeing_settings,
)
from .queries import (
    alerts_for,
    measurements,
    open_suggestion,
    present_alert,
    team_settings,
    typing_opted_in,
)

router = Router(tags=["wellbeing"])

MAX_LIMIT = 200


class MeasureOut(Schema):
    signal: str = Field(description="negative_run, no_break, long_handle or typing_strain.")
    value: float | None = Field(description="Now; null when there is not enough data.")
    threshold: float
    over: bool


class AlertOut(Schema):
    id: int
    signal: str
    value: float
    threshold: float
    created_at: datetime
    dismissed: bool
    acknowledged: bool


class MyWellbeingOut(Schema):
    measures: list[MeasureOut]
    typing_opt_in: bool
    suggestion: AlertOut | None


class OptIn(Schema):
    model_config = ConfigDict(extra="forbid")
    on: StrictBool


class TypingIn(Schema):
    """One minute's aggregate. Anything else (keys, texts, timings) is refused (422)."""

    model_config = ConfigDict(extra="forbid")
    keys: int = Field(ge=0, le=MAX_KEYS_PER_MINUTE, description="Keys pressed in the minute.")
    corrections: int = Field(ge=0, le=MAX_KEYS_PER_MINUTE, description="Backspace and Delete.")
    pause_variance: StrictFloat = Field(
        ge=0, le=MAX_PAUSE_VARIANCE, description="Variance of the pauses between keys, s²."
    )


class TypingOut(Schema):
    minute: datetime
    keys: int
    corrections_ratio: float
    pause_variance: float


class AlertParams(Schema):
    open: bool = Field(False, description="Only alerts no supervisor acknowledged yet.")
    limit: int = Field(50, ge=1, le=MAX_LIMIT)


class SupervisedAlertOut(AlertOut):
    agent_id: int
    agent_name: str


def _me(actor: User) -> dict[str, Any]:
    suggestion = open_suggestion(actor)
    return {
        "measures": [m.__dict__ for m in measurements(actor, timezone.now())],
        "typing_opt_in": typing_opted_in(actor),
        "suggestion": present_alert(suggestion) if suggestion else None,
    }


@router.get(
    "/me",
    response={200: MyWellbeingOut, **errors()},
    summary="What is measured about me",
    operation_id="get_my_wellbeing",
)
def me(request: HttpRequest) -> Any:
    """Each wellbeing signal measured about you, its current value and its threshold, whether
    your typing rhythm is measured, and your open suggestion."""
    return _me(cast(User, request.auth))  # type: ignore[attr-defined]


@router.put(
    "/me/typing",
    response={200: MyWellbeingOut, **errors(400, 422)},
    summary="Turn typing-rhythm measuring on or off",
    operation_id="set_my_typing_opt_in",
)
def set_typing(request: HttpRequest, body: OptIn) -> Any:
    """Opt in to (or out of) typing-rhythm measuring; opting out deletes what was stored."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    do_set_typing_opt_in(actor, body.on, actor=actor)
    return _me(actor)


@router.post(
    "/typing",
    response={200: TypingOut, **errors(400, 403, 422)},
    summary="Record a minute of my typing rhythm",
    operation_id="record_typing_minute",
)
def record_typing(request: HttpRequest, body: TypingIn) -> Any:
    """The desk's aggregate of one minute of your typing (counts and a variance, never keys);
    403 unless you opted in. A second post in the same minute returns the first."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    return do_record_typing_minute(
        keys=body.keys,
        corrections=body.corrections,
        pause_variance=body.pause_variance,
        actor=actor,
    )


SuggestionId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The suggestion's id.")]
AlertId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The alert's id.")]


@router.post(
    "/suggestions/{suggestion_id}/dismiss",
    response={200: AlertOut, **errors(404, 422)},
    summary="Dismiss my suggestion",
    operation_id="dismiss_wellbeing_suggestion",
)
def dismiss(request: HttpRequest, suggestion_id: SuggestionId) -> Any:
    """Put away a suggestion made to you; 404 for anyone else's."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    return present_alert(do_dismiss_suggestion(actor, suggestion_id))


@router.get(
    "/alerts",
    response={200: list[SupervisedAlertOut], **errors(422)},
    summary="Wellbeing alerts about my teams' agents",
    operation_id="list_wellbeing_alerts",
)
def list_alerts(request: HttpRequest, params: Query[AlertParams]) -> Any:
    """Alerts about the agents of the teams you supervise (admins: all), newest first; an
    empty list for everyone else."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    found = alerts_for(actor)
    if params.open:
        found = found.filter(acknowledged_at__isnull=True)
    return [
        {**present_alert(a), "agent_id": a.agent_id, "agent_name": a.agent.name}
        for a in found.order_by("-created_at", "-pk")[: params.limit]
    ]


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response={200: AlertOut, **errors(404, 422)},
    summary="Acknowledge a wellbeing alert",
    operation_id="acknowledge_wellbeing_alert",
)
def acknowledge(request: HttpRequest, alert_id: AlertId) -> Any:
    """Note that you have seen an alert about one of your teams' agents; 404 otherwise."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    return present_alert(do_acknowledge_alert(actor, alert_id))


class SettingsOut(Schema):
    team_id: int
    enabled: bool
    negative_run: int = Field(description="Negative handled conversations in a row.")
    negative_mean: float = Field(description="A conversation whose mean is ≤ this is negative.")
    break_minutes: int = Field(description="Minutes of work without a break.")
    min_break_minutes: int = Field(description="The shortest absence that counts as a break.")
    handle_factor: float = Field(description="Latest handle time ÷ the agent's own median.")
    typing_corrections: float = Field(description="Mean share of corrections (opt-in only).")
    cooldown_minutes: int = Field(description="The same signal is not raised again within this.")


class SettingsIn(Schema):
    model_config = ConfigDict(extra="forbid")
    enabled: StrictBool | None = None
    negative_run: int | None = Field(None, ge=2, le=20)
    negative_mean: StrictFloat | None = Field(None, ge=-5.0, le=0.0)
    break_minutes: int | None = Field(None, ge=15, le=600)
    min_break_minutes: int | None = Field(None, ge=1, le=60)
    handle_factor: StrictFloat | None = Field(None, ge=1.2, le=10.0)
    typing_corrections: StrictFloat | None = Field(None, ge=0.05, le=1.0)
    cooldown_minutes: int | None = Field(None, ge=5, le=480)


TeamId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The team's id.")]


@router.get(
    "/teams/{team_id}/settings",
    response={200: SettingsOut, **errors(404, 422)},
    summary="A team's wellbeing thresholds",
    operation_id="get_wellbeing_settings",
)
def get_settings(request: HttpRequest, team_id: TeamId) -> Any:
    """The thresholds that raise suggestions and alerts for the team's agents (defaults until
    changed); for the team's supervisors and admins, 404 for anyone else."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    return team_settings(access_settings_team(actor, team_id))


@router.put(
    "/teams/{team_id}/settings",
    response={200: SettingsOut, **errors(400, 404, 422)},
    summary="Change a team's wellbeing thresholds",
    operation_id="set_wellbeing_settings",
)
def put_settings(request: HttpRequest, team_id: TeamId, body: SettingsIn) -> Any:
    """Change some of the team's thresholds (fields left out keep their value)."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    team = access_settings_team(actor, team_id)
    values = body.model_dump(exclude_none=True)
    return do_set_wellbeing_settings(team, actor=actor, **values)
