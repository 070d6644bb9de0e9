from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "teamline.calls"
    label = "calls"
    verbose_name = "Calls"
