from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "teamline.connectors"
    label = "connectors"
    verbose_name = "Channels"
