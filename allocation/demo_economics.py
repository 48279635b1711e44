"""Demo step for ``costtrack demo``: the demo products' owners, their product tree and their
revenue, so the product P&L shows margins (runs after ``allocation.demo.seed_allocation``).

- each demo product is linked to an entity of the team that runs it, so the team's members,
  owners and approvers see its costs, revenue and margins (and other teams do not);
- the product tree: ``component`` rolls up into ``suite``, the tiers ``enterprise`` and
  ``premium`` into ``base``;
- revenue for every month the demo allocated: daily figures around a multiple of the
  product's cost in that month (``mobile`` in EUR, the app stores' currency; ``enterprise``
  invoiced once a month; ``analytics`` sells below cost, so one margin is negative).

Nothing here changes an allocation input (no node, edge, usage or cost), so the runs stay
as they are. Deterministic and idempotent: entities are looked up by name in their team,
and revenue is loaded with ``revenue_load_csv``, which leaves a figure that is already
there unchanged.
"""

import io
import random
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from costs.models import ExchangeRate
from costtrack.core.money import reporting_currency
from orgunits import services as org_services
from orgunits.models import Entity, OrganizationUnit

from . import economics, services
from .models import AllocationRun, CostNode

SEED = 1717
# product: (team that runs it, entity kind)
OWNERS = {
    "web_app": ("team-checkout", Entity.Kind.APPLICATION),
    "api": ("team-checkout", Entity.Kind.SERVICE),
    "mobile": ("team-mobile", Entity.Kind.APPLICATION),
    "analytics": ("team-analytics", Entity.Kind.APPLICATION),
    "component": ("team-search", Entity.Kind.SERVICE),
    "suite": ("team-search", Entity.Kind.APPLICATION),
    "base": ("team-pm-core", Entity.Kind.SERVICE),
    "enterprise": ("team-pm-core", Entity.Kind.APPLICATION),
    "premium": ("team-pm-core", Entity.Kind.APPLICATION),
}
TREE = {"component": "suite", "enterprise": "base", "premium": "base"}
# product: (revenue as a multiple of its monthly cost, currency, grain)
REVENUE = {
    "web_app": (Decimal("1.85"), "USD", "day"),
    "api": (Decimal("2.40"), "USD", "day"),
    "mobile": (Decimal("1.30"), "EUR", "day"),
    "analytics": (Decimal("0.70"), "USD", "day"),
    "suite": (Decimal("1.50"), "USD", "day"),
    "base": (Decimal("1.10"), "USD", "day"),
    "enterprise": (Decimal("2.20"), "USD", "month"),
    "premium": (Decimal("1.60"), "USD", "day"),
}
CENT = Decimal("0.01")


def _link_products(products: dict[str, CostNode]) -> int:
    linked = 0
    units = {
        u.code: u for u in OrganizationUnit.objects.filter(code__in={t for t, _ in OWNERS.values()})
    }
    for name, (team, kind) in OWNERS.items():
        node, unit = products.get(name), units.get(team)
        if (
            node is None
            or unit is None
            or node.resource_id
            or node.entity_id
            or node.organization_unit_id
        ):
            continue
        label = f"{name.replace('_', ' ').title()} (product)"
        entity = Entity.objects.filter(organization_unit=unit, name=label).first()
        if entity is None:
            entity = org_services.entity_create(
                name=label,
                kind=kind,
                organization_unit=unit,
                owner=unit.owner,
                description=f"The product '{name}' of the cost graph.",
            )
        services.node_update(node=node, entity=entity)
        linked += 1
    return linked


def _tree(products: dict[str, CostNode]) -> None:
    for child, parent in TREE.items():
        node = products.get(child)
        if node is not None and parent in products and node.parent_product_id is None:
            services.node_update(node=node, parent_product=products[parent])


def _revenue_csv(runs: list[AllocationRun], products: dict[str, CostNode]) -> str:
    rnd = random.Random(SEED)  # nosec B311 - deterministic demo data
    lines = ["date,node,amount,currency"]
    for run in runs:
        has_eur = ExchangeRate.objects.filter(currency="EUR", date__lte=run.period_start).exists()
        report = economics.product_pnl(run=run)
        cost = {p["name"]: p["own"]["holistic_cost"] for p in report["products"]}
        days = (run.period_end - run.period_start).days + 1
        for name, (factor, currency, grain) in REVENUE.items():
            if name not in products or not cost.get(name):
                continue
            target = cost[name] * factor
            if currency == "EUR" and not has_eur:  # no rate loaded: book it in USD instead
                currency = reporting_currency()
            if currency == "EUR":
                target = target / Decimal("1.08")  # about the demo's EUR rate
            if grain == "month":
                amount = target.quantize(CENT, rounding=ROUND_HALF_EVEN)
                lines.append(f"{run.period_start:%Y-%m},{name},{amount},{currency}")
                continue
            for offset in range(days):
                day = run.period_start + timedelta(days=offset)
                weekday = Decimal("0.8") if day.weekday() >= 5 else Decimal("1.08")
                noise = Decimal(str(round(rnd.uniform(0.85, 1.15), 4)))
                amount = (target / days * weekday * noise).quantize(CENT, rounding=ROUND_HALF_EVEN)
                lines.append(f"{day.isoformat()},{name},{amount},{currency}")
    return "\n".join(lines) + "\n"


def seed_economics(*, stdout=None, context: dict | None = None) -> dict:
    """Link the demo products to their teams, build their product tree and load revenue for
    the months of the demo's allocation runs. Returns ``{"revenue_rows": n}``."""
    context = context or {}
    products = {
        n.name: n
        for n in CostNode.objects.filter(kind=CostNode.Kind.PRODUCT, name__in=OWNERS.keys())
    }
    linked = _link_products(products)
    _tree(products)
    run_ids = context.get("allocation_runs") or []
    runs = list(
        AllocationRun.objects.filter(
            pk__in=run_ids, status=AllocationRun.Status.SUCCEEDED
        ).order_by("period_start")
    )
    result = None
    if runs and products:
        result = services.revenue_load_csv(io.StringIO(_revenue_csv(runs, products)))
    if stdout is not None:
        loaded = f"{result.rows} revenue rows ({result.created} new)" if result else "no revenue"
        stdout.write(
            f"  product economics: {linked} products linked to their teams, {loaded} for "
            f"{len(runs)} month(s)"
        )
    return {"revenue_rows": result.rows if result else 0}
