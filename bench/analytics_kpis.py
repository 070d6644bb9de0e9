"""KPIs at scale (issue 15): latency and CPU of `GET /api/v1/analytics/kpis` for a month by day
and a day by 15 minutes for one team over a year of history, on SQLite and on PostgreSQL (not
a test).

    .venv/bin/python bench/analytics_kpis.py [--conversations 1000000 --messages 10000000
        --db sqlite postgresql --db-url postgres://postgres@127.0.0.1:5432/postgres
        --requests 60 --rounds 3 --keep | --reuse DIR | --pg-database NAME --json out.json]

For each database, in a child process with a fresh scratch database (bench/scratch_db.py), or
the one a `--keep` run kept (`--reuse DIR`), or an existing empty PostgreSQL database
(`--pg-database NAME`, kept):

1. Generates a year of history (2025-07-01 → 2026-07-01) for 10 teams of 20 agents in four
   time zones: `--conversations` conversations from `--conversations`/4 customers (each
   customer's contacts in time order, so a return within 7 days marks the earlier contact
   repeated exactly as record_offered does), one contact each, offered with a daily and
   weekly pattern (busier mornings and weekdays), 60 % chat / 25 % voice / 15 % email on five
   channels; 8 % abandoned (a quarter of those within 5 s), the rest answered after an
   exponential wait and handled for an exponential time (voice: plus the agents' 30 s
   wrap-up), 4 % transferred inside their queue, 70 % of the answered surveyed (one survey a
   conversation: CSAT or NPS). `--messages` messages spread over the conversations (the KPIs
   never read them; they are there so the tables are the size a real centre's are). Rows are
   bulk-loaded: executemany on SQLite, COPY on PostgreSQL.
2. The fact table is written by the product: `manage.py analytics_rebuild` over the year (one
   transaction per UTC day × team, analytics.actions.contact_increments summed and upserted),
   and the survey answers with the product's upsert (analytics.actions.bump_many).
3. Checks that derivation: for a sample of (team, quarter) pairs, every contact counted there,
   the other contacts of their customers and their survey answers are replayed through the
   incremental path (record_offered, record_answered, record_transferred, record_left_queue,
   record_resolved, record_call_ended, record_survey) under a shadow team id, in a
   transaction rolled back afterwards; each replayed fact row must equal the loaded one.
4. Measures the incremental path itself: `--incremental` further contacts through
   record_offered → record_answered → record_resolved (and a survey for some), each
   transition in its own transaction as the entry points run them: statements and ms a contact.
5. Sends, in each of `--rounds` rounds, `--requests` requests for a month by day
   (`interval=1d`, a random month and team) and as many for a day by 15 minutes through
   Django's test client (the whole API stack in process: token authentication, validation,
   access, query, presentation; no network), as a supervisor of the team. Per request: wall
   time, CPU time of this process (time.process_time), wall time inside the database calls,
   and on PostgreSQL the server backend's CPU (from /proc, per round: the clock ticks at 10 ms).
   Reports p50/p95/p99/max per round and the median over the rounds.

Reported with the machine (CPU, cores, load average before and after) and the commit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

TEAMS = 10
AGENTS_PER_TEAM = 20
ZONES = ["Europe/Oslo", "Europe/Tallinn", "Asia/Shanghai", "America/Sao_Paulo"]
START = datetime(2025, 7, 1, tzinfo=UTC)
DAYS = 365
QUEUES = [
    ("chat", "webchat", 0.35),
    ("chat", "whatsapp", 0.15),
    ("chat", "sms", 0.10),
    ("voice", "voice", 0.25),
    ("email", "email", 0.15),
]
THRESHOLD = {"chat": 60, "voice": 20, "email": 3600}
MEAN_WAIT = {"chat": 50, "voice": 25, "email": 2400}
MEAN_HANDLE = {"chat": 420, "voice": 300, "email": 900}
WRAP_UP = 30
FCR_DAYS = timedelta(days=7)
SURVEY_AFTER = timedelta(minutes=2)
# Shadow ids for the replay check: far above any generated id.
SHADOW = 10**12
PHRASES = [
    "My bill is higher than last month",
    "The internet is slow again",
    "How do I activate roaming?",
    "Thanks, that fixed it",
    "Let me check that for you",
    "I have reset your router remotely",
    "Can you send me the invoice by email?",
    "Your new SIM card is on its way",
]
CUSTOMER_COLUMNS = [
    "id",
    "name",
    "preferred_language",
    "language_source",
    "preferred_channel",
    "home_team_id",
    "region",
    "time_zone",
    "attributes",
    "created_at",
    "updated_at",
]
CONVERSATION_COLUMNS = [
    "id",
    "customer_id",
    "inbox_id",
    "team_id",
    "status",
    "priority",
    "channel",
    "channel_kind",
    "created_at",
    "updated_at",
    "last_message_at",
    "unread_count",
    "verification_level",
    "verification_method",
]
CONTACT_COLUMNS = [
    "work_item_id",
    "seq",
    "conversation_id",
    "customer_id",
    "team_id",
    "queue",
    "channel",
    "agent_id",
    "threshold_seconds",
    "state",
    "offered_at",
    "interval_start",
    "answered_at",
    "abandoned_at",
    "handled_at",
    "resolved_at",
    "ended_at",
    "wrap_up_seconds",
    "transfers",
    "repeated",
]
MESSAGE_COLUMNS = [
    "conversation_id",
    "direction",
    "sender_kind",
    "channel",
    "text",
    "content",
    "is_internal",
    "delivery_status",
    "delivery_error",
    "provider_message_id",
    "delivery_attempts",
    "automated",
    "created_at",
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def interval_of(at: datetime) -> datetime:
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


def offered_moment(rng: random.Random) -> datetime:
    """A moment of the year with a daily (07–21 UTC, peak late morning) and weekly pattern."""
    while True:
        day = rng.randrange(DAYS)
        moment = START + timedelta(days=day, seconds=rng.randrange(86_400))
        hour = moment.hour + moment.minute / 60
        daily = 0.1 + math.exp(-(((hour - 10.5) / 3.5) ** 2))
        weekly = 0.55 if moment.weekday() >= 5 else 1.0
        if rng.random() < daily * weekly / 1.1:
            return moment


class Loader:
    """Bulk inserts: executemany on SQLite, COPY on PostgreSQL; a batch a transaction."""

    def __init__(self) -> None:
        from django.db import connection

        self.connection = connection

    def load(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        from django.db import transaction

        if not rows:
            return
        with transaction.atomic(), self.connection.cursor() as cursor:
            if self.connection.vendor == "postgresql":
                names = ", ".join(columns)
                with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(columns))
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                    rows,
                )


class Batches:
    """Rows per table, all flushed to the Loader when one table has `size` rows."""

    def __init__(self, loader: Loader, size: int = 50_000) -> None:
        self.loader, self.size = loader, size
        self.rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        self.columns: dict[str, list[str]] = {}

    def add(self, table: str, columns: list[str], row: tuple[Any, ...]) -> None:
        self.columns[table] = columns
        rows = self.rows[table]
        rows.append(row)
        if len(rows) >= self.size:
            self.flush()

    def flush(self) -> None:
        # In the order the tables were first added: referenced rows before their references.
        for name in list(self.rows):
            self.loader.load(name, self.columns[name], self.rows[name])
            self.rows[name] = []


def staff(team_count: int) -> dict[str, Any]:
    """Teams, inboxes, agents (30 s of wrap-up after a call) and supervisors, made through the
    real actions. Their passwords are never used here (requests carry API tokens), so the
    bench hashes them cheaply instead of with PBKDF2."""
    from django.conf import settings

    from teamline.accounts.models import AgentProfile
    from teamline.core.testing import create_inbox, create_team, create_user

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    teams = [create_team(f"Team {n}", timezone=ZONES[n % len(ZONES)]) for n in range(team_count)]
    inboxes = [create_inbox(team, name=f"Chat {team.pk}") for team in teams]
    agents = {
        team.pk: [
            create_user(f"agent-{team.pk}-{n}", role="agent", team=team).pk
            for n in range(AGENTS_PER_TEAM)
        ]
        for team in teams
    }
    # Bench setup, not a product path: the profile's wrap-up is an admin setting.
    AgentProfile.objects.filter(user_id__in=[a for ids in agents.values() for a in ids]).update(
        wrap_up_seconds=WRAP_UP
    )
    for team in teams:
        create_user(f"supervisor-{team.pk}", role="supervisor", supervises=team)
    return {
        "teams": [team.pk for team in teams],
        "inboxes": [inbox.pk for inbox in inboxes],
        "agents": agents,
    }


def one_contact(rng: random.Random, offered: datetime, agents: list[int]) -> dict[str, Any]:
    queue, channel, _w = rng.choices(QUEUES, [w for _q, _c, w in QUEUES])[0]
    contact: dict[str, Any] = {
        "queue": queue,
        "channel": channel,
        "offered": offered,
        "agent": 0,
        "answered": None,
        "abandoned": None,
        "resolved": None,
        "transfers": 0,
        "repeated": False,
        "survey": None,
    }
    if rng.random() < 0.08:
        waited = rng.randrange(0, 5) if rng.random() < 0.25 else int(rng.expovariate(1 / 90))
        contact["abandoned"] = offered + timedelta(seconds=waited)
        return contact
    answered = offered + timedelta(seconds=int(rng.expovariate(1 / MEAN_WAIT[queue])))
    handle = max(30, int(rng.expovariate(1 / MEAN_HANDLE[queue])))
    contact["agent"] = rng.choice(agents)
    contact["answered"] = answered
    contact["resolved"] = answered + timedelta(seconds=handle)
    contact["transfers"] = int(rng.random() < 0.04)
    if rng.random() < 0.7:
        kind = "csat" if rng.random() < 0.6 else "nps"
        score = rng.choice([5, 5, 4, 4, 4, 3, 2, 1]) if kind == "csat" else rng.randrange(11)
        contact["survey"] = (kind, score, contact["resolved"] + SURVEY_AFTER)
    return contact


def survey_increments(kind: str, score: int) -> dict[str, int]:
    if kind == "csat":
        return {"csat_sum": score, "csat_count": 1}
    bucket = "nps_promoters" if score >= 9 else "nps_passives" if score >= 7 else "nps_detractors"
    return {bucket: 1}


def generate(
    conversations: int, messages: int, rng: random.Random, team_count: int
) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    from teamline.analytics.actions import FactKey, bump_many

    started = time.monotonic()
    world = staff(team_count)
    teams, inboxes, agents = world["teams"], world["inboxes"], world["agents"]
    customers = max(1, conversations // 4)
    loader = Loader()
    batches = Batches(loader, size=100_000)
    now = datetime(2026, 7, 1, tzinfo=UTC)
    with connection.cursor() as cursor:  # a scratch database: speed over durability
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA synchronous = OFF")
        else:
            cursor.execute("SET synchronous_commit = off")
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM customers_customer")
        first_customer = cursor.fetchone()[0] + 1
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM conversations_conversation")
        first_conversation = cursor.fetchone()[0] + 1
    # SQLite stores what the ORM would write (naive UTC text, as adapt_datetimefield_value
    # writes it), so lookups by equality match; every moment here is UTC, whole seconds.
    stamp: Callable[[datetime | None], Any] = (
        (lambda at: at)
        if connection.vendor == "postgresql"
        else (lambda at: None if at is None else str(at.replace(tzinfo=None)))
    )
    per_customer, extra_contacts = divmod(conversations, customers)
    survey_facts: dict[FactKey, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    # (team, survey quarter) → (conversation, kind, score, at): for the replay check.
    surveys: dict[tuple[int, datetime], list[tuple[int, str, int, datetime]]] = defaultdict(list)
    pk = first_conversation
    conversation_index = 0
    for c in range(customers):
        customer = first_customer + c
        team_index = c % len(teams)
        team = teams[team_index]
        batches.add(
            "customers_customer",
            CUSTOMER_COLUMNS,
            (customer, f"Customer {c}", "en", "", "", team, "", "", "{}", stamp(now), stamp(now)),
        )
        count = per_customer + int(c < extra_contacts)
        moments = sorted(offered_moment(rng) for _ in range(count))
        contacts = [one_contact(rng, offered, agents[team]) for offered in moments]
        # record_offered marks the customer's contacts resolved in the 7 days before a new one.
        for i, earlier in enumerate(contacts):
            resolved = earlier["resolved"]
            if resolved is not None:
                earlier["repeated"] = any(
                    resolved <= later["offered"] <= resolved + FCR_DAYS
                    for later in contacts[i + 1 :]
                )
        for contact in contacts:
            queue, channel, offered = contact["queue"], contact["channel"], contact["offered"]
            answered, resolved = contact["answered"], contact["resolved"]
            last = resolved or contact["abandoned"]
            batches.add(
                "conversations_conversation",
                CONVERSATION_COLUMNS,
                (
                    pk,
                    customer,
                    inboxes[team_index],
                    team,
                    "resolved",
                    0,
                    channel,
                    queue,
                    stamp(offered),
                    stamp(last),
                    stamp(last),
                    0,
                    0,
                    "",
                ),
            )
            batches.add(
                "analytics_contact",
                CONTACT_COLUMNS,
                (
                    pk,  # the work item id: one work item a conversation here
                    0,
                    pk,
                    customer,
                    team,
                    queue,
                    channel,
                    contact["agent"],
                    THRESHOLD[queue],
                    "abandoned" if contact["abandoned"] else "answered",
                    stamp(offered),
                    stamp(interval_of(offered)),
                    stamp(answered),
                    stamp(contact["abandoned"]),
                    stamp(resolved),
                    stamp(resolved),
                    stamp(last),
                    WRAP_UP if queue == "voice" and answered else 0,
                    contact["transfers"],
                    contact["repeated"],
                ),
            )
            if contact["survey"]:
                kind, score, at = contact["survey"]
                key = FactKey(interval_of(at), team, queue, channel, contact["agent"])
                for name, value in survey_increments(kind, score).items():
                    survey_facts[key][name] += value
                surveys[(team, interval_of(at))].append((pk, kind, score, at))
            pk += 1
            conversation_index += 1
            if conversation_index % 100_000 == 0:
                log(f"{conversation_index} conversations in {time.monotonic() - started:.0f} s")
    batches.flush()
    log(f"{conversations} conversations and contacts in {time.monotonic() - started:.0f} s")
    per_conversation, extra_messages = divmod(messages, conversations)
    last_conversation = first_conversation + conversations
    for low in range(first_conversation, last_conversation, 50_000):
        high = min(low + 50_000, last_conversation)
        add_messages(low, high, range(per_conversation))
        add_messages(low, min(high, first_conversation + extra_messages), [per_conversation])
        if (high - first_conversation) % 200_000 == 0:
            done = (high - first_conversation) * per_conversation
            log(f"{done} messages in {time.monotonic() - started:.0f} s")
    generated = time.monotonic() - started
    log(f"{conversations} conversations, {messages} messages in {generated:.0f} s")

    fact_started = time.monotonic()
    wall, cpu = time.monotonic(), time.process_time()
    call_command(
        "analytics_rebuild",
        "--from",
        f"{START:%Y-%m-%d}",
        "--to",
        f"{START + timedelta(days=DAYS - 1):%Y-%m-%d}",
        "--quiet",
        stdout=sys.stderr,
    )
    rebuild = {
        "wall_seconds": round(time.monotonic() - wall, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
    }
    log(f"analytics_rebuild over the year: {rebuild}")
    bump_many(
        sorted(
            ((key, dict(value)) for key, value in survey_facts.items()),
            key=lambda item: (item[0].interval_start, item[0].team_id, item[0].agent_id),
        )
    )
    log(f"{len(survey_facts)} survey fact rows upserted")
    analyze()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM analytics_contactfact")
        fact_rows = cursor.fetchone()[0]
    return {
        **world,
        "customers": customers,
        "conversations": conversations,
        "messages": messages,
        "surveyed": sum(len(rows) for rows in surveys.values()),
        "fact_rows": fact_rows,
        "generate_seconds": round(generated, 1),
        "rebuild": rebuild,
        "fact_load_seconds": round(time.monotonic() - fact_started, 1),
        "_surveys": surveys,
    }


def add_messages(low: int, high: int, steps: Any) -> None:
    """Messages number `steps` (0, 1, …) of the conversations with ids in [low, high), in one
    INSERT … SELECT (no Python a row): customer and agent in turn, 20 s apart from the
    conversation's start, a phrase each."""
    from django.db import connection, transaction

    steps = list(steps)
    if high <= low or not steps:
        return
    postgres = connection.vendor == "postgresql"
    moment = (
        "c.created_at + s.m * interval '20 seconds'"
        if postgres
        else "datetime(c.created_at, '+' || (s.m * 20) || ' seconds')"
    )
    series = ", ".join(f"({step})" for step in steps)
    phrases = ", ".join(["(%s, %s)"] * len(PHRASES))
    columns = ", ".join(MESSAGE_COLUMNS)
    sql = f"""
        WITH s(m) AS (VALUES {series}), p(n, text) AS (VALUES {phrases})
        INSERT INTO conversations_message ({columns})
        SELECT c.id, CASE WHEN s.m %% 2 = 0 THEN 'in' ELSE 'out' END,
            CASE WHEN s.m %% 2 = 0 THEN 'customer' ELSE 'agent' END, c.channel, p.text,
            {"'{}'::jsonb" if postgres else "'{}'"}, {"false" if postgres else "0"}, 'received',
            '', '', 0, {"false" if postgres else "0"}, {moment}
        FROM conversations_conversation c CROSS JOIN s
        JOIN p ON p.n = (c.id + s.m) %% {len(PHRASES)}
        WHERE c.id >= %s AND c.id < %s
    """  # noqa: S608 - numbers and fixed names only; the phrases and ids are parameters
    params = [x for n, phrase in enumerate(PHRASES) for x in (n, phrase)] + [low, high]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in (
                "analytics_contactfact",
                "analytics_contact",
                "conversations_message",
                "conversations_conversation",
                "customers_customer",
            ):
                cursor.execute(f"VACUUM ANALYZE {table}")
        else:
            cursor.execute("ANALYZE")


def check_facts(world: dict[str, Any], rng: random.Random, samples: int) -> dict[str, Any]:
    """Replay the contacts and survey answers behind `samples` (team, quarter) pairs through
    the incremental path under a shadow team id, rolled back; compare with the loaded rows."""
    from django.db import transaction

    from teamline.analytics.actions import (
        REALTIME_QUEUES,
        record_answered,
        record_call_ended,
        record_left_queue,
        record_offered,
        record_resolved,
        record_survey,
        record_transferred,
    )
    from teamline.analytics.models import FACT_COUNTERS, Contact, ContactFact
    from teamline.conversations.models import Conversation

    surveys = world["_surveys"]
    survey_of = {
        conversation: (kind, score, at)
        for rows in surveys.values()
        for conversation, kind, score, at in rows
    }
    pairs = rng.sample(sorted(surveys), samples)
    compared, contacts_replayed, mismatches = 0, 0, []

    class Rollback(Exception):
        pass

    for team, quarter in pairs:
        shadow_team = SHADOW + team
        answers = surveys[(team, quarter)]
        counted = Contact.objects.filter(team_id=team, interval_start=quarter)
        conversation_ids = set(counted.values_list("conversation_id", flat=True))
        conversation_ids |= {answer[0] for answer in answers}
        customer_ids = set(
            Contact.objects.filter(conversation_id__in=conversation_ids).values_list(
                "customer_id", flat=True
            )
        )
        replay = list(Contact.objects.filter(customer_id__in=customer_ids))
        answered_by = [
            (c.conversation_id, *survey_of[c.conversation_id])
            for c in replay
            if c.conversation_id in survey_of
        ]
        events: list[tuple[datetime, int, Callable[[], object]]] = []
        for c in replay:
            work_item = SHADOW + c.work_item_id
            events.append(
                (
                    c.offered_at,
                    2,
                    lambda c=c, work_item=work_item, shadow_team=shadow_team: record_offered(
                        work_item_id=work_item,
                        conversation_id=c.conversation_id,
                        customer_id=SHADOW + c.customer_id,
                        team_id=shadow_team,
                        queue=c.queue,
                        channel=c.channel,
                        threshold_seconds=c.threshold_seconds,
                        at=c.offered_at,
                    ),
                )
            )
            if c.abandoned_at is not None:
                events.append(
                    (
                        c.abandoned_at,
                        3,
                        lambda c=c, work_item=work_item: record_left_queue(
                            [work_item], c.abandoned_at, abandoned=True, resolved=False
                        ),
                    )
                )
            if c.answered_at is not None:
                voice = c.queue in REALTIME_QUEUES
                events.append(
                    (
                        c.answered_at,
                        4,
                        lambda c=c, voice=voice: record_answered(
                            c.conversation_id, c.agent_id, c.answered_at, by_call=voice
                        ),
                    )
                )
                if c.transfers:
                    moved = c.answered_at + timedelta(seconds=1)
                    events.append(
                        (
                            moved,
                            5,
                            lambda c=c, work_item=work_item, moved=moved, shadow_team=shadow_team: (
                                record_transferred(
                                    conversation_id=c.conversation_id,
                                    work_item_id=work_item,
                                    team_id=shadow_team,
                                    queue=c.queue,
                                    channel=c.channel,
                                    threshold_seconds=c.threshold_seconds,
                                    at=moved,
                                )
                            ),
                        )
                    )
                if c.handled_at is not None:
                    end: Callable[[], object] = (
                        (lambda c=c: record_call_ended(c.conversation_id, c.agent_id, c.handled_at))
                        if voice
                        else (lambda c=c: record_resolved(c.conversation_id, c.handled_at))
                    )
                    events.append((c.handled_at, 0, end))
        for conversation, kind, score, at in answered_by:
            events.append(
                (
                    at,
                    1,
                    lambda conversation=conversation, kind=kind, score=score, at=at: record_survey(
                        Conversation.objects.get(pk=conversation),
                        kind,
                        score,
                        at,
                        key=f"bench-check:{conversation}",
                    ),
                )
            )
        events.sort(key=lambda event: (event[0], event[1]))
        fields = ["queue", "channel", "agent_id", *FACT_COUNTERS]
        loaded = {
            tuple(row[:3]): row[3:]
            for row in ContactFact.objects.filter(team_id=team, interval_start=quarter).values_list(
                *fields
            )
            if any(row[3:])
        }
        try:
            with transaction.atomic():
                for _at, _rank, apply in events:
                    apply()
                replayed = {
                    tuple(row[:3]): row[3:]
                    for row in ContactFact.objects.filter(
                        team_id=shadow_team, interval_start=quarter
                    ).values_list(*fields)
                    if any(row[3:])
                }
                raise Rollback
        except Rollback:
            pass
        contacts_replayed += len(replay)
        compared += len(loaded)
        if loaded != replayed:
            mismatches.append(
                {
                    "team": team,
                    "quarter": quarter.isoformat(),
                    "loaded": {str(k): v for k, v in loaded.items()},
                    "replayed": {str(k): v for k, v in replayed.items()},
                }
            )
    return {
        "pairs": len(pairs),
        "fact_rows_compared": compared,
        "contacts_replayed": contacts_replayed,
        "mismatches": mismatches[:3],
        "equal": not mismatches,
    }


def incremental(world: dict[str, Any], contacts: int, rng: random.Random) -> dict[str, Any]:
    """The incremental path as the entry points run it: one transaction per transition."""
    from django.db import connection, transaction
    from django.db.models import Max
    from django.test.utils import CaptureQueriesContext

    from teamline.analytics.actions import (
        record_answered,
        record_offered,
        record_resolved,
        record_survey,
    )
    from teamline.analytics.models import Contact
    from teamline.conversations.models import Conversation

    team = world["teams"][0]
    agent = world["agents"][team][0]
    # Work items after those of an earlier run on a kept database.
    first = max(2 * SHADOW, (Contact.objects.aggregate(last=Max("work_item_id"))["last"] or 0) + 1)
    sample = list(Conversation.objects.filter(team_id=team).order_by("-pk")[:contacts])
    base = datetime(2026, 6, 30, 8, 0, tzinfo=UTC)
    statements = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for n, conversation in enumerate(sample):
        at = base + timedelta(seconds=7 * n)
        # The query log keeps the last 9,000 statements only; captured counts read it by index.
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as queries:
            with transaction.atomic():
                record_offered(
                    work_item_id=first + n,
                    conversation_id=conversation.pk,
                    customer_id=conversation.customer_id,
                    team_id=team,
                    queue="chat",
                    channel="webchat",
                    threshold_seconds=60,
                    at=at,
                )
            with transaction.atomic():
                record_answered(conversation.pk, agent, at + timedelta(seconds=40), by_call=False)
            with transaction.atomic():
                record_answered(  # a later reply: answers nothing
                    conversation.pk, agent, at + timedelta(seconds=90), by_call=False
                )
            with transaction.atomic():
                record_resolved(conversation.pk, at + timedelta(seconds=400))
            if n % 3 == 0:
                record_survey(conversation, "csat", rng.randint(1, 5), at + timedelta(seconds=500))
        statements += len(
            [
                q
                for q in queries.captured_queries
                if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT"))
            ]
        )
    elapsed, used = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "contacts": len(sample),
        "ms_per_contact": round(elapsed * 1000 / max(1, len(sample)), 2),
        "cpu_ms_per_contact": round(used * 1000 / max(1, len(sample)), 2),
        "statements_per_contact": round(statements / max(1, len(sample)), 2),
    }


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pick(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)

    return {
        "n": len(values),
        "p50": pick(0.5),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": round(ordered[-1], 1),
    }


@contextlib.contextmanager
def database_time() -> Iterator[list[float]]:
    """Wall seconds spent inside database calls (client side: the server's work and the
    wait for it)."""
    from django.db import connection

    spent: list[float] = [0.0]

    def wrapper(execute: Any, sql: Any, params: Any, many: Any, context: Any) -> Any:
        wall = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent[0] += time.perf_counter() - wall

    with connection.execute_wrapper(wrapper):
        yield spent


def backend_cpu() -> Callable[[], float]:
    """On PostgreSQL on this machine: the CPU seconds the server process of this connection
    has used so far (utime + stime from /proc). Elsewhere: 0."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return lambda: 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return lambda: 0.0
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    return read


def run_requests(
    world: dict[str, Any], requests: int, rounds: int, rng: random.Random
) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client

    from teamline.accounts.actions import do_create_api_token
    from teamline.accounts.models import User

    clients = {}
    for team in world["teams"]:
        supervisor = User.objects.get(username=f"supervisor-{team}")
        _, secret = do_create_api_token(supervisor, name="bench", actor=supervisor)
        clients[team] = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    months = [(2025, m) for m in range(7, 13)] + [(2026, m) for m in range(1, 7)]

    def month_query() -> tuple[int, dict[str, Any]]:
        team = rng.choice(world["teams"])
        year, month = rng.choice(months)
        last = (datetime(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
        return team, {
            "team": team,
            "from": f"{year}-{month:02d}-01",
            "to": f"{year}-{month:02d}-{last:02d}",
            "interval": "1d",
        }

    def day_query() -> tuple[int, dict[str, Any]]:
        team = rng.choice(world["teams"])
        day = START + timedelta(days=rng.randrange(DAYS))
        return team, {"team": team, "from": f"{day:%Y-%m-%d}", "interval": "15m"}

    for maker in (month_query, day_query):  # warm-up, not timed
        for _ in range(5):
            team_id, query = maker()
            clients[team_id].get("/api/v1/analytics/kpis", query)
    connection.ensure_connection()
    server_cpu = backend_cpu()
    per_round: dict[str, list[dict[str, Any]]] = {"month_by_day": [], "day_by_15m": []}
    for _round in range(rounds):
        for label, maker in (("month_by_day", month_query), ("day_by_15m", day_query)):
            walls, cpus, dbs, offered = [], [], [], 0
            server_before = server_cpu()
            for _ in range(requests):
                team_id, query = maker()
                with database_time() as spent:
                    wall, cpu = time.perf_counter(), time.process_time()
                    response = clients[team_id].get("/api/v1/analytics/kpis", query)
                    walls.append((time.perf_counter() - wall) * 1000)
                    cpus.append((time.process_time() - cpu) * 1000)
                dbs.append(spent[0] * 1000)
                assert response.status_code == 200, response.content[:300]
                offered += sum(row["offered"] for row in response.json()["intervals"])
            per_round[label].append(
                {
                    "latency_ms": summary(walls),
                    "cpu_ms": summary(cpus),
                    "db_wall_ms": summary(dbs),
                    "db_server_cpu_ms_mean": round(
                        (server_cpu() - server_before) * 1000 / requests, 1
                    ),
                    "mean_offered_per_request": round(offered / requests),
                    "load_average": round(os.getloadavg()[0], 2),
                }
            )
    results: dict[str, Any] = {}
    for label, measured in per_round.items():
        median = {
            f"{measure}_{stat}": round(statistics.median(r[measure][stat] for r in measured), 1)
            for measure in ("latency_ms", "cpu_ms", "db_wall_ms")
            for stat in ("p50", "p95", "p99")
        }
        median["db_server_cpu_ms_mean"] = statistics.median(
            r["db_server_cpu_ms_mean"] for r in measured
        )
        results[label] = {"median_over_rounds": median, "rounds": measured}
    return results


def one(db: str, args: argparse.Namespace) -> dict[str, Any]:
    from bench.scratch_db import configure, drop, machine

    saved: dict[str, Any] = {}
    if args.reuse:
        saved = json.loads((Path(args.reuse) / "world.json").read_text())
        context: Any = contextlib.nullcontext(args.reuse)
    elif args.keep or args.pg_database:
        context = contextlib.nullcontext(tempfile.mkdtemp(prefix=f"teamline-kpis-{db}-"))
    else:
        context = tempfile.TemporaryDirectory(prefix="teamline-kpi-bench-")
    keep = bool(args.keep or args.pg_database)
    with context as workdir:
        reuse = ""
        if args.reuse:
            reuse = saved["database"] or str(Path(workdir) / "teamline.sqlite3")
        elif args.pg_database and db == "postgresql":
            reuse = args.pg_database  # an existing, empty database: built in place, kept
        name = configure(db, args.db_url, Path(workdir), label="kpis", reuse=reuse)
        try:
            from django.core.management import call_command

            # On a kept database: the code may have moved on since (a new index).
            call_command("migrate", verbosity=0)
            rng = random.Random(args.seed)
            load_before = os.getloadavg()
            check: dict[str, Any] = {}
            if args.reuse:
                world = saved["world"]
                world["agents"] = {int(k): v for k, v in world["agents"].items()}
                log(f"{db}: reusing {reuse}")
            else:
                size = f"{args.conversations} conversations, {args.messages} messages"
                log(f"{db}: generating {size}")
                world = generate(args.conversations, args.messages, rng, args.teams)
                log(f"{db}: checking the fact rows against the incremental path")
                check = check_facts(world, random.Random(args.seed + 2), args.check)
                log(f"{db}: check { ({k: v for k, v in check.items() if k != 'mismatches'}) }")
                world.pop("_surveys")
                if keep:
                    Path(workdir, "world.json").write_text(
                        json.dumps({"database": args.pg_database or name, "world": world})
                    )
            log(f"{db}: incremental path")
            path = incremental(world, args.incremental, random.Random(args.seed + 3))
            log(f"{db}: {path}")
            requests = run_requests(world, args.requests, args.rounds, random.Random(args.seed + 1))
            return {
                "db": db,
                "teams": len(world["teams"]),
                "conversations": world["conversations"],
                "messages": world["messages"],
                "customers": world["customers"],
                "surveyed": world["surveyed"],
                "fact_rows": world["fact_rows"],
                "generate_seconds": world["generate_seconds"],
                "rebuild": world["rebuild"],
                "fact_load_seconds": world["fact_load_seconds"],
                "check": check,
                "incremental": path,
                "requests": requests,
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "kept": workdir if keep else "",
                **machine(),
            }
        finally:
            if keep:
                log(f"{db}: kept in {workdir} (measure again with --reuse {workdir})")
            elif not args.reuse:
                drop(args.db_url, name)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=10_000_000)
    parser.add_argument(
        "--db", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--teams", type=int, default=TEAMS)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--incremental", type=int, default=2000)
    parser.add_argument("--check", type=int, default=40, help="(team, quarter) pairs replayed")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument(
        "--keep", action="store_true", help="keep the database (and the world it holds)"
    )
    parser.add_argument(
        "--reuse", default="", help="measure the database a --keep run kept (its directory)"
    )
    parser.add_argument(
        "--pg-database",
        default="",
        help="build the PostgreSQL run in this existing empty database (kept, like --keep)",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args), default=str))
        return 0
    results = []
    for db in args.db:
        command = [sys.executable, __file__, "--one", db, *sys.argv[1:]]
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        for label in ("month_by_day", "day_by_15m"):
            m = result["requests"][label]["median_over_rounds"]
            print(
                f"{db}: {label}: p50 {m['latency_ms_p50']} / p95 {m['latency_ms_p95']} /"
                f" p99 {m['latency_ms_p99']} ms wall, cpu p50 {m['cpu_ms_p50']} /"
                f" p95 {m['cpu_ms_p95']} ms, db wall p95 {m['db_wall_ms_p95']} ms, db server"
                f" cpu {m['db_server_cpu_ms_mean']} ms/request (medians over rounds)"
            )
        print(
            f"{db}: {result['conversations']} conversations, {result['messages']} messages,"
            f" {result['fact_rows']} fact rows; check {result['check'].get('equal')}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
