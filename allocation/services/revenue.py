"""Writes of product revenue: one figure, a CSV load, and reconversion after a rate change.

A revenue row is keyed by (node, date, grain): a day (``2025-03-14``) or a month
(``2025-03``, stored as its first day with grain ``month``). Writing a key that exists
replaces its amount and currency, so loading the same file twice changes nothing. Revenue
belongs to product nodes only. Amounts are converted to the reporting currency like costs
(``costs.services.rates.convert``). Only finance writes (auditors never).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Q

from costs.services.rates import Conversion, RateTable, convert
from costtrack.core.exceptions import PermissionDenied, ValidationError
from costtrack.core.jobs import job_enqueue
from costtrack.core.money import CurrencyError, check_amount, is_known_currency, reporting_currency
from costtrack.core.roles import is_finance, refuse_read_only

from ..models import CostNode, Revenue

CSV_COLUMNS = ("date", "node", "amount", "currency")
MAX_REPORTED_ERRORS = 50
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
REVENUE_FIELDS = {"node", "date", "grain", "amount", "currency"}


def check_can_write_revenue(acting_user) -> None:
    """Finance records revenue; auditors and everyone else read only (403).
    ``acting_user=None`` is costtrack itself (the demo, a command)."""
    if acting_user is None:
        return
    refuse_read_only(acting_user)
    if not is_finance(acting_user):
        raise PermissionDenied("Only finance staff may record revenue.")


def parse_revenue_date(value: str) -> tuple[date, str]:
    """``2025-03-14`` → (that day, ``day``); ``2025-03`` → (1 March 2025, ``month``).

    Raises ``ValidationError`` on ``date`` for anything else or a date outside 2000–2100.
    """
    text = (value or "").strip()
    try:
        if len(text) == 7:
            day, grain = date.fromisoformat(f"{text}-01"), Revenue.Grain.MONTH
        else:
            day, grain = date.fromisoformat(text), Revenue.Grain.DAY
    except ValueError:
        raise ValidationError(
            f"'{text}' is not a date: give a day (YYYY-MM-DD) or a month (YYYY-MM).",
            field="date",
        ) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationError(f"{text} is outside 2000–2100.", field="date")
    return day, grain


def _clean(
    *, node: CostNode, day: date, grain: str, amount: Any, currency: Any, rates: RateTable | None
) -> tuple[Decimal, str, Conversion]:
    """The validated (amount, currency, conversion) of one figure; raises ``ValidationError``
    naming the field. ``rates`` converts without a query per figure (a CSV load)."""
    if node.kind != CostNode.Kind.PRODUCT:
        raise ValidationError(
            f"Revenue belongs to products; '{node.name}' is a {node.get_kind_display().lower()}.",
            field="node",
        )
    if grain not in Revenue.Grain.values:
        raise ValidationError(f"Grain is day or month, not '{grain}'.", field="grain")
    if grain == Revenue.Grain.MONTH and day.day != 1:
        raise ValidationError("A month's revenue is dated on the first of the month.", field="date")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationError(f"{day} is outside 2000–2100.", field="date")
    if not isinstance(currency, str) or not is_known_currency(currency.strip()):
        raise ValidationError(f"Unknown currency '{currency}'.", field="currency")
    currency = currency.strip().upper()
    try:
        value = Decimal(str(amount).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(f"'{amount}' is not an amount.", field="amount") from None
    try:
        value = check_amount(value, currency)
    except CurrencyError as exc:
        raise ValidationError(str(exc), field="amount") from None
    if rates is not None:
        return value, currency, rates.convert(amount=value, currency=currency, on=day)
    return value, currency, convert(amount=value, currency=currency, on=day)


def revenue_validate(
    *, node: CostNode, date: date, grain: str, amount: Any, currency: str | None
) -> None:
    """Check a figure as ``revenue_set`` would, writing nothing (forms call it first).
    Raises ``ValidationError`` naming the field."""
    _clean(
        node=node,
        day=date,
        grain=grain,
        amount=amount,
        currency=currency or reporting_currency(),
        rates=None,
    )


@transaction.atomic
def revenue_set(
    *,
    node: CostNode,
    date: date,
    amount: Decimal,
    currency: str | None = None,
    grain: str = Revenue.Grain.DAY,
    acting_user=None,
) -> Revenue:
    """Record a product's revenue for a day (or a month: ``grain="month"``, ``date`` the
    first of the month), replacing the figure of the same (node, date, grain) if any.

    ``currency`` defaults to the reporting currency. Raises ``PermissionDenied`` for anyone
    but finance and ``ValidationError`` naming the field (a node that is not a product, an
    unknown currency, too many decimals, no exchange rate on or before the date).
    """
    check_can_write_revenue(acting_user)
    currency = currency or reporting_currency()
    value, code, conversion = _clean(
        node=node, day=date, grain=grain, amount=amount, currency=currency, rates=None
    )
    row = Revenue.objects.select_for_update().filter(
        node=node, date=date, grain=grain
    ).first() or Revenue(node=node, date=date, grain=grain, created_by=acting_user)
    row.amount, row.currency = value, code
    row.amount_reporting, row.exchange_rate = conversion.amount_reporting, conversion.rate
    row.full_clean(validate_unique=False)
    row.save()
    return row


@transaction.atomic
def revenue_update(*, revenue: Revenue, acting_user=None, **fields: Any) -> Revenue:
    """Correct a revenue row (node, date, grain, amount, currency), validated like a new
    one; moving it onto a key another row holds is refused (``ValidationError`` on date)."""
    check_can_write_revenue(acting_user)
    unknown = set(fields) - REVENUE_FIELDS
    if unknown:
        raise ValidationError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    for name, value in fields.items():
        setattr(revenue, name, value)
    value, code, conversion = _clean(
        node=revenue.node,
        day=revenue.date,
        grain=revenue.grain,
        amount=revenue.amount,
        currency=revenue.currency,
        rates=None,
    )
    clash = (
        Revenue.objects.filter(node=revenue.node, date=revenue.date, grain=revenue.grain)
        .exclude(pk=revenue.pk)
        .exists()
    )
    if clash:
        raise ValidationError(
            f"'{revenue.node}' already has revenue for {revenue.date} ({revenue.grain}).",
            field="date",
        )
    revenue.amount, revenue.currency = value, code
    revenue.amount_reporting, revenue.exchange_rate = conversion.amount_reporting, conversion.rate
    revenue.full_clean(validate_unique=False)
    revenue.save()
    return revenue


@transaction.atomic
def revenue_delete(*, revenue: Revenue, acting_user=None) -> None:
    check_can_write_revenue(acting_user)
    revenue.delete()


# --- CSV load ------------------------------------------------------------------------------


@dataclass
class RevenueLoad:
    """What a load did: rows created, replaced (amount or currency changed), unchanged."""

    created: int = 0
    replaced: int = 0
    unchanged: int = 0
    rows: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "created": self.created,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
        }


@dataclass
class _Row:
    line: int
    node: CostNode
    day: date
    grain: str
    amount: Decimal
    currency: str
    amount_reporting: Decimal = Decimal(0)
    rate: Decimal = Decimal(1)

    def _converted(self, conversion: Conversion) -> _Row:
        self.amount_reporting, self.rate = conversion.amount_reporting, conversion.rate
        return self


@dataclass
class _Errors:
    messages: list[str] = field(default_factory=list)

    def add(self, line: int, message: str) -> None:
        self.messages.append(f"Line {line}: {message}")

    def raise_if_any(self) -> None:
        if not self.messages:
            return
        shown = self.messages[:MAX_REPORTED_ERRORS]
        more = len(self.messages) - len(shown)
        raise ValidationError(
            f"{len(self.messages)} row(s) refused, nothing was loaded. "
            + " ".join(shown)
            + (f" … and {more} more." if more else ""),
            field="file",
            code="invalid_rows",
            extra={"errors": self.messages},
        )


def _resolve_nodes(values: set[str]) -> dict[str, CostNode]:
    """Nodes by name, else by id, for the CSV's ``node`` column (one query)."""
    ids = {int(v) for v in values if v.isdigit()}
    found = CostNode.objects.filter(Q(name__in=values) | Q(pk__in=ids))
    by_name = {n.name: n for n in found}
    by_id = {str(n.pk): n for n in found}
    return {v: by_name.get(v) or by_id.get(v) for v in values if v in by_name or v in by_id}


def _read_rows(handle) -> tuple[list[_Row], _Errors]:
    reader = csv.DictReader(handle)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise ValidationError(
            f"The file needs the columns {','.join(CSV_COLUMNS)}; missing: {', '.join(missing)}.",
            field="file",
        )
    reader.fieldnames = header
    raw = [(reader.line_num, row) for row in reader]  # the header is line 1
    nodes = _resolve_nodes({(row.get("node") or "").strip() for _, row in raw})
    currencies = {(row.get("currency") or "").strip() for _, row in raw}
    rates = RateTable({c for c in currencies if is_known_currency(c)}, until=LAST_DAY)
    errors = _Errors()
    rows: list[_Row] = []
    seen: dict[tuple[int, date, str], int] = {}
    for line, row in raw:
        if None in row:
            errors.add(line, "more cells than the header has columns.")
            continue
        key = (row.get("node") or "").strip()
        node = nodes.get(key)
        if node is None:
            errors.add(line, f"no node named (or with id) '{key}'.")
            continue
        try:
            day, grain = parse_revenue_date(row.get("date") or "")
            amount, currency, conversion = _clean(
                node=node,
                day=day,
                grain=grain,
                amount=row.get("amount"),
                currency=row.get("currency"),
                rates=rates,
            )
        except ValidationError as exc:
            errors.add(line, f"{exc.field}: {exc.message}")
            continue
        first = seen.setdefault((node.pk, day, grain), line)
        if first != line:
            errors.add(line, f"'{node.name}' {row['date'].strip()} is on line {first} already.")
            continue
        rows.append(_Row(line, node, day, grain, amount, currency)._converted(conversion))
    return rows, errors


@transaction.atomic
def revenue_load_csv(source: str | Path | io.TextIOBase, *, acting_user=None) -> RevenueLoad:
    """Load revenue from a CSV with the columns ``date,node,amount,currency``.

    ``date`` is a day (``2025-03-14``) or a month (``2025-03``); ``node`` a product node's
    name or id. All or nothing: any bad row refuses the whole file with a
    ``ValidationError`` (code ``invalid_rows``, every message in ``extra["errors"]``) naming
    each bad row by its line (the header is line 1) and writes nothing. Each row replaces
    the figure of its (node, date, grain); rows of the file that change nothing are counted
    ``unchanged``. Runs a fixed number of queries whatever the file's size. Finance only
    when ``acting_user`` is given.
    """
    check_can_write_revenue(acting_user)
    if isinstance(source, str | Path):
        with Path(source).open(newline="", encoding="utf-8-sig") as handle:
            rows, errors = _read_rows(handle)
    else:
        rows, errors = _read_rows(source)
    errors.raise_if_any()
    if not rows:
        raise ValidationError("The file has no revenue rows.", field="file")
    result = RevenueLoad(rows=len(rows))
    days = [r.day for r in rows]
    existing = {
        (r.node_id, r.date, r.grain): r
        for r in Revenue.objects.select_for_update().filter(
            node_id__in={r.node.pk for r in rows}, date__gte=min(days), date__lte=max(days)
        )
    }
    new, changed = [], []
    for r in rows:
        found = existing.get((r.node.pk, r.day, r.grain))
        if found is None:
            new.append(
                Revenue(
                    node=r.node,
                    date=r.day,
                    grain=r.grain,
                    amount=r.amount,
                    currency=r.currency,
                    amount_reporting=r.amount_reporting,
                    exchange_rate=r.rate,
                    created_by=acting_user,
                )
            )
        elif (found.amount, found.currency, found.amount_reporting) != (
            r.amount,
            r.currency,
            r.amount_reporting,
        ):
            found.amount, found.currency = r.amount, r.currency
            found.amount_reporting, found.exchange_rate = r.amount_reporting, r.rate
            changed.append(found)
        else:
            result.unchanged += 1
    Revenue.objects.bulk_create(new, batch_size=1000)
    Revenue.objects.bulk_update(
        changed,
        ["amount", "currency", "amount_reporting", "exchange_rate", "updated_at"],
        batch_size=1000,
    )
    result.created, result.replaced = len(new), len(changed)
    return result


# --- reconversion --------------------------------------------------------------------------


def schedule_revenue_reconvert(*, currency: str, since: date) -> None:
    """Rate-change hook (``costs.extensions.register_rate_change_hook``): reconvert the
    revenue in ``currency`` from ``since`` on, as a job of the outbox after commit (none
    when no revenue is in that currency from that day)."""
    if not Revenue.objects.filter(currency=currency.upper(), date__gte=since).exists():
        return
    job_enqueue(
        task="allocation.reconvert_revenue",
        kwargs={"currency": currency, "since": since.isoformat()},
        key=f"allocation.reconvert_revenue:{currency}:{since.isoformat()}",
    )


@transaction.atomic
def revenue_reconvert(*, currency: str | None = None, since: date | None = None) -> int:
    """Recompute ``amount_reporting`` of revenue after rates changed (one currency, from
    ``since`` on, when given). Rows with no rate on or before their date keep their stored
    conversion. A fixed number of queries per 1,000 rows. Returns how many changed."""
    qs = Revenue.objects.exclude(currency=reporting_currency())
    if currency:
        qs = qs.filter(currency=currency.upper())
    if since:
        qs = qs.filter(date__gte=since)
    rows = list(
        qs.select_for_update().only(
            "id", "amount", "currency", "date", "amount_reporting", "exchange_rate"
        )
    )
    if not rows:
        return 0
    rates = RateTable({r.currency for r in rows}, until=max(r.date for r in rows))
    changed = []
    for row in rows:
        try:
            conversion = rates.convert(amount=row.amount, currency=row.currency, on=row.date)
        except ValidationError:
            continue
        if (conversion.amount_reporting, conversion.rate) != (
            row.amount_reporting,
            row.exchange_rate,
        ):
            row.amount_reporting, row.exchange_rate = conversion.amount_reporting, conversion.rate
            changed.append(row)
    Revenue.objects.bulk_update(changed, ["amount_reporting", "exchange_rate"], batch_size=1000)
    return len(changed)
