from django.apps import AppConfig


class BudgetsConfig(AppConfig):
    name = "budgets"

    def ready(self) -> None:
        from costs.extensions import (
            register_approval_check,
            register_booking_check,
            register_decision_hook,
            register_refusal_hook,
            register_submission_check,
        )

        from .enforcement import check_approval, check_many, check_submission
        from .services import budget_blocked_notify, cost_decided

        register_submission_check(check_submission)
        register_approval_check(check_approval)
        register_booking_check(check_many)
        register_decision_hook(cost_decided)
        register_refusal_hook(budget_blocked_notify)
