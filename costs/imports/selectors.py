"""Reads of billing imports: who sees which import, and the approval groups of the inbox."""

from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet, Sum

from costtrack.core.roles import is_finance, is_read_only, sees_everything
from orgunits.selectors import active_delegators_of

from ..models import Cost, ImportBatch, MappingRule


def import_list(*, user) -> QuerySet[ImportBatch]:
    """Imports a user may see: finance and auditors all, anyone else the ones they ran."""
    qs = ImportBatch.objects.select_related(
        "created_by", "default_unit", "supersedes", "superseded_by"
    ).defer("errors", "warnings")
    if not sees_everything(user):
        qs = qs.filter(created_by=user)
    return qs.order_by("-created_at", "-id")


def import_get(*, user, pk: int) -> ImportBatch | None:
    qs = ImportBatch.objects.select_related(
        "created_by", "default_unit", "supersedes", "superseded_by"
    )
    if not sees_everything(user):
        qs = qs.filter(created_by=user)
    return qs.filter(pk=pk).first()


def mapping_rule_list() -> QuerySet[MappingRule]:
    return MappingRule.objects.select_related("organization_unit", "entity", "category").order_by(
        "priority", "id"
    )


def import_groups_awaiting(user) -> list[dict[str, Any]]:
    """The import approval groups waiting for ``user``: one row per (import, approver).

    A group is every pending cost of one import routed to one approver: the user, someone
    who delegated approval to them today, or (for finance) nobody — the finance group.
    Each row: ``batch_id``, ``file_name``, ``billing_account_id``, ``billing_period_start``,
    ``approver_id`` (None: finance), ``costs``, ``total_reporting``, ``first_day``,
    ``last_day``. Costs the user imported themselves are never offered, and auditors are
    offered nothing. One query.
    """
    if user is None or not user.is_authenticated or is_read_only(user):
        return []  # auditors decide nothing
    approvers = Q(approver_id=user.pk) | Q(approver_id__in=active_delegators_of(user=user))
    if is_finance(user):
        approvers |= Q(approver__isnull=True)
    rows = (
        Cost.objects.filter(approvers, status=Cost.Status.PENDING, import_link__isnull=False)
        .exclude(submitted_by=user)
        .values(
            "import_link__batch_id",
            "import_link__batch__file_name",
            "import_link__batch__billing_account_id",
            "import_link__batch__billing_period_start",
            "approver_id",
        )
        .annotate(
            costs=Count("id"),
            total_reporting=Sum("amount_reporting"),
            first_day=Min("incurred_on"),
            last_day=Max("incurred_on"),
        )
        .order_by("import_link__batch_id", "approver_id")
    )
    return [
        {
            "batch_id": r["import_link__batch_id"],
            "file_name": r["import_link__batch__file_name"],
            "billing_account_id": r["import_link__batch__billing_account_id"],
            "billing_period_start": r["import_link__batch__billing_period_start"],
            "approver_id": r["approver_id"],
            "costs": r["costs"],
            "total_reporting": r["total_reporting"],
            "first_day": r["first_day"],
            "last_day": r["last_day"],
        }
        for r in rows
    ]
