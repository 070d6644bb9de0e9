from django.apps import AppConfig
from django.core import checks

from . import telco


class SelfServiceConfig(AppConfig):
    name = "teamline.selfservice"
    label = "selfservice"
    verbose_name = "Self-service"

    def ready(self) -> None:
        checks.register(telco.check_settings, "teamline")
