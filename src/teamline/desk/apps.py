from django.apps import AppConfig


class DeskConfig(AppConfig):
    name = "teamline.desk"
    label = "desk"
    verbose_name = "Desk"

    def ready(self) -> None:
        from teamline.core.events import listen_to_committed_events

        from .wallboard_live import note_committed

        # Live wallboards follow committed events (desk/wallboard_live.py).
        listen_to_committed_events(note_committed)
