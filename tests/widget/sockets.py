"""A customer's browser tab, as the widget socket sees it."""

from __future__ import annotations

import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from teamline.asgi import application
from teamline.connectors.actions import do_start_webchat_session
from teamline.conversations.models import Inbox

# Generous: the integration run goes through Redis and PostgreSQL.
WAIT = 3


async def start_session(inbox: Inbox, **kwargs: Any) -> str:
    """What the widget's session POST does: a token for a new (or resumed) visitor."""
    session = await database_sync_to_async(do_start_webchat_session)(inbox, **kwargs)
    return session.token


class ChatTab:
    def __init__(self, *, origin: str | None = None, ip: str = "198.51.100.7") -> None:
        headers = [(b"origin", origin.encode())] if origin else []
        self.socket = WebsocketCommunicator(application, "/ws/widget/", headers=headers)
        # The communicator builds no client address; the application reads it from the same
        # scope dict once it starts, which is after this constructor returns.
        self.socket.scope["client"] = (ip, 50123)

    async def open(self, token: str) -> dict[str, Any]:
        """Connect and authenticate; the answer is `ready` or the close frame."""
        connected, _ = await self.socket.connect(timeout=WAIT)
        assert connected
        await self.socket.send_json_to({"type": "auth", "token": token})
        return await self.socket.receive_output(timeout=WAIT)

    async def ready(self, token: str) -> dict[str, Any]:
        output = await self.open(token)
        assert output["type"] == "websocket.send", output
        frame = _decode(output)
        assert frame["type"] == "ready", frame
        return frame

    async def send(self, frame: dict[str, Any]) -> None:
        await self.socket.send_json_to(frame)

    async def say(self, text: str, *, client_id: str | None = None) -> dict[str, Any]:
        """Send a chat message; return the server's answer to it (ack or error)."""
        await self.send(
            {"type": "message", "client_id": client_id or str(uuid.uuid4()), "text": text}
        )
        return await self.next()

    async def next(self) -> dict[str, Any]:
        return await self.socket.receive_json_from(timeout=WAIT)

    async def next_message(self) -> dict[str, Any]:
        """The next pushed message, skipping typing indicators."""
        while True:
            frame = await self.next()
            if frame["type"] == "message":
                return frame["message"]
            assert frame["type"] == "typing", frame

    async def hears_nothing(self, timeout: float = 0.5) -> bool:
        return await self.socket.receive_nothing(timeout=timeout)

    async def close(self) -> None:
        await self.socket.disconnect()


def _decode(output: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(output["text"])
