"""The checks an import's costs pass like any other cost: closed accounting periods refuse
them, and matching budgets warn or block (through the costs app's submission checks)."""

from typing import Any

from costtrack.core.money import quantum, reporting_currency

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
    after_insert: bool,
    earlier: list[dict[str, Any]] | None = None,
    checks=None,
    acting_user=None,
    override_reason: str | None = None,
) -> list[dict[str, Any]]:
    """Hold the import's charges against budgets, per unit, category, currency and month.

    The costs app's submission checks (budgets registers one) judge one cost at a time; an
    import is judged as one synthetic cost per group, twice: before the insert with the
    group's total (a group that alone overspends), and after it with the currency's smallest
    unit, when the spend the checks see includes every cost of this import (several groups
    that together overspend one budget). A blocking budget refuses the whole import unless
    finance gave an override reason; warnings are kept on the batch, one per budget.

    The same judges a batch decision (``checks``: the approval checks, ``acting_user``: who
    decides): before the costs become approved, and after, when they count as actual spend.
    """
    checks = extensions.submission_checks() if checks is None else checks
    acting_user = acting_user or batch.created_by
    if override_reason is None:
        override_reason = batch.override_reason or None
    if not checks:
        return earlier or []
    found: dict[Any, dict[str, Any]] = {}
    for warning in earlier or []:
        found[warning.get("budget_id") or len(found)] = warning
    reporting_unit = quantum(reporting_currency())
    for group in groups:
        probe = Cost(
            amount=quantum(group["currency"]) if after_insert else group["amount"],
            currency=group["currency"],
            amount_reporting=reporting_unit if after_insert else group["amount_reporting"],
            incurred_on=group["incurred_on"],
            category_id=group["category_id"],
            organization_unit_id=group["organization_unit_id"],
            submitted_by_id=batch.created_by_id,
            source=Cost.Source.IMPORT,
            tags=group.get("tags") or {},
        )
        for warning in extensions.run_checks(
            checks, cost=probe, acting_user=acting_user, override_reason=override_reason
        ):
            found.setdefault(warning.get("budget_id") or len(found), warning)
    return [dict(w, code=w.get("code", "budget")) for w in found.values()]
