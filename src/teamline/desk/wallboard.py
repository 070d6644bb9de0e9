"""The supervisors' wallboard: what each team's queues and agents look like now.

One read for any number of teams in a fixed number of queries (waiting work, open surges,
agents: memberships, profiles, loads; active outages come from proactive's cached snapshot)
plus four per team for today's figures (indexed fact rows): routing, analytics and proactive
are read through their queries, nothing is counted by scanning messages.

Per team:
- *queues*: one row per channel kind (chat, voice, email always; any other kind while it has
  work waiting) with the conversations waiting in line for the team now and since when the
  oldest waits (its *longest wait*), plus the team's total; and each row's figures since the
  team's local midnight — service level, answered, abandoned, ASA, AHT — from analytics'
  contact facts (analytics.queries.team_today for the team, kpis per queue: docs/analytics.md
  defines them), live because the facts are written with each change;
- *agents*: every active member with an agent profile, offline included, with their state
  (available, busy, wrap-up, away, offline), since when, and their open conversations against
  their capacity per channel kind (their *load*); and how many agents are in each state;
- *alerts*: the team's open surge (routing.surge) and the active outages of its region (an
  outage of regions no team owns concerns every team, as proactive/outages.py tells them).

`present` turns a board into the JSON a wallboard frame carries (docs/websockets.md); the page
renders the same board server-side, so a reload and a push show the same thing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy

from teamline.accounts.models import Presence, Role, User
from teamline.analytics.queries import kpis, team_today
from teamline.core.errors import NotFound
from teamline.core.ids import parse_id
from teamline.proactive.queries import active_outages, region_key
from teamline.routing.queries import open_surges, team_agent_states, waiting_by_team_and_kind
from teamline.teams.models import Team
from teamline.teams.queries import access_team, teams_for

from .models import WallboardScreen

# The queues every board shows, in this order; other kinds only while they have work waiting.
KINDS = ("chat", "voice", "email")
KIND_LABELS: dict[str, Any] = {
    "chat": gettext_lazy("Chat"),
    "voice": gettext_lazy("Voice"),
    "email": gettext_lazy("Email"),
}
# Agents' states, in the order the board counts them.
STATES = (
    Presence.AVAILABLE.value,
    Presence.BUSY.value,
    Presence.WRAP_UP.value,
    Presence.AWAY.value,
    Presence.OFFLINE.value,
)
STATE_LABELS: dict[str, Any] = {
    Presence.AVAILABLE.value: gettext_lazy("Available"),
    Presence.BUSY.value: gettext_lazy("Busy"),
    Presence.WRAP_UP.value: gettext_lazy("Wrap-up"),
    Presence.AWAY.value: gettext_lazy("Away"),
    Presence.OFFLINE.value: gettext_lazy("Offline"),
}
SCREEN_TOKEN_PREFIX = "tvw_"  # noqa: S105 - the prefix of a token, not a secret
# A screen token: the prefix and 43 URL-safe characters (secrets.token_urlsafe(32)).
SCREEN_TOKEN = re.compile(r"^tvw_[A-Za-z0-9_-]{43}$")
# A TV socket checks that its screen is still active at least this often (a revocation's
# close message is at most once, like every push).
SCREEN_RECHECK_SECONDS = 30
ONE_SECOND = timedelta(seconds=1)
# A wallboard shows at most this many teams at once (an admin of many teams picks some).
MAX_TEAMS = 24


# Today's figures a board shows per queue (analytics' definitions: docs/analytics.md).
TODAY_FIGURES = ("service_level", "answered", "abandoned", "asa_seconds", "aht_seconds")


@dataclass
class QueueRow:
    kind: str
    waiting: int = 0
    oldest: datetime | None = None
    # Since the team's local midnight, from analytics' contact facts (TODAY_FIGURES).
    today: dict[str, Any] = field(default_factory=dict)

    def longest_wait(self, now: datetime) -> int | None:
        if self.oldest is None:
            return None
        return max(int((now - self.oldest).total_seconds()), 0)


@dataclass
class Board:
    team: Team
    queues: list[QueueRow]
    total: QueueRow
    agents: list[dict[str, Any]]
    states: dict[str, int]
    alerts: list[dict[str, Any]] = field(default_factory=list)


def boards(teams: list[Team], now: datetime | None = None) -> list[Board]:
    """The boards of these teams (in the order given), as of `now`."""
    now = now or timezone.now()
    team_ids = [team.pk for team in teams]
    if not team_ids:
        return []
    waiting = waiting_by_team_and_kind(team_ids)
    agents = team_agent_states(team_ids)
    surges: dict[int, list[dict[str, Any]]] = {}
    for episode in open_surges(team_ids):
        surges.setdefault(episode.team_id, []).append(
            {
                "kind": "surge",
                "id": f"surge-{episode.pk}",
                "since": episode.started_at.isoformat(),
                "queue_length": episode.queue_length,
                "longest_wait_seconds": episode.longest_wait_seconds,
                "peak_queue_length": episode.peak_queue_length,
            }
        )
    outages = _outages_by_team(teams)
    out = []
    for team in teams:
        kinds = list(KINDS) + sorted(
            {kind for (team_id, kind) in waiting if team_id == team.pk} - set(KINDS)
        )
        queues = [QueueRow(kind, *waiting.get((team.pk, kind), (0, None))) for kind in kinds]
        oldest = [row.oldest for row in queues if row.oldest is not None]
        total = QueueRow("all", sum(row.waiting for row in queues), min(oldest, default=None))
        _add_today(team, queues, total, now)
        members = agents.get(team.pk, [])
        states = dict.fromkeys(STATES, 0)
        for agent in members:
            states[agent["presence"]] = states.get(agent["presence"], 0) + 1
        out.append(
            Board(
                team=team,
                queues=queues,
                total=total,
                agents=members,
                states=states,
                alerts=surges.get(team.pk, []) + outages.get(team.pk, []),
            )
        )
    return out


def _add_today(team: Team, queues: list[QueueRow], total: QueueRow, now: datetime) -> None:
    """Today's figures of the team (one grouped query) and of each of its queues (one each),
    live: analytics writes a contact's facts in the transaction of the change itself."""
    figures = team_today(team, now)
    total.today = {name: figures.get(name) for name in TODAY_FIGURES}
    since = parse_datetime(str(figures.get("since") or ""))
    if since is None:  # pragma: no cover - team_today always says since when
        return
    for row in queues:
        day = kpis(team, start=since, end=now + ONE_SECOND, interval="1d", now=now, queue=row.kind)
        last = day[-1] if day else {}
        row.today = {name: last.get(name) for name in TODAY_FIGURES}


def _outages_by_team(teams: list[Team]) -> dict[int, list[dict[str, Any]]]:
    """The active outages concerning each team: those of its region, and those of regions no
    team owns (every team hears of them: proactive.outages.outage_recipients)."""
    active = active_outages()
    if not active:
        return {}
    owned = {region_key(region) for region in Team.objects.values_list("region", flat=True)}
    owned.discard("")
    out: dict[int, list[dict[str, Any]]] = {}
    for outage in active:
        unowned = not (outage.keys & owned)
        alert = {
            "kind": "outage",
            "id": f"outage-{outage.id}",
            "since": outage.started_at.isoformat(),
            "title": outage.title,
            "regions": list(outage.regions),
            "critical": outage.critical,
        }
        for team in teams:
            if unowned or region_key(team.region) in outage.keys:
                out.setdefault(team.pk, []).append(alert)
    return out


def percent(fraction: float | None) -> str:
    """A service level as the board shows it: '87 %' ('–' when nothing was offered)."""
    if fraction is None:
        return "–"
    return f"{round(fraction * 100)} %"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def present(board: Board, now: datetime) -> dict[str, Any]:
    """A board as the wallboard frame's data: numbers, states and instants only (the browser
    words them in its own language and counts the durations on from `at`)."""
    return {
        "team": {"id": board.team.pk, "name": board.team.name},
        "at": now.isoformat(),
        "queues": [
            {
                "kind": row.kind,
                "waiting": row.waiting,
                "oldest": _iso(row.oldest),
                "today": row.today,
            }
            for row in [*board.queues, board.total]
        ],
        "agents": [
            {
                "id": agent["id"],
                "name": agent["name"],
                "state": agent["presence"],
                "since": _iso(agent["since"]),
                "load": {
                    kind: [int(agent["load"].get(kind, 0)), int(agent["capacity"].get(kind, 0))]
                    for kind in _load_kinds(agent)
                },
            }
            for agent in board.agents
        ],
        "states": board.states,
        "alerts": board.alerts,
    }


def _load_kinds(agent: dict[str, Any]) -> list[str]:
    """The kinds an agent's load is shown for: the board's kinds, then any other they hold."""
    extra = sorted(set(agent["load"]) - set(KINDS))
    return [*KINDS, *extra]


def load_text(agent: dict[str, Any]) -> str:
    """'Chat 2 of 3, Voice 0 of 1, Email 1 of 5' (the page's first rendering; wallboard.js
    words pushes the same way)."""
    parts = []
    for kind in _load_kinds(agent):
        label = KIND_LABELS.get(kind, kind)
        parts.append(
            gettext_lazy("%(kind)s %(load)s of %(capacity)s")
            % {
                "kind": label,
                "load": int(agent["load"].get(kind, 0)),
                "capacity": int(agent["capacity"].get(kind, 0)),
            }
        )
    return ", ".join(str(part) for part in parts)


def clock(seconds: float | None) -> str:
    """A duration as the board shows it: '0:45', '12:05', '1:02:09' ('–' for none)."""
    if seconds is None:
        return "–"
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# --- Who sees which boards, and the TV screens -----------------------------------------------


def is_wallboard_viewer(actor: User) -> bool:
    return actor.role in (Role.SUPERVISOR, Role.ADMIN)


def wallboard_teams(actor: User, requested: list[str]) -> tuple[list[Team], int]:
    """The teams a supervisor's (or admin's) wallboard shows: the requested ones (each through
    access_team: NotFound for a team they cannot see), else all of theirs by name; at most
    MAX_TEAMS of them. Also how many teams they could see in all."""
    if requested:
        chosen: dict[int, Team] = {}
        for value in requested[: MAX_TEAMS + 1]:
            team = access_team(actor, value)
            chosen[team.pk] = team
        teams = sorted(chosen.values(), key=lambda team: (team.name.casefold(), team.pk))
        return teams[:MAX_TEAMS], len(teams)
    visible = teams_for(actor).order_by("name", "pk")
    return list(visible[:MAX_TEAMS]), visible.count()


def screens_for(actor: User) -> QuerySet[WallboardScreen]:
    """The TV screens an actor may see and revoke: every one for admins; for a supervisor
    those showing at least one of their teams."""
    screens = WallboardScreen.objects.all()
    if actor.role != Role.ADMIN:
        screens = screens.filter(teams__in=teams_for(actor)).distinct()
    return screens.prefetch_related("teams").order_by("-created_at", "-pk")


def access_wallboard_screen(actor: User, screen_id: object) -> WallboardScreen:
    pk = parse_id(screen_id, "screen")
    screen = screens_for(actor).filter(pk=pk).first() if is_wallboard_viewer(actor) else None
    if screen is None:
        raise NotFound("No such screen.")
    return screen


def hash_screen_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def screen_for_token(raw: object) -> WallboardScreen | None:
    """The active screen of a TV token, or None (wrong shape, unknown or revoked)."""
    if not isinstance(raw, str) or not SCREEN_TOKEN.match(raw):
        return None
    return (
        WallboardScreen.objects.filter(key_hash=hash_screen_token(raw), revoked_at__isnull=True)
        .prefetch_related("teams")
        .first()
    )


def screen_teams(screen: WallboardScreen) -> list[Team]:
    return sorted(screen.teams.all(), key=lambda team: (team.name.casefold(), team.pk))[:MAX_TEAMS]


def screen_is_active(screen_id: int) -> bool:
    return WallboardScreen.objects.filter(pk=screen_id, revoked_at__isnull=True).exists()
