"""Inbound provider webhooks: `/webhooks/<provider>/<inbox public id>/[<suffix>]`.

verify on the raw bytes → store the raw event (unique per provider, inbox and provider event
id) and enqueue its processing in one transaction → answer 2xx. Nothing is processed in the
request, so providers get their answer fast (WeChat gives up after 5 s); a duplicate delivery
hits the unique key and is answered 2xx without a second processing. Anything that is not a
genuine delivery for an active inbox this provider serves is answered 401/403/404 and leaves
no trace but a log line (never with secrets). While the database is unreachable nothing can be
stored, so nothing is acknowledged: the provider gets the answer that makes it deliver again
(`Connector.unavailable`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from teamline.conversations.attachments import OCTET_STREAM, is_inline_safe
from teamline.conversations.queries import sent_attachment
from teamline.core import availability
from teamline.core.errors import NotFound

from .actions import do_store_webhook_event
from .admission import note_inbox_kind
from .base import WebhookRejected, WebhookRequest, connector_for_provider
from .media import LinkRefused, check_link
from .queries import forget_webhook_inboxes, webhook_inbox

logger = logging.getLogger(__name__)

# Credentials some providers (or a misconfigured proxy) send: never stored with the event.
UNSAFE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "x-auth-token",
        "x-telegram-bot-api-secret-token",
    }
)


def _first(value: str) -> str:
    return value.split(",")[0].strip()


def absolute_url(request: HttpRequest) -> str:
    """The URL as the provider called it (what Twilio signs). Behind a reverse proxy
    (TEAMLINE_BEHIND_PROXY) the scheme and host come from X-Forwarded-Proto/-Host; otherwise
    those headers are ignored, so nobody can pick the URL a signature is checked against."""
    if settings.TEAMLINE["BEHIND_PROXY"]:
        scheme = _first(request.META.get("HTTP_X_FORWARDED_PROTO", "")) or request.scheme
        host = _first(request.META.get("HTTP_X_FORWARDED_HOST", "")) or request.get_host()
    else:
        scheme = request.scheme or "http"
        host = request.get_host()
    return f"{scheme}://{host}{request.get_full_path()}"


def _read_body(request: HttpRequest, limit: int) -> bytes | None:
    """The raw body, or None when it is larger than `limit` (read at most limit + 1 bytes)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    data = request.read(limit + 1)
    return None if len(data) > limit else data


def webhook_request(request: HttpRequest, body: bytes, suffix: str) -> WebhookRequest:
    return WebhookRequest(
        method=request.method or "GET",
        url=absolute_url(request),
        path_suffix=suffix,
        query={key: request.GET.getlist(key) for key in request.GET},
        headers={name.lower(): value for name, value in request.headers.items()},
        body=body,
        remote_addr=request.META.get("REMOTE_ADDR", ""),
    )


def _meta(hook: WebhookRequest) -> dict[str, Any]:
    return {
        "method": hook.method,
        "url": hook.url,
        "path_suffix": hook.path_suffix,
        "query": hook.query,
        "remote_addr": hook.remote_addr,
    }


def answer_unavailable(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Turn "the database is unreachable" into the provider's retry answer, never a 500."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, provider: str, inbox_id: str, suffix: str = "") -> Any:
        started = time.monotonic()
        try:
            return view(request, provider, inbox_id, suffix)
        except Exception as exc:
            if not availability.is_unavailable_error(exc):
                raise
            connector = connector_for_provider(provider)
            logger.warning("webhook %s/%s: database unreachable, not stored", provider, inbox_id)
            if connector is None:
                return availability.unavailable_response(request)
            return connector.unavailable(started)

    return wrapped


@csrf_exempt
@require_http_methods(["GET", "POST"])
@answer_unavailable
def webhook(request: HttpRequest, provider: str, inbox_id: str, suffix: str = "") -> HttpResponse:
    connector = connector_for_provider(provider)
    if connector is None:
        return HttpResponse("Not found", status=404, content_type="text/plain")
    try:
        inbox = webhook_inbox(inbox_id)
    except NotFound:
        return HttpResponse("Not found", status=404, content_type="text/plain")
    # One provider may serve several inbox kinds (Twilio: SMS and voice): the inbox decides.
    connector = connector_for_provider(provider, inbox.kind)
    note_inbox_kind(inbox_id, inbox.kind)  # admission budgets this inbox's next requests by kind
    if connector is None:
        return HttpResponse("Not found", status=404, content_type="text/plain")
    body = _read_body(request, settings.TEAMLINE["WEBHOOK_MAX_BYTES"])
    if body is None:
        logger.warning("webhook %s/%s: body over the size limit", provider, inbox.public_id)
        return HttpResponse("Payload too large", status=413, content_type="text/plain")
    hook = webhook_request(request, body, suffix)

    challenge = connector.handshake(inbox, hook)
    if challenge is not None:
        return challenge
    try:
        connector.verify(inbox, hook)
        event_id = connector.event_id(inbox, hook)
    except WebhookRejected as exc:
        # The reason says what was wrong (missing header, bad signature), never a secret.
        logger.warning(
            "webhook %s/%s rejected (%s): %s", provider, inbox.public_id, exc.status, exc.reason
        )
        return HttpResponse(status=exc.status)
    if not event_id:
        logger.warning("webhook %s/%s: no event id", provider, inbox.public_id)
        return HttpResponse("No event id", status=400, content_type="text/plain")
    headers = {k: v for k, v in hook.headers.items() if k not in UNSAFE_HEADERS}
    try:
        _, created = do_store_webhook_event(
            inbox,
            provider=provider,
            external_id=event_id,
            body=body,
            headers=headers,
            request_meta=_meta(hook),
            answered=connector.answered_in_request(inbox, hook),
        )
    except NotFound:  # deleted by another process since this one read it: nothing stored
        forget_webhook_inboxes()
        return HttpResponse("Not found", status=404, content_type="text/plain")
    if not created:
        logger.info("webhook %s/%s: duplicate %s absorbed", provider, inbox.public_id, event_id)
    return connector.acknowledge(inbox, hook)


# --- Outbound media -----------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD"])
def public_media(
    request: HttpRequest, attachment_id: int, expires: int, signature: str, filename: str
) -> HttpResponseBase:
    """An agent's attachment, for the provider fetching it (connectors/media.py): 404 for a
    forged or altered link or a file that is gone, 403 once expired. Served like every
    attachment: nosniff, a policy that runs nothing, a download unless a safe raster image,
    and no caching anywhere between us and the provider."""
    try:
        check_link(attachment_id, expires, signature)
    except LinkRefused as exc:
        logger.info("public media %s refused: %s", attachment_id, exc.reason)
        return HttpResponse(exc.reason, status=exc.status, content_type="text/plain")
    found = sent_attachment(attachment_id)
    if found is None or not found.file:
        return HttpResponse("no such media", status=404, content_type="text/plain")
    try:
        handle = found.file.open("rb")
    except FileNotFoundError:
        return HttpResponse("no such media", status=404, content_type="text/plain")
    response = FileResponse(
        handle,
        content_type=found.content_type or OCTET_STREAM,
        as_attachment=not is_inline_safe(found),
        filename=found.filename,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
