"""Voice benchmark: concurrent simulated phone calls → Teamline's IVR and queue (TwiML).

    .venv/bin/python bench/voice_calls.py --backend sqlite --concurrency 50
    .venv/bin/python bench/voice_calls.py --backend postgres --concurrency 200 --workers 2

One run: a fresh database (a temp TEAMLINE_VAR_DIR with SQLite, or a ``teamline_bench_wh_<pid>``
PostgreSQL database plus an empty Redis database number and a unique pub/sub prefix, set up by
bench/webhooks_throughput.py's helper), migrated and seeded through the real actions
(bench/seed_teamline.py: one team, K available agents taking one call each; K is small so most
callers wait in line), then a voice inbox with Twilio credentials (encrypted, as the admin sets
them). Every caller's number is a subscriber of the demo telco backend: the server runs with
bench/voice_bench_settings.py, which adds the callers' numbers to the demo table, so the balance
step really reads a balance and data usage. The real ``teamline serve`` runs as a subprocess on a
free 127.0.0.1 port (SQLite: embedded task worker; PostgreSQL + Redis: ``--no-worker`` plus
``--workers`` separate ``teamline worker`` processes).

Then C callers at a time (asyncio + httpx, closed loop: a caller slot places its next call as
soon as the last one ended) place N calls in all, each doing what Twilio does for a caller:

    POST <webhook>                 the call arrives          → TwiML <Gather> (the menu)
    POST <Gather action> Digits=1  balance and data left     → <Say>×2 + the menu again
    POST <Gather action> Digits=0  talk to your team         → position and wait (<Gather>,
                                                               <Pause>, <Redirect>) or, when an
                                                               agent took the call, <Hangup>
    POST <Redirect> × H            the hold loop (silence)   → position and wait again
    POST <webhook>/status          the caller hangs up       → empty TwiML

Every request is form-encoded and signed with X-Twilio-Signature (HMAC-SHA1 with the auth token
over the full URL + the sorted name+value pairs; the signer is written here, the client side
does not import Teamline), every URL followed is the one our TwiML named. By default there is
no think time (a <Pause> is not slept): each of the C calls always has a request in flight, the
server's worst case. ``--think S`` makes each caller wait 0.5–1.5 × S seconds before each next
request (listening to the prompts; a real caller spends 10–40 s per step) and spreads the calls'
arrival over the first S seconds: C calls in progress then offer about C / S requests a second,
closer to a real line. Measured:
the latency of every TwiML response, per step (p50/p95/p99/max), calls completed per second,
errors (any non-200, unparseable TwiML, or TwiML that is not what the step must answer).
Afterwards the stored rows are checked: one VoiceCall per call, ended; one conversation per
caller; every call still waiting at hang-up has its work item closed ``abandoned``; exactly the
steps the provider posted were stored, once each. A few warm-up calls precede the measured burst
(not counted). The burst stops placing calls after --max-seconds. Everything started is stopped
and the database dropped at the end, also on errors and Ctrl+C. Only 127.0.0.1 is used.
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
STEPS = ("start", "balance", "queue", "hold", "status")
WARMUP_CALLS = 5
TARGET_P99_MS = 150.0


# --- Inside Django (run as a subprocess with the server's environment) --------------------------


def django_seed_inbox(team_id: int) -> dict[str, Any]:
    """The team's voice inbox, Twilio credentials set (encrypted) as the admin does."""
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
    return {"inbox": str(inbox.public_id), "credentials": credentials}


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
    latencies: list[tuple[str, float]] = field(default_factory=list)  # (step, ms)
    answered: list[str] = field(default_factory=list)  # step paths answered 200
    errors: list[str] = field(default_factory=list)
    assigned: bool = False  # an agent took it: the TwiML hung up instead of holding
    done_at: float = 0.0


class Provider:
    """Posts a call's webhooks the way Twilio does and follows the TwiML it gets back."""

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, inbox: str, creds: dict, think: float
    ) -> None:
        self.http = http
        self.think = think
        self.prefix = f"{base_url}/webhooks/twilio/{inbox}/"
        self.account_sid = creds["account_sid"]
        self.auth_token = creds["auth_token"]

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
        """One signed webhook; the parsed TwiML, or None (recorded as an error)."""
        if not url.startswith(self.prefix):
            call.errors.append(f"{kind}: TwiML URL leaves the inbox ({url[:80]})")
            return None
        step = url[len(self.prefix) :].strip("/") or "start"
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(self.auth_token, url, list(params.items())),
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        }
        if self.think and step != "start":
            # The caller listens to the last TwiML (prompts, a <Pause>) before the next request.
            await asyncio.sleep(random.uniform(0.5, 1.5) * self.think)
        started = time.perf_counter()
        try:
            response = await self.http.post(url, content=urlencode(params), headers=headers)
        except httpx.HTTPError as exc:
            call.errors.append(f"{kind}: {type(exc).__name__}")
            return None
        elapsed = (time.perf_counter() - started) * 1000
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

    async def call(self, call: CallLog, holds: int) -> None:
        """Start, press 1, press 0, stay on hold for `holds` rounds, hang up."""
        try:
            await self._call(call, holds)
        finally:
            # The caller hangs up whatever happened (as a real call would end).
            await self.post(
                call,
                "status",
                self.prefix + "status",
                self.params(call, CallStatus="completed", CallDuration="42"),
            )
            call.done_at = time.perf_counter()

    async def _call(self, call: CallLog, holds: int) -> None:
        root = await self.post(call, "start", self.prefix, self.params(call))
        menu = gather_action(root)
        if root is None:
            return
        if menu is None:
            call.errors.append("start: no menu <Gather>")
            return
        root = await self.post(call, "balance", menu, self.params(call, Digits="1"))
        if root is None:
            return
        # The balance and the data left are two <Say>s before the menu; "no subscription" is one.
        if len(root.findall("Say")) < 2:
            call.errors.append("balance: no balance read")
        menu = gather_action(root)
        if menu is None:
            call.errors.append("balance: no menu <Gather> after the balance")
            return
        root = await self.post(call, "queue", menu, self.params(call, Digits="0"))
        for _ in range(holds):
            if root is None:
                return
            if root.find("Hangup") is not None:
                call.assigned = True  # an agent has the call: the IVR says so and hangs up
                return
            redirect = root.find("Redirect")
            if root.find("Gather") is None or redirect is None or not redirect.text:
                call.errors.append("hold: neither a hold round nor a hang-up")
                return
            # Silence at the hold <Gather>: Twilio plays the <Pause>, then follows the Redirect.
            root = await self.post(call, "hold", redirect.text, self.params(call))
        if root is not None and root.find("Hangup") is not None:
            call.assigned = True


def gather_action(root: ET.Element | None) -> str | None:
    gather = root.find("Gather") if root is not None else None
    return gather.get("action") if gather is not None else None


async def place_calls(
    base_url: str,
    seed: dict[str, Any],
    callers: list[str],
    concurrency: int,
    holds: int,
    max_seconds: float,
    think: float = 0.0,
) -> tuple[list[CallLog], float, float]:
    """C caller slots, each placing calls back to back until the numbers run out or time is up.
    Returns the calls, the burst's start and its end (perf_counter)."""
    pending = iter(callers)
    calls: list[CallLog] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        provider = Provider(http, base_url, seed["inbox"], seed["credentials"], think)
        started = time.perf_counter()
        deadline = started + max_seconds

        async def slot() -> None:
            if think:
                # Calls arrive spread over the first think time, not all in the same instant.
                await asyncio.sleep(random.uniform(0, think))
            for caller in pending:
                if time.perf_counter() > deadline:
                    return
                call = CallLog("CA" + uuid.uuid4().hex, caller)
                calls.append(call)
                await provider.call(call, holds)

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
    queued = {c.caller for c in everyone if any(s.startswith("ivr/menu/2") for s in c.answered)}
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
        if row[3] and sid in hung_up and not by_sid[sid].assigned and row[6] != "abandoned"
    ]
    if waiting_not_abandoned:
        states = Counter(stored[s][6] for s in waiting_not_abandoned)
        problems.append(f"{len(waiting_not_abandoned)} waiting calls not abandoned: {dict(states)}")
    abandoned_assigned = [
        sid
        for sid, row in stored.items()
        if sid in by_sid and by_sid[sid].assigned and row[6] == "abandoned"
    ]
    if abandoned_assigned:
        problems.append(f"{len(abandoned_assigned)} calls an agent took closed as abandoned")
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


def report(args, machine, info, calls, started, ended, warmup, dump, cpu) -> dict[str, Any]:
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
    worker_mode = "embedded" if args.backend == "sqlite" else f"{args.workers} × teamline worker"
    print(
        f"setup   : 1 team, {args.agents} available agents (1 call each), 1 voice inbox; "
        f"task worker: {worker_mode}"
    )
    print(
        f"warm-up : {len(warmup)} calls one at a time, {sum(c.assigned for c in warmup)} taken "
        "by an agent (who keeps it: nobody ends a call here)"
    )
    print(
        f"load    : {len(calls)} calls placed ({args.calls} planned, stop after "
        f"{args.max_seconds:g} s), C={args.concurrency} at a time, each: start, 1, 0, "
        f"{args.holds} hold redirects, hang-up; "
        + (f"think time {args.think:g} s (±50 %)" if args.think else "no think time")
    )
    print()
    print(
        f"calls   : {len(completed)}/{len(calls)} without error in {span:.1f} s = "
        f"{len(completed) / span:.1f} calls/s; {sum(c.assigned for c in calls)} taken by an agent, "
        f"{len(calls) - sum(c.assigned for c in calls)} waited to the end"
    )
    print(f"{'TwiML ms':<10} {'n':>6} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}")
    rows = {**by_step, "all TwiML": twiml}
    stats = {}
    for name, values in rows.items():
        values = sorted(values)
        stats[name] = {"n": len(values), **{str(q): wt.percentile(values, q) for q in QS}}
        if values:
            print(
                f"{name:<10} {len(values):>6} "
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
    parser.add_argument("--concurrency", "-c", type=int, default=50, help="calls at a time")
    parser.add_argument("--calls", "-n", type=int, default=0, help="calls in all (default 2×C)")
    parser.add_argument("--holds", type=int, default=3, help="hold-loop redirects per call")
    parser.add_argument(
        "--think", type=float, default=0.0, help="mean seconds a caller waits between requests"
    )
    parser.add_argument("--agents", "-k", type=int, default=2, help="available agents")
    parser.add_argument(
        "--workers", type=int, default=2, help="teamline worker processes (postgres only)"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=75, help="stop placing calls after this long"
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
    args.calls = args.calls or 2 * args.concurrency
    if min(args.concurrency, args.calls) < 1 or args.agents < 0 or args.workers < 1:
        parser.error("--concurrency, --calls and --workers must be positive")
    return args


def self_command(env: dict[str, str], *args: str) -> Any:
    out = wt.run_checked([str(VENV_BIN / "python"), __file__, *args], env, args[0])
    return json.loads(out.strip().splitlines()[-1])


def run(args: argparse.Namespace, workdir: Path, cleanup: Cleanup, runner: asyncio.Runner) -> dict:
    machine = wt.machine_info()
    machine["background_cpu"] = wt.wait_for_quiet(args.wait_idle)
    env, info = wh.setup_backend(args.backend, workdir, cleanup, SETTINGS)
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
        warmup, _, _ = runner.run(
            place_calls(server.base_url, seed, numbers[:WARMUP_CALLS], 1, args.holds, 60)
        )
        if any(c.errors for c in warmup):
            raise BenchError(f"warm-up failed: {[c.errors for c in warmup]}")
        log(f"burst: {args.calls} calls, {args.concurrency} at a time")
        spy = (
            start_py_spy(server.proc.pid, args.profile, workdir, cleanup) if args.profile else None
        )
        cpu0 = wh.cpu_sample(server.proc.pid, worker_pids)
        calls, started, ended = runner.run(
            place_calls(
                server.base_url,
                seed,
                numbers[WARMUP_CALLS:],
                args.concurrency,
                args.holds,
                args.max_seconds,
                args.think,
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
        args, machine, info, calls, started, ended, warmup, dump, wh.cpu_between(cpu0, cpu1)
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
