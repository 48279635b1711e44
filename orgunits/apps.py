from django.apps import AppConfig


class OrgunitsConfig(AppConfig):
    name = "orgunits"
    verbose_name = "Organisation"
