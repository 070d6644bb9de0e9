from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "teamline.routing"
    label = "routing"
    verbose_name = "Routing"
