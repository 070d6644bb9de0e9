"""What PostgreSQL did for a benchmark phase, measured from outside (no extension needed).

`PgActivity(dsn, database)` samples `pg_stat_activity` every `interval` seconds in a thread
while a phase runs, and reads the CPU time (utime + stime, /proc/<pid>/stat) of every backend
it sees. The benchmark's processes name themselves with libpq's `PGAPPNAME` (a server, each
worker, the benchmark itself), so a backend's CPU and waits are charged to the process it
serves. `stop()` returns:

- `cpu_seconds`: per application name (and per background process type — walwriter,
  checkpointer, …, whose work is the whole cluster's), the CPU the backends used during the
  phase. A backend that appeared during the phase counts from zero; one that ended between
  two samples loses what it used after the last sample it was seen in (the pools keep the
  benchmark's connections open, so this is rare).
- `waits`: per application name, how many samples found a backend in each state:
  `active` (on a CPU or ready to run), `active:Lock:transactionid` (waiting for another
  transaction), `active:LWLock:…`, `active:IO:…`, `idle in transaction:Client:ClientRead`
  (the process holds a transaction open and works in Python), `idle:Client:ClientRead`
  (waiting for work).
- `database`: the phase's differences of pg_stat_database (commits, rows, blocks) and of
  pg_stat_wal (WAL records, full-page images, bytes), and `tables`: of pg_stat_user_tables
  for the tables named (updates, HOT updates, dead rows).
- `machine`: the share of both cores that was busy (/proc/stat), which says whether the
  phase was short of CPU altogether.

PostgreSQL runs on this machine for the benchmarks here; for a remote database the /proc
figures are absent (zero) and the samples still say what the backends waited for.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return sum(parts) - idle, sum(parts)


DB_STATS = (
    "xact_commit",
    "xact_rollback",
    "blks_read",
    "blks_hit",
    "tup_returned",
    "tup_fetched",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
)
WAL_STATS = ("wal_records", "wal_fpi", "wal_bytes")
TABLE_STATS = ("n_tup_ins", "n_tup_upd", "n_tup_hot_upd", "n_tup_del", "n_dead_tup", "seq_scan")


class PgActivity:
    def __init__(
        self,
        dsn: str,
        database: str,
        *,
        interval: float = 0.1,
        tables: tuple[str, ...] = (),
    ) -> None:
        self.dsn = dsn
        self.database = database
        self.interval = interval
        self.tables = tables
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cpu_start: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self._role: dict[int, str] = {}
        self._waits: dict[str, Counter[str]] = defaultdict(Counter)
        self.samples = 0

    # --- snapshots of cumulative counters -------------------------------------------------

    def _counters(self, conn: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        row = conn.execute(
            f"SELECT {', '.join(DB_STATS)} FROM pg_stat_database WHERE datname = %s",  # noqa: S608
            [self.database],
        ).fetchone()
        out["database"] = dict(zip(DB_STATS, [int(x or 0) for x in row or ()], strict=False))
        with contextlib.suppress(Exception):
            wal = conn.execute(f"SELECT {', '.join(WAL_STATS)} FROM pg_stat_wal").fetchone()  # noqa: S608
            out["wal"] = dict(zip(WAL_STATS, [int(x or 0) for x in wal or ()], strict=False))
        tables: dict[str, dict[str, int]] = {}
        for name in self.tables:
            row = conn.execute(
                f"SELECT {', '.join(TABLE_STATS)} FROM pg_stat_user_tables "  # noqa: S608
                "WHERE relname = %s",
                [name],
            ).fetchone()
            if row:
                tables[name] = dict(zip(TABLE_STATS, [int(x or 0) for x in row], strict=True))
        out["tables"] = tables
        return out

    # --- sampling ---------------------------------------------------------------------------

    def _sample(self, conn: Any, *, first: bool = False) -> None:
        rows = conn.execute(
            "SELECT pid, coalesce(nullif(application_name, ''), backend_type), backend_type, "
            "state, wait_event_type, wait_event, datname FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND (datname = %s OR datname IS NULL)",
            [self.database],
        ).fetchall()
        self.samples += 1
        for pid, app, backend_type, state, wait_type, wait, datname in rows:
            role = app if datname is not None else f"pg:{backend_type}"
            cpu = _proc_cpu(pid)
            if cpu is not None:
                if pid not in self._cpu_start:
                    self._cpu_start[pid] = cpu if first else 0.0
                self._cpu_last[pid] = cpu
                self._role[pid] = role
            if datname is None:
                continue
            label = state or "?"
            if wait_type and not (state == "idle" and wait_type == "Client"):
                label = f"{label}:{wait_type}:{wait}"
            self._waits[role][label] += 1

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True, application_name="bench-monitor") as conn:
            self._sample(conn, first=True)
            while not self._stop.wait(self.interval):
                self._sample(conn)
            self._sample(conn)

    def start(self) -> PgActivity:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            self._before = self._counters(conn)
        self._machine_before = machine_ticks()
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True, name="pg-activity")
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        import psycopg

        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        wall = time.perf_counter() - self._started
        busy0, total0 = self._machine_before
        busy1, total1 = machine_ticks()
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            after = self._counters(conn)
        cpu: dict[str, float] = defaultdict(float)
        for pid, last in self._cpu_last.items():
            cpu[self._role[pid]] += last - self._cpu_start[pid]
        backends = sum(v for k, v in cpu.items() if not k.startswith("pg:"))
        return {
            "seconds": round(wall, 2),
            "samples": self.samples,
            "cpu_seconds": {k: round(v, 2) for k, v in sorted(cpu.items()) if v > 0},
            "backend_cpu_seconds": round(backends, 2),
            "waits": {
                role: dict(counts.most_common()) for role, counts in sorted(self._waits.items())
            },
            "database": _diff(self._before.get("database", {}), after.get("database", {})),
            "wal": _diff(self._before.get("wal", {}), after.get("wal", {})),
            "tables": {
                name: _diff(self._before["tables"].get(name, {}), values)
                for name, values in after["tables"].items()
            },
            "machine_busy_share": round((busy1 - busy0) / max(1, total1 - total0), 3),
        }


def _diff(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items()}
