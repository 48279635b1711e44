"""Product economics, worked to the cent: revenue, the product P&L with roll-ups, unit costs.

The worked example (March 2025, USD; EUR at 1.20):

    db (shared, 1,000.00) ── fixed 30 % ──────────► reporting (product, direct 50.00)
                          ── residual_to_max ─────► checkout  (400,000 requests)
                          ── residual_to_max ─────► search    (100,000 requests)
    k8s (platform, 600.00) ── proportional cpu ───► checkout 1 h, search 2 h
    reporting ── fixed 40 % ──────────────────────► checkout  (a partial roll-up)

    product tree: suite ⊃ {checkout, search}; reporting on its own

db gives reporting 300.00, checkout the whole 700.00 that is left, search 0.00; k8s gives
checkout 200.00 and search 400.00; reporting (holistic 350.00) passes 140.00 on to checkout
and keeps 210.00, of which 30.00 direct (50 × 210 / 350) and 180.00 allocated.

    product     revenue   direct  allocated  holistic   margin  margin %
    checkout    1620.00     0.00    1040.00   1040.00   580.00    35.80
    search       300.00     0.00     400.00    400.00  -100.00   -33.33
    suite         50.00     0.00       0.00      0.00    50.00   100.00   own
    suite       1970.00     0.00    1440.00   1440.00   530.00    26.90   rolled up
    reporting      0.00    30.00     180.00    210.00  -210.00        –
    total       1970.00    30.00    1620.00   1650.00   320.00    16.24

1,650.00 is the raw infrastructure cost and what reached final cost centres.
"""

from datetime import date
from decimal import Decimal

import pytest

from allocation import economics, services
from allocation.models import CostNode, Revenue

from .factories import approved_cost, node, usage

pytestmark = pytest.mark.django_db
D = Decimal


def figures(revenue, direct, allocated, holistic, margin, pct):
    return {
        "revenue": D(revenue),
        "direct_cost": D(direct),
        "allocated_cost": D(allocated),
        "holistic_cost": D(holistic),
        "gross_margin": D(margin),
        "margin_pct": None if pct is None else D(pct),
    }


def test_the_residual_to_max_worked_example_in_a_run(econ):
    explained = {
        n: sum(r.holistic for r in econ["run"].results.filter(node=econ[n]))
        for n in ("checkout", "search", "reporting")
    }
    assert explained == {"checkout": D("1040.00"), "search": D("400.00"), "reporting": D("350.00")}


def test_revenue_is_converted_like_costs(econ):
    row = Revenue.objects.get(node=econ["checkout"], date=date(2025, 3, 10))
    assert (row.amount, row.currency, row.amount_reporting, row.exchange_rate) == (
        D("100.00"),
        "EUR",
        D("120.00"),
        D("1.2"),
    )


def test_the_product_pnl_to_the_cent(econ):
    report = economics.product_pnl(run=econ["run"])
    assert report["currency"] == "USD"
    lines = {p["name"]: p for p in report["products"]}
    assert [(p["name"], p["depth"]) for p in report["products"]] == [
        ("reporting", 0),
        ("suite", 0),
        ("checkout", 1),
        ("search", 1),
    ]
    assert lines["checkout"]["own"] == figures("1620", "0", "1040", "1040", "580", "35.80")
    assert lines["search"]["own"] == figures("300", "0", "400", "400", "-100", "-33.33")
    assert lines["suite"]["own"] == figures("50", "0", "0", "0", "50", "100.00")
    assert lines["suite"]["rolled_up"] == figures("1970", "0", "1440", "1440", "530", "26.90")
    assert lines["reporting"]["own"] == figures("0", "30", "180", "210", "-210", None)
    assert lines["reporting"]["passed_on"] == D("140.00")
    assert lines["reporting"]["final_cost_centre"] is True  # keeps its residual
    assert lines["checkout"]["rolled_up"] == lines["checkout"]["own"]  # a leaf
    assert lines["suite"]["children"] == sorted([econ["checkout"].pk, econ["search"].pk])
    assert report["totals"] == figures("1970", "30", "1620", "1650", "320", "16.24")


def test_roll_ups_conserve_the_totals_to_the_cent(econ):
    run = econ["run"]
    report = economics.product_pnl(run=run)
    roots = [p for p in report["products"] if p["parent_product"] is None]
    for key in ("revenue", "direct_cost", "allocated_cost", "holistic_cost", "gross_margin"):
        assert sum(p["rolled_up"][key] for p in roots) == report["totals"][key]
        assert sum(p["own"][key] for p in report["products"]) == report["totals"][key]
    # every cent that reached a final cost centre is in the P&L, and nothing else
    assert report["totals"]["holistic_cost"] == run.allocated_total == run.raw_total


def test_a_three_level_tree_rolls_up_through_every_level(econ):
    group = node("group")
    services.node_update(node=econ["suite"], parent_product=group)
    services.node_update(node=econ["reporting"], parent_product=group)
    report = economics.product_pnl(run=econ["run"])
    lines = {p["name"]: p for p in report["products"]}
    assert [(p["name"], p["depth"]) for p in report["products"]] == [
        ("group", 0),
        ("reporting", 1),
        ("suite", 1),
        ("checkout", 2),
        ("search", 2),
    ]
    assert lines["group"]["own"] == figures("0", "0", "0", "0", "0", None)
    assert lines["group"]["rolled_up"] == report["totals"]


def test_unit_costs_per_thousand_requests(econ):
    report = economics.unit_costs(run=econ["run"], metric="requests")
    assert (report["per"], report["label"]) == (1000, "per 1,000 requests")
    rows = {r["name"]: r for r in report["results"]}
    # checkout: 1,040.00 over 400,000 requests = 2.6000 per 1,000; search 400.00 / 100,000
    assert (rows["checkout"]["cost"], rows["checkout"]["quantity"]) == (D("1040.00"), 400_000)
    assert rows["checkout"]["cost_per_unit"] == D("2.6000")
    assert rows["search"]["cost_per_unit"] == D("4.0000")
    assert rows["reporting"]["cost_per_unit"] is None  # no requests recorded
    per_request = economics.unit_costs(run=econ["run"], metric="requests", per=1)
    assert {r["name"]: r["cost_per_unit"] for r in per_request["results"]} == {
        "checkout": D("0.0026"),
        "reporting": None,
        "search": D("0.0040"),
    }
    cpu = economics.unit_costs(run=econ["run"], metric="cpu_hours")
    assert cpu["per"] == 1
    assert {r["name"]: r["cost_per_unit"] for r in cpu["results"]}["search"] == D("200.0000")


def test_unit_cost_trend_over_months(econ):
    checkout = econ["checkout"]
    usage(checkout, "requests", 200_000, day=date(2025, 2, 10))
    approved_cost("500.00", resource=econ["db"].resource, incurred_on=date(2025, 2, 10))
    feb = services.allocation_run(period_start=date(2025, 2, 1), period_end=date(2025, 2, 28))
    trend = economics.unit_cost_trend(node=checkout, months=3, end=date(2025, 3, 1))
    assert [(m["month"], m["run"], m["cost"]) for m in trend["months"]] == [
        ("2025-01", None, None),
        # 500.00: 150.00 to reporting, the 350.00 left all to checkout (search used nothing),
        # and 40 % of reporting's 150.00 on to checkout: 410.00
        ("2025-02", feb.pk, D("410.00")),
        ("2025-03", econ["run"].pk, D("1040.00")),
    ]
    [cpu, requests] = trend["metrics"]
    assert (cpu["metric"], requests["metric"]) == ("cpu_hours", "requests")
    assert [(p["quantity"], p["cost_per_unit"]) for p in requests["points"]] == [
        (0, None),
        (200_000, D("2.0500")),
        (400_000, D("2.6000")),
    ]
    only = economics.unit_cost_trend(node=checkout, metric="requests", per=1_000_000, months=1)
    assert only["months"][0]["month"] == "2025-03"  # the latest run's month by default
    assert only["metrics"][0]["points"][0]["cost_per_unit"] == D("2600.0000")


def test_the_product_tree_refuses_loops_and_non_products(econ):
    from costtrack.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        services.node_update(node=econ["suite"], parent_product=econ["checkout"])
    assert exc.value.field == "parent_product"
    assert "roll up into each other" in exc.value.message
    with pytest.raises(ValidationError) as exc:
        services.node_update(node=econ["db"], parent_product=econ["suite"])
    assert exc.value.message == "Only a product rolls up into a parent product."
    with pytest.raises(ValidationError):
        services.node_update(node=econ["checkout"], parent_product=econ["db"])
    with pytest.raises(ValidationError) as exc:
        services.node_update(node=econ["suite"], kind=CostNode.Kind.PLATFORM)
    assert exc.value.field == "kind"
