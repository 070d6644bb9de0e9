"""What every Teamline websocket consumer shares: dispatch without a database hop.

Channels' `AsyncConsumer.dispatch` runs `close_old_connections` in the database thread (a
`sync_to_async` round trip) before *every* handler: every frame in and every group message out,
also the pushes that only forward pre-encoded JSON to the socket. The profile of the message
path showed 10 % of the busy thread's time in that hop (2K+2 hops per customer message at K
desks). It is not needed here, safely, because:

- these consumers touch the database only through `channels.db.database_sync_to_async`, whose
  thread handler itself runs `close_old_connections` before and after each call, in the thread
  that uses the connection (the hop in `dispatch` cleans the same thread, just earlier);
- no handler touches the ORM on the event loop (Django would refuse: SynchronousOnlyOperation);
- the hop at disconnect (`websocket_disconnect`) stays, once per socket.
"""

from __future__ import annotations

from typing import Any

from channels.consumer import get_handler_name


class NoDatabaseHopMixin:
    """Put first in the bases of an AsyncConsumer whose database work all goes through
    `database_sync_to_async` (see the module's docstring)."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
