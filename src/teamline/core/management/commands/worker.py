import contextlib
import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from teamline.core.worker import run_worker


class Command(BaseCommand):
    help = "Run a task worker (durable tasks + periodic jobs). Run as many as you need."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=0.5, help="idle poll interval, s")
        parser.add_argument(
            "--nice",
            type=int,
            default=None,
            help="lower the worker's OS priority by this much, 0-19 (default: "
            "TEAMLINE_WORKER_NICE, 5): web processes on the same machine get the CPU first",
        )

    def handle(self, *args: object, **options: object) -> None:
        nice = options["nice"]
        nice = int(settings.TEAMLINE["WORKER_NICE"]) if nice is None else int(str(nice))
        if not 0 <= nice <= 19:
            raise CommandError("--nice is a number from 0 to 19.")
        if nice and hasattr(os, "nice"):
            # Before any thread starts: the heartbeat and push threads inherit it.
            os.nice(nice)
        self.stdout.write(
            f"Teamline task worker running (Ctrl+C to stop), OS priority lowered by {nice}"
        )
        with contextlib.suppress(KeyboardInterrupt):
            run_worker(interval=float(str(options["interval"])))
