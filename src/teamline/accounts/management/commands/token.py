import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from teamline.accounts.actions import do_create_api_token, do_revoke_api_token
from teamline.accounts.models import ApiToken, TokenScope, User
from teamline.core.errors import TeamlineError

DURATION = re.compile(r"^(\d{1,5})([hdw])$")
UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`12h`, `90d`, `4w` → a timedelta."""
    match = DURATION.match(text.strip())
    if match is None:
        raise CommandError(f"--expires-in takes a number and h, d or w (e.g. 90d), not {text!r}")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


class Command(BaseCommand):
    help = "Manage personal access tokens: create, list, revoke."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a token and print it once")
        create.add_argument("--user", required=True)
        create.add_argument("--name", default="cli")
        create.add_argument(
            "--scope",
            action="append",
            choices=TokenScope.values,
            help="what the token may do (repeat for several); none: everything the user may",
        )
        create.add_argument("--expires-in", help="e.g. 12h, 90d, 4w; none: never expires")
        listing = sub.add_parser("list", help="list a user's tokens")
        listing.add_argument("--user", required=True)
        revoke = sub.add_parser("revoke", help="revoke a token by id")
        revoke.add_argument("id", type=int)

    def handle(self, *args: object, **options: object) -> None:
        action = options["action"]
        if action == "revoke":
            token_id = int(str(options["id"]))
            token = ApiToken.objects.select_related("user").filter(pk=token_id).first()
            if token is None:
                raise CommandError("no such token")
            do_revoke_api_token(token, actor=token.user)
            self.stdout.write(f"revoked token {token.pk} ({token.name})")
            return
        user = User.objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"no user {options['user']!r}")
        if action == "list":
            for token in ApiToken.objects.filter(user=user).order_by("pk"):
                state = (
                    "revoked" if token.revoked_at else "expired" if token.is_expired else "active"
                )
                scopes = ",".join(token.scopes) or "all"
                expires = f"{token.expires_at:%Y-%m-%d %H:%M}" if token.expires_at else "never"
                self.stdout.write(
                    f"{token.pk}\t{token.prefix}…\t{token.name}\t{state}\t{scopes}\t{expires}"
                )
            return
        expires_in = options.get("expires_in")
        expires_at = timezone.now() + parse_duration(str(expires_in)) if expires_in else None
        try:
            _, raw = do_create_api_token(
                user,
                name=str(options["name"]),
                actor=user,
                scopes=options.get("scope") or [],  # type: ignore[arg-type]
                expires_at=expires_at,
            )
        except TeamlineError as exc:  # a bad scope or expiry; privacy for a non-admin
            raise CommandError(exc.message) from exc
        self.stdout.write(raw)
