"""`teamline integration-key create|list|revoke`: the keys operators' systems sign event
batches with (docs/proactive.md, "Keys and signing"), like `teamline token` for personal
access tokens. Creating and revoking name the admin who does it (`--admin`), for the audit
log; the secret is printed once."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from teamline.accounts.models import User
from teamline.core.errors import TeamlineError
from teamline.proactive.actions import do_create_integration_key, do_revoke_integration_key
from teamline.proactive.queries import access_integration_key, integration_keys


class Command(BaseCommand):
    help = "Manage integration keys for POST /api/v1/events: create, list, revoke."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="make a key and print its id and secret once")
        create.add_argument("--name", required=True, help="which system signs with it")
        create.add_argument("--admin", required=True, help="the admin making it (audited)")
        sub.add_parser("list", help="list the keys (never their secrets)")
        revoke = sub.add_parser("revoke", help="revoke a key by its number (from `list`)")
        revoke.add_argument("id", type=int)
        revoke.add_argument("--admin", required=True, help="the admin revoking it (audited)")

    def handle(self, *args: object, **options: object) -> None:
        action = options["action"]
        if action == "list":
            for key in integration_keys():
                state = "revoked" if key.revoked_at else "active"
                used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
                self.stdout.write(f"{key.pk}\t{key.key_id}\t{key.name}\t{state}\tlast used {used}")
            return
        admin = User.objects.filter(username=options["admin"]).first()
        if admin is None:
            raise CommandError(f"no user {options['admin']!r}")
        try:
            if action == "create":
                made = do_create_integration_key(str(options["name"]), actor=admin)
                self.stdout.write(f"X-Teamline-Key: {made.key.key_id}")
                self.stdout.write(f"secret: {made.secret}")
                self.stderr.write("Copy the secret now: it is not shown again.")
                return
            key = access_integration_key(admin, options["id"])
            was_active = key.revoked_at is None
            do_revoke_integration_key(key, actor=admin)
        except TeamlineError as exc:  # not an admin, a bad name, no such key
            raise CommandError(exc.message) from exc
        said = "revoked" if was_active else "was already revoked"
        self.stdout.write(f"{said}: key {key.pk} ({key.name}, {key.key_id})")
