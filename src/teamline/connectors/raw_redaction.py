"""The raw deliveries kept for replay, masked before they are stored (docs/security.md).

A provider's payload is stored as received so it can be processed again (WebhookEvent.body);
a card number a customer typed must not be kept there either. Each format is read, the
values that are text (not identifiers: core.redaction.is_identifier_key) are masked and the
payload is written back in the same format — only when something was masked, so every other
delivery keeps its bytes exactly as signed. The signature was checked on the original before
this runs; replay parses the stored bytes and never verifies them again.

    application/x-www-form-urlencoded   every field but identifiers (Twilio: Body)
    application/json                    every string but identifiers (Meta, Telegram, app)
    XML                                 every leaf element's text but identifiers (WeChat)
    email (RFC 5322)                    Subject, text/* parts, attachment file names

Other bodies are masked as UTF-8 text when they are text and kept otherwise. What is not
text to us (an image, a PDF) is never scanned.
"""

from __future__ import annotations

import json
import re
from email import policy
from email.header import Header, decode_header, make_header
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from teamline.core import jsonsafe
from teamline.core.redaction import is_identifier_key, redact_data, redact_found

EMAIL_PROVIDER = "email"

_XML_LEAF = re.compile(
    r"<(?P<tag>[A-Za-z_][\w.\-]*)(?P<attrs>[^<>]*)>(?P<text>[^<]*|<!\[CDATA\[.*?\]\]>)</(?P=tag)>",
    re.DOTALL,
)


def redact_form(text: str, kinds: frozenset[str], found: list[str]) -> str | None:
    """A urlencoded string with its text fields masked, or None when nothing was."""
    pairs = parse_qsl(text, keep_blank_values=True)
    changed = False
    masked: list[tuple[str, str]] = []
    for key, value in pairs:
        if not is_identifier_key(key):
            new, hits = redact_found(value, kinds)
            if hits:
                found.extend(hits)
                changed = True
                value = new
        masked.append((key, value))
    return urlencode(masked) if changed else None


def _redact_json(body: bytes, kinds: frozenset[str], found: list[str]) -> bytes | None:
    try:
        value = jsonsafe.loads(body)
    except Exception:
        return None
    masked = redact_data(value, kinds, found=found)
    if masked is value:
        return None
    return json.dumps(masked, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def redact_xml(text: str, kinds: frozenset[str], found: list[str]) -> str | None:
    changed = False

    def leaf(match: re.Match[str]) -> str:
        nonlocal changed
        if is_identifier_key(match.group("tag")):
            return match.group()
        inner = match.group("text")
        new, hits = redact_found(inner, kinds)
        if not hits:
            return match.group()
        found.extend(hits)
        changed = True
        tag = match.group("tag")
        return f"<{tag}{match.group('attrs')}>{new}</{tag}>"

    masked = _XML_LEAF.sub(leaf, text)
    return masked if changed else None


def _header_text(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        return value


def _redact_email(raw: bytes, kinds: frozenset[str], found: list[str]) -> bytes | None:
    message = BytesParser(policy=policy.compat32).parsebytes(raw)
    changed = False
    for part in message.walk():
        for name in ("Subject", "Thread-Topic"):
            if part.get(name) is None:
                continue
            new, hits = redact_found(_header_text(str(part[name])), kinds)
            if hits:
                found.extend(hits)
                part.replace_header(name, Header(new, "utf-8").encode())
                changed = True
        filename = part.get_filename()
        if filename:
            new, hits = redact_found(filename, kinds)
            if hits:
                found.extend(hits)
                if part.get_param("filename", header="content-disposition") is not None:
                    part.del_param("filename", header="content-disposition")
                    part.set_param("filename", new, header="Content-Disposition", charset="utf-8")
                if part.get_param("name") is not None:
                    part.set_param("name", new, charset="utf-8")
                changed = True
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            text = payload.decode(charset, errors="replace")
        except LookupError:
            text = payload.decode("utf-8", errors="replace")
        new, hits = redact_found(text, kinds)
        if hits:
            found.extend(hits)
            del part["Content-Transfer-Encoding"]
            part.set_payload(new, charset="utf-8")
            changed = True
    return message.as_bytes(policy=policy.compat32) if changed else None


def redact_body(
    provider: str, body: bytes, headers: dict[str, str], kinds: frozenset[str], found: list[str]
) -> bytes:
    """`body` with the text a customer wrote masked by `kinds` (see the module docstring)."""
    if not kinds or not body:
        return body
    if provider == EMAIL_PROVIDER:
        return _redact_email(body, kinds, found) or body
    content_type = (headers.get("content-type") or "").lower()
    if "json" in content_type:
        return _redact_json(body, kinds, found) or body
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    if "x-www-form-urlencoded" in content_type:
        form = redact_form(text, kinds, found)
        return form.encode("utf-8") if form is not None else body
    stripped = text.lstrip()
    if "xml" in content_type or stripped.startswith("<"):
        xml = redact_xml(text, kinds, found)
        return xml.encode("utf-8") if xml is not None else body
    if stripped.startswith(("{", "[")):
        return _redact_json(body, kinds, found) or body
    new, hits = redact_found(text, kinds)
    found.extend(hits)
    return new.encode("utf-8") if hits else body


def redact_request_meta(
    meta: dict[str, Any], kinds: frozenset[str], found: list[str]
) -> dict[str, Any]:
    """The stored URL and query (a provider may send the message in a GET query) masked."""
    if not kinds:
        return meta
    result = dict(meta)
    query = meta.get("query")
    if isinstance(query, dict):
        masked: dict[str, Any] = {}
        for key, values in query.items():
            if is_identifier_key(str(key)) or not isinstance(values, list):
                masked[key] = values
                continue
            masked[key] = [redact_data(v, kinds, found=found) for v in values]
        result["query"] = masked
    url = meta.get("url")
    if isinstance(url, str) and "?" in url:
        parts = urlsplit(url)
        form = redact_form(parts.query, kinds, found)
        if form is not None:
            result["url"] = urlunsplit(parts._replace(query=form))
    return result
