from django.apps import AppConfig


class CommunityConfig(AppConfig):
    name = "teamline.community"
    label = "community"
    verbose_name = "Community Q&A"
