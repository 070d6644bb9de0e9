import copy
from typing import Any

import uvicorn
import uvicorn.config
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from teamline.core.worker import start_embedded_worker


class Command(BaseCommand):
    help = "Serve Teamline (HTTP + websockets); in embedded mode also run the task worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="web processes sharing the port (more than 1 needs PostgreSQL + Redis)",
        )
        parser.add_argument(
            "--no-worker", action="store_true", help="do not run the embedded task worker"
        )

    def handle(self, *args: object, **options: object) -> None:
        workers = int(str(options["workers"]))
        if workers < 1 or workers > 64:
            raise CommandError("--workers is a number of processes from 1 to 64.")
        if workers > 1 and not multi_process_capable():
            # The in-memory channel layer lives in one process (an event would reach only the
            # sockets of the process that sent it) and SQLite takes one writer at a time.
            raise CommandError(
                "Several web processes need PostgreSQL and Redis (TEAMLINE_DATABASE_URL, "
                "TEAMLINE_REDIS_URL); without them run one process (see docs/scale.md)."
            )
        call_command("collectstatic", "--no-input", verbosity=0)
        # The embedded task worker runs only in the single-process mode; with several web
        # processes the tasks are run by `teamline worker` processes.
        embedded = settings.EMBEDDED_WORKER and not options["no_worker"] and workers == 1
        if embedded:
            start_embedded_worker()
        host, port = options["host"], options["port"]
        self.stdout.write(
            f"Teamline on http://{host}:{port}/  (desk /desk/, demo brand page /widget/demo/, "
            f"admin /admin/, API /api/v1/docs)  task worker: "
            f"{'embedded' if embedded else 'separate (teamline worker)'}"
        )
        uvicorn.run(
            "teamline.asgi:application",
            host=str(host),
            port=int(str(port)),
            workers=workers,
            lifespan="on",  # teamline/asgi.py: the server's loop carries the worker's pushes
            log_level="warning",
            log_config=_log_config(),
            proxy_headers=True,
            **socket_options(),
        )


def socket_options() -> dict[str, Any]:
    """uvicorn's websocket options from the settings: compression, the largest message read
    (TEAMLINE_WS_MAX_BYTES) and the keep-alive pings (TEAMLINE_WS_PING_SECONDS, 0 = none)."""
    ping = float(settings.WS_PING_SECONDS) or None
    return {
        "ws_per_message_deflate": settings.WS_DEFLATE,
        "ws_max_size": int(settings.WS_MAX_BYTES),
        "ws_ping_interval": ping,
        "ws_ping_timeout": ping,
    }


def multi_process_capable() -> bool:
    """PostgreSQL and a channel layer shared between processes (Redis)."""
    layer = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    return connection.vendor == "postgresql" and "InMemory" not in layer


def _log_config() -> dict[str, Any]:
    """uvicorn's own logging, with the filter that masks card numbers, IBANs, national ids and
    one-time codes on each of its handlers (a request line may carry them in a query)."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": "teamline.core.redaction.RedactingFilter"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    return config
