from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "teamline.customers"
    label = "customers"
    verbose_name = "Customers"
