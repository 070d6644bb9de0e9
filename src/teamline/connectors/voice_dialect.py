"""Which TwiML-speaking provider a voice inbox talks to, and what each needs.

A voice inbox's config "dialect" names it: "twilio" (the default), "signalwire" (LaML) or
"telnyx" (TeXML). The three answer the same TwiML, post the same form fields to the same
webhook URLs (/webhooks/twilio/<inbox public id>/…) and have the same REST resources, so the
call flow, the bridge and the recordings never ask which one it is. They differ in three
places, all decided here or in connectors/voice_rest.py:

              credentials                           webhooks are signed with           REST
  twilio      account_sid, auth_token               X-Twilio-Signature, HMAC-SHA1 of   basic auth,
                                                    URL + sorted form, auth token      form bodies
  signalwire  account_sid (project id),             X-SignalWire-Signature, the same   basic auth,
              auth_token (API token), signing_key   HMAC with the project's signing    form bodies
                                                    key
  telnyx      account_sid (the organisation id),    telnyx-signature-ed25519: Ed25519  Bearer API
              api_key, public_key (the account's    over "<telnyx-timestamp>|<raw      key, JSON
              Ed25519 public key, base64)           body>", timestamp within 5 min     bodies

Telnyx also needs config "application_sid" (the TeXML application that places outbound
calls). The admin form refuses an inbox that lacks what its dialect needs
(`config_problems`, `credential_problems`), with the missing name in the message.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .base import WebhookRejected
from .sms import verify_twilio_request

if TYPE_CHECKING:
    from teamline.conversations.models import Inbox

    from .base import WebhookRequest

TWILIO = "twilio"
SIGNALWIRE = "signalwire"
TELNYX = "telnyx"
DIALECTS = (TWILIO, SIGNALWIRE, TELNYX)

# What each dialect's credentials must hold (the admin form says which one is missing).
REQUIRED_CREDENTIALS = {
    TWILIO: ("account_sid", "auth_token"),
    SIGNALWIRE: ("account_sid", "auth_token", "signing_key"),
    TELNYX: ("account_sid", "api_key", "public_key"),
}
# Telnyx signs with a timestamp: older (or later) than this is a replay or a wrong clock.
TELNYX_TOLERANCE_SECONDS = 300
TELNYX_SIGNATURE_HEADER = "telnyx-signature-ed25519"
TELNYX_TIMESTAMP_HEADER = "telnyx-timestamp"


def dialect_of(inbox: Inbox) -> str:
    """The inbox's dialect; an unknown value (which the admin form refuses) is Twilio's."""
    value = str((inbox.config or {}).get("dialect") or TWILIO)
    return value if value in DIALECTS else TWILIO


def config_problems(config: dict[str, object]) -> list[str]:
    """What the dialect needs in the inbox's config, in the admin form's words."""
    dialect = config.get("dialect", TWILIO)
    if dialect not in DIALECTS:
        return [f"dialect must be one of {', '.join(DIALECTS)}."]
    problems = []
    api_base = config.get("api_base")
    if api_base is not None and (
        not isinstance(api_base, str) or not api_base.startswith(("https://", "http://"))
    ):
        problems.append("api_base must be an http(s) URL.")
    if dialect == SIGNALWIRE and not api_base:
        problems.append(
            'A SignalWire inbox needs "api_base": "https://<your space>.signalwire.com/api/laml".'
        )
    if dialect == TELNYX:
        app = config.get("application_sid")
        if not isinstance(app, str) or not app.strip():
            problems.append(
                'A Telnyx inbox needs "application_sid": the id of the TeXML application '
                "that places its calls."
            )
    return problems


def credential_problems(dialect: str, credentials: object) -> list[str]:
    """What is missing or malformed in a voice inbox's credentials for its dialect."""
    if dialect not in DIALECTS:
        return []  # config_problems says so
    if not isinstance(credentials, dict):
        return ["Give the credentials as a JSON object."]
    missing = [
        name
        for name in REQUIRED_CREDENTIALS[dialect]
        if not isinstance(credentials.get(name), str) or not credentials[name].strip()
    ]
    problems = []
    if missing:
        problems.append(
            f"A {dialect} voice inbox needs the credentials {', '.join(missing)} "
            f"(it has {', '.join(sorted(credentials)) or 'none'})."
        )
    if dialect == TELNYX and "public_key" not in missing:
        try:
            telnyx_public_key(str(credentials["public_key"]))
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def telnyx_public_key(value: str) -> Ed25519PublicKey:
    """The account's Ed25519 public key from its base64 text (Mission Control shows it).
    ValueError with a readable reason when it is not one."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except ValueError as exc:  # binascii.Error is one
        raise ValueError("public_key is not base64.") from exc
    if len(raw) != 32:
        raise ValueError(f"public_key must be a 32-byte Ed25519 key, not {len(raw)} bytes.")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_request(inbox: Inbox, request: WebhookRequest) -> None:
    """Raise WebhookRejected (403) unless the request was signed by the inbox's provider, its
    dialect's way. Nothing is stored before this passes."""
    dialect = dialect_of(inbox)
    if dialect == TELNYX:
        verify_telnyx_request(inbox, request)
    elif dialect == SIGNALWIRE:
        verify_twilio_request(
            inbox, request, key_name="signing_key", header="X-SignalWire-Signature"
        )
    else:
        verify_twilio_request(inbox, request)


def verify_telnyx_request(
    inbox: Inbox, request: WebhookRequest, *, now: float | None = None
) -> None:
    """Telnyx signs every TeXML request (the call webhook, Gather actions, status and
    recording callbacks) with Ed25519 over "<telnyx-timestamp>|<raw body>" and sends the
    base64 signature in telnyx-signature-ed25519. The signature does not cover the URL, so the
    timestamp is what keeps an old request from being posted again; the stored event ids keep
    a repeat inside the window from changing anything."""
    key_text = str(inbox.credentials.get("public_key") or "")
    if not key_text:
        raise WebhookRejected("inbox has no Telnyx public_key configured", status=403)
    if request.method.upper() != "POST":
        raise WebhookRejected("Telnyx webhooks must be POSTed", status=403)
    signature_text = request.header(TELNYX_SIGNATURE_HEADER).strip()
    stamp = request.header(TELNYX_TIMESTAMP_HEADER).strip()
    if not signature_text or not stamp:
        raise WebhookRejected("missing telnyx-signature-ed25519 or telnyx-timestamp", status=403)
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
        raise WebhookRejected("telnyx-timestamp is not Unix seconds", status=403)
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > TELNYX_TOLERANCE_SECONDS:
        raise WebhookRejected("telnyx-timestamp is too old or in the future", status=403)
    try:
        key = telnyx_public_key(key_text)
        signature = base64.b64decode(signature_text, validate=True)
    except ValueError as exc:  # binascii.Error is one
        raise WebhookRejected(f"Telnyx signature unreadable: {exc}", status=403) from exc
    try:
        key.verify(signature, stamp.encode() + b"|" + request.body)
    except InvalidSignature as exc:
        raise WebhookRejected("telnyx-signature-ed25519 mismatch", status=403) from exc
