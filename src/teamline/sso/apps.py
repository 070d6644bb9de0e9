from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "teamline.sso"
    label = "sso"
    verbose_name = "Single sign-on"
