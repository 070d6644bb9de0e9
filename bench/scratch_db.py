"""A scratch database for an in-process benchmark: environment and Django set up for a fresh
SQLite file in a temp directory or a fresh PostgreSQL database (created here, dropped by
`drop`), or for a database an earlier run kept (`reuse`)."""

from __future__ import annotations

import os
import platform
import subprocess
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def configure(
    db: str, db_url: str, workdir: Path, *, label: str, reuse: str = "", redis_url: str = ""
) -> str:
    """Environment for a fresh database (this process and a server it starts share it), or for
    the one a run kept (`reuse`: a PostgreSQL database name or a SQLite file), with Redis as the
    cache and channel layer when `redis_url` is given. Returns the name of the PostgreSQL
    database it created ("" when none): pass it to `drop`."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "teamline.settings.defaults"
    os.environ["TEAMLINE_VAR_DIR"] = str(workdir)
    os.environ["TEAMLINE_SECRET_KEY"] = "bench-" + uuid.uuid4().hex * 2
    os.environ["TEAMLINE_LOG_LEVEL"] = "WARNING"
    os.environ["TEAMLINE_ALLOWED_HOSTS"] = "testserver,127.0.0.1"
    os.environ.pop("TEAMLINE_REDIS_URL", None)
    if redis_url:
        os.environ["TEAMLINE_REDIS_URL"] = redis_url
    name = ""
    if reuse and db == "sqlite":
        os.environ["TEAMLINE_DATABASE_URL"] = f"sqlite:///{Path(reuse).resolve()}"
    elif reuse:
        os.environ["TEAMLINE_DATABASE_URL"] = f"{db_url.rsplit('/', 1)[0]}/{reuse}"
    elif db == "postgresql":
        import psycopg

        name = f"teamline_bench_{label}_{os.getpid()}"
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        os.environ["TEAMLINE_DATABASE_URL"] = f"{db_url.rsplit('/', 1)[0]}/{name}"
    else:
        os.environ.pop("TEAMLINE_DATABASE_URL", None)
    import django

    django.setup()
    return name


def drop(db_url: str, name: str) -> None:
    if not name:
        return
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def machine() -> dict[str, Any]:
    """The CPU model, the CPU count and the checkout's commit, for a benchmark's report."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {"cpu": cpu, "cpus": os.cpu_count(), "commit": commit}
