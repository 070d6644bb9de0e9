from django.apps import AppConfig


class RepliesConfig(AppConfig):
    name = "teamline.replies"
    label = "replies"
    verbose_name = "Canned replies"
