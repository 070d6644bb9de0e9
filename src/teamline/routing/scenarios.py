"""What the routing simulator runs (`simulator.py`): a contact center as plain data — teams with
their hours and holidays, agents with skills, languages, capacity and shifts, Poisson streams
of contacts, the routing policy — built in code (`simple_scenario`) or read from a JSON or TOML
file (`load_scenario`; docs/routing.md, "Simulation")."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from . import engine

DEFAULT_START = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)  # a Monday

WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


# --- Scenario -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamSpec:
    name: str
    timezone: str = "UTC"
    # (weekday 0=Monday, opens, closes), as teams.hours.Calendar; empty = around the clock.
    hours: tuple[tuple[int, time, time], ...] = ()
    holidays: tuple[date, ...] = ()
    country: str = ""
    service_mode: str = "normal"
    holiday_mode: str = "closed"
    fallback: str | None = None
    surge_queue_length: int | None = None


@dataclass(frozen=True)
class AgentSpec:
    name: str
    teams: tuple[str, ...]
    skills: Mapping[str, int] = field(default_factory=dict)
    languages: tuple[str, ...] = ()
    capacity: Mapping[str, int] = field(default_factory=lambda: {"voice": 1})
    # Daily shift in the agent's first team's time zone (starts, ends); None = always on.
    shift: tuple[time, time] | None = None
    wrap_up_seconds: float = 0.0


@dataclass(frozen=True)
class StreamSpec:
    """A Poisson stream of contacts for one home team."""

    team: str | None
    rate_per_hour: float
    channel_kind: str = "voice"
    aht: float = 300.0
    handle: str = "exponential"  # or "lognormal"
    handle_cv: float = 1.0  # lognormal only
    patience: float | None = None  # mean seconds; None = nobody abandons
    # 24 multipliers of rate_per_hour, by hour of the day in the scenario's time zone.
    profile: tuple[float, ...] | None = None
    priorities: Mapping[int, float] = field(default_factory=lambda: {engine.NORMAL: 1.0})
    vip_share: float = 0.0
    skills: Mapping[str, int] = field(default_factory=dict)
    language: str = ""
    # Share of contacts from a returning customer whose last agent is one of the team's.
    returning_share: float = 0.0
    policy: engine.Policy | None = None


@dataclass(frozen=True)
class Scenario:
    teams: tuple[TeamSpec, ...]
    agents: tuple[AgentSpec, ...]
    streams: tuple[StreamSpec, ...]
    policy: engine.Policy = engine.DEFAULT_POLICY
    hours: float = 8.0
    warmup_hours: float = 0.5
    start: datetime = DEFAULT_START
    timezone: str = "UTC"
    target_seconds: float = 20.0
    seed: int = 1
    # Points in the queue-length series (sampled at a fixed interval).
    samples: int = 1000
    batches: int = 20
    confidence: float = 0.95
    targets: Mapping[tuple[str, int], tuple[int, int]] | None = None


def simple_scenario(
    *,
    agents: int = 10,
    teams: int = 1,
    rate: float = 96.0,
    aht: float = 300.0,
    patience: float | None = None,
    hours: float = 8.0,
    warmup_hours: float = 0.5,
    seed: int = 1,
    policy: engine.Policy = engine.DEFAULT_POLICY,
    channel_kind: str = "voice",
    handle: str = "exponential",
    handle_cv: float = 1.0,
    target_seconds: float = 20.0,
    profile: Sequence[float] | None = None,
    batches: int = 20,
    confidence: float = 0.95,
) -> Scenario:
    """`teams` teams open around the clock, `agents` single-skilled agents spread evenly over
    them (capacity 1 of `channel_kind`), and `rate` contacts an hour split evenly."""
    names = [f"Team {i + 1}" for i in range(teams)]
    return Scenario(
        teams=tuple(TeamSpec(name) for name in names),
        agents=tuple(
            AgentSpec(f"agent {i + 1}", (names[i % teams],), capacity={channel_kind: 1})
            for i in range(agents)
        ),
        streams=tuple(
            StreamSpec(
                team=name,
                rate_per_hour=rate / teams,
                channel_kind=channel_kind,
                aht=aht,
                handle=handle,
                handle_cv=handle_cv,
                patience=patience,
                profile=tuple(profile) if profile else None,
            )
            for name in names
        ),
        policy=policy,
        hours=hours,
        warmup_hours=warmup_hours,
        seed=seed,
        target_seconds=target_seconds,
        batches=batches,
        confidence=confidence,
    )


# --- Scenario files -------------------------------------------------------------------------


NAMED_POLICIES: dict[str, engine.Policy] = {
    "default": engine.DEFAULT_POLICY,
    # Wait for the home team only, however long it takes.
    "team-only": engine.Policy(name="Team only", steps=(engine.Step(engine.HOME_TEAM),)),
    # One pool: every team from the start.
    "pooled": engine.Policy(name="Pooled", steps=(engine.Step(engine.NATIONAL_POOL),)),
}


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours) % 24, int(minutes))


def _days(value: str | int) -> list[int]:
    if isinstance(value, int):
        return [value]
    text = value.strip().lower()
    if text in ("daily", "all", "*"):
        return list(range(7))
    days: list[int] = []
    for part in text.split(","):
        if "-" in part:
            first, last = (WEEKDAYS[p.strip()[:3]] for p in part.split("-"))
            days += list(range(first, last + 1))
        else:
            days.append(WEEKDAYS[part.strip()[:3]])
    return days


def _policy_from(spec: Any, team_ids: Mapping[str, int]) -> engine.Policy:
    if spec is None:
        return engine.DEFAULT_POLICY
    if isinstance(spec, str):
        if spec not in NAMED_POLICIES:
            raise ValueError(f"unknown policy {spec!r}; named policies: {sorted(NAMED_POLICIES)}")
        return NAMED_POLICIES[spec]
    steps = tuple(
        engine.Step(
            kind=step["kind"],
            timeout_seconds=step.get("timeout"),
            skip_when_closed=step.get("skip_when_closed", True),
            leave_when_saturated=step.get("leave_when_saturated", True),
            only_when_saturated=step.get("only_when_saturated", False),
            required_skills=dict(step.get("skills", {})),
            min_proficiency=int(step.get("min_proficiency", 1)),
            target_team_ids=tuple(sorted(team_ids[name] for name in step.get("targets", ()))),
        )
        for step in spec.get("steps", ())
    )
    return engine.Policy(
        name=spec.get("name", "Scenario policy"),
        steps=steps or engine.DEFAULT_POLICY.steps,
        required_skills=dict(spec.get("required_skills", {})),
        match_language=spec.get("match_language", True),
        language_relax_seconds=spec.get("language_relax_seconds", 300),
    )


def scenario_from_dict(data: Mapping[str, Any], **overrides: Any) -> Scenario:
    """Build a scenario from parsed JSON/TOML (see docs/routing.md, "Simulation")."""
    teams = tuple(
        TeamSpec(
            name=t["name"],
            timezone=t.get("timezone", "UTC"),
            hours=tuple(
                (day, _clock(opens), _clock(closes))
                for days, opens, closes in t.get("hours", ())
                for day in _days(days)
            ),
            holidays=tuple(date.fromisoformat(d) for d in t.get("holidays", ())),
            country=t.get("country", ""),
            service_mode=t.get("service_mode", "normal"),
            holiday_mode=t.get("holiday_mode", "closed"),
            fallback=t.get("fallback"),
            surge_queue_length=t.get("surge_queue_length"),
        )
        for t in data["teams"]
    )
    team_ids = {team.name: index + 1 for index, team in enumerate(teams)}
    agents: list[AgentSpec] = []
    for group in data["agents"]:
        count = int(group.get("count", 1))
        shift = group.get("shift")
        for n in range(count):
            agents.append(
                AgentSpec(
                    name=group.get("name", "agent") + (f" {n + 1}" if count > 1 else ""),
                    teams=tuple(group["teams"]),
                    skills=dict(group.get("skills", {})),
                    languages=tuple(group.get("languages", ())),
                    capacity=dict(group.get("capacity", {"voice": 1})),
                    shift=(_clock(shift[0]), _clock(shift[1])) if shift else None,
                    wrap_up_seconds=float(group.get("wrap_up_seconds", 0)),
                )
            )
    priority_names = {name: level for level, name in engine.PRIORITY_NAMES.items()}
    streams = tuple(
        StreamSpec(
            team=s.get("team"),
            rate_per_hour=float(s["rate"]),
            channel_kind=s.get("channel", "voice"),
            aht=float(s.get("aht", 300)),
            handle=s.get("handle", "exponential"),
            handle_cv=float(s.get("cv", 1.0)),
            patience=s.get("patience"),
            profile=tuple(float(x) for x in s["profile"]) if s.get("profile") else None,
            priorities={
                priority_names[name]: float(share)
                for name, share in s.get("priorities", {"normal": 1.0}).items()
            },
            vip_share=float(s.get("vip_share", 0.0)),
            skills=dict(s.get("skills", {})),
            language=s.get("language", ""),
            returning_share=float(s.get("returning_share", 0.0)),
            policy=_policy_from(s["policy"], team_ids) if s.get("policy") else None,
        )
        for s in data["streams"]
    )
    fields: dict[str, Any] = {
        "teams": teams,
        "agents": tuple(agents),
        "streams": streams,
        "policy": _policy_from(data.get("policy"), team_ids),
    }
    for key in ("hours", "warmup_hours", "target_seconds", "seed", "samples", "batches"):
        if key in data:
            fields[key] = data[key]
    if "confidence" in data:
        fields["confidence"] = float(data["confidence"])
    if "timezone" in data:
        fields["timezone"] = data["timezone"]
    if "start" in data:
        fields["start"] = datetime.fromisoformat(data["start"])
    fields.update({key: value for key, value in overrides.items() if value is not None})
    return Scenario(**fields)


def load_scenario(path: str | Path, **overrides: Any) -> Scenario:
    """A scenario from a .json or .toml file; keyword overrides replace top-level settings."""
    path = Path(path)
    text = path.read_text()
    data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    return scenario_from_dict(data, **overrides)
