"""Project-level pages that compose several apps: the dashboard, unit and resource dashboards
(costs rolled up with ``costs.reports``, budgets from ``budgets.selectors``), and a health check.

They live in the project package because they span ``costs`` and ``budgets``, and ``costs``
must not import ``budgets``. Each page runs a fixed number of queries whatever the data.
"""

from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from budgets.selectors import budget_list, budget_utilisations, my_budget_bars
from costs import reports
from costs.selectors import costs_awaiting
from costtrack.charts import bar_chart, column_chart, format_money
from costtrack.core.money import reporting_currency
from costtrack.core.pagination import capped_count, count_cap
from orgunits.models import OrganizationUnit
from orgunits.selectors import resource_list, subtree_q, unit_is_visible, unit_range

TREND_MONTHS = 12
TOP = 10


def _window(today: date) -> tuple[date, date]:
    """The 12 calendar months up to and including this one."""
    last = today.replace(day=1)
    first = reports.add_months(last, -(TREND_MONTHS - 1))
    return first, reports.add_months(last, 1) - timedelta(days=1)


def _trend_chart(trend: list[dict], title: str, currency: str):
    return column_chart(
        title=title,
        labels=[r["month"].strftime("%b %Y") for r in trend],
        values=[r["total"] for r in trend],
        currency=currency,
    )


def _breakdown_chart(rows: list[dict], title: str, currency: str):
    return bar_chart(
        title=title,
        labels=[str(r["label"]) for r in rows],
        values=[r["total"] for r in rows],
        currency=currency,
    )


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    currency = reporting_currency()
    today = timezone.localdate()
    trend = reports.monthly_trend(months=TREND_MONTHS, end_month=today, user=user)
    this_month, last_month = trend[-1], trend[-2]
    change = None
    if last_month["total"]:
        change = (this_month["total"] - last_month["total"]) * 100 / last_month["total"]
        change = change.quantize(Decimal("0.1"))
    month_end = reports.add_months(this_month["month"], 1) - timedelta(days=1)
    top = reports.top_units(user=user, start=this_month["month"], end=month_end, limit=8)
    awaiting = costs_awaiting(user)
    pending_count, pending_capped = capped_count(awaiting, count_cap())
    context = {
        "currency": currency,
        "this_month": this_month,
        "last_month": last_month,
        "this_month_total": format_money(this_month["total"], currency),
        "last_month_total": format_money(last_month["total"], currency),
        "change_pct": change,
        "trend_chart": _trend_chart(trend, "Approved spend per month", currency),
        "top_units": top,
        "units_chart": bar_chart(
            title=f"Top units, {this_month['month']:%B %Y} (with subunits)",
            labels=[r["unit"].name for r in top],
            values=[r["total"] for r in top],
            currency=currency,
        ),
        "budget_bars": my_budget_bars(user=user),
        "pending": list(awaiting[:10]),
        "pending_count": pending_count,
        "pending_capped": pending_capped,
    }
    return render(request, "dashboard.html", context)


def _covering_budget_bars(user, unit: OrganizationUnit, *, with_subtree: bool):
    """Active budgets the user may see on the unit's ancestors (which cover it), on the unit,
    and (``with_subtree``) on its subunits; with utilisation, in two queries."""
    tree_id, lft, rght = unit_range(unit)
    condition = Q(
        organization_unit__tree_id=tree_id,
        organization_unit__lft__lte=lft,
        organization_unit__rght__gte=rght,
    )
    if with_subtree:
        condition |= subtree_q([unit_range(unit)], "organization_unit")
    budgets = list(budget_list(user=user).filter(condition, active=True))
    utils = budget_utilisations(budgets)
    return [utils[b.pk] for b in budgets]


@login_required
@require_GET
def unit_dashboard(request: HttpRequest, pk: int) -> HttpResponse:
    """A unit's spend: monthly trend, subunits, categories and resources (its subtree), and
    the budgets that cover it. 404 for a unit the user cannot see."""
    user = request.user
    unit = OrganizationUnit.objects.select_related("owner").filter(pk=pk).first()
    if unit is None or not unit_is_visible(user=user, unit=unit):
        raise Http404("No such unit.")
    currency = reporting_currency()
    start, end = _window(timezone.localdate())
    filters = {"user": user, "unit": unit, "start": start, "end": end}
    trend = reports.monthly_trend(months=TREND_MONTHS, end_month=end, user=user, unit=unit)
    rollup = reports.rollup(unit=unit, user=user, start=start, end=end)
    children = sorted(rollup.children, key=lambda c: (-c["total"], c["unit"].name))
    categories = reports.totals_by("category", limit=TOP, **filters)
    resources = reports.totals_by("resource", limit=TOP + 1, **filters)
    resources = [r for r in resources if r["resource"] is not None][:TOP]  # costs on a resource
    context = {
        "unit": unit,
        "ancestors": list(unit.get_ancestors()),
        "currency": currency,
        "start": start,
        "end": end,
        "rollup_total": format_money(rollup.total, currency),
        "rollup_own": format_money(rollup.own, currency),
        "trend_chart": _trend_chart(trend, f"{unit.name}: approved spend per month", currency),
        "children": children,
        "children_chart": bar_chart(
            title=f"{unit.name}: spend by subunit (with their subunits)",
            labels=[c["unit"].name for c in children],
            values=[c["total"] for c in children],
            currency=currency,
        ),
        "category_chart": _breakdown_chart(categories, f"{unit.name}: by category", currency),
        "resources": resources,
        "resource_chart": _breakdown_chart(resources, f"{unit.name}: top resources", currency),
        "budget_bars": _covering_budget_bars(user, unit, with_subtree=True),
    }
    return render(request, "reports/unit.html", context)


@login_required
@require_GET
def resource_dashboard(request: HttpRequest, pk: int) -> HttpResponse:
    """A resource's spend: monthly trend, categories, original currencies, and the budgets
    of its unit and the unit's ancestors. 404 for a resource the user cannot see."""
    user = request.user
    resource = resource_list(user=user).filter(pk=pk).first()
    if resource is None:
        raise Http404("No such resource.")
    currency = reporting_currency()
    start, end = _window(timezone.localdate())
    filters = {"user": user, "resource": resource, "start": start, "end": end}
    trend = reports.monthly_trend(months=TREND_MONTHS, end_month=end, user=user, resource=resource)
    categories = reports.totals_by("category", limit=TOP, **filters)
    by_currency = reports.cost_totals_by_currency(**filters)
    for row in by_currency:
        row["amount"] = format_money(row["amount"], row["currency"])
    context = {
        "resource": resource,
        "currency": currency,
        "start": start,
        "end": end,
        "total": format_money(sum((r["total"] for r in trend), Decimal(0)), currency),
        "trend_chart": _trend_chart(trend, f"{resource.name}: approved spend per month", currency),
        "category_chart": _breakdown_chart(categories, f"{resource.name}: by category", currency),
        "by_currency": by_currency,
        "budget_bars": _covering_budget_bars(user, resource.organization_unit, with_subtree=False),
    }
    return render(request, "reports/resource.html", context)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the process answers and the database is reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
