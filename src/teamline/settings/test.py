"""Settings for the test suite: hermetic by default (SQLite, in-memory layer, no network).

The integration run sets TEAMLINE_DATABASE_URL / TEAMLINE_REDIS_URL before importing this.
"""

import os
import tempfile
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("TEAMLINE_VAR_DIR", tempfile.mkdtemp(prefix="teamline-test-"))
os.environ.setdefault("TEAMLINE_SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")

from .defaults import *  # noqa: F403
from .defaults import TEAMLINE

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TEAMLINE = {
    **TEAMLINE,
    "RATE_NEW_SESSIONS_PER_IP_PER_HOUR": 10_000,
    "RATE_NEW_CONVERSATIONS_PER_IP_PER_HOUR": 10_000,
    "RATE_MESSAGES_PER_SESSION_PER_MINUTE": 10_000,
    # Tests sign admins and supervisors in with a password alone; the MFA tests require it
    # per role themselves (tests/accounts/test_mfa_policy.py).
    "MFA_REQUIRED_ROLES": [],
}

from .defaults import (  # noqa: E402
    CACHES,
    CHANNEL_LAYERS,
    CHANNEL_PREFIX,
    DATABASES,
    REDIS_URL,
    VAR_DIR,
)

# Under `pytest -n` (xdist) each worker process gets its own test database (pytest-django adds
# the worker to the name) and, on Redis, its own pub/sub prefix and cache database: tests clear
# the cache (FLUSHDB) and reuse ids like conversation 1, which must not reach another worker.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker and REDIS_URL:
    _index = int(_worker.removeprefix("gw") or 0)
    _url = urlsplit(REDIS_URL)
    _db = int(_url.path.strip("/") or 0) + 1 + _index
    CACHES["default"]["LOCATION"] = urlunsplit(_url._replace(path=f"/{_db}"))
    CHANNEL_LAYERS["default"]["CONFIG"] = {
        **CHANNEL_LAYERS["default"]["CONFIG"],
        "prefix": f"{CHANNEL_PREFIX}-{_worker}",
    }

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so concurrency tests exercise real SQLite locking across connections.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    # One test database per run, so parallel runs on a shared server do not clobber each other.
    DATABASES["default"]["TEST"] = {"NAME": f"test_teamline_{os.getpid()}"}

# Tests serve static files straight from the finders (no collectstatic).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
(VAR_DIR / "static").mkdir(exist_ok=True)
