"""Masking card numbers, IBANs, national identity numbers and one-time codes (docs/security.md).

Pure functions, no models, no I/O. Everything is found by its checksum, never by its shape
alone, so order numbers, phone numbers and amounts are left as typed:

- card: a Luhn-valid PAN of 13-19 digits, in any spacing (spaces, dashes, dots, none; groups of
  4/4/4/4, Amex 4/6/5, …), not starting with 0 → `•••• •••• •••• 1111` (the last four kept, so
  people can still talk about "the card ending 1111"); a 3-4 digit security code right after
  it ("… 1111 123", "cvv 123", "CVC: 1234", "security code 123"), an expiry in between
  allowed → `•••`.
- iban: two letters, two check digits and the account, with or without spaces, passing the
  ISO 13616 mod-97 check and the country's length (other countries: 15-34) → `IBAN ••••`.
- national_id → `ID ••••`: a Norwegian fødselsnummer or D-number (11 digits, a date and two
  mod-11 control digits), an Estonian isikukood (11 digits, a date and the two-stage weighted
  mod 11), a Chinese resident identity number (18 characters, a date and the ISO 7064
  MOD 11-2 check character, X included), a Portuguese NIF (9 digits, mod 11) — the NIF only
  when the text names it (NIF, NIPC, contribuinte, fiscal, tax, VAT): one 9-digit number in
  eleven passes its check, so a bare one is more likely a phone number or an order.
- otp: a 4-8 digit code in a text that announces one ("your code is 123456", "koden din er
  123456", "验证码：123456", "sinu kood on 123456", "o seu código é 123456") → `••••••`.

The masks are fixed (they carry no digit of what they hide, but the card's last four) and
nothing in them is found again, so redacting twice changes nothing. Work is linear in the
length of the text: every pattern is bounded and no candidate is longer than 34 characters.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from datetime import date
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    CARD = "card"
    IBAN = "iban"
    NATIONAL_ID = "national_id"
    OTP = "otp"


ALL_KINDS: frozenset[str] = frozenset(kind.value for kind in Kind)

CARD_MASK = "•••• •••• •••• {last4}"
CVV_MASK = "•••"
IBAN_MASK = "IBAN ••••"
NATIONAL_ID_MASK = "ID ••••"
OTP_MASK = "••••••"

# The text a value may stand in: nothing longer than this is scanned (callers bound their
# texts far below; a raw email's HTML is the longest).
MAX_CHARS = 2_000_000
# Nesting walked in JSON-like data (core.jsonsafe refuses deeper input at the edges).
MAX_DEPTH = 64


def kinds_of(value: Any) -> frozenset[str]:
    """The known kinds in a stored setting (a list of names); unknown names are dropped."""
    if not isinstance(value, list | tuple | set | frozenset):
        return frozenset()
    return frozenset(str(item) for item in value if str(item) in ALL_KINDS)


# --- checksums ------------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        number = ord(char) - 48
        if position % 2:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return total % 10 == 0


def _plausible_date(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _mod11_control(digits: str, weights: tuple[int, ...]) -> int | None:
    """The Norwegian control digit: 11 - weighted sum mod 11 (11 → 0, 10 → no valid number)."""
    control = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11
    if control == 11:
        return 0
    return None if control == 10 else control


def norwegian_id_valid(digits: str) -> bool:
    """Fødselsnummer DDMMYYIIICC, D-number (day + 40) and H-number (month + 40)."""
    if len(digits) != 11 or not digits.isdigit():
        return False
    day, month = int(digits[0:2]), int(digits[2:4])
    if day > 40:
        day -= 40
    if 40 < month <= 52:
        month -= 40
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return False
    k1 = _mod11_control(digits[:9], (3, 7, 6, 1, 8, 9, 4, 5, 2))
    k2 = _mod11_control(digits[:10], (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
    return k1 == int(digits[9]) and k2 == int(digits[10])


def estonian_id_valid(digits: str) -> bool:
    """Isikukood GYYMMDDSSSC: G 3-6 (born 1900-2099), a real date, and the check digit by the
    first weights, or the second when the first give 10 (10 again → 0)."""
    if len(digits) != 11 or not digits.isdigit():
        return False
    century = int(digits[0])
    if not 3 <= century <= 6:
        return False
    year = 1800 + (century - 1) // 2 * 100 + int(digits[1:3])
    if not _plausible_date(year, int(digits[3:5]), int(digits[5:7])):
        return False
    values = [int(d) for d in digits[:10]]
    check = sum(v * w for v, w in zip(values, (1, 2, 3, 4, 5, 6, 7, 8, 9, 1), strict=True)) % 11
    if check == 10:
        check = sum(v * w for v, w in zip(values, (3, 4, 5, 6, 7, 8, 9, 1, 2, 3), strict=True)) % 11
        check = 0 if check == 10 else check
    return check == int(digits[10])


_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_CHECK = "10X98765432"


def chinese_id_valid(value: str) -> bool:
    """18 characters: 6-digit region, YYYYMMDD birth date, 3-digit sequence, ISO 7064
    MOD 11-2 check character (0-9 or X)."""
    value = value.upper()
    if len(value) != 18 or not value[:17].isdigit() or value[0] in "09":
        return False
    if not _plausible_date(int(value[6:10]), int(value[10:12]), int(value[12:14])):
        return False
    if not 1900 <= int(value[6:10]) <= 2099:
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _CN_WEIGHTS, strict=True))
    return _CN_CHECK[total % 11] == value[17]


def portuguese_nif_valid(digits: str) -> bool:
    """9 digits: the first says who (not 0, and 4 only as 45), the last is mod 11."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    if digits[0] == "0" or (digits[0] == "4" and digits[1] != "5"):
        return False
    remainder = sum(int(d) * (9 - i) for i, d in enumerate(digits[:8])) % 11
    return int(digits[8]) == (0 if remainder < 2 else 11 - remainder)


# ISO 13616 registry: each country's IBAN length.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def iban_valid(value: str) -> bool:
    value = value.upper()
    if not (15 <= len(value) <= 34 and value.isalnum() and value.isascii()):
        return False
    if not (value[:2].isalpha() and value[2:4].isdigit()):
        return False
    expected = IBAN_LENGTHS.get(value[:2])
    if expected is not None and len(value) != expected:
        return False
    rearranged = value[4:] + value[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


# --- finding them in text -------------------------------------------------------------------

# A run of digits joined by single separators; a trailing X (a Chinese id's check character).
# Not glued to letters, digits or a "+" (a phone number) on either side.
# In HTML a space may be written &nbsp; or &#160;.
_CHUNK = re.compile(
    r"(?<![0-9A-Za-z+])\d(?:(?:[ .\-\u00a0]|&nbsp;|&#160;)?\d)*(?:[Xx](?![0-9A-Za-z]))?"
    r"(?![0-9A-Za-z])"
)
_GROUP = re.compile(r"\d+[Xx]?")
_DIGIT = re.compile(r"\d")
_PAN_MIN, _PAN_MAX = 13, 19
_LONGEST_CANDIDATE = 19
# A NIF, a Norwegian or Estonian id, a card (a Chinese id is 18 long, like some cards).
_CANDIDATE_LENGTHS = frozenset({9, 11, *range(_PAN_MIN, _PAN_MAX + 1)})

_CVV_WORDS = (
    r"cvv2?|cvc2?|cvn|cid|csc|card\s+verification\s+(?:code|value)|security\s+code"
    r"|sikkerhetskode|kontrollsiffer|turvakood|turvakoodi|kontrollkood"
    r"|c[óo]digo\s+de\s+seguran[çc]a|cód\.?\s*seg\w*|安全码|安全碼|验证码|驗證碼"
)
# After a card number: an optional expiry, then a keyword or only a separator, then the code.
_AFTER_CARD = re.compile(
    r"[\s,;/]{0,3}"
    r"(?:(?:exp\w*|valid\w*|utl[øo]p\w*|aegub\w*|validade|有效期)?[\s.:]{0,3}"
    r"\d{1,2}\s?/\s?\d{2,4}[\s,;]{0,3})?"
    r"(?:[^\d\n]{0,24}?(?:" + _CVV_WORDS + r")[^\d\n]{0,10}?)?"
    r"(?<![\d])(\d{3,4})(?![\d]|[ .\-]\d)",
    re.IGNORECASE,
)

_IBAN = re.compile(r"(?<![0-9A-Za-z])[A-Za-z]{2}\d{2}(?:[ \-]?[0-9A-Za-z]){11,30}")

_NIF_CUE = re.compile(r"nif|nipc|contribuinte|fiscal|tax|vat|税号|稅號|纳税|納稅", re.IGNORECASE)
_NIF_CUE_WINDOW = 40

_OTP_WORDS = (
    r"one[\s\-]?time\s+(?:pass)?code|passcode|otp|pin|code|koden|kode|engangskode"
    r"|bekreftelseskode|verifiseringskode|sikkerhetskode|engangspassord|kood|koodi"
    r"|kinnituskood|turvakood|ühekordne\s+kood|c[óo]digo"
    r"|验证码|驗證碼|校验码|校驗碼|动态码|動態碼|确认码|確認碼|动态密码|動態密碼"
)
# A code, then (looking back from it) the word that announced it and what stands between.
_OTP_CODE = re.compile(r"(?<![\d])(?:\d{4,8}|\d{3}[ \-]\d{3})(?![\d]|[ .\-]\d)")
_OTP_BEFORE = re.compile(
    r"(?<![A-Za-zÀ-ÿ])(?:" + _OTP_WORDS + r")[A-Za-zÀ-ÿ]{0,4}"
    r"(?P<gap>[^\d\n.!?。！？•]{0,24})$",
    re.IGNORECASE,
)
_OTP_LOOKBACK = 48
# Words that make "code" a place, a product or an order, not a one-time code. A SIM's PUK is
# what an operator's agent sends on purpose to unblock it.
_NOT_OTP_BEFORE = re.compile(
    r"(?:zip|post(?:al)?|area|country|bar|promo|discount|voucher|coupon|product|order|"
    r"tracking|item|article|error|status|short|sender|country|dialling|dialing|puk)[\s\-]*$",
    re.IGNORECASE,
)
_NOT_OTP_GAP = re.compile(
    r"postal|postais|barras|produto|encomenda|pedido|order|ordre|bestilling|tellimus|invoice"
    r"|faktura|fatura|arve|订单|訂單",
    re.IGNORECASE,
)


def _ascii_digits(value: str) -> str:
    """Digits of any script (full-width ４, Arabic-Indic ٤…) as ASCII, so checksums see them."""
    if value.isascii():
        return value
    return "".join(str(int(ch)) if ch.isdigit() else ch for ch in value)


def _national_id(candidate: str, text: str, start: int) -> bool:
    if len(candidate) == 18:
        return chinese_id_valid(candidate)
    if not candidate.isdigit():
        return False
    if len(candidate) == 11:
        return norwegian_id_valid(candidate) or estonian_id_valid(candidate)
    if len(candidate) == 9 and portuguese_nif_valid(candidate):
        return bool(_NIF_CUE.search(text, max(0, start - _NIF_CUE_WINDOW), start))
    return False


def _is_pan(candidate: str) -> bool:
    return (
        _PAN_MIN <= len(candidate) <= _PAN_MAX
        and candidate.isdigit()
        and candidate[0] != "0"
        and luhn_valid(candidate)
    )


Replacement = tuple[int, int, str]


def _digit_runs(text: str, kinds: frozenset[str], found: list[str]) -> list[Replacement]:
    """Cards (and their codes) and national ids among the digit runs of `text`: inside one run
    the longest valid number starting at each group wins, a national id before a card."""
    want_card = Kind.CARD in kinds
    want_id = Kind.NATIONAL_ID in kinds
    replacements: list[Replacement] = []
    consumed = 0
    for chunk in _CHUNK.finditer(text):
        groups = [
            (chunk.start() + g.start(), chunk.start() + g.end(), _ascii_digits(g.group()))
            for g in _GROUP.finditer(chunk.group())
            if chunk.group()[max(0, g.start() - 1) : g.start()] != "#"
        ]
        i = 0
        while i < len(groups):
            if groups[i][0] < consumed:
                i += 1
                continue
            spans: list[tuple[int, str]] = []
            digits = ""
            for j in range(i, len(groups)):
                if digits and not digits[-1].isdigit():
                    break  # an X only ends a number
                digits += groups[j][2]
                if len(digits) > _LONGEST_CANDIDATE:
                    break
                spans.append((j, digits))
            matched = False
            spans = [(j, c) for j, c in spans if len(c) in _CANDIDATE_LENGTHS]
            pans = {j for j, candidate in spans if _is_pan(candidate)}
            for j, candidate in reversed(spans):
                start, end = groups[i][0], groups[j][1]
                if j - 1 in pans and j > i and 3 <= len(groups[j][2]) <= 4:
                    continue  # a card and its security code, not a longer card
                if want_id and _national_id(candidate, text, start):
                    replacements.append((start, end, NATIONAL_ID_MASK))
                    found.append(Kind.NATIONAL_ID)
                elif want_card and _is_pan(candidate):
                    replacements.append((start, end, CARD_MASK.format(last4=candidate[-4:])))
                    found.append(Kind.CARD)
                    code = _AFTER_CARD.match(text, end)
                    if code is not None:
                        replacements.append((code.start(1), code.end(1), CVV_MASK))
                        found.append(Kind.CARD)
                        end = code.end(1)
                else:
                    continue
                consumed = end
                i = j + 1
                matched = True
                break
            if not matched:
                i += 1
    return replacements


def _ibans(text: str, found: list[str]) -> list[Replacement]:
    replacements: list[Replacement] = []
    for match in _IBAN.finditer(text):
        # The pattern may run on into the next word: try each end, longest first, that stops
        # where the text's alphanumerics stop.
        raw = match.group()
        ends = [k + 1 for k, ch in enumerate(raw) if ch.isalnum()]
        for end in reversed(ends):
            position = match.start() + end
            if position < len(text) and text[position].isalnum() and text[position].isascii():
                continue
            compact = re.sub(r"[ \-]", "", raw[:end])
            if iban_valid(compact):
                replacements.append((match.start(), position, IBAN_MASK))
                found.append(Kind.IBAN)
                break
    return replacements


def _otps(text: str, found: list[str]) -> list[Replacement]:
    replacements: list[Replacement] = []
    for code in _OTP_CODE.finditer(text):
        window = text[max(0, code.start() - _OTP_LOOKBACK) : code.start()]
        announced = _OTP_BEFORE.search(window)
        if announced is None:
            continue
        before = window[: announced.start()]
        if _NOT_OTP_BEFORE.search(before[-14:]) or _NOT_OTP_GAP.search(announced.group("gap")):
            continue
        replacements.append((code.start(), code.end(), OTP_MASK))
        found.append(Kind.OTP)
    return replacements


def _apply(text: str, replacements: list[Replacement]) -> str:
    if not replacements:
        return text
    parts: list[str] = []
    position = 0
    for start, end, mask in sorted(replacements):
        if start < position:
            continue
        parts.append(text[position:start])
        parts.append(mask)
        position = end
    parts.append(text[position:])
    return "".join(parts)


def redact_found(text: str, kinds: Iterable[str] = ALL_KINDS) -> tuple[str, list[str]]:
    """`text` with every sensitive value of `kinds` masked, and the kinds found (one entry per
    value, never the value)."""
    wanted = frozenset(kinds) & ALL_KINDS
    if not text or not wanted or len(text) > MAX_CHARS:
        # Over MAX_CHARS nothing of ours is that long; masked as a whole would lose the data.
        return text, []
    if _DIGIT.search(text) is None:
        return text, []  # every kind has digits
    found: list[str] = []
    if Kind.IBAN in wanted:
        text = _apply(text, _ibans(text, found))
    if wanted & {Kind.CARD, Kind.NATIONAL_ID}:
        text = _apply(text, _digit_runs(text, wanted, found))
    if Kind.OTP in wanted:
        text = _apply(text, _otps(text, found))
    return text, found


def redact(text: str, kinds: Iterable[str] = ALL_KINDS) -> str:
    """`text` with every sensitive value of `kinds` masked (see the module docstring)."""
    return redact_found(text, kinds)[0]


# --- structured data ------------------------------------------------------------------------

_ID_KEYS = frozenset(
    {
        "id",
        "from",
        "to",
        "cc",
        "bcc",
        "sender",
        "recipient",
        "recipients",
        "references",
        "in_reply_to",
        "reply_to",
        "fromusername",
        "tousername",
        "createtime",
        "signature",
        "token",
        "nonce",
        "encrypt",
    }
)
_ID_SUFFIXES = ("id", "sid", "ids", "url", "uri", "timestamp", "time", "date", "_at", "phone")


def is_identifier_key(key: str) -> bool:
    """A field that names something (an id, an address, a time, a URL) rather than saying it:
    its value is never redacted, so a provider id that happens to pass a checksum still finds
    its message. Free text (body, text, caption, subject, filename, …) always is."""
    name = key.lower().replace("-", "_")
    return name in _ID_KEYS or name.endswith(_ID_SUFFIXES) or "phone_number" in name


def redact_data(
    value: Any,
    kinds: Iterable[str] = ALL_KINDS,
    *,
    found: list[str] | None = None,
    _depth: int = 0,
) -> Any:
    """A JSON-like value with every string redacted, except under identifier keys
    (is_identifier_key). Returns the same object when nothing changed."""
    wanted = frozenset(kinds)
    sink = found if found is not None else []
    if isinstance(value, str):
        text, hits = redact_found(value, wanted)
        sink.extend(hits)
        return text
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**8:
        # A card number sent as a JSON number where text belongs: masked as text.
        text, hits = redact_found(str(value), wanted)
        sink.extend(hits)
        return text if hits else value
    if _depth >= MAX_DEPTH or not wanted:
        return value
    if isinstance(value, dict):
        changed = False
        result: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and is_identifier_key(key):
                result[key] = item
                continue
            new = redact_data(item, wanted, found=sink, _depth=_depth + 1)
            changed = changed or new is not item
            result[key] = new
        return result if changed else value
    if isinstance(value, list | tuple):
        items = [redact_data(item, wanted, found=sink, _depth=_depth + 1) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    return value


def counts(found: Iterable[str]) -> dict[str, int]:
    """How many of each kind: what may be logged about a redaction."""
    result: dict[str, int] = {}
    for kind in found:
        result[str(kind)] = result.get(str(kind), 0) + 1
    return result


# --- logging --------------------------------------------------------------------------------


class RedactingFilter(logging.Filter):
    """A log handler's filter: a line that would print a card number, IBAN, national id or
    one-time code prints the mask instead. The message paths never log what a customer typed;
    this is what keeps a line that does (a provider's error echoing a request) clean."""

    def __init__(self, name: str = "", redactor: Callable[[str], str] = redact) -> None:
        super().__init__(name)
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        if self._redact(message) == message:
            return True
        # Mask the arguments one by one first: formatters that read them (uvicorn's access
        # line) keep working. What still shows a value is replaced by the masked line.
        if isinstance(record.msg, str):
            record.msg = self._redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: self._redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        try:
            still = record.getMessage()
        except Exception:
            still = message
        cleaned = self._redact(still)
        if cleaned != still:
            record.msg = cleaned
            record.args = None
        return True
