"""The Teamline-origin window where a customer signs in with the brand's own provider to verify
(connectors/brand_oidc.py; docs/security.md, "Customer step-up").

The widget asks its socket for a ticket (`oidc.ticket`): signed, bound to the customer, the
conversation and the widget's inbox (whose settings name the provider), valid TICKET_SECONDS.
It opens a small window at /widget/oidc/?ticket=…, which starts the authorization code flow
(PKCE, state, nonce), keeps what the callback needs in an encrypted HttpOnly cookie on
Teamline's origin and sends the browser to the provider. The provider sends it back to
/widget/oidc/callback; the window then says what happened, tells the widget ("verified",
nothing secret) and closes. The ticket and the cookie are the only credentials; both views are
GETs that act on no session, so there is no form to protect against CSRF — the cookie's state
does that for the callback.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from teamline.audit.actions import request_address
from teamline.connectors import brand_oidc
from teamline.conversations.models import Conversation, Inbox
from teamline.core.errors import InvalidInput, NotFound, TeamlineError
from teamline.customers.models import Customer

from .passkey_views import keep_opener

SALT = "teamline.widget.oidc-window"
TICKET_SECONDS = 120
MAX_TICKET = 600
COOKIE = "teamline_brand_sign_in"
COOKIE_PATH = "/widget/oidc/"


def issue_ticket(customer: Customer, conversation: Conversation, inbox: Inbox) -> str:
    """A ticket for the window (the widget socket issues it). NotFound when the inbox offers
    no brand sign-in."""
    if brand_oidc.provider_for(inbox) is None:
        raise NotFound(_("Signing in is not offered here."))
    return signing.dumps({"c": customer.pk, "v": conversation.pk, "i": inbox.pk}, salt=SALT)


def _ticket(value: object) -> tuple[Conversation, Inbox]:
    expired = InvalidInput(brand_oidc.expired())
    if not isinstance(value, str) or not value or len(value) > MAX_TICKET:
        raise expired
    try:
        claims = signing.loads(value, salt=SALT, max_age=TICKET_SECONDS)
    except signing.BadSignature:
        raise expired from None
    conversation = Conversation.objects.filter(
        pk=claims.get("v"), customer_id=claims.get("c")
    ).first()
    inbox = Inbox.objects.filter(pk=claims.get("i"), is_active=True).first()
    if conversation is None or inbox is None:
        raise expired
    return conversation, inbox


def _redirect_uri(request: HttpRequest) -> str:
    """The callback on the origin this window runs on (the cookie's own), as registered at
    the provider."""
    return request.build_absolute_uri(reverse("widget:oidc_callback"))


def _page(
    request: HttpRequest, *, brand: str, done: str = "", error: str = "", status: int = 200
) -> HttpResponse:
    response = render(
        request,
        "widget/oidc.html",
        {"brand": brand, "done": done, "error": error},
        status=status,
    )
    patch_cache_control(response, no_store=True)
    response["Referrer-Policy"] = "no-referrer"  # the ticket or the code is in the URL
    keep_opener(response)
    return response


@require_GET
def start(request: HttpRequest) -> HttpResponse:
    """Check the ticket, start the flow and send the browser to the brand's provider."""
    brand = ""
    try:
        conversation, inbox = _ticket(request.GET.get("ticket"))
        provider = brand_oidc.provider_for(inbox)
        if provider is None:
            raise InvalidInput(brand_oidc.expired())
        brand = provider.name
        url, flow = brand_oidc.begin(provider, conversation, _redirect_uri(request))
    except TeamlineError as exc:
        return _page(request, brand=brand, error=exc.message, status=exc.status)
    response = HttpResponseRedirect(url)
    patch_cache_control(response, no_store=True)
    response["Referrer-Policy"] = "no-referrer"
    keep_opener(response)
    # Lax: sent on the provider's top-level redirect back, never on a cross-site subrequest.
    response.set_cookie(
        COOKIE,
        flow,
        max_age=brand_oidc.FLOW_SECONDS,
        path=COOKIE_PATH,
        secure=request.is_secure() or settings.PUBLIC_URL.startswith("https://"),
        httponly=True,
        samesite="Lax",
    )
    return response


@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """The provider's answer: verify the conversation, or say clearly why not."""
    brand = ""
    try:
        flow = brand_oidc.read_flow(request.COOKIES.get(COOKIE), request.GET.get("state"))
        inbox = Inbox.objects.filter(pk=flow.inbox_id).first()
        provider = brand_oidc.provider_for(inbox) if inbox is not None else None
        brand = provider.name if provider else ""
        brand_oidc.do_finish_brand_sign_in(
            flow,
            code=request.GET.get("code"),
            error=request.GET.get("error"),
            redirect_uri=_redirect_uri(request),
            ip=request_address(request),
        )
        response = _page(request, brand=brand, done="verified")
    except TeamlineError as exc:
        response = _page(request, brand=brand, error=exc.message, status=exc.status)
    # One sign-in, one answer: the flow is spent whatever happened.
    response.delete_cookie(COOKIE, path=COOKIE_PATH, samesite="Lax")
    return response
