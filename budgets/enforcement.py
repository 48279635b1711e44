"""Budget enforcement when a cost is submitted, and the "can this be spent?" check.

``check_submission`` is registered with ``costs.extensions.register_submission_check`` and
runs inside the submit transaction. It locks the matching ``block`` budgets in id order
(``SELECT … FOR UPDATE``), then sums each budget's spend with a fresh statement, so a
concurrent submitter waits for the lock and then sees every cost committed before it: a
``block`` budget is never overspent however many people submit at once.
"""

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from costtrack.core.exceptions import PermissionDenied, ValidationError
from costtrack.core.money import round_money
from costtrack.core.prepared import execute_prepared, numbered, prepared_statements_enabled
from costtrack.core.roles import is_finance

from . import selectors
from .models import Budget
from .periods import Period
from .spend import spend_by_budget


@dataclass(frozen=True)
class Verdict:
    budget: Budget
    period: Period
    requested: Decimal
    spent: Decimal

    @property
    def exceeded(self) -> bool:
        return self.requested > 0 and self.spent + self.requested > self.budget.amount

    @property
    def allowed(self) -> bool:
        return not (self.exceeded and self.budget.action == Budget.Action.BLOCK)

    def as_dict(self) -> dict[str, Any]:
        start, end = self.period.as_labels()
        code = self.budget.currency
        amount = round_money(self.budget.amount, code)
        item = {
            "budget_id": self.budget.pk,
            "name": self.budget.name,
            "action": self.budget.action,
            "budget_limit": str(amount),
            "budget_spent": str(self.spent),
            "budget_remaining": str(amount - self.spent),
            "budget_utilization_pct": str(selectors.percent(self.spent, amount)),
            "requested": str(round_money(self.requested, code)),
            "currency": self.budget.currency,
            "period_start": start,
            "period_end": end,
        }
        item["message"] = f"Budget {budget_figures(item)}."
        return item


def _verdicts(
    budgets: list[Budget],
    *,
    amount: Decimal,
    currency: str,
    day: date,
    amount_reporting: Decimal | None,
    moment,
    exclude_cost_id: int | None,
) -> list[Verdict]:
    pairs = []
    for budget in budgets:
        period = selectors.budget_period(budget, moment if budget.period == "hourly" else day)
        if period is not None:
            pairs.append((budget, period))
    spend = spend_by_budget(pairs, exclude_cost_id=exclude_cost_id, rate_day=day, prepared=True)
    verdicts = []
    for budget, period in pairs:
        found = spend[budget.pk]
        spent = found.actual + found.committed if budget.include_pending else found.actual
        if found.unconverted_from is not None:
            if budget.action != Budget.Action.BLOCK:
                continue
            gap = selectors.ConversionGap(budget.currency, found.unconverted_from)
            raise ValidationError(
                f"Cannot check budget '{budget.name}': {gap.message}",
                field="currency",
                code="no_exchange_rate",
            )
        try:
            requested = selectors.convert(
                amount=amount,
                currency=currency,
                to_currency=budget.currency,
                day=day,
                amount_reporting=amount_reporting,
                to_rate=found.rate,
            )
        except selectors.MissingExchangeRate as exc:
            if budget.action != Budget.Action.BLOCK:
                continue  # a warning cannot be computed; it must not stop the submission
            # A hard limit that cannot be checked is not passed silently.
            raise ValidationError(
                f"Cannot check budget '{budget.name}': {exc}",
                field="currency",
                code="no_exchange_rate",
            ) from None
        verdicts.append(Verdict(budget=budget, period=period, requested=requested, spent=spent))
    return verdicts


def spend_verdicts(
    budgets: list[Budget], *, amount: Decimal, currency: str, day: date | None = None
) -> list[Verdict]:
    """Whether ``amount`` in ``currency`` would pass each budget in its period containing
    ``day`` (default today), without locking. A budget with no period on that day, or a
    non-blocking budget whose spend cannot be converted, gives no verdict; a ``block``
    budget that cannot be converted raises ``ValidationError`` (code ``no_exchange_rate``).
    """
    day = day or timezone.localdate()
    return _verdicts(
        budgets,
        amount=amount,
        currency=currency,
        day=day,
        amount_reporting=None,
        moment=timezone.now(),
        exclude_cost_id=None,
    )


class BudgetBlocked(PermissionDenied):
    """A ``block`` budget refused a cost (answered 403 ``budget_exceeded``).

    ``verdicts`` are the refusing budgets' verdicts, ``cost`` and ``acting_user`` what was
    refused and who tried, so that the refusal can be reported once its transaction is gone
    (``budgets.services.budget_blocked_notify``).
    """

    def __init__(self, verdicts: list[Verdict], *, cost, acting_user) -> None:
        blocking = [v.as_dict() for v in verdicts]
        first = blocking[0]
        super().__init__(
            _blocked_message(blocking),
            code="budget_exceeded",
            extra={
                "budgets": blocking,
                "budget_limit": first["budget_limit"],
                "budget_remaining": first["budget_remaining"],
                "budget_utilization_pct": first["budget_utilization_pct"],
            },
        )
        self.verdicts = verdicts
        self.cost = cost
        self.acting_user = acting_user


def budget_figures(item: dict[str, Any]) -> str:
    """One blocking budget's figures in words (SPEC 2.3), for pages and e-mails."""
    code = item["currency"]
    return (
        f"'{item['name']}' ({item['period_start']} to {item['period_end']}): limit "
        f"{item['budget_limit']} {code}, spent {item['budget_spent']} {code}, remaining "
        f"{item['budget_remaining']} {code}, {item['budget_utilization_pct']} % used; this cost "
        f"adds {item['requested']} {code}"
    )


def _blocked_message(blocking: list[dict[str, Any]]) -> str:
    plural = "s" if len(blocking) > 1 else ""
    return (
        f"This cost would exceed the budget{plural} "
        + "; ".join(budget_figures(b) for b in blocking)
        + "."
    )


def _matching(cost) -> list[Budget]:
    return selectors.matching_budgets(
        unit_id=cost.organization_unit_id,
        category_id=cost.category_id,
        tags=cost.tags,
        submitter_id=cost.submitted_by_id,
        day=cost.incurred_on,
        include_ignored=False,
    )


def _locked_rows(ids: list[int]) -> dict[int, tuple]:
    """``{id: (amount, include_pending, action, active)}`` of the budgets, locked in id order.

    Hand-written and prepared once per session: it runs inside every submission a block
    budget covers, where the ORM's query building and the planning cost more than the
    query. (SQLite locks the whole database on write.)"""
    table = Budget._meta.db_table
    columns = "id, amount, include_pending, action, active"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sql = f"SELECT {columns} FROM {table} WHERE id = ANY(%s) ORDER BY id FOR UPDATE"  # noqa: S608  # nosec B608
            if prepared_statements_enabled():
                execute_prepared(cursor, numbered(sql), [ids], kind="budget_lock")
            else:
                cursor.execute(sql, [ids])
        else:
            marks = ", ".join(["%s"] * len(ids))
            cursor.execute(f"SELECT {columns} FROM {table} WHERE id IN ({marks})", ids)  # noqa: S608  # nosec B608
        field = Budget._meta.get_field("amount")
        return {
            row[0]: (field.to_python(row[1]), bool(row[2]), row[3], bool(row[4]))
            for row in cursor.fetchall()
        }


def _lock_blocks(budgets: list[Budget]) -> list[Budget]:
    """Lock the ``block`` budgets among ``budgets`` (id order), refresh the values that
    enforcement reads from the locked rows, and return the budgets still active."""
    block_ids = [b.pk for b in budgets if b.action == Budget.Action.BLOCK]
    if not block_ids:
        return budgets
    # The lock is what makes enforcement race-free; id order prevents deadlocks.
    locked = _locked_rows(sorted(block_ids))
    # Values read before the lock may be stale: use the locked rows'.
    for budget in budgets:
        if budget.pk in locked:
            (budget.amount, budget.include_pending, budget.action, budget.active) = locked[
                budget.pk
            ]
    return [b for b in budgets if b.active]


def _judge(
    verdicts: list[Verdict], *, cost, acting_user, override_reason: str | None
) -> list[dict[str, Any]]:
    exceeded = [v for v in verdicts if v.exceeded]
    blocking = [v for v in exceeded if not v.allowed]
    warnings = [v.as_dict() for v in exceeded if v.allowed]
    if blocking:
        if override_reason and override_reason.strip() and is_finance(acting_user):
            overridden = [
                dict(v.as_dict(), overridden=True, override_reason=override_reason)
                for v in blocking
            ]
            return overridden + warnings
        raise BudgetBlocked(blocking, cost=cost, acting_user=acting_user)
    return warnings


def check_submission(*, cost, acting_user, override_reason: str | None) -> list[dict[str, Any]]:
    """Check a cost being submitted against every active budget that covers it.

    Call inside the submit transaction, before the cost becomes pending. Locks the matching
    ``block`` budgets (id order). Returns warnings: one dict per exceeded ``warn`` budget and,
    when a finance user overrides with a reason, per exceeded ``block`` budget (marked
    ``overridden``). Raises ``BudgetBlocked`` (403, code ``budget_exceeded``) listing every
    exceeded ``block`` budget otherwise.
    """
    moment = timezone.now()
    budgets = _matching(cost)
    if not budgets:
        return []
    budgets = _lock_blocks(budgets)
    verdicts = _verdicts(
        budgets,
        amount=cost.amount,
        currency=cost.currency,
        day=cost.incurred_on,
        amount_reporting=cost.amount_reporting,
        moment=moment,
        exclude_cost_id=cost.pk,
    )
    return _judge(verdicts, cost=cost, acting_user=acting_user, override_reason=override_reason)


def check_approval(*, cost, acting_user, override_reason: str | None) -> list[dict[str, Any]]:
    """Check a pending cost being approved against the ``block`` budgets that count approved
    spend only (``include_pending=False``): submitting did not hold it against them.

    Call inside the approval transaction, before the cost is saved as approved. Locks those
    budgets (id order) like ``check_submission``, so two approvals at once never overspend
    one. A budget is exceeded when its approved spend plus this cost is above its amount.
    Returns the overridden budgets when a finance user gave a reason; raises
    ``BudgetBlocked`` otherwise. Budgets that count pending costs held the cost at submission
    and are not checked again.
    """
    budgets = [
        b for b in _matching(cost) if b.action == Budget.Action.BLOCK and not b.include_pending
    ]
    if not budgets:
        return []
    budgets = [
        b
        for b in _lock_blocks(budgets)
        if b.action == Budget.Action.BLOCK and not b.include_pending
    ]
    verdicts = _verdicts(
        budgets,
        amount=cost.amount,
        currency=cost.currency,
        day=cost.incurred_on,
        amount_reporting=cost.amount_reporting,
        # An hourly budget counts a cost in the hour it was submitted.
        moment=cost.submitted_at or cost.created_at or timezone.now(),
        exclude_cost_id=cost.pk,
    )
    return _judge(verdicts, cost=cost, acting_user=acting_user, override_reason=override_reason)


def check_many(
    *,
    costs: list,
    acting_user,
    override_reason: str | None,
    approval: bool = False,
    booking=None,
) -> list[dict[str, Any]]:
    """Check several costs at once as one booking (a billing import, or its batch approval).

    Every budget that covers any of ``costs`` is judged once per period on the sum of the
    costs it covers (each converted at its own day), so costs that only together overspend
    a ``block`` budget are refused, with their real figures. ``approval``: only the ``block``
    budgets that count approved spend, as ``check_approval``. Locks the matching ``block``
    budgets (id order) once. Returns warnings or raises ``BudgetBlocked`` like
    ``check_submission``; the refused "cost" is ``booking`` (what stands for the whole, for
    the refusal's report), else the first of ``costs``.
    """
    if not costs:
        return []
    moment = timezone.now()
    matching = []
    for cost in costs:
        budgets = _matching(cost)
        if approval:
            budgets = [
                b for b in budgets if b.action == Budget.Action.BLOCK and not b.include_pending
            ]
        matching.append(budgets)
    everyone = {b.pk: b for budgets in matching for b in budgets}
    if not everyone:
        return []
    locked = {b.pk: b for b in _lock_blocks(list(everyone.values()))}
    merged: dict[tuple, Verdict] = {}
    for cost, budgets in zip(costs, matching, strict=True):
        budgets = [locked[b.pk] for b in budgets if b.pk in locked]
        if approval:
            budgets = [
                b for b in budgets if b.action == Budget.Action.BLOCK and not b.include_pending
            ]
        for v in _verdicts(
            budgets,
            amount=cost.amount,
            currency=cost.currency,
            day=cost.incurred_on,
            amount_reporting=cost.amount_reporting,
            moment=moment,
            exclude_cost_id=None,
        ):
            key = (v.budget.pk, v.period.start)
            if key in merged:
                v = replace(merged[key], requested=merged[key].requested + v.requested)
            merged[key] = v
    return _judge(
        list(merged.values()),
        cost=booking if booking is not None else costs[0],
        acting_user=acting_user,
        override_reason=override_reason,
    )


def check_spend(
    *,
    amount: Decimal,
    currency: str,
    unit,
    category=None,
    tags: dict[str, str] | None = None,
    submitter_id: int | None = None,
    day: date | None = None,
) -> dict[str, Any]:
    """Could this amount be spent now? An answer per matching budget, without locking.

    Returns ``{"allowed": bool, "budgets": [... budget dicts with allowed/exceeded ...]}``.
    """
    day = day or timezone.localdate()
    budgets = selectors.matching_budgets(
        unit_id=unit.pk,
        category_id=category.pk if category is not None else None,
        tags=tags,
        submitter_id=submitter_id,
        day=day,
    )
    verdicts = _verdicts(
        budgets,
        amount=amount,
        currency=currency,
        day=day,
        amount_reporting=None,
        moment=timezone.now(),
        exclude_cost_id=None,
    )
    answers = [dict(v.as_dict(), allowed=v.allowed, exceeded=v.exceeded) for v in verdicts]
    return {"allowed": all(a["allowed"] for a in answers), "budgets": answers}
