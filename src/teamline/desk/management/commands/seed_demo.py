from django.conf import settings
from django.core.management.base import BaseCommand

from teamline.desk.demo import DEMO_INBOX_ID, DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Seed the demo data (idempotent) and print the demo logins."

    def handle(self, *args: object, **options: object) -> None:
        logins = seed_demo()
        url = settings.PUBLIC_URL
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Brand page with the chat widget: {url}/widget/demo/")
        self.stdout.write(f"  Agent desk:                      {url}/desk/")
        self.stdout.write(f"  Admin:                           {url}/admin/")
        self.stdout.write(f"  API docs:                        {url}/api/v1/docs")
        self.stdout.write(f"  Demo inbox id:                   {DEMO_INBOX_ID}")
        self.stdout.write(f"  Logins (password for all: {DEMO_PASSWORD}):")
        for login in logins:
            self.stdout.write(f"    {login.username:<10} {login.role:<10} {login.team}")
