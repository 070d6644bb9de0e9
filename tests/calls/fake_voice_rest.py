"""A fake voice provider's REST API on loopback, for the recording tests: a real HTTP server
(127.0.0.1, a free port, a thread) that answers the recording resources the way Twilio
documents them and records every request Teamline makes.

    with FakeVoiceRest() as rest:
        inbox.config["api_base"] = rest.base       # where voice_rest sends its requests
        ...
        assert rest.asked("POST", "/Recordings/RE1.json") == [{"Status": "paused", ...}]
        rest.down = True                           # every request answers 503
        rest.fail("POST", "/Recordings/", 400, "Recording is not in-progress")  # one refusal

Resources: POST …/Calls/{CallSid}/Recordings.json starts a recording (201, a new RE sid);
POST …/Calls/{CallSid}/Recordings/{Sid}.json pauses or resumes it; GET …/Recordings/{Sid}.wav
is its media (a small valid WAV, or `media[sid]`); DELETE …/Recordings/{Sid}.json deletes it
(204, then the media is gone: 404). Requests must carry the account's basic auth (401 else).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


def wav_bytes(seconds: float = 0.5, *, rate: int = 8000, channels: int = 2) -> bytes:
    """A valid 16-bit PCM WAV of silence (what a recording's .wav is made of)."""
    frames = int(seconds * rate)
    data = b"\x00\x00" * channels * frames
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    fmt = b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16
    )
    return header + fmt + b"data" + struct.pack("<I", len(data)) + data


@dataclass
class Request:
    method: str
    path: str  # after /2010-04-01/Accounts/{AccountSid}
    form: dict[str, str]


@dataclass
class FakeVoiceRest:
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "voice-auth-token-0123456789"
    down: bool = False  # every request answers 503
    requests: list[Request] = field(default_factory=list)
    media: dict[str, bytes] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    _failures: list[tuple[str, str, int, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _sids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def root(self) -> str:
        return f"{self.base}/2010-04-01/Accounts/{self.account_sid}"

    def fail(self, method: str, path_part: str, status: int, message: str = "") -> None:
        """The next request of `method` whose path contains `path_part` answers `status`."""
        self._failures.append((method, path_part, status, message))

    def asked(self, method: str, path_part: str) -> list[dict[str, str]]:
        """The forms of the requests made of `method` whose path contains `path_part`."""
        return [r.form for r in self.requests if r.method == method and path_part in r.path]

    def __enter__(self) -> FakeVoiceRest:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                return None

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                status, payload, content_type = fake._answer(
                    method, self.path, dict(parse_qsl(body)), self.headers.get("Authorization")
                )
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    # --- the provider ----------------------------------------------------------------------

    def _json(self, status: int, data: dict[str, Any]) -> tuple[int, bytes, str]:
        return status, json.dumps(data).encode(), "application/json"

    def _answer(
        self, method: str, raw_path: str, form: dict[str, str], auth: str | None
    ) -> tuple[int, bytes, str]:
        expected = "Basic " + base64.b64encode(
            f"{self.account_sid}:{self.auth_token}".encode()
        ).decode("ascii")
        prefix = f"/2010-04-01/Accounts/{self.account_sid}"
        path = urlsplit(raw_path).path
        if not path.startswith(prefix):
            return self._json(404, {"message": "not found"})
        path = path[len(prefix) :]
        with self._lock:
            self.requests.append(Request(method, path, form))
            if auth != expected:
                return self._json(401, {"code": 20003, "message": "Authenticate"})
            if self.down:
                return self._json(503, {"message": "Service unavailable"})
            for failure in self._failures:
                if failure[0] == method and failure[1] in path:
                    self._failures.remove(failure)
                    return self._json(failure[2], {"code": 21220, "message": failure[3]})
            return self._resource(method, path, form)

    def _resource(self, method: str, path: str, form: dict[str, str]) -> tuple[int, bytes, str]:
        if method == "POST" and re.fullmatch(r"/Calls/[^/]+/Recordings\.json", path):
            sid = f"RE{next(self._sids):032d}"
            self.media.setdefault(sid, wav_bytes())
            return self._json(201, {"sid": sid, "status": "in-progress"})
        found = re.fullmatch(r"/Calls/[^/]+/Recordings/([^/]+)\.json", path)
        if method == "POST" and found:
            if found.group(1) not in self.media:
                return self._json(404, {"code": 20404, "message": "not found"})
            return self._json(200, {"sid": found.group(1), "status": form.get("Status", "")})
        found = re.fullmatch(r"/Recordings/([^/]+)\.wav", path)
        if method == "GET" and found:
            sid = found.group(1)
            if sid in self.deleted or sid not in self.media:
                return self._json(404, {"code": 20404, "message": "not found"})
            return 200, self.media[sid], "audio/x-wav"
        found = re.fullmatch(r"/Recordings/([^/]+)\.json", path)
        if method == "DELETE" and found:
            if found.group(1) not in self.media:
                return self._json(404, {"code": 20404, "message": "not found"})
            self.deleted.add(found.group(1))
            return 204, b"", "application/json"
        return self._json(404, {"code": 20404, "message": f"no resource {method} {path}"})
