"""``costtrack bench recommendations [--costs N] [--nodes N]``: computing every recommendation.

In a throwaway schema (``bench_schema``), COPY loads 2,000 units, ``costs / 100`` resources
(at least 50) and ``costs`` costs over the 120 days up to 30 June 2025 (a tenth of them
imported, under 20 billing accounts, 30 % without the ``team`` tag the mapping rule uses;
twenty resources spike on the last day), the spend summary is rebuilt from them, and an
allocation graph of ``nodes`` nodes (70 % resource nodes, half of them with usage) gets a
successful run whose shared nodes keep part of their cost; 50 monthly budgets watch units.

Timed, on the same database in the same run:

- ``recommendations.first``: ``recommendations_compute`` writing every recommendation (once);
- ``recommendations.recompute``: the same again, updating the rows of their keys (median of
  ``repeat``), against the floor: the one aggregate the spike rule cannot do without, the
  resources' daily totals over the 29 days from the day detail summary, as raw SQL.

The digest is left out (``notify=False``): it is the notifications app's cost.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection

from costs.bench_rollup import _copy, _tree, copy_unit_tree
from costs.summary.check import summary_rebuild
from costtrack.core.bench import bench_schema, compare, result_line

SCHEMA = "bench_recommendations"
DEFAULT_COSTS = 1_000_000
DEFAULT_NODES = 10_000
DAY = date(2025, 6, 30)
DAYS = 120
NOW = datetime(2025, 6, 30, 12, tzinfo=UTC)
NULL = "\\N"
ACCOUNTS = 20
SPIKES = 20

FLOOR_SQL = """
SELECT resource_key, day, SUM(amount_reporting)
FROM costs_spend_day_detail
WHERE day BETWEEN %s AND %s AND entries > 0 AND resource_key > 0
  AND status IN ('approved', 'pending')
GROUP BY resource_key, day
"""


def _models() -> list:
    labels = [
        "contenttypes",
        "auth",
        "core",
        "orgunits",
        "costs",
        "budgets",
        "allocation",
        "notifications",
        "recommendations",
    ]
    return [m for label in labels for m in apps.get_app_config(label).get_models()]


def run(
    *, rows: int | None, repeat: int, log: Callable[[str], None], nodes: int | None = None
) -> Iterator[dict]:
    costs = rows or DEFAULT_COSTS
    nodes = nodes or DEFAULT_NODES
    with bench_schema(SCHEMA, _models()):
        log(f"generating {costs} costs and {nodes} allocation nodes …")
        generate(costs=costs, nodes=nodes, seed=20250630)
        log("data loaded; timing …")
        yield from _time(costs=costs, nodes=nodes, repeat=repeat)


def _time(*, costs: int, nodes: int, repeat: int) -> Iterator[dict]:
    from recommendations.models import Recommendation
    from recommendations.services import recommendations_compute

    def ours():
        return recommendations_compute(now=NOW, notify=False)

    def floor():
        with connection.cursor() as cursor:
            cursor.execute(FLOOR_SQL, [DAY - timedelta(days=28), DAY])
            return len(cursor.fetchall())

    started = time.perf_counter()
    first = ours()
    first_s = time.perf_counter() - started
    floor_once = time.perf_counter()
    floor()
    floor_once = time.perf_counter() - floor_once
    found = dict(first.found)
    yield result_line(
        "recommendations.first",
        ours=first_s,
        floor=floor_once,
        costs=costs,
        nodes=nodes,
        found=found,
        written=Recommendation.objects.count(),
    )
    ours_s, floor_s, again, series = compare(ours, floor, repeat=repeat)
    if again.found != found or again.created:
        raise RuntimeError(f"A recomputation changed what was found: {again.found} != {found}")
    yield result_line(
        "recommendations.recompute",
        ours=ours_s,
        floor=floor_s,
        costs=costs,
        nodes=nodes,
        found=found,
        floor_rows=series,
    )


# --- data ---------------------------------------------------------------------------------


def generate(*, costs: int, nodes: int, seed: int) -> None:
    rnd = random.Random(seed)  # nosec B311 - synthetic benchmark data
    from costs.models import CostCategory, ImportBatch, MappingRule

    user = get_user_model().objects.create(username="bench", email="bench@example.com")
    categories = [
        CostCategory.objects.create(name=name, slug=name).pk
        for name in ("compute", "storage", "network", "database")
    ]
    stamp = NOW.isoformat()
    order = _tree()
    copy_unit_tree(order, stamp)
    leafish = [uid for uid, _, level in order if level >= 2]
    resources = max(50, costs // 100)
    res_unit = [rnd.choice(leafish) for _ in range(resources)]
    services = ("ec2", "s3", "rds", "lambda", "eks", "bigquery", "vm", "blob")
    _copy(
        "orgunits_resource",
        [
            "id",
            "provider",
            "provider_resource_id",
            "account",
            "region",
            "service",
            "name",
            "organization_unit_id",
            "tags",
            "created_at",
            "updated_at",
            "owner_id",
        ],  # fmt: skip
        (
            f"{i + 1}\taws\tres-{i + 1}\tacct-{i % ACCOUNTS}\teu-west-1\t{services[i % 8]}\t"
            f"resource {i + 1}\t{unit}\t{{}}\t{stamp}\t{stamp}\t"
            f"{user.pk if i % 5 else NULL}\n"
            for i, unit in enumerate(res_unit)
        ),
    )
    rule_unit = order[1][0]
    MappingRule.objects.create(name="by team", match_tag_key="team", organization_unit_id=rule_unit)
    month = DAY.replace(day=1)
    batches = [
        ImportBatch.objects.create(
            file_name=f"account-{a}.csv",
            sha256=f"{a:064d}",
            billing_account_id=f"acct-{a}",
            billing_account_name=f"Account {a}",
            billing_period_start=month,
            billing_period_end=DAY,
            provider="AWS",
            status=ImportBatch.Status.SUCCEEDED,
            created_by=user,
            default_unit_id=rule_unit,
        ).pk
        for a in range(ACCOUNTS)
    ]
    first = DAY - timedelta(days=DAYS - 1)
    imported: list[tuple[int, int]] = []

    def cost_lines() -> Iterator[str]:
        for n in range(1, costs + 1):
            res = rnd.randrange(resources)
            day = first + timedelta(days=rnd.randrange(DAYS))
            cents = rnd.randrange(1_000, 20_000)
            if n <= SPIKES:  # the resources 1..20 spike on the last day
                res, day, cents = n - 1, DAY, 5_000_000
            amount = Decimal(cents).scaleb(-2)
            source = "api"
            tags = '{"team": "web"}'
            if day >= month and rnd.random() < 0.1:
                source = "import"
                imported.append((n, batches[res % ACCOUNTS]))
                if rnd.random() < 0.3:
                    tags = "{}"
            status = "approved" if rnd.random() < 0.9 else "pending"
            yield (
                f"{n}\t{amount}\tUSD\t{amount}\t1\t{day}\t{categories[res % 4]}\t\t{res + 1}\t"
                f"{res_unit[res]}\t\t{{}}\t{tags}\t{source}\tcharge\t{status}\t{user.pk}\t\t"
                f"{stamp}\t{stamp}\n"
            )

    _copy(
        "costs_cost",
        [
            "id",
            "amount",
            "currency",
            "amount_reporting",
            "exchange_rate",
            "incurred_on",
            "category_id",
            "description",
            "resource_id",
            "organization_unit_id",
            "url",
            "metadata",
            "tags",
            "source",
            "kind",
            "status",
            "submitted_by_id",
            "decision_comment",
            "created_at",
            "updated_at",
        ],  # fmt: skip
        cost_lines(),
    )
    _copy(
        "costs_importedcost",
        ["cost_id", "batch_id", "role", "lines", "first_line", "unmapped"],
        (f"{cost}\t{batch}\tcharge\t1\t1\tf\n" for cost, batch in imported),
    )
    summary_rebuild()
    _allocation(nodes=nodes, resources=resources, rnd=rnd, stamp=stamp)
    _budgets(order=order, user=user, rnd=rnd)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _allocation(*, nodes: int, resources: int, rnd: random.Random, stamp: str) -> None:
    from allocation.models import AllocationRun

    resource_nodes = min(resources, int(nodes * 0.7))
    kinds = []
    for i in range(nodes):
        if i < resource_nodes:
            kinds.append("resource")
        elif i < resource_nodes + (nodes - resource_nodes) // 2:
            kinds.append("shared_service")
        else:
            kinds.append("product")
    _copy(
        "allocation_costnode",
        ["id", "name", "kind", "resource_id", "description", "created_at", "updated_at"],
        (
            f"{i + 1}\tnode-{i + 1}\t{kind}\t{i + 1 if kind == 'resource' else NULL}\t\t"
            f"{stamp}\t{stamp}\n"
            for i, kind in enumerate(kinds)
        ),
    )
    _copy(
        "allocation_usagerecord",
        ["node_id", "metric", "date", "quantity", "dimension", "created_at"],
        (
            f"{i + 1}\tcpu_hours\t{DAY - timedelta(days=3)}\t10\t\t{stamp}\n"
            for i in range(resource_nodes)
            if i % 2 == 0
        ),
    )
    run = AllocationRun.objects.create(
        period_start=DAY.replace(day=1),
        period_end=DAY,
        status=AllocationRun.Status.SUCCEEDED,
        currency="USD",
    )

    def result_lines() -> Iterator[str]:
        for i, kind in enumerate(kinds):
            holistic = Decimal(rnd.randrange(10_000, 1_000_000)).scaleb(-2)
            out = holistic if kind == "resource" else Decimal(0)
            if kind == "shared_service":
                out = (holistic * Decimal(rnd.choice(["1", "1", "0.9", "0.5"]))).quantize(
                    Decimal("0.01")
                )
            yield (
                f"{run.pk}\t{i + 1}\tcompute\t{holistic}\t0\t{holistic}\t{out}\t"
                f"{holistic - out}\t0\n"
            )

    _copy(
        "allocation_allocationresult",
        [
            "run_id",
            "node_id",
            "dimension",
            "direct",
            "received",
            "holistic",
            "allocated_out",
            "retained",
            "carried_forward",
        ],  # fmt: skip
        result_lines(),
    )


def _budgets(*, order, user, rnd: random.Random) -> None:
    from budgets.models import Budget

    units = [uid for uid, _, level in order if level in (1, 2)][:50]
    Budget.objects.bulk_create(
        Budget(
            name=f"Budget {uid}",
            slug=f"budget-{uid}",
            amount=Decimal(rnd.randrange(1_000, 200_000)),
            currency="USD",
            organization_unit_id=uid,
            created_by=user,
        )
        for uid in units
    )
