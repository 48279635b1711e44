"""Budgets forecast to overrun: active budgets whose forecast for the current period (the
budgets app's run-rate forecast, one query for every budget's spend) exceeds the amount."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from budgets.models import Budget
from budgets.selectors import MissingExchangeRate, budget_utilisations, convert
from costtrack.core.money import reporting_currency

from .common import Candidate, cents, money

KIND = "budget_overrun"


def budget_overrun_candidates(*, now: datetime, **_) -> list[Candidate]:
    budgets = list(
        Budget.objects.filter(active=True).select_related("organization_unit").order_by("id")
    )
    if not budgets:
        return []
    reporting = reporting_currency()
    today = timezone.localdate(now)
    found = []
    for budget_id, util in budget_utilisations(budgets, now=now).items():
        if util.conversion_gap is not None or util.forecast <= util.amount:
            continue
        budget = util.budget
        over = util.forecast - util.amount
        try:
            at_stake = convert(
                amount=over, currency=budget.currency, to_currency=reporting, day=today
            )
        except MissingExchangeRate:
            continue
        days_left = max((util.period.last_day - today).days, 0)
        found.append(
            Candidate(
                kind=KIND,
                key=f"{KIND}:{budget_id}:{util.period.first_day.isoformat()}",
                title=f"Budget {budget.name} is forecast to overrun by {money(over)} "
                f"{budget.currency}, {days_left} days before its period ends",
                unit_id=budget.organization_unit_id,
                amount=cents(at_stake),
                link=f"/budgets/#budget-{budget_id}",
                evidence={
                    "budget": budget_id,
                    "currency": budget.currency,
                    "amount": money(util.amount),
                    "spent": money(util.spent),
                    "forecast": money(util.forecast),
                    "forecast_pct": str(util.forecast_pct),
                    "overrun": money(over),
                    "period_start": util.period.first_day.isoformat(),
                    "period_end": util.period.last_day.isoformat(),
                    "days_left": days_left,
                },
            )
        )
    return found
