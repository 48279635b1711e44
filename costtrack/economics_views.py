"""Pages of product economics beside the allocation explorer: the product P&L of a run and a
product's page (its P&L figures, the products below it, and its unit costs month by month).

They live in the project package because they draw with ``costtrack.charts``. Every figure
comes from ``allocation.economics`` with the user's scope: a product of another unit is a
404, and the P&L lists only the products the user sees. Each page runs a fixed number of
queries whatever the number of products.
"""

from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from allocation import economics, selectors
from allocation.models import AllocationRun, CostNode
from costtrack.charts import bar_chart, column_chart, format_money, line_chart
from costtrack.core.exceptions import NotFound

CHART_PRODUCTS = 15
TREND_MONTHS = 12


def _run(request: HttpRequest) -> AllocationRun | None:
    """The run of ``?run=`` (404 when unknown or not successful), else the latest one."""
    run_id = request.GET.get("run")
    if not run_id:
        return selectors.latest_run(user=request.user)
    try:
        run = selectors.run_get(run_id=run_id, user=request.user)
    except NotFound:
        raise Http404("No such allocation run.") from None
    if run.status != AllocationRun.Status.SUCCEEDED:
        raise Http404("This run did not succeed: it has no figures.")
    return run


def _runs(request: HttpRequest) -> list[AllocationRun]:
    return list(
        selectors.run_list(user=request.user).filter(status=AllocationRun.Status.SUCCEEDED)[:12]
    )


def _display(figures: dict, currency: str) -> dict:
    shown = {k: format_money(v, currency) for k, v in figures.items() if k != "margin_pct"}
    shown["margin_pct"] = figures["margin_pct"]
    shown["negative"] = figures["gross_margin"] < 0
    return shown


def _table_rows(report: dict) -> list[dict]:
    """Rows of the P&L table in tree order: each product with its own figures, and after
    the subtree of a product with children a row with its rolled-up figures."""
    currency = report["currency"]
    rows: list[dict] = []
    open_parents: list[dict] = []
    for product in report["products"]:
        while open_parents and open_parents[-1]["depth"] >= product["depth"]:
            rows.append(_total_row(open_parents.pop(), currency))
        rows.append({"kind": "product", "product": product, **_display(product["own"], currency)})
        if product["children"]:
            open_parents.append(product)
    while open_parents:
        rows.append(_total_row(open_parents.pop(), currency))
    return rows


def _total_row(product: dict, currency: str) -> dict:
    return {"kind": "total", "product": product, **_display(product["rolled_up"], currency)}


@login_required
@require_GET
def pnl_page(request: HttpRequest) -> HttpResponse:
    """``/allocation/pnl/?run=``: the product P&L of a run (the latest successful one)."""
    run = _run(request)
    context: dict = {"run": run, "runs": _runs(request), "rows": [], "chart": None}
    if run is not None:
        report = economics.product_pnl(run=run, user=request.user)
        currency = report["currency"]
        leaves = sorted(
            (p for p in report["products"] if p["final_cost_centre"]),
            key=lambda p: (-p["own"]["gross_margin"], p["name"]),
        )[:CHART_PRODUCTS]
        context.update(
            report=report,
            rows=_table_rows(report),
            totals=_display(report["totals"], currency),
            chart=bar_chart(
                title=f"Gross margin per product, {run.period_start:%B %Y}",
                labels=[p["name"] for p in leaves],
                values=[p["own"]["gross_margin"] for p in leaves],
                currency=currency,
                colour_by_sign=True,
            ),
        )
    return render(request, "allocation/pnl.html", context)


def _from_first_run(points: list[dict]) -> list[dict]:
    """The months from the first one an allocation ran for (earlier ones say nothing)."""
    for index, point in enumerate(points):
        if point["run"] is not None:
            return points[index:]
    return []


def _unit_cost_charts(trend: dict) -> list[dict]:
    currency = trend["currency"] or ""
    charts = []
    for series in trend["metrics"]:
        points = _from_first_run(series["points"])
        if not points:
            continue
        charts.append(
            {
                "series": series,
                "chart": line_chart(
                    title=f"{trend['name']}: cost {series['label']}",
                    labels=[p["month"] for p in points],
                    values=[p["cost_per_unit"] or Decimal(0) for p in points],
                    currency=currency,
                ),
                "rows": [
                    {
                        "month": p["month"],
                        "cost": format_money(p["cost"], currency) if p["cost"] is not None else "–",
                        "quantity": f"{p['quantity'].normalize():,f}",
                        "cost_per_unit": p["cost_per_unit"],
                    }
                    for p in points
                ],
            }
        )
    return charts


@login_required
@require_GET
def product_page(request: HttpRequest, pk: int) -> HttpResponse:
    """``/allocation/products/<id>/?run=``: a product's P&L in a run, the products that roll
    up into it, and its cost per unit of usage over the last twelve months."""
    node = (
        selectors.node_list(user=request.user)
        .filter(pk=pk, kind=CostNode.Kind.PRODUCT)
        .select_related("parent_product")
        .first()
    )
    if node is None:
        raise Http404("No such product.")
    run = _run(request)
    line, children, ancestors = None, [], []
    if run is not None:
        report = economics.product_pnl(run=run, user=request.user)
        by_node = {p["node"]: p for p in report["products"]}
        line = by_node.get(node.pk)
        if line is not None:
            currency = report["currency"]
            line = {
                **line,
                "own_shown": _display(line["own"], currency),
                "rolled_shown": _display(line["rolled_up"], currency),
                "before_passing_on": format_money(
                    line["own"]["holistic_cost"] + line["passed_on"], currency
                ),
                "passed_on_shown": format_money(line["passed_on"], currency),
            }
            children = [
                {**by_node[c], "shown": _display(by_node[c]["rolled_up"], currency)}
                for c in line["children"]
            ]
            parent = by_node.get(line["parent_product"])
            while parent is not None:
                ancestors.insert(0, parent)
                parent = by_node.get(parent["parent_product"])
    trend = economics.unit_cost_trend(
        node=node, months=TREND_MONTHS, end=run.period_start if run else None
    )
    currency = trend["currency"] or (run.currency if run else "")
    months = _from_first_run(trend["months"])
    cost_chart = column_chart(
        title=f"{node.name}: holistic cost per month, before passing any on",
        labels=[m["month"] for m in months],
        values=[m["cost"] or Decimal(0) for m in months],
        currency=currency,
    )
    return render(
        request,
        "allocation/product.html",
        {
            "node": node,
            "run": run,
            "runs": _runs(request),
            "line": line,
            "children": sorted(children, key=lambda c: c["name"]),
            "ancestors": ancestors,
            "cost_chart": cost_chart,
            "unit_costs": _unit_cost_charts(trend),
            "currency": currency,
        },
    )
