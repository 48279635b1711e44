"""Reads of accounting periods: lists, the pending costs of a period, its live totals."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, QuerySet, Sum

from costtrack.core.exceptions import NotFound, ValidationError
from costtrack.core.money import reporting_currency, round_money

from ..models import Cost, CostStatus
from ..period_models import AccountingPeriod, PeriodStatus, RecurringCostOccurrence
from .dates import parse_label


def period_list(*, status: str | None = None) -> QuerySet[AccountingPeriod]:
    qs = AccountingPeriod.objects.select_related("closed_by").order_by("-start")
    if status:
        if status not in PeriodStatus.values:
            raise ValidationError(
                f"Unknown status '{status}': use one of {', '.join(PeriodStatus.values)}.",
                field="status",
            )
        qs = qs.filter(status=status)
    return qs


def period_get(*, label: str | None = None, pk: int | None = None) -> AccountingPeriod:
    """The period by label (YYYY-MM) or id, or ``NotFound``."""
    if label is not None:
        parse_label(label)
        period = AccountingPeriod.objects.filter(label=label).first()
    else:
        period = AccountingPeriod.objects.filter(pk=pk).first()
    if period is None:
        raise NotFound(f"No period {label or pk}: create it first.")
    return period


def period_costs(period: AccountingPeriod) -> QuerySet[Cost]:
    return Cost.objects.filter(incurred_on__gte=period.start, incurred_on__lte=period.end)


def period_pending(period: AccountingPeriod) -> list[dict]:
    """The costs of the period still waiting for a decision, oldest first."""
    rows = (
        period_costs(period)
        .filter(status=CostStatus.PENDING)
        .order_by("incurred_on", "id")
        .values("id", "amount", "currency", "incurred_on", "description")
    )
    return [
        {
            "id": r["id"],
            "amount": str(round_money(r["amount"], r["currency"])),
            "currency": r["currency"],
            "incurred_on": str(r["incurred_on"]),
            "description": r["description"],
        }
        for r in rows
    ]


def period_totals(period: AccountingPeriod) -> dict:
    """Live totals of a period in the reporting currency (one grouped query, plus one count).

    ``approved`` is actual spend, ``pending`` committed spend; ``by_status`` has count and
    total per status, ``by_category`` the approved total per category slug.
    """
    rows = (
        period_costs(period)
        .values_list("status", "category__slug")
        .annotate(count=Count("id"), total=Sum("amount_reporting"))
        .order_by()
    )
    by_status: dict[str, dict] = {}
    by_category: dict[str, Decimal] = {}
    sums: dict[str, Decimal] = {}
    for status, slug, count, total in rows:
        entry = by_status.setdefault(status, {"count": 0, "total": Decimal(0)})
        entry["count"] += count
        entry["total"] += total
        sums[status] = sums.get(status, Decimal(0)) + total
        if status == CostStatus.APPROVED:
            by_category[slug] = by_category.get(slug, Decimal(0)) + total
    recurring = RecurringCostOccurrence.objects.filter(
        due_on__gte=period.start, due_on__lte=period.end
    ).count()
    currency = reporting_currency()

    def money(value) -> str:
        return str(round_money(value or Decimal(0), currency))

    return {
        "period": period.label,
        "start": str(period.start),
        "end": str(period.end),
        "currency": currency,
        "approved": money(sums.get(CostStatus.APPROVED)),
        "pending": money(sums.get(CostStatus.PENDING)),
        "cost_count": sum(e["count"] for e in by_status.values()),
        "by_status": {
            k: {"count": v["count"], "total": money(v["total"])}
            for k, v in sorted(by_status.items())
        },
        "by_category": {k: money(v) for k, v in sorted(by_category.items())},
        "recurring_occurrences": recurring,
    }
