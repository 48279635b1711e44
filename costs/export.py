"""CSV export of the cost list: ``GET /api/v1/costs/?format=csv`` with the list's filters.

One header row, then one row per cost the user may see (every matching cost, not one page),
amounts as plain decimals in the currency's minor unit. Streamed, so a large export does
not sit in memory; one query for the rows.
"""

import csv
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from costtrack.core.money import CurrencyError, quantum, reporting_currency

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


def _money_formatter() -> Callable[[Decimal, str], str]:
    """``money(amount, currency)``: the amount rounded to the currency's minor unit as plain
    text (unknown currencies as they are), each currency's unit looked up once."""
    quanta: dict[str, Decimal | None] = {}

    def money(amount: Decimal, currency: str) -> str:
        if currency not in quanta:
            try:
                quanta[currency] = quantum(currency)
            except CurrencyError:
                quanta[currency] = None
        unit = quanta[currency]
        return str(amount) if unit is None else str(amount.quantize(unit, ROUND_HALF_EVEN))

    return money


def _text(value: str) -> str:
    return f"'{value}" if value and value.startswith(FORMULA_PREFIXES) else value


def _when(value) -> str:
    return timezone.localtime(value).isoformat() if value else ""


# the columns a row is made of, read as plain values: an export of thousands of costs builds
# no model instances (five per cost with their category, unit, resource and users)
ROW_COLUMNS = (
    "id",
    "status",
    "incurred_on",
    "period_start",
    "period_end",
    "amount",
    "currency",
    "amount_reporting",
    "exchange_rate",
    "kind",
    "category__slug",
    "description",
    "organization_unit__code",
    "entity__name",
    "resource__name",
    "resource__provider",
    "source",
    "submitted_by__username",
    "submitted_at",
    "approver__username",
    "decided_by__username",
    "decided_at",
    "decision_comment",
    "tags",
)


def _row(values: tuple, reporting: str, money: Callable[[Decimal, str], str]) -> list[Any]:
    (pk, status, incurred_on, period_start, period_end, amount, currency, amount_reporting,
     rate, kind, category, description, unit, entity, resource, provider, source, submitter,
     submitted_at, approver, decider, decided_at, comment, tags) = values  # fmt: skip
    tags = ";".join(f"{k}={v}" for k, v in sorted((tags or {}).items()))
    return [
        pk,
        status,
        incurred_on.isoformat(),
        period_start.isoformat() if period_start else "",
        period_end.isoformat() if period_end else "",
        money(amount, currency),
        currency,
        money(amount_reporting, reporting),
        reporting,
        format(rate.normalize(), "f"),
        kind,
        category,
        _text(description),
        unit,
        _text(entity or ""),
        _text(resource or ""),
        provider or "",
        source,
        submitter or "",
        _when(submitted_at),
        approver or "",
        decider or "",
        _when(decided_at),
        _text(comment),
        _text(tags),
    ]


def cost_csv_records(costs: QuerySet[Cost]) -> Iterator[list[Any]]:
    """One list of ``COST_CSV_FIELDS`` values per cost of ``costs``, in its order, read in
    one streamed query."""
    reporting = reporting_currency()
    money = _money_formatter()
    for values in costs.values_list(*ROW_COLUMNS).iterator(chunk_size=2000):
        yield _row(values, reporting, money)


def cost_csv_lines(costs: QuerySet[Cost]) -> Iterator[str]:
    """The header, then one CSV line per cost of ``costs``."""
    writer = csv.writer(_Echo(), lineterminator="\n")
    yield writer.writerow(COST_CSV_FIELDS)
    for record in cost_csv_records(costs):
        yield writer.writerow(record)


def _chunks(lines: Iterator[str], size: int = 500) -> Iterator[str]:
    """``lines`` joined ``size`` at a time: the response writes a few large pieces rather
    than one small piece per cost."""
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


def cost_csv_response(queryset: QuerySet[Cost]) -> StreamingHttpResponse:
    """The whole filtered ``queryset`` as a streamed CSV attachment."""
    response = StreamingHttpResponse(
        _chunks(cost_csv_lines(queryset)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="costs-{stamp}.csv"'
    return response


class CostCSVRenderer(CSVRenderer):
    """Lets ``?format=csv`` select CSV on the cost list; errors render as ``field,message``
    rows. The list itself answers with ``cost_csv_response`` (streamed, unpaginated)."""
