"""Reading a team's official calendar from an ICS file (RFC 5545): holiday periods and make-up
working days, such as the State Council's yearly notice for mainland China (Golden Week, the
Spring Festival), which moves weekend days to working days. Pure parsing, no database: the
action `teams.actions.do_import_team_calendar` stores the result.

What an event means:
- all-day events only (`DTSTART;VALUE=DATE`); `DTEND` is exclusive as the RFC says, or
  `DURATION` in days, or one day; at most `MAX_ENTRY_DAYS` days;
- a *make-up working day* when `X-TEAMLINE-KIND:WORKING-DAY`, or a category or the summary
  says so ("working day", "workday", "make-up day", "补班", "上班", a summary ending in "班");
  a *holiday* otherwise (or with `X-TEAMLINE-KIND:HOLIDAY`);
- `STATUS:CANCELLED` removes an entry imported earlier with the same UID;
- the UID identifies the entry, so importing the same file again changes nothing.
Events that cannot be taken (timed, repeating, without a UID, too long) are skipped with a
reason the admin sees; a file that is not a calendar at all is refused with InvalidInput.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import icalendar

from teamline.core.errors import InvalidInput

from .models import MAX_ENTRY_DAYS, CalendarEntryKind

MAX_CALENDAR_BYTES = 1_000_000
MAX_EVENTS = 2_000

_WORKING_WORDS = re.compile(
    r"\b(make-?up (working )?day|working day|workday|work day)\b|补班|上班|班\)?\s*$|班）\s*$",
    re.IGNORECASE,
)
_KINDS = {
    "WORKING-DAY": CalendarEntryKind.WORKING_DAY,
    "WORKING_DAY": CalendarEntryKind.WORKING_DAY,
    "WORKDAY": CalendarEntryKind.WORKING_DAY,
    "HOLIDAY": CalendarEntryKind.HOLIDAY,
}


@dataclass(frozen=True)
class ParsedEntry:
    uid: str
    kind: str
    name: str
    first_day: date
    last_day: date
    cancelled: bool = False


@dataclass
class ParsedCalendar:
    name: str
    entries: list[ParsedEntry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def parse_official_calendar(data: bytes) -> ParsedCalendar:
    """The entries of an ICS file. Raises InvalidInput when it is not a readable calendar."""
    if len(data) > MAX_CALENDAR_BYTES:
        raise InvalidInput(f"The file is larger than {MAX_CALENDAR_BYTES // 1000} kB.")
    if not data.strip():
        raise InvalidInput("The file is empty.")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("The file is not UTF-8 text, so not an ICS calendar.") from exc
    # Whatever the parser chokes on in an uploaded file is bad input, not a server error.
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except Exception as exc:
        raise InvalidInput(f"The file is not a readable ICS calendar ({_short(exc)}).") from exc
    if calendar.name != "VCALENDAR":
        raise InvalidInput("The file does not hold a VCALENDAR.")
    events = list(calendar.walk("VEVENT"))
    if not events:
        raise InvalidInput("The calendar has no events.")
    if len(events) > MAX_EVENTS:
        raise InvalidInput(f"The calendar has more than {MAX_EVENTS} events.")
    parsed = ParsedCalendar(name=_text(calendar.get("X-WR-CALNAME"))[:200])
    seen: set[str] = set()
    for event in events:
        entry = _entry(event, parsed.skipped)
        if entry is None:
            continue
        if entry.uid in seen:
            parsed.skipped.append(f"{_label(event)}: UID {entry.uid} appears more than once")
            continue
        seen.add(entry.uid)
        parsed.entries.append(entry)
    return parsed


def _entry(event: Any, skipped: list[str]) -> ParsedEntry | None:
    label = _label(event)
    uid = _text(event.get("UID"))
    if not uid:
        skipped.append(f"{label}: no UID, so it could not be imported twice without duplicates")
        return None
    if len(uid) > 255:
        skipped.append(f"{label}: the UID is longer than 255 characters")
        return None
    if event.get("RRULE") is not None or event.get("RECURRENCE-ID") is not None:
        skipped.append(f"{label}: repeating events are not supported, list each day")
        return None
    first = _day(event.get("DTSTART"))
    if first is None:
        if event.get("DTSTART") is not None and _dt(event.get("DTSTART")) is None:
            skipped.append(f"{label}: DTSTART is not a valid date")
            return None
        skipped.append(f"{label}: not an all-day event (DTSTART must be a date)")
        return None
    last = _last_day(event, first)
    if isinstance(last, str):
        skipped.append(f"{label}: {last}")
        return None
    if last < first:
        skipped.append(f"{label}: it ends before it begins")
        return None
    if (last - first).days >= MAX_ENTRY_DAYS:
        skipped.append(f"{label}: longer than {MAX_ENTRY_DAYS} days")
        return None
    name = _text(event.get("SUMMARY"))[:200] or "Official calendar"
    return ParsedEntry(
        uid=uid,
        kind=_kind(event, name),
        name=name,
        first_day=first,
        last_day=last,
        cancelled=_text(event.get("STATUS")).upper() == "CANCELLED",
    )


def _last_day(event: Any, first: date) -> date | str:
    """The event's last day (DTEND is exclusive), or why it has none."""
    if event.get("DTEND") is not None:
        end = _day(event.get("DTEND"))
        if end is None:
            return "DTEND is not a date"
        if end == date.min:
            return "it ends before it begins"
        return end - timedelta(days=1)
    if event.get("DURATION") is None:
        return first
    duration = _dt(event.get("DURATION"))
    if not isinstance(duration, timedelta) or duration.days < 1:
        return "DURATION is not a whole number of days"
    if duration.days > MAX_ENTRY_DAYS:
        return f"longer than {MAX_ENTRY_DAYS} days"
    if first > date.max - duration:
        return "it ends after the year 9999"
    return first + timedelta(days=duration.days - 1)


def _kind(event: Any, name: str) -> str:
    explicit = _text(event.get("X-TEAMLINE-KIND")).upper().replace(" ", "-")
    if explicit in _KINDS:
        return _KINDS[explicit]
    categories = event.get("CATEGORIES")
    lists = categories if isinstance(categories, list) else [categories]
    words = [
        str(word) for group in lists if group is not None for word in getattr(group, "cats", [])
    ]
    if any(_WORKING_WORDS.search(word) for word in [*words, name]):
        return CalendarEntryKind.WORKING_DAY
    return CalendarEntryKind.HOLIDAY


def _dt(prop: Any) -> Any:
    """A property's value, or None when it is missing or broken (icalendar keeps a malformed
    value as a broken property that raises on access)."""
    if prop is None:
        return None
    try:
        return prop.dt
    except Exception:
        return None


def _day(prop: Any) -> date | None:
    value = _dt(prop)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).strip()


def _label(event: Any) -> str:
    name = _text(event.get("SUMMARY")) or "an event"
    value = _dt(event.get("DTSTART"))
    return f"{name!r} on {value.isoformat()}" if isinstance(value, date) else repr(name)


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]
