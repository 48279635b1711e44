"""Reads of billing imports: who sees which import, and the approval groups of the inbox."""

from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.db.models.fields.json import KT

from costtrack.core.roles import is_finance, is_read_only, sees_everything
from orgunits.selectors import active_delegators_of

from ..models import Cost, ImportBatch, ImportedCost, ImportScope, MappingRule


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
    ).prefetch_related("scopes")
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


def import_scopes(*, batch: ImportBatch) -> QuerySet[ImportScope]:
    """The scopes of an import's file in file order (one query)."""
    return ImportScope.objects.filter(batch=batch).order_by("first_line", "id")


UNMAPPED_KEYS_LIMIT = 50


def import_unmapped_keys(
    *, batch: ImportBatch, limit: int = UNMAPPED_KEYS_LIMIT
) -> list[dict[str, Any]]:
    """The keys (tags, sub-account, service, region) of the import's costs that no rule or
    known resource placed, with their rows, costs and totals per currency, largest first.

    Cancelled and voided costs are left out (a replaced scope's); one query.
    """
    rows = (
        Cost.objects.filter(
            import_link__batch=batch,
            import_link__role=ImportedCost.Role.CHARGE,
            import_link__unmapped=True,
        )
        .exclude(status__in=[Cost.Status.CANCELLED, Cost.Status.VOIDED])
        .annotate(
            sub_account_id=KT("metadata__focus__sub_account_id"),
            service_name=KT("metadata__focus__service_name"),
            region_id=KT("metadata__focus__region_id"),
        )
        .values("tags", "sub_account_id", "service_name", "region_id", "currency")
        .annotate(costs=Count("id"), lines=Sum("import_link__lines"), total=Sum("amount"))
        .order_by("-total", "service_name", "sub_account_id", "region_id", "currency")[:limit]
    )
    return [
        {
            "tags": r["tags"] or {},
            "sub_account_id": r["sub_account_id"] or "",
            "service_name": r["service_name"] or "",
            "region_id": r["region_id"] or "",
            "currency": r["currency"],
            "costs": r["costs"],
            "lines": r["lines"] or 0,
            "total": str(r["total"]),
        }
        for r in rows
    ]


def period_adjustments(*, period) -> list[dict[str, Any]]:
    """Imported costs booked in later periods that correct ``period`` (a closed month):
    per import, booked day and currency, their costs and total. One query."""
    rows = (
        ImportedCost.objects.filter(corrects_period=period)
        .exclude(cost__status__in=[Cost.Status.CANCELLED, Cost.Status.VOIDED])
        .values("batch_id", "batch__file_name", "role", "cost__incurred_on", "cost__currency")
        .annotate(
            costs=Count("cost_id"),
            total=Sum("cost__amount"),
            first_charged=Min("charged_on"),
            last_charged=Max("charged_on"),
        )
        .order_by("batch_id", "role", "cost__incurred_on", "cost__currency")
    )
    return [
        {
            "import_id": r["batch_id"],
            "file_name": r["batch__file_name"],
            "role": r["role"],
            "booked_on": r["cost__incurred_on"],
            "currency": r["cost__currency"],
            "costs": r["costs"],
            "total": str(r["total"]),
            "charged_from": r["first_charged"],
            "charged_to": r["last_charged"],
        }
        for r in rows
    ]
