"""Teamline settings.

Every setting an operator may change is read from the environment here, in one place, and
documented in README.md ("Configuration"). Defaults give the embedded mode: SQLite under
./var/, in-memory channel layer, local-memory cache, background worker inside the server.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONCE, NONE, SELF

from teamline.sso.config import providers_from_env, sso_form_origins

BASE_DIR = Path(__file__).resolve().parents[3]
VAR_DIR = Path(os.environ.get("TEAMLINE_VAR_DIR", BASE_DIR / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _secret_key() -> str:
    """TEAMLINE_SECRET_KEY, or a key generated once and kept in ./var/secret_key (local use)."""
    if key := os.environ.get("TEAMLINE_SECRET_KEY"):
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("TEAMLINE_DEBUG", False)
ALLOWED_HOSTS = env_list("TEAMLINE_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("TEAMLINE_CSRF_TRUSTED_ORIGINS", "")
PUBLIC_URL = os.environ.get("TEAMLINE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "teamline.accounts.apps.TeamlineAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # allauth's list of passkeys says "last used 3 minutes ago" with it.
    "django.contrib.humanize",
    # Needed by allauth's social accounts (a SocialApp belongs to sites); SITE_ID below.
    "django.contrib.sites",
    "channels",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "teamline.core",
    "teamline.accounts",
    "teamline.audit",
    "teamline.teams",
    # Staff single sign-on: group mappings, just-in-time provisioning (docs/security.md).
    "teamline.sso",
    "teamline.customers",
    "teamline.connectors",
    "teamline.conversations",
    "teamline.knowledge",
    # Canned replies (personal, team, global) in the six languages (docs/desk.md).
    "teamline.replies",
    "teamline.routing",
    "teamline.calls",
    "teamline.selfservice",
    "teamline.proactive",
    "teamline.community",
    # Search over conversations, messages and customers (docs/desk-search.md).
    "teamline.search",
    "teamline.privacy",
    "teamline.analytics",
    "teamline.surveys",
    "teamline.wellbeing",
    "teamline.desk",
    "teamline.widget",
    # Staff sign-in (docs/security.md, "Staff sign-in and MFA"): django-allauth's accounts,
    # MFA (TOTP, recovery codes, passkeys) and social accounts (SSO providers). After
    # Teamline's apps, so the desk's templates override allauth's (desk/templates/allauth/…).
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    # Single sign-on: any OpenID Connect provider, and SAML 2.0 (sso/config.py).
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy with a per-request nonce (CONTENT_SECURITY_POLICY below), then
    # the headers it does not cover (core/headers.py). docs/security.md, "Browser hardening".
    "csp.middleware.CSPMiddleware",
    "teamline.core.headers.BrowserHardeningMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Ended and idle staff sessions are signed out here (accounts/sessions.py).
    "teamline.accounts.middleware.StaffSessionMiddleware",
    # The desk in each staff member's language (their choice, else their browser's).
    "teamline.accounts.middleware.StaffLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # allauth's sign-in flow state (stages such as the second factor) per request.
    "allauth.account.middleware.AccountMiddleware",
    # Staff whose role requires a second factor and who have none may only set one up.
    "teamline.accounts.middleware.MFARequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "teamline.urls"
ASGI_APPLICATION = "teamline.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "desk:login"
LOGIN_REDIRECT_URL = "desk:inbox"
LOGOUT_REDIRECT_URL = "desk:login"
SITE_ID = 1
# Django's own backend (the admin, tests' force_login, `authenticate`) and allauth's (its
# sign-in by username, passkeys). Both check the same password hashes.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# --- Staff sign-in (django-allauth) -------------------------------------------------------
# Staff sign in with their username; accounts are made by admins (or, later, by SSO), never
# by signing up (accounts/adapters.py closes local sign-up).
ACCOUNT_ADAPTER = "teamline.accounts.adapters.AccountAdapter"
ACCOUNT_FORMS = {"login": "teamline.accounts.forms.SignInForm"}
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
# The password throttle is the contract's (accounts/throttle.py: per account *and* address,
# per address, per account from unknown browsers, known-device cookie), run in the sign-in
# form. allauth's own "login_failed" limit on passwords counts per account only, which would
# let anyone lock an agent out by guessing: the adapter skips it for passwords
# (accounts/adapters.py). The same limit still guards the second factor (5 wrong codes per
# user in 5 minutes, 10 a minute per address), asked only after the right password. allauth's
# "login" limit (30 requests a minute per address) would stop a shared office address at
# shift start: off.
ACCOUNT_RATE_LIMITS = {"login": None}
# Second factors: an authenticator app (TOTP) with recovery codes, and passkeys (WebAuthn), which
# also sign in without a password. Passkeys are bound to the relying-party id: the host of
# TEAMLINE_PUBLIC_URL, or the request's host when that is an IP address (accounts/adapters.py);
# browsers allow them on https, and on http only at localhost (development).
MFA_ADAPTER = "teamline.accounts.adapters.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = os.environ.get("TEAMLINE_MFA_ISSUER", "Teamline")
# A code is good in its own 30-second step and the ones either side (a phone's clock drift);
# each code is accepted once (allauth remembers used codes for that long).
MFA_TOTP_TOLERANCE = 1

# --- Staff single sign-on (docs/security.md, "Single sign-on") ----------------------------
# Providers come from the environment (sso/config.py): TEAMLINE_OIDC_* for any OpenID Connect
# provider, TEAMLINE_SAML_* for a SAML 2.0 IdP. A first sign-in makes the user just in time when
# one of their groups is mapped (sso/adapter.py); nobody else gets in, and local sign-up stays
# closed. An existing account is never taken over by email: an admin links it on purpose.
SOCIALACCOUNT_ADAPTER = "teamline.sso.adapter.SocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS = providers_from_env()
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_STORE_TOKENS = False
# The callback URLs given to providers are https when Teamline is served over https, even
# where the proxy in front does not say so (request.build_absolute_uri follows
# TEAMLINE_BEHIND_PROXY otherwise).
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PUBLIC_URL.startswith("https://") else "http"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Storage -----------------------------------------------------------------------------
DATABASE_URL = (
    os.environ.get("TEAMLINE_DATABASE_URL") or f"sqlite:///{VAR_DIR / 'teamline.sqlite3'}"
)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
POSTGRESQL_ENGINES = ("django.db.backends.postgresql", "teamline.core.postgresql")
if DATABASES["default"]["ENGINE"] in POSTGRESQL_ENGINES:
    # Django's backend, answering at once while the database is unreachable instead of
    # queueing every request for the pool's timeout (core/postgresql, core/availability.py).
    DATABASES["default"]["ENGINE"] = "teamline.core.postgresql"
    # libpq's connect_timeout: a database host that drops packets is noticed in this many
    # seconds instead of the operating system's minutes. A refused connection fails at once.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", int(os.environ.get("TEAMLINE_DB_CONNECT_TIMEOUT", "3"))
    )


def db_pool_options(engine: str) -> dict[str, Any] | None:
    """psycopg's connection pool for PostgreSQL (Django's OPTIONS["pool"]), from the
    environment; None when it is off (TEAMLINE_DB_POOL_MAX_SIZE=0/off) or not PostgreSQL.

    Why a pool and not CONN_MAX_AGE: under ASGI every request runs its sync code in a new
    thread, and Django's persistent connections are per thread, so they are never reused and
    pile up (a CONN_MAX_AGE=60 trial answered some webhooks with HTTP 500). The pool is per
    process and shared by its threads: a request returns its connection at the end instead
    of closing it. The sizes are per process (`teamline serve`, each `teamline worker`).
    """
    if engine not in POSTGRESQL_ENGINES:
        return None
    raw = os.environ.get("TEAMLINE_DB_POOL_MAX_SIZE", "8").strip().lower()
    if raw in {"", "0", "off", "false", "no"}:
        return None
    max_size = int(raw)
    # A worker process uses one connection; min_size is what every process keeps open idle.
    min_size = min(int(os.environ.get("TEAMLINE_DB_POOL_MIN_SIZE", "2")), max_size)
    return {
        "min_size": min_size,
        "max_size": max_size,
        # Seconds a request waits for a free connection before it fails (PoolTimeout → 503).
        "timeout": float(os.environ.get("TEAMLINE_DB_POOL_TIMEOUT", "10")),
        # The pool stops retrying a failed connection after this many seconds (psycopg's
        # default is 5 minutes, with waits doubling up to a minute between tries, so the pool
        # noticed a database that came back up to a minute late). Past it, the next request
        # that needs a connection makes the pool try again at once.
        "reconnect_timeout": 2.0,
    }


def _forget_inherited_db_pools() -> None:
    """In a forked child, drop the pools inherited from the parent (Django keeps them in a
    class attribute). Their connections are the parent's sockets and their threads did not
    survive the fork: using them would interleave two processes on one socket. The child
    opens its own pool on first use. Nothing is closed here, which would end the parent's
    sessions; psycopg does not close a connection garbage-collected after a fork."""
    backend = sys.modules.get("django.db.backends.postgresql.base")
    if backend is not None:
        backend.DatabaseWrapper._connection_pools.clear()


if pool := db_pool_options(DATABASES["default"]["ENGINE"]):
    # Django requires CONN_MAX_AGE=0 with a pool: "closing" a connection returns it to the pool.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # With a pool this makes psycopg check a connection (one round trip) before handing it
    # out: one PostgreSQL dropped (restart, idle timeout) is replaced instead of failing the
    # request, which waits 1 s, 2 s, 4 s… per dropped one it meets. No cost was measurable
    # in the webhook benchmark (docs/benchmarks.md).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool("TEAMLINE_DB_POOL_CHECK", True)
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = pool
    # uvicorn's --workers spawn fresh processes; this covers code that forks (multiprocessing's
    # fork context in tests and benchmarks, a pre-forking server).
    os.register_at_fork(after_in_child=_forget_inherited_db_pools)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Keep connections: opening one per call cost ~16 % of the server's time in the websocket
    # benchmark (docs/benchmarks.md). The sockets' database work runs on Channels' single sync
    # thread and staff requests on a few kept threads (core/asgi_handler.py), so these are a
    # few long-lived connections, health-checked before reuse.
    DATABASES["default"]["CONN_MAX_AGE"] = 60
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # WAL lets readers run beside the single writer; IMMEDIATE transactions take the write lock
    # at BEGIN so two writers queue instead of deadlocking on a lock upgrade. That queueing is
    # what makes claims and capacity checks race-free on SQLite (see routing/actions.py).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        # secure_delete: deleted rows are overwritten with zeros, so an erased customer's text
        # is gone from the file itself, not only unreachable (privacy/actions.py).
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;"
        ),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("TEAMLINE_REDIS_URL", "")
CHANNEL_PREFIX = os.environ.get("TEAMLINE_CHANNEL_PREFIX", "teamline")
if REDIS_URL:
    CHANNEL_LAYERS: dict[str, Any] = {
        "default": {
            # Pub/sub layer: measured 1,200-2,200 msg/s on 2 cores vs 500-800 for the list layer;
            # a committed transaction's groups are published in one pipeline (core/layers.py).
            "BACKEND": "teamline.core.layers.PipelinedRedisPubSubChannelLayer",
            # Pub/sub channels are server-wide (the URL's db number does not separate them):
            # installations sharing a Redis need their own prefix.
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": CHANNEL_PREFIX,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CHANNEL_PREFIX,  # the same separation for cache keys
        }
    }
else:
    # The default capacity (100 queued messages per channel) silently dropped desk events under
    # load in the websocket benchmark; a push is only a notification, but losing it costs
    # freshness for a connected agent.
    CHANNEL_LAYERS = {
        "default": {
            # Channels' in-memory layer, with its expiry scan once a second instead of on every
            # receive and group send (core/layers.py).
            "BACKEND": "teamline.core.layers.PeriodicCleanInMemoryChannelLayer",
            "CONFIG": {"capacity": 10_000},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Durable background tasks in the same database: enqueued inside the transaction of the change
# they follow, so the task table is also the outbox.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# Embedded mode runs the task worker as a thread of `teamline serve`.
EMBEDDED_WORKER = env_bool("TEAMLINE_EMBEDDED_WORKER", not REDIS_URL)
# permessage-deflate on the websockets `teamline serve` accepts (desk and widget). Off: the
# frames are small JSON, and every socket compressing the same pre-encoded text with its own
# zlib context cost more server CPU per message than it saved (docs/benchmarks.md, "Message
# path", measured on loopback). Turn it on for slow links where bytes cost more than CPU.
WS_DEFLATE = env_bool("TEAMLINE_WS_DEFLATE", False)
# The largest websocket message `teamline serve` reads, in bytes: a bigger one closes the socket
# (1009, message too big) before it is held in memory. The default fits the largest frame the
# widget and the desk accept (a checked setting: teamline.E120), with room to spare; without a
# bound of its own the server would buffer 16 MiB per message, on sockets not yet signed in too.
WS_MAX_BYTES = int(os.environ.get("TEAMLINE_WS_MAX_BYTES", str(256 * 1024)))
# How often the server pings each idle socket to find dead peers (and waits as long for the
# pong); 0 = never. 10,000 sockets at 20 s are 500 pings a second (docs/scale.md).
WS_PING_SECONDS = float(os.environ.get("TEAMLINE_WS_PING_SECONDS", "20"))

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
# Browser libraries from npm (package.json), installed by `make setup`, never committed.
STATICFILES_DIRS = [
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
    # The API docs page (/api/v1/docs, teamline/api.py): Swagger UI from this installation.
    ("vendor/swagger-ui", BASE_DIR / "node_modules" / "swagger-ui-dist"),
]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("TEAMLINE_MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Staff email (the weekly reports: docs/analytics.md "Reports") -----------------------
# Customers' email goes through each email inbox's own SMTP settings; this server sends only
# what Teamline mails to its own staff. Without TEAMLINE_SMTP_HOST nothing is mailed: a due
# report waits for a server for up to two days, then that week is given up.
EMAIL_HOST = os.environ.get("TEAMLINE_SMTP_HOST", "")
EMAIL_PORT = int(os.environ.get("TEAMLINE_SMTP_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("TEAMLINE_SMTP_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("TEAMLINE_SMTP_PASSWORD", "")
EMAIL_USE_TLS = env_bool("TEAMLINE_SMTP_STARTTLS", True)
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = os.environ.get("TEAMLINE_EMAIL_FROM", "teamline@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

LANGUAGE_CODE = "en"
# The languages Teamline speaks to customers and staff (the IVR's prompts, the desk): one list
# for both. Regional variants are not listed: the IVR's zh-hk (Cantonese) reads the zh-hant
# prompts, and a pt-br catalog, where there is one, falls back to pt.
LANGUAGES = [
    ("en", "English"),
    ("nb", "Norsk bokmål"),
    ("zh-hans", "简体中文"),
    ("zh-hant", "繁體中文"),
    ("et", "Eesti"),
    ("pt", "Português"),
]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security ----------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
_https = PUBLIC_URL.startswith("https://")
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SECURE_SSL_REDIRECT = env_bool("TEAMLINE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("TEAMLINE_HSTS_SECONDS", "0"))
# Opt-in: they bind every subdomain of the operator's domain to HTTPS (and, for preload, for
# years); `check --deploy` warns until the operator has decided.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("TEAMLINE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("TEAMLINE_HSTS_PRELOAD", False)
if env_bool("TEAMLINE_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Browser hardening (docs/security.md). Every page gets this policy; scripts and styles come
# from Teamline's own origin or carry the request's nonce (`{{ request.csp_nonce }}`), never
# inline attributes, eval or a CDN. The websocket origin is named for browsers whose 'self'
# does not cover ws(s):. Violations are reported to /csp-report/ (core/csp_report.py).
_ws_origin = PUBLIC_URL.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
CSP_REPORT_URL = "/csp-report/"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:", "blob:"],
        "media-src": [SELF, "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF, _ws_origin],
        "object-src": [NONE],
        "base-uri": [NONE],
        # Single sign-on's buttons post to Teamline, which redirects to the provider.
        "form-action": [SELF, *sso_form_origins()],
        "frame-ancestors": [NONE],
        "report-uri": [CSP_REPORT_URL],
        "report-to": "csp",
    },
}
# Brand sites that may frame the public pages (the help center, the widget's demo page), e.g.
# "https://www.brand.example"; the desk, the admin and the API are never framed.
FRAME_ANCESTORS = env_list("TEAMLINE_FRAME_ANCESTORS", "")

# --- Product -----------------------------------------------------------------------------
TEAMLINE: dict[str, Any] = {
    # A resolved conversation reopens when the customer writes again within this window;
    # after it, a new conversation starts (the agent still sees the whole history).
    "REOPEN_WINDOW_DAYS": int(os.environ.get("TEAMLINE_REOPEN_WINDOW_DAYS", "7")),
    "RATE_NEW_SESSIONS_PER_IP_PER_HOUR": int(os.environ.get("TEAMLINE_RATE_SESSIONS", "30")),
    "RATE_NEW_CONVERSATIONS_PER_IP_PER_HOUR": int(
        os.environ.get("TEAMLINE_RATE_CONVERSATIONS", "20")
    ),
    "RATE_MESSAGES_PER_SESSION_PER_MINUTE": int(os.environ.get("TEAMLINE_RATE_MESSAGES", "30")),
    # Sign-in throttling (accounts/throttle.py): failures allowed per window, per account and
    # address, per address, and per account from browsers that never signed in to it.
    "LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS": int(
        os.environ.get("TEAMLINE_LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS", "5")
    ),
    "LOGIN_FAILURES_PER_ADDRESS": int(os.environ.get("TEAMLINE_LOGIN_FAILURES_PER_ADDRESS", "30")),
    "LOGIN_FAILURES_PER_ACCOUNT": int(os.environ.get("TEAMLINE_LOGIN_FAILURES_PER_ACCOUNT", "20")),
    # Roles that must have a second factor on a new installation (admins change it in the
    # admin: accounts.MFARequirement); docs/security.md "Staff sign-in and MFA".
    "MFA_REQUIRED_ROLES": env_list("TEAMLINE_MFA_REQUIRED_ROLES", "admin,supervisor"),
    # Staff sessions idle this long end (0: never); docs/security.md "Sessions".
    "IDLE_TIMEOUT_MINUTES": int(os.environ.get("TEAMLINE_IDLE_TIMEOUT_MINUTES", "120")),
    "LOGIN_THROTTLE_WINDOW_SECONDS": int(
        os.environ.get("TEAMLINE_LOGIN_THROTTLE_WINDOW_SECONDS", "900")
    ),
    "ROUTING_SWEEP_SECONDS": int(os.environ.get("TEAMLINE_ROUTING_SWEEP_SECONDS", "15")),
    # Desk search (docs/desk-search.md): the indexer looks for new and changed messages and
    # customers this often, so a message is found at most about this long after it is stored;
    # each run indexes up to SEARCH_INDEX_BATCH of them per transaction.
    "SEARCH_INDEX_SECONDS": float(os.environ.get("TEAMLINE_SEARCH_INDEX_SECONDS", "2")),
    "SEARCH_INDEX_BATCH": int(os.environ.get("TEAMLINE_SEARCH_INDEX_BATCH", "1000")),
    # --- Proactive care's event queue (docs/adr/0007-proactive-event-stream.md) ------------
    # "database": the Event table is the queue (embedded default); "redis": a Redis stream with
    # a consumer group (the default with PostgreSQL + Redis).
    "EVENT_STREAM": os.environ.get(
        "TEAMLINE_EVENT_STREAM",
        "redis"
        if REDIS_URL and DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3"
        else "database",
    ),
    "EVENT_STREAM_KEY": os.environ.get(
        "TEAMLINE_EVENT_STREAM_KEY", f"{CHANNEL_PREFIX}:proactive:events"
    ),
    # Events evaluated per batch (one stream entry, one transaction).
    "STREAM_BATCH": int(os.environ.get("TEAMLINE_STREAM_BATCH", "500")),
    # A batch a worker read and did not finish for this long is given to another worker.
    "STREAM_CLAIM_SECONDS": float(os.environ.get("TEAMLINE_STREAM_CLAIM_SECONDS", "60")),
    # Unevaluated events older than this, with nothing in flight, are published again.
    "STREAM_REPUBLISH_SECONDS": int(os.environ.get("TEAMLINE_STREAM_REPUBLISH_SECONDS", "120")),
    "STREAM_MAX_LENGTH": int(os.environ.get("TEAMLINE_STREAM_MAX_LENGTH", "100000")),
    "STREAM_POLL_SECONDS": float(os.environ.get("TEAMLINE_STREAM_POLL_SECONDS", "1")),
    # A batch whose evaluation fails is held out of the queue and tried again after
    # EVENT_RETRY_SECONDS, then twice as long each time; after EVENT_RETRY_ATTEMPTS failures
    # its events are tried one by one and those that still fail are parked for an admin
    # (proactive/deadletter.py).
    "EVENT_RETRY_ATTEMPTS": int(os.environ.get("TEAMLINE_EVENT_RETRY_ATTEMPTS", "5")),
    "EVENT_RETRY_SECONDS": int(os.environ.get("TEAMLINE_EVENT_RETRY_SECONDS", "30")),
    # Events naming a phone number without its country code are read in the country of the
    # team serving the event's region, else in this one (ISO code, e.g. NO; empty: none).
    "DEFAULT_PHONE_REGION": os.environ.get("TEAMLINE_DEFAULT_PHONE_REGION", "").upper(),
    # Signed integration-key requests: their timestamp may be this far from the server's clock.
    "EVENT_SIGNATURE_WINDOW_SECONDS": int(
        os.environ.get("TEAMLINE_EVENT_SIGNATURE_WINDOW_SECONDS", "300")
    ),
    # A call rings this long for the agent routing gave it to; unanswered, it goes back to the
    # queue (same place) for someone else and the agent is set away (checked every tick).
    "CALL_RING_SECONDS": int(os.environ.get("TEAMLINE_CALL_RING_SECONDS", "20")),
    # Calendars and routing policies are cached per process for this long (changes made in the
    # same process are seen at once; other processes see them after at most this).
    "ROUTING_CONFIG_CACHE_SECONDS": int(
        os.environ.get("TEAMLINE_ROUTING_CONFIG_CACHE_SECONDS", "5")
    ),
    # Scheduled contacts (docs/routing.md): slot length in minutes (15 or 30; anything else
    # means 30) and the share of a team's active members reserved for appointments (seats per
    # slot = floor(members × share)).
    "APPOINTMENT_SLOT_MINUTES": int(os.environ.get("TEAMLINE_APPOINTMENT_SLOT_MINUTES", "30")),
    "APPOINTMENT_SHARE": float(os.environ.get("TEAMLINE_APPOINTMENT_SHARE", "0.25")),
    # A task worker renews its lease every fifth of this; a worker silent for this long is dead
    # (crash, kill -9) and its running task is run again by another (core/task_leases.py).
    "TASK_LEASE_SECONDS": float(os.environ.get("TEAMLINE_TASK_LEASE_SECONDS", "10")),
    # Only for tasks claimed by a worker without a lease (django_tasks_db's own db_worker):
    # RUNNING for longer than this means its worker died, and the task is run again.
    "TASK_STALL_SECONDS": int(os.environ.get("TEAMLINE_TASK_STALL_SECONDS", "600")),
    # A task worker claims up to this many ready tasks in one transaction and runs them in
    # order (core/task_leases.py): fewer round trips and commits per task; 1 = one at a time.
    "TASK_CLAIM_BATCH": int(os.environ.get("TEAMLINE_TASK_CLAIM_BATCH", "8")),
    # With Redis, web processes mark in it while they acknowledge webhooks, and `teamline
    # worker` processes then take at most a quarter of their process (core/pressure.py,
    # docs/scale.md "Acknowledgements first"). Off: the workers never step back for them.
    "WORKERS_YIELD_TO_ACKS": env_bool("TEAMLINE_WORKERS_YIELD_TO_ACKS", True),
    # --- The telco backend (docs/telco-backend.md): "demo" (seeded) or "http" ---
    "TELCO_BACKEND": os.environ.get("TEAMLINE_TELCO_BACKEND", "demo"),
    "TELCO_URL": os.environ.get("TEAMLINE_TELCO_URL", ""),
    "TELCO_SECRET": os.environ.get("TEAMLINE_TELCO_SECRET", ""),
    # --- Browser calls (docs/channels/voice.md, "Browser calls and the video counter") ---
    # TEAMLINE_ICE_SERVERS: a JSON list of RTCIceServer objects ({"urls": "stun:…"}); default
    # none, as browsers on one machine or network need none (checked at start: calls/ice.py).
    "ICE_SERVERS": os.environ.get("TEAMLINE_ICE_SERVERS", "[]"),
    # coturn's use-auth-secret (the TURN REST API): with a secret, every turn:/turns: server
    # above without its own username gets time-limited credentials per call participant.
    "TURN_SECRET": os.environ.get("TEAMLINE_TURN_SECRET", ""),
    "TURN_CREDENTIAL_SECONDS": int(os.environ.get("TEAMLINE_TURN_CREDENTIAL_SECONDS", "3600")),
    # --- Channels (docs/channels/README.md) ---
    # Trust X-Forwarded-Proto/-Host when rebuilding the URL a provider signed (webhooks); only
    # set it when a reverse proxy you control always sets (overwrites) those headers.
    "BEHIND_PROXY": env_bool("TEAMLINE_BEHIND_PROXY", False),
    # Provider webhooks one process stores at a time; more are answered 503 + Retry-After at
    # once, or wait a little for providers that do not retry (connectors/admission.py). 0 = no
    # limit. The threads that store them are bounded apart (connectors/ingest.py: 6 with the
    # default PostgreSQL pool, 2 on SQLite): the ones admitted beyond those wait on the event
    # loop, costing no thread. At 4, 20 concurrent deliveries had two thirds answered 503
    # (docs/benchmarks.md, "Issue 13: webhook acknowledgements").
    "WEBHOOK_MAX_INFLIGHT": int(os.environ.get("TEAMLINE_WEBHOOK_MAX_INFLIGHT", "32")),
    # Customer messages from widget sockets one process has waiting for or in its database
    # thread; more are answered with a `busy` frame and a retry hint, not stored (core/pressure.py,
    # docs/websockets.md). 0 = no limit.
    "WIDGET_MAX_INFLIGHT": int(os.environ.get("TEAMLINE_WIDGET_MAX_INFLIGHT", "32")),
    # A web process freezes what survives Python's full garbage collections, so the next one
    # walks only what came since, not every object of every open socket (core/gcpolicy.py,
    # docs/scale.md "Many idle sockets"); everything is walked again at most once per
    # GC_FULL_WALK_SECONDS, when the frozen objects grew by a quarter. 0 = Python's own.
    "GC_FREEZE": env_bool("TEAMLINE_GC_FREEZE", True),
    "GC_FULL_WALK_SECONDS": float(os.environ.get("TEAMLINE_GC_FULL_WALK_SECONDS", "600")),
    # Phone call steps (TwiML decided in the request while the caller listens) one process
    # answers at a time, a budget of their own beside the webhooks above; more wait for a slot
    # up to the connector's overload wait, then 503. 0 = no limit.
    "CALL_MAX_INFLIGHT": int(os.environ.get("TEAMLINE_CALL_MAX_INFLIGHT", "4")),
    # A webhook body larger than this is refused with 413 before anything is verified or stored.
    "WEBHOOK_MAX_BYTES": int(os.environ.get("TEAMLINE_WEBHOOK_MAX_BYTES", str(5 * 1024 * 1024))),
    # Largest attachment kept (inbound media, email parts); larger ones are noted, not stored.
    "ATTACHMENT_MAX_BYTES": int(
        os.environ.get("TEAMLINE_ATTACHMENT_MAX_BYTES", str(25 * 1024 * 1024))
    ),
    # Agents' attachments (desk and API): at most this many files per reply, each within
    # ATTACHMENT_MAX_BYTES (conversations/attachments.py says which types may be sent).
    "AGENT_ATTACHMENTS_MAX": int(os.environ.get("TEAMLINE_AGENT_ATTACHMENTS_MAX", "5")),
    # A customer's file or a call's recording downloaded from the provider (connectors/media.py)
    # is given up, as a timeout, once it takes longer than this in all: each read has the
    # client's own timeout, but a provider that sends a few bytes at a time would otherwise
    # hold a task worker for as long as it likes. 300 s is 0.7 MB/s for the largest recording.
    "MEDIA_DOWNLOAD_SECONDS": float(os.environ.get("TEAMLINE_MEDIA_DOWNLOAD_SECONDS", "300")),
    # Signed public links to agents' attachments (connectors/media.py): what providers fetch
    # media from (WhatsApp, Telegram, MMS), valid this long after the delivery attempt…
    "MEDIA_URL_SECONDS": int(os.environ.get("TEAMLINE_MEDIA_URL_SECONDS", "3600")),
    # … and the links sent as text on channels that cannot carry files (a customer opens them
    # later: longer).
    "MEDIA_LINK_SECONDS": int(os.environ.get("TEAMLINE_MEDIA_LINK_SECONDS", str(7 * 86400))),
    # Outbox: attempts on transient provider errors, with exponential backoff from the base.
    "OUTBOX_MAX_ATTEMPTS": int(os.environ.get("TEAMLINE_OUTBOX_MAX_ATTEMPTS", "6")),
    "OUTBOX_BACKOFF_SECONDS": int(os.environ.get("TEAMLINE_OUTBOX_BACKOFF_SECONDS", "10")),
    # Call recordings (docs/channels/voice.md): the largest file kept (a one-hour dual-channel
    # 8 kHz WAV is ~115 MB) and the fetch attempts while the provider is unavailable (backoff
    # from TEAMLINE_OUTBOX_BACKOFF_SECONDS, at most an hour apart).
    "RECORDING_MAX_BYTES": int(
        os.environ.get("TEAMLINE_RECORDING_MAX_BYTES", str(200 * 1024 * 1024))
    ),
    "RECORDING_FETCH_MAX_ATTEMPTS": int(
        os.environ.get("TEAMLINE_RECORDING_FETCH_MAX_ATTEMPTS", "12")
    ),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # No line prints a card number, IBAN, national id or one-time code (docs/security.md).
    "filters": {"redact": {"()": "teamline.core.redaction.RedactingFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": os.environ.get("TEAMLINE_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The embedded worker polls every 0.2 s; its per-poll and per-task lines are noise.
        "django_tasks": {"level": os.environ.get("TEAMLINE_TASKS_LOG_LEVEL", "WARNING")},
        "django_tasks_db": {"level": os.environ.get("TEAMLINE_TASKS_LOG_LEVEL", "WARNING")},
    },
}
