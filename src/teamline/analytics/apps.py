from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "teamline.analytics"
    label = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        # Models are loaded only now, so everything is imported here (docs/adr/0005).
        from teamline.conversations import hooks as conversations_hooks
        from teamline.core.periodic import register_periodic

        from . import hooks, tasks

        # Conversations counts a first human reply and a resolution through its hook: it sits
        # below analytics and never imports it.
        conversations_hooks.provide_analytics(hooks)
        # The weekly reports by email (analytics/schedules.py).
        register_periodic("analytics.send_due_reports", tasks.send_due_reports)
