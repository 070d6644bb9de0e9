"""A fake TwiML voice provider for tests: it places calls on a voice inbox the way Twilio does.

It posts SIGNED call webhooks (X-Twilio-Signature with the inbox's auth token, over the URL
and the sorted form, as the provider signs them) through the Django test client, parses the
TwiML it gets back and follows it: <Say> is recorded as what the caller heard, <Gather> takes
the caller's next input (keys → `Digits`, speech → `SpeechResult` + `Confidence`) and posts it
to the action URL, or falls through to the next verb when the caller says nothing,
<Redirect> posts again, <Pause> is noted (not slept), <Hangup> or the end of the document
ends the call. Every URL in the TwiML must point back under the inbox's webhook prefix.

    provider = FakeTwimlProvider(client, inbox, auth_token)
    call = provider.call("+4791234567", inputs=["1", None])
    assert "Saldoen din er 187,50 kroner." in call.heard
    call.hang_up()  # the final status callback
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.test import Client

from teamline.connectors.sms import twilio_signature
from teamline.conversations.models import Inbox

_sids = itertools.count(1)


@dataclass(frozen=True)
class Speech:
    """What the caller says at a <Gather> (instead of pressing keys)."""

    text: str
    confidence: str = "0.92"


@dataclass(frozen=True)
class Said:
    text: str
    language: str
    voice: str


@dataclass
class Call:
    provider: FakeTwimlProvider
    sid: str
    caller: str
    called: str
    said: list[Said] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    gathers: list[dict[str, str]] = field(default_factory=list)
    pauses: list[int] = field(default_factory=list)
    ended: bool = False  # hung up by our TwiML (<Hangup> or the end of a document)
    on_hold: bool = False  # still in a Redirect loop when the test stopped following
    pending: tuple[str, dict[str, str]] | None = None  # the request the provider makes next

    @property
    def heard(self) -> list[str]:
        return [s.text for s in self.said]

    def params(self, **extra: str) -> dict[str, str]:
        return {
            "AccountSid": self.provider.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": self.sid,
            "CallStatus": "in-progress",
            "Called": self.called,
            "Caller": self.caller,
            "Direction": "inbound",
            "From": self.caller,
            "To": self.called,
            **extra,
        }

    def hang_up(self, status: str = "completed", **extra: str) -> Any:
        """The provider's final status callback (the caller hung up)."""
        return self.provider.post(
            self.provider.prefix + "status",
            self.params(CallStatus=status, CallDuration="42", **extra),
        )

    def keep_waiting(self, *inputs: str | Speech | None, rounds: int = 1) -> None:
        """Stay on the line for `rounds` more hold announcements (pressing `inputs`)."""
        assert self.pending is not None, "the call is not waiting"
        url, params = self.pending
        self.provider.follow(self, url, params, list(inputs), rounds + len(inputs))

    def retry_last(self) -> Any:
        """Post the last request again, byte for byte (a provider retry after a timeout)."""
        url, params = self.requests[-1]
        return self.provider.post(url, params)


class FakeTwimlProvider:
    def __init__(
        self,
        client: Client,
        inbox: Inbox,
        auth_token: str,
        *,
        host: str = "http://testserver",
        account_sid: str = "AC" + "0" * 32,
    ) -> None:
        self.client = client
        self.inbox = inbox
        self.auth_token = auth_token
        self.account_sid = account_sid
        self.prefix = f"{host}/webhooks/twilio/{inbox.public_id}/"

    def post(self, url: str, params: dict[str, str], *, signature: str | None = None) -> Any:
        body = urlencode(params)
        if signature is None:
            signature = twilio_signature(self.auth_token, url, list(params.items()))
        headers = {"X-Twilio-Signature": signature} if signature else {}
        return self.client.post(
            url,
            data=body,
            content_type="application/x-www-form-urlencoded",
            headers=headers,
        )

    def call(
        self,
        caller: str,
        *,
        inputs: list[str | Speech | None] = (),  # type: ignore[assignment]
        called: str = "+4721000000",
        sid: str | None = None,
        max_requests: int = 20,
    ) -> Call:
        """Place a call and follow its TwiML until it ends, the inputs run out at a wait loop,
        or `max_requests` webhooks were made."""
        call = Call(self, sid or f"CA{next(_sids):032d}", caller, called)
        self.follow(call, self.prefix, call.params(), list(inputs), max_requests)
        return call

    def follow(
        self,
        call: Call,
        url: str,
        params: dict[str, str],
        inputs: list[str | Speech | None],
        max_requests: int,
    ) -> None:
        for _ in range(max_requests):
            call.requests.append((url, params))
            response = self.post(url, params)
            assert response.status_code == 200, (response.status_code, url)
            assert response["Content-Type"].startswith("text/xml")
            root = ET.fromstring(response.content)  # noqa: S314 - our own server's TwiML
            next_request = self._run(call, root, inputs)
            if next_request is None:
                call.ended, call.on_hold, call.pending = True, False, None
                return
            url, params = next_request
            call.pending = next_request
            if not inputs and "/ivr/wait/" in url:
                call.on_hold = True  # nothing more to press: the caller just waits
                return
        call.on_hold = True

    def _url(self, value: str | None) -> str:
        assert value and value.startswith(self.prefix), f"{value!r} leaves {self.prefix}"
        return value

    def _run(
        self, call: Call, root: ET.Element, inputs: list[str | Speech | None]
    ) -> tuple[str, dict[str, str]] | None:
        assert root.tag == "Response"
        for verb in root:
            if verb.tag == "Say":
                call.said.append(
                    Said(verb.text or "", verb.get("language", ""), verb.get("voice", ""))
                )
            elif verb.tag == "Gather":
                call.gathers.append(dict(verb.attrib))
                assert verb.get("input") == "dtmf speech"
                for prompt in verb:
                    assert prompt.tag == "Say"
                    call.said.append(
                        Said(prompt.text or "", prompt.get("language", ""), prompt.get("voice", ""))
                    )
                given = inputs.pop(0) if inputs else None
                if given is None:
                    continue  # silence: the provider carries on with the next verb
                action = self._url(verb.get("action"))
                if isinstance(given, Speech):
                    extra = {"SpeechResult": given.text, "Confidence": given.confidence}
                else:
                    extra = {"Digits": given}
                return action, call.params(**extra)
            elif verb.tag == "Redirect":
                return self._url(verb.text), call.params()
            elif verb.tag == "Pause":
                call.pauses.append(int(verb.get("length", "1")))
            elif verb.tag == "Hangup":
                return None
            else:
                raise AssertionError(f"unexpected TwiML verb {verb.tag}")
        return None
