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
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile

from teamline.core.errors import InvalidInput

from .models import Attachment, Message

OCTET_STREAM = "application/octet-stream"
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
        raise RefusedAttachment(f"{filename or 'attachment'}: empty file")
    if len(data) > limit:
        raise RefusedAttachment(
            f"{filename or 'attachment'}: {len(data)} bytes is over the {limit}-byte limit"
        )
    content_type = sniff(data)
    if content_type is None:
        raise RefusedAttachment(f"{filename or 'attachment'}: executable files are not accepted")
    return PreparedAttachment(
        filename=clean_filename(filename, content_type),
        content_type=content_type,
        declared_type=(declared_type or "")[:100],
        data=data,
    )


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


def is_inline_safe(attachment: Attachment) -> bool:
    return attachment.content_type in INLINE_SAFE
