"""The STUN/TURN servers a browser call's two browsers use to find each other.

The admin lists them in TEAMLINE_ICE_SERVERS (a JSON list of RTCIceServer objects). With
TEAMLINE_TURN_SECRET set, every turn:/turns: server listed without its own username gets
time-limited credentials per participant, the scheme of coturn's `use-auth-secret` (the "TURN
REST API"): username "<expiry unix time>:<participant>", password
base64(HMAC-SHA1(secret, username)). The TURN server checks them with the same secret, so no
user list is kept on it and a leaked password stops working at its expiry.

Both sides receive the list with the call (the widget in `call.started`, the desk from
/desk/calls/<id>/ice); loopback and one-network set-ups need no server at all."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error

ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")
TURN_SCHEMES = ("turn:", "turns:")
ALLOWED_KEYS = {"urls", "username", "credential"}


class IceConfigError(ValueError):
    """TEAMLINE_ICE_SERVERS is not a list of servers browsers can use."""


def parse_ice_servers(raw: str) -> list[dict[str, Any]]:
    """The configured servers, each with `urls` as a list; IceConfigError saying what is
    wrong otherwise."""
    try:
        servers = json.loads(raw or "[]")
    except ValueError as exc:
        raise IceConfigError(f"TEAMLINE_ICE_SERVERS is not JSON: {exc}") from None
    if not isinstance(servers, list):
        raise IceConfigError('TEAMLINE_ICE_SERVERS must be a JSON list of {"urls": …} objects.')
    parsed: list[dict[str, Any]] = []
    for index, server in enumerate(servers):
        where = f"TEAMLINE_ICE_SERVERS[{index}]"
        if not isinstance(server, dict):
            raise IceConfigError(f'{where} must be an object with "urls".')
        unknown = set(server) - ALLOWED_KEYS
        if unknown:
            raise IceConfigError(f"{where} has unknown keys: {', '.join(sorted(unknown))}.")
        urls = server.get("urls")
        if isinstance(urls, str):
            urls = [urls]
        if (
            not isinstance(urls, list)
            or not urls
            or not all(isinstance(url, str) and url.startswith(ICE_SCHEMES) for url in urls)
        ):
            raise IceConfigError(
                f'{where}: "urls" must be stun:, stuns:, turn: or turns: addresses.'
            )
        entry: dict[str, Any] = {"urls": list(urls)}
        for key in ("username", "credential"):
            if key in server:
                if not isinstance(server[key], str):
                    raise IceConfigError(f'{where}: "{key}" must be a string.')
                entry[key] = server[key]
        parsed.append(entry)
    return parsed


def turn_credentials(secret: str, participant: str, *, expires_at: int) -> tuple[str, str]:
    """(username, password) valid until `expires_at` for a TURN server sharing `secret`."""
    username = f"{expires_at}:{participant}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers_for(participant: str, *, now: float | None = None) -> list[dict[str, Any]]:
    """The RTCIceServer list one call participant ("customer-12", "agent-3") gets."""
    config = settings.TEAMLINE
    servers = parse_ice_servers(str(config.get("ICE_SERVERS", "[]")))
    secret = str(config.get("TURN_SECRET", ""))
    expires_at = int(now if now is not None else time.time()) + int(
        config.get("TURN_CREDENTIAL_SECONDS", 3600)
    )
    for server in servers:
        is_turn = any(url.startswith(TURN_SCHEMES) for url in server["urls"])
        if secret and is_turn and "username" not in server:
            username, password = turn_credentials(secret, participant, expires_at=expires_at)
            server["username"], server["credential"] = username, password
    return servers


def check_ice_servers(**kwargs: Any) -> list[CheckMessage]:
    """A wrong TEAMLINE_ICE_SERVERS is said at start, not when the first customer calls."""
    try:
        parse_ice_servers(str(settings.TEAMLINE.get("ICE_SERVERS", "[]")))
    except IceConfigError as exc:
        return [Error(str(exc), id="teamline.E110")]
    return []
