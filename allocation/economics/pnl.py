"""The product P&L of an allocation run: revenue, cost and margin per product, rolled up the
product tree (``CostNode.parent_product``).

Per product (its *own* figures) for the run's period:

- ``revenue``: its revenue in the reporting currency (``allocation.economics.revenue``);
- ``direct_cost`` and ``allocated_cost``: the cost the product bears, split into what was
  incurred on it and what it received from shared nodes. A product that passes nothing on
  to other products (most do) bears its whole holistic cost, so these are exactly the
  run's direct and received. A product that passes part of its cost on along an edge (a
  roll-up such as base → tiers) bears what it keeps (holistic − passed on − carried
  forward); it keeps direct and received cost in the proportion of its holistic cost (the
  direct part rounded half-even to the cent, the allocated part the rest), and what it
  passed on is borne by the product that received it, never twice;
- ``holistic_cost`` = direct_cost + allocated_cost; ``passed_on`` what went on to other
  products (or was carried forward);
- ``gross_margin`` = revenue − holistic_cost; ``margin_pct`` = gross_margin / revenue × 100
  (two decimals, half-even; ``None`` without revenue).

A product's *rolled-up* figures add its own to those of every product below it in the tree
(margin % recomputed from the sums), so a parent's roll-up equals the sum of its subtree to
the cent, and the sum of the roots equals the total. Over every product, ``holistic_cost``
adds up to the run's cost allocated to final cost centres. A scoped user's tree holds the
products they see only: a roll-up never includes a product they may not see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db.models import Sum

from costtrack.core.money import round_money

from ..models import AllocationResult, AllocationRun, CostNode
from ..selectors import _visible_node_ids, node_list, sees_all_nodes
from .revenue import revenue_totals

ZERO = Decimal(0)
CENT = Decimal("0.01")
PNL_FIGURES = ("revenue", "direct_cost", "allocated_cost", "holistic_cost", "gross_margin")


@dataclass
class Figures:
    revenue: Decimal = ZERO
    direct_cost: Decimal = ZERO
    allocated_cost: Decimal = ZERO

    @property
    def holistic_cost(self) -> Decimal:
        return self.direct_cost + self.allocated_cost

    @property
    def gross_margin(self) -> Decimal:
        return self.revenue - self.holistic_cost

    @property
    def margin_pct(self) -> Decimal | None:
        if not self.revenue:
            return None
        return (self.gross_margin * 100 / self.revenue).quantize(CENT, rounding=ROUND_HALF_EVEN)

    def add(self, other: Figures) -> None:
        self.revenue += other.revenue
        self.direct_cost += other.direct_cost
        self.allocated_cost += other.allocated_cost

    def as_dict(self, currency: str) -> dict[str, Any]:
        return {
            "revenue": round_money(self.revenue, currency),
            "direct_cost": round_money(self.direct_cost, currency),
            "allocated_cost": round_money(self.allocated_cost, currency),
            "holistic_cost": round_money(self.holistic_cost, currency),
            "gross_margin": round_money(self.gross_margin, currency),
            "margin_pct": self.margin_pct,
        }


@dataclass
class ProductLine:
    node: int
    name: str
    parent: int | None
    own: Figures
    passed_on: Decimal = ZERO
    rolled_up: Figures = field(default_factory=Figures)
    children: list[int] = field(default_factory=list)
    depth: int = 0

    @property
    def final_cost_centre(self) -> bool:
        """Keeps cost, or passes none on (a product with nothing at all is one too)."""
        return bool(self.own.holistic_cost) or not self.passed_on


def _kept(direct: Decimal, received: Decimal, holistic: Decimal, kept: Decimal):
    """(direct, allocated) parts of the ``kept`` cost of a product whose holistic cost is
    ``direct + received``: in that proportion, direct rounded to the cent."""
    if kept == holistic:
        return direct, received
    if not holistic:
        return ZERO, kept
    direct_part = (direct * kept / holistic).quantize(CENT, rounding=ROUND_HALF_EVEN)
    return direct_part, kept - direct_part


def _run_figures(run: AllocationRun, user) -> dict[int, dict[str, Decimal]]:
    rows = AllocationResult.objects.filter(run_id=run.rows_run_id, node__kind=CostNode.Kind.PRODUCT)
    if not sees_all_nodes(user):
        rows = rows.filter(node_id__in=_visible_node_ids(user))
    rows = (
        rows.values("node_id")
        .annotate(
            direct=Sum("direct"),
            received=Sum("received"),
            holistic=Sum("holistic"),
            retained=Sum("retained"),
            carried_forward=Sum("carried_forward"),
        )
        .order_by()
    )
    return {r["node_id"]: r for r in rows}


def _tree_order(lines: dict[int, ProductLine]) -> list[ProductLine]:
    """Roots by name, each followed by its subtree (children by name), depth set."""
    roots = sorted((x for x in lines.values() if x.parent is None), key=lambda x: (x.name, x.node))
    ordered: list[ProductLine] = []
    stack = [(root, 0) for root in reversed(roots)]
    while stack:
        line, depth = stack.pop()
        line.depth = depth
        ordered.append(line)
        kids = sorted((lines[c] for c in line.children), key=lambda x: (x.name, x.node))
        stack.extend((kid, depth + 1) for kid in reversed(kids))
    return ordered


def product_pnl_lines(*, run: AllocationRun, user=None) -> list[ProductLine]:
    """The P&L lines of the products ``user`` sees that had cost or revenue in the run's
    period, with the products above them in the tree, in tree order (three queries)."""
    figures = _run_figures(run, user)
    revenue = revenue_totals(start=run.period_start, end=run.period_end, user=user)
    products = {
        pk: (name, parent)
        for pk, name, parent in node_list(user=user)
        .filter(kind=CostNode.Kind.PRODUCT)
        .values_list("id", "name", "parent_product_id")
    }
    wanted = {n for n in (figures.keys() | revenue.keys()) if n in products}
    for node in list(wanted):
        parent = products[node][1]
        while parent is not None and parent in products and parent not in wanted:
            wanted.add(parent)
            parent = products[parent][1]
    lines: dict[int, ProductLine] = {}
    for node in wanted:
        name, parent = products[node]
        row = figures.get(node)
        own = Figures(revenue=revenue.get(node, ZERO))
        passed_on = ZERO
        if row is not None:
            kept = row["retained"] - row["carried_forward"]
            own.direct_cost, own.allocated_cost = _kept(
                row["direct"], row["received"], row["holistic"], kept
            )
            passed_on = row["holistic"] - kept
        lines[node] = ProductLine(
            node=node,
            name=name,
            parent=parent if parent in wanted else None,
            own=own,
            passed_on=passed_on,
        )
    for line in lines.values():
        if line.parent is not None:
            lines[line.parent].children.append(line.node)
    ordered = _tree_order(lines)
    for line in reversed(ordered):  # children before parents
        line.rolled_up.add(line.own)
        for child in line.children:
            line.rolled_up.add(lines[child].rolled_up)
    return ordered


def product_pnl(*, run: AllocationRun, user=None) -> dict[str, Any]:
    """The run's product P&L as plain data: ``products`` in tree order, each with ``own``
    and ``rolled_up`` figures, and ``totals`` (the sum of every listed product's own
    figures, which is the sum of the roots' roll-ups)."""
    currency = run.currency
    lines = product_pnl_lines(run=run, user=user)
    totals = Figures()
    for line in lines:
        totals.add(line.own)
    return {
        "run": run.pk,
        "period_start": run.period_start,
        "period_end": run.period_end,
        "currency": currency,
        "products": [
            {
                "node": line.node,
                "name": line.name,
                "parent_product": line.parent,
                "depth": line.depth,
                "children": sorted(line.children),
                "final_cost_centre": line.final_cost_centre,
                "passed_on": round_money(line.passed_on, currency),
                "own": line.own.as_dict(currency),
                "rolled_up": line.rolled_up.as_dict(currency),
            }
            for line in lines
        ],
        "totals": totals.as_dict(currency),
    }


def product_pnl_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat rows of a ``product_pnl`` report for CSV: one per product and a total."""
    rows = []
    for p in report["products"]:
        row = {
            "node": p["node"],
            "name": p["name"],
            "parent_product": p["parent_product"],
            "depth": p["depth"],
            "final_cost_centre": p["final_cost_centre"],
        }
        row.update(p["own"])
        row["passed_on"] = p["passed_on"]
        row.update({f"rolled_up_{k}": v for k, v in p["rolled_up"].items()})
        row["currency"] = report["currency"]
        rows.append(row)
    total = {
        "node": "",
        "name": "Total",
        "parent_product": "",
        "depth": "",
        "final_cost_centre": "",
    }
    total.update(report["totals"])
    total["currency"] = report["currency"]
    rows.append(total)
    return rows
