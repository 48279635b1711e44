"""The scopes of a FOCUS file: each (provider, billing account, billing period) it covers.

A file covers any number of scopes. ``find_scopes`` reads them from the charge groups
(``_focus_groups``) with their own row counts, the file's BilledCost, EffectiveCost and
ListCost per currency and a digest of their charges; ``_focus_scope_map`` maps the staged
texts (provider, account, billing period start and end as written) to the scope rows
(``ImportScope``) so that every cost's import link names its scope. A scope whose digest
equals the active scope's of the same key is *unchanged*: its groups are dropped and it
makes no costs. The rest replace their active predecessors (``costs.imports.replace``).
"""

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q

from ..models import ImportScope
from .sql import execute as _execute
from .sql import fetch as _fetch

# The group columns that make a scope's content (first_line and lines left out: the same
# charges in another row order are the same scope).
DIGEST_COLUMNS = (
    "sub_account_id",
    "publisher_name",
    "service_name",
    "service_category",
    "charge_category",
    "correction",
    "resource_id",
    "region_id",
    "currency",
    "day",
    "day_end",
    "tags_text",
    "amount_exact",
    "billed_cost",
    "list_cost",
    "effective_cost",
    "billing_account_name",
    "sub_account_name",
    "resource_name",
    "resource_type",
    "charge_class",
    "description_min",
    "description_max",
)


NUMERIC_COLUMNS = {"amount_exact", "billed_cost", "list_cost", "effective_cost"}


@dataclass
class FileScope:
    """One scope of the file as the staged groups show it."""

    key: tuple[str, str, date, date]  # provider, billing account, period start, last day
    account_name: str = ""
    first_line: int = 0
    rows: int = 0
    imported_rows: int = 0
    skipped_rows: int = 0
    cost_totals: dict[str, dict[str, str]] = field(default_factory=dict)
    digest: str = ""
    texts: list[tuple[str, str, str, str]] = field(default_factory=list)
    model: ImportScope | None = None
    previous: ImportScope | None = None

    @property
    def provider(self) -> str:
        return self.key[0]

    @property
    def billing_account_id(self) -> str:
        return self.key[1]

    @property
    def label(self) -> str:
        return f"{self.key[0] or '—'} {self.key[1]} {self.key[2]:%Y-%m-%d}…{self.key[3]:%Y-%m-%d}"


def find_scopes(*, salt: str, custom_columns: list[str]) -> list[FileScope]:
    """The file's scopes in order of their first line (``_focus_groups`` must exist).

    ``salt`` goes into every digest (the amount column and grain: the same file read another
    way is other content).
    """
    texts = _fetch(
        """
        SELECT provider_name, billing_account_id, billing_start_text, billing_end_text,
               billing_start_text::timestamptz, billing_end_text::timestamptz,
               max(billing_account_name), min(first_line), sum(lines),
               coalesce(sum(lines) FILTER (WHERE sign <> 0), 0)
        FROM _focus_groups GROUP BY 1, 2, 3, 4 ORDER BY min(first_line)
        """
    )
    scopes: dict[tuple, FileScope] = {}
    for provider, account, s_text, e_text, start, end, name, first, lines, imported in texts:
        # FOCUS periods end exclusively (the next month's first instant): keep the last day.
        last_day = max(start.date(), (end - timedelta(microseconds=1)).date())
        key = (provider or "", account, start.date(), last_day)
        scope = scopes.setdefault(key, FileScope(key=key, first_line=first))
        scope.account_name = scope.account_name or name or ""
        scope.rows += int(lines)
        scope.imported_rows += int(imported)
        scope.skipped_rows += int(lines) - int(imported)
        scope.texts.append((provider, account, s_text, e_text))
    ordered = list(scopes.values())
    _execute("DROP TABLE IF EXISTS _focus_scope_map")
    _execute(
        "CREATE TEMP TABLE _focus_scope_map (provider_name text, billing_account_id text, "
        "billing_start_text text, billing_end_text text, key_no int, scope_id bigint) "
        "ON COMMIT DROP"
    )
    mapped = [(*text, n) for n, scope in enumerate(ordered) for text in scope.texts]
    _execute(
        "INSERT INTO _focus_scope_map (provider_name, billing_account_id, billing_start_text, "
        "billing_end_text, key_no) SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], "
        "%s::text[], %s::int[])",
        [list(col) for col in zip(*mapped, strict=True)],
    )
    # x_ columns by name, not by their place in the header (names reach SQL as parameters)
    order = sorted(range(len(custom_columns)), key=lambda i: custom_columns[i])
    # Numbers without their trailing zeros: 0.0500 in a CSV and 0.050000 from a Parquet
    # decimal are the same charge.
    parts = [f"trim_scale(g.{c})" if c in NUMERIC_COLUMNS else f"g.{c}" for c in DIGEST_COLUMNS]
    parts += [f"%s || '=' || g.x{i}" for i in order]  # NULL (skipped) when empty
    row_text = "concat_ws('|', " + ", ".join(parts) + ")"
    # Order-independent: the sum of 64-bit hashes of each group, with the count and sums.
    for key_no, currency, billed, effective, listed, groups, hashes in _fetch(
        f"""
        SELECT m.key_no, g.currency, trim_scale(sum(g.billed_cost)),
               trim_scale(sum(g.effective_cost)), trim_scale(sum(g.list_cost)), count(*),
               sum(hashtextextended({row_text}, 7)::numeric)
        FROM _focus_groups g JOIN _focus_scope_map m USING (provider_name,
            billing_account_id, billing_start_text, billing_end_text)
        GROUP BY 1, 2 ORDER BY 1, 2
        """,  # noqa: S608  # nosec B608 (this module's column names only)
        [custom_columns[i] for i in order],
    ):
        scope = ordered[key_no]
        scope.cost_totals[currency] = {
            "BilledCost": _money(billed),
            "EffectiveCost": _money(effective),
            "ListCost": _money(listed),
        }
        scope.digest += f"{currency}:{groups}:{hashes}:{billed}:{effective}:{listed};"
    for scope in ordered:
        scope.digest = hashlib.sha256(f"{salt};{scope.digest}".encode()).hexdigest()
    return ordered


def _money(value: Decimal | None) -> str:
    """The file's sum as written, with at least the two decimals of a cent."""
    value = value if value is not None else Decimal(0)
    if value.as_tuple().exponent > -2:
        value = value.quantize(Decimal("0.01"))
    return str(value)


def active_scopes(scopes: list[FileScope]) -> None:
    """Set each scope's ``previous``: the active imported scope of its key (locked)."""
    if not scopes:
        return
    condition = Q()
    for scope in scopes:
        provider, account, start, end = scope.key
        condition |= Q(
            provider=provider,
            billing_account_id=account,
            billing_period_start=start,
            billing_period_end=end,
        )
    found = {
        (s.provider, s.billing_account_id, s.billing_period_start, s.billing_period_end): s
        for s in ImportScope.objects.select_for_update()
        .filter(condition, status=ImportScope.Status.IMPORTED, superseded_at__isnull=True)
        .select_related("batch")
    }
    for scope in scopes:
        scope.previous = found.get(scope.key)


def drop_unchanged(scopes: list[FileScope]) -> list[FileScope]:
    """Drop the groups of the scopes whose content equals their active scope's; return them."""
    unchanged = [s for s in scopes if s.previous is not None and s.previous.digest == s.digest]
    if unchanged:
        keys = [n for n, s in enumerate(scopes) if s in unchanged]
        _execute(
            """
            DELETE FROM _focus_groups g USING _focus_scope_map m
            WHERE m.key_no = ANY(%s) AND g.provider_name = m.provider_name
              AND g.billing_account_id = m.billing_account_id
              AND g.billing_start_text = m.billing_start_text
              AND g.billing_end_text = m.billing_end_text
            """,
            [keys],
        )
    return unchanged


def save_scopes(*, batch, scopes: list[FileScope], unchanged: list[FileScope], now) -> None:
    """Supersede the replaced scopes, create this file's, and map the staged texts to them."""
    replaced = [s.previous.pk for s in scopes if s.previous is not None and s not in unchanged]
    if replaced:
        ImportScope.objects.filter(pk__in=replaced).update(superseded_at=now)
    models = []
    for scope in scopes:
        provider, account, start, end = scope.key
        kept = scope in unchanged
        scope.model = ImportScope(
            batch=batch,
            provider=provider[:64],
            billing_account_id=account[:255],
            billing_account_name=scope.account_name[:255],
            billing_period_start=start,
            billing_period_end=end,
            status=ImportScope.Status.UNCHANGED if kept else ImportScope.Status.IMPORTED,
            digest=scope.digest,
            first_line=scope.first_line,
            rows=scope.rows,
            imported_rows=scope.imported_rows,
            skipped_rows=scope.skipped_rows,
            cost_totals=scope.cost_totals,
            kept=scope.previous if kept else None,
            supersedes=None if kept else scope.previous,
        )
        models.append(scope.model)
    ImportScope.objects.bulk_create(models)
    ids = [scope.model.pk for scope in scopes]
    _execute(
        "UPDATE _focus_scope_map m SET scope_id = (%s::bigint[])[m.key_no + 1]",
        [ids],
    )


def record_results(scopes: list[FileScope], *, reversed_counts: dict[int, int]) -> None:
    """Store each imported scope's costs, amounts, unmapped rows and reversals."""
    stats: dict[int, dict[str, Any]] = {}
    for scope_id, currency, costs, amount, unmapped, corrections in _fetch(
        """
        SELECT scope_id, currency, count(*), sum(amount),
               coalesce(sum(lines) FILTER (WHERE NOT known_resource AND rule_id IS NULL), 0),
               count(*) FILTER (WHERE corrects_period_id IS NOT NULL)
        FROM _focus_costs GROUP BY 1, 2 ORDER BY 1, 2
        """
    ):
        entry = stats.setdefault(
            scope_id, {"costs": 0, "totals": {}, "unmapped": 0, "corrections": 0}
        )
        entry["costs"] += costs
        entry["totals"][currency] = str(amount)
        entry["unmapped"] += int(unmapped)
        entry["corrections"] += corrections
    changed = []
    for scope in scopes:
        model = scope.model
        if model is None or model.status != ImportScope.Status.IMPORTED:
            continue
        entry = stats.get(model.pk, {})
        model.costs_created = entry.get("costs", 0)
        model.totals = entry.get("totals", {})
        model.unmapped_rows = entry.get("unmapped", 0)
        model.corrections = entry.get("corrections", 0)
        model.costs_reversed = reversed_counts.get(scope.previous.pk, 0) if scope.previous else 0
        changed.append(model)
    ImportScope.objects.bulk_update(
        changed, ["costs_created", "totals", "unmapped_rows", "corrections", "costs_reversed"]
    )
