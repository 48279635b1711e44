from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CostsConfig(AppConfig):
    name = "costs"

    def ready(self) -> None:
        post_migrate.connect(_ensure_default_categories, sender=self)
        from . import period_admin, periods, reapers  # noqa: F401  (admin registrations)
        from .imports import admin  # noqa: F401  (billing import admin registrations)

        periods.connect()
        from orgunits.extensions import register_move_hook

        from .summary.maintain import units_moving

        register_move_hook(units_moving)
        reapers.connect()


def _ensure_default_categories(sender, using="default", **kwargs) -> None:
    from .categories import ensure_default_categories

    ensure_default_categories(using=using)
