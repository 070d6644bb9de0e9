"""A value kept per process (core/kept.py): read once per window, forgotten when its source is
saved here (and again at the commit), never kept from a read that a save overtook."""

from __future__ import annotations

import threading

import pytest
from django.db import transaction

from teamline.core.kept import KeptPerProcess


class Row:
    """A database row as another process and this one see it: its value, and how often it was
    read."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.reads = 0

    def read(self) -> str:
        self.reads += 1
        return self.value


def test_a_value_is_read_once_per_window_and_again_once_it_passed():
    kept: KeptPerProcess[str, str] = KeptPerProcess()
    row = Row("secret-1")

    assert kept.get("inbox", row.read, seconds=3600) == "secret-1"
    row.value = "secret-2"  # changed by another process: nothing here hears of it
    assert kept.get("inbox", row.read, seconds=3600) == "secret-1"
    assert row.reads == 1

    assert kept.get("inbox", row.read, seconds=0) == "secret-2"  # the window has passed
    assert row.reads == 2


def test_each_key_is_kept_on_its_own():
    kept: KeptPerProcess[int, str] = KeptPerProcess()
    oslo, bergen = Row("Oslo"), Row("Bergen")

    assert kept.get(1, oslo.read, seconds=3600) == "Oslo"
    assert kept.get(2, bergen.read, seconds=3600) == "Bergen"
    assert kept.get(1, oslo.read, seconds=3600) == "Oslo"
    assert (oslo.reads, bergen.reads) == (1, 1)


def test_forgetting_makes_every_key_read_again():
    kept: KeptPerProcess[int, str] = KeptPerProcess()
    oslo, bergen = Row("Oslo"), Row("Bergen")
    kept.get(1, oslo.read, seconds=3600)
    kept.get(2, bergen.read, seconds=3600)

    kept.forget()

    kept.get(1, oslo.read, seconds=3600)
    kept.get(2, bergen.read, seconds=3600)
    assert (oslo.reads, bergen.reads) == (2, 2)


def test_a_read_overtaken_by_a_save_is_answered_but_not_kept():
    kept: KeptPerProcess[str, str] = KeptPerProcess()
    row = Row("old")

    def read_then_saved_meanwhile() -> str:
        value = row.read()
        row.value = "new"
        kept.forget()  # the save's signal, while the read was on its way back
        return value

    assert kept.get("inbox", read_then_saved_meanwhile, seconds=3600) == "old"
    assert kept.get("inbox", row.read, seconds=3600) == "new"
    assert kept.get("inbox", row.read, seconds=3600) == "new"
    assert row.reads == 2


def test_a_read_in_another_thread_that_a_save_overtook_is_not_kept():
    kept: KeptPerProcess[str, str] = KeptPerProcess()
    row = Row("old")
    read_done, saved = threading.Event(), threading.Event()
    answers: list[str] = []

    def slow_read() -> str:
        value = row.read()
        read_done.set()
        saved.wait(5)  # the request thread is descheduled before it stores what it read
        return value

    reader = threading.Thread(
        target=lambda: answers.append(kept.get("inbox", slow_read, seconds=3600))
    )
    reader.start()
    assert read_done.wait(5)
    row.value = "new"
    kept.forget()  # saved in this thread meanwhile
    saved.set()
    reader.join(5)

    assert answers == ["old"]
    assert kept.get("inbox", row.read, seconds=3600) == "new"


@pytest.mark.django_db
def test_a_save_forgets_at_once_and_again_when_it_commits(django_capture_on_commit_callbacks):
    kept: KeptPerProcess[str, str] = KeptPerProcess()
    row = Row("old")
    kept.get("inbox", row.read, seconds=3600)

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        kept.source_changed(using="default")  # post_save of the row, inside the transaction
        # Until the commit other connections still read the old row, and keep it…
        assert kept.get("inbox", row.read, seconds=3600) == "old"
        row.value = "new"
        assert kept.get("inbox", row.read, seconds=3600) == "old"

    # … so the commit forgets it again.
    assert kept.get("inbox", row.read, seconds=3600) == "new"
    assert row.reads == 3
