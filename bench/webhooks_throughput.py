"""Inbound webhook benchmark: signed provider webhooks → Teamline → agent desk sockets.

    .venv/bin/python bench/webhooks_throughput.py --backend sqlite --concurrency 20 --total 1000
    .venv/bin/python bench/webhooks_throughput.py --backend postgres --concurrency 50 \
        --total 3000 --workers 2 --web-processes 2 --repeat 3 --json /tmp/wh.jsonl

Each round has two arms on the same backend, the same client, N and C: first the reference (a
bare endpoint in bench/reference_app.py, ``POST /ref/webhooks/meta``: verify the HMAC, INSERT the
raw body under its unique event id, answer 200; as many uvicorn processes as Teamline's), then
Teamline (``--only`` runs one of them). ``--repeat R`` runs R rounds, each on a fresh database,
and prints the medians; ``--json`` appends one record with every round and the medians.

One run: a fresh database (a temp TEAMLINE_VAR_DIR with SQLite, or a
``teamline_bench_wh_<pid>`` PostgreSQL database plus an empty Redis database number and a unique
pub/sub prefix), migrated and seeded through the real actions (bench/seed_teamline.py: one team,
K available agents with enough chat capacity and their sessions; then a Telegram, a WhatsApp
(Meta) and an SMS (Twilio) inbox with their credentials set through ``Inbox.credentials``). The
real ``teamline serve`` runs as a subprocess on a free 127.0.0.1 port (SQLite: with its embedded
task worker; PostgreSQL + Redis: ``--workers <--web-processes> --no-worker`` plus ``--workers``
separate ``teamline worker`` processes). Every agent logs in through the desk's login form and
opens a desk socket.

Then N webhooks, a third per provider (each a new customer with a unique id; with
``--returning`` the second message of a customer whose first one was posted and delivered
before, unmeasured; each text carrying a unique ``bench:<i>.1`` token), each signed the
provider's way (Telegram secret token, Meta X-Hub-Signature-256, X-Twilio-Signature), are posted
with C concurrent requests (httpx). Measured: acknowledgement time of each POST, and post →
first ``message.created`` carrying its token on a desk socket. Afterwards 5 % of them are posted
again (provider retries): they must be answered 2xx and change nothing (still N messages, no
extra socket events). Finally the stored timestamps (webhook event received, task
enqueued/started/finished, message created) split the end-to-end time into stages, to name the
bottleneck. A warm-up of a few webhooks per provider precedes the measured burst (not counted).
Everything started is stopped and the database dropped at the end, also on errors and Ctrl+C.
Only 127.0.0.1 is used. See docs/benchmarks.md ("Inbound webhooks").

The helpers (machine info, CPU accounting, subprocess cleanup, desk login and sockets) are the
ones of bench/ws_throughput.py, imported.
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
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

# The colleague's harness next to this file (run as a script, bench/ is on sys.path already).
sys.path.insert(0, str(Path(__file__).resolve().parent))
import ws_throughput as wt
from ws_throughput import (
    AGENT_PASSWORD,
    BENCH_DIR,
    PG_HOST,
    PG_PORT,
    REDIS_HOST,
    REDIS_PORT,
    ROOT,
    VENV_BIN,
    BenchError,
    Cleanup,
    CpuSample,
    create_database,
    log,
    percentile,
)

PHONE_NUMBER_ID = "106540352242922"
SMS_TO = "+4722334455"
QS = (50, 95, 99, 100)
DUPLICATE_SHARE = 0.05
WARMUP_PER_PROVIDER = 10


# --- Inside Django (run as a subprocess with the server's environment) --------------------------


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "teamline.settings.defaults")
    import django

    django.setup()


def django_seed_inboxes(team_id: int) -> dict[str, Any]:
    """The three provider inboxes of the team, credentials set (encrypted) as the admin does."""
    from teamline.connectors.telegram import new_secret_token
    from teamline.conversations.models import Inbox, InboxKind
    from teamline.teams.models import Team

    team = Team.objects.get(pk=team_id)
    specs = {
        "telegram": (
            InboxKind.TELEGRAM,
            {},
            {
                "bot_token": "123456:" + secrets.token_urlsafe(26),
                "secret_token": new_secret_token(),
            },
        ),
        "meta": (
            InboxKind.WHATSAPP,
            {"phone_number_id": PHONE_NUMBER_ID},
            {"app_secret": secrets.token_hex(16), "access_token": "EAAG" + secrets.token_hex(20)},
        ),
        "twilio": (
            InboxKind.SMS,
            {"from_number": SMS_TO},
            {"account_sid": "AC" + secrets.token_hex(16), "auth_token": secrets.token_hex(16)},
        ),
    }
    out = {}
    for provider, (kind, config, credentials) in specs.items():
        inbox = Inbox(name=f"Bench {provider}", kind=kind, default_team=team, config=config)
        inbox.credentials = credentials
        inbox.save()
        out[provider] = {"inbox": str(inbox.public_id), "credentials": credentials}
    return out


def _epoch(value: Any) -> float | None:
    return value.timestamp() if value is not None else None


def django_dump(inbox_ids: list[str]) -> dict[str, Any]:
    """Counts and stored timestamps (epoch seconds) of everything the webhooks caused."""
    from django_tasks_db.models import DBTaskResult

    from teamline.connectors.models import WebhookEvent
    from teamline.conversations.models import Conversation, Direction, Message

    events = list(
        WebhookEvent.objects.filter(inbox__public_id__in=inbox_ids).values_list(
            "pk", "provider", "external_id", "received_at", "processed_at", "status", "error"
        )
    )
    messages = list(
        Message.objects.filter(
            inbox__public_id__in=inbox_ids, direction=Direction.INBOUND
        ).values_list("external_id", "created_at")
    )
    tasks = list(
        DBTaskResult.objects.filter(task_path__endswith="process_webhook_event").values_list(
            "args_kwargs", "status", "enqueued_at", "started_at", "finished_at", "worker_ids"
        )
    )
    return {
        "events": [
            [pk, provider, ext, _epoch(rec), _epoch(proc), status, error[:200]]
            for pk, provider, ext, rec, proc, status, error in events
        ],
        "messages": [[ext, _epoch(created)] for ext, created in messages],
        "tasks": [
            [(args or {}).get("args", [None])[0], status, _epoch(q), _epoch(s), _epoch(f), w]
            for args, status, q, s, f, w in tasks
        ],
        "conversations": Conversation.objects.filter(inbox__public_id__in=inbox_ids).count(),
        "assigned": Conversation.objects.filter(
            inbox__public_id__in=inbox_ids, assignee__isnull=False
        ).count(),
    }


def django_main(argv: list[str]) -> None:
    django_setup()
    if argv[0] == "_seed":
        print(json.dumps(django_seed_inboxes(int(argv[1]))))
    elif argv[0] == "_dump":
        print(json.dumps(django_dump(argv[1:])))


# --- Signed webhooks ----------------------------------------------------------------------------


@dataclass
class Hook:
    token: str  # bench:<i>.<round>, the key the desk reader matches
    provider: str
    path: str
    body: bytes
    headers: dict[str, str]
    event_id: str  # WebhookEvent.external_id
    message_id: str  # Message.external_id
    post_wall: float = 0.0
    post_at: float = 0.0
    ack_at: float = 0.0
    status: int = 0


def build_hook(
    i: int, rnd: int, provider: str, seed: dict[str, Any], base_url: str, *, who: int | None = None
) -> Hook:
    """Webhook `i` of round `rnd`, from customer `i` of round `who` (default: `rnd`, a new
    customer; another round's number: that round's customer `i` writes again)."""
    inbox = seed[provider]["inbox"]
    creds = seed[provider]["credentials"]
    path = f"/webhooks/{provider}/{inbox}/"
    token = f"{i}.{rnd}"
    text = f"bench:{token} Hei! Mobildata virker ikke på hytta 🙁 #{uuid.uuid4().hex[:8]}"
    now = int(time.time())
    # Unique customers: phone numbers from two ranges (SMS and WhatsApp share E.164 identities).
    serial = rnd * 1_000_000 + i
    sender = (rnd if who is None else who) * 1_000_000 + i
    if provider == "telegram":
        update_id = 500_000_000 + serial
        user_id = 7_000_000_000 + sender
        message_id = 1000 + i if who is None else 1000 + serial
        body = json.dumps(
            {
                "update_id": update_id,
                "message": {
                    "message_id": message_id,
                    "from": {
                        "id": user_id,
                        "is_bot": False,
                        "first_name": "Kari",
                        "last_name": f"Bench{i}",
                        "language_code": "nb",
                    },
                    "chat": {"id": user_id, "first_name": "Kari", "type": "private"},
                    "date": now,
                    "text": text,
                },
            },
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": creds["secret_token"],
        }
        return Hook(
            f"{token}", provider, path, body, headers, str(update_id), f"{user_id}:{message_id}"
        )
    if provider == "meta":
        wa_id = f"4740{sender % 1_000_000:06d}" if rnd else f"4741{sender:06d}"
        wamid = "wamid.HBgL" + base64.b64encode(f"{wa_id}{uuid.uuid4().hex}".encode()).decode()
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "4722334455",
                                    "phone_number_id": PHONE_NUMBER_ID,
                                },
                                "contacts": [
                                    {"profile": {"name": f"Kari Bench{i}"}, "wa_id": wa_id}
                                ],
                                "messages": [
                                    {
                                        "from": wa_id,
                                        "id": wamid,
                                        "timestamp": str(now),
                                        "text": {"body": text},
                                        "type": "text",
                                    }
                                ],
                            },
                            "field": "messages",
                        }
                    ],
                }
            ],
        }
        body = json.dumps(payload, ensure_ascii=False).encode()
        signature = hmac.new(creds["app_secret"].encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"}
        return Hook(token, provider, path, body, headers, f"wa:{wamid}", wamid)
    sid = "SM" + uuid.uuid4().hex
    number = f"+4790{sender % 1_000_000:06d}" if rnd else f"+4791{sender:06d}"
    params = [
        ("AccountSid", creds["account_sid"]),
        ("ApiVersion", "2010-04-01"),
        ("Body", text),
        ("From", number),
        ("FromCountry", "NO"),
        ("MessageSid", sid),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsMessageSid", sid),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("To", SMS_TO),
        ("ToCountry", "NO"),
    ]
    # X-Twilio-Signature: base64 HMAC-SHA1(auth token, URL + sorted name+value pairs).
    signed = base_url + path + "".join(k + v for k, v in sorted(params))
    digest = hmac.new(creds["auth_token"].encode(), signed.encode(), hashlib.sha1).digest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "X-Twilio-Signature": base64.b64encode(digest).decode(),
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
    }
    return Hook(token, provider, path, urlencode(params).encode(), headers, sid, sid)


def build_hooks(n: int, rnd: int, seed: dict[str, Any], base_url: str) -> list[Hook]:
    providers = ("telegram", "meta", "twilio")
    hooks = [build_hook(i, rnd, providers[i % 3], seed, base_url) for i in range(n)]
    random.shuffle(hooks)
    return hooks


# --- Database and processes ---------------------------------------------------------------------


def setup_backend(
    kind: str,
    workdir: Path,
    cleanup: Cleanup,
    settings_module: str,
    *,
    dbname: str = "",
    redis_db: int | None = None,
) -> tuple[dict[str, str], dict]:
    """The server's environment for `kind`: SQLite in the temp dir, or a fresh PostgreSQL
    database (`dbname`, default teamline_bench_wh_<pid>; dropped by `cleanup`) and a Redis
    database number (`redis_db`, default the highest empty one; its teamline keys cleared)."""
    env = wt.teamline_env(workdir, settings_module)
    if kind == "sqlite":
        return env, {"database": "SQLite (WAL) " + __import__("sqlite3").sqlite_version}
    import redis

    dbname, pg_version = create_database(dbname or f"teamline_bench_wh_{os.getpid()}", cleanup)
    try:
        probe = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=5)
        redis_version = probe.info("server")["redis_version"]
        db = wt.pick_redis_db(probe) if redis_db is None else redis_db
        probe.close()
    except redis.RedisError as exc:
        raise BenchError(f"Redis not reachable ({exc}); run: bash scripts/services.sh") from exc

    # Cache keys under a prefix of this run's own (TEAMLINE_CHANNEL_PREFIX is also the cache's
    # KEY_PREFIX), so two runs may share a Redis database and each clears only its own keys.
    prefix = f"benchwh{os.getpid()}"

    def clear_redis() -> None:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        client.close()

    cleanup.push(f"clear redis db {db}", clear_redis)
    env.update(
        TEAMLINE_DATABASE_URL=f"postgres://postgres@{PG_HOST}:{PG_PORT}/{dbname}",
        TEAMLINE_REDIS_URL=f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}",
        TEAMLINE_CHANNEL_PREFIX=prefix,
        TEAMLINE_BENCH_CHANNEL_PREFIX=prefix,
    )
    return env, {
        "database": f"PostgreSQL {pg_version} ({dbname})",
        "channel layer": f"RedisPubSub, Redis {redis_version} (db {db})",
    }


def start_workers(
    count: int, env: dict[str, str], workdir: Path, cleanup: Cleanup
) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(count):
        with (workdir / f"worker-{i}.log").open("wb") as log_file:
            proc = subprocess.Popen(
                [str(VENV_BIN / "teamline"), "worker", "--interval", "0.2"],
                env=env,
                cwd=ROOT,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        cleanup.push(f"stop worker {i}", lambda p=proc: wt.stop_process(p))
        procs.append(proc)
    time.sleep(2)
    for i, proc in enumerate(procs):
        if proc.poll() is not None:
            tail = (workdir / f"worker-{i}.log").read_text(errors="replace")[-2000:]
            raise BenchError(f"worker {i} exited with {proc.returncode}:\n{tail}")
    return procs


def self_command(env: dict[str, str], *args: str) -> Any:
    out = wt.run_checked([str(VENV_BIN / "python"), __file__, *args], env, args[0])
    return json.loads(out.strip().splitlines()[-1])


# --- Load and measurement -----------------------------------------------------------------------


def service_cpu_seconds(comm: str) -> float:
    """CPU seconds of a local service's process tree (PostgreSQL: the postmaster, the exited
    backends it reaped (cutime/cstime) and the live ones), read from /proc; 0 if not local."""
    total = 0.0
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_path.read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name != comm:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        own = int(fields[11]) + int(fields[12])
        children = int(fields[13]) + int(fields[14])
        try:
            parent = Path(f"/proc/{fields[1]}/comm").read_text().strip()
        except OSError:
            parent = ""
        total += own + (children if parent != comm else 0)
    return total / wt.CLK_TCK


@dataclass
class Cpu:
    start: CpuSample
    workers: list[float] = field(default_factory=list)
    services: dict[str, float] = field(default_factory=dict)


SERVICES = {"postgres": "postgres", "redis": "redis-server"}


def cpu_sample(server_pid: int, worker_pids: list[int]) -> Cpu:
    return Cpu(
        CpuSample.take(server_pid),
        [wt.process_cpu_seconds(p) for p in worker_pids],
        {key: service_cpu_seconds(comm) for key, comm in SERVICES.items()},
    )


def cpu_between(a: Cpu, b: Cpu) -> dict[str, float]:
    """% of one core: server, workers, client, postgres, redis, other (the rest of the machine:
    SQLite runs inside server and workers)."""
    usage = wt.cpu_usage(a.start, b.start)
    wall = b.start.wall - a.start.wall
    usage["workers"] = 100.0 * (sum(b.workers) - sum(a.workers)) / wall if wall else 0.0
    for key in SERVICES:
        usage[key] = 100.0 * (b.services[key] - a.services[key]) / wall if wall else 0.0
    usage["other"] = max(
        usage["other"] - usage["workers"] - usage["postgres"] - usage["redis"], 0.0
    )
    return usage


async def post_all(
    base_url: str,
    hooks: list[Hook],
    concurrency: int,
    errors: Counter[str],
    *,
    retry_shed: bool = False,
) -> None:
    """POST every hook, `concurrency` at a time, timing each. A fresh client (and connections)
    per phase: a keep-alive connection left idle since the previous phase may be closed by the
    server just as it is reused, which would count as a failed delivery. With `retry_shed`, a
    hook answered 503 (no room) is posted again half a second later, as providers do, until
    it is taken (the warm-up and the re-posts must all get through)."""
    if CLIENT["kind"] == "raw":
        await raw_post_all(base_url, hooks, concurrency, errors)
        for _ in range(60 if retry_shed else 0):
            shed = [h for h in hooks if h.status == 503]
            if not shed:
                break
            await asyncio.sleep(0.5)
            await raw_post_all(base_url, shed, concurrency, errors)
        return
    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as http:
        await asyncio.gather(*(_post(http, semaphore, h, errors) for h in hooks))
        for _ in range(60 if retry_shed else 0):
            shed = [h for h in hooks if h.status == 503]
            if not shed:
                break
            await asyncio.sleep(0.5)
            await asyncio.gather(*(_post(http, semaphore, h, errors) for h in shed))


# The client of the closed-loop bursts (--client): "raw" is C keep-alive HTTP/1.1 connections
# writing prepared requests and reading the answers (a fraction of httpx's CPU per request,
# which on 2 cores capped both arms below what the servers could take); "httpx" as before.
CLIENT = {"kind": "raw"}


async def raw_post_all(
    base_url: str, hooks: list[Hook], concurrency: int, errors: Counter[str]
) -> None:
    """POST every hook over `concurrency` keep-alive connections, each taking the next hook
    when its previous answer is in (a closed loop, like the httpx client's semaphore)."""
    host, port = base_url.removeprefix("http://").split(":")
    todo = list(reversed(hooks))

    async def connection() -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while todo:
            hook = todo.pop()
            head = [f"POST {hook.path} HTTP/1.1", f"Host: {host}:{port}"]
            head += [f"{k}: {v}" for k, v in hook.headers.items()]
            head.append(f"Content-Length: {len(hook.body)}")
            request = ("\r\n".join(head) + "\r\n\r\n").encode() + hook.body
            hook.post_wall = time.time()
            hook.post_at = time.perf_counter()
            try:
                if conn is None:
                    conn = await asyncio.open_connection(host, int(port))
                reader, writer = conn
                writer.write(request)
                status, close = await read_answer(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                errors[f"{hook.provider}: {type(exc).__name__}"] += 1
                if conn is not None:
                    conn[1].close()
                conn = None
                continue
            hook.ack_at = time.perf_counter()
            hook.status = status
            if status not in (200, 503):
                errors[f"{hook.provider}: HTTP {status}"] += 1
            if close:
                conn[1].close()
                conn = None
        if conn is not None:
            conn[1].close()

    await asyncio.gather(*(connection() for _ in range(min(concurrency, len(hooks)))))


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """One HTTP/1.1 answer: (status, whether the server closes the connection)."""
    status = int((await reader.readline()).split()[1])
    length, chunked, close = 0, False, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            close = True
    if chunked:
        while size := int((await reader.readline()).strip() or b"0", 16):
            await reader.readexactly(size + 2)
        await reader.readline()
    elif length:
        await reader.readexactly(length)
    return status, close


async def _post(
    http: httpx.AsyncClient, semaphore: asyncio.Semaphore, hook: Hook, errors: Counter[str]
) -> None:

    async with semaphore:
        hook.post_wall = time.time()
        hook.post_at = time.perf_counter()
        try:
            response = await http.post(hook.path, content=hook.body, headers=hook.headers)
        except httpx.HTTPError as exc:
            elapsed = time.perf_counter() - hook.post_at
            # Grouped by whole tens of seconds: an overloaded run would list thousands of keys.
            errors[
                f"{hook.provider}: {type(exc).__name__} after ~{10 * (elapsed // 10):.0f} s"
            ] += 1
            return
        hook.ack_at = time.perf_counter()
        hook.status = response.status_code
        if response.status_code == 503 and response.headers.get("Retry-After"):
            return  # shed at the edge: the provider retries later; counted apart
        if response.status_code != 200:
            errors[f"{hook.provider}: HTTP {response.status_code}"] += 1


async def post_open_loop(
    base_url: str, hooks: list[Hook], rate: float, errors: Counter[str]
) -> None:
    """POST hook i at start + i / rate whatever happened to the earlier ones (an open loop: a
    provider does not wait for our previous answer), timing each."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=200)
    unlimited = asyncio.Semaphore(len(hooks) or 1)
    # A provider gives up on an answer after 5 s (WeChat) to 15 s (Twilio): 30 s is generous.
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        start = time.perf_counter()
        pending = []
        for i, hook in enumerate(hooks):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(_post(http, unlimited, hook, errors)))
        await asyncio.gather(*pending)


def start_profiler(path: Path | None, pid: int) -> subprocess.Popen[bytes] | None:
    """py-spy (if installed in the venv) sampling the web processes during the burst: folded
    stacks (`-f raw`) of the threads holding the GIL, written to `path` when stopped."""
    spy = VENV_BIN / "py-spy"
    if path is None or not spy.exists():
        return None
    cmd = [str(spy), "record", "-p", str(pid), "--subprocesses", "--gil", "-r", "250"]
    proc = subprocess.Popen(
        [*cmd, "-f", "raw", "-o", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(1.0)  # attached before the first request
    return proc


def stop_profiler(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


READ_PATH = "/api/v1/conversations?limit=20"


async def agent_reads(
    base_url: str, cookies: list[str | None], stop: asyncio.Event, out: list[float]
) -> None:
    """Each agent reads its inbox list through the API, again 0.1 s after each answer, until
    `stop`; the latency (ms) of every read that answered 200 goes to `out`."""

    async def one(cookie: str | None) -> None:
        jar = {"sessionid": cookie} if cookie else {}
        async with httpx.AsyncClient(base_url=base_url, timeout=120, cookies=jar) as http:
            while not stop.is_set():
                began = time.perf_counter()
                try:
                    response = await http.get(READ_PATH)
                except httpx.HTTPError:
                    out.append(math.inf)
                else:
                    if response.status_code == 200:
                        out.append((time.perf_counter() - began) * 1000)
                    else:
                        out.append(math.inf)
                await asyncio.sleep(0.1)

    await asyncio.gather(*(one(c) for c in cookies))


async def measure_reads(base_url: str, cookies: list[str | None], seconds: float) -> list[float]:
    out: list[float] = []
    stop = asyncio.Event()
    task = asyncio.create_task(agent_reads(base_url, cookies, stop, out))
    await asyncio.sleep(seconds)
    stop.set()
    await task
    return out


async def wait_delivered(
    results: wt.Results, tokens: list[str], stall: float, timeout: float
) -> bool:
    """Until every token reached a desk socket, no progress for `stall` s, or `timeout` s."""
    deadline = time.perf_counter() + timeout
    last_count, last_progress = -1, time.perf_counter()
    while True:
        done = sum(1 for t in tokens if t in results.delivered_at)
        now = time.perf_counter()
        if done == len(tokens):
            return True
        if done != last_count:
            last_count, last_progress = done, now
        if now - last_progress > stall or now > deadline:
            return False
        await asyncio.sleep(0.05)


async def drive(
    server: wt.Server,
    cookies: list[str | None],
    seed: dict[str, Any],
    worker_pids: list[int],
    args: argparse.Namespace,
) -> dict[str, Any]:
    results = wt.Results()
    errors: Counter[str] = Counter()
    target = wt.Target("teamline", server, "", cookies)
    desks = await wt.bounded(20, [wt.open_desk(target, c) for c in cookies])
    readers = [asyncio.create_task(wt.read_desk(ws, results)) for ws in desks]
    await asyncio.sleep(0.5)
    if any(task.done() for task in readers):
        raise BenchError(f"desk sockets were closed: {dict(results.errors)}")
    warm = build_hooks(3 * WARMUP_PER_PROVIDER, 0, seed, server.base_url)
    log(f"warm-up: {len(warm)} webhooks")
    await post_all(server.base_url, warm, min(args.concurrency, 5), errors, retry_shed=True)
    if not await wait_delivered(results, [h.token for h in warm], 30, 60):
        raise BenchError(
            f"warm-up webhooks did not reach the desk sockets ({len(results.delivered_at)}"
            f"/{len(warm)}; errors {dict(errors)}, desk errors {dict(results.errors)})"
        )
    if errors:
        raise BenchError(f"warm-up errors: {dict(errors)}")
    first_contacts = 0
    if args.returning:
        # Every measured webhook's customer wrote once before (processed, routed, on a desk):
        # the measured ones are second messages into open conversations.
        first = [
            build_hook(i, 2, ("telegram", "meta", "twilio")[i % 3], seed, server.base_url, who=1)
            for i in range(args.total)
        ]
        random.shuffle(first)
        log(f"first contacts: {len(first)} webhooks (not measured)")
        await post_all(server.base_url, first, args.concurrency, errors, retry_shed=True)
        if not await wait_delivered(
            results, [h.token for h in first], args.stall_timeout, args.timeout
        ):
            raise BenchError(f"first contacts did not all reach the desk sockets: {dict(errors)}")
        if errors:
            raise BenchError(f"first-contact errors: {dict(errors)}")
        first_contacts = len(first)
        await asyncio.sleep(2.0)  # the batch router's last assignments
    deliveries_before = results.deliveries
    hooks = build_hooks(args.total, 1, seed, server.base_url)
    await asyncio.sleep(1.0)
    log("agents read their inbox list through the API, idle server (5 s)")
    reads_idle = await measure_reads(server.base_url, cookies, 5.0)
    reads_load: list[float] = []
    reads_stop = asyncio.Event()
    reader = asyncio.create_task(agent_reads(server.base_url, cookies, reads_stop, reads_load))
    if args.rate:
        log(f"posting {len(hooks)} webhooks at {args.rate:g}/s (open loop)")
    else:
        log(f"posting {len(hooks)} webhooks, {args.concurrency} concurrent")
    profiler = start_profiler(args.profile, server.proc.pid)
    cpu0 = cpu_sample(server.proc.pid, worker_pids)
    started = time.perf_counter()
    if args.rate:
        await post_open_loop(server.base_url, hooks, args.rate, errors)
    else:
        await post_all(server.base_url, hooks, args.concurrency, errors)
    acked_end = time.perf_counter()
    stop_profiler(profiler)
    reads_stop.set()
    await reader
    cpu1 = cpu_sample(server.proc.pid, worker_pids)
    # A webhook that was not answered 2xx was not stored (the provider would retry it).
    tokens = [h.token for h in hooks if h.status == 200]
    log(
        f"acknowledged in {acked_end - started:.1f} s; "
        f"{sum(1 for t in tokens if t in results.delivered_at)} already on the desk; waiting"
    )
    complete = await wait_delivered(results, tokens, args.stall_timeout, args.timeout)
    delivered_end = max(
        (results.delivered_at[t] for t in tokens if t in results.delivered_at),
        default=acked_end,
    )
    cpu2 = cpu_sample(server.proc.pid, worker_pids)
    deliveries_measured = results.deliveries - deliveries_before

    # Provider retries: the same signed deliveries again; 2xx, nothing new.
    # Only acknowledged ones: a retry of a delivery that failed is a first delivery.
    acked_hooks = [h for h in hooks if h.status == 200]
    dups = random.sample(acked_hooks, min(len(acked_hooks), round(len(hooks) * DUPLICATE_SHARE)))
    dup_hooks = [Hook(**{**h.__dict__, "status": 0}) for h in dups]
    dup_errors: Counter[str] = Counter()
    log(f"re-posting {len(dup_hooks)} of them (duplicates)")
    await post_all(server.base_url, dup_hooks, args.concurrency, dup_errors, retry_shed=True)
    await asyncio.sleep(3.0)  # a wrongly enqueued duplicate would be processed by now
    extra_frames = results.deliveries - deliveries_before - deliveries_measured
    for ws in desks:
        await ws.close()
    await asyncio.gather(*readers, return_exceptions=True)
    desk_errors = {k: v for k, v in results.errors.items() if "socket closed (1000)" not in k}

    acked = [h for h in hooks if h.status == 200]
    acks = sorted((h.ack_at - h.post_at) * 1000 for h in acked)
    shed = [h for h in hooks if h.status == 503]
    shed_ms = sorted((h.ack_at - h.post_at) * 1000 for h in shed)
    e2e = sorted(
        (results.delivered_at[h.token] - h.post_at) * 1000
        for h in hooks
        if h.token in results.delivered_at
    )
    # perf_counter → wall clock, to compare with the server's stored timestamps.
    offset = time.time() - time.perf_counter()
    arrivals_wall = {
        h.token: results.delivered_at[h.token] + offset
        for h in hooks
        if h.token in results.delivered_at
    }
    return {
        "hooks": hooks,
        "first_contacts": first_contacts,
        "arrivals_wall": arrivals_wall,
        "sockets": len(desks),
        "acked": len(acked),
        "ack_seconds": acked_end - started,
        "acked_per_s": len(acked) / (acked_end - started),
        "delivered": len(e2e),
        "complete": complete,
        "delivered_seconds": delivered_end - started,
        "delivered_per_s": len(e2e) / (delivered_end - started) if e2e else 0.0,
        "ack_ms": {q: percentile(acks, q) for q in QS},
        "offered_per_s": len(hooks) / (acked_end - started) if not args.rate else args.rate,
        "shed": len(shed),
        "shed_by_provider": dict(Counter(h.provider for h in shed)),
        "shed_ms": {q: percentile(shed_ms, q) for q in QS},
        "reads_idle_ms": read_stats(reads_idle),
        "reads_load_ms": read_stats(reads_load),
        "e2e_ms": {q: percentile(e2e, q) for q in QS},
        "by_provider_ack_p99": {
            p: percentile(
                sorted((h.ack_at - h.post_at) * 1000 for h in acked if h.provider == p), 99
            )
            for p in ("telegram", "meta", "twilio")
        },
        "socket_frames_per_message": deliveries_measured / max(len(hooks), 1),
        "duplicates_posted": len(dup_hooks),
        "duplicates_acked": sum(1 for h in dup_hooks if h.status == 200),
        "duplicate_errors": dict(dup_errors),
        "duplicate_extra_frames": extra_frames,
        "errors": dict(errors),
        "desk_errors": desk_errors,
        "cpu_ack": cpu_between(cpu0, cpu1),
        "cpu_drain": cpu_between(cpu1, cpu2) if cpu2.start.wall - cpu1.start.wall > 0.5 else None,
        "cpu_all": cpu_between(cpu0, cpu2),
        "cpu_ack_s": cpu1.start.wall - cpu0.start.wall,
        "cpu_drain_s": cpu2.start.wall - cpu1.start.wall,
        "cpu_all_s": cpu2.start.wall - cpu0.start.wall,
    }


def read_stats(latencies: list[float]) -> dict[str, Any]:
    ok = sorted(x for x in latencies if math.isfinite(x))
    return {
        "count": len(latencies),
        "failed": len(latencies) - len(ok),
        **{str(q): percentile(ok, q) for q in (50, 95, 99, 100)},
    }


def stages(run: dict[str, Any], dump: dict[str, Any]) -> dict[str, Any]:
    """Split post → socket into stored stages (server wall clock = client wall clock here)."""
    events = {(e[1], e[2]): e for e in dump["events"]}
    tasks = {t[0]: t for t in dump["tasks"]}
    messages = dict(dump["messages"])
    parts: dict[str, list[float]] = {k: [] for k in ("queue", "task", "to_message", "fanout")}
    for hook in run["hooks"]:
        event = events.get((hook.provider, hook.event_id))
        arrival = run["arrivals_wall"].get(hook.token)
        created = messages.get(hook.message_id)
        task = tasks.get(event[0]) if event else None
        if task and task[3] is not None:
            parts["queue"].append((task[3] - task[2]) * 1000)
            if task[4] is not None:
                parts["task"].append((task[4] - task[3]) * 1000)
            if created is not None:
                parts["to_message"].append((created - task[3]) * 1000)
        if created is not None and arrival is not None:
            parts["fanout"].append((arrival - created) * 1000)
    out = {k: {q: percentile(sorted(v), q) for q in QS} for k, v in parts.items()}
    # Processing throughput of the measured webhooks' tasks: first start → last finish.
    mine = [
        tasks[events[(h.provider, h.event_id)][0]]
        for h in run["hooks"]
        if (h.provider, h.event_id) in events and events[(h.provider, h.event_id)][0] in tasks
    ]
    spans = [(t[3], t[4]) for t in mine if t[3] is not None and t[4] is not None]
    if len(spans) > 1:
        first = min(s for s, _ in spans)
        last = max(f for _, f in spans)
        out["tasks_per_s"] = len(spans) / (last - first)
        out["task_busy_share"] = sum(f - s for s, f in spans) / (last - first)
    return out


# --- Main ---------------------------------------------------------------------------------------


def fmt(value: float) -> str:
    return (
        "-"
        if value is None or math.isnan(value)
        else (f"{value:.1f}" if value < 100 else f"{value:.0f}")
    )


def report(args, machine, info, login, run, st, dump) -> dict[str, Any]:
    n = args.total
    # stored = answered 2xx (the warm-up and, with --returning, the first contacts included)
    total_n = run["acked"] + 3 * WARMUP_PER_PROVIDER + run["first_contacts"]
    statuses = Counter(e[5] for e in dump["events"])
    task_statuses = Counter(t[1] for t in dump["tasks"])
    workers_used = Counter(w for t in dump["tasks"] for w in (t[5] or [])[-1:])
    print()
    print(
        f"machine : {machine['cpu_model']}, {machine['logical_cpus']} logical CPUs "
        f"({machine['usable_cpus']} usable), {machine['ram_gib']} GiB RAM, Linux "
        f"{machine['kernel']}, Python {machine['python']}; others used "
        f"{machine['background_cpu']:.0f} % of a core before the run"
    )
    if args.settings != "teamline_bench_settings":
        info = {**info, "settings": args.settings}
    print(f"backend : {args.backend}: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    worker_mode = "embedded" if args.backend == "sqlite" else f"{args.workers} × teamline worker"
    print(
        f"setup   : {args.agents} agents ({run['sockets']} desk sockets, login via {login}); "
        f"task worker: {worker_mode}"
    )
    pace = f"open loop at {args.rate:g}/s" if args.rate else f"C={args.concurrency}"
    print(f"load    : N={n} webhooks (1/3 Telegram, WhatsApp, Twilio SMS), {pace}")
    print()
    a, e = run["ack_ms"], run["e2e_ms"]
    print(
        f"acknowledged : {run['acked']}/{n} in {run['ack_seconds']:.1f} s = "
        f"{run['acked_per_s']:.0f} webhooks/s; ack ms p50 {fmt(a[50])} p95 {fmt(a[95])} "
        f"p99 {fmt(a[99])} max {fmt(a[100])}"
    )
    if run["shed"]:
        sh = run["shed_ms"]
        print(
            f"shed (503 + Retry-After): {run['shed']} {run['shed_by_provider']}; answered in ms "
            f"p50 {fmt(sh[50])} p99 {fmt(sh[99])}"
        )
    for phase in ("idle", "load"):
        r = run[f"reads_{phase}_ms"]
        print(
            f"agent reads ({phase:>4}): {r['count']} GET {READ_PATH}, failed {r['failed']}; ms "
            f"p50 {fmt(r['50'])} p95 {fmt(r['95'])} p99 {fmt(r['99'])} max {fmt(r['100'])}"
        )
    print(
        "ack p99 by provider: "
        + ", ".join(f"{p} {fmt(v)} ms" for p, v in run["by_provider_ack_p99"].items())
    )
    print(
        f"on agent desk: {run['delivered']}/{run['acked']} acked "
        f"({'complete' if run['complete'] else 'INCOMPLETE'})"
        f" in {run['delivered_seconds']:.1f} s = {run['delivered_per_s']:.0f} msg/s; post → socket "
        f"ms p50 {fmt(e[50])} p95 {fmt(e[95])} p99 {fmt(e[99])} max {fmt(e[100])}"
    )
    print(
        f"stages (stored timestamps, ms p50/p99): task queue wait {fmt(st['queue'][50])}/"
        f"{fmt(st['queue'][99])}, task run {fmt(st['task'][50])}/{fmt(st['task'][99])} "
        f"(task start → message row {fmt(st['to_message'][50])}/{fmt(st['to_message'][99])}), "
        f"message row → socket {fmt(st['fanout'][50])}/{fmt(st['fanout'][99])}; processing "
        f"{st.get('tasks_per_s', math.nan):.0f} tasks/s, tasks running "
        f"{100 * st.get('task_busy_share', math.nan):.0f} % of that time (sum over workers)"
    )
    msg_count = len(dump["messages"])
    print(
        f"duplicates   : re-posted {run['duplicates_posted']}, answered 2xx "
        f"{run['duplicates_acked']}; messages stored {msg_count} (expected {total_n}), webhook "
        f"events {len(dump['events'])}, extra socket events {run['duplicate_extra_frames']}"
        + (f", errors {run['duplicate_errors']}" if run["duplicate_errors"] else "")
    )
    print(
        f"database     : events {dict(statuses)}, tasks {dict(task_statuses)}, conversations "
        f"{dump['conversations']} ({dump['assigned']} assigned); tasks run by "
        f"{len(workers_used)} worker(s)"
    )
    print(
        f"desk frames  : {run['socket_frames_per_message']:.2f} message.created frames per "
        f"message over {run['sockets']} sockets"
    )
    for name in ("cpu_ack", "cpu_drain", "cpu_all"):
        cpu = run[name]
        if cpu:
            print(
                f"CPU {name[4:]:<5}: server {cpu['server']:.0f} %, workers {cpu['workers']:.0f} %,"
                f" client {cpu['client']:.0f} %, postgres {cpu['postgres']:.0f} %, redis "
                f"{cpu['redis']:.0f} %, other {cpu['other']:.0f} % of one core "
                f"({run[name + '_s']:.1f} s)"
            )
    errors = {**run["errors"], **run["desk_errors"]}
    failed = [e for e in dump["events"] if e[5] == "failed"]
    print(f"errors       : {errors or 'none'}")
    for event in failed[:3]:
        print(f"  failed event {event[1]} {event[2]}: {event[6]}")
    ok = (
        run["complete"]
        and not errors
        and msg_count == total_n
        and run["duplicates_acked"] == run["duplicates_posted"]
        and run["duplicate_extra_frames"] == 0
    )
    print(f"result       : {'OK' if ok else 'PROBLEMS (see above)'}")
    record = {k: v for k, v in run.items() if k not in ("hooks", "arrivals_wall")}
    record.update(
        args={k: str(v) for k, v in vars(args).items()},
        machine=machine,
        backend=info,
        stages=st,
        messages=msg_count,
        expected_messages=total_n,
        event_statuses=dict(statuses),
        ok=ok,
        at=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    return record


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--concurrency", "-c", type=int, default=20)
    parser.add_argument("--total", "-n", type=int, default=1000)
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="open loop: POST this many webhooks/s whatever the answers (instead of C at a time)",
    )
    parser.add_argument("--agents", "-k", type=int, default=3)
    parser.add_argument(
        "--workers", type=int, default=2, help="teamline worker processes (postgres only)"
    )
    parser.add_argument(
        "--redis-db",
        type=int,
        default=None,
        help="Redis database number (postgres only; default: the highest empty one)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="max wait for delivery, s")
    parser.add_argument(
        "--stall-timeout", type=float, default=60, help="give up after this long without progress"
    )
    parser.add_argument(
        "--settings",
        default="teamline_bench_settings",
        help="Django settings module of server and workers, for what-if experiments (importable "
        "from bench/ or $PYTHONPATH; default: the product's settings + a channel prefix)",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=60,
        help="wait up to this many seconds for other processes to use < 25 %% of a core",
    )
    parser.add_argument(
        "--web-processes",
        type=int,
        default=1,
        help="web processes (teamline serve --workers N, and as many for the reference); "
        "more than 1 needs --backend postgres",
    )
    parser.add_argument(
        "--returning",
        action="store_true",
        help="the measured webhooks come from customers who wrote once before (their first "
        "messages posted, processed and delivered first, not measured); default: all new",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds (fresh database each)")
    parser.add_argument(
        "--only", choices=["reference", "teamline"], default=None, help="run one arm only"
    )
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="HTTP client of the C-concurrent bursts (both arms; --rate always uses httpx)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy folded stacks (GIL holders) of Teamline's web processes during the burst",
    )
    parser.add_argument("--json", type=Path, default=None, help="append the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    args = parser.parse_args(argv)
    if min(args.concurrency, args.total, args.agents, args.repeat) < 1 or args.workers < 1:
        parser.error("--concurrency, --total, --agents, --repeat and --workers must be positive")
    if args.web_processes < 1 or (args.web_processes > 1 and args.backend != "postgres"):
        parser.error("--web-processes: 1, or more with --backend postgres")
    return args


REFERENCE_PATH = "/ref/webhooks/meta"
REFERENCE_TABLE = {
    "sqlite": "CREATE TABLE bench_reference_webhook (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "event_id TEXT NOT NULL UNIQUE, body BLOB NOT NULL, received_at REAL NOT NULL)",
    "postgres": "CREATE TABLE bench_reference_webhook (id BIGSERIAL PRIMARY KEY, "
    "event_id TEXT NOT NULL UNIQUE, body BYTEA NOT NULL, received_at DOUBLE PRECISION NOT NULL)",
}


def reference_database(args: argparse.Namespace, env: dict[str, str], workdir: Path) -> str:
    """The reference's table next to Teamline's: the same PostgreSQL database, or a SQLite file
    of its own (WAL, like Teamline's) in the temp dir."""
    if args.backend == "postgres":
        import psycopg

        url = env["TEAMLINE_DATABASE_URL"]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(REFERENCE_TABLE["postgres"])
        return url
    import sqlite3

    path = workdir / "reference-webhooks.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(REFERENCE_TABLE["sqlite"])
    conn.commit()
    conn.close()
    return str(path)


def reference_count(database: str) -> int:
    if database.startswith("postgres"):
        import psycopg

        with psycopg.connect(database) as conn:
            row = conn.execute("SELECT count(*) FROM bench_reference_webhook").fetchone()
    else:
        import sqlite3

        conn = sqlite3.connect(database)
        row = conn.execute("SELECT count(*) FROM bench_reference_webhook").fetchone()
        conn.close()
    return int(row[0]) if row else 0


def run_reference_arm(
    args: argparse.Namespace,
    env: dict[str, str],
    workdir: Path,
    cleanup: Cleanup,
    runner: asyncio.Runner,
) -> dict[str, Any]:
    """The bare signed ingest: N Meta webhooks at C concurrent, the same client as Teamline's."""
    database = reference_database(args, env, workdir)
    secret = secrets.token_hex(16)
    ref_env = wt.base_env()
    ref_env.update(
        BENCH_REF_DATABASE=database,
        BENCH_REF_META_SECRET=secret,
        # The same pool size per process as Teamline's (TEAMLINE_DB_POOL_MAX_SIZE default).
        BENCH_REF_PG_POOL=env.get("TEAMLINE_DB_POOL_MAX_SIZE", "8"),
    )
    port = wt.free_port()
    cmd = wt.reference_command(port, args.web_processes)
    server = wt.start_server("reference", cmd, ref_env, port, workdir, cleanup)
    seed = {"meta": {"inbox": "-", "credentials": {"app_secret": secret}}}

    def hooks(n: int, rnd: int) -> list[Hook]:
        out = [build_hook(i, rnd, "meta", seed, server.base_url) for i in range(n)]
        for hook in out:
            hook.path = REFERENCE_PATH
        return out

    errors: Counter[str] = Counter()
    warm = hooks(3 * WARMUP_PER_PROVIDER, 0)
    runner.run(post_all(server.base_url, warm, min(args.concurrency, 5), errors))
    measured = hooks(args.total, 1)
    log(f"reference: posting {len(measured)} webhooks, {args.concurrency} concurrent")
    cpu0 = CpuSample.take(server.proc.pid)
    started = time.perf_counter()
    runner.run(post_all(server.base_url, measured, args.concurrency, errors))
    ended = time.perf_counter()
    cpu1 = CpuSample.take(server.proc.pid)
    wt.stop_process(server.proc)
    acked = [h for h in measured if h.status == 200]
    acks = sorted((h.ack_at - h.post_at) * 1000 for h in acked)
    cpu = wt.cpu_usage(cpu0, cpu1)
    per_s = len(acked) / (ended - started)
    stored = reference_count(database)
    return {
        "acked": len(acked),
        "acked_per_s": per_s,
        "ack_ms": {q: percentile(acks, q) for q in QS},
        "cpu_ack": cpu,
        "server_cpu_ms_per_ack": cpu["server"] * 10 / per_s if per_s else math.nan,
        "stored": stored,
        "errors": dict(errors),
        "ok": not errors and stored == len(warm) + len(measured),
    }


def run_teamline_arm(
    args: argparse.Namespace,
    env: dict[str, str],
    info: dict[str, str],
    machine: dict[str, Any],
    workdir: Path,
    cleanup: Cleanup,
    runner: asyncio.Runner,
) -> dict[str, Any]:
    teamline = str(VENV_BIN / "teamline")
    log(f"{args.backend}: migrating a fresh database")
    wt.run_checked([teamline, "migrate", "--no-input", "-v", "0"], env, "migrate")
    capacity = math.ceil((args.total + 3 * WARMUP_PER_PROVIDER) / args.agents) + 5
    log(f"seeding 1 team, {args.agents} agents (chat capacity {capacity}), 3 provider inboxes")
    agents = wt.run_checked(
        [
            str(VENV_BIN / "python"),
            str(BENCH_DIR / "seed_teamline.py"),
            "--agents",
            str(args.agents),
            "--chat-capacity",
            str(capacity),
            "--password",
            AGENT_PASSWORD,
        ],
        env,
        "seed",
    )
    seeded = json.loads(agents.strip().splitlines()[-1])
    seed = self_command(env, "_seed", str(seeded["team"]))
    port = wt.free_port()
    cmd = [teamline, "serve", "--host", "127.0.0.1", "--port", str(port)]
    worker_pids: list[int] = []
    if args.web_processes > 1:
        cmd += ["--workers", str(args.web_processes)]
    if args.backend == "postgres":
        cmd.append("--no-worker")
        worker_pids = [p.pid for p in start_workers(args.workers, env, workdir, cleanup)]
    server = wt.start_server("teamline", cmd, env, port, workdir, cleanup)
    cookies: list[str | None] = []
    login = "HTTP POST /desk/login/"
    for agent in seeded["agents"]:
        cookie = wt.http_login(server.base_url, agent["username"])
        if cookie is None:
            login = "session rows (the desk login form refused)"
            cookie = agent["session_key"]
        cookies.append(cookie)
    try:
        result = runner.run(drive(server, cookies, seed, worker_pids, args))
    except BenchError:
        log("server log tail:\n" + server.log_tail())
        raise
    dump = self_command(env, "_dump", *(seed[p]["inbox"] for p in ("telegram", "meta", "twilio")))
    return report(args, machine, info, login, result, stages(result, dump), dump)


def run_round(
    args: argparse.Namespace, rnd: int, workdir: Path, cleanup: Cleanup, runner: asyncio.Runner
) -> dict[str, Any]:
    machine = wt.machine_info()
    machine["background_cpu"] = wt.wait_for_quiet(args.wait_idle)
    machine["loadavg"] = list(os.getloadavg())
    env, info = setup_backend(args.backend, workdir, cleanup, args.settings, redis_db=args.redis_db)
    record: dict[str, Any] = {"round": rnd, "machine": machine}
    if args.only != "teamline":
        record["reference"] = run_reference_arm(args, env, workdir, cleanup, runner)
        ref = record["reference"]
        a = ref["ack_ms"]
        print(
            f"\nreference    : {ref['acked']}/{args.total} in {ref['acked_per_s']:.0f} webhooks/s;"
            f" ack ms p50 {fmt(a[50])} p95 {fmt(a[95])} p99 {fmt(a[99])}; server CPU "
            f"{fmt(ref['server_cpu_ms_per_ack'])} ms/ack; stored {ref['stored']}"
            + (f"; errors {ref['errors']}" if ref["errors"] else "")
        )
    if args.only != "reference":
        record["teamline"] = run_teamline_arm(args, env, info, machine, workdir, cleanup, runner)
    record["ok"] = all(record[arm]["ok"] for arm in ("reference", "teamline") if arm in record)
    return record


def summary(args: argparse.Namespace, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The comparable record: the medians over the rounds of both arms."""

    def med(values: list[float]) -> float:
        clean = sorted(v for v in values if v is not None and not math.isnan(v))
        return statistics.median(clean) if clean else math.nan

    out: dict[str, Any] = {
        "target": "webhooks",
        "backend": args.backend,
        "N": args.total,
        "C": args.concurrency,
        "rate": args.rate,
        "client": args.client,
        "web_processes": args.web_processes,
        "workers": args.workers if args.backend == "postgres" else "embedded",
        "customers": "returning" if args.returning else "new",
        "rounds": len(rounds),
        "loadavg": [r["machine"]["loadavg"] for r in rounds],
        "others_cpu_before": [r["machine"]["background_cpu"] for r in rounds],
        "commit": wt.run_checked(
            ["git", "rev-parse", "--short", "HEAD"], dict(os.environ), "git"
        ).strip(),
    }
    if all("reference" in r for r in rounds):
        refs = [r["reference"] for r in rounds]
        out["reference"] = {
            "acked_per_s": med([x["acked_per_s"] for x in refs]),
            **{f"ack_p{q}_ms": med([x["ack_ms"][q] for x in refs]) for q in (50, 95, 99)},
            "server_cpu_ms_per_ack": med([x["server_cpu_ms_per_ack"] for x in refs]),
            "others_cpu": med([x["cpu_ack"]["other"] for x in refs]),
        }
    if all("teamline" in r for r in rounds):
        tls = [r["teamline"] for r in rounds]
        out["teamline"] = {
            "acked_per_s": med([x["acked_per_s"] for x in tls]),
            **{f"ack_p{q}_ms": med([x["ack_ms"][q] for x in tls]) for q in (50, 95, 99)},
            "shed": med([x["shed"] for x in tls]),
            "server_cpu_ms_per_ack": med(
                [
                    x["cpu_ack"]["server"] * 10 / x["acked_per_s"] if x["acked_per_s"] else math.nan
                    for x in tls
                ]
            ),
            "delivered_per_s": med([x["delivered_per_s"] for x in tls]),
            "tasks_per_s": med([x["stages"].get("tasks_per_s", math.nan) for x in tls]),
            **{f"e2e_p{q}_ms": med([x["e2e_ms"][q] for x in tls]) for q in (50, 95, 99)},
            "others_cpu": med([x["cpu_ack"]["other"] for x in tls]),
            "postgres_cpu": med([x["cpu_ack"]["postgres"] for x in tls]),
        }
        if "reference" in out:
            ref_rate = out["reference"]["acked_per_s"]
            out["ratio_acked"] = out["teamline"]["acked_per_s"] / ref_rate if ref_rate else None
    out["ok"] = all(r["ok"] for r in rounds)
    return out


def run(args: argparse.Namespace, workdir: Path, cleanup: Cleanup, runner: asyncio.Runner) -> dict:
    CLIENT["kind"] = args.client
    rounds = []
    for rnd in range(1, args.repeat + 1):
        if args.repeat > 1:
            log(f"round {rnd}/{args.repeat}")
        round_dir = workdir / f"round-{rnd}"
        round_dir.mkdir()
        round_cleanup = Cleanup()  # each round's servers stopped and database dropped at its end
        try:
            rounds.append(run_round(args, rnd, round_dir, round_cleanup, runner))
        finally:
            round_cleanup.run()
    result = summary(args, rounds)
    print("\nmedians      : " + json.dumps({k: v for k, v in result.items() if k != "ok"}))
    return {**result, "round_records": rounds}


def main(argv: list[str] | None = None) -> int:
    return wt.run_and_clean_up(parse_args(argv), "teamline-bench-wh-", run)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("_seed", "_dump"):
        django_main(sys.argv[1:])
    else:
        sys.exit(main())
