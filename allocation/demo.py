"""Demo step for ``costtrack demo``: a realistic cost graph with usage, and allocation runs.

Shared infrastructure (a database cluster, Kubernetes, observability, an API gateway) is fed
by the demo organisation's cloud resources (their approved costs are the direct costs) and
allocated to products by usage; two product roll-ups (a suite, and tiers of a base product)
show full and partial roll-ups. Idempotent: everything is looked up by name first.
"""

import random
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from orgunits.models import Resource

from . import services
from .models import AllocationEdge, AllocationRun, CostNode, UsageRecord

SEED = 7007
SHARED = [
    ("database-cluster", CostNode.Kind.SHARED_SERVICE),
    ("kubernetes", CostNode.Kind.PLATFORM),
    ("observability", CostNode.Kind.SHARED_SERVICE),
    ("api-gateway", CostNode.Kind.PLATFORM),
]
PRODUCTS = ["web_app", "api", "mobile", "analytics", "component", "suite", "base"]
TIERS = [("enterprise", "30"), ("premium", "50")]
# product: (cpu_hours, queries, requests) per day, roughly
PROFILE = {
    "web_app": (40, 9000, 120000),
    "api": (160, 30000, 400000),
    "mobile": (25, 4000, 90000),
    "analytics": (220, 60000, 5000),
    "component": (30, 2000, 10000),
    "base": (60, 12000, 50000),
}
RULES = {
    "database-cluster": ("proportional", {"metric": "queries"}),
    "kubernetes": ("proportional", {"metric": "cpu_hours"}),
    "observability": ("equal", {}),
    "api-gateway": ("hybrid_fixed_proportional", {"metric": "requests", "fixed_percent": "20"}),
}


def _node(name: str, kind: str, **links) -> CostNode:
    existing = CostNode.objects.filter(name=name).first()
    return existing or services.node_create(name=name, kind=kind, **links)


def _edge(parent: CostNode, child: CostNode, strategy: str, parameters: dict) -> None:
    if not AllocationEdge.objects.filter(parent=parent, child=child).exists():
        services.edge_create(parent=parent, child=child, strategy=strategy, parameters=parameters)


def _month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first, last


def seed_allocation(*, stdout=None, context: dict | None = None) -> dict:
    """Build the demo graph, weekly usage since the start of the month before last, and run
    the allocation of the last two complete months. Returns ``{"allocation_runs": [ids]}``."""
    rnd = random.Random(SEED)  # nosec B311 - deterministic demo data
    shared = {name: _node(name, kind) for name, kind in SHARED}
    products = {name: _node(name, CostNode.Kind.PRODUCT) for name in PRODUCTS}
    tiers = {name: _node(name, CostNode.Kind.PRODUCT) for name, _ in TIERS}

    # Each demo resource becomes a resource node feeding one shared service or platform.
    resources = list(Resource.objects.order_by("pk")[:24])
    targets = list(shared.values())
    for i, resource in enumerate(resources):
        name = f"{resource.name} ({resource.provider})"[:190]
        existing = CostNode.objects.filter(resource=resource).first()
        res_node = existing or _node(
            name if not CostNode.objects.filter(name=name).exists() else f"{name} #{resource.pk}",
            CostNode.Kind.RESOURCE,
            resource=resource,
        )
        _edge(res_node, targets[i % len(targets)], "fixed_percent", {"percent": "100"})

    consumers = [products[name] for name in PROFILE]
    for name, node in shared.items():
        strategy, params = RULES[name]
        for product in consumers:
            _edge(node, product, strategy, params)
    _edge(products["component"], products["suite"], "fixed_percent", {"percent": "100"})
    for name, percent in TIERS:
        _edge(products["base"], tiers[name], "fixed_percent", {"percent": percent})

    today = timezone.localdate()
    last_month_end = today.replace(day=1) - timedelta(days=1)
    start = (last_month_end.replace(day=1) - timedelta(days=1)).replace(day=1)
    existing = set(
        UsageRecord.objects.filter(date__gte=start, node__in=consumers).values_list(
            "node_id", "metric", "date"
        )
    )
    records = []
    day = start
    while day <= today:
        for name, (cpu, queries, requests) in PROFILE.items():
            node = products[name]
            for metric, base in (("cpu_hours", cpu), ("queries", queries), ("requests", requests)):
                quantity = Decimal(int(base * 7 * rnd.uniform(0.7, 1.3)))
                if (node.pk, metric, day) not in existing:
                    records.append(
                        {"node": node, "metric": metric, "date": day, "quantity": quantity}
                    )
        day += timedelta(days=7)
    services.usage_records_create(records=records)

    run_ids = []
    for month_day in (last_month_end.replace(day=1) - timedelta(days=1), last_month_end):
        first, last = _month_bounds(month_day)
        run = services.allocation_run(period_start=first, period_end=last)
        run_ids.append(run.pk)
        if stdout is not None:
            stdout.write(
                f"  allocation {first:%Y-%m}: run #{run.pk} {run.status}, raw "
                f"{run.raw_total:.2f} {run.currency}, coverage {run.coverage}"
            )
    nodes = CostNode.objects.count()
    if stdout is not None:
        stdout.write(f"  allocation graph: {nodes} nodes, {AllocationEdge.objects.count()} edges")
    return {"allocation_runs": run_ids}


def latest_demo_run() -> AllocationRun | None:
    return AllocationRun.objects.filter(status=AllocationRun.Status.SUCCEEDED).first()
