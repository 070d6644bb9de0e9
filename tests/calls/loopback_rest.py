"""A minimal loopback stand-in for a TwiML provider's REST API: a real HTTP server on
127.0.0.1 that checks basic auth, records every request Teamline makes (method, path, form)
and answers the two resources the supervisors' monitor legs use the way the provider does:

    POST …/Accounts/{AccountSid}/Calls.json             → 201 {"sid": "CA…", "status": "queued"}
    POST …/Accounts/{AccountSid}/Calls/{CallSid}.json   → 200 {"sid": CallSid, "status": …}

It places no call and fetches no TwiML: the tests play the provider's side of the webhooks
through the Django test client with a valid signature. `fail_with` makes every request answer
that HTTP status (a provider that is down, or one that refuses).

    with LoopbackRest("AC…", "token") as rest:
        inbox.config["api_base"] = rest.base
        ...
        assert rest.requests[0].form["To"] == "+4790000001"
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

_sids = itertools.count(1)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    form: dict[str, str]


class LoopbackRest:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[Recorded] = []
        self.fail_with: int | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LoopbackRest:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        rest = self
        root = f"/2010-04-01/Accounts/{self.account_sid}"
        expected = (
            "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        )

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                rest.requests.append(Recorded("POST", self.path, form))
                if self.headers.get("Authorization") != expected:
                    self._answer(401, {"code": 20003, "message": "Authenticate"})
                    return
                if rest.fail_with is not None:
                    self._answer(rest.fail_with, {"message": "the fake provider says no"})
                    return
                if self.path == f"{root}/Calls.json":
                    sid = f"CA{next(_sids):032x}"
                    self._answer(201, {"sid": sid, "status": "queued", "to": form.get("To")})
                    return
                found = re.fullmatch(rf"{re.escape(root)}/Calls/(CA\w+)\.json", self.path)
                if found:
                    status = form.get("Status", "in-progress")
                    self._answer(200, {"sid": found.group(1), "status": status})
                    return
                self._answer(404, {"code": 20404, "message": "not found"})

        return Handler
