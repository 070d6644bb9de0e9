"""The routing engine's decision layer: pure functions over plain data and an injected clock.

Nothing here touches the database or reads the wall clock. Given a work item, its policy, a
`Context` (the instant `now`, the calendars of the teams involved, the online agents and which
teams are in surge), the engine decides

  - `place(item, policy, ctx)`        where the item stands: its step, pool, next check and why;
  - `eligible_agents(item, placement, ctx)` who may take it now, best first;
  - `decide(item, policy, ctx)`       both, plus the chosen agent and the reason;
  - `agent_can_take(agent, item, placement_like, ctx)` the same rule seen from a free agent;
  - `rank_at(...)` / `effective_priority(...)` the aging order of the queue;
  - `explain(item, placement, policy, ctx)` the sentence a supervisor reads.

routing/actions.py loads the data, asks the engine and applies its answer race-free; the
simulator calls the same functions with its own clock.

Policy semantics: steps are tried in order; an item stays in a step until an agent takes it,
the step's timeout passes, or its conditions end it (team not serving the item, saturated).
Each step *widens* the pool: the teams of every step up to the current one stay eligible
(a team that is closed simply admits nothing until it opens). The sticky last-agent step is
exclusive while it lasts. The after-hours step adds the home team's fallback team and, when
nobody can serve the item now, yields an honest promise of when a human will answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from teamline.core.languages import normalize_tag, supported_language
from teamline.teams.hours import Calendar, admits, format_local, mode_at, next_opening_at

# Step kinds (values of routing.models.StepKind, spelled here so the engine stays plain).
LAST_AGENT = "last_agent"
HOME_TEAM = "home_team"
OVERFLOW_TEAMS = "overflow_teams"
NATIONAL_POOL = "national_pool"
AFTER_HOURS = "after_hours"

# Pool scopes.
SCOPE_AGENT = "agent"
SCOPE_TEAMS = "teams"
SCOPE_ALL = "all"

LOW, NORMAL, HIGH, URGENT = -1, 0, 1, 2
AVAILABLE = "available"
OFFLINE = "offline"
PRIORITY_NAMES = {LOW: "low", NORMAL: "normal", HIGH: "high", URGENT: "urgent"}

# Every queued item is looked at again at least this often (safety net for state the engine
# is not told about, e.g. a team losing its last online member).
MAX_RECHECK_SECONDS = 300

# Service-level targets (channel kind, priority) → (percent, seconds); ServiceLevelTarget rows
# override them. Aging orders the queue by each item's deadline, so urgent and VIP items come
# first and a long wait eventually beats any newcomer: nothing starves.
# The normal-priority seconds are also each queue's service-level threshold T in the KPIs
# (docs/analytics.md): 20 s voice and video, 60 s chat, 1 h email; migration 0007 stores them.
DEFAULT_TARGETS: dict[tuple[str, int], tuple[int, int]] = {
    ("voice", LOW): (80, 30),
    ("voice", NORMAL): (80, 20),
    ("voice", HIGH): (85, 15),
    ("voice", URGENT): (90, 10),
    ("video", LOW): (80, 30),
    ("video", NORMAL): (80, 20),
    ("video", HIGH): (85, 15),
    ("video", URGENT): (90, 10),
    ("chat", LOW): (90, 120),
    ("chat", NORMAL): (90, 60),
    ("chat", HIGH): (90, 45),
    ("chat", URGENT): (95, 30),
    ("email", LOW): (90, 2 * 3600),
    ("email", NORMAL): (90, 3600),
    ("email", HIGH): (90, 1800),
    ("email", URGENT): (95, 900),
}
FALLBACK_TARGET_SECONDS = 300
# Head start (seconds of virtual waiting) on top of the shorter target; low starts behind, but
# its deadline still comes, so it ages past newer normal items and never starves.
PRIORITY_HEADSTART = {LOW: -60, NORMAL: 0, HIGH: 60, URGENT: 300}
VIP_HEADSTART = 120


@dataclass(frozen=True)
class Step:
    kind: str
    timeout_seconds: int | None = None
    skip_when_closed: bool = True
    leave_when_saturated: bool = True
    only_when_saturated: bool = False
    required_skills: Mapping[str, int] = field(default_factory=dict)
    min_proficiency: int = 1
    # Overflow teams; empty = every other team.
    target_team_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Policy:
    name: str = "Default"
    steps: tuple[Step, ...] = ()
    required_skills: Mapping[str, int] = field(default_factory=dict)
    match_language: bool = True
    language_relax_seconds: int | None = 300
    give_back_kinds: frozenset[str] = frozenset({"chat", "voice"})
    offline_grace_seconds: int = 60


DEFAULT_POLICY = Policy(
    name="Default",
    steps=(
        Step(LAST_AGENT, timeout_seconds=60),
        Step(HOME_TEAM, timeout_seconds=180),
        Step(OVERFLOW_TEAMS),
        Step(AFTER_HOURS),
    ),
)
# A customer who opted out of their dedicated team goes to the general pool.
# Every other team first; their own team only when nobody else has anyone online for them, so
# nobody is stranded by the choice.
GENERAL_POOL_STEPS = (Step(OVERFLOW_TEAMS), Step(HOME_TEAM), Step(AFTER_HOURS))


@dataclass(frozen=True)
class Item:
    """What routing knows about a work item (a snapshot of routing.models.WorkItem)."""

    channel_kind: str
    enqueued_at: datetime
    id: int | None = None
    priority: int = NORMAL
    vip: bool = False
    required_skills: Mapping[str, int] = field(default_factory=dict)
    language: str = ""
    home_team_id: int | None = None
    last_agent_id: int | None = None
    step_index: int = 0
    step_entered_at: datetime | None = None
    opt_out_of_team: bool = False
    promised_at: datetime | None = None
    # Agents who declined this item (did not take the call offered to them): never offered it
    # again; explicit transfers and reassignments still may give it to them.
    declined_by: frozenset[int] = frozenset()

    @property
    def urgent(self) -> bool:
        return self.priority >= URGENT


@dataclass(frozen=True)
class Agent:
    """What routing knows about an agent right now."""

    id: int
    name: str = ""
    presence: str = AVAILABLE
    active: bool = True
    languages: tuple[str, ...] = ()
    skills: Mapping[str, int] = field(default_factory=dict)
    capacity: Mapping[str, int] = field(default_factory=dict)
    load: Mapping[str, int] = field(default_factory=dict)
    last_assigned_at: datetime | None = None
    wrap_up_until: datetime | None = None
    team_ids: frozenset[int] = frozenset()

    @property
    def online(self) -> bool:
        return self.active and self.presence != OFFLINE

    def free(self, kind: str) -> int:
        return max(int(self.capacity.get(kind, 0)) - int(self.load.get(kind, 0)), 0)

    def available_at(self, now: datetime) -> bool:
        return (
            self.active
            and self.presence == AVAILABLE
            and (self.wrap_up_until is None or self.wrap_up_until <= now)
        )


@dataclass
class Context:
    """The world at one instant. `agents` holds every *online* agent of the teams the policy
    can reach (and the item's last agent if online); `calendars` every team involved."""

    now: datetime
    calendars: Mapping[int, Calendar]
    agents: Mapping[int, Agent]
    surging: frozenset[int] = frozenset()
    # Optional: per team, the distinct (languages, skills) of its *online* members. When given,
    # saturation is read from it instead of `agents`, so `agents` may hold only the candidates
    # who could take the item (bounded loading, routing/queries.py) with the same answers.
    rosters: Mapping[int, tuple[tuple[tuple[str, ...], Mapping[str, int]], ...]] | None = None
    _modes: dict[int, str] = field(default_factory=dict, repr=False)

    def mode(self, team_id: int) -> str:
        if team_id not in self._modes:
            calendar = self.calendars.get(team_id)
            # A team the context does not know about is treated as serving normally.
            self._modes[team_id] = mode_at(calendar, self.now) if calendar else "normal"
        return self._modes[team_id]

    def admits(self, team_id: int, item: Item) -> bool:
        return admits(self.mode(team_id), urgent=item.urgent)

    def team_name(self, team_id: int) -> str:
        calendar = self.calendars.get(team_id)
        return calendar.name if calendar else f"team #{team_id}"


@dataclass(frozen=True)
class Placement:
    """Where an item stands in its policy at `ctx.now`."""

    step_index: int
    step_count: int
    step: Step
    entered_at: datetime
    scope: str
    agent_id: int | None
    team_ids: frozenset[int]
    next_check_at: datetime | None
    language: str
    skills: Mapping[str, int]
    reason: str
    # Nobody may serve the item now (after hours, urgent matters only): when a human will.
    promise_at: datetime | None = None
    serving_now: bool = True
    moved: bool = False
    # Scope "all" minus this team (a customer who opted out of their own team).
    excluded_team_id: int | None = None


@dataclass(frozen=True)
class Decision:
    placement: Placement
    eligible: tuple[int, ...]
    agent_id: int | None
    reason: str


# --- Aging ----------------------------------------------------------------------------------


def target_seconds(
    channel_kind: str, priority: int, targets: Mapping[tuple[str, int], tuple[int, int]] | None
) -> int:
    table = DEFAULT_TARGETS if targets is None else {**DEFAULT_TARGETS, **targets}
    found = table.get((channel_kind, priority))
    return found[1] if found else FALLBACK_TARGET_SECONDS


def rank_at(
    enqueued_at: datetime,
    channel_kind: str,
    priority: int,
    vip: bool,
    targets: Mapping[tuple[str, int], tuple[int, int]] | None = None,
) -> datetime:
    """The item's deadline in the queue order (earliest first): its service-level target after
    it arrived, minus a head start for priority and VIP. Ordering by this fixed key equals
    ordering by `effective_priority` at any instant, so the queue can be an index."""
    seconds = target_seconds(channel_kind, priority, targets)
    seconds -= PRIORITY_HEADSTART.get(priority, 0) + (VIP_HEADSTART if vip else 0)
    return enqueued_at + timedelta(seconds=seconds)


def effective_priority(
    item: Item, now: datetime, targets: Mapping[tuple[str, int], tuple[int, int]] | None = None
) -> float:
    """Base priority (VIP/urgent head start, tighter target) plus time waited, in seconds:
    higher goes first, and it grows with waiting so nothing starves."""
    deadline = rank_at(item.enqueued_at, item.channel_kind, item.priority, item.vip, targets)
    return (now - deadline).total_seconds()


# --- Matching -------------------------------------------------------------------------------


def primary_language(code: str) -> str:
    """The language an agent must speak for a tag: one of Teamline's six (core.languages' map:
    zh-TW → zh-hant, no → nb, pt-BR → pt), else the tag's primary subtag (de-AT → de)."""
    return supported_language(code) or normalize_tag(code).split("-", 1)[0]


def agent_languages(codes: Iterable[str]) -> set[str]:
    """The languages an agent's list covers, as primary_language writes them. A bare `zh`
    (Chinese, no script named) covers both scripts: customers are told apart by the script they
    read (zh-TW → zh-hant), agents who list `zh` read either."""
    covered: set[str] = set()
    for code in codes:
        if normalize_tag(code) == "zh":
            covered |= {"zh-hans", "zh-hant"}
        elif code:
            covered.add(primary_language(code))
    return covered


def speaks(agent: Agent, language: str) -> bool:
    return speaks_any(agent.languages, language)


def speaks_any(languages: Iterable[str], language: str) -> bool:
    if not language:
        return True
    return primary_language(language) in agent_languages(languages)


def has_skills(agent: Agent, skills: Mapping[str, int]) -> bool:
    return skilled(agent.skills, skills)


def skilled(known: Mapping[str, int], skills: Mapping[str, int]) -> bool:
    return all(int(known.get(skill, 0)) >= int(level) for skill, level in skills.items())


def effective_skills(item: Item, policy: Policy, step: Step) -> dict[str, int]:
    """Skills the item needs at this step: inbox (policy), item and step, each at least the
    step's minimum proficiency."""
    needed: dict[str, int] = {}
    for source in (policy.required_skills, item.required_skills, step.required_skills):
        for skill, level in source.items():
            needed[skill] = max(needed.get(skill, 0), int(level))
    floor = max(int(step.min_proficiency), 1)
    return {skill: max(level, floor) for skill, level in needed.items()}


def language_required(item: Item, policy: Policy, now: datetime) -> str:
    if not item.language or not policy.match_language:
        return ""
    if policy.language_relax_seconds is not None and now >= item.enqueued_at + timedelta(
        seconds=policy.language_relax_seconds
    ):
        return ""
    return primary_language(item.language)


def can_serve(agent: Agent, skills: Mapping[str, int], language: str) -> bool:
    return speaks(agent, language) and has_skills(agent, skills)


def saturated(
    team_id: int, item: Item, skills: Mapping[str, int], language: str, ctx: Context
) -> bool:
    """A team is saturated for an item when it is in surge or nobody online in it could serve
    the item (skills and language)."""
    if team_id in ctx.surging:
        return True
    if ctx.rosters is not None:
        return not any(
            speaks_any(languages, language) and skilled(known, skills)
            for languages, known in ctx.rosters.get(team_id, ())
        )
    return not any(
        agent.online and team_id in agent.team_ids and can_serve(agent, skills, language)
        for agent in ctx.agents.values()
    )


# --- Placement ------------------------------------------------------------------------------


def steps_for(item: Item, policy: Policy) -> tuple[Step, ...]:
    if item.opt_out_of_team:
        return GENERAL_POOL_STEPS
    return policy.steps or DEFAULT_POLICY.steps


def _step_teams(step: Step, item: Item, ctx: Context) -> tuple[set[int], bool]:
    """(teams the step adds to the pool, whether it adds every team)."""
    if step.kind == HOME_TEAM:
        return ({item.home_team_id} if item.home_team_id else set()), False
    if step.kind == OVERFLOW_TEAMS:
        if step.target_team_ids:
            return set(step.target_team_ids), False
        return set(), True
    if step.kind == NATIONAL_POOL:
        return set(), True
    if step.kind == AFTER_HOURS:
        calendar = ctx.calendars.get(item.home_team_id) if item.home_team_id else None
        if calendar and calendar.fallback_team_id:
            return {calendar.fallback_team_id}, False
    return set(), False


def _all_team_ids(ctx: Context, item: Item) -> set[int]:
    return {team_id for team_id in ctx.calendars if team_id != item.home_team_id}


def _verdict(
    step: Step, item: Item, policy: Policy, ctx: Context, entered_at: datetime
) -> tuple[str, str, datetime | None]:
    """('stay' | 'skip' | 'leave', why, when the step times out)."""
    now = ctx.now
    skills = effective_skills(item, policy, step)
    language = language_required(item, policy, now)
    timeout_at = (
        entered_at + timedelta(seconds=step.timeout_seconds)
        if step.timeout_seconds is not None
        else None
    )
    if step.kind == AFTER_HOURS:
        return "stay", "after hours", None
    home = item.home_team_id
    home_saturated = home is None or saturated(home, item, skills, language, ctx)
    if step.only_when_saturated and not home_saturated:
        return "skip", "the home team is not saturated", None
    if step.kind == LAST_AGENT:
        agent = ctx.agents.get(item.last_agent_id) if item.last_agent_id else None
        if agent is None or not agent.online:
            return "skip", "last agent is not online", None
        if agent.team_ids and not any(ctx.admits(team, item) for team in agent.team_ids):
            return "skip", f"{agent.name or 'the last agent'}'s team is not serving", None
        if not can_serve(agent, skills, language):
            return "skip", "last agent lacks the skills or language", None
        if timeout_at is not None and now >= timeout_at:
            return "leave", f"{agent.name or 'the last agent'} was not free in time", timeout_at
        return "stay", "", timeout_at
    if step.kind == HOME_TEAM and home is None:
        return "skip", "the customer has no home team", None
    teams, every = _step_teams(step, item, ctx)
    if every:
        teams = _all_team_ids(ctx, item) if step.kind == OVERFLOW_TEAMS else set(ctx.calendars)
    if not teams:
        return "skip", "no team to overflow to", None
    label = _teams_label(teams, ctx, every)
    if step.skip_when_closed and not any(ctx.admits(team, item) for team in teams):
        what = "urgent matters only" if _any_limited(teams, ctx) else "closed"
        return "skip", f"{label} {'is' if len(teams) == 1 else 'are'} {what}", None
    if timeout_at is not None and now >= timeout_at:
        return "leave", f"waited {step.timeout_seconds} s for {label}", timeout_at
    if step.leave_when_saturated and all(
        saturated(team, item, skills, language, ctx) for team in teams
    ):
        surge = [team for team in teams if team in ctx.surging]
        why = "in surge" if surge else "has nobody online for this item"
        return "leave", f"{label} {why}", None
    return "stay", "", timeout_at


def _home_saturated(item: Item, policy: Policy, step: Step, ctx: Context) -> bool:
    if item.home_team_id is None:
        return True
    skills = effective_skills(item, policy, step)
    return saturated(item.home_team_id, item, skills, language_required(item, policy, ctx.now), ctx)


def _any_limited(teams: Iterable[int], ctx: Context) -> bool:
    return any(ctx.mode(team) == "limited" for team in teams)


def _teams_label(teams: Iterable[int], ctx: Context, every: bool = False) -> str:
    if every:
        return "every team"
    names = sorted(ctx.team_name(team) for team in teams)
    if len(names) == 1:
        return f"team {names[0]}"
    return "teams " + ", ".join(names)


def place(item: Item, policy: Policy, ctx: Context) -> Placement:
    """Walk the item's policy from its current step to where it belongs at `ctx.now`."""
    now = ctx.now
    steps = steps_for(item, policy)
    index = min(item.step_index, len(steps) - 1)
    entered = item.step_entered_at or item.enqueued_at
    reasons: list[str] = []
    moved = False
    timeout_at: datetime | None = None
    while True:
        verdict, why, timeout_at = _verdict(steps[index], item, policy, ctx, entered)
        if verdict == "stay" or index == len(steps) - 1:
            break
        reasons.append(why)
        # A timeout moves the clock of the next step to when it passed, not to when we looked.
        entered = timeout_at if verdict == "leave" and timeout_at is not None else now
        index += 1
        moved = True
    step = steps[index]
    # The pool: every team of the steps up to this one (closed teams admit nothing).
    teams: set[int] = set()
    every = False
    for position, earlier in enumerate(steps[: index + 1]):
        if (
            earlier.only_when_saturated
            and position != index
            and not _home_saturated(item, policy, earlier, ctx)
        ):
            continue  # a step the conditions say not to use adds nobody
        added, all_teams = _step_teams(earlier, item, ctx)
        teams |= added
        every = every or all_teams
    language = language_required(item, policy, now)
    skills = effective_skills(item, policy, step)
    agent_id = None
    excluded = None
    if step.kind == LAST_AGENT:
        scope, agent_id, teams = SCOPE_AGENT, item.last_agent_id, set()
    elif every:
        if item.home_team_id is not None and item.home_team_id not in teams:
            excluded = item.home_team_id  # only "every other team" steps so far
        scope, teams = SCOPE_ALL, set()
    elif teams:
        scope = SCOPE_TEAMS
    else:
        scope = SCOPE_ALL  # no team known at all: anybody may help
    every_team: set[int] = set()
    if scope == SCOPE_ALL:
        every_team = {team for team in ctx.calendars if team != excluded}
        serving_now = any(ctx.admits(team, item) for team in every_team)
    else:
        serving_now = scope == SCOPE_AGENT or any(ctx.admits(team, item) for team in teams)
    promise_at = None
    checks: list[datetime] = [now + timedelta(seconds=MAX_RECHECK_SECONDS)]
    if timeout_at is not None and index < len(steps) - 1:
        checks.append(timeout_at)
    if language and policy.language_relax_seconds is not None:
        checks.append(item.enqueued_at + timedelta(seconds=policy.language_relax_seconds))
    if not serving_now:
        promise_at = _promise(item, every_team if scope == SCOPE_ALL else teams, ctx)
        if promise_at is not None:
            checks.append(promise_at)
    next_check_at = max(min(checks), now)
    if step.kind == AFTER_HOURS and not serving_now:
        reason = "after hours"
    else:
        reason = f"step {index + 1} of {len(steps)}: {step.kind.replace('_', ' ')}"
    if reasons:
        reason += " (" + "; ".join(reasons) + ")"
    return Placement(
        step_index=index,
        step_count=len(steps),
        step=step,
        entered_at=entered,
        scope=scope,
        agent_id=agent_id,
        team_ids=frozenset(teams),
        next_check_at=next_check_at,
        language=language,
        skills=skills,
        reason=reason,
        promise_at=promise_at,
        serving_now=serving_now,
        moved=moved or index != item.step_index,
        excluded_team_id=excluded,
    )


def _promise(item: Item, teams: set[int], ctx: Context) -> datetime | None:
    """The earliest instant one of the pool's teams serves the item again."""
    openings = [
        moment
        for team in teams
        if (calendar := ctx.calendars.get(team)) is not None
        and (moment := next_opening_at(calendar, ctx.now, urgent=item.urgent)) is not None
    ]
    return min(openings) if openings else None


# --- Choosing an agent ----------------------------------------------------------------------


def in_pool(agent: Agent, item: Item, placement: Placement, ctx: Context) -> bool:
    """The agent belongs to the item's current pool through a team that serves the item now."""
    if placement.scope == SCOPE_AGENT:
        return agent.id == placement.agent_id
    if placement.scope == SCOPE_ALL:
        teams = agent.team_ids - {placement.excluded_team_id}
        if not agent.team_ids:
            return True
        return any(ctx.admits(team, item) for team in teams)
    return any(ctx.admits(team, item) for team in agent.team_ids & placement.team_ids)


def agent_can_take(agent: Agent, item: Item, placement: Placement, ctx: Context) -> bool:
    """Eligible: available (not in wrap-up), active, in the pool, under capacity for the item's
    channel kind, with the required skills at the required proficiency and the language, and
    has not declined the item."""
    return (
        agent.id not in item.declined_by
        and agent.available_at(ctx.now)
        and agent.free(item.channel_kind) > 0
        and in_pool(agent, item, placement, ctx)
        and can_serve(agent, placement.skills, placement.language)
    )


def preference_key(agent: Agent, channel_kind: str) -> tuple[float, float, int]:
    """Least occupied for the channel kind first, then longest idle, then a stable id."""
    capacity = max(int(agent.capacity.get(channel_kind, 0)), 1)
    occupancy = int(agent.load.get(channel_kind, 0)) / capacity
    idle_since = agent.last_assigned_at.timestamp() if agent.last_assigned_at else float("-inf")
    return (occupancy, idle_since, agent.id)


def eligible_agents(item: Item, placement: Placement, ctx: Context) -> list[Agent]:
    agents = [a for a in ctx.agents.values() if agent_can_take(a, item, placement, ctx)]
    return sorted(agents, key=lambda a: preference_key(a, item.channel_kind))


def assignment_reason(agent: Agent, item: Item, placement: Placement, ctx: Context) -> str:
    """Why this agent: 'last agent', 'home team, longest idle', 'overflow (Bergen), …'."""
    if placement.scope == SCOPE_AGENT:
        why = "last agent"
    elif (
        item.home_team_id is not None
        and item.home_team_id in agent.team_ids
        and (placement.step.kind in (HOME_TEAM, LAST_AGENT) or not item.opt_out_of_team)
        and ctx.admits(item.home_team_id, item)
    ):
        why = "home team"
    else:
        teams = sorted(
            ctx.team_name(t)
            for t in agent.team_ids
            if t != item.home_team_id and ctx.admits(t, item)
        )
        why = f"overflow ({', '.join(teams) or 'general pool'})"
    if placement.scope == SCOPE_AGENT:
        return why
    how = "longest idle" if int(agent.load.get(item.channel_kind, 0)) == 0 else "least occupied"
    return f"{why}, {how}"


def decide(item: Item, policy: Policy, ctx: Context) -> Decision:
    """Place the item and pick the best eligible agent (None: it waits, see the placement)."""
    placement = place(item, policy, ctx)
    eligible = eligible_agents(item, placement, ctx)
    if not eligible:
        return Decision(placement, (), None, placement.reason)
    chosen = eligible[0]
    reason = assignment_reason(chosen, item, placement, ctx)
    return Decision(placement, tuple(a.id for a in eligible), chosen.id, reason)


def with_load(
    agent: Agent, channel_kind: str, delta: int = 1, now: datetime | None = None
) -> Agent:
    """The agent after taking (or giving back) one item: for the simulator and batch routing."""
    load = dict(agent.load)
    load[channel_kind] = max(int(load.get(channel_kind, 0)) + delta, 0)
    return replace(agent, load=load, last_assigned_at=now if delta > 0 else agent.last_assigned_at)


# --- Explanation ----------------------------------------------------------------------------


def _next_label(steps: tuple[Step, ...], index: int, item: Item, ctx: Context) -> str:
    if index + 1 >= len(steps):
        return ""
    following = steps[index + 1]
    if following.kind == HOME_TEAM and item.home_team_id:
        return f"team {ctx.team_name(item.home_team_id)}"
    if following.kind in (OVERFLOW_TEAMS, NATIONAL_POOL):
        return "overflow"
    return following.kind.replace("_", " ")


def waiting_for(item: Item, placement: Placement, ctx: Context) -> str:
    if placement.scope == SCOPE_AGENT:
        agent = ctx.agents.get(placement.agent_id) if placement.agent_id else None
        return agent.name if agent and agent.name else "the last agent"
    if placement.scope == SCOPE_ALL:
        return "every other team" if placement.excluded_team_id else "any team"
    return _teams_label(placement.team_ids, ctx)


def explain(item: Item, placement: Placement, policy: Policy, ctx: Context) -> str:
    """'waiting for team Oslo, step 2 of 3, overflow in 47 s' and the like."""
    now = ctx.now
    who = waiting_for(item, placement, ctx)
    text = f"waiting for {who}, step {placement.step_index + 1} of {placement.step_count}"
    if not placement.serving_now:
        calendar = ctx.calendars.get(item.home_team_id) if item.home_team_id else None
        if placement.promise_at is not None and calendar is not None:
            when = format_local(calendar, placement.promise_at, now)
            return f"{text}, nobody serving now; a human answers from {when}"
        return f"{text}, nobody serving now"
    steps = steps_for(item, policy)
    step = placement.step
    if step.timeout_seconds is not None and placement.step_index < len(steps) - 1:
        left = (
            placement.entered_at + timedelta(seconds=step.timeout_seconds) - now
        ).total_seconds()
        label = _next_label(steps, placement.step_index, item, ctx)
        return f"{text}, {label} in {max(round(left), 0)} s"
    return text
