from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "teamline.conversations"
    label = "conversations"
    verbose_name = "Conversations"
