from django.apps import AppConfig


class WidgetConfig(AppConfig):
    name = "teamline.widget"
    label = "widget"
    verbose_name = "Web chat widget"
