"""The Graph API as the three Meta channels (WhatsApp, Messenger, Instagram) share it: the inbox
kinds, reading Meta's JSON without trusting it, calls made with the inbox's token, media
downloads, and which Graph errors are worth a retry. Each channel's payloads are in
`meta_whatsapp.py` and `meta_messenger.py`; the connector is `meta.py`."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from teamline.core import jsonsafe
from teamline.core.errors import InvalidInput

from .base import PermanentSendError, SendResult, TransientSendError
from .media import MediaRules, download_media

if TYPE_CHECKING:
    from teamline.conversations.models import Inbox

# The inbox kinds the connector serves, each its own message channel.
WHATSAPP = "whatsapp"
MESSENGER = "messenger"
INSTAGRAM = "instagram"

DEFAULT_API_BASE = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
DEFAULT_TIMEOUT = 15.0
MAX_MEDIA_BYTES = 100 * 1024 * 1024  # WhatsApp's largest media (documents) is 100 MB
MEDIA_RULES = MediaRules(
    limit=MAX_MEDIA_BYTES,
    refused="Media download failed: HTTP {status}",
    too_large="Media is larger than 100 MB.",
    unreachable="Media download failed: {error}",
    timed_out="Media download timed out: {error}",
)

# Graph error codes that mean "slow down / try later" even when the HTTP status is 400:
# 1/2 (unknown/service), 4/17/32/613 (rate limits), 80007 (WhatsApp account rate limit),
# 130429 (throughput), 131000 (something went wrong), 131016 (service unavailable),
# 131048 (spam rate limit), 131056 (pair rate limit), 133004 (server temporarily unavailable).
TRANSIENT_ERROR_CODES = frozenset(
    {1, 2, 4, 17, 32, 613, 80007, 130429, 131000, 131016, 131048, 131056, 133004}
)


def timestamp(value: Any, *, millis: bool = False) -> datetime | None:
    """Meta sends Unix seconds as strings (WhatsApp) or milliseconds as numbers (Messenger)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer past a float
        return None
    if millis:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a JSON list (anything else in a payload is skipped, never trusted)."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def load_json(body: bytes) -> dict[str, Any] | None:
    try:
        # Cleaned, not refused (NUL, lone surrogates); not JSON or nested too deep → None, and
        # the event is stored under the body's hash and ignored with a reason.
        data = jsonsafe.loads(body, repair=True)
    except InvalidInput:
        return None
    return data if isinstance(data, dict) else None


def media_filename(kind: str, media_id: str, mime_type: str) -> str:
    extension = mimetypes.guess_extension(mime_type.split(";")[0].strip()) if mime_type else None
    return f"{kind}-{media_id or 'attachment'}{extension or ''}"


# ---- calls -------------------------------------------------------------------------------


def graph_url(inbox: Inbox, path: str) -> str:
    """The Graph API URL of `path`, on the inbox's API host and version."""
    base = str(inbox.config.get("api_base") or DEFAULT_API_BASE).rstrip("/")
    version = str(inbox.config.get("api_version") or DEFAULT_API_VERSION).strip("/")
    return f"{base}/{version}/{path.lstrip('/')}"


def graph_client(inbox: Inbox) -> httpx.Client:
    """An HTTP client with the inbox's timeout that never follows redirects."""
    try:
        seconds = float(inbox.config.get("timeout") or DEFAULT_TIMEOUT)
    except (TypeError, ValueError):
        seconds = DEFAULT_TIMEOUT
    # Never follow redirects with a bearer token attached; Graph does not redirect the API.
    return httpx.Client(timeout=httpx.Timeout(seconds), follow_redirects=False)


def graph_post(inbox: Inbox, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    """POST `payload` to `path` with the inbox's access token: the answer's JSON object."""
    token = str(inbox.credentials.get("access_token") or "")
    if not token:
        raise PermanentSendError("No access token configured for this inbox.")
    with graph_client(inbox) as client:
        return graph_call(
            client,
            "POST",
            graph_url(inbox, path),
            headers={"Authorization": f"Bearer {token}"},
            payload=payload,
        )


def post_parts(
    inbox: Inbox,
    path: str,
    parts: list[dict[str, Any]],
    provider_id: Callable[[dict[str, Any]], str],
) -> SendResult:
    """One message sent as several Graph messages, in order (`provider_id`: the id in an
    answer). The first part carries the text (or the caption): its id names the message, so
    its receipts update it. A failure once a part went out is permanent: a retry would send
    the parts already delivered again."""
    ids: list[str] = []
    for part in parts:
        try:
            data = graph_post(inbox, path, part)
        except TransientSendError as exc:
            if ids:
                raise PermanentSendError(
                    f"Partly delivered ({len(ids)} part(s) sent), then: {exc}"
                ) from exc
            raise
        sent = provider_id(data)
        if not sent:
            if ids:
                raise PermanentSendError("Partly delivered: the Graph API gave no message id.")
            raise TransientSendError("The Graph API answered without a message id.")
        ids.append(sent)
    return SendResult(provider_message_id=ids[0], status="sent")


def graph_call(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One Graph request: the answer's JSON object, else the error graph_error makes of it."""
    try:
        response = client.request(method, url, headers=headers, json=payload)
    except httpx.TimeoutException as exc:
        raise TransientSendError(f"Graph API timed out: {type(exc).__name__}") from exc
    except httpx.HTTPError as exc:
        raise TransientSendError(f"Graph API unreachable: {type(exc).__name__}") from exc
    try:
        data = response.json()
    except ValueError:
        data = None
    body = data if isinstance(data, dict) else {}
    if response.is_success:
        return body
    raise graph_error(response.status_code, body)


def download(client: httpx.Client, url: str, headers: dict[str, str]) -> bytes:
    """A media file, at most MAX_MEDIA_BYTES (connectors/media.py: 429 and 5xx may pass)."""
    if not url.lower().startswith(("https://", "http://")):
        raise PermanentSendError("Attachment URL is not http(s).")
    return download_media(client, url, MEDIA_RULES, headers=headers).data


def graph_error(status: int, body: dict[str, Any]) -> Exception:
    """Graph errors look like {"error": {"message", "type", "code", "error_subcode",
    "error_data": {"details"}, "fbtrace_id"}}. 429/5xx and throttling codes are transient."""
    error = as_dict(body.get("error"))
    code = error.get("code")
    message = str(error.get("message") or f"HTTP {status}")
    details = as_dict(error.get("error_data")).get("details")
    if details and str(details) not in message:
        message = f"{message} ({details})"
    reason = f"{message} [code {code}]" if code is not None else message
    try:
        transient_code = int(str(code)) in TRANSIENT_ERROR_CODES
    except (TypeError, ValueError):
        transient_code = False
    if status == 429 or status >= 500 or transient_code:
        return TransientSendError(f"Graph API HTTP {status}: {reason}")
    return PermanentSendError(reason)
