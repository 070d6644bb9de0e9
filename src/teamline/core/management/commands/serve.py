import copy
from typing import Any

import uvicorn
import uvicorn.config
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from teamline.core.worker import start_embedded_worker


class Command(BaseCommand):
    help = "Serve Teamline (HTTP + websockets); in embedded mode also run the task worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
        parser.add_argument(
            "--no-worker", action="store_true", help="do not run the embedded task worker"
        )

    def handle(self, *args: object, **options: object) -> None:
        call_command("collectstatic", "--no-input", verbosity=0)
        embedded = settings.EMBEDDED_WORKER and not options["no_worker"]
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
            workers=int(str(options["workers"])),
            lifespan="off",
            log_level="warning",
            log_config=_log_config(),
            proxy_headers=True,
        )


def _log_config() -> dict[str, Any]:
    """uvicorn's own logging, with the filter that masks card numbers, IBANs, national ids and
    one-time codes on each of its handlers (a request line may carry them in a query)."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": "teamline.core.redaction.RedactingFilter"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    return config
