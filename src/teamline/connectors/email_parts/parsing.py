"""Raw RFC 5322 bytes → what the desk shows, without losing the original.

Pure functions (no database): header decoding (RFC 2047/2231 through the stdlib's modern
policy), body selection with charset repair, HTML sanitising (nh3) and HTML → text, quoted
history and signature stripping, attachments, and recognising mail no person wrote
(auto-replies, bounces, delivery reports, our own mail coming back).
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message as MimeMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

import nh3

from teamline.core.languages import parse_accept_language

# Message.external_id is 200 characters; WebhookEvent.external_id 255.
MAX_ID_LENGTH = 200
_MSGID_RE = re.compile(r"<([^<>\s]+)>")

# Labels that mail clients put on charsets their decoders do not know, mapped to a superset
# Python does know (gb2312 mail routinely carries GBK characters, so read it as GB18030).
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ks_c_5601-1987": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "x-sjis": "shift_jis",
}

SAFE_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "ins", "li", "ol", "p", "pre", "q",
    "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul",
}  # fmt: skip
SAFE_ATTRIBUTES = {
    "a": {"href", "title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
}
# Removed with their content (never shown as text either).
_DROP_WITH_CONTENT = {"script", "style", "title", "head", "template", "noscript", "iframe"}


@dataclass(frozen=True)
class BounceReport:
    """What a delivery status notification (RFC 3464) says about one of our messages."""

    original_message_id: str
    action: str = ""  # failed, delayed, delivered, relayed, expanded
    status: str = ""  # e.g. 5.1.1
    diagnostic: str = ""
    recipient: str = ""


@dataclass
class ParsedEmail:
    event_id: str  # the Message-ID, or sha256:<hex of the raw bytes> when there is none
    message_id: str  # "<id@host>" or ""
    in_reply_to: str
    references: list[str]
    subject: str
    from_address: str
    from_name: str
    to: list[str]
    cc: list[str]
    date: datetime | None
    text: str  # shown: quoted history and signature stripped
    original_text: str  # the whole text part (or the whole HTML as text)
    html: str  # sanitised, safe to render
    raw_html: str  # as received: never render it
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    automated_reason: str = ""  # why no person wrote it; "" for a person
    bounce: BounceReport | None = None
    # The language tags the sender's mail program declared (Content-Language, then
    # Accept-Language), most preferred first: a hint for the customer's language.
    languages: list[str] = field(default_factory=list)

    @property
    def automated(self) -> bool:
        return bool(self.automated_reason)


# --- ids -----------------------------------------------------------------------------------


def normalize_message_id(value: str) -> str:
    """The first <id> in a header value, bracketed; bare ids are bracketed; "" when none."""
    value = (value or "").strip()
    if not value:
        return ""
    match = _MSGID_RE.search(value)
    token = match.group(1) if match else value.split()[0].strip("<>")
    if not token:
        return ""
    msgid = f"<{token}>"
    if len(msgid) > MAX_ID_LENGTH:
        return "sha256:" + hashlib.sha256(msgid.encode()).hexdigest()
    return msgid


def message_id_list(value: str) -> list[str]:
    """Every <id> in a References / In-Reply-To value, in order, without repeats."""
    seen: list[str] = []
    for token in _MSGID_RE.findall(value or ""):
        msgid = normalize_message_id(f"<{token}>")
        if msgid and msgid not in seen:
            seen.append(msgid)
    return seen


def raw_sha256_id(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def email_event_id(raw: bytes) -> str:
    """The dedupe key of a raw email: its Message-ID, else the SHA-256 of the bytes."""
    headers = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    return normalize_message_id(_header(headers, "Message-ID")) or raw_sha256_id(raw)


# --- headers -------------------------------------------------------------------------------


def _header(msg: MimeMessage, name: str) -> str:
    """A header decoded (RFC 2047); "" when missing or beyond repair."""
    try:
        value = msg.get(name)
    except Exception:  # a header the parser cannot make sense of
        return ""
    if value is None:
        return ""
    try:
        text = str(value)
    except Exception:
        return ""
    return " ".join(text.split())


def _addresses(msg: MimeMessage, name: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    try:
        headers = msg.get_all(name) or []
    except Exception:
        return found
    for header in headers:
        try:
            # policy.default's parsed address header
            addresses = getattr(header, "addresses", None)
            if addresses is not None:
                found.extend((a.display_name, a.addr_spec) for a in addresses)
                continue
        except Exception:  # noqa: S110 - fall back to the lenient parser below
            pass
        found.extend(getaddresses([str(header)]))
    return [(n.strip(), a.strip()) for n, a in found if a and "@" in a]


def _date(msg: MimeMessage) -> datetime | None:
    value = _header(msg, "Date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- bodies --------------------------------------------------------------------------------


def decode_bytes(payload: bytes, charset: str | None) -> str:
    """Decode with the declared charset (repaired by alias), falling back without failing."""
    charset = (charset or "").strip().strip('"').lower() or None
    if charset:
        charset = _CHARSET_ALIASES.get(charset, charset)
        try:
            return payload.decode(charset)
        except LookupError:
            charset = None
        except UnicodeDecodeError:
            pass
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode(charset or "cp1252", errors="replace")


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed: a line ending in a space continues on the next one."""
    out: list[str] = []
    buffer = ""
    for line in text.split("\n"):
        if line.endswith(" ") and line != "-- " and not line.startswith(">"):
            buffer += line[:-1] if delsp else line
            continue
        out.append(buffer + line)
        buffer = ""
    if buffer:
        out.append(buffer)
    return "\n".join(out)


def _part_text(part: MimeMessage) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    text = decode_bytes(data, part.get_content_charset())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_type() == "text/plain" and part.get_param("format", "") == "flowed":
        text = _unflow(text, str(part.get_param("delsp", "no")).lower() == "yes")
    return text


def _safe_filename(name: str, content_type: str, index: int) -> str:
    name = re.sub(r"[\x00-\x1f\x7f]", "", name or "").replace("\\", "/").split("/")[-1].strip()
    name = name.lstrip(".")
    if not name:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        name = f"attachment-{index}{extension}"
    return name[:255]


@dataclass
class _Walk:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    reports: list[MimeMessage] = field(default_factory=list)
    returned_headers: list[MimeMessage] = field(default_factory=list)


def _walk(part: MimeMessage, out: _Walk) -> None:
    ctype = part.get_content_type()
    if ctype in ("message/rfc822", "message/global"):
        inner = part.get_payload()
        message = inner[0] if isinstance(inner, list) and inner else None
        if isinstance(message, MimeMessage):
            out.returned_headers.append(message)
            data = message.as_bytes(policy=policy.SMTP)
            subject = _header(message, "Subject") or "message"
        else:
            data, subject = part.as_bytes(), "message"
        filename = part.get_filename() or f"{subject[:80]}.eml"
        index = len(out.attachments) + 1
        out.attachments.append((_safe_filename(filename, ctype, index), "message/rfc822", data))
        return
    if ctype == "message/delivery-status":
        out.reports.append(part)
        return
    if part.is_multipart():
        payload = part.get_payload()
        for sub in payload if isinstance(payload, list) else []:
            if isinstance(sub, MimeMessage):
                _walk(sub, out)
        return
    disposition = part.get_content_disposition()
    filename = part.get_filename() or ""
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
        (out.plain if ctype == "text/plain" else out.html).append(_part_text(part))
        return
    decoded = part.get_payload(decode=True)
    if ctype == "text/rfc822-headers" and isinstance(decoded, bytes):
        out.returned_headers.append(
            BytesParser(policy=policy.default).parsebytes(decoded, headersonly=True)
        )
    index = len(out.attachments) + 1
    out.attachments.append(
        (
            _safe_filename(filename, ctype, index),
            ctype,
            decoded if isinstance(decoded, bytes) else b"",
        )
    )


# --- HTML ----------------------------------------------------------------------------------


def sanitize_html(html: str) -> str:
    """Only harmless formatting survives: no scripts, styles, event handlers, forms, images
    (remote images are tracking pixels) or non-http(s)/mailto links."""
    if not html.strip():
        return ""
    return nh3.clean(
        html,
        tags=SAFE_TAGS,
        attributes=SAFE_ATTRIBUTES,
        clean_content_tags=_DROP_WITH_CONTENT,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()


_BLOCK_TAGS = {
    "address", "blockquote", "br", "div", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "li", "ol", "p", "pre", "section", "table", "tr", "ul", "article", "header",
    "footer",
}  # fmt: skip
_VOID_TAGS = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
}  # fmt: skip
# Markers mail clients put on quoted history and signatures.
_QUOTE_CLASSES = {"gmail_quote", "yahoo_quoted", "moz-cite-prefix", "protonmail_quote"}
_SIGNATURE_CLASSES = {"gmail_signature", "moz-signature"}
# Outlook: everything after these is the quoted original.
_QUOTE_START_IDS = {"appendonsend", "divrplyfwdmsg", "mail-editor-reference-message-container"}


class _HtmlText(HTMLParser):
    def __init__(self, drop_quotes: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.drop_quotes = drop_quotes
        self.parts: list[str] = []
        self.stack: list[str] = []
        self.skip_depth: int | None = None
        self.stopped = False
        self.pre = 0

    def _newline(self) -> None:
        if self.skip_depth is None and not self.stopped:
            self.parts.append("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.stopped:
            return
        values = {k: v or "" for k, v in attrs}
        classes = set(values.get("class", "").split())
        element_id = values.get("id", "").lower()
        if self.drop_quotes and element_id in _QUOTE_START_IDS and self.skip_depth is None:
            self.stopped = True
            return
        if tag in _VOID_TAGS:
            if tag in ("br", "hr"):
                self._newline()
            return
        if tag in _BLOCK_TAGS:
            self._newline()
        self.stack.append(tag)
        if tag == "pre":
            self.pre += 1
        if self.skip_depth is None and (
            tag in _DROP_WITH_CONTENT
            or (
                self.drop_quotes
                and (
                    tag == "blockquote" or classes & _QUOTE_CLASSES or classes & _SIGNATURE_CLASSES
                )
            )
        ):
            self.skip_depth = len(self.stack)
        if tag == "li":
            self._data("- ")

    def handle_endtag(self, tag: str) -> None:
        if self.stopped or tag not in self.stack:
            return
        while self.stack:
            popped = self.stack.pop()
            if popped == "pre":
                self.pre = max(0, self.pre - 1)
            if self.skip_depth is not None and len(self.stack) < self.skip_depth:
                self.skip_depth = None
            if popped == tag:
                break
        if tag in _BLOCK_TAGS:
            self._newline()

    def _data(self, data: str) -> None:
        if self.skip_depth is None and not self.stopped:
            self.parts.append(data)

    def handle_data(self, data: str) -> None:
        self._data(data if self.pre else re.sub(r"\s+", " ", data))

    def text(self) -> str:
        lines = [line.strip() for line in "".join(self.parts).replace("\xa0", " ").split("\n")]
        return _squeeze_blank_lines(lines)


def html_to_text(html: str, *, drop_quotes: bool = False) -> str:
    parser = _HtmlText(drop_quotes)
    parser.feed(html)
    parser.close()
    return parser.text()


# --- quoted history and signatures ---------------------------------------------------------

_ATTRIBUTION_PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"On\b.{0,300}\bwrote\s*:",
        r"Le\b.{0,300}\ba écrit\s*:",
        r"Am\b.{0,300}\bschrieb\b.{0,200}:",
        r"El\b.{0,300}\bescribió\s*:",
        r"Il\b.{0,300}\bha scritto\s*:",
        r"Op\b.{0,300}\bschreef\b.{0,200}:",
        r"Den\b.{0,300}\bskrev\b.{0,200}:",
        r".{0,300}(写道|寫道)\s*[:：]",
        r"-{2,}\s*Original Message\s*-{2,}",
        r"-{2,}\s*Ursprüngliche Nachricht\s*-{2,}",
        r"-{2,}\s*Message d'origine\s*-{2,}",
    )
]
_OUTLOOK_FROM = re.compile(r"^\*?(From|Von|De|Från|Fra)\s*:\*?\s", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(
    r"^\*?(Sent|Date|Gesendet|Envoyé|Skickat|Sendt|To|Subject)\s*:", re.IGNORECASE
)
_MOBILE_FOOTER = re.compile(
    r"^(Sent from my \w+|Sent from (Mail|Outlook) for \w+|Get Outlook for \w+"
    r"|Envoyé de mon \w+|Von meinem \w+ gesendet)\b.*$",
    re.IGNORECASE,
)


def _squeeze_blank_lines(lines: Iterable[str]) -> str:
    out: list[str] = []
    for line in lines:
        if not line.strip() and (not out or not out[-1].strip()):
            continue
        out.append(line.rstrip())
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


def _quote_start(lines: list[str]) -> int:
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(">"):
            continue
        # An attribution line may wrap ("On Mon, 1 Jan 2024 at 10:00, Ann <\nann@x> wrote:").
        for span in (1, 2, 3):
            candidate = " ".join(item.strip() for item in lines[i : i + span])
            if any(p.fullmatch(candidate) for p in _ATTRIBUTION_PATTERNS):
                return i
        if (
            re.fullmatch(r"_{8,}", stripped)
            and i + 1 < len(lines)
            and _OUTLOOK_FROM.match(lines[i + 1].strip())
        ):
            return i
        if _OUTLOOK_FROM.match(stripped) and any(
            _OUTLOOK_NEXT.match(following.strip()) for following in lines[i + 1 : i + 5]
        ):
            return i
    return len(lines)


def strip_quoted(text: str) -> str:
    """The new part of a reply: quoted history ("On … wrote:", "> " lines, Outlook's original
    message block) and the signature ("-- " line, mobile footers) removed."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = lines[: _quote_start(lines)]
    lines = [line for line in lines if not line.lstrip().startswith(">")]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].rstrip() == "--":
            lines = lines[:i]
            break
    while lines and not lines[-1].strip():
        lines.pop()
    if lines and _MOBILE_FOOTER.match(lines[-1].strip()):
        lines.pop()
    return _squeeze_blank_lines(lines).strip("\n")


# --- automated mail ------------------------------------------------------------------------

_AUTOMATED_SUBJECT = re.compile(
    r"^\s*(Delivery Status Notification|Undelivered Mail Returned to Sender|Undeliverable\s*:"
    r"|Undelivered Mail|Mail delivery failed|Returned mail\s*:|Delivery Failure"
    r"|Failure Notice|Automatic reply\s*:|Auto[- ]?reply\s*:|Autosvar\s*:"
    r"|Réponse automatique\s*:|Automatische Antwort\s*:)",
    re.IGNORECASE,
)
_AUTOMATED_SENDERS = {"mailer-daemon", "postmaster"}


def automated_reason(
    msg: MimeMessage,
    *,
    from_address: str,
    subject: str,
    own_addresses: Iterable[str] = (),
    envelope_sender: str | None = None,
) -> str:
    """Why this mail was not written by a person (RFC 3834 and common practice), or ""."""
    auto_submitted = _header(msg, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Failed-Recipients"):
        if msg.get(name) is not None:
            return f"{name} header"
    precedence = _header(msg, "Precedence").lower()
    if precedence in {"bulk", "junk", "auto_reply", "auto-reply"}:
        return f"Precedence: {precedence}"
    if msg.get_content_type() == "multipart/report":
        return f"delivery report ({msg.get_param('report-type', 'unknown')})"
    if from_address.split("@")[0].lower() in _AUTOMATED_SENDERS:
        return f"sent by {from_address}"
    if envelope_sender is not None and envelope_sender.strip() in ("", "<>"):
        return "empty envelope sender (a bounce)"
    if _header(msg, "Return-Path") == "<>":
        return "empty Return-Path (a bounce)"
    if _AUTOMATED_SUBJECT.match(subject):
        return f"subject {subject[:60]!r}"
    own = {address.lower() for address in own_addresses if address}
    if from_address.lower() in own:
        return "sent from this inbox's own address (mail loop)"
    return ""


def _bounce(walk: _Walk) -> BounceReport | None:
    original = ""
    for headers in walk.returned_headers:
        original = normalize_message_id(_header(headers, "Message-ID"))
        if original:
            break
    if not original:
        return None
    action = status = diagnostic = recipient = ""
    for report in walk.reports:
        payload = report.get_payload()
        for block in payload if isinstance(payload, list) else []:
            if isinstance(block, MimeMessage) and block.get("Action"):
                action = _header(block, "Action").lower()
                status = _header(block, "Status")
                diagnostic = _header(block, "Diagnostic-Code")
                recipient = _header(block, "Final-Recipient").split(";")[-1].strip()
                break
        if action:
            break
    return BounceReport(original, action, status, diagnostic, recipient)


# --- the whole message ---------------------------------------------------------------------


def parse_email(
    raw: bytes, *, own_addresses: Iterable[str] = (), envelope_sender: str | None = None
) -> ParsedEmail:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    message_id = normalize_message_id(_header(msg, "Message-ID"))
    senders = _addresses(msg, "From")
    from_name, from_address = senders[0] if senders else ("", "")
    subject = _header(msg, "Subject")

    walk = _Walk()
    _walk(msg, walk)
    raw_html = "\n".join(walk.html)
    if walk.plain:
        original_text = _squeeze_blank_lines("\n".join(walk.plain).split("\n"))
        shown = strip_quoted(original_text)
    elif raw_html:
        original_text = html_to_text(raw_html)
        shown = strip_quoted(html_to_text(raw_html, drop_quotes=True))
    else:
        original_text = shown = ""

    reason = automated_reason(
        msg,
        from_address=from_address,
        subject=subject,
        own_addresses=own_addresses,
        envelope_sender=envelope_sender,
    )
    return ParsedEmail(
        event_id=message_id or raw_sha256_id(raw),
        message_id=message_id,
        in_reply_to=normalize_message_id(_header(msg, "In-Reply-To")),
        references=message_id_list(_header(msg, "References")),
        subject=subject,
        from_address=from_address,
        from_name=from_name,
        to=[address for _, address in _addresses(msg, "To")],
        cc=[address for _, address in _addresses(msg, "Cc")],
        date=_date(msg),
        text=shown,
        original_text=original_text,
        html=sanitize_html(raw_html),
        raw_html=raw_html,
        attachments=walk.attachments,
        automated_reason=reason,
        bounce=_bounce(walk) if reason else None,
        languages=[
            *parse_accept_language(_header(msg, "Content-Language"))[:5],
            *parse_accept_language(_header(msg, "Accept-Language"))[:5],
        ],
    )
