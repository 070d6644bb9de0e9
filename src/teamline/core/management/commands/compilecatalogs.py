from django.core.management.base import BaseCommand, CommandParser

from teamline.core.catalogs import compile_catalogs, po_files


class Command(BaseCommand):
    help = "Compile the translation catalogs (.po → .mo) with Babel; only stale ones by default."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="recompile every catalog")

    def handle(self, *args: object, **options: object) -> None:
        compiled = compile_catalogs(force=bool(options["force"]))
        total = len(po_files())
        self.stdout.write(f"catalogs: {len(compiled)} compiled, {total - len(compiled)} up to date")
