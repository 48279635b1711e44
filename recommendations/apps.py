from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "recommendations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The lower apps offer hooks; recomputing after their work is this app's business.
        from allocation.extensions import register_run_finished_hook
        from costs.extensions import register_import_finished_hook

        from .triggers import queue_after_allocation_run, queue_after_import

        register_import_finished_hook(queue_after_import)
        register_run_finished_hook(queue_after_allocation_run)
