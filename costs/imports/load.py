"""Loading one staged FOCUS file in the import's transaction: typing and summing its rows,
finding its scopes, keeping the unchanged ones, booking corrections to closed periods,
placing and routing the charges, replacing the scopes' earlier imports and writing the
costs (``costs.imports.services.import_run`` calls ``load_file`` and records the outcome).
"""

from typing import IO, Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from costtrack.core.db import advisory_xact_lock
from costtrack.core.exceptions import ValidationError
from costtrack.core.money import currencies

from .. import extensions
from ..models import ImportBatch, ImportScope
from . import corrections, focus, grouping, loader, notices, rows, scopes
from .checks import check_budgets, guard_days
from .replace import replace_scopes

GRAIN_SETTING = "COSTTRACK_IMPORT_GRAIN"


def grain() -> str:
    """One cost per charge group and ``day`` (default) or per ``month`` (setting)."""
    value = getattr(settings, GRAIN_SETTING, "day") or "day"
    if value not in ("day", "month"):
        raise ValidationError(f"{GRAIN_SETTING} must be 'day' or 'month'.", field="grain")
    return value


def succeeded_copy(sha256: str) -> ImportBatch | None:
    """The active import of the file with this content digest, if any.

    A file one of whose scopes a later file has since replaced is not "already imported":
    importing it again is a correction in turn (it replaces the scopes that changed and
    keeps the others).
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


def _raise_errors(errors: list[dict[str, Any]], count: int) -> None:
    if errors:
        raise focus.FocusFileError(errors, count)


def load_file(*, batch: ImportBatch, source: IO[bytes], progress) -> ImportBatch | None:
    """Import ``source`` as ``batch`` in the caller's transaction (``FocusFileError`` or an
    ``ApplicationError`` for what is refused). Returns None, or the earlier batch of the very
    same file, which changed nothing."""
    column = batch.amount_column
    staged = focus.stage(
        source, amount_column=column, progress=progress, version=batch.focus_version
    )
    duplicate = succeeded_copy(staged.sha256)
    if duplicate is not None and duplicate.pk != batch.pk:
        # The very same bytes were imported before: change nothing, point at that import.
        duplicate.already_imported = True
        return duplicate
    _tell(progress, "staged", staged.rows)
    _phase(progress, "checking and summing rows")
    _type_and_group(staged, amount_column=column)
    per = grain()
    file_scopes = scopes.find_scopes(
        salt=f"{column}:{per}",
        custom_columns=staged.custom_columns,
    )
    # One lock per scope, in key order: two files sharing scopes queue, others do not.
    for scope in sorted(file_scopes, key=lambda s: (s.key[0], s.key[1], s.key[2])):
        advisory_xact_lock(f"costs.import:{scope.key[0]}:{scope.key[1]}:{scope.key[2]}")
    duplicate = succeeded_copy(staged.sha256)
    if duplicate is not None:
        duplicate.already_imported = True
        return duplicate
    scopes.active_scopes(file_scopes)
    unchanged = scopes.drop_unchanged(file_scopes)
    now = timezone.now()
    scopes.save_scopes(batch=batch, scopes=file_scopes, unchanged=unchanged, now=now)
    corrections.book_corrections(acting_user=batch.created_by)
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
    replaced = {
        s.previous.pk: s.model for s in file_scopes if s.previous is not None and s not in unchanged
    }
    reversed_counts = replace_scopes(replaced=replaced, batch=batch)
    _phase(progress, "writing costs and audit events")
    result = loader.insert_costs(
        batch=batch, submitter_id=batch.created_by_id, custom_columns=staged.custom_columns
    )
    scopes.record_results(file_scopes, reversed_counts=reversed_counts)
    _tell(progress, "scopes", len(file_scopes), len(file_scopes))
    previous_batches = {s.previous.batch_id for s in file_scopes if s.previous is not None}
    first = file_scopes[0]
    batch.status = ImportBatch.Status.SUCCEEDED
    batch.sha256 = staged.sha256
    batch.file_size = staged.size
    batch.rows = staged.rows
    batch.focus_version = staged.version
    batch.format = staged.format
    # The batch names its scope when it has one, else the first and how many there are.
    batch.billing_account_id = first.billing_account_id[:255]
    batch.billing_account_name = first.account_name[:255]
    batch.billing_period_start = first.key[2]
    batch.billing_period_end = first.key[3]
    batch.provider = (first.provider if len({s.provider for s in file_scopes}) == 1 else "several")[
        :64
    ]
    batch.imported_rows = result.imported_rows
    batch.skipped_rows = result.skipped_rows  # unchanged scopes' rows: on their scopes
    batch.unmapped_rows = result.unmapped_rows
    batch.costs_created = result.costs_created
    batch.costs_auto_approved = result.costs_auto_approved
    batch.costs_reversed = sum(reversed_counts.values())
    batch.resources_created = getattr(batch, "_resources_created", 0)
    batch.totals = result.totals
    batch.total_reporting = result.total_reporting
    batch.warnings = warnings + result.warnings
    if unchanged:
        batch.warnings.append(
            {
                "code": "unchanged",
                "message": f"{len(unchanged)} of the file's {len(file_scopes)} scopes are "
                "the same as their current import and were kept: "
                + "; ".join(f"{s.label} (import #{s.previous.batch_id})" for s in unchanged[:10]),
            }
        )
    batch.errors = []
    batch.error_count = 0
    batch.finished_at = timezone.now()
    batch.supersedes = _wholly_replaced(previous_batches, batch=batch)
    batch.full_clean(exclude=["created_by", "default_unit", "supersedes"])
    batch.save()
    notices.notify_finished(batch)
    notices.notify_approvers(batch, result)
    for hook in extensions.import_finished_hooks():
        hook(batch=batch)
    return None


def _wholly_replaced(batch_ids: set[int], *, batch: ImportBatch) -> ImportBatch | None:
    """The one earlier import this file replaced every scope of (``supersedes``), if any."""
    if len(batch_ids) != 1:
        return None
    (previous_id,) = batch_ids
    if ImportScope.objects.filter(
        batch_id=previous_id, status=ImportScope.Status.IMPORTED, superseded_at__isnull=True
    ).exists():
        return None
    if ImportBatch.objects.filter(supersedes_id=previous_id).exists():
        return None
    return ImportBatch.objects.get(pk=previous_id)


def _tell(progress, hook: str, *args) -> None:
    """Call a progress display's ``hook`` (``staged``, ``scopes``) when it has one."""
    method = getattr(progress, hook, None)
    if method is not None:
        method(*args)


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
