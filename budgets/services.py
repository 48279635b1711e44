"""Every write of the budgets app: budgets and their amount revisions, and threshold alerts.

Only finance creates, changes and deletes budgets. Alerts are inserted with
``ON CONFLICT DO NOTHING`` on the unique (budget, period, threshold, kind), so concurrent
checks (the beat task and an approval at the same moment) fire each threshold exactly once.
"""

import logging
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from costs.models import CostCategory
from costtrack.core.exceptions import PermissionDenied, ValidationError
from costtrack.core.money import CurrencyError, check_amount, is_known_currency, round_money
from costtrack.core.roles import FINANCE, is_finance
from costtrack.core.validators import validate_tags
from notifications.kinds import Kind as NotificationKind
from notifications.services import notify
from orgunits.models import OrganizationUnit

from . import enforcement, selectors
from .models import Budget, BudgetAlert, BudgetRevision

User = get_user_model()
logger = logging.getLogger(__name__)

BUDGET_FIELDS = {
    "name",
    "amount",
    "currency",
    "period",
    "start_date",
    "end_date",
    "organization_unit",
    "category",
    "tags_filter",
    "team",
    "alert_thresholds",
    "action",
    "include_pending",
    "active",
}
MAX_THRESHOLD = Decimal(2)


# --- validation ----------------------------------------------------------------------------


def _require_finance(acting_user) -> None:
    if acting_user is not None and not is_finance(acting_user):
        raise PermissionDenied("Only finance staff manage budgets.")


def normalise_thresholds(values: Iterable[Any]) -> list[str]:
    """Thresholds as sorted, distinct decimal strings, each in (0, 2].

    Raises ``ValidationError`` on ``alert_thresholds`` for anything else.
    """
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValidationError("Enter a list of fractions such as 0.5.", field="alert_thresholds")
    result = set()
    for value in values:
        if isinstance(value, bool):
            raise ValidationError(f"'{value}' is not a number.", field="alert_thresholds")
        try:
            number = Decimal(str(value))
        except (InvalidOperation, ValueError):
            raise ValidationError(f"'{value}' is not a number.", field="alert_thresholds") from None
        if not number.is_finite() or not Decimal(0) < number <= MAX_THRESHOLD:
            raise ValidationError(
                f"Threshold {value} is outside (0, 2]: use fractions, 0.8 for 80 %.",
                field="alert_thresholds",
            )
        if number.as_tuple().exponent < -4:
            raise ValidationError(
                f"Threshold {value} has more than four decimals.", field="alert_thresholds"
            )
        result.add(number.normalize())
    return [format(n, "f") for n in sorted(result)]


def budget_validate(budget: Budget) -> None:
    """Check and normalise an unsaved budget's fields (currency upper-cased, thresholds
    sorted). Raises ``ValidationError`` naming the first bad field; writes nothing."""
    budget.currency = (budget.currency or "").upper()
    if not is_known_currency(budget.currency):
        raise ValidationError(f"Unknown currency '{budget.currency}'.", field="currency")
    try:
        check_amount(budget.amount, budget.currency)
    except CurrencyError as exc:
        raise ValidationError(str(exc), field="amount") from None
    if budget.amount <= 0:
        raise ValidationError("The budget amount must be greater than zero.", field="amount")
    budget.alert_thresholds = normalise_thresholds(budget.alert_thresholds)
    if budget.tags_filter is None:
        budget.tags_filter = {}
    try:
        validate_tags(budget.tags_filter)
    except Exception as exc:  # Django ValidationError
        raise ValidationError(" ".join(exc.messages), field="tags_filter") from None
    if budget.period == Budget.Period.CUSTOM:
        if budget.start_date is None:
            raise ValidationError("A custom period needs a start date.", field="start_date")
        if budget.end_date is None:
            raise ValidationError("A custom period needs an end date.", field="end_date")
        if budget.end_date < budget.start_date:
            raise ValidationError("The end date is before the start date.", field="end_date")
    else:
        budget.start_date = budget.end_date = None
    if budget.organization_unit_id is None:
        raise ValidationError("A budget needs an organisation unit.", field="organization_unit")
    budget.full_clean(exclude=["slug"])


def _unique_slug(name: str, *, exclude_pk: int | None = None) -> str:
    base = slugify(name)[:200] or "budget"
    taken = set(
        Budget.objects.filter(slug__startswith=base)
        .exclude(pk=exclude_pk)
        .values_list("slug", flat=True)
    )
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


# --- budgets -------------------------------------------------------------------------------


@transaction.atomic
def budget_create(
    *,
    name: str,
    amount: Decimal,
    currency: str,
    organization_unit: OrganizationUnit,
    period: str = Budget.Period.MONTHLY,
    start_date: date | None = None,
    end_date: date | None = None,
    category: CostCategory | None = None,
    tags_filter: dict[str, str] | None = None,
    team: Group | None = None,
    alert_thresholds: list | None = None,
    action: str = Budget.Action.WARN,
    include_pending: bool = True,
    active: bool = True,
    acting_user=None,
) -> Budget:
    """Create a budget (finance only). The slug is derived from the name and made unique.

    Raises ``PermissionDenied`` for anyone but finance and ``ValidationError`` naming the
    field for bad input (amount not above zero, unknown currency, thresholds outside (0, 2],
    custom period without dates or with the end before the start).
    """
    _require_finance(acting_user)
    budget = Budget(
        name=name,
        amount=amount,
        currency=currency,
        period=period,
        start_date=start_date,
        end_date=end_date,
        organization_unit=organization_unit,
        category=category,
        tags_filter=tags_filter or {},
        team=team,
        alert_thresholds=(
            alert_thresholds if alert_thresholds is not None else Budget().alert_thresholds
        ),
        action=action,
        include_pending=include_pending,
        active=active,
        created_by=acting_user,
    )
    budget_validate(budget)
    budget.slug = _unique_slug(name)
    budget.save()
    return budget


@transaction.atomic
def budget_update(*, budget: Budget, acting_user=None, reason: str = "", **fields) -> Budget:
    """Change a budget (finance only). A new amount needs a ``reason`` and writes a revision.

    The budget row is locked first, so a change never interleaves with an enforcement
    check of the same budget.
    """
    _require_finance(acting_user)
    unknown = set(fields) - BUDGET_FIELDS
    if unknown:
        raise ValidationError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    locked = Budget.objects.select_for_update().get(pk=budget.pk)
    old_amount = locked.amount
    for name, value in fields.items():
        setattr(budget, name, value)
    budget_validate(budget)
    amount_changed = Decimal(budget.amount) != old_amount
    if amount_changed and not (reason and reason.strip()):
        raise ValidationError("Say why the amount changes.", field="reason")
    budget.save()
    if amount_changed:
        revision = BudgetRevision(
            budget=budget,
            changed_by=acting_user,
            at=timezone.now(),
            old_amount=old_amount,
            new_amount=budget.amount,
            reason=reason.strip(),
        )
        revision.full_clean()
        revision.save()
    return budget


@transaction.atomic
def budget_delete(*, budget: Budget, acting_user=None) -> None:
    """Delete a budget with its revisions and alerts (finance only)."""
    _require_finance(acting_user)
    budget.delete()


# --- alerts --------------------------------------------------------------------------------


def _insert_alert(alert: BudgetAlert) -> bool:
    """Insert unless the (budget, period, threshold, kind) alert exists; True if inserted."""
    sql = (
        "INSERT INTO budgets_budgetalert "
        "(budget_id, period_start, period_end, threshold, kind, spend, amount, message, "
        "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (budget_id, period_start, threshold, kind) DO NOTHING RETURNING id"
    )
    params = [
        alert.budget_id,
        alert.period_start,
        alert.period_end,
        alert.threshold,
        alert.kind,
        alert.spend,
        alert.amount,
        alert.message,
        timezone.now(),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    alert.pk = row[0]
    return True


def _alert_recipients(budget: Budget) -> list:
    """The owner of the budget's unit and every active finance user, in one query."""
    return list(
        User.objects.filter(
            Q(owned_units__id=budget.organization_unit_id) | Q(groups__name=FINANCE),
            is_active=True,
        )
        .distinct()
        .order_by("pk")
    )


def _notify_alert(budget: Budget, alert: BudgetAlert, util: selectors.Utilisation) -> None:
    pct = format((alert.threshold * 100).normalize(), "f")
    start, end = util.period.as_labels()
    if alert.kind == BudgetAlert.Kind.ACTUAL:
        kind = NotificationKind.BUDGET_THRESHOLD
    else:
        kind = NotificationKind.BUDGET_FORECAST
    notify(
        recipients=_alert_recipients(budget),
        kind=kind,
        subject=alert.message,
        body=(
            f"{alert.message}\n\nBudget: {budget.name} ({util.amount} {budget.currency}, "
            f"{budget.get_period_display().lower()} {start} to {end}).\n"
            f"Actual {util.actual}, committed {util.committed}, "
            + (
                "too early to forecast."
                if util.forecast is None
                else f"forecast {util.forecast} {budget.currency}."
            )
        ),
        link=f"/budgets/#budget-{budget.pk}",
        payload={
            "budget_id": budget.pk,
            "threshold": str(alert.threshold),
            "threshold_pct": str(pct),
            "kind": alert.kind,
            "spend": str(alert.spend),
            "amount": str(util.amount),
            "currency": budget.currency,
            "period_start": start,
            "period_end": end,
        },
    )


def _alert_message(util: selectors.Utilisation, kind: str, threshold: Decimal, spend) -> str:
    budget = util.budget
    pct = format((threshold * 100).normalize(), "f")
    if kind == BudgetAlert.Kind.ACTUAL:
        return (
            f"Budget '{budget.name}' has reached {pct} %: {spend} of {util.amount} "
            f"{budget.currency} spent."
        )[:500]
    return (
        f"Budget '{budget.name}' is forecast to reach {pct} %: {spend} of {util.amount} "
        f"{budget.currency} by the end of the period."
    )[:500]


def alerts_for(util: selectors.Utilisation, *, now: datetime) -> list[BudgetAlert]:
    """The alerts a utilisation calls for (not yet written)."""
    budget = util.budget
    fraction = util.period.elapsed_fraction(now)
    alerts = []
    for raw in budget.alert_thresholds:
        threshold = Decimal(str(raw))
        limit = budget.amount * threshold
        # Actual alerts count approved spend only: pending costs are commitments, not spend.
        candidates = [(BudgetAlert.Kind.ACTUAL, util.actual)]
        if util.forecast is not None and fraction < 1:
            candidates.append((BudgetAlert.Kind.FORECAST, util.forecast))
        for kind, spend in candidates:
            if spend >= limit:
                alerts.append(
                    BudgetAlert(
                        budget_id=budget.pk,
                        period_start=util.period.start,
                        period_end=util.period.end,
                        threshold=threshold,
                        kind=kind,
                        spend=spend,
                        amount=util.amount,
                        message=_alert_message(util, kind, threshold, spend),
                    )
                )
    return alerts


@transaction.atomic
def budget_check_alerts(
    *, budgets: Iterable[Budget], on: date | datetime | None = None, now: datetime | None = None
) -> list[BudgetAlert]:
    """Fire the thresholds the given budgets have reached in their period containing ``on``.

    Each (budget, period, threshold, kind) fires once: an alert that exists is not written
    again, so re-running changes nothing. Every new alert notifies the budget unit's owner
    and finance. A budget whose spend cannot be converted (no rate of its currency) is
    skipped with a logged warning. Returns the alerts written now.
    """
    now = now or timezone.now()
    budgets = [b for b in budgets if b.active]
    utils = selectors.budget_utilisations(budgets, on=on if on is not None else now, now=now)
    written = []
    for budget in budgets:
        util = utils[budget.pk]
        if util.conversion_gap is not None:
            # A threshold judged on part of the spend would fire late or never.
            logger.warning("Budget %s not checked: %s", budget.pk, util.conversion_gap.message)
            continue
        for alert in alerts_for(util, now=now):
            if _insert_alert(alert):
                _notify_alert(budget, alert, util)
                written.append(alert)
    return written


@transaction.atomic
def budget_alerts_reset(
    *, budgets: Iterable[Budget], on: date | datetime | None = None, acting_user=None
) -> int:
    """Forget the threshold alerts the given budgets fired in their period containing ``on``
    (default now), so each threshold can fire again in that period (seed 001's
    ``reset_period_alerts``). Alerts of other periods stay. Finance only (``PermissionDenied``
    otherwise). Returns the number of alerts removed.
    """
    _require_finance(acting_user)
    condition = Q(pk__in=[])
    for budget in budgets:
        period = selectors.display_period(budget, on)
        condition |= Q(budget_id=budget.pk, period_start=period.start)
    deleted, _ = BudgetAlert.objects.filter(condition).delete()
    return deleted


def _notify_blocked(alert: BudgetAlert, verdict, error) -> None:
    budget, item = verdict.budget, verdict.as_dict()
    cost, user = error.cost, error.acting_user
    who = (user.get_full_name() or user.username) if user is not None else "Someone"
    amount = round_money(cost.amount, cost.currency)
    notify(
        recipients=_alert_recipients(budget),
        kind=NotificationKind.BUDGET_BLOCKED,
        subject=alert.message,
        body=(
            f"{alert.message}\n\n{who} tried to book {amount} {cost.currency}"
            f"{': ' + cost.description if cost.description else ''}.\n"
            f"Budget {enforcement.budget_figures(item)}.\n\n"
            "Further refusals in this period are not notified. Finance can let a cost past "
            "the block with a reason, or raise the budget."
        ),
        link=f"/budgets/#budget-{budget.pk}",
        payload={
            **item,
            "submitted_by": user.username if user is not None else None,
            "amount": str(amount),
            "cost_currency": cost.currency,
            "description": cost.description or "",
        },
    )


def budget_blocked_notify(*, error) -> list[BudgetAlert]:
    """Refusal hook (``costs.extensions.register_refusal_hook``): tell the unit owner and
    finance that a ``block`` budget refused a cost, once per budget and period.

    Runs after the refused transaction rolled back, in a transaction of its own: a ``block``
    alert (threshold 1) per refusing budget and period, inserted with ``ON CONFLICT DO
    NOTHING``, and the notifications of the alerts that are new (delivered after commit).
    Anything but ``BudgetBlocked`` is ignored. Never raises (a failure is logged): the
    refusal itself must reach the user. Returns the alerts written.
    """
    if not isinstance(error, enforcement.BudgetBlocked):
        return []
    written = []
    try:
        with transaction.atomic():
            for verdict in error.verdicts:
                item = verdict.as_dict()
                alert = BudgetAlert(
                    budget_id=verdict.budget.pk,
                    period_start=verdict.period.start,
                    period_end=verdict.period.end,
                    threshold=Decimal(1),
                    kind=BudgetAlert.Kind.BLOCK,
                    spend=verdict.spent,
                    amount=verdict.budget.amount,
                    message=(
                        f"Budget '{verdict.budget.name}' refused a cost of {item['requested']} "
                        f"{item['currency']}: {item['budget_spent']} of {item['budget_limit']} "
                        f"{item['currency']} spent, {item['budget_remaining']} left."
                    )[:500],
                )
                if _insert_alert(alert):
                    _notify_blocked(alert, verdict, error)
                    written.append(alert)
    except Exception:
        logger.exception("Could not record the refusal by budget(s) %s.", error.extra)
        return []
    return written


def budget_check_all(*, now: datetime | None = None) -> list[BudgetAlert]:
    """Check every active budget's current period (the beat task)."""
    budgets = list(
        Budget.objects.filter(active=True).select_related("organization_unit__owner", "category")
    )
    return budget_check_alerts(budgets=budgets, now=now)


def cost_decided(*, cost, acting_user=None) -> None:
    """Decision hook: after an approval, rejection or void, check the budgets the cost
    touches for the period the cost falls in."""
    budgets = selectors.matching_budgets(
        unit_id=cost.organization_unit_id,
        category_id=cost.category_id,
        tags=cost.tags,
        submitter_id=cost.submitted_by_id,
        day=cost.incurred_on,
    )
    if not budgets:
        return
    hourly = [b for b in budgets if b.period == Budget.Period.HOURLY]
    daily = [b for b in budgets if b.period != Budget.Period.HOURLY]
    if daily:
        budget_check_alerts(budgets=daily, on=cost.incurred_on)
    if hourly:
        budget_check_alerts(budgets=hourly, on=cost.submitted_at or cost.created_at)
