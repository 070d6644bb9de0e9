from django.apps import AppConfig


class ProactiveConfig(AppConfig):
    name = "teamline.proactive"
    label = "proactive"
    verbose_name = "Proactive care"

    def ready(self) -> None:
        # Models load before ready(): the identity listener (it imports them) is provided here.
        from teamline.core.periodic import register_periodic
        from teamline.core.worker import register_loop
        from teamline.customers.hooks import on_identity_known

        from .actions import match_known_identity
        from .stream import consume
        from .tasks import detect_suspected_outages, sweep_events

        on_identity_known("proactive", match_known_identity)
        register_periodic("proactive.sweep", sweep_events)
        register_periodic("proactive.detect_outages", detect_suspected_outages)
        register_loop("proactive.events", consume)
