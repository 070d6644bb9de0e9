"""What a message may keep of what was typed: the inbox's redaction applied to a message's text,
structured content and attachment names before anything is stored (core.redaction,
docs/security.md). The actions call it first, so every later step — the row, the events, the
outbox, the logs, self-service — only ever sees the masked text."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from teamline.core.redaction import ALL_KINDS, counts, redact_data, redact_found

from .attachments import PreparedAttachment
from .models import Inbox

logger = logging.getLogger(__name__)


def kinds_for(inbox: Inbox | None) -> frozenset[str]:
    """The inbox's setting; a message without an inbox (seeded web chat history) masks all."""
    return ALL_KINDS if inbox is None else inbox.redaction_kinds


def stored_text(inbox: Inbox | None, text: str) -> str:
    """What `text` is stored as through `inbox` (a retry compares with it), logging nothing."""
    return redact_found(text, kinds_for(inbox))[0]


def redact_text(inbox: Inbox | None, text: str) -> str:
    masked, found = redact_found(text, kinds_for(inbox))
    _note(inbox, found)
    return masked


def redact_inbound(
    inbox: Inbox | None,
    text: str,
    content: dict[str, Any] | None,
    attachments: Sequence[PreparedAttachment],
) -> tuple[str, dict[str, Any] | None, Sequence[PreparedAttachment]]:
    """The text, content (every string but identifiers: core.redaction.is_identifier_key) and
    attachment file names of an inbound message, masked by its inbox's setting."""
    kinds = kinds_for(inbox)
    if not kinds:
        return text, content, attachments
    found: list[str] = []
    masked, hits = redact_found(text or "", kinds)
    found += hits
    if content:
        content = redact_data(content, kinds, found=found)
    if attachments:
        renamed = []
        for prepared in attachments:
            name, hits = redact_found(prepared.filename, kinds)
            found += hits
            renamed.append(replace(prepared, filename=name) if hits else prepared)
        attachments = renamed
    _note(inbox, found)
    return (masked if text else text), content, attachments


def _note(inbox: Inbox | None, found: list[str]) -> None:
    if found:
        # What was masked and where, never the value.
        logger.info(
            "redacted %s in a message on inbox %s", counts(found), inbox.pk if inbox else None
        )
