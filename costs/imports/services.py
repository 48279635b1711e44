"""Writes of billing imports: queue a file, run an import (which replaces an earlier import
of the same billing account and period, ``costs.imports.replace``), decide an approver's
share of an import in one go (``costs.imports.decisions``).

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
    PermissionDenied,
    ValidationError,
)
from costtrack.core.jobs import job_enqueue
from costtrack.core.money import currencies
from costtrack.core.roles import is_finance
from orgunits.models import OrganizationUnit

from .. import extensions
from ..models import ImportBatch, ImportFile
from . import focus, grouping, loader, notices, rows
from .checks import check_budgets, guard_days
from .decisions import import_batch_decide
from .replace import replace_import

# The writes of billing imports, in one place for the API, admin, pages and commands.
__all__ = ["import_batch_decide", "import_create", "import_file", "import_run"]

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
    """Queue an uploaded file for import (finance only); its job is recorded in this
    transaction and a worker runs it (``import_enqueue``).

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
    import_enqueue(batch_id=batch.pk)
    return batch, True


def import_enqueue(*, batch_id: int):
    """Record the job that runs batch ``batch_id`` (the ``costs.run_import`` task), in the
    caller's transaction; nothing when a live job of the batch exists."""
    return job_enqueue(task="costs.run_import", args=[batch_id], key=import_job_key(batch_id))


def import_job_key(batch_id: int) -> str:
    return f"costs.run_import:{batch_id}"


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
        failed = _fail(batch, [error], 1)
        extensions.report_refusal(exc)  # a blocking budget: its owners are told
        return failed
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
        notices.notify_finished(batch)
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
    scope = grouping.billing_scope()
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
    grouping.prepare_rates()
    _raise_errors(*grouping.rate_errors(focus.MAX_ROW_ERRORS))
    guard_days(grouping.charge_days())
    _phase(progress, "mapping to units, resources and approvers")
    loader.map_groups(batch=batch, default_unit_id=batch.default_unit_id)
    loader.finish_mapping(submitter_id=batch.created_by_id, default_unit_id=batch.default_unit_id)
    warnings = check_budgets(
        batch=batch,
        groups=loader.budget_groups(),
        acting_user=batch.created_by,
        override_reason=batch.override_reason,
    )
    reversed_count = 0
    if previous is not None:
        reversed_count = replace_import(previous=previous, batch=batch)
    _phase(progress, "writing costs and audit events")
    result = loader.insert_costs(
        batch=batch, submitter_id=batch.created_by_id, custom_columns=staged.custom_columns
    )
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
    notices.notify_finished(batch)
    notices.notify_approvers(batch, result)
    for hook in extensions.import_finished_hooks():
        hook(batch=batch)
    return None


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
            source = rows.fast_source(staged, amount_column=amount_column)
            grouping.group_rows(
                source, custom_columns=staged.custom_columns, currencies=codes, grain=per
            )
            rows.type_tags("_focus_groups")
            if grouping.groups_have_problems():
                raise _NeedsPrecisePass
    except (_NeedsPrecisePass, DatabaseError):
        rows.type_rows(staged, amount_column=amount_column, currencies=codes)
        rows.type_tags("_focus_rows")
        _raise_errors(*rows.row_errors())
        grouping.group_rows(
            "SELECT * FROM _focus_rows",
            custom_columns=staged.custom_columns,
            currencies=codes,
            grain=per,
        )
    rows.drop_raw()
