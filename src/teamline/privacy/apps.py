from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "teamline.privacy"
    label = "privacy"
    verbose_name = "Privacy"

    def ready(self) -> None:
        # Models are loaded only now, so the task module is imported here (docs/adr/0005).
        from teamline.core.periodic import register_periodic

        from . import tasks

        # The worker enqueues it once per slot; the job itself runs once a day.
        register_periodic("apply_retention", tasks.apply_retention)
