import getpass

from django.core.management.base import BaseCommand, CommandError, CommandParser

from teamline.accounts.actions import do_create_staff_user
from teamline.accounts.models import Role, User


class Command(BaseCommand):
    help = "Create a Teamline admin (Django admin access, sees every team)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="prompted for when omitted")

    def handle(self, *args: object, **options: object) -> None:
        username = str(options["username"])
        if User.objects.filter(username=username).exists():
            raise CommandError(f"user {username!r} already exists")
        password = options["password"] or getpass.getpass("Password: ")
        if len(str(password)) < 8:
            raise CommandError("use a password of at least 8 characters")
        do_create_staff_user(
            username=username, password=str(password), role=Role.ADMIN, email=str(options["email"])
        )
        self.stdout.write(self.style.SUCCESS(f"admin {username!r} created"))
