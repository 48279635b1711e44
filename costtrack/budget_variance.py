"""Budget variance: each budget's amount against its actual spend and forecast, per period.

A project-level report because it composes ``budgets`` (limits, periods, spend in the
budget's currency) with the reports API of ``costs``, which must not import ``budgets``.
``GET /api/v1/reports/budget-variance/?on=&periods=&organization_unit=`` (JSON or
``?format=csv``) and ``costtrack reports budget-variance`` answer from ``budget_variance``.
"""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from budgets.models import Budget
from budgets.selectors import budget_list, budget_utilisations, percent
from costs.report_api import ReportView
from orgunits.models import OrganizationUnit
from orgunits.selectors import subtree_q, unit_is_visible, unit_range

MAX_PERIODS = 24


def _status(spent: Decimal, forecast: Decimal | None, amount: Decimal) -> str:
    if spent > amount:
        return "over"
    if forecast is not None and forecast > amount:
        return "at_risk"
    return "under"


SPEND_FIGURES = (
    "actual",
    "committed",
    "spent",
    "forecast",
    "variance",
    "variance_pct",
    "forecast_variance",
    "utilization_pct",
)


def _row(budget, u) -> dict[str, Any]:
    start, end = u.period.as_labels()
    row = {
        "budget_id": budget.pk,
        "budget": budget.name,
        "organization_unit": budget.organization_unit.name,
        "period": budget.period,
        "period_start": start,
        "period_end": end,
        "currency": budget.currency,
        "amount": u.amount,
    }
    if u.conversion_gap is not None:
        # Some spend cannot be converted into the budget's currency: no figure is right.
        return {
            **row,
            **dict.fromkeys(SPEND_FIGURES),
            "status": "unknown",
            "conversion_error": u.conversion_gap.message,
        }
    return {
        **row,
        "actual": u.actual,
        "committed": u.committed,
        "spent": u.spent,
        "forecast": u.forecast,
        "variance": u.amount - u.spent,
        "variance_pct": percent(u.amount - u.spent, u.amount),
        "forecast_variance": None if u.forecast is None else u.amount - u.forecast,
        "utilization_pct": u.utilization_pct,
        "status": _status(u.spent, u.forecast, u.amount),
        "conversion_error": None,
    }


def budget_variance(
    *,
    user=None,
    on: date | None = None,
    periods: int = 1,
    unit: OrganizationUnit | None = None,
) -> list[dict[str, Any]]:
    """Rows of budget vs actual vs forecast for each active budget the user may see (all for
    ``user=None``), for the period containing ``on`` (default today) and the ``periods - 1``
    periods before it (oldest first per budget); optionally only budgets on ``unit``'s subtree.

    Amounts are Decimals in each budget's currency; ``variance`` = amount − spent (negative
    when over), ``forecast_variance`` = amount − forecast (both ``None`` until a tenth of the
    current period has passed). One query for the budgets and one
    per period step and kind of period (monthly, quarterly …).
    """
    if user is None:
        qs = Budget.objects.select_related("organization_unit")
    else:
        qs = budget_list(user=user)
    qs = qs.filter(active=True)
    if unit is not None:
        qs = qs.filter(subtree_q([unit_range(unit)], "organization_unit"))
    budgets = list(qs.order_by("name", "id"))
    now = timezone.now()
    cursor: dict[int, date] = {b.pk: on or timezone.localdate() for b in budgets}
    seen: dict[int, set] = {b.pk: set() for b in budgets}
    rows: list[dict[str, Any]] = []
    for _ in range(max(1, min(periods, MAX_PERIODS))):
        # Budgets stepping back to the same day share one utilisation query.
        by_day: dict[date, list] = defaultdict(list)
        for b in budgets:
            if b.pk in cursor:
                by_day[cursor[b.pk]].append(b)
        for day, group in by_day.items():
            utilisations = budget_utilisations(group, on=day, now=now)
            for b in group:
                u = utilisations[b.pk]
                key = (u.period.start, u.period.end)
                if key in seen[b.pk]:
                    del cursor[b.pk]  # a custom budget has one period only
                    continue
                seen[b.pk].add(key)
                cursor[b.pk] = u.period.first_day - timedelta(days=1)
                rows.append(_row(b, u))
    rows.sort(key=lambda r: (r["budget"], r["budget_id"], r["period_start"]))
    return rows


class VarianceParamsSerializer(serializers.Serializer):
    on = serializers.DateField(required=False)
    periods = serializers.IntegerField(required=False, default=1, min_value=1, max_value=24)
    organization_unit = serializers.IntegerField(required=False, min_value=1)

    def validate_organization_unit(self, value: int) -> OrganizationUnit:
        unit = OrganizationUnit.objects.filter(pk=value).first()
        if unit is None or not unit_is_visible(user=self.context["request"].user, unit=unit):
            raise serializers.ValidationError(f"Unit {value} does not exist.")
        return unit


@extend_schema(parameters=[VarianceParamsSerializer], responses={200: dict})
class BudgetVarianceView(ReportView):
    """Budget vs actual vs forecast per budget and period (in each budget's currency)."""

    def get(self, request: Request) -> Response:
        params = self.params(VarianceParamsSerializer, request).validated_data
        rows = budget_variance(
            user=request.user,
            on=params.get("on"),
            periods=params["periods"],
            unit=params.get("organization_unit"),
        )
        results = [
            {k: (str(v) if isinstance(v, Decimal) else v) for k, v in row.items()} for row in rows
        ]
        return Response({"count": len(results), "results": results})
