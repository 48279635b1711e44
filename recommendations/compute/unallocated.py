"""Unallocated cost: shared nodes of the latest successful allocation run whose cost reaches
no product (their coverage is under 100 %), from the run's results in one grouped query."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import F, Sum
from django.db.models.functions import Coalesce

from allocation.models import CostNode
from allocation.selectors import latest_run, run_results

from .common import ZERO, Candidate, cents, money

KIND = "unallocated_cost"


def unallocated_candidates(*, now: datetime, **_) -> list[Candidate]:
    run = latest_run()
    if run is None:
        return []
    rows = (
        run_results(run=run)
        .exclude(node__kind=CostNode.Kind.PRODUCT)
        .values("node_id", "node__name", "node__kind")
        .annotate(
            holistic=Sum("holistic"),
            allocated_out=Sum("allocated_out"),
            retained=Sum("retained"),
            unit_id=Coalesce(
                F("node__organization_unit_id"),
                F("node__resource__organization_unit_id"),
                F("node__entity__organization_unit_id"),
            ),
        )
        .filter(retained__gt=0)
        .order_by("-retained", "node_id")
    )
    found = []
    for row in rows:
        holistic = row["holistic"] or ZERO
        coverage = (
            (row["allocated_out"] / holistic * 100).quantize(Decimal("0.01"))
            if holistic
            else Decimal(0)
        )
        found.append(
            Candidate(
                kind=KIND,
                key=f"{KIND}:node:{row['node_id']}",
                title=f"{row['node__name']}: {cents(row['retained'])} {run.currency} reaches "
                f"no product ({coverage} % allocated)",
                unit_id=row["unit_id"],
                amount=cents(row["retained"]),
                link=f"/allocation/?run={run.pk}&node={row['node_id']}",
                evidence={
                    "run": run.pk,
                    "period_start": run.period_start.isoformat(),
                    "period_end": run.period_end.isoformat(),
                    "node": row["node_id"],
                    "node_kind": row["node__kind"],
                    "holistic": money(holistic),
                    "allocated_out": money(row["allocated_out"]),
                    "unallocated": money(row["retained"]),
                    "coverage_pct": str(coverage),
                },
            )
        )
    return found
