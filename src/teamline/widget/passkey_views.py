"""The Teamline-origin window where a customer runs a passkey ceremony when the widget sits on
a brand's own domain (docs/security.md, "Customer step-up"). A passkey's relying party must be
the page's own domain, so on a brand page the widget opens this small window on Teamline's
origin instead of running the ceremony inline.

The widget asks its socket for a ticket (`passkey.ticket`): signed, bound to the customer, the
conversation and the purpose, valid TICKET_SECONDS. The window's script posts the ticket for
the options and then the browser's answer; the challenge itself is single use
(customers/passkeys.py). The ticket is the only credential: these endpoints act on no cookie,
so they are CSRF-exempt like the widget's session endpoint.
"""

from __future__ import annotations

from typing import Any

from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from teamline.conversations.models import Conversation
from teamline.conversations.presenters import level_of
from teamline.conversations.stepup import do_verify_conversation
from teamline.core.errors import Forbidden, InvalidInput, TeamlineError
from teamline.customers import passkeys, verification
from teamline.customers.models import Customer

from .views import json_object_body

SALT = "teamline.widget.passkey-window"
TICKET_SECONDS = 120
MAX_BODY_BYTES = 32 * 1024
MAX_TICKET = 600


def issue_ticket(customer: Customer, conversation: Conversation, purpose: str) -> str:
    """A ticket for the window (the widget socket issues it). Saving a passkey needs the
    conversation verified by code first, as inline."""
    if purpose == passkeys.REGISTER and level_of(conversation) < verification.Level.CODE:
        raise Forbidden(_("Verify with a code first, then save a passkey."))
    if purpose not in (passkeys.REGISTER, passkeys.AUTHENTICATE):
        raise InvalidInput("purpose must be register or authenticate.")
    return signing.dumps({"c": customer.pk, "v": conversation.pk, "p": purpose}, salt=SALT)


def _ticket(value: object) -> tuple[Customer, Conversation, str]:
    expired = InvalidInput(_("This passkey request has expired. Please try again."))
    if not isinstance(value, str) or not value or len(value) > MAX_TICKET:
        raise expired
    try:
        claims = signing.loads(value, salt=SALT, max_age=TICKET_SECONDS)
    except signing.BadSignature:
        raise expired from None
    conversation = (
        Conversation.objects.select_related("customer")
        .filter(pk=claims.get("v"), customer_id=claims.get("c"))
        .first()
    )
    if conversation is None or claims.get("p") not in (passkeys.REGISTER, passkeys.AUTHENTICATE):
        raise expired
    return conversation.customer, conversation, str(claims["p"])


def _own_origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _body(request: HttpRequest) -> dict[str, Any]:
    return json_object_body(request, max_bytes=MAX_BODY_BYTES)


def _answer(data: dict[str, Any], status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    patch_cache_control(response, no_store=True)
    return response


@require_GET
def window(request: HttpRequest) -> HttpResponse:
    """The window's page: what it is for and one button; its script does the rest."""
    purpose = ""
    error = ""
    try:
        _customer, _conversation, purpose = _ticket(request.GET.get("ticket"))
    except TeamlineError as exc:
        error = exc.message
    response = render(
        request,
        "widget/passkey.html",
        {"purpose": purpose, "error": error, "ticket": request.GET.get("ticket", "")[:MAX_TICKET]},
        status=400 if error else 200,
    )
    patch_cache_control(response, no_store=True)
    response["Referrer-Policy"] = "no-referrer"  # the ticket is in the URL
    keep_opener(response)
    return response


def keep_opener(response: HttpResponse) -> None:
    """A window the widget opened from the brand's page must keep its opener to tell the
    widget "saved" or "verified" (postMessage): the site-wide Cross-Origin-Opener-Policy
    `same-origin` would cut that tie, so these window pages — no secrets in them, no data of
    the page behind them — waive it (SecurityMiddleware only sets it when a view did not)."""
    response["Cross-Origin-Opener-Policy"] = "unsafe-none"


@csrf_exempt
@require_POST
def options(request: HttpRequest) -> HttpResponse:
    try:
        payload = _body(request)
        customer, conversation, purpose = _ticket(payload.get("ticket"))
        origin = _own_origin(request)
        if purpose == passkeys.REGISTER:
            found = passkeys.begin_registration(customer, origin, conversation_id=conversation.pk)
        else:
            found = passkeys.begin_authentication(customer, origin, conversation_id=conversation.pk)
    except TeamlineError as exc:
        return _answer({"code": exc.code, "detail": exc.message}, exc.status)
    return _answer({"purpose": purpose, "options": found})


@csrf_exempt
@require_POST
def finish(request: HttpRequest) -> HttpResponse:
    try:
        payload = _body(request)
        customer, conversation, purpose = _ticket(payload.get("ticket"))
        credential = payload.get("credential")
        if not isinstance(credential, dict):
            raise InvalidInput("credential must be an object.")
        origin = _own_origin(request)
        if purpose == passkeys.REGISTER:
            passkeys.do_finish_registration(customer, credential, origin)
            return _answer({"done": "saved"})
        challenge = passkeys.do_finish_authentication(customer, credential, origin)
        if challenge.conversation_id != conversation.pk:
            raise InvalidInput(_("This passkey request has expired. Please try again."))
        do_verify_conversation(conversation, method=verification.PASSKEY)
    except TeamlineError as exc:
        return _answer({"code": exc.code, "detail": exc.message}, exc.status)
    return _answer({"done": "verified"})
