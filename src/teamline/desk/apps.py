from django.apps import AppConfig


class DeskConfig(AppConfig):
    name = "teamline.desk"
    label = "desk"
    verbose_name = "Desk"
