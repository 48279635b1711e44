from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "costs"

    def ready(self) -> None:
        from .imports import admin  # noqa: F401  (billing import admin registrations)
