"""End-to-end websocket benchmark: customer widget socket → Teamline → agent desk socket.

    .venv/bin/python bench/ws_throughput.py --agents 5 --customers 20 --duration 20
    .venv/bin/python bench/ws_throughput.py --agents 20 --customers 200 --duration 30 \
        --backend postgres

For each target (the bare reference pipeline in bench/reference_app.py, then Teamline) the run
starts the real server as a subprocess on a free 127.0.0.1 port, connects K desk sockets and N
widget sockets, and lets every customer send messages: closed loop by default (each customer
sends its next message once the previous one is acked *and* has reached a desk socket;
``--loop ack`` waits for the ack only), or open loop at a fixed total rate with ``--rate``.
Each message carries a unique client_id, a unique token (``bench:<customer>.<seq>``) and its
wall-clock send time in the text. Latency = customer send → first ``message.created`` event
carrying that token on any desk socket. Results: acked/s and delivered/s over the measured
window, latency percentiles, errors, CPU of the server, of this client and of the rest of the
machine.

Everything is created fresh and removed at the end (also on Ctrl+C): a temp TEAMLINE_VAR_DIR with
the SQLite file, or a ``teamline_bench_<pid>`` PostgreSQL database plus a free Redis database
number and a unique pub/sub channel prefix. Only 127.0.0.1 is used. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import math
import os
import platform
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_ADMIN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
TOKEN_RE = re.compile(r"bench:(\d+\.\d+)")
ACK_TIMEOUT = 30.0
CONNECT_CONCURRENCY = 20
AGENT_PASSWORD = "bench-" + secrets.token_hex(8)
CLK_TCK = os.sysconf("SC_CLK_TCK")
NO_LIMIT = str(10**9)


class BenchError(RuntimeError):
    pass


class AckTimeout(Exception):
    pass


class DeliveryTimeout(Exception):
    pass


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- Machine and CPU accounting ------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    meminfo = Path("/proc/meminfo").read_text()
    mem_kb = int(re.search(r"^MemTotal:\s+(\d+)", meminfo, re.M).group(1))  # type: ignore[union-attr]
    return {
        "cpu_model": models[0].strip() if models else platform.processor() or "unknown",
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def code_version() -> str:
    """The commit the Teamline side ran (the tree changes under a benchmark)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}{' + uncommitted changes' if dirty else ''}"


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user/nice
    return total - idle, total


def background_cpu(seconds: float = 2.0) -> float:
    """CPU the machine spends on others before we start, in % of one core."""
    busy0, total0 = machine_jiffies()
    time.sleep(seconds)
    busy1, total1 = machine_jiffies()
    return 100.0 * (os.cpu_count() or 1) * (busy1 - busy0) / max(total1 - total0, 1)


def rss_mib(pid: int) -> dict[str, float]:
    """The server's resident memory now and at its peak (VmRSS, VmHWM), with its children's
    (uvicorn --workers), in MiB; {} when /proc cannot tell."""
    total = {"rss": 0.0, "peak": 0.0}
    for one in server_pids(pid):
        try:
            status = Path(f"/proc/{one}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total["rss"] += int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                total["peak"] += int(line.split()[1]) / 1024
    return total if total["rss"] else {}


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of one process (all its threads)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuSample:
    wall: float
    machine: tuple[int, int]
    server: float
    client: float

    @classmethod
    def take(cls, server_pid: int) -> CpuSample:
        return cls(
            time.perf_counter(),
            machine_jiffies(),
            sum(process_cpu_seconds(pid) for pid in server_pids(server_pid)),
            self_cpu_seconds(),
        )


# Processes that belong to a server besides itself and its children (a separate task worker).
EXTRA_PIDS: dict[int, list[int]] = {}


def server_pids(pid: int) -> list[int]:
    """The server, its children (uvicorn --workers N) and its registered task workers."""
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return pids + EXTRA_PIDS.get(pid, [])


def cpu_usage(start: CpuSample, end: CpuSample) -> dict[str, float]:
    """CPU use between two samples, in % of one core (a 2-core machine tops out at 200 %)."""
    wall = end.wall - start.wall
    busy = end.machine[0] - start.machine[0]
    total = end.machine[1] - start.machine[1]
    cores = os.cpu_count() or 1
    machine = 100.0 * cores * busy / total if total else 0.0
    server = 100.0 * (end.server - start.server) / wall
    client = 100.0 * (end.client - start.client) / wall
    return {
        "machine": machine,
        "server": server,
        "client": client,
        "other": max(machine - server - client, 0.0),
    }


# --- Subprocesses and cleanup ----------------------------------------------------------------


class Cleanup:
    """LIFO stack of cleanups, run once at exit (normal, error, Ctrl+C or SIGTERM)."""

    def __init__(self) -> None:
        self._stack: list[tuple[str, Callable[[], None]]] = []

    def push(self, name: str, func: Callable[[], None]) -> None:
        self._stack.append((name, func))

    def run(self) -> None:
        while self._stack:
            name, func = self._stack.pop()
            try:
                func()
            except Exception as exc:
                log(f"cleanup {name} failed: {exc}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a server we started (its own process group: the server and anything it spawned)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def run_checked(cmd: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise BenchError(f"{what} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""


def start_server(
    name: str, cmd: list[str], env: dict[str, str], port: int, workdir: Path, cleanup: Cleanup
) -> Server:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(name, proc, port, log_path)
    cleanup.push(f"stop {name}", lambda: stop_process(proc))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{name} exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            httpx.get(server.base_url + "/", timeout=2.0)  # any HTTP answer means it is up
            return server
        except httpx.HTTPError:
            time.sleep(0.2)
    raise BenchError(f"{name} did not answer on port {port} within 90 s:\n{server.log_tail()}")


# --- Backends: a fresh database (and channel layer) per run ---------------------------------


@dataclass
class Backend:
    kind: str
    workdir: Path
    teamline_env: dict[str, str]
    reference_env: dict[str, str]
    info: dict[str, str] = field(default_factory=dict)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEAMLINE_", "BENCH_REF_"))}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def teamline_env(workdir: Path, settings_module: str) -> dict[str, str]:
    env = base_env()
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        PYTHONPATH=os.pathsep.join(filter(None, [str(BENCH_DIR), os.environ.get("PYTHONPATH")])),
        TEAMLINE_VAR_DIR=str(workdir / "var"),
        TEAMLINE_SECRET_KEY=secrets.token_urlsafe(50),
        TEAMLINE_LOG_LEVEL="WARNING",
        # The product's per-IP and per-session abuse limits would stop a load test from one IP
        # after 30 sessions / 30 messages a minute; the limits are still checked (cache hits).
        TEAMLINE_RATE_SESSIONS=NO_LIMIT,
        TEAMLINE_RATE_CONVERSATIONS=NO_LIMIT,
        TEAMLINE_RATE_MESSAGES=NO_LIMIT,
    )
    return env


def create_reference_table_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE bench_reference_message (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "client_id TEXT NOT NULL UNIQUE, text TEXT NOT NULL, created_at REAL NOT NULL)"
    )
    conn.commit()
    conn.close()


def setup_sqlite(workdir: Path, settings_module: str, capacity: int | None) -> Backend:
    ref_db = workdir / "reference.sqlite3"
    create_reference_table_sqlite(ref_db)
    env = teamline_env(workdir, settings_module)
    ref_env = base_env()
    ref_env["BENCH_REF_DATABASE"] = str(ref_db)
    if capacity:
        env["TEAMLINE_BENCH_INMEMORY_CAPACITY"] = ref_env["BENCH_REF_INMEMORY_CAPACITY"] = str(
            capacity
        )
    return Backend(
        "sqlite",
        workdir,
        env,
        ref_env,
        {"database": "SQLite (WAL) " + sqlite3.sqlite_version, "channel layer": "InMemory"},
    )


def pick_redis_db(client: Any) -> int:
    for db in range(15, 0, -1):
        client.execute_command("SELECT", db)
        if client.dbsize() == 0:
            return db
    raise BenchError("no empty Redis database number (1-15) to use")


def create_database(dbname: str, cleanup: Cleanup) -> tuple[str, str]:
    """Create a fresh PostgreSQL database (dropped by `cleanup`); returns (name, server version)."""
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise BenchError(
            f"PostgreSQL not reachable ({exc}); run: bash scripts/services.sh"
        ) from exc
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
        admin.execute(f'CREATE DATABASE "{dbname}"')
        pg_version = admin.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]

    def drop_database() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

    cleanup.push(f"drop database {dbname}", drop_database)
    return dbname, str(pg_version)


def setup_postgres(
    workdir: Path, cleanup: Cleanup, redis_db: int | None, settings_module: str
) -> Backend:
    import psycopg
    import redis

    dbname, pg_version = create_database(f"teamline_bench_{os.getpid()}", cleanup)
    db_url = f"postgres://postgres@{PG_HOST}:{PG_PORT}/{dbname}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE bench_reference_message (id BIGSERIAL PRIMARY KEY, "
            "client_id TEXT NOT NULL UNIQUE, text TEXT NOT NULL, "
            "created_at DOUBLE PRECISION NOT NULL)"
        )

    try:
        probe = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=5)
        redis_version = probe.info("server")["redis_version"]
    except redis.RedisError as exc:
        raise BenchError(f"Redis not reachable ({exc}); run: bash scripts/services.sh") from exc
    db = redis_db if redis_db is not None else pick_redis_db(probe)
    probe.close()
    redis_url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    prefix = f"bench{os.getpid()}"

    def clear_redis() -> None:
        # Only Teamline's cache keys (rate-limit counters, periodic slots) live in this database.
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
        keys = list(client.scan_iter(match="teamline:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        client.close()

    cleanup.push(f"clear redis db {db}", clear_redis)
    env = teamline_env(workdir, settings_module)
    env.update(
        TEAMLINE_DATABASE_URL=db_url,
        TEAMLINE_REDIS_URL=redis_url,
        TEAMLINE_BENCH_CHANNEL_PREFIX=f"{prefix}tl",
    )
    ref_env = base_env()
    ref_env.update(
        BENCH_REF_DATABASE=db_url,
        BENCH_REF_REDIS_URL=redis_url,
        BENCH_REF_CHANNEL_PREFIX=f"{prefix}ref",
    )
    return Backend(
        "postgres",
        workdir,
        env,
        ref_env,
        {
            "database": f"PostgreSQL {pg_version} ({dbname})",
            "channel layer": f"RedisPubSub, Redis {redis_version} (db {db})",
        },
    )


# --- Client: sockets, load, measurement -------------------------------------------------------


@dataclass
class Results:
    """What one target's run measured. Times are time.perf_counter() values."""

    sent_at: dict[str, float] = field(default_factory=dict)
    acked_at: dict[str, float] = field(default_factory=dict)
    delivered_at: dict[str, float] = field(default_factory=dict)
    deliveries: int = 0  # message.created frames with one of our tokens, all desk sockets
    other_desk_frames: int = 0
    customer_pushes: int = 0  # frames pushed to widget sockets other than acks
    busy: int = 0  # `busy` answers (overload): the client resends after retry_after, as the widget
    errors: Counter[str] = field(default_factory=Counter)
    delivery_waiters: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    desk_fetches: int = 0  # inbox list re-reads the desk clients made, as desk.js would
    history_fetches: int = 0  # `?after=` history re-reads of the agents viewing a conversation
    suggestion_fetches: int = 0  # suggestions re-read after the viewed history grew
    read_frames: int = 0  # `read` frames the viewing agents sent (desk.js, pushed messages)
    # Ack time of each acked message measured from the attempt the server accepted (the last
    # one sent): how long an accepted message waited, busy retries before it not counted.
    accepted_wait_ms: list[float] = field(default_factory=list)


CONVERSATION_EVENTS = ("conversation.created", "conversation.updated", "assignment.changed")
ROW_RE = re.compile(r'data-conversation-id="(\d+)" data-row-state="([^"]*)"')
SUMMARY_RE = re.compile(
    r'id="inbox-summary"[^>]* data-view="(\w+)" data-status="(\w+)"[^>]* data-capped="(\d)"'
)


def row_state(data: dict[str, Any]) -> str:
    """The same key desk.js compares (static/desk/desk.js, rowState)."""
    assignee = (data.get("assignee") or {}).get("id", "")
    team = (data.get("team") or {}).get("id", "")
    waiting = data.get("waiting_since") or ""
    return f"{data.get('status')}|{data.get('priority')}|{team}|{assignee}|{waiting}"


class DeskPage:
    """What a signed-in desk showing its inbox ("Mine", open) does after each event, like
    desk.js (inboxChanged): a conversation event — `message.created` carries one too — whose
    row it shows with the same state is patched in place (no request). Otherwise it reads the
    inbox list again (bursts coalesced over 200 ms) only when the list must change: a row whose
    state changed, a conversation that belongs in the view without a row, or one that entered or
    left one of the views the navigation counts, judged against the last state it saw of every
    conversation. The rows it then knows are the ones that list shows."""

    def __init__(
        self,
        base_url: str,
        cookie: str,
        http: httpx.AsyncClient,
        results: Results,
        view: str = "none",
    ):
        self.base_url = base_url
        self.cookie = cookie
        self.url = base_url + "/desk/"
        # --view: the agent also has one of its own conversations open (the first assigned to
        # it that a message arrives in), as desk.js does there after each message: "fetch"
        # reads the history again (`?after=`, the code before the pushed render), "push" adds a
        # customer's plain message from the payload and sends one `read` frame per burst
        # (500 ms). Both re-read the suggestions 500 ms after the history grew (suggestions.js).
        self.view = view
        self.user_id: int | None = None
        self.viewing: int | None = None
        self.ws: ClientConnection | None = None
        self.last_id = 0
        self.history_lock = asyncio.Lock()
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.burst_start = 0.0
        self.tasks: set[asyncio.Task[None]] = set()
        self.headers = {
            "Cookie": f"sessionid={cookie}",
            "HX-Request": "true",
            "HX-Target": "inbox-list",
            "X-Desk-Refresh": "1",
        }
        self.http = http
        self.results = results
        self.rows: dict[int, str] = {}
        # desk.js `seen`: conversation id → (status, assignee id or 0), the last state seen.
        self.seen: dict[int, tuple[str, int]] = {}
        self.list_view, self.list_status, self.capped = "mine", "open", False
        self.pending: asyncio.Task[None] | None = None
        # BENCH_DESK_JS=before: the desk.js before per-view decisions (main at c70c43f) — every
        # event about a conversation without a row, or whose row changed, re-reads the list;
        # suggestions 500 ms after each growth. For before/after runs on the same harness.
        self.legacy = os.environ.get("BENCH_DESK_JS") == "before"

    def counted_in(self, facts: tuple[str, int]) -> str:
        """desk.js countedIn: the views counting a conversation under the list's status."""
        status, assignee = facts
        if status != self.list_status:
            return ""
        mine = ",mine" if assignee == self.user_id else ""
        return f"team{mine}{'' if assignee else ',unassigned'}"

    def on_event(self, event: str, data: dict[str, Any]) -> None:
        kind = {"conversation.created": "created", "message.created": "message"}.get(
            event, "updated"
        )
        if event == "message.created":
            # A new message carries its conversation (desk.js: inboxChanged(data.conversation)).
            if not isinstance(data.get("conversation"), dict):
                return
            data = data["conversation"]
        elif event not in CONVERSATION_EVENTS:
            return
        pk = int(data.get("id") or 0)
        if not pk:
            return
        if self.legacy:
            if kind == "created" or self.rows.get(pk) != row_state(data):
                self.request_refresh()
            return
        prev = self.seen.get(pk)
        now = (str(data.get("status")), int((data.get("assignee") or {}).get("id") or 0))
        self.seen[pk] = now
        if pk in self.rows:
            if self.rows[pk] == row_state(data):
                return  # patched in place
            self.request_refresh()
            return
        after = self.counted_in(now)
        if self.list_view in after.split(","):
            self.request_refresh()  # the row must appear
            return
        if kind == "created":
            before: str | None = ""
        elif prev is not None:
            before = self.counted_in(prev)
        else:
            before = after if kind == "message" else None
        if before != after:
            self.request_refresh()  # a view's count changed

    def request_refresh(self) -> None:
        if self.pending is None or self.pending.done():
            self.pending = asyncio.create_task(self.refresh())

    async def who_am_i(self) -> None:
        response = await self.http.get(self.url, headers={"Cookie": f"sessionid={self.cookie}"})
        match = re.search(r'data-user-id="(\d+)"', response.text)
        self.user_id = int(match.group(1)) if match else None

    def wants(self, raw: str) -> bool:
        """Whether a message.created frame is one this page must look at (cheap check)."""
        if self.view == "none" or self.user_id is None:
            return False
        if self.viewing is None:
            return f'"assignee":{{"id":{self.user_id},' in raw
        return f'"conversation_id":{self.viewing},' in raw

    def on_message(self, data: dict[str, Any]) -> None:
        conversation = data.get("conversation") or {}
        if self.viewing is None:
            if (conversation.get("assignee") or {}).get("id") != self.user_id:
                return
            self.viewing = int(data["conversation_id"])
            self.last_id = int(data["id"])
            return
        if data.get("conversation_id") != self.viewing:
            return
        plain = (
            data.get("sender_kind") == "customer"
            and not data.get("content")
            and not data.get("is_internal")
        )
        if self.view == "push" and plain:
            self.last_id = max(self.last_id, int(data["id"]))
            if conversation.get("unread_count"):  # desk.js: only the assignee's reading counts
                self.debounce("read", 0.5, self.send_read)
        else:
            self.spawn(self.fetch_history())
        self.suggestions_after_growth()

    def suggestions_after_growth(self) -> None:
        """suggestions.js historyGrew: once per burst, 1 s after the last message of the burst
        and at most 5 s after its first."""
        if self.legacy:
            self.debounce("suggestions", 0.5, self.fire_suggestions)
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if "suggestions" not in self.timers:
            self.burst_start = now
        wait = max(0.0, min(1.0, self.burst_start + 5.0 - now))
        self.debounce("suggestions", wait, self.fire_suggestions)

    async def fire_suggestions(self) -> None:
        self.timers.pop("suggestions", None)
        await self.fetch_suggestions()

    def debounce(self, name: str, delay: float, func: Callable[[], Any]) -> None:
        timer = self.timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        loop = asyncio.get_running_loop()
        self.timers[name] = loop.call_later(delay, lambda: self.spawn(func()))

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def stop(self) -> list[asyncio.Task[None]]:
        for timer in self.timers.values():
            timer.cancel()
        for task in self.tasks:
            task.cancel()
        return list(self.tasks)

    async def send_read(self) -> None:
        if self.ws is None or self.viewing is None:
            return
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(json.dumps({"type": "read", "conversation": self.viewing}))
            self.results.read_frames += 1

    async def fetch_history(self) -> None:
        async with self.history_lock:  # desk.js: one history fetch at a time
            url = f"{self.base_url}/desk/conversations/{self.viewing}/?after={self.last_id}"
            headers = {"Cookie": f"sessionid={self.cookie}", "HX-Request": "true"}
            headers["HX-Target"] = "history-list"
            try:
                response = await self.http.get(url, headers=headers)
            except httpx.HTTPError as exc:
                self.results.errors[f"history re-read failed ({type(exc).__name__})"] += 1
                return
            self.results.history_fetches += 1
            if response.status_code != 200:
                self.results.errors[f"history re-read {response.status_code}"] += 1
                return
            ids = [int(pk) for pk in re.findall(r'data-message-id="(\d+)"', response.text)]
            self.last_id = max([self.last_id, *ids])

    async def fetch_suggestions(self) -> None:
        url = f"{self.base_url}/desk/conversations/{self.viewing}/"
        headers = {"Cookie": f"sessionid={self.cookie}", "HX-Request": "true"}
        headers["HX-Target"] = "suggestions"
        try:
            response = await self.http.get(url, headers=headers)
        except httpx.HTTPError as exc:
            self.results.errors[f"suggestions re-read failed ({type(exc).__name__})"] += 1
            return
        self.results.suggestion_fetches += 1
        if response.status_code != 200:
            self.results.errors[f"suggestions re-read {response.status_code}"] += 1

    async def refresh(self) -> None:
        await asyncio.sleep(0.2)
        try:
            response = await self.http.get(self.url, headers=self.headers)
        except httpx.HTTPError as exc:
            self.results.errors[f"inbox re-read failed ({type(exc).__name__})"] += 1
            return
        self.results.desk_fetches += 1
        if response.status_code != 200:
            self.results.errors[f"inbox re-read {response.status_code}"] += 1
            return
        self.rows = {int(pk): state for pk, state in ROW_RE.findall(response.text)}
        for pk, state in self.rows.items():  # desk.js seeRows
            status, _priority, _team, assignee, _waiting = state.split("|")
            self.seen[pk] = (status, int(assignee or 0))
        summary = SUMMARY_RE.search(response.text)
        if summary:
            self.list_view, self.list_status = summary.group(1), summary.group(2)
            self.capped = summary.group(3) == "1"


class Customer:
    def __init__(self, index: int, ws: ClientConnection, results: Results) -> None:
        self.index = index
        self.ws = ws
        self.results = results
        self.seq = 0
        self.pending: dict[str, tuple[str, asyncio.Future[None] | None]] = {}
        self.texts: dict[str, str] = {}  # client_id → frame, kept until acked (busy → resend)
        self.last_sent: dict[str, float] = {}  # client_id → when its latest attempt was sent
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        results = self.results
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "ack":
                    self.texts.pop(frame.get("client_id") or "", None)
                    last = self.last_sent.pop(frame.get("client_id") or "", None)
                    if last is not None:
                        results.accepted_wait_ms.append((now - last) * 1000)
                    token, waiter = self.pending.pop(frame.get("client_id"), (None, None))
                    if token is None:
                        results.errors["ack for unknown client_id"] += 1
                        continue
                    results.acked_at[token] = now
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
                elif kind == "busy":
                    # Not stored: send the same frame again after the hint, like the widget.
                    results.busy += 1
                    resend = self.texts.get(frame.get("client_id") or "")
                    if resend is not None:
                        delay = float(frame.get("retry_after") or 1) * (1 + random.random())
                        asyncio.get_running_loop().call_later(
                            delay, lambda r=resend: asyncio.ensure_future(self._resend(r))
                        )
                elif kind == "error":
                    results.errors[f"widget error {frame.get('code')}"] += 1
                    token, waiter = self.pending.pop(frame.get("client_id") or "", (None, None))
                    if waiter is not None and not waiter.done():
                        waiter.set_exception(BenchError(str(frame.get("code"))))
                else:
                    results.customer_pushes += 1
        except ConnectionClosed as exc:
            results.errors[f"widget socket closed ({exc.rcvd.code if exc.rcvd else '-'})"] += 1

    async def _resend(self, raw: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            self.last_sent[json.loads(raw)["client_id"]] = time.perf_counter()
            await self.ws.send(raw)

    async def send(self, wait: str, delivery_timeout: float = 10.0) -> None:
        """Send one message; with wait="ack" return once it is acked, with wait="delivery" once
        it is also on a desk socket, with wait="none" at once. Raises AckTimeout, DeliveryTimeout
        or BenchError (error frame)."""
        self.seq += 1
        token = f"{self.index}.{self.seq}"
        client_id = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        ack = loop.create_future() if wait != "none" else None
        self.pending[client_id] = (token, ack)
        delivered = loop.create_future() if wait == "delivery" else None
        if delivered is not None:
            self.results.delivery_waiters[token] = delivered
        text = f"bench:{token} sent={time.time():.6f}"
        self.results.sent_at[token] = time.perf_counter()
        raw = json.dumps({"type": "message", "client_id": client_id, "text": text})
        self.texts[client_id] = raw
        self.last_sent[client_id] = time.perf_counter()
        await self.ws.send(raw)
        try:
            if ack is not None:
                try:
                    await asyncio.wait_for(ack, ACK_TIMEOUT)
                except TimeoutError:
                    raise AckTimeout(token) from None
            if delivered is not None:
                try:
                    await asyncio.wait_for(delivered, delivery_timeout)
                except TimeoutError:
                    raise DeliveryTimeout(token) from None
        finally:
            self.results.delivery_waiters.pop(token, None)


async def read_desk(ws: ClientConnection, results: Results, page: DeskPage | None = None) -> None:
    delivered_at = results.delivered_at
    try:
        async for raw in ws:
            now = time.perf_counter()
            if (
                page is not None
                and isinstance(raw, str)
                and ('"conversation.' in raw or '"assignment.changed"' in raw)
            ):
                frame = json.loads(raw)
                page.on_event(frame.get("event", ""), frame.get("data") or {})
            if isinstance(raw, str) and '"message.created"' in raw:
                if page is not None:
                    # desk.js follows every message's conversation (the inbox row, the lists).
                    data = json.loads(raw).get("data") or {}
                    page.on_event("message.created", data)
                    if page.wants(raw):
                        page.on_message(data)
                match = TOKEN_RE.search(raw)
                if match:
                    results.deliveries += 1
                    token = match.group(1)
                    if token not in delivered_at:
                        # Confirm the frame once per token; cheap substring checks otherwise.
                        frame = json.loads(raw)
                        if frame.get("event") == "message.created" and token in json.dumps(
                            frame.get("data")
                        ):
                            delivered_at[token] = now
                            waiter = results.delivery_waiters.pop(token, None)
                            if waiter is not None and not waiter.done():
                                waiter.set_result(None)
                    continue
            results.other_desk_frames += 1
    except ConnectionClosed as exc:
        results.errors[f"desk socket closed ({exc.rcvd.code if exc.rcvd else '-'})"] += 1


@dataclass
class Target:
    name: str
    server: Server
    inbox: str
    agent_cookies: list[str | None]
    api_tokens: list[str] = field(default_factory=list)


async def bounded(limit: int, coros: list[Any]) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def run(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return await asyncio.gather(*(run(c) for c in coros))


async def open_desk(target: Target, cookie: str | None) -> ClientConnection:
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
    return await connect(
        target.server.ws_url + "/ws/desk/",
        origin=target.server.base_url,  # type: ignore[arg-type]
        additional_headers=headers,
        open_timeout=30,
        max_size=2**22,
    )


async def open_widget(target: Target, http: httpx.AsyncClient) -> tuple[ClientConnection, str]:
    response = await http.post(
        f"{target.server.base_url}/widget/api/{target.inbox}/session",
        json={},
        headers={"Origin": target.server.base_url},
    )
    if response.status_code != 200:
        raise BenchError(f"widget session: HTTP {response.status_code} {response.text[:200]}")
    token = response.json()["token"]
    ws = await connect(
        target.server.ws_url + "/ws/widget/",
        origin=target.server.base_url,  # type: ignore[arg-type]
        open_timeout=30,
        max_size=2**22,
    )
    await ws.send(json.dumps({"type": "auth", "token": token}))
    frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
    if frame.get("type") != "ready":
        await ws.close()
        raise BenchError(f"widget auth: expected ready, got {str(frame)[:200]}")
    return ws, token


@dataclass
class LoadConfig:
    customers: int
    duration: float
    warmup: float
    rate: float | None  # total messages/s (open loop); None = closed loop
    loop: str = "delivery"  # closed loop: wait for "ack" or for "delivery" (ack + desk push)
    # Pushes are at-most-once: a dropped one must not stall a closed-loop customer for long.
    delivery_timeout: float = 10.0
    drain: float = 30.0
    view: str = "none"  # what each desk also has open (DeskPage): none, fetch or push


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    rank = max(math.ceil(q / 100 * len(sorted_values)) - 1, 0)
    return sorted_values[rank]


async def drive(target: Target, config: LoadConfig) -> dict[str, Any]:
    results = Results()
    log(f"{target.name}: connecting {len(target.agent_cookies)} desk sockets")
    desks = await bounded(CONNECT_CONCURRENCY, [open_desk(target, c) for c in target.agent_cookies])
    # Teamline's desks behave like desk.js (re-reads included); the reference has no pages.
    desk_http = httpx.AsyncClient(timeout=60)
    pages = [
        DeskPage(target.server.base_url, c, desk_http, results, config.view) if c else None
        for c in target.agent_cookies
    ]
    for page, ws in zip(pages, desks, strict=True):
        if page is not None and config.view != "none":
            page.ws = ws
            await page.who_am_i()
    desk_readers = [
        asyncio.create_task(read_desk(ws, results, page))
        for ws, page in zip(desks, pages, strict=True)
    ]
    log(f"{target.name}: opening {config.customers} widget sessions and sockets")
    async with httpx.AsyncClient(timeout=60) as http:
        widgets = await bounded(
            CONNECT_CONCURRENCY, [open_widget(target, http) for _ in range(config.customers)]
        )
    await asyncio.sleep(0.5)
    if any(task.done() for task in desk_readers):
        raise BenchError(f"{target.name}: desk sockets were closed: {dict(results.errors)}")
    customers = [Customer(i, ws, results) for i, (ws, _) in enumerate(widgets)]

    # Warm-up 1: every customer's first message opens (and routes) their conversation.
    log(f"{target.name}: first message of every customer (opens the conversations)")
    started = time.perf_counter()
    first = await asyncio.gather(*(c.send("ack") for c in customers), return_exceptions=True)
    failures = [f for f in first if isinstance(f, BaseException)]
    if failures:
        raise BenchError(f"{target.name}: {len(failures)} first messages failed: {failures[0]!r}")
    opening = time.perf_counter() - started
    deadline = time.perf_counter() + config.drain
    while len(results.delivered_at) < len(customers) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    if not results.delivered_at:
        raise BenchError(
            f"{target.name}: no message.created reached a desk socket "
            f"(desk frames: {results.other_desk_frames}, errors: {dict(results.errors)})"
        )

    # Warm-up 2 then the measured window, in one uninterrupted load.
    stop = asyncio.Event()
    window_start = time.perf_counter() + config.warmup
    window_end = window_start + config.duration

    async def closed_loop(customer: Customer) -> None:
        while not stop.is_set():
            try:
                await customer.send(config.loop, config.delivery_timeout)
            except AckTimeout:
                results.errors["ack timeout"] += 1
            except DeliveryTimeout:
                pass  # counted below if it never arrives
            except BenchError:
                await asyncio.sleep(0.1)  # error frame: already counted
            except ConnectionClosed:
                return

    async def open_loop(customer: Customer, interval: float) -> None:
        next_at = time.perf_counter() + random.uniform(0, interval)
        while not stop.is_set():
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if stop.is_set():
                return
            try:
                await customer.send("none")
            except ConnectionClosed:
                return
            next_at += interval

    if config.rate:
        interval = len(customers) / config.rate
        loops = [asyncio.create_task(open_loop(c, interval)) for c in customers]
    else:
        loops = [asyncio.create_task(closed_loop(c)) for c in customers]
    log(f"{target.name}: load running ({config.warmup:g} s warm-up + {config.duration:g} s)")
    await asyncio.sleep(max(window_start - time.perf_counter(), 0))
    cpu_start = CpuSample.take(target.server.proc.pid)
    await asyncio.sleep(max(window_end - time.perf_counter(), 0))
    cpu_end = CpuSample.take(target.server.proc.pid)
    stop.set()

    in_window = [t for t, s in results.sent_at.items() if window_start <= s < window_end]
    drain_until = time.perf_counter() + config.drain
    while time.perf_counter() < drain_until and not all(
        t in results.delivered_at and t in results.acked_at for t in in_window
    ):
        await asyncio.sleep(0.05)
    for task in loops:
        task.cancel()
    await asyncio.gather(*loops, return_exceptions=True)
    for ws in [ws for ws, _ in widgets] + desks:
        await ws.close()
    await asyncio.gather(*desk_readers, *(c.reader for c in customers), return_exceptions=True)
    pending = [p.pending for p in pages if p is not None and p.pending is not None]
    pending += [task for p in pages if p is not None for task in p.stop()]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await desk_http.aclose()
    # Closing our own sockets is not an error.
    for key in [k for k in results.errors if "socket closed (1000)" in k]:
        del results.errors[key]

    def in_range(times: dict[str, float]) -> int:
        return sum(1 for t in times.values() if window_start <= t < window_end)

    latencies = sorted(
        (results.delivered_at[t] - results.sent_at[t]) * 1000
        for t in in_window
        if t in results.delivered_at
    )
    ack_latencies = sorted(
        (results.acked_at[t] - results.sent_at[t]) * 1000
        for t in in_window
        if t in results.acked_at
    )
    errors = dict(results.errors)
    undelivered = sum(1 for t in in_window if t not in results.delivered_at)
    unacked = sum(1 for t in in_window if t not in results.acked_at)
    if undelivered:
        errors["not delivered to a desk socket"] = undelivered
    if unacked:
        errors["not acked"] = unacked
    cpu = cpu_usage(cpu_start, cpu_end)
    load_average = os.getloadavg()  # 1, 5, 15 min, at the end of the measured window
    delivered_per_s = in_range(results.delivered_at) / config.duration
    return {
        "target": target.name,
        "opening_s": opening,
        "sent": len(in_window),
        "acked_per_s": in_range(results.acked_at) / config.duration,
        "delivered_per_s": delivered_per_s,
        "latency_ms": {q: percentile(latencies, q) for q in (50, 95, 99, 100)},
        "ack_latency_ms": {q: percentile(ack_latencies, q) for q in (50, 95, 99, 100)},
        "accepted_ack_ms": {
            q: percentile(sorted(results.accepted_wait_ms), q) for q in (50, 95, 99, 100)
        },
        "desk_frames_per_message": (results.deliveries + results.other_desk_frames)
        / max(len(results.sent_at), 1),
        "desk_fetches_per_message": results.desk_fetches / max(len(results.sent_at), 1),
        "history_fetches_per_message": results.history_fetches / max(len(results.sent_at), 1),
        "suggestion_fetches_per_message": results.suggestion_fetches / max(len(results.sent_at), 1),
        "read_frames_per_message": results.read_frames / max(len(results.sent_at), 1),
        "server_rss_mib": rss_mib(target.server.proc.pid),
        "load_average": load_average,
        "errors": errors,
        "busy": results.busy,
        "cpu": cpu,
        # CPU time per delivered message: far less sensitive to a busy machine than msg/s.
        "server_cpu_ms_per_message": cpu["server"] * 10 / delivered_per_s
        if delivered_per_s
        else math.nan,
    }


# --- Idle widget sockets (--idle-widgets N) ----------------------------------------------------
#
# N widget sockets opened (session POST + auth → ready) and held, as N visitors with the chat
# open and nothing to say. Measured: the time to open all N, the server's RSS with them open,
# and then an agent replying to a sample of those customers: reply sent → frame on the widget.
# One client process holds a few thousand sockets at most before its own CPU is the limit, so
# the sockets are opened by `--idle-clients` holder processes (this script, `--idle-holder`),
# and the sample's sockets by the main process. Client keepalive pings are off (a browser sends
# none); the server's own pings are answered.

IDLE_HOLDER = "--idle-holder"
REPLY_RE = re.compile(r"bench-reply:(\d+\.\d+)")


def raise_fd_limit() -> int:
    """The soft limit on open files raised to the hard one (10,000 sockets need more than the
    usual 1,024); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def open_session_socket(
    base_url: str, inbox: str, http: httpx.AsyncClient
) -> tuple[ClientConnection, str, dict[str, Any]]:
    """One visitor: the session POST, the socket, the auth frame; (socket, token, ready)."""
    response = await http.post(
        f"{base_url}/widget/api/{inbox}/session", json={}, headers={"Origin": base_url}
    )
    if response.status_code != 200:
        raise BenchError(f"widget session: HTTP {response.status_code} {response.text[:200]}")
    token = response.json()["token"]
    ws = await connect(
        base_url.replace("http://", "ws://") + "/ws/widget/",
        origin=base_url,  # type: ignore[arg-type]
        open_timeout=120,
        ping_interval=None,
        max_size=2**22,
    )
    await ws.send(json.dumps({"type": "auth", "token": token}))
    frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
    if frame.get("type") != "ready":
        await ws.close()
        raise BenchError(f"widget auth: expected ready, got {str(frame)[:200]}")
    return ws, token, frame


async def idle_holder(base_url: str, inbox: str, count: int, concurrency: int) -> None:
    """A holder process: on "go" open `count` sockets, say how long it took, hold them until
    stdin closes (on each "churn" line: close them all and open as many new ones, and say how
    long it took), then say how many the server closed meanwhile."""
    raise_fd_limit()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": True}), flush=True)
    await reader.readline()
    started = time.perf_counter()
    errors: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:

        async def one() -> ClientConnection | None:
            try:
                ws, _token, _ready = await open_session_socket(base_url, inbox, http)
                return ws
            except Exception as exc:  # counted: the run reports them
                errors[type(exc).__name__ + ": " + str(exc)[:80]] += 1
                return None

        opened = [ws for ws in await bounded(concurrency, [one() for _ in range(count)]) if ws]
        seconds = time.perf_counter() - started
        print(json.dumps({"opened": len(opened), "seconds": seconds, "errors": errors}), flush=True)
        # "churn": every held socket closed by the client, then as many opened again (new
        # visitors), as pages are left and opened; until stdin closes.
        while (await reader.readline()) == b"churn\n":
            started = time.perf_counter()
            await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
            opened = [ws for ws in await bounded(concurrency, [one() for _ in range(count)]) if ws]
            seconds = time.perf_counter() - started
            print(
                json.dumps({"opened": len(opened), "seconds": seconds, "errors": errors}),
                flush=True,
            )
    closed = Counter(
        str(ws.close_code) if ws.close_code is not None else "-"
        for ws in opened
        if ws.state.name != "OPEN"
    )
    await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
    print(json.dumps({"closed_by_server": closed}), flush=True)


class IdleCustomer:
    """A sampled customer: sends one message (which opens the conversation), then only reads."""

    def __init__(self, index: int, ws: ClientConnection, token: str) -> None:
        self.index, self.ws, self.token = index, ws, token
        self.conversation_id: int | None = None
        self.acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.replies: dict[str, float] = {}  # reply token → arrival time
        self.closed: str | None = None
        self.first: str | None = None
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                if isinstance(raw, str) and "bench-reply:" in raw:
                    match = REPLY_RE.search(raw)
                    if match:
                        self.replies.setdefault(match.group(1), now)
                    continue
                frame = json.loads(raw)
                if frame.get("type") == "ack" and not self.acked.done():
                    self.conversation_id = (frame.get("message") or {}).get("conversation_id")
                    self.acked.set_result(None)
                elif frame.get("type") == "busy" and self.first is not None:
                    # Not stored: send it again after the hint, as the widget does.
                    delay = float(frame.get("retry_after") or 1) * (1 + random.random())
                    asyncio.get_running_loop().call_later(
                        delay, lambda: asyncio.ensure_future(self._send_first())
                    )
                elif frame.get("type") == "error" and not self.acked.done():
                    self.acked.set_exception(BenchError(str(frame)[:200]))
        except ConnectionClosed as exc:
            self.closed = str(exc.rcvd.code if exc.rcvd else "-")

    async def _send_first(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(self.first or "")

    async def first_message(self) -> None:
        self.first = json.dumps(
            {"type": "message", "client_id": str(uuid.uuid4()), "text": f"bench:{self.index}.0"}
        )
        await self._send_first()
        await asyncio.wait_for(self.acked, ACK_TIMEOUT)


async def send_reply(
    target: Target, http: httpx.AsyncClient, customer: IdleCustomer, text: str
) -> int:
    """An agent's reply to this customer: the product's API (a personal access token), or the
    reference's bare endpoint. Returns the HTTP status."""
    if target.name == "reference":
        response = await http.post(
            f"{target.server.base_url}/bench/reply", json={"token": customer.token, "text": text}
        )
    else:
        response = await http.post(
            f"{target.server.base_url}/api/v1/conversations/{customer.conversation_id}/messages",
            json={"text": text},
            headers={"Authorization": f"Bearer {target.api_tokens[0]}"},
        )
    return response.status_code


async def drive_idle(target: Target, config: IdleConfig) -> dict[str, Any]:
    results = Results()
    desks = await bounded(CONNECT_CONCURRENCY, [open_desk(target, c) for c in target.agent_cookies])
    desk_readers = [asyncio.create_task(read_desk(ws, results)) for ws in desks]
    sample = min(config.sample, config.widgets)
    rest = config.widgets - sample
    clients = max(1, min(config.clients, rest))
    shares = [rest // clients + (1 if i < rest % clients else 0) for i in range(clients)]
    log(
        f"{target.name}: opening {config.widgets} idle widget sockets ({clients} holder "
        f"processes + {sample} sampled in this one)"
    )
    holders = [
        await asyncio.create_subprocess_exec(
            str(VENV_BIN / "python"),
            str(Path(__file__).resolve()),
            IDLE_HOLDER,
            target.server.base_url,
            target.inbox,
            str(share),
            str(config.concurrency),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        for share in shares
        if share
    ]
    for holder in holders:
        assert holder.stdout is not None
        await holder.stdout.readline()  # ready (imports done)
    profiler = None
    if config.profile is not None and target.name == "teamline":
        # py-spy (pip install py-spy): the server's stacks while the sockets open.
        profiler = await asyncio.create_subprocess_exec(
            str(VENV_BIN / "py-spy"),
            "record",
            "--pid",
            str(target.server.proc.pid),
            "--format",
            "raw",
            "--output",
            str(config.profile),
            "--rate",
            "50",
            "--gil",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    cpu_start = CpuSample.take(target.server.proc.pid)
    started = time.perf_counter()
    for holder in holders:
        assert holder.stdin is not None
        holder.stdin.write(b"go\n")
        await holder.stdin.drain()

    async def holder_report(holder: asyncio.subprocess.Process) -> dict[str, Any]:
        assert holder.stdout is not None
        line = await holder.stdout.readline()
        report = json.loads(line or b'{"opened": 0, "errors": {"holder died": 1}}')
        report["done_at"] = time.perf_counter()
        return report

    async with httpx.AsyncClient(timeout=120) as http:
        sampled, reports = await asyncio.gather(
            bounded(
                CONNECT_CONCURRENCY,
                [
                    open_session_socket(target.server.base_url, target.inbox, http)
                    for _ in range(sample)
                ],
            ),
            asyncio.gather(*(holder_report(h) for h in holders)),
        )
        sample_done = time.perf_counter()
    open_s = max([sample_done] + [r["done_at"] for r in reports]) - started
    cpu_end = CpuSample.take(target.server.proc.pid)
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        await profiler.wait()
    opened = sample + sum(r["opened"] for r in reports)
    for report in reports:
        results.errors.update(report.get("errors") or {})
    log(f"{target.name}: {opened} sockets open after {open_s:.1f} s")
    await asyncio.sleep(config.settle)
    rss = rss_mib(target.server.proc.pid)
    customers = [IdleCustomer(i, ws, token) for i, (ws, token, _) in enumerate(sampled)]

    log(f"{target.name}: first message of {len(customers)} sampled customers")
    firsts = await asyncio.gather(*(c.first_message() for c in customers), return_exceptions=True)
    failed = [f for f in firsts if isinstance(f, BaseException)]
    if failed:
        results.errors[f"first message failed: {failed[0]!r}"[:120]] += len(failed)
    ready = [c for c in customers if c.conversation_id is not None or target.name == "reference"]
    await asyncio.sleep(config.settle)  # routing assigns the new conversations

    log(f"{target.name}: {config.replies} replies at {config.reply_rate:g}/s to {len(ready)}")
    sent_at: dict[str, tuple[float, IdleCustomer]] = {}
    statuses: Counter[int] = Counter()
    reply_cpu_start = CpuSample.take(target.server.proc.pid)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=50)) as http:
        tasks = []
        next_at = time.perf_counter()
        for j in range(config.replies):
            customer = ready[j % len(ready)]
            token = f"{customer.index}.{j + 1}"
            await asyncio.sleep(max(next_at - time.perf_counter(), 0))
            sent_at[token] = (time.perf_counter(), customer)
            tasks.append(
                asyncio.create_task(send_reply(target, http, customer, f"bench-reply:{token}"))
            )
            next_at += 1 / config.reply_rate
        for status in await asyncio.gather(*tasks, return_exceptions=True):
            statuses[status if isinstance(status, int) else -1] += 1
        deadline = time.perf_counter() + config.drain
        while time.perf_counter() < deadline and any(
            t not in c.replies for t, (_s, c) in sent_at.items()
        ):
            await asyncio.sleep(0.05)
    reply_cpu_end = CpuSample.take(target.server.proc.pid)
    latencies = sorted((c.replies[t] - s) * 1000 for t, (s, c) in sent_at.items() if t in c.replies)
    missing = sum(1 for t, (_s, c) in sent_at.items() if t not in c.replies)
    if missing:
        results.errors["reply not on the widget socket"] = missing
    for status, count in statuses.items():
        if status not in (200, 201):
            results.errors[f"reply HTTP {status}"] += count
    churn = []
    for _ in range(config.churn):
        # The held sockets closed and as many new visitors' opened, then the server's memory.
        churn_started = time.perf_counter()
        for holder in holders:
            assert holder.stdin is not None
            holder.stdin.write(b"churn\n")
            await holder.stdin.drain()
        churned = await asyncio.gather(*(holder_report(h) for h in holders))
        for report in churned:
            results.errors.update(report.get("errors") or {})
        await asyncio.sleep(config.settle)
        churn.append(
            {
                "reopened": sum(r["opened"] for r in churned),
                "seconds": max(r["done_at"] for r in churned) - churn_started,
                "server_rss_mib": rss_mib(target.server.proc.pid),
            }
        )
        log(
            f"{target.name}: churn {len(churn)}: {churn[-1]['reopened']} sockets closed and "
            f"opened in {churn[-1]['seconds']:.1f} s, RSS "
            f"{churn[-1]['server_rss_mib'].get('rss', math.nan):.0f} MiB"
        )
    closed: Counter[str] = Counter()
    for holder in holders:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        line = await holder.stdout.readline()
        await holder.wait()
        closed.update(json.loads(line or b"{}").get("closed_by_server") or {})
    closed.update(c.closed for c in customers if c.closed is not None)
    for ws in [c.ws for c in customers] + desks:
        await ws.close()
    await asyncio.gather(*desk_readers, *(c.reader for c in customers), return_exceptions=True)
    for code, count in closed.items():
        if code != "1000":
            results.errors[f"widget socket closed by the server ({code})"] += count
    for key in [k for k in results.errors if "socket closed (1000)" in k]:
        del results.errors[key]
    cpu = cpu_usage(cpu_start, cpu_end)
    reply_cpu = cpu_usage(reply_cpu_start, reply_cpu_end)
    return {
        "target": target.name,
        "mode": "idle-widgets",
        "idle_widgets": config.widgets,
        "opened": opened,
        "open_s": open_s,
        "opened_per_s": opened / open_s if open_s else math.nan,
        "server_cpu_ms_per_open": cpu["server"] * 10 * open_s / max(opened, 1),
        "server_rss_mib": rss,
        "replies": len(sent_at),
        "latency_ms": {q: percentile(latencies, q) for q in (50, 95, 99, 100)},
        "server_cpu_ms_per_reply": reply_cpu["server"]
        * 10
        * (reply_cpu_end.wall - reply_cpu_start.wall)
        / max(len(latencies), 1),
        "load_average": os.getloadavg(),
        "errors": dict(results.errors),
        "cpu": cpu,
        "reply_cpu": reply_cpu,
        "client_processes": len(holders) + 1,
        "churn": churn,
        "fd_limit": raise_fd_limit(),
    }


@dataclass
class IdleConfig:
    widgets: int
    sample: int = 50
    replies: int = 500
    reply_rate: float = 20.0
    clients: int = 4
    concurrency: int = 25
    settle: float = 2.0
    drain: float = 10.0
    profile: Path | None = None
    churn: int = 0


def print_idle_report(
    args: argparse.Namespace, machine: dict[str, Any], runs: list[dict[str, Any]]
) -> None:
    print()
    print(
        f"machine : {machine['cpu_model']}, {machine['logical_cpus']} logical CPUs, "
        f"{machine['ram_gib']} GiB RAM, Linux {machine['kernel']}, Python {machine['python']}"
    )
    print(f"code    : {machine['code']}")
    print(
        f"load    : {args.idle_widgets} idle widget sockets ({args.idle_clients} holder "
        f"processes), {args.idle_replies} agent replies at {args.reply_rate:g}/s to "
        f"{args.idle_sample} of them"
    )
    header = (
        f"{'target':<10} {'rnd':>3} {'opened':>7} {'open s':>7} {'open/s':>7} {'rss MiB':>8} "
        f"{'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} {'errors':>6} {'load1':>5}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        lat = run["latency_ms"]
        print(
            f"{run['target']:<10} {run['round']:>3} {run['opened']:>7} {run['open_s']:>7.1f} "
            f"{run['opened_per_s']:>7.0f} {run['server_rss_mib'].get('rss', math.nan):>8.0f} "
            f"{fmt_ms(lat[50]):>7} {fmt_ms(lat[95]):>7} {fmt_ms(lat[99]):>7} "
            f"{fmt_ms(lat[100]):>7} {sum(run['errors'].values()):>6} "
            f"{run['load_average'][0]:>5.1f}"
        )
    print(
        "open s = from the first session POST to the last socket answered `ready`; rss = the "
        "server's resident memory with all sockets open; latency ms = agent reply sent (HTTP "
        "POST) → its frame on the customer's widget socket"
    )
    for run in runs:
        if run["errors"]:
            print(f"errors {run['target']} round {run['round']}: {run['errors']}")
    for name in ("reference", "teamline"):
        mine = [run for run in runs if run["target"] == name]
        if len(mine) > 1:
            print(
                f"{name}: medians: open {statistics.median(r['open_s'] for r in mine):.1f} s, "
                f"RSS {statistics.median(r['server_rss_mib'].get('rss', 0) for r in mine):.0f} "
                f"MiB, reply p50 {fmt_ms(statistics.median(r['latency_ms'][50] for r in mine))}"
                f" / p99 {fmt_ms(statistics.median(r['latency_ms'][99] for r in mine))} ms"
            )


# --- Targets ------------------------------------------------------------------------------------


def reference_command(port: int, processes: int = 1) -> list[str]:
    """uvicorn serving bench/reference_app.py on 127.0.0.1:`port` with `processes` processes."""
    cmd = [
        str(VENV_BIN / "uvicorn"),
        "reference_app:application",
        "--app-dir",
        str(BENCH_DIR),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--log-level",
        "warning",
    ]
    if processes > 1:
        cmd += ["--workers", str(processes)]
    return cmd


def run_reference(
    backend: Backend, args: argparse.Namespace, cleanup: Cleanup
) -> tuple[Server, Target]:
    port = free_port()
    cmd = reference_command(port, args.web_processes if backend.kind == "postgres" else 1)
    if args.ws_deflate is not None:
        cmd += ["--ws-per-message-deflate", "true" if args.ws_deflate == "on" else "false"]
    server = start_server("reference", cmd, backend.reference_env, port, backend.workdir, cleanup)
    return server, Target("reference", server, "reference", [None] * args.agents)


def http_login(base_url: str, username: str) -> str | None:
    """The desk's own login form; None when it is not there (yet) or refuses."""
    try:
        with httpx.Client(base_url=base_url, timeout=30, follow_redirects=False) as client:
            page = client.get("/desk/login/")
            csrf = client.cookies.get("csrftoken")
            if page.status_code != 200 or not csrf:
                return None
            response = client.post(
                "/desk/login/",
                data={
                    "username": username,
                    "password": AGENT_PASSWORD,
                    "csrfmiddlewaretoken": csrf,
                },
                headers={"Origin": base_url, "Referer": base_url + "/desk/login/"},
            )
            if response.status_code in (301, 302, 303):
                return client.cookies.get("sessionid")
    except httpx.HTTPError:
        return None
    return None


# The first round's freshly migrated, empty database, copied for the next rounds: migrating
# takes minutes on a busy machine, and every round still starts from an empty database.
MIGRATED: dict[str, str] = {}


def migrated_cache() -> Path:
    """Where a migrated empty SQLite database is kept between runs: named by a digest of every
    migration file of the code the server runs (another checkout's, with `PYTHONPATH`), so a
    changed or added migration migrates afresh."""
    import hashlib
    import importlib.util

    spec = importlib.util.find_spec("teamline")  # as the server's `teamline` command finds it
    package = Path(spec.origin).parent if spec and spec.origin else ROOT / "src" / "teamline"
    digest = hashlib.sha256()
    for path in sorted(package.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(package.parent)).encode())
        digest.update(path.read_bytes())
    name = f"teamline-bench-migrated-{digest.hexdigest()[:16]}.sqlite3"
    return Path(tempfile.gettempdir()) / name


def migrate_fresh(backend: Backend, env: dict[str, str], teamline: str) -> None:
    if backend.kind == "sqlite":
        db = Path(env["TEAMLINE_VAR_DIR"]) / "teamline.sqlite3"
        if "sqlite" in MIGRATED:
            db.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(MIGRATED["sqlite"], db)
            log("teamline: fresh database copied from the first round's migrated one")
            return
        cached = migrated_cache()
        if cached.exists():
            db.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cached, db)
            MIGRATED["sqlite"] = str(cached)
            log(f"teamline: fresh database copied from {cached} (the same migrations)")
            return
        log("teamline: migrating the fresh database")
        run_checked([teamline, "migrate", "--no-input", "-v", "0"], env, "migrate")
        template = cached
        with sqlite3.connect(db) as conn:  # one file: the WAL folded in
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        partial = template.with_suffix(f".{os.getpid()}.part")
        shutil.copyfile(db, partial)
        partial.replace(template)  # whole or not at all
        MIGRATED["sqlite"] = str(template)
        return
    import psycopg

    dbname = env["TEAMLINE_DATABASE_URL"].rsplit("/", 1)[1]
    template_name = f"teamline_bench_tpl_{os.getpid()}"
    if "postgres" in MIGRATED:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{dbname}" TEMPLATE "{template_name}"')
        log("teamline: fresh database copied from the first round's migrated one")
        return
    log("teamline: migrating the fresh database")
    run_checked([teamline, "migrate", "--no-input", "-v", "0"], env, "migrate")
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{template_name}"')
        admin.execute(f'CREATE DATABASE "{template_name}" TEMPLATE "{dbname}"')

    def drop_template() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{template_name}" WITH (FORCE)')

    atexit.register(drop_template)
    MIGRATED["postgres"] = template_name


def run_teamline(
    backend: Backend, args: argparse.Namespace, cleanup: Cleanup
) -> tuple[Server, Target, str]:
    env = dict(backend.teamline_env)
    if args.ws_deflate is not None:
        env["TEAMLINE_WS_DEFLATE"] = "1" if args.ws_deflate == "on" else "0"
    teamline = str(VENV_BIN / "teamline")
    migrate_fresh(backend, env, teamline)
    capacity = math.ceil(args.customers / args.agents) + 2
    log(
        f"teamline: seeding 1 team, 1 web chat inbox, {args.agents} agents (chat capacity "
        f"{capacity})"
    )
    seed_out = run_checked(
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
    seed = json.loads(seed_out.strip().splitlines()[-1])
    port = free_port()
    cmd = [teamline, "serve", "--host", "127.0.0.1", "--port", str(port)]
    worker: subprocess.Popen[bytes] | None = None
    if backend.kind == "postgres":
        # docs/scale.md's layout: web processes without the embedded worker, and one
        # `teamline worker` (routing); its CPU counts as the server's.
        cmd += ["--workers", str(args.web_processes), "--no-worker"]
        with (backend.workdir / "worker.log").open("wb") as log_file:
            worker = subprocess.Popen(
                [teamline, "worker", "--interval", "0.2"],
                env=env,
                cwd=ROOT,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        cleanup.push("stop worker", lambda: stop_process(worker))
    server = start_server("teamline", cmd, env, port, backend.workdir, cleanup)
    if worker is not None:
        EXTRA_PIDS[server.proc.pid] = [worker.pid]
    cookies: list[str | None] = []
    login = "HTTP POST /desk/login/"
    for agent in seed["agents"]:
        cookie = (
            http_login(server.base_url, agent["username"]) if login.startswith("HTTP") else None
        )
        if cookie is None:
            login = "session rows created in the database (the desk login form is not available)"
            cookie = agent["session_key"]
        cookies.append(cookie)
    log(f"teamline: agents logged in via {login}")
    tokens = [agent["api_token"] for agent in seed["agents"]]
    return server, Target("teamline", server, seed["inbox"], cookies, tokens), login


def teamline_consumers_status() -> str | None:
    """None when both consumers look implemented, else what is missing."""
    missing = []
    for app in ("desk", "widget"):
        source = (ROOT / "src" / "teamline" / app / "consumers.py").read_text()
        if "receive_json" not in source and "async def connect" not in source:
            missing.append(f"src/teamline/{app}/consumers.py is a placeholder")
    return "; ".join(missing) or None


# --- Report -------------------------------------------------------------------------------------


def fmt_ms(value: float) -> str:
    return "-" if math.isnan(value) else (f"{value:.1f}" if value < 100 else f"{value:.0f}")


def print_report(
    args: argparse.Namespace,
    machine: dict[str, Any],
    backend: Backend,
    runs: list[dict[str, Any]],
    notes: list[str],
) -> None:
    mode = (
        f"open loop, {args.rate:g} msg/s total"
        if args.rate
        else f"closed loop (next message after the previous one's {args.loop})"
    )
    print()
    print(
        f"machine : {machine['cpu_model']}, {machine['logical_cpus']} logical CPUs "
        f"({machine['usable_cpus']} usable), {machine['ram_gib']} GiB RAM, "
        f"Linux {machine['kernel']}, Python {machine['python']}"
    )
    print(
        f"idle    : other processes used {machine['background_cpu']:.0f} % of one core just "
        "before the run"
        + (" (a busy machine: expect noisy numbers)" if machine["background_cpu"] > 20 else "")
    )
    print(f"code    : {machine['code']}")
    print(f"backend : {backend.kind}: " + ", ".join(f"{k} {v}" for k, v in backend.info.items()))
    print(
        f"load    : K={args.agents} agents, N={args.customers} customers, {mode}, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s measured"
    )
    print()
    header = (
        f"{'target':<10} {'rnd':>3} {'sent':>7} {'acked/s':>8} {'deliv/s':>8} {'p50':>7} "
        f"{'p95':>7} {'p99':>7} {'max':>7} {'ack p50':>8} {'frames':>6} {'errors':>6} "
        f"{'server%':>7} {'client%':>7} {'other%':>6} {'bg%':>4} {'open s':>6} {'cpu ms':>6}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        lat, ack, cpu = run["latency_ms"], run["ack_latency_ms"], run["cpu"]
        print(
            f"{run['target']:<10} {run['round']:>3} {run['sent']:>7} {run['acked_per_s']:>8.0f} "
            f"{run['delivered_per_s']:>8.0f} {fmt_ms(lat[50]):>7} {fmt_ms(lat[95]):>7} "
            f"{fmt_ms(lat[99]):>7} {fmt_ms(lat[100]):>7} {fmt_ms(ack[50]):>8} "
            f"{run['desk_frames_per_message']:>6.1f} {sum(run['errors'].values()):>6} "
            f"{cpu['server']:>7.0f} {cpu['client']:>7.0f} {cpu['other']:>6.0f} "
            f"{run['background_cpu']:>4.0f} {run['opening_s']:>6.1f} "
            f"{run['server_cpu_ms_per_message']:>6.2f}"
        )
    print(
        "latency ms = customer send → first message.created on a desk socket; frames = desk "
        "frames received per message sent; CPU in % of one core over the measured window "
        "(other = the rest of the machine: database, Redis, anything else); bg = other "
        "processes just before the run; open s = time until all N first messages (each opens and "
        "routes a conversation) were acked; cpu ms = server CPU time per delivered message"
    )
    for run in runs:
        accepted = run["accepted_ack_ms"]
        print(
            f"{run['target']} round {run['round']}: busy answers {run['busy']}; ack measured "
            f"from the attempt the server accepted: p50 {fmt_ms(accepted[50])}, p99 "
            f"{fmt_ms(accepted[99])}, max {fmt_ms(accepted[100])} ms"
        )
        if run["errors"]:
            print(f"errors {run['target']} round {run['round']}: {run['errors']}")
        if run["cpu"]["client"] > 80:
            print(
                f"warning: the client used {run['cpu']['client']:.0f} % of a core during the "
                f"{run['target']} run; it may be part of the bottleneck"
            )
    medians = {}
    for name in ("reference", "teamline"):
        mine = [run for run in runs if run["target"] == name]
        if mine:
            medians[name] = {
                "best_per_s": max(r["delivered_per_s"] for r in mine),
                "cpu_ms": statistics.median(r["server_cpu_ms_per_message"] for r in mine),
                "delivered_per_s": statistics.median(r["delivered_per_s"] for r in mine),
                "p50": statistics.median(r["latency_ms"][50] for r in mine),
                "p99": statistics.median(r["latency_ms"][99] for r in mine),
            }
    if len(runs) > len(medians):
        for name, med in medians.items():
            print(
                f"{name}: median {med['delivered_per_s']:.0f} delivered msg/s (best "
                f"{med['best_per_s']:.0f}), p50 {fmt_ms(med['p50'])} ms, p99 "
                f"{fmt_ms(med['p99'])} ms, server CPU {med['cpu_ms']:.2f} ms/message (medians)"
            )
    if len(medians) == 2:
        ref, tl = medians["reference"], medians["teamline"]
        ratio = tl["delivered_per_s"] / ref["delivered_per_s"] if ref["delivered_per_s"] else 0
        best = tl["best_per_s"] / ref["best_per_s"] if ref["best_per_s"] else 0
        print(
            f"\nTeamline / reference: delivered msg/s {ratio:.2f}x (median), {best:.2f}x (best); "
            f"p50 latency {tl['p50'] / ref['p50']:.1f}x; server CPU per message "
            f"{tl['cpu_ms'] / ref['cpu_ms']:.1f}x"
        )
    for note in notes:
        print(f"note: {note}")


# --- Main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", "-k", type=int, default=5)
    parser.add_argument("--customers", "-n", type=int, default=20)
    parser.add_argument("--duration", "-s", type=float, default=20, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured seconds of load first")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="open loop: total messages/s over all customers (default: closed loop)",
    )
    parser.add_argument(
        "--loop",
        choices=["delivery", "ack"],
        default="delivery",
        help="closed loop: send the next message after the previous one is acked and delivered "
        "to a desk socket (delivery, default), or only acked (ack)",
    )
    parser.add_argument(
        "--delivery-timeout",
        type=float,
        default=10.0,
        help="closed loop on delivery: a customer whose message has not reached a desk socket "
        "after this many seconds sends the next one anyway (default 10)",
    )
    parser.add_argument(
        "--inmemory-capacity",
        type=int,
        default=None,
        help="what-if: capacity of every InMemoryChannelLayer channel, on both servers (default: "
        "the library's 100, like the product)",
    )
    parser.add_argument("--only", choices=["reference", "teamline"], default=None)
    parser.add_argument(
        "--view",
        choices=["none", "fetch", "push"],
        default="push",
        help="each Teamline desk also has one of its conversations open and does what desk.js "
        "does there per message: push (add it from the payload, one `read` frame per burst; "
        "the product, default), fetch (read the history again, the code before), none",
    )
    parser.add_argument(
        "--web-processes",
        type=int,
        default=1,
        help="PostgreSQL + Redis: `teamline serve --workers N` (default 1), plus one task worker",
    )
    parser.add_argument(
        "--ws-deflate",
        choices=["on", "off"],
        default=None,
        help="permessage-deflate on both servers' sockets (default: each server's own default)",
    )
    parser.add_argument(
        "--settings",
        default="teamline_bench_settings",
        help="Django settings module of the Teamline server, for what-if experiments (importable "
        "from bench/ or $PYTHONPATH; default: the product's settings + a channel prefix)",
    )
    parser.add_argument(
        "--redis-db",
        type=int,
        default=None,
        help="Redis database number (default: the highest empty one)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds, each on a fresh database (default 1)"
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=60,
        help="before each measurement wait up to this many seconds for other processes to "
        "use < 25 %% of one core (default 60)",
    )
    parser.add_argument(
        "--idle-widgets",
        type=int,
        default=0,
        help="instead of the message load: open N widget sockets (session POST + auth) and "
        "hold them; measure the time to open them, the server's RSS, and agent replies to "
        "--idle-sample of them (reply → widget latency)",
    )
    parser.add_argument("--idle-sample", type=int, default=50, help="customers replied to")
    parser.add_argument("--idle-replies", type=int, default=500, help="agent replies in all")
    parser.add_argument("--reply-rate", type=float, default=20.0, help="agent replies per second")
    parser.add_argument(
        "--idle-clients",
        type=int,
        default=None,
        help="client processes holding the idle sockets (default: one per 2,500)",
    )
    parser.add_argument(
        "--idle-concurrency", type=int, default=25, help="sockets each client opens at a time"
    )
    parser.add_argument(
        "--idle-churn",
        type=int,
        default=0,
        help="--idle-widgets: after the replies, this many rounds of the holders' sockets closed "
        "and as many new ones opened, the server's RSS after each (memory under churn)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="--idle-widgets: record the Teamline server's stacks (GIL holder) while the sockets "
        "open, in py-spy's raw format (needs: pip install py-spy)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also append results here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    args = parser.parse_args(argv)
    if args.agents < 1 or args.customers < 1 or args.duration <= 0:
        parser.error("--agents, --customers and --duration must be positive")
    if args.idle_widgets:
        if args.idle_widgets < 1 or args.idle_sample < 1 or args.idle_replies < 1:
            parser.error("--idle-widgets, --idle-sample and --idle-replies must be positive")
        if args.idle_clients is None:
            args.idle_clients = max(1, math.ceil(args.idle_widgets / 2500))
        # The sampled customers' conversations must all find an agent.
        args.customers = max(args.customers, args.idle_sample)
    return args


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl+C and SIGTERM both end the run through the same cleanup. SIGINT is re-armed because a
    shell starts background jobs with it ignored, and Python then never raises KeyboardInterrupt."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_term = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return None
    return uvloop.new_event_loop


def wait_for_quiet(max_wait: float, threshold: float = 25.0) -> float:
    """Wait (up to max_wait seconds) until other processes use < threshold % of one core."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = background_cpu()
        if busy < threshold or time.monotonic() >= deadline:
            return busy
        log(f"machine busy ({busy:.0f} % of a core used by others), waiting")


def measure(
    runner: asyncio.Runner, target: Target, config: LoadConfig, args: argparse.Namespace, rnd: int
) -> dict[str, Any]:
    background = wait_for_quiet(args.wait_idle)
    try:
        if args.idle_widgets:
            idle = IdleConfig(
                args.idle_widgets,
                sample=args.idle_sample,
                replies=args.idle_replies,
                reply_rate=args.reply_rate,
                clients=args.idle_clients,
                concurrency=args.idle_concurrency,
                profile=args.profile,
                churn=args.idle_churn,
            )
            result = runner.run(drive_idle(target, idle))
        else:
            result = runner.run(drive(target, config))
    except BenchError:
        log(f"{target.name} server log tail:\n" + target.server.log_tail())
        raise
    finally:
        stop_process(target.server.proc)
    result.update(round=rnd, background_cpu=background)
    return result


def run_round(
    runner: asyncio.Runner,
    args: argparse.Namespace,
    workdir: Path,
    cleanup: Cleanup,
    rnd: int,
    runs: list[dict[str, Any]],
    notes: list[str],
) -> Backend:
    """One round: a fresh database (and layer), the reference, then Teamline."""
    workdir.mkdir(parents=True)
    backend = (
        setup_postgres(workdir, cleanup, args.redis_db, args.settings)
        if args.backend == "postgres"
        else setup_sqlite(workdir, args.settings, args.inmemory_capacity)
    )
    config = LoadConfig(
        args.customers,
        args.duration,
        args.warmup,
        args.rate,
        args.loop,
        args.delivery_timeout,
        view=args.view,
    )
    if args.only in (None, "reference"):
        _, target = run_reference(backend, args, cleanup)
        runs.append(measure(runner, target, config, args, rnd))
    if args.only in (None, "teamline"):
        missing = teamline_consumers_status()
        if missing:
            notes.append(f"Teamline not measured: {missing}")
        else:
            try:
                _, target, login = run_teamline(backend, args, cleanup)
                notes.append(f"Teamline agents logged in via {login}")
                runs.append(measure(runner, target, config, args, rnd))
            except BenchError as exc:
                # Keep the reference numbers of this round; say what went wrong.
                log(f"error: {exc}")
                notes.append(f"round {rnd}: Teamline failed: {str(exc).splitlines()[0]}")
    return backend


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [IDLE_HOLDER]:
        base_url, inbox, count, concurrency = argv[1:5]
        with asyncio.Runner(loop_factory=loop_factory()) as holder_runner:
            holder_runner.run(idle_holder(base_url, inbox, int(count), int(concurrency)))
        return 0
    args = parse_args(argv)
    if args.idle_widgets:
        log(f"open files limit raised to {raise_fd_limit()} (server and clients inherit it)")
    machine = machine_info()
    machine["background_cpu"] = background_cpu()
    machine["code"] = code_version()
    cleanup = Cleanup()
    workdir = Path(tempfile.mkdtemp(prefix="teamline-bench-"))
    if not args.keep:
        cleanup.push("remove temp dir", lambda: shutil.rmtree(workdir, ignore_errors=True))
    runs: list[dict[str, Any]] = []
    notes: list[str] = []
    status = 0
    with interruptible(), asyncio.Runner(loop_factory=loop_factory()) as runner:
        try:
            backend = None
            for rnd in range(1, args.repeat + 1):
                round_cleanup = Cleanup()
                cleanup.push(f"round {rnd}", round_cleanup.run)
                backend = run_round(
                    runner, args, workdir / f"round-{rnd}", round_cleanup, rnd, runs, notes
                )
                round_cleanup.run()
            assert backend is not None
            if args.idle_widgets:
                print_idle_report(args, machine, runs)
            else:
                print_report(args, machine, backend, runs, sorted(set(notes)))
            if args.json:
                record = {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "machine": machine,
                    "backend": backend.info,
                    "runs": runs,
                    "notes": notes,
                    "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                }
                with args.json.open("a") as out:
                    out.write(json.dumps(record) + "\n")
        except BenchError as exc:
            log(f"error: {exc}")
            status = 1
        except KeyboardInterrupt:
            log("interrupted, cleaning up")
            status = 130
        finally:
            cleanup.run()
            if args.keep:
                log(f"kept {workdir}")
    return status


def run_and_clean_up(args: argparse.Namespace, prefix: str, run: Any) -> int:
    """The common main of the single-run benches (webhooks, voice): a temp dir, `run(args,
    workdir, cleanup, runner)` returning a record with "ok", the record appended to --json,
    everything started cleaned up on errors and Ctrl+C. Exit 0 ok, 2 failed checks, 1 error."""
    cleanup = Cleanup()
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    if not args.keep:
        cleanup.push("remove temp dir", lambda: shutil.rmtree(workdir, ignore_errors=True))
    status = 0
    with interruptible(), asyncio.Runner(loop_factory=loop_factory()) as runner:
        try:
            record = run(args, workdir, cleanup, runner)
            if args.json:
                with args.json.open("a") as out:
                    out.write(json.dumps(record) + "\n")
            status = 0 if record["ok"] else 2
        except BenchError as exc:
            log(f"error: {exc}")
            status = 1
        except KeyboardInterrupt:
            log("interrupted, cleaning up")
            status = 130
        finally:
            cleanup.run()
            if args.keep:
                log(f"kept {workdir}")
    return status


if __name__ == "__main__":
    sys.exit(main())
