"""Signed, expiring public links to agents' attachments: what providers fetch outbound media from.

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
"""

from __future__ import annotations

import hmac
import time

from django.conf import settings

from teamline.conversations.attachments import signature, signed_path
from teamline.conversations.models import Attachment


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
