from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "teamline.accounts"
    label = "accounts"
    verbose_name = "Staff"

    def ready(self) -> None:
        from teamline.core.periodic import register_periodic

        from . import admin, receivers, tasks  # models are loaded only now

        receivers.connect()
        admin.replace_authenticator_admin()
        register_periodic("sweep_sessions", tasks.sweep_sessions)


class TeamlineAdminConfig(admin_apps.AdminConfig):
    """The Django admin with Teamline's site (admins only, throttled sign-in)."""

    default = False  # `accounts` itself is AccountsConfig

    default_site = "teamline.accounts.admin_site.TeamlineAdminSite"
