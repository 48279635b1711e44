from django.apps import AppConfig


class CosttrackConfig(AppConfig):
    """The project package as an app: it owns the commands that span every app (demo, bench)."""

    name = "costtrack"
    verbose_name = "costtrack"
