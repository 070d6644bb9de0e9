"""A damaged calendar file is refused with a reason or read as far as it makes sense; reading
it never fails any other way (the admin would show a server error)."""

from datetime import timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from teamline.core.errors import InvalidInput
from teamline.teams.calendar_import import parse_official_calendar
from teamline.teams.models import MAX_ENTRY_DAYS

CHINA_2025 = (Path(__file__).parent / "fixtures" / "cn-2025-official.ics").read_bytes()
DAMAGE = [
    b"DTSTART;VALUE=DATE:20251301",
    b"DTSTART:2025",
    b"DTSTART;VALUE=DATE:99991231",
    b"DTSTART;TZID=Nowhere/Zone:20251001T090000",
    b"DTEND;VALUE=DATE:00010101",
    b"DTEND;VALUE=DATE:x",
    b"DURATION:PT1H",
    b"DURATION:P400D",
    b"DURATION:garbage",
    b"UID:",
    b"UID:cn-2025-national-day@teamline.test",
    b"RRULE:FREQ=NOPE",
    b"STATUS:CANCELLED",
    b"CATEGORIES:",
    b"X-TEAMLINE-KIND:",
    b"BEGIN:VEVENT",
    b"END:VEVENT",
    b"BEGIN:VTIMEZONE",
    b"END:VCALENDAR",
    b" continued",
    b"\x00",
    b"\xe6\x97",
    b"",
]
EDITS = st.lists(
    st.tuples(
        st.sampled_from(["delete", "insert", "replace", "cut"]),
        st.integers(0, 10_000),
        st.sampled_from(DAMAGE),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=120, deadline=None, database=None)
@given(EDITS)
def test_a_damaged_calendar_is_refused_or_read_never_a_crash(edits):
    lines = CHINA_2025.split(b"\r\n")
    for operation, where, damage in edits:
        index = where % len(lines)
        if operation == "delete" and len(lines) > 1:
            del lines[index]
        elif operation == "insert":
            lines.insert(index, damage)
        elif operation == "replace":
            lines[index] = damage
        else:
            lines[index] = lines[index][: where % (len(lines[index]) + 1)]
    try:
        parsed = parse_official_calendar(b"\r\n".join(lines))
    except InvalidInput as refused:
        assert refused.message
        return
    for entry in parsed.entries:
        assert entry.first_day <= entry.last_day
        assert entry.last_day - entry.first_day < timedelta(days=MAX_ENTRY_DAYS)
        assert entry.uid and entry.name
