from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "teamline.connectors"
    label = "connectors"
    verbose_name = "Channels"

    def ready(self) -> None:
        # Models are loaded only now, so the providers are imported here (docs/adr/0005).
        from django.db.models.signals import post_delete, post_save

        from teamline.conversations.hooks import provide_channels
        from teamline.conversations.models import Inbox

        from .outbox import ConnectorChannels
        from .queries import inbox_changed

        provide_channels(ConnectorChannels())
        # The webhook path keeps inboxes per process (queries.webhook_inbox): a change forgets them.
        post_save.connect(inbox_changed, sender=Inbox, dispatch_uid="webhook-inbox-saved")
        post_delete.connect(inbox_changed, sender=Inbox, dispatch_uid="webhook-inbox-deleted")
