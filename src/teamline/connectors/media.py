"""Media between Teamline and the providers, both ways.

Out: signed, expiring public links to agents' attachments, what providers fetch outbound media
from. In: `download_media`, the one bounded download of a customer's media from a provider.

WhatsApp (`image.link`), Telegram (`sendPhoto` with a URL) and MMS (Twilio's `MediaUrl`) do not
take the file in the request: they download it from a public URL while the message is sent.
Attachments are otherwise served only to staff (desk.views.attachment), so each delivery
attempt gets a link of its own:

    {TEAMLINE_PUBLIC_URL}/media/out/<attachment id>/<expires>/<signature>/<filename>

`signature` is a keyed HMAC-SHA256 (the project's secret key, a salt of its own) of the
attachment id and the expiry time; nothing else in the URL is trusted, and the filename is
only there for the provider's eyes. A forged or altered link is a 404 (nothing says whether the
attachment exists), an expired one a 403. Only attachments of messages that went, or are going,
to the customer are ever served this way — never a customer's own file or a note's.
On channels that cannot carry a file (WeChat, the in-app channel) the link itself is sent, as
text, valid longer (TEAMLINE_MEDIA_LINK_SECONDS).

Every connector that fetches a customer's file from its provider (Meta, Twilio, Telegram,
WeChat), and voice_rest fetching a call's recording, stream it through `download_media` under
one set of rules: only a 2xx answer is the media; 429 and 5xx may pass (TransientSendError),
any other answer will not (PermanentSendError); more bytes than the provider's limit stop the
stream there (PermanentSendError); a timeout — of one read, or of the whole download past
TEAMLINE_MEDIA_DOWNLOAD_SECONDS — or a broken connection may pass (TransientSendError). What
stays the provider's own is explicit at the call: how the URL is
found (Graph's media id, Telegram's getFile, WeChat's media/get), which credentials go with it
(a bearer token, basic auth, a token in the query), the client's timeout and redirect policy,
the limit, the wording of each error (`MediaRules`), and what the answer's content type may say
instead of the media (WeChat answers an error as JSON with a 200).
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

import httpx
from django.conf import settings

from teamline.conversations.attachments import signature, signed_path
from teamline.conversations.models import Attachment

from .base import PermanentSendError, TransientSendError


class LinkRefused(Exception):
    """Not a valid link (forged, altered) or an expired one."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signed_url(attachment: Attachment, *, link: bool = False, now: float | None = None) -> str:
    """The public URL of `attachment`: for a provider to fetch now (TEAMLINE_MEDIA_URL_SECONDS),
    or, `link`, to be sent to the customer as text (TEAMLINE_MEDIA_LINK_SECONDS)."""
    key = "MEDIA_LINK_SECONDS" if link else "MEDIA_URL_SECONDS"
    seconds = int(settings.TEAMLINE[key])
    path = signed_path(attachment.pk, attachment.filename, seconds=seconds, now=now)
    return settings.PUBLIC_URL + path


def check_link(attachment_id: int, expires: int, given: str, *, now: float | None = None) -> None:
    """Raise LinkRefused unless the signature is ours (404 otherwise) and not expired (403)."""
    if not hmac.compare_digest(signature(attachment_id, expires).encode(), given.encode()):
        raise LinkRefused(404, "no such media")
    if (time.time() if now is None else now) > expires:
        raise LinkRefused(403, "this media link has expired")


def links_text(text: str, links: list[tuple[str, str]]) -> str:
    """The message text with one line per attachment (name, then its link), for channels that
    cannot carry files. Language-neutral: a paperclip, the file's name and the URL."""
    lines = [f"📎 {name}\n{url}" for name, url in links]
    return "\n\n".join(part for part in (text.strip(), *lines) if part)


# ---- inbound: a customer's media, downloaded from the provider --------------------------------


@dataclass(frozen=True)
class MediaRules:
    """One provider's limit and words for its media downloads. The texts become the errors the
    pipeline records on the message ("<file>: could not be fetched (<text>)"): `refused` with
    {status}, `unreachable` and `timed_out` with {error} (the httpx exception's class name)."""

    limit: int  # bytes; the stream stops at the first chunk past it
    refused: str  # an answer other than 2xx
    too_large: str
    unreachable: str
    timed_out: str = ""  # empty: a timeout is worded as `unreachable`


@dataclass(frozen=True)
class Media:
    data: bytes
    content_type: str  # the answer's Content-Type header, as the provider named it


def download_media(
    client: httpx.Client,
    url: str,
    rules: MediaRules,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> Media:
    """GET `url` with `client` (its timeout and redirect policy are the provider's), streamed
    and cut at `rules.limit` bytes, under the rules in this module's docstring. The whole
    download gets TEAMLINE_MEDIA_DOWNLOAD_SECONDS: past that it is given up as a timeout,
    however steadily the bytes still trickle in (`{error}` says DownloadDeadline)."""
    deadline = time.monotonic() + float(settings.TEAMLINE["MEDIA_DOWNLOAD_SECONDS"])
    try:
        with client.stream("GET", url, headers=headers, params=params, auth=auth) as response:
            status = response.status_code
            if status == 429 or status >= 500:
                raise TransientSendError(rules.refused.format(status=status))
            if not response.is_success:
                raise PermanentSendError(rules.refused.format(status=status))
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > rules.limit:
                    raise PermanentSendError(rules.too_large)
                if time.monotonic() > deadline:
                    wording = rules.timed_out or rules.unreachable
                    raise TransientSendError(wording.format(error="DownloadDeadline"))
                chunks.append(chunk)
            content_type = response.headers.get("content-type", "")
    except httpx.TimeoutException as exc:
        wording = rules.timed_out or rules.unreachable
        raise TransientSendError(wording.format(error=type(exc).__name__)) from exc
    except httpx.HTTPError as exc:
        raise TransientSendError(rules.unreachable.format(error=type(exc).__name__)) from exc
    return Media(b"".join(chunks), content_type)
