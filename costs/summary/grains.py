"""The six summary tables as data: their columns and how each is computed from a cost row.

Both maintenance (``maintain``) and checking (``check``) build their SQL from these
definitions, so a grain is described once. Identifiers come from model metadata only.
"""

from dataclasses import dataclass

from django.db import connection

from ..models import (
    Cost,
    SpendDay,
    SpendDayDetail,
    SpendDayTag,
    SpendMonth,
    SpendMonthDetail,
    SpendMonthTag,
)

COST = Cost._meta.db_table
TRACKED = (Cost.Status.APPROVED.value, Cost.Status.PENDING.value)

UNIT, DETAIL, TAG = "unit", "detail", "tag"


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
        return f"c.{column}"

    def from_clause(self) -> str:
        if self.family != TAG:
            return f"{COST} c"
        if connection.vendor == "postgresql":
            return f"{COST} c CROSS JOIN LATERAL jsonb_each_text(c.tags) AS kv"
        return f"{COST} c, json_each(c.tags) AS kv"

    def extra_where(self) -> str:
        # A tag whose value is JSON null counts as absent, as ``tags->>'key'`` reads it.
        return " AND kv.value IS NOT NULL" if self.family == TAG else ""


GRAINS = (
    Grain(SpendDay, UNIT, "day"),
    Grain(SpendMonth, UNIT, "month"),
    Grain(SpendDayDetail, DETAIL, "day"),
    Grain(SpendMonthDetail, DETAIL, "month"),
    Grain(SpendDayTag, TAG, "day"),
    Grain(SpendMonthTag, TAG, "month"),
)


def grain_for(family: str, time: str) -> Grain:
    return next(g for g in GRAINS if g.family == family and g.time == time)
