"""Where a raw value could hide once a message was received: every table, every log line,
every event. Used by the redaction tests of each inbound path."""

from __future__ import annotations

import json
import re
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import unquote_plus

from django.apps import apps
from django.db import connection, models

from tests.redaction_corpus import compact


def _binary_text(data: bytes) -> list[str]:
    """A stored blob as every text it could be read as: UTF-8, form-decoded, and the decoded
    parts of a MIME message (base64 and quoted-printable bodies)."""
    text = data.decode("utf-8", errors="replace")
    readings = [text, unquote_plus(text)]
    if b"\n" in data and b":" in data:
        try:
            message = BytesParser(policy=policy.default).parsebytes(data)
            for part in message.walk():
                readings.append(str(part.get("Subject", "")))
                readings.append(str(part.get_filename() or ""))
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    readings.append(payload.decode("utf-8", errors="replace"))
        except Exception:  # noqa: S110 - not an email: the other readings stand
            pass
    return readings


def database_text() -> str:
    """Every text, JSON and binary column of every model's table, and, on SQLite, the dump of
    every table (tables no model describes too)."""
    chunks: list[str] = []
    for model in apps.get_models(include_auto_created=True):
        fields = [
            f
            for f in model._meta.concrete_fields
            if isinstance(
                f,
                models.CharField
                | models.TextField
                | models.JSONField
                | models.BinaryField
                | models.FileField,
            )
        ]
        if not fields:
            continue
        for row in model._base_manager.values_list(*(f.attname for f in fields)):
            for value in row:
                if value is None:
                    continue
                if isinstance(value, bytes | memoryview):
                    chunks.extend(_binary_text(bytes(value)))
                elif isinstance(value, str):
                    chunks.append(value)
                else:
                    chunks.append(json.dumps(value, ensure_ascii=False))
    if connection.vendor == "sqlite":
        chunks.extend(connection.connection.iterdump())
    return "\n".join(chunks)


def _spelled(secret: str) -> re.Pattern[str]:
    """`secret` as typed, without separators or with any of them (a form body's "+"), standing
    on its own (not inside a longer run of letters and digits)."""
    chars = compact(secret)
    spelled = r"(?:[\s.\-+]|\u00a0|%C2%A0|%20)?".join(re.escape(ch) for ch in chars)
    return re.compile(rf"(?<![0-9A-Za-z]){spelled}(?![0-9A-Za-z])", re.IGNORECASE)


def leaks(haystack: str, texts: list[tuple[str, tuple[str, ...]]]) -> list[str]:
    """The raw values of `texts` found in `haystack`: a secret spelled with any separators
    (long enough not to occur by chance), and every whole text that held one."""
    found = []
    for text, secrets in texts:
        if secrets and text in haystack:
            found.append(text)
        for secret in secrets:
            if len(compact(secret)) >= 8 and _spelled(secret).search(haystack):
                found.append(secret)
    return found


def events_text(captured: list[Any]) -> str:
    return "\n".join(repr(event) for event, _ in captured)
