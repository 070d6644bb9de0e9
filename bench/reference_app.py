"""Bare reference pipeline for bench/ws_throughput.py: no Teamline code, no Django ORM.

It speaks the subset of Teamline's two socket protocols (docs/websockets.md) that the benchmark
client uses, so the very same client code drives both servers:

- ``POST /widget/api/<anything>/session`` → ``{"token": "<random>"}`` (no database work);
  any other HTTP request → 200 ``ok`` (readiness probe).
- ``POST /ref/webhooks/meta`` (bench/webhooks_throughput.py's reference arm): a bare signed
  webhook endpoint. It checks ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with
  ``BENCH_REF_META_SECRET``), takes the provider event id (the WhatsApp message id), INSERTs the
  raw body under it (``bench_reference_webhook``, unique event id: a retry is absorbed) and
  answers 200; 401 for a bad signature, 400 without an event id.
- ``/ws/desk/``: a plain Channels consumer that joins the group ``team`` and forwards every group
  event as ``{"type": "event", "event": ..., "data": ...}``.
- ``/ws/widget/``: ``{"type": "auth"}`` → ``{"type": "ready", ...}``; each
  ``{"type": "message", "client_id", "text"}`` does exactly one database INSERT (its own
  transaction), one channel-layer ``group_send`` to ``team`` (which the layer fans out to every
  desk socket, like Teamline's team group) and answers ``{"type": "ack", ...}``.
- ``POST /bench/reply`` ``{"token", "text"}`` (an agent's reply, for ``--idle-widgets``): one
  INSERT and one ``group_send`` to the group of the widget socket that authenticated with that
  session token, which gets ``{"type": "event", "event": "message.created", "data": ...}``.

Database (``BENCH_REF_DATABASE``): a SQLite file (WAL, synchronous=NORMAL, like Teamline's
embedded mode), written from one dedicated thread with one connection; or a ``postgres://`` URL,
written with a small pool of autocommit psycopg async connections (``BENCH_REF_PG_POOL``,
default 4). The table ``bench_reference_message`` must exist (the harness creates it).
Channel layer: InMemoryChannelLayer (default capacity, or ``BENCH_REF_INMEMORY_CAPACITY``), or
RedisPubSubChannelLayer when ``BENCH_REF_REDIS_URL`` is set (prefix ``BENCH_REF_CHANNEL_PREFIX``).

Run: ``uvicorn reference_app:application --app-dir bench --lifespan off`` with that environment.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings

DATABASE = os.environ["BENCH_REF_DATABASE"]
REDIS_URL = os.environ.get("BENCH_REF_REDIS_URL", "")
PG_POOL_SIZE = int(os.environ.get("BENCH_REF_PG_POOL", "4"))
META_SECRET = os.environ.get("BENCH_REF_META_SECRET", "").encode()
GROUP = "team"
INSERT = (
    "INSERT INTO bench_reference_message (client_id, text, created_at) VALUES ({p}, {p}, {p}) "
    "RETURNING id"
)
INSERT_WEBHOOK = (
    "INSERT INTO bench_reference_webhook (event_id, body, received_at) VALUES ({p}, {p}, {p}) "
    "ON CONFLICT (event_id) DO NOTHING"
)

if REDIS_URL:
    layer: dict[str, Any] = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": os.environ.get("BENCH_REF_CHANNEL_PREFIX", "benchref"),
        },
    }
else:
    layer = {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    if capacity := os.environ.get("BENCH_REF_INMEMORY_CAPACITY"):  # what-if runs only
        layer["CONFIG"] = {"capacity": int(capacity)}
# Channels reads its layer from Django settings; nothing else of Django is configured or used.
settings.configure(CHANNEL_LAYERS={"default": layer}, INSTALLED_APPS=[], DATABASES={})

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class SqliteWriter:
    """One connection used from one thread: SQLite has a single writer anyway."""

    def __init__(self, filename: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._filename = filename
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self._filename, isolation_level=None, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        return self._conn

    def _insert(self, client_id: str, text: str, created_at: float) -> int:
        row = self._connection().execute(INSERT.format(p="?"), (client_id, text, created_at))
        return int(row.fetchone()[0])

    async def insert(self, client_id: str, text: str, created_at: float) -> int:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._insert, client_id, text, created_at)

    def _store_webhook(self, event_id: str, body: bytes, received_at: float) -> None:
        self._connection().execute(INSERT_WEBHOOK.format(p="?"), (event_id, body, received_at))

    async def store_webhook(self, event_id: str, body: bytes, received_at: float) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._store_webhook, event_id, body, received_at)


class PostgresWriter:
    """A few autocommit asyncio connections, handed out through a queue."""

    def __init__(self, url: str, size: int) -> None:
        self._url = url
        self._size = size
        self._pool: asyncio.Queue[Any] | None = None
        self._lock = asyncio.Lock()

    async def _get_pool(self) -> asyncio.Queue[Any]:
        async with self._lock:
            if self._pool is None:
                import psycopg

                pool: asyncio.Queue[Any] = asyncio.Queue()
                for _ in range(self._size):
                    pool.put_nowait(
                        await psycopg.AsyncConnection.connect(self._url, autocommit=True)
                    )
                self._pool = pool
        return self._pool

    async def insert(self, client_id: str, text: str, created_at: float) -> int:
        pool = self._pool or await self._get_pool()
        conn = await pool.get()
        try:
            cursor = await conn.execute(INSERT.format(p="%s"), (client_id, text, created_at))
            row = await cursor.fetchone()
            return int(row[0])
        finally:
            pool.put_nowait(conn)

    async def store_webhook(self, event_id: str, body: bytes, received_at: float) -> None:
        pool = self._pool or await self._get_pool()
        conn = await pool.get()
        try:
            await conn.execute(INSERT_WEBHOOK.format(p="%s"), (event_id, body, received_at))
        finally:
            pool.put_nowait(conn)


writer: SqliteWriter | PostgresWriter = (
    PostgresWriter(DATABASE, PG_POOL_SIZE)
    if DATABASE.startswith(("postgres://", "postgresql://"))
    else SqliteWriter(DATABASE)
)


class DeskConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def event_staff(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": "event", "event": message["event"], "data": message["data"]})


def customer_group(token: str) -> str:
    return "c" + hashlib.sha256(token.encode()).hexdigest()[:32]


class WidgetConsumer(AsyncJsonWebsocketConsumer):
    async def event_customer(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": "event", "event": message["event"], "data": message["data"]})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "auth":
            group = customer_group(str(content.get("token")))
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups.append(group)
            await self.send_json(
                {"type": "ready", "team": {}, "messages": [], "conversation": None}
            )
        elif kind == "message":
            client_id, text = str(content["client_id"]), str(content["text"])
            created_at = time.time()
            message_id = await writer.insert(client_id, text, created_at)
            message = {
                "id": message_id,
                "client_id": client_id,
                "text": text,
                "created_at": created_at,
            }
            await self.channel_layer.group_send(
                GROUP, {"type": "event.staff", "event": "message.created", "data": message}
            )
            await self.send_json({"type": "ack", "client_id": client_id, "message": message})
        else:
            await self.send_json({"type": "error", "code": "invalid", "detail": "unknown type"})


def meta_event_id(body: bytes) -> str:
    """The WhatsApp message id of a Meta webhook ("" when there is none)."""
    try:
        value = json.loads(body)["entry"][0]["changes"][0]["value"]
        return str(value["messages"][0]["id"])
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


async def reference_webhook(scope: dict[str, Any], body: bytes) -> tuple[int, bytes]:
    """Verify, INSERT the raw body under its event id, answer: the least a signed ingest does."""
    headers = dict(scope["headers"])
    given = headers.get(b"x-hub-signature-256", b"").decode("latin-1")
    expected = "sha256=" + hmac.new(META_SECRET, body, hashlib.sha256).hexdigest()
    if not META_SECRET or not hmac.compare_digest(given, expected):
        return 401, b"bad signature"
    event_id = meta_event_id(body)
    if not event_id:
        return 400, b"no event id"
    await writer.store_webhook("wa:" + event_id, body, time.time())
    return 200, b"ok"


async def reply(raw: bytes) -> bytes:
    """An agent's reply: one INSERT, one push to the customer's socket."""
    from channels.layers import get_channel_layer

    content = json.loads(raw)
    created_at = time.time()
    client_id = secrets.token_hex(16)
    message_id = await writer.insert(client_id, str(content["text"]), created_at)
    message = {"id": message_id, "text": str(content["text"]), "created_at": created_at}
    await get_channel_layer().group_send(  # type: ignore[union-attr]
        customer_group(str(content["token"])),
        {"type": "event.customer", "event": "message.created", "data": message},
    )
    return json.dumps(message).encode()


async def http_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Widget session endpoint (no database work), the reference webhook, the agent's reply and a
    readiness probe."""
    chunks = []
    while True:  # read the request body
        event = await receive()
        chunks.append(event.get("body", b""))
        if event["type"] != "http.request" or not event.get("more_body"):
            break
    if scope["method"] == "POST" and scope["path"] == "/ref/webhooks/meta":
        status, answer = await reference_webhook(scope, b"".join(chunks))
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
        return
    if scope["method"] == "POST" and scope["path"] == "/bench/reply":
        body, content_type = await reply(b"".join(chunks)), b"application/json"
    elif scope["method"] == "POST" and scope["path"].endswith("/session"):
        body = json.dumps({"token": secrets.token_urlsafe(16)}).encode()
        content_type = b"application/json"
    else:
        body, content_type = b"ok", b"text/plain"
    headers = [(b"content-type", content_type)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": URLRouter(
            [
                path("ws/desk/", DeskConsumer.as_asgi()),
                path("ws/widget/", WidgetConsumer.as_asgi()),
            ]
        ),
    }
)
