"""A fake provider API on loopback for connector tests: records every request and answers with
queued responses (default 200 + {}). No real network is ever used.

    with FakeProvider() as fake:
        fake.respond(200, {"sid": "SM123"})
        inbox.config = {"api_base": fake.url}
        ...
        request = fake.requests[0]  # .method .path .query .headers .body .json() .form()

A media download that misbehaves: `fake.respond_endless()` streams a body that never ends (until
the client hangs up, which sets `fake.hung_up`); `fake.respond(..., stall=s)` sends the headers,
then nothing for `s` seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]
    stall: float = 0.0  # seconds of silence between the headers and the body
    endless: bool = False  # `body` again and again until the client hangs up
    every: float = 0.0  # an endless body's pause between two copies of `body`


# An endless body gives up after this much, so a client that never hangs up fails its test
# instead of hanging it.
ENDLESS_BACKSTOP_BYTES = 512 * 1024 * 1024


class FakeProvider:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.hung_up = threading.Event()
        self._responses: deque[Response] = deque()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                fake.requests.append(
                    RecordedRequest(
                        method=self.command,
                        path=parts.path,
                        query=parse_qs(parts.query, keep_blank_values=True),
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                    )
                )
                response = (
                    fake._responses.popleft()
                    if fake._responses
                    else Response(200, b"{}", {"Content-Type": "application/json"})
                )
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if not response.endless:  # an HTTP/1.0 body without a length lasts until close
                    self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                try:
                    time.sleep(response.stall)
                    self.wfile.write(response.body)
                    sent = len(response.body)
                    while response.endless and sent < ENDLESS_BACKSTOP_BYTES:
                        time.sleep(response.every)
                        self.wfile.write(response.body)
                        sent += len(response.body)
                except ConnectionError:  # the client hung up
                    fake.hung_up.set()

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def respond(
        self,
        status: int = 200,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        stall: float = 0.0,
    ) -> None:
        """Queue the next answer (FIFO). `body` is sent as JSON unless `raw` is given."""
        if raw is None:
            raw = json.dumps({} if body is None else body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        self._responses.append(Response(status, raw, headers or {}, stall=stall))

    def respond_endless(
        self, chunk: bytes, *, headers: dict[str, str] | None = None, every: float = 0.0
    ) -> None:
        """Queue a 200 whose body is `chunk` repeated until the client hangs up, `every`
        seconds apart (a provider that trickles)."""
        self._responses.append(Response(200, chunk, headers or {}, endless=True, every=every))

    def __enter__(self) -> FakeProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
