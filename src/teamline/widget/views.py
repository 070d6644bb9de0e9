"""The widget's HTTP side: the session endpoint the embed script calls from a brand's page, and
a demo brand page that embeds the widget with its one script tag.

The session endpoint is public and cross-origin by nature (any brand page may embed the widget),
so it is CSRF-exempt: it acts on no cookie, only on what the body carries (a signed session token
or an HMAC-verified user id). CORS is granted per inbox (`Inbox.allowed_origins`, empty = any),
the same rule the widget socket applies to its Origin header.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from teamline.calls.browser import calls_allowed
from teamline.connectors import webchat
from teamline.connectors.actions import do_start_webchat_session
from teamline.connectors.queries import (
    first_active_inbox,
    kept_public_inbox,
    public_inbox,
    session_customer,
)
from teamline.conversations.models import Inbox
from teamline.conversations.queries import current_conversation_for
from teamline.core import jsonsafe
from teamline.core.errors import Forbidden, InvalidInput, NotFound, TeamlineError
from teamline.customers.actions import do_capture_language
from teamline.customers.queries import customer_language
from teamline.routing.appointments import (
    available_slots,
    customer_appointment,
    customer_appointments,
    do_book_appointment,
    do_cancel_appointment,
    do_reschedule_appointment,
    present_appointment,
    present_slot,
    slot_minutes,
)
from teamline.routing.callbacks import do_request_callback, present_callback
from teamline.routing.eta import customer_queue
from teamline.teams.presenters import present_team_card

from .catalog import MAX_TAGS

SESSION_FIELDS = ("token", "user_id", "user_hash", "name", "email", "languages")
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


def json_object_body(
    request: HttpRequest, *, max_bytes: int = MAX_BODY_BYTES, empty_ok: bool = False
) -> dict[str, Any]:
    """The request's body as a JSON object, at most `max_bytes` (an empty body is `{}` when
    `empty_ok`). NUL or a lone surrogate → 422, too deep → 400 (core.jsonsafe; docs/input.md);
    too large or not an object → 400. Every widget endpoint with a JSON body reads it here."""
    try:
        raw = request.body
    except RequestDataTooBig as exc:
        raise InvalidInput("The request body is too large.") from exc
    if len(raw) > max_bytes:
        raise InvalidInput("The request body is too large.")
    if empty_ok and not raw.strip():
        return {}
    try:
        payload = jsonsafe.loads(raw)
    except jsonsafe.NotJson as exc:
        raise InvalidInput("The request body must be a JSON object.") from exc
    if not isinstance(payload, dict):
        raise InvalidInput("The request body must be a JSON object.")
    return payload


def _read_body(
    request: HttpRequest,
    names: tuple[str, ...] = SESSION_FIELDS,
    max_length: int = MAX_FIELD_LENGTH,
) -> dict[str, str]:
    """The named fields of a JSON-object body, every one a string (an empty body is `{}`)."""
    payload = json_object_body(request, empty_ok=True)
    fields: dict[str, str] = {}
    for name in names:
        value = payload.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be a string.")
        if len(value) > max_length:
            raise InvalidInput(f"{name} is too long.")
        fields[name] = value
    return fields


def _start_session(request: HttpRequest, inbox: Inbox) -> JsonResponse:
    fields = _read_body(request)
    hints = fields.get("languages", "").split(",")[:MAX_TAGS]
    session = do_start_webchat_session(
        inbox,
        token=fields.get("token") or None,
        user_id=fields.get("user_id") or None,
        user_hash=fields.get("user_hash") or None,
        name=fields.get("name", ""),
        email=fields.get("email", ""),
        ip=request.META.get("REMOTE_ADDR", "") or "",
        language_hints=hints,
    )
    customer = session.customer
    # The page's `lang` and the browser's languages: a hint, never over the customer's choice
    # or what they wrote in (customers.actions.do_capture_language). A new visitor was created
    # with it: no statement here then.
    do_capture_language(customer, hints=hints)
    team = customer.home_team or inbox.default_team
    return JsonResponse(
        {
            "token": session.token,
            # The language the widget speaks from now on (one of the six; widget/catalog.py).
            "language": customer_language(customer, inbox.config),
            "customer": {"name": customer.name},
            "team": present_team_card(team),
            # `calls`: whether the widget offers "Call us" / "Video call" (calls/browser.py).
            "inbox": {
                "name": inbox.name,
                "greeting": inbox.greeting,
                "calls": calls_allowed(inbox),
            },
        }
    )


@csrf_exempt
def session(request: HttpRequest, inbox_public_id: Any) -> HttpResponse:
    """POST /widget/api/<inbox>/session: open or resume a visitor's chat session.

    Body (JSON, every field optional): token, user_id, user_hash, name, email, languages (the
    page's and the browser's language tags, comma-separated, most wanted first).
    Answers {token, language, customer: {name}, team: <team card>, inbox: {name, greeting,
    calls}}, or
    {code, detail} with the error's status (400 bad body, 403 bad identity hash or page not
    allowed, 404 unknown inbox, 429 too many new visitors from one address).
    """
    origin = request.headers.get("Origin")
    try:
        # Kept per process for a moment: every visitor's widget POSTs here on every page.
        inbox = kept_public_inbox(inbox_public_id, kinds=("webchat",))
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


# --- Waiting, callbacks and bookings (the session's own customer) ----------------------------
#
# Authenticated like the widget socket: `Authorization: Bearer <session token>` (the token the
# session endpoint returned), for the inbox in the path only. Cross-origin under the same
# per-inbox rule as the session endpoint; CSRF-exempt since no cookie is read.

ACTION_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
ACTION_FIELDS = ("phone", "slot_start", "kind")


def _session_customer(request: HttpRequest, inbox: Inbox) -> Any:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotFound("Unknown or expired chat session.")
    claims = webchat.read_session(token.strip())
    if str(claims.inbox_public_id) != str(inbox.public_id):
        raise NotFound("Unknown or expired chat session.")
    return session_customer(claims)


def _parse_instant(value: str) -> Any:
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput("slot_start must be an ISO 8601 time with a UTC offset.") from exc
    if moment.tzinfo is None:
        raise InvalidInput("slot_start must be an ISO 8601 time with a UTC offset.")
    return moment


def _customer_action(request: HttpRequest, inbox_public_id: Any, handler: Any) -> HttpResponse:
    """CORS, origin rule and session for the customer's own actions; errors as {code, detail}."""
    origin = request.headers.get("Origin")
    try:
        inbox = public_inbox(inbox_public_id, kinds=("webchat", "app"))
    except TeamlineError as exc:
        return _error_from(exc)
    allowed = origin_allowed(inbox, origin)
    response: HttpResponse
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
    elif origin and not allowed:
        response = _error_from(Forbidden("This page may not use this chat."))
    else:
        try:
            customer = _session_customer(request, inbox)
            response = handler(request, inbox, customer)
        except TeamlineError as exc:
            response = _error_from(exc)
            if exc.status == 429:
                response["Retry-After"] = "60"  # the limits count per minute
    if origin and allowed:
        _cors(response, origin)
        response["Access-Control-Allow-Methods"] = ACTION_METHODS
        response["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    patch_vary_headers(response, ["Origin"])
    patch_cache_control(response, no_store=True)
    return response


def _team_of(inbox: Inbox, customer: Any) -> Any:
    return customer.home_team or inbox.default_team


def _waiting(request: HttpRequest, inbox: Inbox, customer: Any) -> HttpResponse:
    from django.utils import timezone

    if request.method != "GET":
        return _error("method_not_allowed", "Use GET.", 405)
    return JsonResponse({"queue": customer_queue(customer.pk, timezone.now())})


@csrf_exempt
def queue(request: HttpRequest, inbox_public_id: Any) -> HttpResponse:
    """GET /widget/api/<inbox>/queue → {"queue": {position, eta_seconds, …} | null}."""
    return _customer_action(request, inbox_public_id, _waiting)


def _callback(request: HttpRequest, inbox: Inbox, customer: Any) -> HttpResponse:
    if request.method != "POST":
        return _error("method_not_allowed", "Use POST.", 405)
    fields = _read_body(request, ACTION_FIELDS, 100)
    conversation = current_conversation_for(customer.pk)
    if conversation is None:
        raise InvalidInput("Send us a message first; then we can call you back.")
    callback = do_request_callback(conversation, fields.get("phone", ""))
    return JsonResponse({"callback": present_callback(callback)}, status=201)


@csrf_exempt
def callback(request: HttpRequest, inbox_public_id: Any) -> HttpResponse:
    """POST /widget/api/<inbox>/callback {phone} → 201 {"callback": {…}}: call me back instead
    of waiting, keeping my place in line."""
    return _customer_action(request, inbox_public_id, _callback)


def _slots(request: HttpRequest, inbox: Inbox, customer: Any) -> HttpResponse:
    if request.method != "GET":
        return _error("method_not_allowed", "Use GET.", 405)
    team = _team_of(inbox, customer)
    return JsonResponse(
        {
            "team": {"name": team.name},
            "timezone": team.timezone,
            "slot_minutes": slot_minutes(),
            "slots": [present_slot(slot) for slot in available_slots(team)],
        }
    )


@csrf_exempt
def slots(request: HttpRequest, inbox_public_id: Any) -> HttpResponse:
    """GET /widget/api/<inbox>/slots → {team, timezone, slot_minutes, slots: [{start, end,
    available}]}: the times the customer's team can serve in the next 7 days."""
    return _customer_action(request, inbox_public_id, _slots)


def _appointments(request: HttpRequest, inbox: Inbox, customer: Any) -> HttpResponse:
    if request.method == "GET":
        rows = customer_appointments(customer.pk)
        return JsonResponse({"appointments": [present_appointment(a) for a in rows]})
    if request.method != "POST":
        return _error("method_not_allowed", "Use GET or POST.", 405)
    fields = _read_body(request, ACTION_FIELDS, 100)
    conversation = current_conversation_for(customer.pk)
    if conversation is None:
        raise InvalidInput("Send us a message first; then you can book a time.")
    appointment = do_book_appointment(
        customer,
        team=_team_of(inbox, customer),
        slot_start=_parse_instant(fields.get("slot_start", "")),
        kind=fields.get("kind", ""),
        phone=fields.get("phone", ""),
        conversation=conversation,
    )
    return JsonResponse({"appointment": present_appointment(appointment)}, status=201)


@csrf_exempt
def appointments(request: HttpRequest, inbox_public_id: Any) -> HttpResponse:
    """GET → {"appointments": [...]} (live bookings); POST {slot_start, kind: call|chat, phone?}
    → 201 {"appointment"}; 409 slot_taken when the last seat went meanwhile."""
    return _customer_action(request, inbox_public_id, _appointments)


def _one_appointment(appointment_id: int) -> Any:
    def handle(request: HttpRequest, inbox: Inbox, customer: Any) -> HttpResponse:
        appointment = customer_appointment(customer.pk, appointment_id)
        if request.method == "GET":
            return JsonResponse({"appointment": present_appointment(appointment)})
        if request.method == "DELETE":
            appointment = do_cancel_appointment(appointment, by="customer")
        elif request.method == "PATCH":
            fields = _read_body(request, ACTION_FIELDS, 100)
            appointment = do_reschedule_appointment(
                appointment, _parse_instant(fields.get("slot_start", "")), by="customer"
            )
        else:
            return _error("method_not_allowed", "Use GET, PATCH or DELETE.", 405)
        return JsonResponse({"appointment": present_appointment(appointment)})

    return handle


@csrf_exempt
def appointment(request: HttpRequest, inbox_public_id: Any, appointment_id: int) -> HttpResponse:
    """GET / PATCH {slot_start} (reschedule) / DELETE (cancel) one of the customer's bookings;
    anybody else's is a 404."""
    return _customer_action(request, inbox_public_id, _one_appointment(appointment_id))
