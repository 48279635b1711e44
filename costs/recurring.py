"""Recurring cost items (SPEC 2.2): their writes, reads, and the generation of their costs.

An item with cadence monthly / quarterly / annual is due on its start date and then every
1 / 3 / 12 months on the same day (clamped to shorter months); a one-time item is due once,
on its start date; nothing is due after the end date. Each due day becomes one pending
``Cost`` (source ``recurring``) submitted by the item's creator, exactly once: generation
first inserts the ``RecurringCostOccurrence`` row, unique on (item, due day), with
``ON CONFLICT DO NOTHING``, and creates the cost only when that insert wrote a row — in the
same transaction. A second run, or a concurrent one, finds the key taken (waiting on the
first transaction if it has not committed) and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from costtrack.core.exceptions import (
    ApplicationError,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from costtrack.core.money import clean_money
from costtrack.core.roles import is_finance, sees_everything
from orgunits.selectors import subtree_q, user_root_ranges

from .models import Cost, CostCategory
from .period_models import RecurringCost, RecurringCostOccurrence
from .periods import add_months, frozen_ranges, period_bounds

Cadence = RecurringCost.Cadence
STEP_MONTHS = {Cadence.MONTHLY: 1, Cadence.QUARTERLY: 3, Cadence.ANNUAL: 12}
UPDATABLE_FIELDS = (
    "name",
    "amount",
    "currency",
    "end_date",
    "active",
    "category",
    "description",
    "tags",
    "resource",
    "entity",
    "organization_unit",
)

# --- schedule --------------------------------------------------------------------------


def due_days(item: RecurringCost, *, since: date | None = None, until: date) -> list[date]:
    """The days ``item`` is due on between ``since`` and ``until`` (inclusive)."""
    last = min(until, item.end_date) if item.end_date else until
    if item.cadence == Cadence.ONE_TIME:
        days = [item.start_date]
    else:
        step = STEP_MONTHS[item.cadence]
        n = 0
        if since and since > item.start_date:
            months = (since.year - item.start_date.year) * 12 + since.month - item.start_date.month
            n = max(0, months // step - 1)
        days = []
        while True:
            day = add_months(item.start_date, n * step)
            if day > last:
                break
            days.append(day)
            n += 1
    return [d for d in days if d <= last and (since is None or d >= since)]


def span_end(item: RecurringCost, due: date) -> date | None:
    """Last day paid for by the occurrence due on ``due`` (``None`` for one-time items)."""
    if item.cadence == Cadence.ONE_TIME:
        return None
    start_index = (due.year - item.start_date.year) * 12 + due.month - item.start_date.month
    end = add_months(item.start_date, start_index + STEP_MONTHS[item.cadence]) - timedelta(days=1)
    return min(end, item.end_date) if item.end_date else end


# --- selectors -------------------------------------------------------------------------


def recurring_cost_list(
    *, user, active: bool | None = None, period: str | None = None
) -> list[RecurringCost] | QuerySet[RecurringCost]:
    """Recurring items ``user`` may see (finance and auditors all; others their units';
    ``None`` is an internal caller, e.g. an operator's command, that sees everything).

    ``period`` (YYYY-MM) keeps the items due at least once in that period.
    """
    qs = RecurringCost.objects.select_related(
        "category", "organization_unit", "resource", "entity", "created_by"
    ).order_by("name", "id")
    if user is not None and not sees_everything(user):
        qs = qs.filter(subtree_q(user_root_ranges(user), "organization_unit"))
    if active is not None:
        qs = qs.filter(active=active)
    if period:
        first, last = period_bounds(period)
        qs = qs.filter(Q(end_date__isnull=True) | Q(end_date__gte=first), start_date__lte=last)
        return [item for item in qs if due_days(item, since=first, until=last)]
    return qs


def recurring_cost_get(*, user, pk: int) -> RecurringCost:
    item = (
        RecurringCost.objects.filter(pk=pk).first()
        if sees_everything(user)
        else RecurringCost.objects.filter(
            subtree_q(user_root_ranges(user), "organization_unit"), pk=pk
        ).first()
    )
    if item is None:
        raise NotFound(f"No recurring cost {pk}.")
    return item


# --- writes ----------------------------------------------------------------------------


def _check_finance(acting_user) -> None:
    if not is_finance(acting_user):
        raise PermissionDenied("Only finance staff may manage recurring costs.")


def _checked_money(amount, currency) -> tuple[Decimal, str]:
    amount, currency = clean_money(amount, currency)
    if amount < 0:
        raise ValidationError("A recurring cost has a positive amount.", field="amount")
    return amount, currency


def _check_dates(start_date: date, end_date: date | None) -> None:
    if start_date is None:
        raise ValidationError("Enter the start date.", field="start_date")
    if start_date < date(1970, 1, 1):
        raise ValidationError("Enter a date on or after 1970-01-01.", field="start_date")
    if end_date is not None and end_date < start_date:
        raise ValidationError("The end date cannot be before the start date.", field="end_date")


def _default_unit(resource, entity, organization_unit):
    if organization_unit is not None:
        return organization_unit
    if resource is not None:
        return resource.organization_unit
    if entity is not None:
        return entity.organization_unit
    raise ValidationError(
        "Give a resource, an entity or an organisation unit.", field="organization_unit"
    )


@transaction.atomic
def recurring_cost_create(
    *,
    name: str,
    amount: Decimal,
    currency: str,
    start_date: date,
    acting_user,
    cadence: str = Cadence.MONTHLY,
    end_date: date | None = None,
    category: CostCategory | None = None,
    resource=None,
    entity=None,
    organization_unit=None,
    description: str = "",
    tags: dict | None = None,
    active: bool = True,
) -> RecurringCost:
    """Create a recurring item (finance only). Generation books its costs later.

    Raises ``ValidationError`` naming the field (amount, currency, cadence, end_date,
    organization_unit, name) and ``PermissionDenied`` for anyone but finance.
    """
    from .services import category_default

    _check_finance(acting_user)
    if not name or not str(name).strip():
        raise ValidationError("Enter a name.", field="name")
    if cadence not in Cadence.values:
        raise ValidationError(
            f"Unknown cadence '{cadence}': use one of {', '.join(Cadence.values)}.",
            field="cadence",
        )
    amount, currency = _checked_money(amount, currency)
    _check_dates(start_date, end_date)
    item = RecurringCost(
        name=str(name).strip(),
        amount=amount,
        currency=currency,
        cadence=cadence,
        start_date=start_date,
        end_date=end_date,
        category=category or category_default(),
        resource=resource,
        entity=entity,
        organization_unit=_default_unit(resource, entity, organization_unit),
        description=description or "",
        tags=tags if tags is not None else {},
        active=active,
        created_by=acting_user,
    )
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def recurring_cost_update(*, recurring_cost: RecurringCost, acting_user, **fields) -> RecurringCost:
    """Change a recurring item (finance only); costs already generated stay as they are.

    ``fields``: any of UPDATABLE_FIELDS. Same validation as ``recurring_cost_create``.
    """
    from .services import category_default

    _check_finance(acting_user)
    unknown = set(fields) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    item = RecurringCost.objects.select_for_update().get(pk=recurring_cost.pk)
    if "amount" in fields or "currency" in fields:
        fields["amount"], fields["currency"] = _checked_money(
            fields.get("amount", item.amount), fields.get("currency", item.currency)
        )
    if "name" in fields and (not fields["name"] or not str(fields["name"]).strip()):
        raise ValidationError("Enter a name.", field="name")
    if "end_date" in fields:
        _check_dates(item.start_date, fields["end_date"])
    if any(k in fields for k in ("resource", "entity", "organization_unit")):
        resource = fields.get("resource", item.resource)
        entity = fields.get("entity", item.entity)
        unit = fields.get("organization_unit")
        fields["organization_unit"] = _default_unit(resource, entity, unit)
    for name, value in fields.items():
        if value is None and name == "description":
            value = ""
        elif value is None and name == "tags":
            value = {}
        elif value is None and name == "category":
            value = category_default()
        setattr(item, name, value)
    item.full_clean()
    item.save()
    return item


@dataclass
class GenerationResult:
    """``created``: costs written by this run; ``existing``: occurrences already there;
    ``skipped_closed``: due days in closed periods, and in closing ones other than the one
    whose close runs this generation; ``errors``: refusals per occurrence
    (e.g. a budget block) — those are tried again by the next run."""

    created: int = 0
    existing: int = 0
    skipped_closed: int = 0
    errors: list[str] = field(default_factory=list)
    cost_ids: list[int] = field(default_factory=list)


INSERT_OCCURRENCE = (
    "INSERT INTO costs_recurringcostoccurrence (recurring_cost_id, due_on, created_at) "
    "VALUES (%s, %s, %s) ON CONFLICT (recurring_cost_id, due_on) DO NOTHING RETURNING id"
)


@transaction.atomic
def occurrence_generate(*, item: RecurringCost, due: date) -> Cost | None:
    """Book the occurrence of ``item`` due on ``due``: its cost, or ``None`` when it exists.

    The occurrence key and the cost are written in one transaction: a refused cost (budget
    block, closed period) leaves no key behind.
    """
    from .services import cost_create

    with connection.cursor() as cursor:
        cursor.execute(INSERT_OCCURRENCE, [item.pk, due, timezone.now()])
        row = cursor.fetchone()
    if row is None:
        return None
    description = f"{item.name}: {item.description}" if item.description else item.name
    result = cost_create(
        submitted_by=item.created_by,
        amount=item.amount,
        currency=item.currency,
        incurred_on=due,
        period_start=due,
        period_end=span_end(item, due),
        category=item.category,
        description=description[:500],
        resource=item.resource,
        entity=item.entity,
        organization_unit=item.organization_unit,
        tags=dict(item.tags or {}),
        metadata={"recurring_cost_id": item.pk, "recurring_cost": item.name},
        source=Cost.Source.RECURRING,
    )
    RecurringCostOccurrence.objects.filter(pk=row[0]).update(cost=result.cost)
    return result.cost


def recurring_costs_generate(
    *,
    since: date | None = None,
    until: date | None = None,
    items: Iterable[RecurringCost] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> GenerationResult:
    """Generate the pending costs of every active item due between ``since`` and ``until``
    (default: everything due up to today). Idempotent and safe to run concurrently.

    Each occurrence commits on its own; ``progress(done, total)`` is called per item.
    """
    until = until or timezone.localdate()
    if items is None:
        qs = RecurringCost.objects.filter(active=True, start_date__lte=until).select_related(
            "created_by", "category", "resource", "entity", "organization_unit"
        )
        if since:
            qs = qs.filter(Q(end_date__isnull=True) | Q(end_date__gte=since))
        items = list(qs.order_by("id"))
    else:
        items = list(items)
    closed = frozen_ranges()
    taken = set(
        RecurringCostOccurrence.objects.filter(recurring_cost__in=[i.pk for i in items])
        .filter(**({"due_on__gte": since} if since else {}), due_on__lte=until)
        .values_list("recurring_cost_id", "due_on")
    )
    result = GenerationResult()
    for done, item in enumerate(items, start=1):
        for due in due_days(item, since=since, until=until):
            if (item.pk, due) in taken:
                result.existing += 1
                continue
            if any(start <= due <= end for start, end in closed):
                result.skipped_closed += 1
                continue
            try:
                cost = occurrence_generate(item=item, due=due)
            except ApplicationError as exc:
                result.errors.append(f"{item.name} due {due}: {exc.message}")
                continue
            if cost is None:
                result.existing += 1
            else:
                result.created += 1
                result.cost_ids.append(cost.pk)
        if progress is not None:
            progress(done, len(items))
    return result


__all__ = [
    "GenerationResult",
    "due_days",
    "occurrence_generate",
    "recurring_cost_create",
    "recurring_cost_get",
    "recurring_cost_list",
    "recurring_cost_update",
    "recurring_costs_generate",
    "span_end",
]
