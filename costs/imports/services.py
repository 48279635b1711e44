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
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from costtrack.core.exceptions import (
    ApplicationError,
    PermissionDenied,
    ValidationError,
)
from costtrack.core.jobs import job_enqueue
from costtrack.core.roles import is_finance
from orgunits.models import OrganizationUnit

from .. import extensions
from ..models import ImportBatch, ImportFile
from . import focus, loader, notices, versions  # noqa: F401 (loader: patched in tests)
from .decisions import import_batch_decide
from .load import load_file, succeeded_copy
from .placement import import_rerun_placement

# The writes of billing imports, in one place for the API, admin, pages and commands.
__all__ = [
    "import_batch_decide",
    "import_create",
    "import_file",
    "import_rerun_placement",
    "import_run",
]

logger = logging.getLogger(__name__)
User = get_user_model()

AMOUNT_COLUMN_SETTING = "COSTTRACK_IMPORT_AMOUNT_COLUMN"
DEFAULT_UNIT_SETTING = "COSTTRACK_IMPORT_DEFAULT_UNIT"


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


@transaction.atomic
def import_create(
    *,
    file_name: str,
    content: bytes,
    acting_user,
    unit: OrganizationUnit | None = None,
    override_reason: str = "",
    focus_version: str = "",
) -> tuple[ImportBatch, bool]:
    """Queue an uploaded file for import (finance only); its job is recorded in this
    transaction and a worker runs it (``import_enqueue``).

    Returns ``(batch, created)``: the very same file imported before returns that earlier
    batch and ``created`` False, and nothing is queued.
    """
    _check_can_import(acting_user)
    if not content:
        raise ValidationError("The file is empty.", field="file")
    if focus_version and focus_version not in versions.VERSIONS:
        raise ValidationError(
            f"Unknown FOCUS version '{focus_version}': this import reads FOCUS "
            f"{', '.join(versions.VERSIONS)}.",
            field="focus_version",
        )
    sha256 = focus.content_sha256(content)
    existing = succeeded_copy(sha256)
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
        focus_version=focus_version[:8],
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
    focus_version: str = "",
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
        focus_version=focus_version[:8],
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
            result = load_file(batch=batch, source=source, progress=progress)
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
