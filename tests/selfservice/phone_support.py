"""The voice inbox the IVR tests call, with the auth token the fake provider signs with."""

from __future__ import annotations

from teamline.conversations.models import Inbox

AUTH_TOKEN = "voice-auth-token-0123456789"


def voice_inbox(team, **config: str) -> Inbox:
    inbox = Inbox(
        name="Nordlys phone", kind="voice", default_team=team, config={"language": "en", **config}
    )
    inbox.credentials = {"account_sid": "AC" + "0" * 32, "auth_token": AUTH_TOKEN}
    inbox.save()
    return inbox
