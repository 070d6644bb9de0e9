"""Voice benchmark: concurrent simulated phone calls → Teamline's IVR and queue (TwiML).

    .venv/bin/python bench/voice_calls.py --backend sqlite                     # 200 lines, 5x
    .venv/bin/python bench/voice_calls.py --backend postgres --redis-db 6 --workers 2
    .venv/bin/python bench/voice_calls.py --compress 1 --seconds 240          # real time

One run: a fresh database (a temp TEAMLINE_VAR_DIR with SQLite, or a scratch PostgreSQL database
``teamline_bench_voice_<pid>``, created and dropped, plus a Redis database number and a unique
pub/sub prefix), migrated and seeded through the real actions (bench/seed_teamline.py: one team,
K available agents taking one call each; K is small so callers wait in line), then a voice inbox
with Twilio credentials (encrypted, as the admin sets them). Every caller's number is a
subscriber of the demo telco backend: the server runs with bench/voice_bench_settings.py, which
adds the callers' numbers to the demo table, so the balance step really reads a balance. The
real ``teamline serve`` (uvicorn, the product's ASGI server) runs as a subprocess on a free
127.0.0.1 port (SQLite: embedded task worker; PostgreSQL + Redis: ``--no-worker`` plus
``--workers`` separate ``teamline worker`` processes). An A/B run of other server code points
PYTHONPATH at that checkout's src/ (the report names the code the server ran).

C lines (``--concurrency``, default 200) each place calls back to back for ``--seconds``: as soon
as a caller hangs up, the next caller takes the line, so C calls are in progress at any time.
Each caller follows a plan drawn from ``--seed`` and does what Twilio does for them:

    POST <webhook>                    the call arrives        → welcome + menu <Gather>
      (3-8 s: listens to the menu)
    [25 %: POST <Gather> Digits=1     balance and data left   → two <Say>s + the menu again
      (8-15 s)]
    POST <Gather> Digits=0            talk to your team       → position, wait, <Gather>,
                                                                <Pause 30>, <Redirect>; or, when
                                                                an agent was given the call,
                                                                "<name> will answer" (it rings;
                                                                nobody answers here, the caller
                                                                hangs up while it rings)
    POST <Redirect> × 1-6             the hold loop: one announcement every 30-60 s
      then 20 %: POST <hold Gather> Digits=9  → the callback is booked, <Hangup>
        or 80 %: hangs up in the silence
    POST <webhook>/status             the call ended (CallStatus=completed)

Every wait above is a real caller's, divided by ``--compress`` (default 5: a hold round every
6-12 s; 1 = real time; 0 = no waits at all, every line always has a request in flight). Every
request is form-encoded and signed with X-Twilio-Signature (HMAC-SHA1 with the auth token over
the full URL + the sorted name+value pairs; the signer is written here, the client side does not
import Teamline), every URL followed is the one our TwiML named. Measured on the client: the
latency of every TwiML answer from sending the request to its last byte, per step kind
(p50/p95/p99/max), calls handled per second (calls without an error over the run), errors (any
non-200, unparseable TwiML, or TwiML that is not what the step must answer). Afterwards the
stored rows are checked: one VoiceCall per call, ended; one conversation per caller who asked
for the team; every caller who hung up while waiting (or while it rang) has their work item
closed ``abandoned``;
every caller who pressed 9 has a callback; exactly the steps the provider posted were stored,
once each. A few warm-up calls precede the run (not counted). Everything started is stopped and
the database dropped at the end, also on errors and Ctrl+C. Only 127.0.0.1 is used.
See docs/benchmarks.md ("Voice: IVR and queue").
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import math
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import webhooks_throughput as wh
import ws_throughput as wt
from ws_throughput import AGENT_PASSWORD, BENCH_DIR, VENV_BIN, BenchError, Cleanup, log

SETTINGS = "voice_bench_settings"
FIRST_NUMBER = 4793000000  # the numbers voice_bench_settings adds to the demo telco table
CALLED = "+4721000000"
QS = (50, 95, 99, 100)
STEPS = ("start", "balance", "queue", "hold", "callback", "status")
WARMUP_CALLS = 5
TARGET_P99_MS = 150.0


# --- Inside Django (run as a subprocess with the server's environment) --------------------------


def django_seed_inbox(team_id: int) -> dict[str, Any]:
    """The team's voice inbox, Twilio credentials set (encrypted) as the admin does."""
    import teamline
    from teamline.conversations.models import Inbox
    from teamline.teams.models import Team

    credentials = {"account_sid": "AC" + secrets.token_hex(16), "auth_token": secrets.token_hex(16)}
    inbox = Inbox(
        name="Bench phone",
        kind="voice",
        default_team=Team.objects.get(pk=team_id),
        config={"language": "nb", "default_region": "NO"},
    )
    inbox.credentials = credentials
    inbox.save()
    # Which code the server runs (an A/B run points PYTHONPATH at another checkout's src/).
    code = Path(teamline.__file__).resolve().parents[2]
    version = subprocess.run(
        ["git", "-C", str(code), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "inbox": str(inbox.public_id),
        "credentials": credentials,
        "server_code": f"{code} ({version or 'no git'})",
    }


def django_dump(inbox_id: str) -> dict[str, Any]:
    """What the calls left in the database, for the invariant checks."""
    from django.db.models import Count

    from teamline.connectors.models import WebhookEvent
    from teamline.conversations.models import Conversation
    from teamline.routing.models import WorkItem
    from teamline.selfservice.models import VoiceCall, VoiceCallStep

    calls = VoiceCall.objects.filter(inbox__public_id=inbox_id)
    items = dict(
        WorkItem.objects.filter(pk__in=calls.values("work_item_id")).values_list("pk", "state")
    )
    customers = calls.values("customer_id")
    per_customer = (
        Conversation.objects.filter(customer_id__in=customers)
        .values("customer_id")
        .annotate(n=Count("id"))
    )
    return {
        "calls": [
            [
                sid,
                caller,
                ended is not None,
                queued is not None,
                callback,
                abandoned,
                items.get(item_id),
            ]
            for sid, caller, ended, queued, callback, abandoned, item_id in calls.values_list(
                "call_sid",
                "caller",
                "ended_at",
                "queued_at",
                "callback_requested",
                "abandoned_after_seconds",
                "work_item_id",
            )
        ],
        "steps": list(
            VoiceCallStep.objects.filter(call__inbox__public_id=inbox_id).values_list(
                "call__call_sid", "step"
            )
        ),
        "conversations_per_customer": [row["n"] for row in per_customer],
        "customers": calls.values("customer_id").distinct().count(),
        "events": dict(
            Counter(
                WebhookEvent.objects.filter(inbox__public_id=inbox_id).values_list(
                    "status", flat=True
                )
            )
        ),
    }


def django_main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "teamline.settings.defaults")
    import django

    django.setup()
    if argv[0] == "_seed":
        print(json.dumps(django_seed_inbox(int(argv[1]))))
    elif argv[0] == "_dump":
        print(json.dumps(django_dump(argv[1])))


# --- The simulated provider ----------------------------------------------------------------------


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1(auth token, URL + sorted name+value pairs)."""
    data = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(
        hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    ).decode()


@dataclass
class CallLog:
    sid: str
    caller: str
    plan: Plan
    latencies: list[tuple[str, float]] = field(default_factory=list)  # (step kind, ms)
    answered: list[str] = field(default_factory=list)  # step paths answered 200
    errors: list[str] = field(default_factory=list)
    queued: bool = False  # asked for the team (0) and was answered
    callback: bool = False  # pressed 9 while waiting and was answered
    assigned: bool = False  # routing gave it to an agent: it rang for them instead of holding
    done_at: float = 0.0


@dataclass(frozen=True)
class Plan:
    """What one caller will do, drawn before the call (seconds are real-call seconds)."""

    menu_think: float  # listening to the welcome and the menu before pressing a key
    balance_first: bool  # 1 (balance and data left) first, then 0 after the answer
    balance_think: float
    holds: int  # hold-loop Redirects the caller sits through before giving up
    hold_gaps: tuple[float, ...]  # seconds between two hold answers (30-60 s on a real line)
    leaves_by: str  # "hangup" or "callback" (presses 9 at the last hold announcement)


def draw_plan(rnd: random.Random, args: argparse.Namespace) -> Plan:
    holds = rnd.randint(1, args.max_holds)
    return Plan(
        menu_think=rnd.uniform(3, 8),
        balance_first=rnd.random() < args.balance_share,
        balance_think=rnd.uniform(8, 15),
        holds=holds,
        hold_gaps=tuple(rnd.uniform(30, 60) for _ in range(holds + 1)),
        leaves_by="callback" if rnd.random() < args.callback_share else "hangup",
    )


class Provider:
    """Posts a call's webhooks the way Twilio does and follows the TwiML it gets back; sleeps
    what a real caller would, divided by `compress`."""

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, inbox: str, creds: dict, compress: float
    ) -> None:
        self.http = http
        self.compress = compress
        self.prefix = f"{base_url}/webhooks/twilio/{inbox}/"
        self.account_sid = creds["account_sid"]
        self.auth_token = creds["auth_token"]

    async def wait(self, real_seconds: float) -> None:
        if self.compress > 0:
            await asyncio.sleep(real_seconds / self.compress)

    def params(self, call: CallLog, **extra: str) -> dict[str, str]:
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": call.sid,
            "CallStatus": "in-progress",
            "Called": CALLED,
            "CalledCountry": "NO",
            "Caller": call.caller,
            "CallerCountry": "NO",
            "Direction": "inbound",
            "From": call.caller,
            "FromCountry": "NO",
            "To": CALLED,
            "ToCountry": "NO",
            **extra,
        }

    async def post(
        self, call: CallLog, kind: str, url: str, params: dict[str, str]
    ) -> ET.Element | None:
        """One signed webhook; the parsed TwiML, or None (recorded as an error). The latency is
        the client's: from sending the request to the last byte of the answer."""
        if not url.startswith(self.prefix):
            call.errors.append(f"{kind}: TwiML URL leaves the inbox ({url[:80]})")
            return None
        step = url[len(self.prefix) :].strip("/") or "start"
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(self.auth_token, url, list(params.items())),
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        }
        started = time.perf_counter()
        try:
            response = await self.http.post(url, content=urlencode(params), headers=headers)
        except httpx.HTTPError as exc:
            call.errors.append(f"{kind}: {type(exc).__name__}")
            return None
        elapsed = (time.perf_counter() - started) * 1000  # httpx has read the whole body
        if response.status_code != 200:
            # Counted as an error, not in the latencies (a 503 is answered at once).
            call.errors.append(f"{kind}: HTTP {response.status_code}")
            return None
        call.latencies.append((kind, elapsed))
        call.answered.append(step)
        try:
            root = ET.fromstring(response.content)  # noqa: S314 - our own server's answer
        except ET.ParseError:
            call.errors.append(f"{kind}: unparseable TwiML")
            return None
        if root.tag != "Response":
            call.errors.append(f"{kind}: TwiML root {root.tag}")
            return None
        return root

    async def call(self, call: CallLog) -> None:
        """The caller's plan, then the status callback Twilio sends when the call ends."""
        try:
            await self._call(call)
        finally:
            # The call ends whatever happened (the caller hung up, or our TwiML did).
            await self.post(
                call,
                "status",
                self.prefix + "status",
                self.params(call, CallStatus="completed", CallDuration="42"),
            )
            call.done_at = time.perf_counter()

    async def _call(self, call: CallLog) -> None:
        plan = call.plan
        root = await self.post(call, "start", self.prefix, self.params(call))
        menu = gather_action(root)
        if root is None:
            return
        if menu is None:
            call.errors.append("start: no menu <Gather>")
            return
        await self.wait(plan.menu_think)
        if plan.balance_first:
            root = await self.post(call, "balance", menu, self.params(call, Digits="1"))
            if root is None:
                return
            # The balance and the data left are two <Say>s before the menu.
            if len(root.findall("Say")) < 2:
                call.errors.append("balance: no balance read")
            menu = gather_action(root)
            if menu is None:
                call.errors.append("balance: no menu <Gather> after the balance")
                return
            await self.wait(plan.balance_think)
        root = await self.post(call, "queue", menu, self.params(call, Digits="0"))
        if root is not None:
            call.queued = True
        for n in range(plan.holds + 1):
            if root is None:
                return
            if root.find("Hangup") is not None:
                call.assigned = True
                return
            redirect = root.find("Redirect")
            hold = gather_action(root)
            if hold is None and redirect is not None and redirect.text:
                # Routing gave the call to an agent: it rings for them (nobody answers here);
                # the caller hangs up while it rings, which is an abandonment.
                call.assigned = True
                await self.wait(plan.hold_gaps[-1] / 2)
                return
            if hold is None or redirect is None or not redirect.text:
                call.errors.append("hold: neither a hold round nor a hang-up")
                return
            if n == plan.holds:
                break
            # Silence at the hold <Gather>: Twilio plays the <Pause>, then follows the Redirect.
            await self.wait(plan.hold_gaps[n])
            root = await self.post(call, "hold", redirect.text, self.params(call))
        assert root is not None and hold is not None
        if plan.leaves_by == "callback":
            # Presses 9 during the announcement (a few seconds in): the Gather's action.
            await self.wait(min(plan.hold_gaps[-1], 8))
            root = await self.post(call, "callback", hold, self.params(call, Digits="9"))
            if root is None:
                return
            if root.find("Hangup") is None:
                if gather_action(root) is None and root.find("Redirect") is not None:
                    call.assigned = True  # an agent was given the call meanwhile: it rings
                    return
                call.errors.append("callback: no goodbye <Hangup>")
                return
            call.callback = not root.findall("Gather")
        else:
            # Gives up somewhere in the silence: hangs up (the status callback follows).
            await self.wait(plan.hold_gaps[-1] / 2)


def gather_action(root: ET.Element | None) -> str | None:
    gather = root.find("Gather") if root is not None else None
    return gather.get("action") if gather is not None else None


async def place_calls(
    base_url: str,
    seed: dict[str, Any],
    callers: list[str],
    args: argparse.Namespace,
    *,
    concurrency: int,
    seconds: float,
    compress: float,
    rnd: random.Random,
) -> tuple[list[CallLog], float, float]:
    """C caller slots, each placing calls back to back (a new caller takes the line as soon as
    the last one ended) until the numbers run out or `seconds` are up; calls in progress then
    go on to their end. Returns the calls, the burst's start and its end (perf_counter)."""
    pending = iter(callers)
    calls: list[CallLog] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        provider = Provider(http, base_url, seed["inbox"], seed["credentials"], compress)
        started = time.perf_counter()
        deadline = started + seconds

        async def slot() -> None:
            # The first calls arrive spread over one mean hold gap, not all in the same instant.
            await provider.wait(rnd.uniform(0, 45))
            for caller in pending:
                if time.perf_counter() > deadline:
                    return
                call = CallLog("CA" + uuid.uuid4().hex, caller, draw_plan(rnd, args))
                calls.append(call)
                await provider.call(call)

        await asyncio.gather(*(slot() for _ in range(concurrency)))
        return calls, started, time.perf_counter()


# --- Report -------------------------------------------------------------------------------------


def fmt(value: float) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def check(calls: list[CallLog], warmup: list[CallLog], dump: dict[str, Any]) -> list[str]:
    """The stored rows against what the provider did; a list of broken invariants."""
    problems = []
    # Only what Teamline answered 200 counts: a shed request (503) stored nothing, by design.
    everyone = [c for c in warmup + calls if "start" in c.answered]
    stored = {row[0]: row for row in dump["calls"]}
    if set(stored) != {c.sid for c in everyone}:
        problems.append(f"{len(stored)} calls stored for {len(everyone)} answered")
    hung_up = {c.sid for c in everyone if "status" in c.answered}
    not_ended = [sid for sid, row in stored.items() if sid in hung_up and not row[2]]
    if not_ended:
        problems.append(f"{len(not_ended)} calls not ended after their status callback")
    many = [n for n in dump["conversations_per_customer"] if n != 1]
    queued = {c.caller for c in everyone if c.queued}
    if many or dump["customers"] != len({c.caller for c in everyone}):
        problems.append(
            f"conversations per caller not 1: {len(many)} callers with {sorted(set(many))}; "
            f"{dump['customers']} customers for {len({c.caller for c in everyone})} numbers"
        )
    if len(dump["conversations_per_customer"]) != len(queued):
        problems.append(
            f"{len(dump['conversations_per_customer'])} callers have a conversation, "
            f"{len(queued)} asked for their team"
        )
    by_sid = {c.sid: c for c in everyone}
    waiting_not_abandoned = [
        sid
        for sid, row in stored.items()
        if row[3] and sid in hung_up and not by_sid[sid].callback and row[6] != "abandoned"
    ]
    if waiting_not_abandoned:
        states = Counter(stored[s][6] for s in waiting_not_abandoned)
        problems.append(f"{len(waiting_not_abandoned)} waiting calls not abandoned: {dict(states)}")
    callbacks = {c.sid for c in everyone if c.callback}
    not_called_back = [
        sid for sid in callbacks if not stored[sid][4] or stored[sid][6] == "abandoned"
    ]
    if not_called_back:
        problems.append(f"{len(not_called_back)} callers who pressed 9 have no callback waiting")
    steps = Counter((sid, step) for sid, step in dump["steps"])
    duplicates = sum(1 for n in steps.values() if n > 1)
    if duplicates:
        problems.append(f"{duplicates} steps stored more than once")
    expected = {(c.sid, s) for c in everyone for s in c.answered if s != "status"}
    missing = expected - set(steps)
    extra = set(steps) - expected
    if missing or extra:
        problems.append(f"steps stored vs posted: {len(missing)} missing, {len(extra)} extra")
    return problems


def compression(factor: float) -> str:
    if factor <= 0:
        return "no think time at all (every line always has a request in flight)"
    if factor == 1:
        return "real time (a caller's pace, not compressed)"
    return (
        f"time compressed {factor:g}x (every wait a caller makes is divided by {factor:g}: "
        f"a 30-60 s hold round comes every {30 / factor:.1f}-{60 / factor:.1f} s)"
    )


def report(args, machine, info, calls, started, ended, warmup, dump, cpu, seed) -> dict[str, Any]:
    by_step: dict[str, list[float]] = {s: [] for s in STEPS}
    for call in calls:
        for kind, ms in call.latencies:
            by_step[kind].append(ms)
    twiml = sorted(ms for kind, values in by_step.items() if kind != "status" for ms in values)
    errors = Counter(e for c in calls for e in c.errors)
    completed = [c for c in calls if not c.errors]
    span = max((c.done_at for c in calls), default=ended) - started
    problems = check(calls, warmup, dump)
    p99 = wt.percentile(twiml, 99)
    print()
    print(
        f"machine : {machine['cpu_model']}, {machine['logical_cpus']} logical CPUs "
        f"({machine['usable_cpus']} usable), {machine['ram_gib']} GiB RAM, Linux "
        f"{machine['kernel']}, Python {machine['python']}; others used "
        f"{machine['background_cpu']:.0f} % of a core before the run; code {wt.code_version()}"
    )
    print(f"backend : {args.backend}: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(f"server  : teamline serve (uvicorn), code in {seed['server_code']}")
    worker_mode = "embedded" if args.backend == "sqlite" else f"{args.workers} × teamline worker"
    print(
        f"setup   : 1 team, {args.agents} available agents (1 call each), 1 voice inbox; "
        f"task worker: {worker_mode}"
    )
    print(
        f"warm-up : {len(warmup)} calls one at a time, {sum(c.assigned for c in warmup)} rang "
        "for an agent (who keeps the conversation: nobody answers a call here)"
    )
    print(
        f"load    : {len(calls)} calls placed over {args.seconds:g} s by C={args.concurrency} "
        f"lines (a new caller as soon as one hangs up); {compression(args.compress)}"
    )
    print(
        f"callers : welcome, 3-8 s to choose; {args.balance_share:.0%} press 1 (balance) first and "
        f"0 8-15 s later, the others 0; then 1-{args.max_holds} hold rounds 30-60 s apart; "
        f"{args.callback_share:.0%} then press 9 (callback), the others hang up"
    )
    print()
    outcomes = Counter(
        "rang for an agent" if c.assigned else "callback" if c.callback else "hung up waiting"
        for c in calls
        if c.queued
    )
    print(
        f"calls   : {len(completed)}/{len(calls)} without error in {span:.1f} s = "
        f"{len(completed) / span:.2f} calls/s handled; "
        + ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items()))
    )
    print(f"{'TwiML ms':<12} {'n':>6} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}")
    everything = sorted(ms for values in by_step.values() for ms in values)
    rows = {**by_step, "all TwiML": twiml, "all + status": everything}
    stats = {}
    for name, values in rows.items():
        values = sorted(values)
        stats[name] = {"n": len(values), **{str(q): wt.percentile(values, q) for q in QS}}
        if values:
            print(
                f"{name:<12} {len(values):>6} "
                + " ".join(f"{fmt(wt.percentile(values, q)):>7}" for q in QS)
            )
    print(
        f"requests: {len(twiml) + len(by_step['status'])} in {span:.1f} s = "
        f"{(len(twiml) + len(by_step['status'])) / span:.0f}/s"
    )
    if cpu:
        print(
            f"CPU     : server {cpu['server']:.0f} %, workers {cpu['workers']:.0f} %, client "
            f"{cpu['client']:.0f} %, postgres {cpu['postgres']:.0f} %, redis {cpu['redis']:.0f} %,"
            f" other {cpu['other']:.0f} % of one core"
        )
    print(f"stored  : webhook events {dump['events']}, {len(dump['steps'])} call steps")
    print(f"errors  : {dict(errors) or 'none'}")
    print(f"checks  : {'; '.join(problems) or 'all invariants hold'}")
    met = p99 < TARGET_P99_MS
    print(
        f"target  : TwiML p99 {fmt(p99)} ms {'<' if met else '>='} {TARGET_P99_MS:g} ms: "
        f"{'MET' if met else 'NOT MET'}"
    )
    ok = not errors and not problems
    print(f"result  : {'OK' if ok else 'PROBLEMS (see above)'}")
    return {
        "args": {k: str(v) for k, v in vars(args).items()},
        "machine": machine,
        "backend": info,
        "server_code": seed["server_code"],
        "calls": len(calls),
        "completed": len(completed),
        "seconds": span,
        "calls_per_s": len(completed) / span,
        "twiml_ms": stats,
        "cpu": cpu,
        "errors": dict(errors),
        "problems": problems,
        "target_met": met,
        "ok": ok,
        "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


# --- Main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--concurrency", "-c", type=int, default=200, help="calls in progress at a time (lines)"
    )
    parser.add_argument(
        "--seconds", type=float, default=90, help="place new calls for this long (then finish)"
    )
    parser.add_argument(
        "--compress",
        type=float,
        default=5,
        help="divide every caller wait by this (1 = real time, 0 = no waits at all)",
    )
    parser.add_argument(
        "--calls", "-n", type=int, default=0, help="at most this many calls (default 6 x C)"
    )
    parser.add_argument("--max-holds", type=int, default=6, help="most hold rounds a caller waits")
    parser.add_argument(
        "--balance-share", type=float, default=0.25, help="share of callers who press 1 first"
    )
    parser.add_argument(
        "--callback-share", type=float, default=0.2, help="share who press 9 instead of hanging up"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the callers' plans")
    parser.add_argument("--agents", "-k", type=int, default=2, help="available agents")
    parser.add_argument(
        "--workers", type=int, default=2, help="teamline worker processes (postgres only)"
    )
    parser.add_argument(
        "--redis-db",
        type=int,
        default=None,
        help="Redis database number (postgres; default: an empty one)",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=30,
        help="wait up to this many seconds for other processes to use < 25 %% of a core",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="sample the server (all threads) with py-spy during the burst; raw stacks here",
    )
    parser.add_argument("--json", type=Path, default=None, help="append the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    args = parser.parse_args(argv)
    args.calls = args.calls or 6 * args.concurrency
    if min(args.concurrency, args.calls, args.max_holds) < 1 or args.agents < 0 or args.workers < 1:
        parser.error("--concurrency, --calls, --max-holds and --workers must be positive")
    if args.compress < 0 or not 0 <= args.balance_share <= 1 or not 0 <= args.callback_share <= 1:
        parser.error("--compress must be >= 0 and the shares between 0 and 1")
    return args


def self_command(env: dict[str, str], *args: str) -> Any:
    out = wt.run_checked([str(VENV_BIN / "python"), __file__, *args], env, args[0])
    return json.loads(out.strip().splitlines()[-1])


def run(args: argparse.Namespace, workdir: Path, cleanup: Cleanup, runner: asyncio.Runner) -> dict:
    machine = wt.machine_info()
    machine["background_cpu"] = wt.wait_for_quiet(args.wait_idle)
    env, info = wh.setup_backend(
        args.backend,
        workdir,
        cleanup,
        SETTINGS,
        dbname=f"teamline_bench_voice_{os.getpid()}",
        redis_db=args.redis_db,
    )
    env["TEAMLINE_BENCH_VOICE_SUBSCRIBERS"] = str(args.calls + WARMUP_CALLS)
    teamline = str(VENV_BIN / "teamline")
    log(f"{args.backend}: migrating a fresh database")
    wt.run_checked([teamline, "migrate", "--no-input", "-v", "0"], env, "migrate")
    log(f"seeding 1 team, {args.agents} available agents, 1 voice inbox")
    seeded = wt.run_checked(
        [
            str(VENV_BIN / "python"),
            str(BENCH_DIR / "seed_teamline.py"),
            "--agents",
            str(args.agents),
            "--chat-capacity",
            "5",
            "--password",
            AGENT_PASSWORD,
        ],
        env,
        "seed",
    )
    team = json.loads(seeded.strip().splitlines()[-1])["team"]
    seed = self_command(env, "_seed", str(team))
    port = wt.free_port()
    cmd = [teamline, "serve", "--host", "127.0.0.1", "--port", str(port)]
    worker_pids: list[int] = []
    if args.backend == "postgres":
        cmd.append("--no-worker")
        worker_pids = [p.pid for p in wh.start_workers(args.workers, env, workdir, cleanup)]
    server = wt.start_server("teamline", cmd, env, port, workdir, cleanup)
    numbers = [f"+{FIRST_NUMBER + i}" for i in range(args.calls + WARMUP_CALLS)]
    try:
        log(f"warm-up: {WARMUP_CALLS} calls")
        rnd = random.Random(args.seed)
        warmup, _, _ = runner.run(
            place_calls(
                server.base_url,
                seed,
                numbers[:WARMUP_CALLS],
                args,
                concurrency=1,
                seconds=60,
                compress=0,
                rnd=rnd,
            )
        )
        if any(c.errors for c in warmup):
            raise BenchError(f"warm-up failed: {[c.errors for c in warmup]}")
        log(f"burst: {args.concurrency} lines for {args.seconds:g} s, {compression(args.compress)}")
        spy = (
            start_py_spy(server.proc.pid, args.profile, workdir, cleanup) if args.profile else None
        )
        cpu0 = wh.cpu_sample(server.proc.pid, worker_pids)
        calls, started, ended = runner.run(
            place_calls(
                server.base_url,
                seed,
                numbers[WARMUP_CALLS:],
                args,
                concurrency=args.concurrency,
                seconds=args.seconds,
                compress=args.compress,
                rnd=rnd,
            )
        )
        cpu1 = wh.cpu_sample(server.proc.pid, worker_pids)
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its samples when interrupted
            spy.wait(60)
    except BenchError:
        log("server log tail:\n" + server.log_tail())
        raise
    dump = self_command(env, "_dump", seed["inbox"])
    return report(
        args, machine, info, calls, started, ended, warmup, dump, wh.cpu_between(cpu0, cpu1), seed
    )


def start_py_spy(pid: int, out: Path, workdir: Path, cleanup: Cleanup) -> subprocess.Popen:
    """py-spy (pip install py-spy) sampling every thread of the server: the sync views run in
    asgiref's thread pool, which an in-process profiler of the main thread would not see."""
    spy_bin = shutil.which("py-spy", path=str(VENV_BIN)) or shutil.which("py-spy")
    if spy_bin is None:
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
    with (workdir / "py-spy.log").open("wb") as log_file:
        spy = subprocess.Popen(
            [
                *(spy_bin, "record", "--pid", str(pid), "--rate", "100", "--format", "raw"),
                *("--nonblocking", "--output", str(out.resolve())),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    cleanup.push("stop py-spy", lambda: wt.stop_process(spy))
    time.sleep(1)
    if spy.poll() is not None:
        raise BenchError(f"py-spy exited: {(workdir / 'py-spy.log').read_text()[-1000:]}")
    return spy


def main(argv: list[str] | None = None) -> int:
    return wt.run_and_clean_up(parse_args(argv), "teamline-bench-voice-", run)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("_seed", "_dump"):
        django_main(sys.argv[1:])
    else:
        sys.exit(main())
