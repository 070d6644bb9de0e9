"""A loopback stand-in for an operator's telco service, written from docs/telco-backend.md: it
checks every request's signature and timestamp the way an integrator would, records what it was
asked and can be told to be slow, broken or down."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class FakeTelco:
    secret: str
    subscribers: dict[str, dict[str, Any]] = field(default_factory=dict)
    outages: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0
    status: int | None = None  # force every answer to this status
    body: bytes | None = None  # force every answer to this body
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def __enter__(self) -> FakeTelco:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/telco/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _signed_properly(self, handler: BaseHTTPRequestHandler) -> bool:
        timestamp = handler.headers.get("X-Teamline-Timestamp", "")
        signature = handler.headers.get("X-Teamline-Signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False
        message = f"GET\n{handler.path}\n{timestamp}".encode()
        expected = "sha256=" + hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        signed = self._signed_properly(handler)
        self.requests.append({"path": handler.path, "signed": signed})
        if self.delay:
            time.sleep(self.delay)
        status, payload = self._answer(handler.path) if signed else (401, {"error": "signature"})
        body = self.body if self.body is not None else json.dumps(payload).encode()
        try:
            handler.send_response(self.status or status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:  # the client gave up (timeout tests)
            pass

    def _answer(self, raw_path: str) -> tuple[int, Any]:
        split = urlsplit(raw_path)
        path = split.path.removeprefix("/telco/v1")
        if path == "/outages":
            region = parse_qs(split.query).get("region", [""])[0]
            return 200, {"outages": [o for o in self.outages if region in o["regions"]]}
        parts = path.split("/")  # ['', 'subscribers', '%2B47…', ('balance'|'usage')?]
        if len(parts) < 3 or parts[1] != "subscribers":
            return 404, {"error": "no such resource"}
        record = self.subscribers.get(unquote(parts[2]))
        if record is None:
            return 404, {"error": "unknown subscriber"}
        if len(parts) == 3:
            return 200, {k: record[k] for k in ("msisdn", "name", "language", "region", "plan")}
        if parts[3] == "balance":
            return 200, record["balance"]
        if parts[3] == "usage":
            return 200, record["usage"]
        return 404, {"error": "no such resource"}
