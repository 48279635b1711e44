"""The cost explorer ``/costs/``: the cost list API's filters, totals grouped by up to two
keys with a chart, a page of the matching costs, and their CSV.

What is listed, totalled and exported is ``costs.selectors.cost_list`` with the API's query
parameters (``ExplorerForm.api_filters``), so a user sees exactly what the API shows them
and the CSV download is the API's ``?format=csv`` for the same filters.
"""

import csv
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET
from rest_framework.exceptions import ValidationError as FilterError

from costs import reports, selectors
from costs.explorer_forms import GROUP_CHOICES, ExplorerForm
from costs.export import cost_csv_response
from costs.models import Cost
from costtrack.charts import bar_chart, column_chart, format_money
from costtrack.core.money import reporting_currency
from costtrack.core.pagination import CappedCountPaginator

PAGE_SIZE = 50
CHART_BARS = 15
# groups listed on the page; the totals above count every group
GROUP_ROWS = 200
KEY_NAMES = dict(GROUP_CHOICES)


def _filtered(request: HttpRequest) -> tuple[ExplorerForm, Any, dict[str, str]]:
    form = ExplorerForm(request.GET, user=request.user)
    if not form.is_valid():
        return form, Cost.objects.none(), {}
    params = form.api_filters()
    try:
        costs = selectors.cost_list(user=request.user, filters=params)
    except FilterError as exc:
        for name, errors in exc.detail.items():
            for error in errors if isinstance(errors, list) else [errors]:
                form.add_error(name if name in form.fields else None, str(error))
        return form, Cost.objects.none(), {}
    return form, costs, params


def _key_name(key: str) -> str:
    if key.startswith(reports.TAG_PREFIX):
        return f"Tag {key[len(reports.TAG_PREFIX) :]}"
    return KEY_NAMES.get(key, key)


def _label(key: str, value, labels: dict[str, dict]) -> str:
    if value is None:
        return "(none)"
    if key in labels:
        return str(labels[key].get(value, value))
    if key == "month" and isinstance(value, date):
        return value.strftime("%b %Y")
    if key == "quarter" and isinstance(value, date):
        return f"{value.year} Q{(value.month - 1) // 3 + 1}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _chart(keys, rows, labels, currency):
    """Totals of the first key (summed over the second), the largest bars with the rest as
    one "others" bar; time keys as columns in time order."""
    first = keys[0]
    sums: dict[Any, Decimal] = {}
    for row in rows:
        sums[row[first]] = sums.get(row[first], Decimal(0)) + row["total"]
    title = f"Spend by {_key_name(first).lower()}"
    if first in reports.TIME_KEYS:
        ordered = sorted(sums.items(), key=lambda kv: (kv[0] is None, kv[0] or date.min))
        return column_chart(
            title=title,
            labels=[_label(first, k, labels) for k, _ in ordered],
            values=[v for _, v in ordered],
            currency=currency,
        )
    ordered = sorted(sums.items(), key=lambda kv: -kv[1])
    shown, rest = ordered[:CHART_BARS], ordered[CHART_BARS:]
    chart_labels = [_label(first, k, labels) for k, _ in shown]
    values = [v for _, v in shown]
    if rest:
        chart_labels.append(f"{len(rest)} others")
        values.append(sum((v for _, v in rest), Decimal(0)))
    return bar_chart(title=title, labels=chart_labels, values=values, currency=currency)


def _largest_first(keys, rows: list[dict]) -> list[dict]:
    """Groups of an object key by their first key's total, largest first (then each
    second-key group the same way); time keys stay in time order."""
    if not keys or keys[0] in reports.TIME_KEYS:
        return rows
    first = keys[0]
    sums: dict[Any, Decimal] = {}
    for row in rows:
        sums[row[first]] = sums.get(row[first], Decimal(0)) + row["total"]
    return sorted(rows, key=lambda r: (-sums[r[first]], str(r[first]), -r["total"]))


@login_required
@require_GET
def cost_explorer(request: HttpRequest) -> HttpResponse:
    """``/costs/``: filter, group and page through the costs the user may see."""
    form, costs, params = _filtered(request)
    currency = reporting_currency()
    keys = form.cleaned_data.get("keys", ()) if not form.errors else ()
    rows = reports.list_totals(user=request.user, filters=params, costs=costs, group_by=keys)
    grand = sum((r["total"] or Decimal(0) for r in rows), Decimal(0))
    count = sum(r["count"] for r in rows)
    labels = reports.group_labels(rows, [k for k in keys if k != "category"]) if keys else {}
    if "category" in keys:
        labels["category"] = selectors.category_paths()  # names, not slugs
    groups = [
        {
            "labels": [_label(k, r[k], labels) for k in keys],
            "total": format_money(r["total"], currency),
            "count": r["count"],
        }
        for r in _largest_first(keys, rows)[:GROUP_ROWS]
    ]
    page = CappedCountPaginator(costs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    # the CSV view reads the same form (a first visit's default included)
    csv_query = query.urlencode() if query else urlencode(form.data)
    return render(
        request,
        "costs/explorer.html",
        {
            "form": form,
            "currency": currency,
            "keys": [_key_name(k) for k in keys],
            "single_key": len(keys) == 1,
            "groups": groups,
            "groups_left_out": max(len(rows) - GROUP_ROWS, 0) if keys else 0,
            "grand_total": format_money(grand, currency),
            "count": count,
            "chart": _chart(keys, rows, labels, currency) if keys and rows else None,
            "page": page,
            "filter_query": query.urlencode(),
            "csv_url": f"{reverse('cost-explorer-csv')}?{csv_query}",
            "api_csv_url": f"{reverse('cost-list')}?{urlencode({**params, 'format': 'csv'})}",
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def cost_explorer_csv(request: HttpRequest) -> HttpResponse:
    """``/costs/csv/``: every cost the explorer's filters match, as the API's CSV export."""
    form, costs, _params = _filtered(request)
    if form.errors:
        response = HttpResponse(content_type="text/csv; charset=utf-8", status=400)
        writer = csv.writer(response, lineterminator="\n")
        writer.writerow(["field", "message"])
        for name, errors in form.errors.items():
            writer.writerow([name, " ".join(str(e) for e in errors)])
        return response
    return cost_csv_response(costs)
