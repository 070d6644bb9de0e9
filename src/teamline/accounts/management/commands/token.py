from django.core.management.base import BaseCommand, CommandError, CommandParser

from teamline.accounts.actions import do_create_api_token, do_revoke_api_token
from teamline.accounts.models import ApiToken, User


class Command(BaseCommand):
    help = "Manage personal access tokens: create, list, revoke."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a token and print it once")
        create.add_argument("--user", required=True)
        create.add_argument("--name", default="cli")
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
                state = "revoked" if token.revoked_at else "active"
                self.stdout.write(f"{token.pk}\t{token.prefix}…\t{token.name}\t{state}")
            return
        _, raw = do_create_api_token(user, name=str(options["name"]), actor=user)
        self.stdout.write(raw)
