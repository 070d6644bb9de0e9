from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "teamline.analytics"
    label = "analytics"
    verbose_name = "Analytics"
