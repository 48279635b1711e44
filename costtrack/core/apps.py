from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "costtrack.core"
    label = "core"
    verbose_name = "costtrack core"
