from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "teamline.teams"
    label = "teams"
    verbose_name = "Teams"
