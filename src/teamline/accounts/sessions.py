"""Staff sessions: each signed-in browser is a StaffSession row (accounts/models.py).

- Sign-in (any path that calls Django's `login`: the desk, the admin, tests' force_login)
  records the session through `user_logged_in` (connected in AccountsConfig.ready) and keeps the
  row's id in the browser's session under SESSION_ID_KEY. Django itself cycles the session key
  at sign-in (`login` calls `cycle_key`), so a key planted before sign-in is worthless after.
- `StaffSessionMiddleware` (accounts/middleware.py, after AuthenticationMiddleware) checks
  that row on every request of a signed-in browser: ended → the browser is signed out there
  and then; idle longer than TEAMLINE_IDLE_TIMEOUT_MINUTES → the session ends; otherwise
  `last_seen_at` moves, at most once a minute. One indexed read per signed-in request that
  asks who its user is (lazily, like `request.user`); a write at most once a minute.
- Ending a session closes the desk sockets of that browser: they joined `session_group(id)`,
  which receives `{"type": "session.ended"}` after commit (desk/consumers.py closes with 4408).
"""

from __future__ import annotations

import hashlib
import logging
import re
from contextvars import ContextVar

from django.conf import settings
from django.http import HttpRequest

from teamline.core.events import send_to_groups, user_group

logger = logging.getLogger(__name__)

SESSION_ID_KEY = "_teamline_session"
# True when this session was signed in through single sign-on and the identity provider said
# it checked a second factor (an OIDC `amr`, or a SAML IdP configured as enforcing MFA): the
# per-role MFA requirement counts that as the second factor (docs/security.md, "Single
# sign-on"). Set by sso/adapter.py on every SSO sign-in, True or False.
IDP_MFA_KEY = "_teamline_idp_mfa"


class CurrentSession:
    """The StaffSession of the request being handled, once its user has been checked."""

    id: int | None = None


# Set while a request runs (accounts/middleware.py): a password change made in a signed-in
# request ends every session of the user but this one (accounts/receivers.py).
current_session: ContextVar[CurrentSession | None] = ContextVar(
    "teamline_current_session", default=None
)


def current_session_id() -> int | None:
    here = current_session.get()
    return here.id if here is not None else None


TOUCH_EVERY_SECONDS = 60


def session_group(session_id: int) -> str:
    """The desk sockets of one signed-in browser."""
    return f"session.{session_id}"


def hash_key(key: str | None) -> str:
    return hashlib.sha256(key.encode()).hexdigest() if key else ""


def idle_timeout_seconds() -> int:
    """0 turns the idle timeout off."""
    return max(0, int(settings.TEAMLINE.get("IDLE_TIMEOUT_MINUTES", 0))) * 60


def client_address(request: HttpRequest) -> str | None:
    address = str(request.META.get("REMOTE_ADDR") or "")
    return address or None


_BROWSERS = [
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"OPR/(\d+)")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/(\d+)")),
    ("Firefox", re.compile(r"(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"(?:Chrome|CriOS|Chromium)/(\d+)")),
    ("Safari", re.compile(r"Version/(\d+).*Safari/")),
]
_SYSTEMS = [
    ("Android", re.compile(r"Android")),
    ("iPhone", re.compile(r"iPhone")),
    ("iPad", re.compile(r"iPad")),
    ("Windows", re.compile(r"Windows")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("macOS", re.compile(r"Mac OS X|Macintosh")),
    ("Linux", re.compile(r"Linux|X11")),
]


def describe_device(user_agent: str) -> str:
    """A person's name for a browser from its User-Agent: "Firefox 128 on Windows". Unknown
    agents (scripts, new browsers) fall back to "Unknown browser"."""
    browser = next(
        (f"{name} {m.group(1)}" for name, rx in _BROWSERS if (m := rx.search(user_agent))),
        None,
    )
    system = next((name for name, rx in _SYSTEMS if rx.search(user_agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"


def tell_masking(user_id: int, remote: bool) -> None:
    """Tell the user's open desk sockets that they are (or no longer are) a remote agent, so
    their live pushes are masked from now on (call after commit). At most once, like every
    push; a socket reads the flag again when it connects."""
    message = {"type": "staff.masking", "remote": remote}
    send_to_groups([(user_group(user_id), message)], "tell the desk sockets of a masking change")


def close_sockets(session_ids: list[int]) -> None:
    """Tell the desk sockets of these sessions to close (call after commit). At most once, like
    every push: a socket that misses it still cannot act, because every desk request checks the
    session, and the socket's next connect is refused."""
    send_to_groups(
        [(session_group(pk), {"type": "session.ended"}) for pk in session_ids],
        "close the sockets of ended sessions",
    )
