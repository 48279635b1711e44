"""Writes of billing imports: queue a file, run an import, replace an earlier one, decide an
approver's share of an import in one go.

An import runs in one transaction: either every cost of the file is written (with its audit
event and import link) and the earlier import of the same billing account and period is
reversed, or nothing is and the batch is marked ``failed`` with its errors.
"""

import io
import logging
from collections.abc import Callable
from typing import IO, Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone

from costtrack.core.db import advisory_xact_lock
from costtrack.core.exceptions import (
    ApplicationError,
    Conflict,
    PermissionDenied,
    ValidationError,
)
from costtrack.core.money import currencies, quantum, reporting_currency
from costtrack.core.roles import FINANCE, is_finance
from orgunits.models import OrganizationUnit
from orgunits.selectors import active_delegate_ids

from .. import extensions
from ..models import Cost, CostEvent, ImportBatch, ImportedCost, ImportFile
from . import focus, loader

logger = logging.getLogger(__name__)
User = get_user_model()

AMOUNT_COLUMN_SETTING = "COSTTRACK_IMPORT_AMOUNT_COLUMN"
DEFAULT_UNIT_SETTING = "COSTTRACK_IMPORT_DEFAULT_UNIT"
GRAIN_SETTING = "COSTTRACK_IMPORT_GRAIN"


def grain() -> str:
    """One cost per charge group and ``day`` (default) or per ``month`` (setting)."""
    value = getattr(settings, GRAIN_SETTING, "day") or "day"
    if value not in ("day", "month"):
        raise ValidationError(f"{GRAIN_SETTING} must be 'day' or 'month'.", field="grain")
    return value


def amount_column() -> str:
    """Which FOCUS cost column becomes the amount (setting, EffectiveCost by default)."""
    column = getattr(settings, AMOUNT_COLUMN_SETTING, "EffectiveCost") or "EffectiveCost"
    if column not in focus.AMOUNT_COLUMNS:
        raise ValidationError(
            f"{AMOUNT_COLUMN_SETTING} must be one of {', '.join(focus.AMOUNT_COLUMNS)}.",
            field="amount_column",
        )
    return column


def default_unit(code: str | None = None) -> OrganizationUnit | None:
    """The unit for unmapped rows: ``code``, else the setting, else none."""
    code = code or getattr(settings, DEFAULT_UNIT_SETTING, "") or ""
    if not code:
        return None
    unit = OrganizationUnit.objects.filter(code=code).first()
    if unit is None:
        raise ValidationError(f"There is no unit with code '{code}'.", field="unit")
    return unit


def _check_can_import(acting_user) -> None:
    if not is_finance(acting_user):
        raise PermissionDenied("Only finance staff may import billing files.")


def _succeeded_copy(sha256: str) -> ImportBatch | None:
    """The active import of the file with this content digest, if any.

    A file whose import a corrected file has since replaced is not "already imported":
    importing it again is a correction in turn (it replaces the corrected one).
    """
    return (
        ImportBatch.objects.filter(
            sha256=sha256,
            status=ImportBatch.Status.SUCCEEDED,
            duplicate_of__isnull=True,
            superseded_at__isnull=True,
        )
        .order_by("pk")
        .first()
    )


@transaction.atomic
def import_create(
    *,
    file_name: str,
    content: bytes,
    acting_user,
    unit: OrganizationUnit | None = None,
    override_reason: str = "",
) -> tuple[ImportBatch, bool]:
    """Queue an uploaded file for import (finance only); the task runs after commit.

    Returns ``(batch, created)``: the very same file imported before returns that earlier
    batch and ``created`` False, and nothing is queued.
    """
    _check_can_import(acting_user)
    if not content:
        raise ValidationError("The file is empty.", field="file")
    sha256 = focus.content_sha256(content)
    existing = _succeeded_copy(sha256)
    if existing is not None:
        return existing, False
    batch = ImportBatch(
        file_name=file_name[:255],
        file_size=len(content),
        sha256=sha256,
        created_by=acting_user,
        amount_column=amount_column(),
        default_unit=unit or default_unit(),
        override_reason=override_reason,
    )
    batch.full_clean()
    batch.save()
    ImportFile.objects.create(batch=batch, content=content)
    from .tasks import run_import

    transaction.on_commit(lambda: run_import.delay(batch.pk))
    return batch, True


def import_file(
    *,
    source: IO[bytes],
    file_name: str,
    acting_user,
    unit: OrganizationUnit | None = None,
    override_reason: str = "",
    progress: Callable[[int], None] | None = None,
) -> ImportBatch:
    """Import a file now (the command line): create the batch and run it.

    Returns the batch (``failed`` with its errors when the file is bad), or the earlier
    batch when the very same file was imported before.
    """
    _check_can_import(acting_user)
    batch = ImportBatch(
        file_name=file_name[:255],
        created_by=acting_user,
        amount_column=amount_column(),
        default_unit=unit or default_unit(),
        override_reason=override_reason,
    )
    batch.full_clean()
    batch.save()
    return import_run(batch=batch, source=source, progress=progress)


def import_run(
    *,
    batch: ImportBatch,
    source: IO[bytes] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportBatch:
    """Run a queued import: load the file (its upload when ``source`` is None).

    Not atomic itself: the load runs in its own transaction, and a failure is recorded on
    the batch in another one, so the errors stay visible while nothing of the file is kept.
    Returns the batch — or, when the same file was already imported, that earlier batch.
    """
    if batch.status not in (ImportBatch.Status.QUEUED, ImportBatch.Status.RUNNING):
        return batch
    if connection.vendor != "postgresql":
        return _fail(
            batch,
            [
                {
                    "line": 0,
                    "column": "",
                    "message": "Billing imports need "
                    "PostgreSQL (COPY); this installation runs on "
                    f"{connection.vendor}.",
                }
            ],
            1,
        )
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=ImportBatch.Status.RUNNING, started_at=timezone.now()
    )
    if source is None:
        content = ImportFile.objects.filter(batch=batch).values_list("content", flat=True).first()
        source = io.BytesIO(bytes(content or b""))
    try:
        with transaction.atomic():
            result = _load(batch=batch, source=source, progress=progress)
    except focus.FocusFileError as exc:
        return _fail(batch, exc.errors, exc.error_count)
    except ApplicationError as exc:
        error = {"line": 0, "column": exc.field or "", "message": exc.message, **exc.extra}
        return _fail(batch, [error], 1)
    except OperationalError:
        # A lost connection or a deadlock: the task retries the import from the start.
        raise
    except Exception as exc:
        # Anything unforeseen (the task's soft time limit included) must not leave the
        # batch "running" for good: record it as failed, keep the trace in the log.
        logger.exception("Import #%s failed unexpectedly", batch.pk)
        return _fail(batch, [_unexpected_error(exc)], 1)
    if isinstance(result, ImportBatch):
        ImportBatch.objects.filter(pk=batch.pk).update(
            status=ImportBatch.Status.SUCCEEDED,
            sha256=result.sha256,
            duplicate_of=result,
            finished_at=timezone.now(),
            billing_account_id=result.billing_account_id,
            billing_period_start=result.billing_period_start,
            billing_period_end=result.billing_period_end,
            provider=result.provider,
        )
        return result
    return batch


def _unexpected_error(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, SoftTimeLimitExceeded):
        message = "The import took longer than the worker's time limit; nothing was imported."
    else:
        message = (
            f"The import failed unexpectedly ({type(exc).__name__}); nothing was imported. "
            "The worker's log has the details."
        )
    return {"line": 0, "column": "", "message": message}


def import_retries_exhausted(batch_id: int, exc: Exception) -> None:
    """The task gave up retrying a transient database error: record the batch as failed."""
    batch = ImportBatch.objects.filter(pk=batch_id).first()
    if batch is not None and batch.status in (
        ImportBatch.Status.QUEUED,
        ImportBatch.Status.RUNNING,
    ):
        _fail(batch, [_unexpected_error(exc)], 1)


def _fail(batch: ImportBatch, errors: list[dict[str, Any]], count: int) -> ImportBatch:
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        batch.status = ImportBatch.Status.FAILED
        batch.errors = errors
        batch.error_count = count
        batch.finished_at = timezone.now()
        batch.save(update_fields=["status", "errors", "error_count", "finished_at"])
        _notify_finished(batch)
    return batch


def _raise_errors(errors: list[dict[str, Any]], count: int) -> None:
    if errors:
        raise focus.FocusFileError(errors, count)


def _load(*, batch: ImportBatch, source: IO[bytes], progress) -> ImportBatch | None:
    column = batch.amount_column
    staged = focus.stage(source, amount_column=column, progress=progress)
    duplicate = _succeeded_copy(staged.sha256)
    if duplicate is not None and duplicate.pk != batch.pk:
        # The very same bytes were imported before: change nothing, point at that import.
        duplicate.already_imported = True
        return duplicate
    _phase(progress, "checking and summing rows")
    _type_and_group(staged, amount_column=column)
    scope = loader.billing_scope()
    advisory_xact_lock(f"costs.import:{scope.billing_account_id}:{scope.period_start}")
    duplicate = _succeeded_copy(staged.sha256)
    if duplicate is not None:
        duplicate.already_imported = True
        return duplicate
    previous = (
        ImportBatch.objects.select_for_update(of=("self",))
        .filter(
            status=ImportBatch.Status.SUCCEEDED,
            duplicate_of__isnull=True,
            billing_account_id=scope.billing_account_id,
            billing_period_start=scope.period_start,
            billing_period_end=scope.period_end,
            superseded_at__isnull=True,
        )
        .exclude(pk=batch.pk)
        .order_by("-pk")
        .first()
    )
    loader.prepare_rates()
    _raise_errors(*loader.rate_errors(focus.MAX_ROW_ERRORS))
    _guard_days(loader.charge_days())
    _phase(progress, "mapping to units, resources and approvers")
    loader.map_groups(batch=batch, default_unit_id=batch.default_unit_id)
    loader.finish_mapping(submitter_id=batch.created_by_id, default_unit_id=batch.default_unit_id)
    groups = loader.budget_groups()
    warnings = _check_budgets(batch=batch, groups=groups, after_insert=False)
    reversed_count = 0
    if previous is not None:
        reversed_count = _replace(previous=previous, batch=batch)
    _phase(progress, "writing costs and audit events")
    result = loader.insert_costs(
        batch=batch, submitter_id=batch.created_by_id, custom_columns=staged.custom_columns
    )
    warnings = _check_budgets(batch=batch, groups=groups, after_insert=True, earlier=warnings)
    batch.status = ImportBatch.Status.SUCCEEDED
    batch.sha256 = staged.sha256
    batch.file_size = staged.size
    batch.rows = staged.rows
    batch.billing_account_id = scope.billing_account_id[:255]
    batch.billing_account_name = scope.billing_account_name[:255]
    batch.billing_period_start = scope.period_start
    batch.billing_period_end = scope.period_end
    batch.provider = scope.provider[:64]
    batch.imported_rows = result.imported_rows
    batch.skipped_rows = result.skipped_rows
    batch.unmapped_rows = result.unmapped_rows
    batch.costs_created = result.costs_created
    batch.costs_auto_approved = result.costs_auto_approved
    batch.costs_reversed = reversed_count
    batch.resources_created = getattr(batch, "_resources_created", 0)
    batch.totals = result.totals
    batch.total_reporting = result.total_reporting
    batch.warnings = warnings + result.warnings
    batch.errors = []
    batch.error_count = 0
    batch.finished_at = timezone.now()
    batch.supersedes = previous
    batch.full_clean(exclude=["created_by", "default_unit", "supersedes"])
    batch.save()
    _notify_finished(batch)
    _notify_approvers(batch, result)
    return None


def _guard_days(days) -> None:
    """Run the costs app's change guards (a closed accounting period refuses) on each day."""
    guards = extensions.cost_change_guards()
    for day in sorted(set(days)):
        for guard in guards:
            guard(day=day)


def _phase(progress, name: str) -> None:
    """Tell a progress display (``progress.phase``, when it has one) what runs now."""
    phase = getattr(progress, "phase", None)
    if phase is not None:
        phase(name)


class _NeedsPrecisePass(Exception):
    pass


def _type_and_group(staged: focus.StagedFile, *, amount_column: str) -> None:
    """Sum the staged rows into charge groups, typing them on the way.

    The fast path casts and sums in one pass; if a cast fails or a cheap check flags a
    group, the precise pass types every row with pattern checks, and either reports the row
    errors (``FocusFileError``) or sums the typed rows.
    """
    codes = sorted(currencies())
    per = grain()
    try:
        with transaction.atomic():
            source = focus.fast_source(staged, amount_column=amount_column)
            loader.group_rows(
                source, custom_columns=staged.custom_columns, currencies=codes, grain=per
            )
            focus.type_tags("_focus_groups")
            if loader.groups_have_problems():
                raise _NeedsPrecisePass
    except (_NeedsPrecisePass, DatabaseError):
        focus.type_rows(staged, amount_column=amount_column, currencies=codes)
        focus.type_tags("_focus_rows")
        _raise_errors(*focus.row_errors())
        loader.group_rows(
            "SELECT * FROM _focus_rows",
            custom_columns=staged.custom_columns,
            currencies=codes,
            grain=per,
        )
    focus.drop_raw()


def _check_budgets(
    *,
    batch: ImportBatch,
    groups: list[dict[str, Any]],
    after_insert: bool,
    earlier: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Hold the import's charges against budgets, per unit, category, currency and month.

    The costs app's submission checks (budgets registers one) judge one cost at a time; an
    import is judged as one synthetic cost per group, twice: before the insert with the
    group's total (a group that alone overspends), and after it with the currency's smallest
    unit, when the spend the checks see includes every cost of this import (several groups
    that together overspend one budget). A blocking budget refuses the whole import unless
    finance gave an override reason; warnings are kept on the batch, one per budget.
    """
    checks = extensions.submission_checks()
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
            tags={},
        )
        for check in checks:
            for warning in (
                check(
                    cost=probe,
                    acting_user=batch.created_by,
                    override_reason=batch.override_reason or None,
                )
                or []
            ):
                found.setdefault(warning.get("budget_id") or len(found), warning)
    return [dict(w, code=w.get("code", "budget")) for w in found.values()]


def _replace(*, previous: ImportBatch, batch: ImportBatch) -> int:
    """Undo ``previous``'s costs for the corrected file ``batch``; return how many.

    Approved costs get a reversing cost (the negated amount, approved, kind credit for a
    charge) and an ``edit`` event "reversed by import N"; pending and rejected ones are
    cancelled with a ``cancel`` event. Voided and cancelled costs no longer count and stay.
    """
    now = timezone.now()
    ImportBatch.objects.filter(pk=previous.pk).update(superseded_at=now)
    note = (
        f"Reversed by import #{batch.pk} ({batch.file_name}), which replaces import #{previous.pk}"
    )
    links = ImportedCost.objects.filter(batch=previous, role=ImportedCost.Role.CHARGE)
    pending = list(
        Cost.objects.select_for_update()
        .filter(import_link__in=links, status__in=[Cost.Status.PENDING, Cost.Status.REJECTED])
        .values_list("pk", "status")
    )
    if pending:
        Cost.objects.filter(pk__in=[pk for pk, _ in pending]).update(
            status=Cost.Status.CANCELLED, updated_at=now
        )
        CostEvent.objects.bulk_create(
            [
                CostEvent(
                    cost_id=pk,
                    action=CostEvent.Action.CANCEL,
                    from_status=status,
                    to_status=Cost.Status.CANCELLED,
                    actor=batch.created_by,
                    at=now,
                    comment=note,
                )
                for pk, status in pending
            ],
            batch_size=2000,
        )
    approved = list(
        Cost.objects.select_for_update()
        .filter(import_link__in=links, status=Cost.Status.APPROVED)
        .order_by("pk")
    )
    reversals = []
    for cost in approved:
        reversal = Cost(
            amount=-cost.amount,
            currency=cost.currency,
            amount_reporting=-cost.amount_reporting,
            exchange_rate=cost.exchange_rate,
            incurred_on=cost.incurred_on,
            period_start=cost.period_start,
            period_end=cost.period_end,
            category_id=cost.category_id,
            description=f"Reversal of cost #{cost.pk}: {cost.description}"[:500],
            resource_id=cost.resource_id,
            entity_id=cost.entity_id,
            organization_unit_id=cost.organization_unit_id,
            metadata={"reverses": cost.pk, "import": batch.pk, "replaced_import": previous.pk},
            tags=cost.tags,
            source=Cost.Source.IMPORT,
            kind=Cost.Kind.CHARGE if cost.amount < 0 else Cost.Kind.CREDIT,
            submitted_by_id=batch.created_by_id,
            submitted_at=now,
            approver_id=cost.approver_id,
            decided_at=now,
            decision_comment=note,
            status=Cost.Status.APPROVED,  # the reversal mirrors an approved cost
        )
        reversals.append(reversal)
    Cost.objects.bulk_create(reversals, batch_size=2000)
    events = []
    for cost, reversal in zip(approved, reversals, strict=True):
        events.append(
            CostEvent(
                cost_id=reversal.pk,
                action=CostEvent.Action.CREATE,
                from_status="",
                to_status=Cost.Status.APPROVED,
                actor=batch.created_by,
                at=now,
                comment=f"Reverses cost #{cost.pk} of import #{previous.pk}; {note}",
                changes={"reverses": cost.pk},
            )
        )
        events.append(
            CostEvent(
                cost_id=cost.pk,
                action=CostEvent.Action.EDIT,
                from_status=cost.status,
                to_status=cost.status,
                actor=batch.created_by,
                at=now,
                comment=f"{note}: reversing cost #{reversal.pk}",
                changes={"reversed_by": reversal.pk, "reversed_by_import": batch.pk},
            )
        )
    CostEvent.objects.bulk_create(events, batch_size=2000)
    ImportedCost.objects.bulk_create(
        [
            ImportedCost(
                cost_id=reversal.pk,
                batch=batch,
                role=ImportedCost.Role.REVERSAL,
                reverses_id=cost.pk,
            )
            for cost, reversal in zip(approved, reversals, strict=True)
        ],
        batch_size=2000,
    )
    return len(pending) + len(approved)


def _notify(**kwargs) -> None:
    from notifications.services import notify

    notify(**kwargs)


def _notify_finished(batch: ImportBatch) -> None:
    from notifications.kinds import Kind

    if batch.status == ImportBatch.Status.SUCCEEDED:
        subject = f"Import #{batch.pk} of {batch.file_name} succeeded"
        body = (
            f"{batch.imported_rows} rows became {batch.costs_created} costs "
            f"({batch.costs_auto_approved} approved automatically, {batch.costs_reversed} of "
            f"the replaced import reversed)."
        )
    else:
        subject = f"Import #{batch.pk} of {batch.file_name} failed"
        first = batch.errors[0] if batch.errors else {}
        body = f"{batch.error_count} error(s); nothing was imported. {first.get('message', '')}"
    _notify(
        recipients=[batch.created_by],
        kind=Kind.IMPORT_FINISHED,
        subject=subject,
        body=body,
        link=f"/api/v1/imports/{batch.pk}/",
        payload={"import": batch.pk, "status": batch.status},
    )


def _notify_approvers(batch: ImportBatch, result: loader.LoadResult) -> None:
    from notifications.kinds import Kind

    recipients = list(User.objects.filter(pk__in=result.approver_ids, is_active=True))
    if result.finance_routed:
        recipients += list(User.objects.filter(groups__name=FINANCE, is_active=True))
    recipients = [u for u in recipients if u.pk != batch.created_by_id]
    if not recipients:
        return
    _notify(
        recipients=recipients,
        kind=Kind.APPROVAL_REQUESTED,
        subject=f"Imported costs await your approval (import #{batch.pk})",
        body=f"{batch.file_name}: costs of billing account {batch.billing_account_id} for "
        f"{batch.billing_period_start:%Y-%m} wait for your decision as one batch.",
        link="/approvals/",
        payload={"import": batch.pk},
    )


def _may_decide_for(*, acting_user, approver) -> bool:
    if is_finance(acting_user):
        return True
    if approver is None:
        return False
    if acting_user.pk == approver.pk:
        return True
    return acting_user.pk in active_delegate_ids(delegator_ids=[approver.pk])


@transaction.atomic
def import_batch_decide(
    *, batch: ImportBatch, approver, decision: str, comment: str = "", acting_user
) -> int:
    """Approve or reject, in one decision, every pending cost of ``batch`` routed to
    ``approver`` (``None``: the costs finance decides). Returns how many were decided.

    Allowed to the approver, their active delegates and finance, never to the user who
    imported the file (``PermissionDenied``). Each cost gets its ``approve``/``reject``
    event; the decision hooks (budgets) run per cost; the submitter gets one notification.
    A rejection needs a comment. Nothing pending: ``Conflict``.
    """
    if decision not in ("approve", "reject"):
        raise ValidationError("The decision is 'approve' or 'reject'.", field="decision")
    if decision == "reject" and not comment.strip():
        raise ValidationError("Say why you reject the costs.", field="comment")
    if acting_user.pk == batch.created_by_id:
        raise PermissionDenied(
            "You cannot decide costs you imported.", code="self_approval_forbidden"
        )
    if not _may_decide_for(acting_user=acting_user, approver=approver):
        raise PermissionDenied("You are not the approver of these costs.")
    qs = Cost.objects.select_for_update().filter(
        import_link__batch=batch, status=Cost.Status.PENDING
    )
    qs = qs.filter(approver=approver) if approver is not None else qs.filter(approver__isnull=True)
    ids = list(qs.order_by("pk").values_list("pk", flat=True))
    if not ids:
        raise Conflict("No costs of this import wait for that approver's decision.")
    _guard_days(Cost.objects.filter(pk__in=ids).values_list("incurred_on", flat=True).distinct())
    now = timezone.now()
    target = Cost.Status.APPROVED if decision == "approve" else Cost.Status.REJECTED
    Cost.objects.filter(pk__in=ids).update(
        status=target,
        decided_by=acting_user,
        decided_at=now,
        decision_comment=comment,
        updated_at=now,
    )
    CostEvent.objects.bulk_create(
        [
            CostEvent(
                cost_id=pk,
                action=decision,
                from_status=Cost.Status.PENDING,
                to_status=target,
                actor=acting_user,
                at=now,
                comment=comment or f"Decided with import #{batch.pk} as one batch",
                changes={"import": batch.pk},
            )
            for pk in ids
        ],
        batch_size=2000,
    )
    hooks = extensions.decision_hooks()
    if hooks:
        for cost in Cost.objects.filter(pk__in=ids).select_related("organization_unit", "category"):
            for hook in hooks:
                hook(cost=cost, acting_user=acting_user)
    from notifications.kinds import Kind

    _notify(
        recipients=[batch.created_by],
        kind=Kind.COST_APPROVED if decision == "approve" else Kind.COST_REJECTED,
        subject=f"{len(ids)} imported costs {'approved' if decision == 'approve' else 'rejected'}"
        f" (import #{batch.pk})",
        body=comment,
        link=f"/api/v1/imports/{batch.pk}/",
        payload={"import": batch.pk, "costs": len(ids), "decision": decision},
    )
    return len(ids)
