"""The six summary tables as data: their columns and how each is computed from a cost row.

Both maintenance (``maintain``) and checking (``check``) build their SQL from these
definitions, so a grain is described once. Identifiers come from model metadata only.
"""

from dataclasses import dataclass

from django.db import connection

from orgunits.models import OrganizationUnit

from ..models import (
    Cost,
    SpendDay,
    SpendDayDetail,
    SpendDayTag,
    SpendDayTree,
    SpendMonth,
    SpendMonthDetail,
    SpendMonthTag,
    SpendMonthTree,
)

COST = Cost._meta.db_table
UNIT_TABLE = OrganizationUnit._meta.db_table
# Every status is summarised (approved first): a question about drafts, rejected, cancelled or
# voided costs (the cost explorer's "every status") is answered from the summary like any
# other; what counts as spend is ``SPENDING``.
TRACKED = (
    Cost.Status.APPROVED.value,
    *(s for s in Cost.Status.values if s != Cost.Status.APPROVED.value),
)
SPENDING = (Cost.Status.APPROVED.value, Cost.Status.PENDING.value)
# ``c.status IN (…)`` with a placeholder per tracked status (the values are ``TRACKED``)
TRACKED_IN = f"c.status IN ({', '.join(['%s'] * len(TRACKED))})"

UNIT, TREE, DETAIL, TAG = "unit", "tree", "detail", "tag"
# Families whose rows count each cost for its unit and every ancestor of it.
ROLLED_UP = (TREE, TAG)


@dataclass(frozen=True)
class Grain:
    model: type
    family: str
    time: str  # "day" or "month"

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def key_columns(self) -> list[str]:
        """The grain's key, in the order of its unique constraint."""
        opts = self.model._meta
        return [opts.get_field(name).column for name in opts.constraints[0].fields]

    @property
    def source_columns(self) -> tuple[str, ...]:
        """The cost columns (of ``SOURCE_COLUMNS``, amounts aside) this grain's key reads."""
        wanted = {"incurred_on", "organization_unit_id", "currency", "status"}
        if self.family == TAG:
            wanted.add("tags")
        else:
            wanted.add("category_id")
        if self.family == DETAIL:
            wanted |= {"resource_id", "entity_id"}
        return tuple(c for c in SOURCE_COLUMNS if c in wanted)

    def ordered(self, column: str, expression: str) -> str:
        """``expression`` of key ``column`` as an ORDER BY term: text in byte order on
        PostgreSQL (a total order like any other, and cheaper to sort by than a locale's)."""
        if connection.vendor != "postgresql":
            return expression
        field = next(f for f in self.model._meta.concrete_fields if f.column == column)
        if field.get_internal_type() in ("CharField", "TextField"):
            return f'{expression} COLLATE "C"'
        return expression

    @property
    def rolled_up(self) -> bool:
        return self.family in ROLLED_UP

    def source(self, column: str) -> str:
        """The SQL expression over ``costs_cost c`` (and ``kv`` for tags) for ``column``."""
        vendor = connection.vendor
        if column == "day":
            return "c.incurred_on"
        if column == "month":
            if vendor == "postgresql":
                return "CAST(date_trunc('month', c.incurred_on) AS date)"
            return "date(c.incurred_on, 'start of month')"
        if column == "resource_key":
            return "COALESCE(c.resource_id, 0)"
        if column == "entity_key":
            return "COALESCE(c.entity_id, 0)"
        if column == "tag_key":
            return "kv.key"
        if column == "tag_value":
            return "kv.value"
        if column == "organization_unit_id" and self.rolled_up:
            return "a.id"
        return f"c.{column}"

    def from_clause(self, source: str = COST) -> str:
        """The FROM clause over ``source c`` (the costs table, or a relation of its
        ``SOURCE_COLUMNS``), with the unit ancestors and tag pairs the family needs."""
        sql = f"{source} c"
        if self.rolled_up:
            sql += (
                f" JOIN {UNIT_TABLE} cu ON cu.id = c.organization_unit_id"
                f" JOIN {UNIT_TABLE} a ON a.tree_id = cu.tree_id AND a.lft <= cu.lft"
                " AND a.rght >= cu.rght"
            )
        if self.family == TAG:
            if connection.vendor == "postgresql":
                sql += " CROSS JOIN LATERAL jsonb_each_text(c.tags) AS kv"
            else:
                sql += ", json_each(c.tags) AS kv"
        return sql

    def extra_where(self) -> str:
        # A tag whose value is JSON null counts as absent, as ``tags->>'key'`` reads it.
        return " AND kv.value IS NOT NULL" if self.family == TAG else ""


# The cost columns the grains read (``source``): a relation with these columns can stand for
# ``costs_cost`` in ``from_clause``.
SOURCE_COLUMNS = (
    "incurred_on",
    "organization_unit_id",
    "category_id",
    "resource_id",
    "entity_id",
    "currency",
    "status",
    "tags",
    "amount",
    "amount_reporting",
)

GRAINS = (
    Grain(SpendDay, UNIT, "day"),
    Grain(SpendMonth, UNIT, "month"),
    Grain(SpendDayTree, TREE, "day"),
    Grain(SpendMonthTree, TREE, "month"),
    Grain(SpendDayDetail, DETAIL, "day"),
    Grain(SpendMonthDetail, DETAIL, "month"),
    Grain(SpendDayTag, TAG, "day"),
    Grain(SpendMonthTag, TAG, "month"),
)


def grain_for(family: str, time: str) -> Grain:
    return next(g for g in GRAINS if g.family == family and g.time == time)
