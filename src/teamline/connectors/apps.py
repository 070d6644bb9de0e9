from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "teamline.connectors"
    label = "connectors"
    verbose_name = "Channels"

    def ready(self) -> None:
        # Models are loaded only now, so the providers are imported here (docs/adr/0005).
        from teamline.conversations.hooks import provide_channels

        from .outbox import ConnectorChannels

        provide_channels(ConnectorChannels())
