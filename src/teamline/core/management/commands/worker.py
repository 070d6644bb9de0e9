import contextlib

from django.core.management.base import BaseCommand, CommandParser

from teamline.core.worker import run_worker


class Command(BaseCommand):
    help = "Run a task worker (durable tasks + periodic jobs). Run as many as you need."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=0.5, help="idle poll interval, s")

    def handle(self, *args: object, **options: object) -> None:
        self.stdout.write("Teamline task worker running (Ctrl+C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            run_worker(interval=float(str(options["interval"])))
