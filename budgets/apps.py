from django.apps import AppConfig


class BudgetsConfig(AppConfig):
    name = "budgets"

    def ready(self) -> None:
        from costs.extensions import register_decision_hook, register_submission_check

        from .enforcement import check_submission
        from .services import cost_decided

        register_submission_check(check_submission)
        register_decision_hook(cost_decided)
