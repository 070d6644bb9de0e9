from django.apps import AppConfig
from django.core import checks

from . import telco


class SelfServiceConfig(AppConfig):
    name = "teamline.selfservice"
    label = "selfservice"
    verbose_name = "Self-service"

    def ready(self) -> None:
        checks.register(telco.check_settings, "teamline")
        # Models load before ready(): the IVR (it imports them) is provided here.
        from teamline.analytics.reports import provide_deflection
        from teamline.connectors.voice import provide_call_flow
        from teamline.conversations.hooks import provide_self_service

        from .deflection import deflection_by_interval
        from .intake import SelfServiceFlow
        from .ivr import IvrFlow

        provide_call_flow(IvrFlow())
        provide_self_service(SelfServiceFlow())
        # The KPIs' and reports' deflection figure (analytics sits below self-service).
        provide_deflection(deflection_by_interval)
