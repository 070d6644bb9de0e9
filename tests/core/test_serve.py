"""`teamline serve --workers N`: several web processes only where they can share events and
writes (PostgreSQL + Redis); on SQLite with the in-memory layer the server refuses clearly,
before it starts anything."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


def test_several_web_processes_on_sqlite_are_refused_with_what_they_need() -> None:
    with pytest.raises(CommandError, match="PostgreSQL and Redis"):
        call_command("serve", "--workers", "2")


@pytest.mark.parametrize("workers", ["0", "-1", "65"])
def test_a_number_of_processes_out_of_range_is_refused(workers: str) -> None:
    with pytest.raises(CommandError, match="from 1 to 64"):
        call_command("serve", "--workers", workers)
