"""Every write to a cost: create, edit, and each transition of the approval state machine.

Each service is keyword-only and atomic. A transition locks the cost row
(``select_for_update``), checks the acting user's permission, calls the django-fsm transition
(an invalid one raises ``Conflict``, answered 409), saves with ``update_fields``, writes exactly
one ``CostEvent`` and queues notifications in the same transaction.

Services that lock return the *locked, updated* instance: use the returned cost, not the one
passed in (the status field is protected and cannot be refreshed in place).
"""

import functools
import json
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from costtrack.core.db import advisory_xact_lock
from costtrack.core.exceptions import (
    ApplicationError,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from costtrack.core.money import clean_money, reporting_currency
from costtrack.core.roles import is_finance, refuse_read_only
from orgunits.models import Entity, OrganizationUnit, Resource
from orgunits.selectors import unit_is_visible

from .. import extensions
from ..approvers import can_decide, decider_ids, resolve_approver
from ..models import Cost, CostCategory, CostEvent, IdempotencyKey
from ..summary.maintain import cost_save
from . import notify as notify_mod
from .categories import category_default
from .rates import convert

logger = logging.getLogger(__name__)

EARLIEST_DAY = date(1970, 1, 1)
IDEMPOTENCY_KEY_MAX = 255
FUTURE_DAYS = 366

EDITABLE_FIELDS = (
    "amount",
    "currency",
    "incurred_on",
    "period_start",
    "period_end",
    "category",
    "description",
    "resource",
    "entity",
    "organization_unit",
    "url",
    "metadata",
    "tags",
)

# Edits of a pending cost to these fields run the submission checks again.
RECHECKED_FIELDS = {
    "amount",
    "currency",
    "incurred_on",
    "category",
    "tags",
    "resource",
    "entity",
    "organization_unit",
}


@dataclass
class CostResult:
    """What a create, submit or edit hands back.

    ``cost``: the saved cost. ``warnings``: what the submission checks (e.g. budgets with
    action ``warn``) returned, to be shown to the user (the API puts them under
    ``warnings``). ``created``: False when an ``Idempotency-Key`` replay returned an earlier
    cost without writing anything.
    """

    cost: Cost
    warnings: list[dict[str, Any]] = field(default_factory=list)
    created: bool = True


# --- helpers ---------------------------------------------------------------------------


def _event(
    *,
    cost: Cost,
    action: str,
    actor,
    from_status: str = "",
    to_status: str = "",
    comment: str = "",
    changes: dict | None = None,
) -> CostEvent:
    return CostEvent.objects.create(
        cost=cost,
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        at=timezone.now(),
        comment=comment,
        changes=changes or {},
    )


def _lock(cost: Cost | int) -> Cost:
    pk = cost.pk if isinstance(cost, Cost) else cost
    try:
        return (
            Cost.objects.select_for_update(of=("self",))
            .select_related("submitted_by", "organization_unit", "approver")
            .get(pk=pk)
        )
    except Cost.DoesNotExist:
        raise NotFound("No such cost.") from None


def guard_change(*, day: date) -> None:
    """Run every registered cost-change guard (e.g. closed accounting periods) for ``day``;
    a guard raises ``Conflict`` when costs of that day may no longer change."""
    guards = getattr(extensions, "cost_change_guards", None)
    for guard in guards() if guards is not None else ():
        guard(day=day)


def _transition(cost: Cost, name: str, *, guarded: bool = False) -> tuple[str, str]:
    if not guarded:
        guard_change(day=cost.incurred_on)
    before = cost.status
    try:
        getattr(cost, name)()
    except TransitionNotAllowed:
        raise Conflict(
            f"Cannot {name} a cost that is {before}.", code="invalid_transition"
        ) from None
    return before, cost.status


def _check_day(value: date | None, field_name: str) -> None:
    if value is None:
        return
    if value < EARLIEST_DAY:
        raise ValidationError("Enter a date on or after 1970-01-01.", field=field_name)
    if value > timezone.localdate() + timedelta(days=FUTURE_DAYS):
        raise ValidationError(
            "Enter a date at most one year in the future.", field=field_name, code="too_far"
        )


def _check_visible(*, user, resource, entity, organization_unit) -> None:
    """A submitter may only book against objects of units they belong to."""
    for name, obj, unit in (
        ("resource", resource, getattr(resource, "organization_unit", None)),
        ("entity", entity, getattr(entity, "organization_unit", None)),
        ("organization_unit", organization_unit, organization_unit),
    ):
        if obj is not None and not unit_is_visible(user=user, unit=unit):
            raise ValidationError(
                f'Invalid pk "{obj.pk}" - object does not exist.',
                field=name,
                code="does_not_exist",
            )


def _json_value(value):
    if isinstance(value, (Resource, Entity, OrganizationUnit, CostCategory)):
        return value.pk
    if isinstance(value, (Decimal, date)):
        return str(value)
    return value


# the foreign keys a new cost is given as saved instances (the callers read them), so
# full_clean need not query each one again; the database's foreign keys still hold
NEW_COST_RELATIONS = (
    "category",
    "resource",
    "entity",
    "organization_unit",
    "submitted_by",
    "approver",
)


def _full_clean(cost: Cost, *, new: bool = False) -> None:
    """Validate ``cost``'s fields; status is protected and validated by its transitions.

    ``new``: a cost ``cost_create`` built from saved related rows, whose sign and period
    order it has checked itself with field-named messages, so neither the relations nor
    the check constraints are asked of the database again (it still enforces both)."""
    if new:
        cost.full_clean(exclude=["status", *NEW_COST_RELATIONS], validate_constraints=False)
    else:
        cost.full_clean(exclude=["status"])


def _queue_notifications(*, cost: Cost, kind: str, actor) -> None:
    notify_mod.cost_notify(cost=cost, kind=kind, actor=actor)


def _run_submission_checks(
    *, cost: Cost, acting_user, override_reason: str | None, checks=None
) -> list[dict[str, Any]]:
    """Run ``checks`` (default: the submission checks); a refusal is marked for the refusal
    hooks (``_reporting_refusals``)."""
    return extensions.run_checks(
        extensions.submission_checks() if checks is None else checks,
        cost=cost,
        acting_user=acting_user,
        override_reason=override_reason,
    )


def _checked_submission(
    *, cost: Cost, acting_user, override_reason: str | None, checks=None
) -> list[dict[str, Any]]:
    if override_reason and not is_finance(acting_user):
        raise PermissionDenied(
            "Only finance staff may override a budget block.", code="override_not_allowed"
        )
    return _run_submission_checks(
        cost=cost, acting_user=acting_user, override_reason=override_reason or None, checks=checks
    )


def _reporting_refusals(service):
    """Wrap an atomic service whose checks may refuse: once its transaction has rolled back,
    the refusal hooks get the error, so what they write (a notification) is kept."""

    @functools.wraps(service)
    def run(*args, **kwargs):
        try:
            return service(*args, **kwargs)
        except ApplicationError as exc:
            extensions.report_refusal(exc)
            raise

    return run


def _override_events(
    *, cost: Cost, acting_user, override_reason: str | None, warnings: list[dict[str, Any]]
) -> list[CostEvent]:
    """An OVERRIDE event (unsaved) when a check let a finance user past a block
    (``overridden``), else none."""
    if not override_reason or not any(w.get("overridden") for w in warnings):
        return []
    return [
        CostEvent(
            cost=cost if cost.pk else None,
            action=CostEvent.Action.OVERRIDE,
            actor=acting_user,
            from_status=cost.status,
            to_status=cost.status,
            at=timezone.now(),
            comment=override_reason,
            changes={"warnings": json.loads(json.dumps(warnings, default=str))},
        )
    ]


def _record_override(
    *, cost: Cost, acting_user, override_reason: str | None, warnings: list[dict[str, Any]]
) -> None:
    """Write the OVERRIDE event of ``_override_events``, if any."""
    for event in _override_events(
        cost=cost, acting_user=acting_user, override_reason=override_reason, warnings=warnings
    ):
        event.save()


def _submit_locked(
    *,
    cost: Cost,
    acting_user,
    comment: str = "",
    override_reason: str | None = None,
) -> list[dict[str, Any]]:
    """Checks, transition, event and notification for a locked draft cost."""
    if cost.status != Cost.Status.DRAFT:
        raise Conflict(f"Cannot submit a cost that is {cost.status}.", code="invalid_transition")
    warnings = _checked_submission(
        cost=cost, acting_user=acting_user, override_reason=override_reason
    )
    before, after = _transition(cost, "submit")
    cost.submitted_at = timezone.now()
    cost_save(cost, was=before, update_fields=["status", "submitted_at", "updated_at"])
    _event(
        cost=cost,
        action=CostEvent.Action.SUBMIT,
        actor=acting_user,
        from_status=before,
        to_status=after,
        comment=comment,
    )
    _record_override(
        cost=cost, acting_user=acting_user, override_reason=override_reason, warnings=warnings
    )
    _queue_notifications(cost=cost, kind="approval_requested", actor=acting_user)
    return warnings


# --- create and edit -------------------------------------------------------------------


@_reporting_refusals
@transaction.atomic
def cost_create(
    *,
    submitted_by,
    amount: Decimal,
    currency: str,
    incurred_on: date | None = None,
    category: CostCategory | None = None,
    description: str = "",
    resource: Resource | None = None,
    entity: Entity | None = None,
    organization_unit: OrganizationUnit | None = None,
    period_start: date | None = None,
    period_end: date | None = None,
    url: str = "",
    metadata: dict | None = None,
    tags: dict | None = None,
    source: str = Cost.Source.MANUAL,
    kind: str | None = None,
    draft: bool = False,
    idempotency_key: str | None = None,
    override_reason: str | None = None,
    comment: str = "",
) -> CostResult:
    """Record a cost as ``submitted_by``: pending (submitted for approval) unless ``draft``.

    The unit defaults from the resource, then the entity; ``incurred_on`` defaults to
    ``period_start``; the category defaults to ``other``. A negative amount makes a credit
    (``kind`` may be given to insist: a negative charge or a positive credit is refused).
    The amount is converted to the reporting currency at the latest rate on or before
    ``incurred_on``. The approver is resolved (SPEC 2.2). Writes the cost, a CREATE event,
    and for a pending cost the SUBMIT event (plus OVERRIDE when a check reports that a
    finance user's ``override_reason`` let the cost past a block, ``overridden: True``)
    after running every registered submission check.

    With ``idempotency_key``, a retry by the same user returns the first cost with
    ``created=False`` and writes nothing.

    Raises ``ValidationError`` (400, naming the field) for bad input, ``PermissionDenied``
    when ``submitted_by`` is an auditor (read-only, even as a member of the unit; costs a
    recurring item books for its creator are not refused) or a submission check refuses,
    ``Conflict`` never.
    """
    if source != Cost.Source.RECURRING:
        refuse_read_only(submitted_by)
    if idempotency_key and len(idempotency_key) > IDEMPOTENCY_KEY_MAX:
        raise ValidationError(
            f"The Idempotency-Key is at most {IDEMPOTENCY_KEY_MAX} characters.",
            field="idempotency_key",
        )
    if idempotency_key:
        advisory_xact_lock(f"costs.idempotency:{submitted_by.pk}:{idempotency_key}")
        earlier = (
            IdempotencyKey.objects.filter(user=submitted_by, key=idempotency_key)
            .select_related("cost")
            .first()
        )
        if earlier is not None:
            return CostResult(cost=earlier.cost, warnings=[], created=False)

    amount, currency = clean_money(amount, currency)
    incurred_on = incurred_on or period_start
    if incurred_on is None:
        raise ValidationError("Enter the day the cost was incurred.", field="incurred_on")
    for name, value in (
        ("incurred_on", incurred_on),
        ("period_start", period_start),
        ("period_end", period_end),
    ):
        _check_day(value, name)
    if period_start and period_end and period_end < period_start:
        raise ValidationError("The period cannot end before it starts.", field="period_end")
    if resource is None and entity is None and organization_unit is None:
        raise ValidationError(
            "Give a resource, an entity or an organisation unit.", field="organization_unit"
        )
    if source in (Cost.Source.MANUAL, Cost.Source.API):
        _check_visible(
            user=submitted_by,
            resource=resource,
            entity=entity,
            organization_unit=organization_unit,
        )
    unit = organization_unit
    if unit is None:
        unit = resource.organization_unit if resource is not None else entity.organization_unit
    guard_change(day=incurred_on)
    inferred = Cost.Kind.CREDIT if amount < 0 else Cost.Kind.CHARGE
    if kind == Cost.Kind.CHARGE and amount < 0:
        raise ValidationError(
            "A charge cannot have a negative amount; record a credit instead.", field="amount"
        )
    if kind == Cost.Kind.CREDIT and amount > 0:
        raise ValidationError("A credit has a negative amount.", field="amount")
    kind = inferred
    conversion = convert(amount=amount, currency=currency, on=incurred_on)
    cost = Cost(
        amount=amount,
        currency=currency,
        amount_reporting=conversion.amount_reporting,
        exchange_rate=conversion.rate,
        incurred_on=incurred_on,
        period_start=period_start,
        period_end=period_end,
        category=category or category_default(),
        description=description or "",
        resource=resource,
        entity=entity,
        organization_unit=unit,
        url=url or "",
        metadata=metadata if metadata is not None else {},
        tags=tags if tags is not None else {},
        source=source,
        kind=kind,
        submitted_by=submitted_by,
        approver=resolve_approver(
            submitted_by=submitted_by, resource=resource, entity=entity, organization_unit=unit
        ),
    )
    _full_clean(cost, new=True)
    created = CostEvent(
        action=CostEvent.Action.CREATE,
        actor=submitted_by,
        to_status=cost.status,
        comment="" if not draft else comment,
        changes={"amount": [None, str(amount)], "currency": [None, currency]},
    )
    warnings: list[dict[str, Any]] = []
    events = [created]
    if not draft:
        # checked and moved to pending before its row is written: one INSERT of a pending
        # cost (nobody else can see it to lock it; its day was guarded above), its events in
        # one statement
        warnings = _checked_submission(
            cost=cost, acting_user=submitted_by, override_reason=override_reason
        )
        before, after = _transition(cost, "submit", guarded=True)
        cost.submitted_at = timezone.now()
        events.append(
            CostEvent(
                action=CostEvent.Action.SUBMIT,
                actor=submitted_by,
                from_status=before,
                to_status=after,
                comment=comment,
            )
        )
        events += _override_events(
            cost=cost, acting_user=submitted_by, override_reason=override_reason, warnings=warnings
        )
    cost_save(cost, was=None)
    moment = timezone.now()
    for event in events:
        event.cost, event.at = cost, moment
    CostEvent.objects.bulk_create(events)
    if idempotency_key:
        IdempotencyKey.objects.create(user=submitted_by, key=idempotency_key, cost=cost)
    if not draft:
        _queue_notifications(cost=cost, kind="approval_requested", actor=submitted_by)
    return CostResult(cost=cost, warnings=warnings, created=True)


def cost_record(*, user, amount: Decimal, currency: str | None = None, **fields) -> Cost:
    """The seed's ``CostTracker.record``: record a cost as ``user`` (pending for approval).

    ``currency`` defaults to the reporting currency; other keywords as ``cost_create``.
    Returns the cost; submission warnings are dropped (use ``cost_create`` to see them).
    """
    fields.setdefault("incurred_on", timezone.localdate())
    return cost_create(
        submitted_by=user, amount=amount, currency=currency or reporting_currency(), **fields
    ).cost


@_reporting_refusals
@transaction.atomic
def cost_update(
    *,
    cost: Cost,
    acting_user,
    comment: str = "",
    override_reason: str | None = None,
    **fields,
) -> CostResult:
    """Edit a draft or pending cost (its submitter or finance).

    ``fields`` may be any of EDITABLE_FIELDS. Recomputes the conversion and the approver and
    writes one EDIT event with ``{field: [old, new]}`` of what changed (nothing is written
    when nothing changed). When a pending cost's amount, currency, day, category, tags or
    target change, the submission checks run again (a budget block refuses the edit; warnings
    come back in the result). Raises ``PermissionDenied`` for anyone else and for auditors,
    ``Conflict`` when the cost is no longer editable.
    """
    refuse_read_only(acting_user)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    cost = _lock(cost)
    if acting_user.pk != cost.submitted_by_id and not is_finance(acting_user):
        raise PermissionDenied("Only the submitter or finance may edit this cost.")
    if cost.status not in (Cost.Status.DRAFT, Cost.Status.PENDING):
        raise Conflict(f"A {cost.status} cost cannot be edited.", code="not_editable")
    guard_change(day=cost.incurred_on)
    if fields.get("incurred_on") and fields["incurred_on"] != cost.incurred_on:
        _check_day(fields["incurred_on"], "incurred_on")
        guard_change(day=fields["incurred_on"])
    if "amount" in fields or "currency" in fields:
        amount, currency = clean_money(
            fields.get("amount", cost.amount), fields.get("currency", cost.currency)
        )
        fields["amount"], fields["currency"] = amount, currency
    for name in ("incurred_on", "period_start", "period_end"):
        if name in fields:
            _check_day(fields[name], name)
    relinked = any(k in fields for k in ("resource", "entity", "organization_unit"))
    own = acting_user.pk == cost.submitted_by_id
    if relinked and own and cost.source in (Cost.Source.MANUAL, Cost.Source.API):
        _check_visible(
            user=acting_user,
            resource=fields.get("resource"),
            entity=fields.get("entity"),
            organization_unit=fields.get("organization_unit"),
        )
    if "category" in fields and fields["category"] is None:
        fields["category"] = category_default()
    for name in ("url", "description"):
        if name in fields and fields[name] is None:
            fields[name] = ""
    for name in ("metadata", "tags"):
        if name in fields and fields[name] is None:
            fields[name] = {}

    changes: dict[str, list] = {}
    for name, value in fields.items():
        old = getattr(cost, name)
        if old != value:
            changes[name] = [_json_value(old), _json_value(value)]
            setattr(cost, name, value)
    if ("resource" in changes or "entity" in changes) and "organization_unit" not in fields:
        source_obj = cost.resource or cost.entity
        if source_obj is not None:
            cost.organization_unit = source_obj.organization_unit
    if cost.resource is None and cost.entity is None and cost.organization_unit_id is None:
        raise ValidationError(
            "Give a resource, an entity or an organisation unit.", field="organization_unit"
        )
    if not changes:
        return CostResult(cost=cost)
    if cost.period_start and cost.period_end and cost.period_end < cost.period_start:
        raise ValidationError("The period cannot end before it starts.", field="period_end")
    cost.kind = Cost.Kind.CREDIT if cost.amount < 0 else Cost.Kind.CHARGE
    conversion = convert(amount=cost.amount, currency=cost.currency, on=cost.incurred_on)
    for name, value in (
        ("amount_reporting", conversion.amount_reporting),
        ("exchange_rate", conversion.rate),
    ):
        if getattr(cost, name) != value:
            changes[name] = [str(getattr(cost, name)), str(value)]
            setattr(cost, name, value)
    approver = resolve_approver(
        submitted_by=cost.submitted_by,
        resource=cost.resource,
        entity=cost.entity,
        organization_unit=cost.organization_unit,
    )
    if approver != cost.approver:
        changes["approver"] = [cost.approver_id, approver.pk if approver else None]
        cost.approver = approver
    _full_clean(cost)
    cost_save(
        cost,
        was=cost.status,
        update_fields=sorted(
            {*EDITABLE_FIELDS, "kind", "amount_reporting", "exchange_rate", "approver"}
            | {"updated_at"}
        ),
    )
    _event(
        cost=cost,
        action=CostEvent.Action.EDIT,
        actor=acting_user,
        from_status=cost.status,
        to_status=cost.status,
        comment=comment,
        changes=changes,
    )
    warnings: list[dict[str, Any]] = []
    if cost.status == Cost.Status.PENDING and set(changes) & RECHECKED_FIELDS:
        warnings = _checked_submission(
            cost=cost, acting_user=acting_user, override_reason=override_reason
        )
        _record_override(
            cost=cost, acting_user=acting_user, override_reason=override_reason, warnings=warnings
        )
    if "approver" in changes and cost.status == Cost.Status.PENDING:
        _queue_notifications(cost=cost, kind="approval_requested", actor=acting_user)
    return CostResult(cost=cost, warnings=warnings)


# --- transitions -----------------------------------------------------------------------


@_reporting_refusals
@transaction.atomic
def cost_submit(
    *, cost: Cost, acting_user, comment: str = "", override_reason: str | None = None
) -> CostResult:
    """Submit a draft for approval (its submitter or finance): draft → pending.

    Re-resolves the approver, runs every submission check (warnings come back in the
    result; a refusing check raises ``PermissionDenied``), writes a SUBMIT event (and an
    OVERRIDE event when finance's ``override_reason`` got past a block) and notifies the
    approvers. Auditors are refused (``PermissionDenied``).
    """
    refuse_read_only(acting_user)
    cost = _lock(cost)
    if acting_user.pk != cost.submitted_by_id and not is_finance(acting_user):
        raise PermissionDenied("Only the submitter or finance may submit this cost.")
    if cost.status == Cost.Status.DRAFT:
        approver = resolve_approver(
            submitted_by=cost.submitted_by,
            resource=cost.resource,
            entity=cost.entity,
            organization_unit=cost.organization_unit,
        )
        if approver != cost.approver:
            cost.approver = approver
            cost.save(update_fields=["approver"])
    warnings = _submit_locked(
        cost=cost, acting_user=acting_user, comment=comment, override_reason=override_reason
    )
    return CostResult(cost=cost, warnings=warnings)


def _decide(
    *, cost: Cost, acting_user, comment: str, transition: str, override_reason: str | None = None
) -> Cost:
    refuse_read_only(acting_user)
    cost = _lock(cost)
    if acting_user.pk == cost.submitted_by_id:
        raise PermissionDenied(
            "You cannot decide a cost you submitted.", code="self_approval_forbidden"
        )
    if not can_decide(acting_user, cost):
        raise PermissionDenied("You are not an approver of this cost.")
    before, after = _transition(cost, transition)
    warnings: list[dict[str, Any]] = []
    if transition == "approve":
        warnings = _checked_submission(
            cost=cost,
            acting_user=acting_user,
            override_reason=override_reason,
            checks=extensions.approval_checks(),
        )
    cost.decided_by = acting_user
    cost.decided_at = timezone.now()
    cost.decision_comment = comment
    cost_save(
        cost,
        was=before,
        update_fields=["status", "decided_by", "decided_at", "decision_comment", "updated_at"],
    )
    _event(
        cost=cost,
        action=transition,
        actor=acting_user,
        from_status=before,
        to_status=after,
        comment=comment,
    )
    _record_override(
        cost=cost, acting_user=acting_user, override_reason=override_reason, warnings=warnings
    )
    kind = "cost_approved" if transition == "approve" else "cost_rejected"
    _queue_notifications(cost=cost, kind=kind, actor=acting_user)
    for hook in extensions.decision_hooks():
        hook(cost=cost, acting_user=acting_user)
    return cost


@_reporting_refusals
@transaction.atomic
def cost_approve(
    *, cost: Cost, acting_user, comment: str = "", override_reason: str | None = None
) -> Cost:
    """Approve a pending cost: pending → approved.

    Allowed to the resolved approver, their active delegates, approver members of the unit
    or an ancestor, and finance; never the submitter nor an auditor (``PermissionDenied``,
    403). A cost that is no longer pending (e.g. another approver was faster) raises
    ``Conflict`` (409).
    Notifies the submitter and runs the decision hooks.

    Every approval check runs first (budgets hold ``block`` budgets that count approved spend
    only); a refusing check raises ``PermissionDenied``, unless a finance user's
    ``override_reason`` let the cost past it (an OVERRIDE event records the reason).
    """
    return _decide(
        cost=cost,
        acting_user=acting_user,
        comment=comment,
        transition="approve",
        override_reason=override_reason,
    )


@transaction.atomic
def cost_reject(*, cost: Cost, acting_user, comment: str = "") -> Cost:
    """Reject a pending cost: pending → rejected. Same rules as ``cost_approve``."""
    return _decide(cost=cost, acting_user=acting_user, comment=comment, transition="reject")


def costs_decide_many(
    *, costs, acting_user, approve: bool, comment: str = ""
) -> dict[int, str | None]:
    """Approve (or reject) several costs, each in its own transaction, for bulk actions.

    Returns ``{cost_id: None}`` for each cost decided and ``{cost_id: message}`` for each
    refused (not allowed, no longer pending …); one refusal never undoes the others.
    """
    decide = cost_approve if approve else cost_reject
    outcome: dict[int, str | None] = {}
    for cost in costs:
        pk = cost.pk if isinstance(cost, Cost) else int(cost)
        try:
            decide(cost=pk, acting_user=acting_user, comment=comment)
        except (Conflict, PermissionDenied, NotFound) as exc:
            outcome[pk] = exc.message
        else:
            outcome[pk] = None
    return outcome


def _owner_transition(*, cost: Cost, acting_user, comment: str, transition: str) -> Cost:
    refuse_read_only(acting_user)
    cost = _lock(cost)
    if acting_user.pk != cost.submitted_by_id and not is_finance(acting_user):
        raise PermissionDenied(f"Only the submitter or finance may {transition} this cost.")
    before, after = _transition(cost, transition)
    cost_save(cost, was=before, update_fields=["status", "updated_at"])
    _event(
        cost=cost,
        action=transition,
        actor=acting_user,
        from_status=before,
        to_status=after,
        comment=comment,
    )
    return cost


@transaction.atomic
def cost_revise(*, cost: Cost, acting_user, comment: str = "") -> Cost:
    """Take a rejected cost back to draft to edit and resubmit it (submitter or finance)."""
    return _owner_transition(
        cost=cost, acting_user=acting_user, comment=comment, transition="revise"
    )


@transaction.atomic
def cost_cancel(*, cost: Cost, acting_user, comment: str = "") -> Cost:
    """Withdraw a draft, pending or rejected cost (submitter or finance) → cancelled.
    An approved cost raises ``Conflict`` (finance voids it instead)."""
    return _owner_transition(
        cost=cost, acting_user=acting_user, comment=comment, transition="cancel"
    )


@transaction.atomic
def cost_void(*, cost: Cost, acting_user, reason: str) -> Cost:
    """Void an approved cost (finance only, never an auditor; ``reason`` required):
    approved → voided."""
    refuse_read_only(acting_user)
    if not is_finance(acting_user):
        raise PermissionDenied("Only finance staff may void a cost.")
    if not reason or not reason.strip():
        raise ValidationError("Give the reason for voiding this cost.", field="reason")
    cost = _lock(cost)
    before, after = _transition(cost, "void")
    cost.decision_comment = reason
    cost_save(cost, was=before, update_fields=["status", "decision_comment", "updated_at"])
    _event(
        cost=cost,
        action=CostEvent.Action.VOID,
        actor=acting_user,
        from_status=before,
        to_status=after,
        comment=reason,
    )
    for hook in extensions.decision_hooks():
        hook(cost=cost, acting_user=acting_user)
    return cost


__all__ = [
    "CostResult",
    "cost_approve",
    "cost_cancel",
    "cost_create",
    "cost_record",
    "cost_reject",
    "cost_revise",
    "cost_submit",
    "cost_update",
    "cost_void",
    "costs_decide_many",
    "decider_ids",
    "guard_change",
]
