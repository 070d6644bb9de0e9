"""`teamline import_team_calendar TEAM FILE.ics`: a team's official calendar from an ICS file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from teamline.core.errors import InvalidInput
from teamline.teams.actions import do_import_team_calendar
from teamline.teams.calendar_import import MAX_CALENDAR_BYTES
from teamline.teams.models import Team


class Command(BaseCommand):
    help = (
        "Import a team's official calendar (holidays and make-up working days) from an ICS "
        "file. Importing the same file again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", help="the team's slug")
        parser.add_argument("file", help="path of the .ics file")

    def handle(self, *args: object, **options: object) -> None:
        team = Team.objects.filter(slug=str(options["team"])).first()
        if team is None:
            raise CommandError(f"no team with the slug {options['team']!r}")
        path = Path(str(options["file"]))
        try:
            if path.stat().st_size > MAX_CALENDAR_BYTES:
                raise CommandError(f"{path} is larger than {MAX_CALENDAR_BYTES // 1000} kB")
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            result = do_import_team_calendar(team, data, actor=None, source=path.name)
        except InvalidInput as exc:
            raise CommandError(f"{path}: {exc.message}") from exc
        self.stdout.write(result.summary())
