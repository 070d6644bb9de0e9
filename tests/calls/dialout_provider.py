"""The provider's side of outbound calls, for tests: a loopback REST server that records the
requests Teamline makes (placing and hanging up calls) the way the provider receives them, and
a phone that answers the calls it placed by posting SIGNED webhooks to the URLs Teamline gave.

    provider = LoopbackVoiceProvider(client, inbox, AUTH_TOKEN)   # a context manager
    inbox.config["api_base"] = provider.api_base
    …                                                  # Teamline places a call
    leg = provider.placed[-1]                          # To, From, Url, StatusCallback
    twiml = provider.answer(leg)                       # the phone picks up: fetches Url
    provider.status(leg, "completed")                  # the leg's status callback

The REST side is a real HTTP server on 127.0.0.1 (threading http.server), so Teamline's own
client (connectors/voice_rest.py, httpx) is what is tested, basic auth included. `down()`
answers 503 (the provider has an outage); `gone()` closes the port (nothing listens).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.test import Client

from teamline.conversations.models import Inbox
from tests.connectors.fake_twiml import FakeTwimlProvider

_sids = itertools.count(1)


@dataclass
class RestRequest:
    method: str
    path: str
    form: dict[str, str]


@dataclass
class Leg:
    """A call Teamline asked the provider to place."""

    sid: str
    to: str
    from_: str
    url: str
    status_callback: str
    timeout: str
    hung_up: bool = False
    twiml: list[ET.Element] = field(default_factory=list)


class LoopbackVoiceProvider:
    def __init__(self, client: Client, inbox: Inbox, auth_token: str) -> None:
        self.inbox = inbox
        self.auth_token = auth_token
        self.webhooks = FakeTwimlProvider(client, inbox, auth_token)
        self.account_sid = self.webhooks.account_sid
        self.requests: list[RestRequest] = []
        self.placed: list[Leg] = []
        self.answer_with = 200  # 503: the provider is down
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LoopbackVoiceProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gone()

    def down(self) -> None:
        self.answer_with = 503

    def gone(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    # --- the REST side ------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                form = dict(parse_qsl(raw))
                expected = (
                    "Basic "
                    + base64.b64encode(
                        f"{provider.account_sid}:{provider.auth_token}".encode()
                    ).decode()
                )
                if self.headers.get("Authorization") != expected:
                    self._reply(401, {"code": 20003, "message": "Authenticate"})
                    return
                status, body = provider._act(self.command, urlsplit(self.path).path, form)
                self._reply(status, body)

            do_GET = _handle
            do_POST = _handle

        return Handler

    def _act(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(RestRequest(method, path, form))
            if self.answer_with != 200:
                return self.answer_with, {"message": "Service unavailable"}
            root = f"/2010-04-01/Accounts/{self.account_sid}"
            if method == "POST" and path == f"{root}/Calls.json":
                leg = Leg(
                    sid=f"CAd1a1{next(_sids):028x}",  # never one of fake_twiml's callers
                    to=form.get("To", ""),
                    from_=form.get("From", ""),
                    url=form.get("Url", ""),
                    status_callback=form.get("StatusCallback", ""),
                    timeout=form.get("Timeout", ""),
                )
                self.placed.append(leg)
                return 201, {"sid": leg.sid, "status": "queued"}
            if method == "POST" and path.startswith(f"{root}/Calls/") and path.endswith(".json"):
                sid = path.rsplit("/", 1)[-1].removesuffix(".json")
                for leg in self.placed:
                    if leg.sid == sid and form.get("Status") == "completed":
                        leg.hung_up = True
                return 200, {"sid": sid}
            return 404, {"message": f"no such resource {path}"}

    def hang_ups(self) -> list[str]:
        """The SIDs of the legs Teamline hung up, in order."""
        prefix = f"/2010-04-01/Accounts/{self.account_sid}/Calls/"
        return [
            r.path[len(prefix) :].removesuffix(".json")
            for r in self.requests
            if r.path.startswith(prefix) and r.form.get("Status") == "completed"
        ]

    # --- the phone side -----------------------------------------------------------------------

    def _params(self, leg: Leg, **extra: str) -> dict[str, str]:
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": leg.sid,
            "CallStatus": "in-progress",
            "Direction": "outbound-api",
            "From": leg.from_,
            "To": leg.to,
            **extra,
        }

    def answer(self, leg: Leg) -> ET.Element:
        """The dialled phone picks up: the provider fetches the leg's TwiML (signed)."""
        response = self.webhooks.post(leg.url, self._params(leg))
        assert response.status_code == 200, (response.status_code, leg.url)
        assert response["Content-Type"].startswith("text/xml")
        twiml = ET.fromstring(response.content)  # noqa: S314 - our own server's TwiML
        leg.twiml.append(twiml)
        return twiml

    def status(self, leg: Leg, status: str, *, signature: str | None = None) -> Any:
        """The leg's status callback (in-progress when answered; a final status at the end)."""
        extra = {"CallStatus": status}
        if status == "completed":
            extra["CallDuration"] = "95"
        return self.webhooks.post(
            leg.status_callback, self._params(leg, **extra), signature=signature
        )


def conference_of(twiml: ET.Element) -> str:
    """The room a leg's TwiML dials it into ("" if none)."""
    room = twiml.find("./Dial/Conference")
    return (room.text or "") if room is not None else ""


def said(twiml: ET.Element) -> list[str]:
    return [say.text or "" for say in twiml.iter("Say")]
