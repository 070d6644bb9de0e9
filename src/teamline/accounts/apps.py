from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "teamline.accounts"
    label = "accounts"
    verbose_name = "Staff"
