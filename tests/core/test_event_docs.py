"""docs/events.md is the catalog integrators read: every event type Teamline sends is in it."""

import re
from pathlib import Path

from teamline.core.events import EventType

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_every_event_type_is_documented_in_the_catalog_table():
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", DOC.read_text(), flags=re.MULTILINE))
    assert sorted(t.value for t in EventType if t.value not in documented) == []
    assert documented <= {t.value for t in EventType}, "the table names an event nobody sends"
