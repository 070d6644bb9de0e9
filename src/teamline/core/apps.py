from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "teamline.core"
    label = "core"
    verbose_name = "Teamline core"

    def ready(self) -> None:
        from . import lookups

        lookups.register()
