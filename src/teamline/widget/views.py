"""The widget's HTTP side: the session endpoint the embed script calls from a brand's page, and
a demo brand page that embeds the widget with its one script tag.

The session endpoint is public and cross-origin by nature (any brand page may embed the widget),
so it is CSRF-exempt: it acts on no cookie, only on what the body carries (a signed session token
or an HMAC-verified user id). CORS is granted per inbox (`Inbox.allowed_origins`, empty = any),
the same rule the widget socket applies to its Origin header.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from teamline.connectors import webchat
from teamline.connectors.actions import do_start_webchat_session
from teamline.connectors.models import Inbox
from teamline.connectors.queries import first_active_inbox, public_inbox
from teamline.core.errors import Forbidden, InvalidInput, TeamlineError
from teamline.teams.presenters import present_team_card

SESSION_FIELDS = ("token", "user_id", "user_hash", "name", "email")
# Far above any real token, name or address; the action applies the precise limits.
MAX_FIELD_LENGTH = 1000
MAX_BODY_BYTES = 16 * 1024


def _normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def origin_allowed(inbox: Inbox, origin: str | None) -> bool:
    """May a page on `origin` use this inbox's widget? An empty allow-list means any page.

    Shared by the session endpoint (CORS) and the widget socket (Origin header), so both sides
    of the widget follow one rule.
    """
    entries = inbox.allowed_origins or []
    allowed = {_normalise_origin(entry) for entry in entries if isinstance(entry, str)}
    if not allowed:
        return True
    return bool(origin) and _normalise_origin(origin or "") in allowed


def _error(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


def _error_from(exc: TeamlineError) -> JsonResponse:
    return _error(exc.code, exc.message, exc.status)


def _cors(response: HttpResponse, origin: str) -> None:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "600"


def _read_body(request: HttpRequest) -> dict[str, str]:
    """The JSON object of a session request, every field a string (an empty body is `{}`)."""
    try:
        raw = request.body
    except RequestDataTooBig as exc:
        raise InvalidInput("The request body is too large.") from exc
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidInput("The request body is too large.")
    if not raw.strip():
        return {}
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidInput("The request body must be a JSON object.") from exc
    if not isinstance(payload, dict):
        raise InvalidInput("The request body must be a JSON object.")
    fields: dict[str, str] = {}
    for name in SESSION_FIELDS:
        value = payload.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be a string.")
        if len(value) > MAX_FIELD_LENGTH:
            raise InvalidInput(f"{name} is too long.")
        fields[name] = value
    return fields


def _start_session(request: HttpRequest, inbox: Inbox) -> JsonResponse:
    fields = _read_body(request)
    session = do_start_webchat_session(
        inbox,
        token=fields.get("token") or None,
        user_id=fields.get("user_id") or None,
        user_hash=fields.get("user_hash") or None,
        name=fields.get("name", ""),
        email=fields.get("email", ""),
        ip=request.META.get("REMOTE_ADDR", "") or "",
    )
    customer = session.customer
    team = customer.home_team or inbox.default_team
    return JsonResponse(
        {
            "token": session.token,
            "customer": {"name": customer.name},
            "team": present_team_card(team),
            "inbox": {"name": inbox.name, "greeting": inbox.greeting},
        }
    )


@csrf_exempt
def session(request: HttpRequest, inbox_public_id: Any) -> HttpResponse:
    """POST /widget/api/<inbox>/session: open or resume a visitor's chat session.

    Body (JSON, every field optional): token, user_id, user_hash, name, email.
    Answers {token, customer: {name}, team: <team card>, inbox: {name, greeting}}, or
    {code, detail} with the error's status (400 bad body, 403 bad identity hash or page not
    allowed, 404 unknown inbox, 429 too many new visitors from one address).
    """
    origin = request.headers.get("Origin")
    try:
        inbox = public_inbox(inbox_public_id, kinds=("webchat",))
    except TeamlineError as exc:
        return _error_from(exc)
    allowed = origin_allowed(inbox, origin)
    response: HttpResponse
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
    elif request.method != "POST":
        response = _error("method_not_allowed", "Use POST.", 405)
        response["Allow"] = "POST, OPTIONS"
    elif origin and not allowed:
        response = _error_from(Forbidden("This page may not use this chat."))
    else:
        try:
            response = _start_session(request, inbox)
        except TeamlineError as exc:
            response = _error_from(exc)
    if origin and allowed:
        _cors(response, origin)
    patch_vary_headers(response, ["Origin"])
    # The answer carries a bearer token: never cached by the browser or a proxy.
    patch_cache_control(response, no_store=True)
    return response


@require_GET
def demo(request: HttpRequest) -> HttpResponse:
    """A fictional brand's page (Nordlys Mobile) embedding the first active inbox's widget.

    `?user=<id>` signs a verified identity server-side, as a brand's own backend would. Because
    that hands out a valid signature for any id, it is honoured only in debug mode or for a
    signed-in admin; anybody else gets the anonymous widget.
    """
    inbox = first_active_inbox()
    if inbox is None:
        return render(request, "widget/demo.html", {"inbox": None}, status=404)
    user_id = request.GET.get("user", "").strip()[:200]
    may_verify = settings.DEBUG or bool(getattr(request.user, "is_admin", False))
    identity = None
    if user_id and may_verify:
        identity = {"user_id": user_id, "user_hash": webchat.identity_hash(inbox.secret, user_id)}
    return render(
        request,
        "widget/demo.html",
        {
            "inbox": inbox,
            "identity": identity,
            "identity_refused": bool(user_id) and not may_verify,
        },
    )
