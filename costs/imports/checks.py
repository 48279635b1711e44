"""The checks an import's costs pass like any other cost: closed accounting periods refuse
them, and matching budgets warn or block (through the costs app's booking checks)."""

from decimal import Decimal
from typing import Any

from costtrack.core.money import reporting_currency

from .. import extensions
from ..models import Cost, ImportBatch


def guard_days(days) -> None:
    """Run the costs app's change guards (a closed accounting period refuses) on each day."""
    guards = extensions.cost_change_guards()
    for day in sorted(set(days)):
        for guard in guards:
            guard(day=day)


def check_budgets(
    *,
    batch: ImportBatch,
    groups: list[dict[str, Any]],
    acting_user,
    override_reason: str | None,
    approval: bool = False,
) -> list[dict[str, Any]]:
    """Hold an import's charges against budgets as one booking, before they are written.

    ``groups`` are the charge totals per unit, category, currency, tags and month; the
    costs app's booking checks (budgets registers one) judge every budget on the sum of the
    groups it covers, so charges that only together overspend a ``block`` budget refuse the
    whole import (403, with each budget's real figures), unless finance gave
    ``override_reason``. ``approval``: the same for a batch approval of the import's costs,
    under the approval rules. Returns the warnings, one per budget.
    """
    probes = [
        Cost(
            amount=group["amount"],
            currency=group["currency"],
            amount_reporting=group["amount_reporting"],
            incurred_on=group["incurred_on"],
            category_id=group["category_id"],
            organization_unit_id=group["organization_unit_id"],
            submitted_by_id=batch.created_by_id,
            source=Cost.Source.IMPORT,
            tags=group.get("tags") or {},
        )
        for group in groups
    ]
    if not probes:
        return []
    reporting = reporting_currency()
    booking = Cost(
        amount=sum((g["amount_reporting"] for g in groups), Decimal(0)),
        currency=reporting,
        description=f"import #{batch.pk} of {batch.file_name}",
        source=Cost.Source.IMPORT,
    )
    warnings = extensions.run_booking_checks(
        costs=probes,
        acting_user=acting_user,
        override_reason=override_reason or None,
        approval=approval,
        booking=booking,
    )
    return [dict(w, code=w.get("code", "budget")) for w in warnings]
