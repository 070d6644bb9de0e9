"""Test helpers: factories built on the real actions, and event capture.

team = create_team("Oslo")
agent = create_agent("kari", team=team, presence="available")
customer = create_customer(team=team)
message, _ = customer_says(customer, "Hello")
with capture_events(expected=["message.created"]) as events: ...
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext

from teamline.accounts.actions import do_create_staff_user, do_set_presence
from teamline.accounts.models import Presence, Role, User
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Inbox, Message
from teamline.customers.actions import do_create_customer
from teamline.customers.models import Customer
from teamline.teams.actions import do_add_team_member, do_create_team
from teamline.teams.models import Team

from . import events as events_module

_seq = itertools.count(1)


def create_team(
    name: str | None = None, *, timezone: str = "Europe/Oslo", region: str = ""
) -> Team:
    name = name or f"Team {next(_seq)}"
    slug = f"{name.lower().replace(' ', '-')}-{next(_seq)}"
    return do_create_team(name=name, slug=slug, timezone=timezone, region=region)


def create_inbox(team: Team, *, name: str = "Web chat") -> Inbox:
    return Inbox.objects.create(name=name, default_team=team)


def create_user(
    username: str | None = None,
    *,
    role: str = Role.AGENT,
    team: Team | None = None,
    supervises: Team | None = None,
    presence: str = Presence.OFFLINE,
    capacity: dict[str, int] | None = None,
    password: str = "password-123",  # noqa: S107 - test factory
    display_name: str = "",
) -> User:
    username = username or f"user{next(_seq)}"
    user = do_create_staff_user(
        username=username,
        password=password,
        role=role,
        display_name=display_name or username.capitalize(),
        capacity=capacity,
    )
    if team is not None:
        do_add_team_member(team, user)
    if supervises is not None:
        do_add_team_member(supervises, user, supervisor=True)
    if presence != Presence.OFFLINE:
        do_set_presence(user, presence, actor=user)
    return user


def create_agent(username: str | None = None, **kwargs: Any) -> User:
    return create_user(username, role=Role.AGENT, **kwargs)


def create_customer(*, team: Team | None = None, name: str = "", **kwargs: Any) -> Customer:
    return do_create_customer(name=name or f"Customer {next(_seq)}", home_team=team, **kwargs)


def customer_says(
    customer: Customer,
    text: str = "Hello",
    *,
    inbox: Inbox | None = None,
    client_id: str | None = None,
) -> tuple[Message, bool]:
    if inbox is None:
        team = customer.home_team or create_team()
        inbox = Inbox.objects.filter(default_team=team).first() or create_inbox(team)
    return do_receive_customer_message(
        inbox=inbox,
        customer=customer,
        text=text,
        channel="webchat",
        external_id=f"{customer.pk}:{client_id or uuid.uuid4().hex}",
    )


class Statements(list[str]):
    """The SQL statements a block ran, without transaction control (see `count_queries`)."""

    def touching(self, table: str) -> list[str]:
        return [sql for sql in self if f'"{table}"' in sql]


_TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


@contextmanager
def count_queries() -> Iterator[Statements]:
    """The statements the block sends to the database (a query budget's measure).

    Inside a test's transaction an action's `atomic()` is a savepoint; in a request it is the
    transaction's BEGIN and COMMIT, which Django does not count either: savepoint statements
    are left out, so the number is what the action costs in production on either database.
    The list is filled when the block ends."""
    statements = Statements()
    with CaptureQueriesContext(connection) as captured:
        yield statements
    statements.extend(
        query["sql"]
        for query in captured.captured_queries
        if not query["sql"].startswith(_TRANSACTION_CONTROL)
    )


@contextmanager
def capture_events(
    expected: Sequence[str] | None = None,
) -> Iterator[list[tuple[events_module.Event, events_module.Recipients]]]:
    """Collect the events sent in the block, with their recipients.

    With `expected` — the event types in the order they must be sent, e.g.
    `["message.created", "conversation.updated"]` — the block's on-commit callbacks run at its
    end, as the commit of a real request would run them, and the types sent must be exactly
    those (AssertionError otherwise). Without it, the caller makes commit hooks run
    (django_capture_on_commit_callbacks(execute=True) or a transactional test).
    """
    sink: list[tuple[events_module.Event, events_module.Recipients]] = []
    events_module._captured.append(sink)
    try:
        if expected is None:
            yield sink
        else:
            with TestCase.captureOnCommitCallbacks(execute=True):
                yield sink
    finally:
        events_module._captured.remove(sink)
    if expected is not None:
        sent = [str(event.type) for event, _ in sink]
        wanted = [str(t) for t in expected]
        assert sent == wanted, f"events sent {sent}, expected {wanted}"


def record_database_hops(monkeypatch: Any, module: Any) -> list[str]:
    """From now on, the name of each function `module` sends to the database thread
    (`database_sync_to_async`), in order: how many hops a socket's work takes. `monkeypatch`:
    pytest's fixture, which undoes this after the test."""
    hops: list[str] = []
    original = module.database_sync_to_async

    def counted(work: Any) -> Any:
        hops.append(work.__name__)
        return original(work)

    monkeypatch.setattr(module, "database_sync_to_async", counted)
    return hops


async def asgi_http(
    app: Any,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
    *,
    host: bytes = b"testserver",
    client: str = "127.0.0.1",
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One HTTP request through an ASGI application, as uvicorn makes it (the client never
    hangs up while the application works): the status, the headers and the body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", host), *headers],
        "client": (client, 50000),
        "server": ("testserver", 80),
    }
    chunks = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            return chunks.pop()
        await asyncio.sleep(3600)  # no disconnect while the app works
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    return start["status"], list(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])
