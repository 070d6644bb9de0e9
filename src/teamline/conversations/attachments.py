"""Attachments: checked by content, stored through Django's storage API, served safely.

The type of a file is what its bytes say (magic numbers), never the sender's claim. Images,
PDF, audio, video and plain text keep their type; HTML, SVG, XML and anything unrecognised are
stored as application/octet-stream and only ever downloaded; executables are refused. The
serving view (desk) answers with `X-Content-Type-Options: nosniff`, a sandboxing CSP, and
`Content-Disposition: attachment` for everything but the safe raster images.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from teamline.core.errors import InvalidInput

from .models import Attachment, Message

OCTET_STREAM = "application/octet-stream"
LINK_SALT = "teamline.connectors.media"
# Shown inline in the desk: raster images browsers do not execute.
INLINE_SAFE = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


class RefusedAttachment(InvalidInput):
    """Too large, empty or an executable: not stored (the message notes why)."""


@dataclass(frozen=True)
class PreparedAttachment:
    filename: str
    content_type: str  # sniffed
    declared_type: str
    data: bytes


def _ftyp(data: bytes) -> str | None:
    if data[4:8] != b"ftyp":
        return None
    brand = data[8:12]
    if brand in (b"M4A ", b"M4B ", b"M4P "):
        return "audio/mp4"
    if brand.startswith(b"3g"):
        return "video/3gpp"
    if brand in (b"heic", b"heix", b"mif1", b"msf1"):
        return "image/heic"
    if brand == b"qt  ":
        return "video/quicktime"
    return "video/mp4"


def _looks_like_markup(text: str) -> bool:
    head = text.lstrip("\ufeff \t\r\n")[:512].lower()
    return head.startswith(
        ("<!doctype", "<html", "<svg", "<?xml", "<head", "<body", "<script")
    ) or ("<svg" in head or "<html" in head or "<script" in head)


def sniff(data: bytes) -> str | None:
    """The content type the bytes prove, OCTET_STREAM for unknown or unsafe-to-render content,
    or None for executables (refused)."""
    head = data[:64]
    if head.startswith((b"MZ", b"\x7fELF", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf")):
        return None
    if head.startswith((b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"#!")):
        return None
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if head.startswith(b"#!AMR"):
        return "audio/amr"
    if head.startswith(b"\x1aE\xdf\xa3"):
        return "video/webm"
    if kind := _ftyp(head):
        return kind
    if b"\x00" in data[:8192]:
        return OCTET_STREAM
    try:
        text = data[:65536].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(data[:65536]) - 4:  # not just a character cut at the boundary
            return OCTET_STREAM
        text = data[: exc.start].decode("utf-8")
    if _looks_like_markup(text):
        return OCTET_STREAM  # HTML, SVG, XML: never rendered, download only
    return "text/plain"


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


def clean_filename(name: str, content_type: str) -> str:
    name = os.path.basename((name or "").replace("\\", "/"))
    name = _UNSAFE_NAME.sub("_", name).strip(" .")[:200]
    if name:
        return name
    extension = {
        "image/jpeg": ".jpg",
        "image/png": ".png",
        "image/gif": ".gif",
        "image/webp": ".webp",
        "application/pdf": ".pdf",
        "audio/ogg": ".ogg",
        "audio/mpeg": ".mp3",
        "video/mp4": ".mp4",
        "text/plain": ".txt",
    }.get(content_type, "")
    return f"attachment{extension}"


def prepare_attachment(
    filename: str, declared_type: str, data: bytes, *, limit: int | None = None
) -> PreparedAttachment:
    """Check size and type by content. Raises RefusedAttachment (with a reason for the agent).
    `limit`: bytes allowed, when not TEAMLINE["ATTACHMENT_MAX_BYTES"] (call recordings)."""
    if limit is None:
        limit = settings.TEAMLINE["ATTACHMENT_MAX_BYTES"]
    if not data:
        raise RefusedAttachment(_("%(name)s: empty file") % {"name": filename or "attachment"})
    if len(data) > limit:
        raise RefusedAttachment(
            _("%(name)s: %(size)d bytes is over the %(limit)d-byte limit")
            % {"name": filename or "attachment", "size": len(data), "limit": limit}
        )
    content_type = sniff(data)
    if content_type is None:
        raise RefusedAttachment(
            _("%(name)s: executable files are not accepted") % {"name": filename or "attachment"}
        )
    return PreparedAttachment(
        filename=clean_filename(filename, content_type),
        content_type=content_type,
        declared_type=(declared_type or "")[:100],
        data=data,
    )


# What an agent may send a customer: what every channel can show or play, by content.
AGENT_SENDABLE = INLINE_SAFE | {"application/pdf", "text/plain"}
AGENT_SENDABLE_PREFIXES = ("audio/", "video/")


def prepare_agent_attachments(
    files: Sequence[tuple[str, str, bytes]],
) -> list[PreparedAttachment]:
    """An agent's files (name, declared type, bytes) checked for a reply: at most
    TEAMLINE["AGENT_ATTACHMENTS_MAX"] files, each within the size limit, and only images, PDF,
    audio, video and plain text by content (HTML, archives, office files and the unrecognised
    are refused: a customer's phone may not open them, and they are how malware travels).
    Raises RefusedAttachment naming the file and the rule."""
    most = int(settings.TEAMLINE["AGENT_ATTACHMENTS_MAX"])
    if len(files) > most:
        raise RefusedAttachment(
            _("At most %(most)d files can be attached to one reply.") % {"most": most}
        )
    prepared = []
    for filename, declared, data in files:
        item = prepare_attachment(filename, declared, data)
        sendable = item.content_type in AGENT_SENDABLE or item.content_type.startswith(
            AGENT_SENDABLE_PREFIXES
        )
        if not sendable:
            raise RefusedAttachment(
                _(
                    "%(name)s: this kind of file cannot be sent to customers. "
                    "Send images, PDF, audio, video or plain text."
                )
                % {"name": item.filename}
            )
        prepared.append(item)
    return prepared


def prepare_uploads(uploads: Sequence[UploadedFile]) -> list[PreparedAttachment]:
    """Files uploaded with an agent's reply (the desk form, the API), checked like
    prepare_agent_attachments. The size is judged before a byte is read into memory."""
    limit = settings.TEAMLINE["ATTACHMENT_MAX_BYTES"]
    most = int(settings.TEAMLINE["AGENT_ATTACHMENTS_MAX"])
    if len(uploads) > most:
        raise RefusedAttachment(
            _("At most %(most)d files can be attached to one reply.") % {"most": most}
        )
    files = []
    for upload in uploads:
        name = upload.name or ""
        if upload.size is not None and upload.size > limit:
            raise RefusedAttachment(
                _("%(name)s is larger than %(limit)s, the largest file that can be sent.")
                % {"name": clean_filename(name, ""), "limit": filesizeformat(limit)}
            )
        files.append((name, upload.content_type or "", upload.read()))
    return prepare_agent_attachments(files)


def store_attachment(message: Message, prepared: PreparedAttachment) -> Attachment:
    """Save the bytes under a random name (never the sender's filename) and link them.
    Called inside the action that creates the message."""
    attachment = Attachment(
        message=message,
        filename=prepared.filename,
        content_type=prepared.content_type,
        declared_type=prepared.declared_type,
        size=len(prepared.data),
    )
    attachment.file.save(uuid.uuid4().hex, ContentFile(prepared.data), save=False)
    attachment.save()
    return attachment


def file_summary(attachment: Attachment) -> dict[str, object]:
    """What a message's content says about one of its files (ids and names, never bytes)."""
    return {
        "id": attachment.pk,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
    }


def signature(attachment_id: int, expires: int) -> str:
    """The keyed HMAC-SHA256 of a public media link (connectors/media.py serves them)."""
    return salted_hmac(LINK_SALT, f"{attachment_id}:{expires}", algorithm="sha256").hexdigest()


def signed_path(
    attachment_id: int, filename: str, *, seconds: int, now: float | None = None
) -> str:
    """The path of a link to an outbound attachment, valid `seconds` from `now`."""
    expires = int((time.time() if now is None else now) + seconds)
    return reverse(
        "public_media",
        kwargs={
            "attachment_id": attachment_id,
            "expires": expires,
            "signature": signature(attachment_id, expires),
            "filename": quote(filename or "attachment", safe=""),
        },
    )


def is_inline_safe(attachment: Attachment) -> bool:
    return attachment.content_type in INLINE_SAFE
