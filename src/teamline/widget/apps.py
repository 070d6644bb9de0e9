from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class WidgetConfig(AppConfig):
    name = "teamline.widget"
    label = "widget"
    verbose_name = "Web chat widget"

    def ready(self) -> None:
        checks.register(check_socket_message_size, "teamline")


def check_socket_message_size(**kwargs: Any) -> list[checks.CheckMessage]:
    """TEAMLINE_WS_MAX_BYTES below the largest frame the widget accepts would close a
    customer's socket on a long message it is meant to take: said at start."""
    # Deferred: the consumers import models, which are not loaded when apps.py is (ADR 0005).
    from .consumers import LARGEST_FRAME_BYTES

    if int(settings.WS_MAX_BYTES) < LARGEST_FRAME_BYTES:
        return [
            checks.Error(
                f"TEAMLINE_WS_MAX_BYTES is {settings.WS_MAX_BYTES}; the widget's largest frame "
                f"takes up to {LARGEST_FRAME_BYTES} bytes: set at least that.",
                id="teamline.E120",
            )
        ]
    return []
