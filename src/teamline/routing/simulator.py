"""A discrete-event simulator of a contact center that drives the real routing engine.

Every routing decision is made by `teamline.routing.engine` — `place()` to put an item in its
policy, `eligible_agents()` to choose who takes it, `agent_can_take()` when a freed agent looks
at the queue, `rank_at()` for the queue order — on plain in-memory state with a virtual clock
passed as `now`. Nothing touches the database, so a run of 100,000 contacts takes seconds.

What is modelled
  - arrivals: Poisson streams (per home team, channel kind, priority mix, skills, language),
    optionally non-homogeneous with a daily profile of 24 hourly rates (thinning);
  - handle times: exponential or lognormal with a given mean and coefficient of variation;
  - patience: exponential (a waiting customer abandons) or infinite;
  - agents: teams, skills with proficiency, languages, capacity per channel kind, a daily
    shift, wrap-up after voice;
  - teams: business hours, holidays and service modes as `teams.hours.Calendar` snapshots,
    fallback teams, surge thresholds (queue length) that make a team count as saturated;
  - the routing policy: `DEFAULT_POLICY`, a named one, or steps from a scenario file.

How it mirrors routing/actions.py
  - an arrival is decided at once (`_route`, like `route_conversation`): `place()` then
    `eligible_agents()`; the best agent takes it, otherwise it waits in the queue index of its
    pool (sticky agent, teams, or every team), ordered by `rank_at`;
  - a waiting item is decided again at its placement's `next_check_at` (step timeouts,
    language relaxation, openings; at least every `MAX_RECHECK_SECONDS`), like the tick's
    `reevaluate_due`, but exactly on time instead of on the next tick;
  - an agent who frees capacity (completion, end of wrap-up, start of shift) is offered the
    waiting work of their pools in queue order through `agent_can_take()`, like
    `offer_waiting_work`, scanning at most `OFFER_SCAN × OFFER_ROUNDS` entries.
  `eligible_agents()` is given a context holding only the agents with free capacity: agents at
  capacity can never pass `agent_can_take()`, so the answer is the same and each decision costs
  O(free agents) instead of O(agents). `place()` sees every online agent (saturation).

Statistics (the definitions of `teamline.analytics.erlang`, so the numbers are comparable)
  - service level: share of *offered* contacts answered within the target time (abandoned
    contacts count as not answered in time) = `ErlangA.service_level(t)`, and with infinite
    patience `erlang.service_level` (P(W ≤ t));
  - ASA: mean wait of the *answered* contacts, those answered at once counted as 0
    (`ErlangA.asa`; with no abandonment `erlang.average_speed_of_answer`);
  - abandonment: share of offered contacts that hung up before an answer (`ErlangA.p_abandon`);
  - occupancy per team: time-average share of the team's online agents' capacity in use.
  Contacts arriving during the warm-up are not counted; arrivals stop at the horizon and the
  run continues until every counted contact is answered or abandoned (no censoring).

Confidence intervals: with several replications, Student-t intervals over the independent
replications' estimates; with one run, batch means (the counted contacts split in arrival order
into `batches` equal batches, a Student-t interval over the batch estimates).

What a run is given is in `scenarios.py`; what it measured, the intervals and the report in
`simulation_results.py`.
"""

from __future__ import annotations

import heapq
import math
import random
import time as wallclock
from bisect import bisect_left, insort
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from teamline.teams.hours import Calendar

from . import engine
from .scenarios import AgentSpec, Scenario, StreamSpec
from .simulation_results import Outcomes, Result, TeamResult, combine_replications, interval

# Mirrors routing.actions: an agent-driven offer looks at most this many queue entries.
OFFER_SCAN_LIMIT = 50 * 20
# Mirrors routing.actions.SURGE_HYSTERESIS: a surge ends under this share of the threshold.
SURGE_HYSTERESIS = 0.8

# How long after the horizon a run goes on to finish the contacts it counts.
DRAIN_SECONDS = 24 * 3600.0

# Event kinds, in the order simultaneous events are handled.
_SHIFT_END, _SHIFT_START, _DONE, _WRAPUP_END, _ABANDON, _RECHECK, _ARRIVAL, _MARK = range(8)


# --- The simulation -------------------------------------------------------------------------


class _Waiting:
    """A contact in the queue (or just decided)."""

    __slots__ = (
        "arrived",
        "counted",
        "handle",
        "item",
        "key",
        "patience_at",
        "placement",
        "policy",
        "pools",
        "team_index",
        "version",
    )

    def __init__(
        self,
        item: engine.Item,
        policy: engine.Policy,
        arrived: float,
        handle: float,
        patience_at: float,
        team_index: int,
        counted: bool,
        key: tuple[float, int],
    ) -> None:
        self.item = item
        self.policy = policy
        self.arrived = arrived
        self.handle = handle
        self.patience_at = patience_at
        self.team_index = team_index
        self.counted = counted
        self.key = key
        self.placement: engine.Placement | None = None
        self.pools: tuple[tuple[str, int], ...] = ()
        self.version = 0


class Simulation:
    """One replication. `run()` returns a `Result`; `progress(fraction)` is called now and
    then with the share of the horizon simulated."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        self.sc = scenario
        self.seed = scenario.seed if seed is None else seed
        self.progress = progress
        root = random.Random(self.seed)
        # Separate streams per purpose: changing one part of a scenario keeps the others'
        # random numbers (common random numbers across compared runs).
        self.rng_arrival = random.Random(root.getrandbits(64))
        self.rng_handle = random.Random(root.getrandbits(64))
        self.rng_patience = random.Random(root.getrandbits(64))
        self.rng_mix = random.Random(root.getrandbits(64))
        self.horizon = scenario.hours * 3600.0
        self.warmup = min(scenario.warmup_hours * 3600.0, self.horizon)
        self.start = scenario.start

        self.team_ids = {team.name: index + 1 for index, team in enumerate(scenario.teams)}
        self.team_names = {v: k for k, v in self.team_ids.items()}
        self.calendars = {
            self.team_ids[t.name]: Calendar(
                team_id=self.team_ids[t.name],
                name=t.name,
                timezone=t.timezone,
                intervals=tuple(sorted(t.hours)),
                custom_holidays=frozenset(t.holidays),
                country=t.country,
                service_mode=t.service_mode,
                holiday_mode=t.holiday_mode,
                fallback_team_id=self.team_ids[t.fallback] if t.fallback else None,
            )
            for t in scenario.teams
        }
        self.surge_threshold = {
            self.team_ids[t.name]: t.surge_queue_length
            for t in scenario.teams
            if t.surge_queue_length
        }
        self.surging: set[int] = set()

        # Agents: the engine's view (online ones) and who has free capacity.
        self.agent_specs: dict[int, AgentSpec] = {}
        self.agents: dict[int, engine.Agent] = {}  # every agent, current state
        self.online: dict[int, engine.Agent] = {}
        self.free: dict[int, engine.Agent] = {}
        for index, spec in enumerate(scenario.agents):
            agent_id = 1000 + index
            self.agent_specs[agent_id] = spec
            self.agents[agent_id] = engine.Agent(
                id=agent_id,
                name=spec.name,
                presence=engine.OFFLINE if spec.shift else engine.AVAILABLE,
                languages=spec.languages,
                skills=dict(spec.skills),
                capacity=dict(spec.capacity),
                load={},
                team_ids=frozenset(self.team_ids[name] for name in spec.teams),
            )
        self.team_agents: dict[int, list[int]] = {}
        for agent_id, agent in self.agents.items():
            for team_id in agent.team_ids:
                self.team_agents.setdefault(team_id, []).append(agent_id)

        # The queue index: pool → sorted [(rank, seq)], like routing.models.QueueEntry.
        self.pools: dict[tuple[str, int], list[tuple[float, int]]] = {}
        self.waiting: dict[int, _Waiting] = {}
        self.queued_by_team: dict[int, int] = {}
        self.events: list[tuple[float, int, int, int, Any]] = []
        self.seq = 0
        self.now = 0.0

        # Statistics.
        self.outcomes = [Outcomes() for _ in scenario.teams]
        self.all_outcomes = Outcomes()
        self.order: list[tuple[int, int]] = []  # (team index, index in team outcomes)
        self.busy: dict[int, float] = dict.fromkeys(self.agents, 0.0)
        self.staffed: dict[int, float] = dict.fromkeys(self.agents, 0.0)
        self.touched: dict[int, float] = dict.fromkeys(self.agents, 0.0)
        self.occupied: dict[int, float] = dict.fromkeys(self.agents, 0.0)
        self.sample_every = self.horizon / max(scenario.samples, 1)
        self.next_sample = 0.0
        self.series_t: list[float] = []
        self.series_total: list[int] = []
        self.series_team: list[list[int]] = [[] for _ in scenario.teams]
        self.event_count = 0
        self.pending_counted = 0
        self.calendars_tz = Calendar(team_id=0, name="", timezone=scenario.timezone).tz
        self.setup = self._stream_setup()
        # After the horizon the run only finishes the counted contacts; it gives up on those
        # still waiting this long after it (say a team closed for the weekend, no patience).
        self.drain_limit = self.horizon + DRAIN_SECONDS

    # -- clock and events --

    def _dt(self, t: float) -> datetime:
        return self.start + timedelta(seconds=t)

    def _push(self, t: float, kind: int, key: int, payload: Any = None) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, kind, self.seq, key, payload))

    def _context(self, now: datetime) -> engine.Context:
        return engine.Context(
            now=now,
            calendars=self.calendars,
            agents=self.online,
            surging=frozenset(self.surging),
        )

    # -- agents --

    def _occupied(self, agent: engine.Agent) -> float:
        if not agent.online:
            return 0.0
        used = sum(
            min(int(agent.load.get(kind, 0)) / cap, 1.0)
            for kind, cap in agent.capacity.items()
            if cap > 0
        )
        kinds = sum(1 for cap in agent.capacity.values() if cap > 0)
        return used / kinds if kinds else 0.0

    def _touch(self, agent_id: int) -> None:
        """Bring the agent's busy/staffed time integrals up to now (before a change)."""
        t = self.now
        since = self.touched[agent_id]
        if t > since:
            start = since if since > self.warmup else self.warmup
            end = t if t < self.horizon else self.horizon
            if end > start:
                if agent_id in self.online:
                    self.staffed[agent_id] += end - start
                self.busy[agent_id] += self.occupied[agent_id] * (end - start)
            self.touched[agent_id] = t

    def _set_agent(self, agent: engine.Agent) -> None:
        self.agents[agent.id] = agent
        self.occupied[agent.id] = self._occupied(agent)
        if agent.online:
            self.online[agent.id] = agent
        else:
            self.online.pop(agent.id, None)
        if (
            agent.online
            and agent.presence == engine.AVAILABLE
            and any(agent.free(kind) > 0 for kind in agent.capacity)
        ):
            self.free[agent.id] = agent
        else:
            self.free.pop(agent.id, None)

    # -- the queue index --

    def _pools_for(self, placement: engine.Placement) -> tuple[tuple[str, int], ...]:
        if placement.scope == engine.SCOPE_AGENT:
            return (("agent", placement.agent_id or 0),)
        if placement.scope == engine.SCOPE_ALL:
            return (("all", 0),)
        return tuple(("team", team) for team in sorted(placement.team_ids))

    def _index(self, waiting: _Waiting, pools: tuple[tuple[str, int], ...]) -> None:
        if pools == waiting.pools:
            return
        self._unindex(waiting)
        for pool in pools:
            insort(self.pools.setdefault(pool, []), waiting.key)
        waiting.pools = pools

    def _unindex(self, waiting: _Waiting) -> None:
        for pool in waiting.pools:
            entries = self.pools[pool]
            position = bisect_left(entries, waiting.key)
            del entries[position]
        waiting.pools = ()

    def _candidates(self, agent: engine.Agent) -> Iterator[tuple[float, int]]:
        """Queue entries an agent may be offered, in queue order (like offer_waiting_work)."""
        lists = [self.pools.get(("agent", agent.id)), self.pools.get(("all", 0))]
        lists += [self.pools.get(("team", team)) for team in agent.team_ids]
        present = [entries for entries in lists if entries]
        if not present:
            return iter(())
        if len(present) == 1:
            return iter(present[0])
        return heapq.merge(*present)

    # -- routing --

    def _assign(self, waiting: _Waiting, agent: engine.Agent, now: datetime) -> None:
        item = waiting.item
        self._leave_queue(waiting)
        self._touch(agent.id)
        self._set_agent(engine.with_load(agent, item.channel_kind, 1, now))
        if waiting.counted:
            wait = self.now - waiting.arrived
            self._record(waiting, wait, answered=True)
            home = item.home_team_id
            if home is not None and home not in agent.team_ids:
                self.outcomes[waiting.team_index].overflowed += 1
                self.all_outcomes.overflowed += 1
        self._push(self.now + waiting.handle, _DONE, agent.id, item.channel_kind)

    def _record(self, waiting: _Waiting, wait: float, *, answered: bool) -> None:
        outcomes = self.outcomes[waiting.team_index]
        self.order.append((waiting.team_index, len(outcomes.waits)))
        outcomes.add(wait, answered)
        self.all_outcomes.add(wait, answered)
        self.pending_counted -= 1

    def _leave_queue(self, waiting: _Waiting) -> None:
        if waiting.item.id in self.waiting:
            del self.waiting[waiting.item.id]
            self._unindex(waiting)
            home = waiting.item.home_team_id
            if home is not None:
                self.queued_by_team[home] -= 1
                self._check_surge(home)

    def _route(self, waiting: _Waiting) -> None:
        """One item-driven decision (routing.actions._route): place, then the best eligible."""
        now = self._dt(self.now)
        ctx = self._context(now)
        placement = engine.place(waiting.item, waiting.policy, ctx)
        if self.free:
            # Same answer as engine.decide(): agents at capacity never pass agent_can_take.
            free_ctx = engine.Context(
                now=now,
                calendars=self.calendars,
                agents=self.free,
                surging=ctx.surging,
                _modes=ctx._modes,
            )
            eligible = engine.eligible_agents(waiting.item, placement, free_ctx)
            if eligible:
                self._assign(waiting, eligible[0], now)
                return
        item = waiting.item
        if placement.moved or item.step_entered_at is None:
            waiting.item = replace(
                item, step_index=placement.step_index, step_entered_at=placement.entered_at
            )
        waiting.placement = placement
        if item.id not in self.waiting:
            self.waiting[item.id] = waiting  # type: ignore[index]
            home = item.home_team_id
            if home is not None:
                self.queued_by_team[home] = self.queued_by_team.get(home, 0) + 1
                self._check_surge(home)
        self._index(waiting, self._pools_for(placement))
        waiting.version += 1
        check = placement.next_check_at
        if check is not None:
            at = max((check - self.start).total_seconds(), self.now + 1.0)
            if at < waiting.patience_at:
                self._push(at, _RECHECK, item.id or 0, waiting.version)

    def _offer(self, agent_id: int) -> None:
        """An agent with free capacity takes the most urgent waiting work they may take
        (routing.actions.offer_waiting_work), until they are full."""
        agent = self.agents[agent_id]
        now = self._dt(self.now)
        if not agent.available_at(now) or not self.waiting:
            return
        ctx = self._context(now)
        tried: set[int] = set()
        while agent_id in self.free:
            agent = self.agents[agent_id]
            took = False
            for scanned, (_rank, item_id) in enumerate(self._candidates(agent)):
                if scanned >= OFFER_SCAN_LIMIT:
                    return
                if item_id in tried:
                    continue
                tried.add(item_id)
                waiting = self.waiting[item_id]
                if waiting.placement is None or agent.free(waiting.item.channel_kind) <= 0:
                    continue
                if engine.agent_can_take(agent, waiting.item, waiting.placement, ctx):
                    self._assign(waiting, agent, now)
                    took = True
                    break
            if not took:
                return

    def _check_surge(self, team_id: int) -> None:
        threshold = self.surge_threshold.get(team_id)
        if threshold is None:
            return
        length = self.queued_by_team.get(team_id, 0)
        if team_id not in self.surging and length >= threshold:
            self.surging.add(team_id)
            # Widen at once: the team's waiting items are decided again (they overflow).
            for waiting in list(self.waiting.values()):
                if waiting.item.home_team_id == team_id:
                    self._push(self.now, _RECHECK, waiting.item.id or 0, waiting.version)
        elif team_id in self.surging and length < threshold * SURGE_HYSTERESIS:
            self.surging.discard(team_id)

    # -- arrivals --

    def _stream_setup(self) -> list[tuple[StreamSpec, float]]:
        setup = []
        for stream in self.sc.streams:
            peak = stream.rate_per_hour * (max(stream.profile) if stream.profile else 1.0)
            setup.append((stream, peak / 3600.0))
        return setup

    def _hour_of_day(self, t: float) -> int:
        local = self._dt(t).astimezone(self.calendars_tz)
        return local.hour

    def _next_arrival(self, index: int, stream: StreamSpec, peak: float, t: float) -> None:
        if peak <= 0:
            return
        while True:
            t += self.rng_arrival.expovariate(peak)
            if t >= self.horizon:
                return
            if stream.profile is None:
                break
            rate = stream.rate_per_hour * stream.profile[self._hour_of_day(t) % 24] / 3600.0
            if self.rng_arrival.random() * peak <= rate:
                break  # thinning: accepted with probability rate(t) / peak
        self._push(t, _ARRIVAL, index, None)

    def _handle_time(self, stream: StreamSpec) -> float:
        if stream.handle == "lognormal":
            sigma2 = math.log(1 + stream.handle_cv**2)
            mu = math.log(stream.aht) - sigma2 / 2
            return self.rng_handle.lognormvariate(mu, math.sqrt(sigma2))
        return self.rng_handle.expovariate(1.0 / stream.aht)

    def _arrive(self, index: int) -> None:
        stream, peak = self.setup[index]
        self._next_arrival(index, stream, peak, self.now)
        handle = self._handle_time(stream)
        patience = (
            self.rng_patience.expovariate(1.0 / stream.patience) if stream.patience else math.inf
        )
        mix = self.rng_mix
        priority = engine.NORMAL
        if len(stream.priorities) > 1:
            draw, total = mix.random() * sum(stream.priorities.values()), 0.0
            for level, share in sorted(stream.priorities.items()):
                total += share
                if draw <= total:
                    priority = level
                    break
        else:
            priority = next(iter(stream.priorities))
        vip = stream.vip_share > 0 and mix.random() < stream.vip_share
        home = self.team_ids[stream.team] if stream.team else None
        last_agent = None
        if home is not None and stream.returning_share and mix.random() < stream.returning_share:
            members = self.team_agents.get(home, [])
            last_agent = members[mix.randrange(len(members))] if members else None
        now = self._dt(self.now)
        self.seq += 1
        item_id = self.seq
        item = engine.Item(
            channel_kind=stream.channel_kind,
            enqueued_at=now,
            id=item_id,
            priority=priority,
            vip=vip,
            required_skills=stream.skills,
            language=stream.language,
            home_team_id=home,
            last_agent_id=last_agent,
        )
        rank = engine.rank_at(now, stream.channel_kind, priority, vip, self.sc.targets)
        counted = self.warmup <= self.now < self.horizon
        if counted:
            self.pending_counted += 1
        waiting = _Waiting(
            item,
            stream.policy or self.sc.policy,
            self.now,
            handle,
            self.now + patience,
            (home or 1) - 1,
            counted,
            ((rank - self.start).total_seconds(), item_id),
        )
        self._route(waiting)
        if item_id in self.waiting and math.isfinite(patience):
            self._push(self.now + patience, _ABANDON, item_id, None)

    # -- shifts --

    def _schedule_shifts(self) -> None:
        days = int(self.horizon // 86400) + 2
        for agent_id, spec in self.agent_specs.items():
            if spec.shift is None:
                continue
            tz = self.calendars[min(self.agents[agent_id].team_ids)].tz
            first = self.start.astimezone(tz).date() - timedelta(days=1)
            starts, ends = spec.shift
            for offset in range(days + 1):
                day = first + timedelta(days=offset)
                on = datetime.combine(day, starts, tzinfo=tz)
                off = datetime.combine(day, ends, tzinfo=tz)
                if off <= on:
                    off += timedelta(days=1)
                t_on = (on - self.start).total_seconds()
                t_off = (off - self.start).total_seconds()
                if t_off <= 0 or t_on >= self.horizon:
                    continue
                self._push(max(t_on, 0.0), _SHIFT_START, agent_id)
                if t_off < self.horizon:
                    self._push(t_off, _SHIFT_END, agent_id)

    # -- sampling --

    def _sample_until(self, t: float) -> None:
        while self.next_sample <= t and self.next_sample <= self.horizon:
            self.series_t.append(self.next_sample / 3600.0)
            self.series_total.append(len(self.waiting))
            for index in range(len(self.sc.teams)):
                self.series_team[index].append(self.queued_by_team.get(index + 1, 0))
            self.next_sample += self.sample_every

    # -- main loop --

    def run(self) -> Result:
        started = wallclock.perf_counter()
        for index, (stream, peak) in enumerate(self.setup):
            self._next_arrival(index, stream, peak, 0.0)
        self._schedule_shifts()
        self._push(self.warmup, _MARK, 0)
        self._push(self.horizon, _MARK, 1)
        for agent in self.agents.values():
            self._set_agent(agent)
        events = self.events
        report_every = 8192
        heappop = heapq.heappop
        while events:
            t, kind, _seq, key, payload = heappop(events)
            if t > self.horizon and (self.pending_counted <= 0 or t > self.drain_limit):
                break
            if t >= self.next_sample:
                self._sample_until(t)
            self.now = t
            self.event_count += 1
            if self.progress is not None and self.event_count % report_every == 0:
                self.progress(min(t / self.horizon, 1.0))
            if kind == _ARRIVAL:
                self._arrive(key)
            elif kind == _DONE:
                agent = self.agents[key]
                self._touch(key)
                agent = engine.with_load(agent, payload, -1)
                spec = self.agent_specs[key]
                if payload == "voice" and spec.wrap_up_seconds > 0:
                    agent = replace(agent, wrap_up_until=self._dt(t + spec.wrap_up_seconds))
                    self._push(t + spec.wrap_up_seconds, _WRAPUP_END, key)
                self._set_agent(agent)
                self._offer(key)
            elif kind == _ABANDON:
                waiting = self.waiting.get(key)
                if waiting is not None:
                    self._leave_queue(waiting)
                    if waiting.counted:
                        self._record(waiting, t - waiting.arrived, answered=False)
            elif kind == _RECHECK:
                waiting = self.waiting.get(key)
                if waiting is not None and waiting.version == payload:
                    self._route(waiting)
            elif kind == _WRAPUP_END:
                self._offer(key)
            elif kind == _SHIFT_START:
                self._touch(key)
                self._set_agent(replace(self.agents[key], presence=engine.AVAILABLE))
                self._offer(key)
            elif kind == _SHIFT_END:
                # Takes nothing new; work in progress is finished (the give-back of real-time
                # work after a grace period is not modelled).
                self._touch(key)
                self._set_agent(replace(self.agents[key], presence=engine.OFFLINE))
            elif kind == _MARK:
                for agent_id in self.agents:
                    self._touch(agent_id)
        self.now = max(self.now, self.horizon)
        for waiting in list(self.waiting.values()):
            if waiting.counted:  # never answered within the drain limit: not answered
                self._leave_queue(waiting)
                self._record(waiting, self.now - waiting.arrived, answered=False)
        for agent_id in self.agents:
            self._touch(agent_id)
        self._sample_until(self.horizon)
        if self.progress is not None:
            self.progress(1.0)
        return self._result(wallclock.perf_counter() - started)

    # -- results --

    def _team_result(self, name: str, outcomes: Outcomes, agent_ids: Sequence[int]) -> TeamResult:
        sc = self.sc
        n = len(outcomes.waits)
        batches = max(min(sc.batches, n // 10), 1)
        cuts = [round(i * n / batches) for i in range(batches + 1)]
        per_batch = [
            outcomes.measures(sc.target_seconds, cuts[i], cuts[i + 1]) for i in range(batches)
        ]
        overall = outcomes.measures(sc.target_seconds)
        staffed = sum(self.staffed[a] for a in agent_ids)
        busy = sum(self.busy[a] for a in agent_ids)
        answered = sum(outcomes.answered)
        return TeamResult(
            name=name,
            offered=n,
            answered=answered,
            abandoned=n - answered,
            service_level=interval([b[0] for b in per_batch], sc.confidence, overall[0]),
            asa=interval([b[1] for b in per_batch], sc.confidence, overall[1]),
            abandon_rate=interval([b[2] for b in per_batch], sc.confidence, overall[2]),
            occupancy=busy / staffed if staffed else math.nan,
            overflowed=outcomes.overflowed,
        )

    def _result(self, wall: float) -> Result:
        teams = [
            self._team_result(team.name, self.outcomes[index], self.team_agents.get(index + 1, []))
            for index, team in enumerate(self.sc.teams)
        ]
        overall = self._team_result("all teams", self.all_outcomes, list(self.agents))
        return Result(
            scenario=self.sc,
            overall=overall,
            teams=teams,
            ci_method=(
                f"batch means: {overall.service_level.samples} batches in arrival order, "
                f"Student t, {self.sc.confidence:.0%}"
            ),
            series_hours=self.series_t,
            series_total=self.series_total,
            series_teams={
                team.name: self.series_team[index] for index, team in enumerate(self.sc.teams)
            },
            events=self.event_count,
            wall_seconds=wall,
        )


def simulate(
    scenario: Scenario,
    *,
    replications: int = 1,
    progress: Callable[[float], None] | None = None,
) -> Result:
    """Run the scenario. With one replication the intervals are batch means; with several,
    replication r uses seed + r, and the intervals are over the replications' estimates."""
    if replications <= 1:
        return Simulation(scenario, progress=progress).run()
    results: list[Result] = []
    for r in range(replications):

        def scaled(fraction: float, r: int = r) -> None:
            if progress is not None:
                progress((r + fraction) / replications)

        results.append(Simulation(scenario, seed=scenario.seed + r, progress=scaled).run())
    return combine_replications(scenario, results)
