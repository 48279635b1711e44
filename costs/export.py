"""CSV export of the cost list: ``GET /api/v1/costs/?format=csv`` with the list's filters.

One header row, then one row per cost the user may see (every matching cost, not one page),
amounts as plain decimals in the currency's minor unit. Streamed, so a large export does
not sit in memory; one query for the rows.
"""

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from costtrack.core.money import CurrencyError, reporting_currency, round_money

from .models import Cost
from .report_api import CSVRenderer

COST_CSV_FIELDS = [
    "id",
    "status",
    "incurred_on",
    "period_start",
    "period_end",
    "amount",
    "currency",
    "amount_reporting",
    "reporting_currency",
    "exchange_rate",
    "kind",
    "category",
    "description",
    "organization_unit",
    "entity",
    "resource",
    "provider",
    "source",
    "submitted_by",
    "submitted_at",
    "approver",
    "decided_by",
    "decided_at",
    "decision_comment",
    "tags",
]
# cells starting with these are formulas to a spreadsheet; prefix them with a quote
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _money(amount, currency: str) -> str:
    try:
        return str(round_money(amount, currency))
    except (CurrencyError, ArithmeticError):
        return str(amount)


def _text(value: str) -> str:
    return f"'{value}" if value and value.startswith(FORMULA_PREFIXES) else value


def _user(user) -> str:
    return user.username if user is not None else ""


def _when(value) -> str:
    return timezone.localtime(value).isoformat() if value else ""


def cost_csv_row(cost: Cost, reporting: str) -> list[Any]:
    tags = ";".join(f"{k}={v}" for k, v in sorted((cost.tags or {}).items()))
    return [
        cost.pk,
        cost.status,
        cost.incurred_on.isoformat(),
        cost.period_start.isoformat() if cost.period_start else "",
        cost.period_end.isoformat() if cost.period_end else "",
        _money(cost.amount, cost.currency),
        cost.currency,
        _money(cost.amount_reporting, reporting),
        reporting,
        format(cost.exchange_rate.normalize(), "f"),
        cost.kind,
        cost.category.slug,
        _text(cost.description),
        cost.organization_unit.code,
        _text(cost.entity.name) if cost.entity_id else "",
        _text(cost.resource.name) if cost.resource_id else "",
        cost.resource.provider if cost.resource_id else "",
        cost.source,
        _user(cost.submitted_by),
        _when(cost.submitted_at),
        _user(cost.approver),
        _user(cost.decided_by),
        _when(cost.decided_at),
        _text(cost.decision_comment),
        _text(tags),
    ]


def cost_csv_lines(costs: Iterable[Cost]) -> Iterator[str]:
    writer = csv.writer(_Echo(), lineterminator="\n")
    reporting = reporting_currency()
    yield writer.writerow(COST_CSV_FIELDS)
    for cost in costs:
        yield writer.writerow(cost_csv_row(cost, reporting))


def cost_csv_response(queryset: QuerySet[Cost]) -> StreamingHttpResponse:
    """The whole filtered ``queryset`` as a streamed CSV attachment."""
    response = StreamingHttpResponse(
        cost_csv_lines(queryset.iterator(chunk_size=2000)),
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="costs-{stamp}.csv"'
    return response


class CostCSVRenderer(CSVRenderer):
    """Lets ``?format=csv`` select CSV on the cost list; errors render as ``field,message``
    rows. The list itself answers with ``cost_csv_response`` (streamed, unpaginated)."""
