"""The ASGI lifespan of a Teamline web process (`teamline serve` runs it).

On startup the server's event loop becomes where threads that serve no loop hand their pushes
(core/events.py, `serve_thread_pushes`): in the embedded mode that is the task worker thread,
whose events — a channel message it stored, a callback it started, a proactive notice — must
reach the in-memory channel layer on the loop the sockets wait on. Sent from an event loop of
its own, a push woke a waiting socket only when the server's loop next woke for another reason
(uvicorn's 0.1 s tick), and it touched that loop's queues from another thread. On shutdown the
worker's pushes go back to the path used outside a server (they wait for their own sends).

Also on startup, once everything the process needs is imported, the garbage-collection policy
for many long-lived sockets begins (core/gcpolicy.py, `TEAMLINE_GC_FREEZE`); on shutdown
Python's own collection is back.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings

from teamline.core import events, gcpolicy


class Lifespan:
    """ASGI application for the `lifespan` scope."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                events.serve_thread_pushes(asyncio.get_running_loop())
                if settings.TEAMLINE["GC_FREEZE"]:
                    gcpolicy.install(float(settings.TEAMLINE["GC_FULL_WALK_SECONDS"]))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                events.serve_thread_pushes(None)
                gcpolicy.uninstall()
                await send({"type": "lifespan.shutdown.complete"})
                return
