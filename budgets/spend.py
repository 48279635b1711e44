"""The spend aggregate: a budget's approved and pending spend in one period, in its currency.

Hand-written SQL because it runs inside every cost submission (enforcement) and the ORM's
query building cost more than the query itself. One ``SELECT`` per budget, joined with
``UNION ALL`` so any number of budgets take one round trip. A budget without a tags filter
or team that is not hourly sums the spend summary's rolled-up rows of its unit alone
(``costs.summary``: per day, unit and ancestor, category, currency and status; per month for a
reporting-currency budget over whole months), and one filtering on a single tag without a
category the summary's tag rows of its unit (per day or month, unit and ancestor, tag,
currency and status), so its cost grows with the days and categories (or tags) in its
period, neither with the costs nor with the size of the subtree; the cost being submitted
is taken back out when it is counted there already. Any other budget (a team, an hourly
period, several tags, a tag with a category) sums raw costs: the unit and category
subtrees are ``tree_id``/``lft``/``rght`` ranges, the period a range on ``incurred_on``
(``submitted_at`` for hourly budgets), tags a ``@>`` containment (GIN index).

Conversion: a cost in the budget's currency counts with its own amount; any other cost with
its reporting-currency amount divided by the budget currency's latest rate on or before the
cost's day (the earliest later rate when none is older). Costs are first summed per day,
status and "same currency", so the rate is looked up once per day, not once per cost.
When the budget's currency has no rate at all, costs in other currencies cannot be converted:
they are left out of the sums and the earliest day among them is returned
(``unconverted_from``), so callers say the spend is unknown instead of showing a low figure.
Every identifier below comes from model metadata; every value is a bound parameter.
"""

# ruff: noqa: S608 -- SQL built from model-metadata table names only; values are parameters.

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection

from costs.models import (
    Cost,
    CostCategory,
    ExchangeRate,
    SpendDayTag,
    SpendDayTree,
    SpendMonthTag,
    SpendMonthTree,
)
from costtrack.core.money import reporting_currency, round_money
from costtrack.core.prepared import execute_prepared, numbered, prepared_statements_enabled
from orgunits.models import OrganizationUnit

from . import periods
from .models import Budget

ZERO = Decimal(0)
APPROVED, PENDING = Cost.Status.APPROVED.value, Cost.Status.PENDING.value

COST = Cost._meta.db_table
UNIT = OrganizationUnit._meta.db_table
CATEGORY = CostCategory._meta.db_table
RATE = ExchangeRate._meta.db_table
SPEND_DAY_TREE = SpendDayTree._meta.db_table
SPEND_MONTH_TREE = SpendMonthTree._meta.db_table
SPEND_DAY_TAG = SpendDayTag._meta.db_table
SPEND_MONTH_TAG = SpendMonthTag._meta.db_table
TREE, TAG = "tree", "tag"


def _user_groups_table() -> str:
    return get_user_model().groups.through._meta.db_table


@dataclass(frozen=True)
class Spend:
    actual: Decimal
    committed: Decimal
    # The budget currency's rate on the day asked for (None for the reporting currency).
    rate: Decimal | None = None
    # The earliest day of a cost that could not be converted (no rate of the budget's
    # currency was ever loaded); None when every cost counted.
    unconverted_from: date | None = None


def _summary_rows(budget: Budget, period: periods.Period) -> str | None:
    """Which of the spend summary's rolled-up tables answers this budget: ``tree`` without a
    tags filter, ``tag`` for a filter of one tag without a category (the tag tables hold no
    category; tags are strings on every write, so the tag's text is the tag); ``None`` (raw
    costs) for a team, an hourly period or any other tags filter."""
    if budget.team_id is not None or period.hourly:
        return None
    if not budget.tags_filter:
        return TREE
    if len(budget.tags_filter) == 1 and budget.category_id is None:
        return TAG
    return None


def _whole_months(period: periods.Period) -> bool:
    first, last = period.first_day, period.last_day
    return first.day == 1 and (last + timedelta(days=1)).day == 1


def _source(
    budget: Budget, period: periods.Period, exclude_cost_id: int | None
) -> tuple[str, list]:
    """The rows a budget sums, as a derived table ``(incurred_on, status, currency, amount,
    amount_reporting)``: the spend summary's rows in scope when it can answer (minus the
    excluded cost, when it is counted there), else the raw costs in scope."""
    rows = _summary_rows(budget, period)
    if rows is None:
        where, params = _scope(budget, period, exclude_cost_id)
        return (
            "SELECT c.incurred_on, c.status, c.currency, c.amount, c.amount_reporting "  # nosec B608
            f"FROM {COST} c WHERE {where}"
        ), params
    # A reporting-currency budget over whole months needs no per-day conversion.
    monthly = budget.currency == reporting_currency() and _whole_months(period)
    tables = {TREE: (SPEND_DAY_TREE, SPEND_MONTH_TREE), TAG: (SPEND_DAY_TAG, SPEND_MONTH_TAG)}
    table, day = (tables[rows][1], "month") if monthly else (tables[rows][0], "day")
    where, params = _scope(budget, period, None, day_column=day, rolled_up=True)
    sql = (
        f"SELECT c.{day} AS incurred_on, c.status, c.currency, c.amount, "  # nosec B608
        f"c.amount_reporting FROM {table} c WHERE c.entries <> 0 AND {where}"
    )
    if exclude_cost_id is not None:
        own_where, own_params = _scope(budget, period, None)
        sql += (
            " UNION ALL SELECT c.incurred_on, c.status, c.currency, -c.amount, "  # nosec B608
            f"-c.amount_reporting FROM {COST} c WHERE c.id = %s AND {own_where}"
        )
        params = [*params, exclude_cost_id, *own_params]
    return sql, params


def _scope(
    budget: Budget,
    period: periods.Period,
    exclude_cost_id: int | None,
    *,
    day_column: str = "incurred_on",
    rolled_up: bool = False,
) -> tuple[str, list]:
    unit = budget.organization_unit
    if rolled_up:  # the summary's tree rows of the budget's unit are its whole subtree
        where = ["c.status IN (%s, %s)", "c.organization_unit_id = %s"]
        params: list = [APPROVED, PENDING, unit.pk]
        return _rest_of_scope(budget, period, where, params, None, day_column, rolled_up)
    # ``= ANY(ARRAY(…))``: the planner then probes the (unit, day) indexes for a small
    # subtree instead of scanning the period for every unit and joining.
    units = f"SELECT u.id FROM {UNIT} u WHERE u.tree_id = %s AND u.lft >= %s AND u.rght <= %s"  # nosec B608
    where = [
        "c.status IN (%s, %s)",
        f"c.organization_unit_id = ANY(ARRAY({units}))"  # nosec B608
        if connection.vendor == "postgresql"
        else f"c.organization_unit_id IN ({units})",  # nosec B608
    ]
    params = [APPROVED, PENDING, unit.tree_id, unit.lft, unit.rght]
    return _rest_of_scope(budget, period, where, params, exclude_cost_id, day_column)


def _rest_of_scope(
    budget, period, where: list, params: list, exclude_cost_id, day_column, rolled_up=False
):
    ops = connection.ops
    if budget.category_id is not None:
        category = budget.category
        where.append(
            f"c.category_id IN (SELECT k.id FROM {CATEGORY} k "  # nosec B608
            "WHERE k.tree_id = %s AND k.lft >= %s AND k.rght <= %s)"
        )
        params += [category.tree_id, category.lft, category.rght]
    if budget.team_id is not None:
        where.append(
            f"c.submitted_by_id IN (SELECT g.user_id FROM {_user_groups_table()} g "  # nosec B608
            "WHERE g.group_id = %s)"
        )
        params.append(budget.team_id)
    if budget.tags_filter and rolled_up:  # a tag table's rows: the one tag of the filter
        ((key, value),) = budget.tags_filter.items()
        where.append("c.tag_key = %s AND c.tag_value = %s")
        params += [key, value]
    elif budget.tags_filter:
        if connection.vendor == "postgresql":
            where.append("c.tags @> %s::jsonb")
            params.append(json.dumps(budget.tags_filter))
        else:
            for key, value in sorted(budget.tags_filter.items()):
                where.append("json_extract(c.tags, %s) = %s")
                params += ['$."' + key.replace('"', '\\"') + '"', value]
    if period.hourly:
        where.append("COALESCE(c.submitted_at, c.created_at) >= %s")
        where.append("COALESCE(c.submitted_at, c.created_at) < %s")
        params += [ops.adapt_datetimefield_value(period.start)]
        params += [ops.adapt_datetimefield_value(period.end)]
    else:
        first = period.first_day if day_column != "month" else period.first_day.replace(day=1)
        where.append(f"c.{day_column} >= %s AND c.{day_column} <= %s")
        params += [ops.adapt_datefield_value(first)]
        params += [ops.adapt_datefield_value(period.last_day)]
    if exclude_cost_id is not None:
        where.append("c.id <> %s")
        params.append(exclude_cost_id)
    return " AND ".join(where), params


def _rate_sql(day_sql: str) -> str:
    """The budget currency's rate for a day (two ``%s``: the currency, twice)."""
    return (
        f"COALESCE((SELECT r.rate FROM {RATE} r WHERE r.currency = %s AND r.date <= {day_sql} "  # nosec B608
        f"ORDER BY r.date DESC LIMIT 1), (SELECT r.rate FROM {RATE} r "
        f"WHERE r.currency = %s AND r.date > {day_sql} ORDER BY r.date LIMIT 1))"
    )


def _budget_select(
    budget: Budget, period: periods.Period, exclude_cost_id: int | None, rate_day: date | None
) -> tuple[str, list]:
    source, where_params = _source(budget, period, exclude_cost_id)
    code = budget.currency
    if code == reporting_currency():
        # The reporting amount of a cost already in the reporting currency is its amount.
        sql = (
            "SELECT CAST(%s AS bigint) AS budget_ref, "  # nosec B608
            "SUM(c.amount_reporting) FILTER (WHERE c.status = %s) AS actual, "
            "SUM(c.amount_reporting) FILTER (WHERE c.status = %s) AS committed, "
            "CAST(NULL AS NUMERIC) AS rate, CAST(NULL AS DATE) AS unconverted_from "
            f"FROM ({source}) c"
        )
        return sql, [budget.pk, APPROVED, PENDING, *where_params]
    converted = f"(CASE WHEN d.same THEN d.amt ELSE d.rep / {_rate_sql('d.day')} END)"
    rate_column = _rate_sql("%s") if rate_day is not None else "CAST(NULL AS NUMERIC)"
    # The rate lookup falls back to a later rate, so it finds none only when the currency has
    # no rate at all: one uncorrelated EXISTS says which costs could not be converted.
    unconverted = (
        f"MIN(d.day) FILTER (WHERE NOT d.same AND NOT EXISTS "  # nosec B608
        f"(SELECT 1 FROM {RATE} r WHERE r.currency = %s))"
    )
    sql = (
        "SELECT CAST(%s AS bigint) AS budget_ref, "  # nosec B608
        f"SUM({converted}) FILTER (WHERE d.status = %s) AS actual, "
        f"SUM({converted}) FILTER (WHERE d.status = %s) AS committed, {rate_column} AS rate, "
        f"{unconverted} AS unconverted_from "
        "FROM (SELECT c.incurred_on AS day, c.status AS status, c.currency = %s AS same, "
        "SUM(c.amount) AS amt, SUM(c.amount_reporting) AS rep "
        f"FROM ({source}) c GROUP BY 1, 2, 3) d"
    )
    params = [budget.pk, code, code, APPROVED, code, code, PENDING]
    if rate_day is not None:
        day = connection.ops.adapt_datefield_value(rate_day)
        params += [code, day, code, day]
    params += [code, code, *where_params]
    return sql, params


def _day(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])  # SQLite answers MIN() of dates as text


def _decimal(value) -> Decimal:
    if value is None:
        return ZERO
    return value if isinstance(value, Decimal) else Decimal(str(value))


def spend_by_budget(
    pairs: Sequence[tuple[Budget, periods.Period]],
    *,
    exclude_cost_id: int | None = None,
    rate_day: date | None = None,
    prepared: bool = False,
) -> dict[int, Spend]:
    """``{budget_id: Spend}`` for each (budget, period), in one query; ``prepared`` (for
    enforcement, inside every submission, whose budgets have few shapes) runs it as a
    statement prepared once per session.

    ``actual`` and ``committed`` are rounded to the budget currency's minor unit.
    ``exclude_cost_id`` leaves one cost out (the one being submitted). With ``rate_day``,
    ``rate`` is each foreign-currency budget's rate on that day (saves a query when a cost
    must be converted into it). ``unconverted_from`` is set when some costs could not be
    converted (and are missing from ``actual``/``committed``).
    """
    if not pairs:
        return {}
    selects = [_budget_select(b, p, exclude_cost_id, rate_day) for b, p in pairs]
    sql = " UNION ALL ".join(s for s, _ in selects)
    params = [value for _, ps in selects for value in ps]
    currency = {b.pk: b.currency for b, _ in pairs}
    result = {b.pk: Spend(ZERO, ZERO) for b, _ in pairs}
    with connection.cursor() as cursor:
        if prepared and prepared_statements_enabled():
            # planning this statement costs more than running it
            execute_prepared(cursor, numbered(sql), params, kind="spend")
        else:
            cursor.execute(sql, params)
        rows = cursor.fetchall()
    for budget_id, actual, committed, rate, unconverted_from in rows:
        code = currency[budget_id]
        result[budget_id] = Spend(
            actual=round_money(_decimal(actual), code),
            committed=round_money(_decimal(committed), code),
            rate=None if rate is None else _decimal(rate),
            unconverted_from=_day(unconverted_from),
        )
    return result
