"""Summing the typed rows of a FOCUS file into charge groups, and what a file covers.

Rows are summed into one cost per *charge group*: billing account, sub-account, provider,
publisher, service, charge category, resource, region, currency, charge period (a day, or a
month with ``COSTTRACK_IMPORT_GRAIN=month``), tags and sign — one ``GROUP BY`` over the
staged rows into ``_focus_groups``. ``ROUNDED_GROUPS`` gives each group its amount in the
currency's minor unit so that every account, service and day keeps its exact total.
"""

from datetime import date
from typing import Any

from costtrack.core.money import reporting_currency

from .focus import CHARGE_CATEGORIES
from .rows import valid_datetime
from .sql import execute as _execute
from .sql import fetch as _fetch


def charge_days() -> list[date]:
    """The distinct charge days of the file's costs."""
    return [day for (day,) in _fetch("SELECT DISTINCT day FROM _focus_groups WHERE sign <> 0")]


def prepare_rates() -> None:
    """``_focus_rates``: the rate of every (currency, charge day), latest on or before it."""
    _execute(
        """
        CREATE TEMP TABLE _focus_rates ON COMMIT DROP AS
        SELECT d.currency, d.day,
            CASE WHEN d.currency = %(reporting)s THEN 1::numeric ELSE (
                SELECT x.rate FROM costs_exchangerate x
                WHERE x.currency = d.currency AND x.date <= d.day
                ORDER BY x.date DESC LIMIT 1
            ) END AS rate
        FROM (SELECT DISTINCT currency, day FROM _focus_groups WHERE sign <> 0) d
        """,
        {"reporting": reporting_currency()},
    )


def rate_errors(limit: int) -> tuple[list[dict[str, Any]], int]:
    rows = _fetch(
        """
        SELECT g.first_line, g.currency, g.day, sum(g.lines) OVER ()
        FROM _focus_groups g JOIN _focus_rates x ON x.currency = g.currency AND x.day = g.day
        WHERE x.rate IS NULL AND g.sign <> 0 ORDER BY g.first_line LIMIT %s
        """,
        [limit],
    )
    if not rows:
        return [], 0
    errors = [
        {
            "line": line,
            "column": "BillingCurrency",
            "message": f"no exchange rate for {cur} on or before {day:%Y-%m-%d}",
        }
        for line, cur, day, _ in rows
    ]
    return errors, int(rows[0][3])


ROUND_FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.round_half_even(v numeric, d int) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN abs(v * power(10::numeric, d) - trunc(v * power(10::numeric, d))) = 0.5
             AND mod(trunc(v * power(10::numeric, d)), 2) = 0
        THEN trunc(v * power(10::numeric, d)) / power(10::numeric, d)
        ELSE round(v, d)
    END
$$
"""


# The groups that make costs, each with its amount in the currency's minor unit. Rounding
# each group on its own would let the cents drift from the file's totals (two resources at
# 0.004 each make 0.00, not 0.01); instead every group of one billing account, sub-account,
# service, day and currency gets its amount floored, and the units the floors lost from the
# bucket's half-even total go one each to the largest remainders (earliest line first on a
# tie). So the costs of a bucket sum exactly to its rounded total. Only the keys, the first
# line (a group's own: no line is in two groups) and the amount are sorted into buckets, in
# byte order ("C": equal keys are equal bytes either way; a locale's order is far slower),
# and the amounts joined back to the groups.
ROUNDED_GROUPS = """
    SELECT g.*, r.amount
    FROM _focus_groups g
    JOIN (
        SELECT b.first_line,
            round((b.floor_units + CASE WHEN b.remainder_rank <= b.lost_units THEN 1 ELSE 0 END)
                  / power(10::numeric, b.digits), b.digits) AS amount
        FROM (
            SELECT u.first_line, u.floor_units, u.digits,
                pg_temp.round_half_even(sum(u.units) OVER bucket, 0)
                    - sum(u.floor_units) OVER bucket AS lost_units,
                row_number() OVER (bucket ORDER BY u.units - u.floor_units DESC, u.first_line)
                    AS remainder_rank
            FROM (
                SELECT d.*, floor(d.units) AS floor_units
                FROM (
                    SELECT g0.first_line, g0.provider_name, g0.billing_account_id,
                        g0.billing_start_text, g0.billing_end_text, g0.sub_account_id,
                        g0.service_name, g0.day, g0.currency,
                        (%(digits)s::jsonb ->> g0.currency)::int AS digits,
                        g0.amount_exact
                            * power(10::numeric, (%(digits)s::jsonb ->> g0.currency)::int) AS units
                    FROM _focus_groups g0 WHERE g0.sign <> 0
                ) d
            ) u
            WINDOW bucket AS (PARTITION BY u.provider_name COLLATE "C",
                              u.billing_account_id COLLATE "C", u.billing_start_text COLLATE "C",
                              u.billing_end_text COLLATE "C", u.sub_account_id COLLATE "C",
                              u.service_name COLLATE "C", u.day, u.currency COLLATE "C")
        ) b
    ) r ON r.first_line = g.first_line
"""


def group_rows(
    source: str, *, custom_columns: list[str], currencies: list[str], grain: str = "day"
) -> None:
    """``_focus_groups``: the rows of ``source`` (SQL) summed per charge group.

    Rows of amount zero form groups of their own (``sign`` 0) that make no cost. An ``x_``
    custom column keeps its value when it is the same on every row of the group.
    ``problem`` flags groups with rows the fast casts let through but the import refuses.
    """
    customs = "".join(
        f', CASE WHEN min(x{i} COLLATE "C") = max(x{i} COLLATE "C") '
        f'THEN min(x{i} COLLATE "C") END AS x{i}'
        for i in range(len(custom_columns))
    )

    def t(column: str, limit: int) -> str:
        return f"left(btrim(coalesce({column}, '')), {limit})"

    last_day = "GREATEST(charge_start::date, (charge_end - interval '1 microsecond')::date)"
    if grain == "month":
        # One cost per resource and month: the period runs to the group's last charged day.
        day, day_end, grouped_days = (
            "date_trunc('month', charge_start)::date",
            f"max({last_day})",
            "day",
        )
    else:
        day, day_end, grouped_days = "charge_start::date", last_day, "day, day_end"

    def agg(function: str, column: str, limit: int) -> str:
        # Byte order ("C") is all a min/max needs here, and far cheaper than a locale's.
        return f"left(btrim(coalesce({function}({column} COLLATE \"C\"), '')), {limit})"

    _execute("SET LOCAL work_mem = '1GB'")
    _execute("DROP TABLE IF EXISTS _focus_groups")
    _execute(
        f"""
        CREATE TEMP TABLE _focus_groups ON COMMIT DROP AS
        SELECT min(line) AS first_line, count(*) AS lines,
            {t("billing_account_id", 255)} AS billing_account_id,
            btrim(billing_start_text) AS billing_start_text,
            btrim(billing_end_text) AS billing_end_text,
            {t("sub_account_id", 128)} AS sub_account_id,
            {t("provider_name", 64)} AS provider_name,
            {t("publisher_name", 128)} AS publisher_name,
            {t("service_name", 128)} AS service_name,
            {t("service_category", 64)} AS service_category,
            initcap({t("charge_category", 16)}) AS charge_category,
            {t("resource_id", 512)} AS resource_id,
            {t("region_id", 64)} AS region_id,
            upper(btrim(currency)) AS currency,
            {day} AS day,
            {day_end} AS day_end,
            btrim(tags_text) AS tags_text, sign(amount) AS sign, sign(amount) < 0 AS negative,
            coalesce(lower(btrim(charge_class)) = 'correction', false) AS correction,
            NULL::bigint AS corrects_period_id, NULL::date AS charged_on,
            sum(amount) AS amount_exact, sum(billed_cost) AS billed_cost,
            sum(list_cost) AS list_cost, sum(effective_cost) AS effective_cost,
            {agg("max", "billing_account_name", 255)} AS billing_account_name,
            {agg("max", "sub_account_name", 255)} AS sub_account_name,
            {agg("max", "resource_name", 255)} AS resource_name,
            {agg("max", "resource_type", 128)} AS resource_type,
            {agg("max", "charge_class", 32)} AS charge_class,
            {agg("min", "description", 500)} AS description_min,
            {agg("max", "description", 500)} AS description_max,
            bool_or(amount IS NULL OR NOT abs(amount) < 1e12
                OR NOT coalesce(abs(billed_cost) < 1e12, true)
                OR NOT coalesce(abs(list_cost) < 1e12, true)
                OR NOT coalesce(abs(effective_cost) < 1e12, true)
                OR charge_start IS NULL OR charge_end IS NULL OR charge_end < charge_start)
            OR upper(btrim(currency)) <> ALL(%(currencies)s)
            OR coalesce(btrim(billing_account_id), '') = ''
            OR coalesce(lower(btrim(charge_category)), '') <> ALL(%(charge_categories)s)
                AS problem
            {customs}
        FROM ({source} OFFSET 0) r
        GROUP BY billing_account_id, billing_start_text, billing_end_text, sub_account_id,
            provider_name, publisher_name, service_name, service_category, charge_category,
            resource_id, region_id, currency, {grouped_days}, tags_text, sign(amount),
            coalesce(lower(btrim(charge_class)) = 'correction', false)
        """,  # noqa: S608  # nosec B608 (this package's SQL and staging names only)
        {"currencies": currencies, "charge_categories": list(CHARGE_CATEGORIES)},
    )


def groups_have_problems() -> bool:
    """Did the fast path let through anything the precise pass would refuse?"""
    (flagged,) = _fetch(
        f"""
        SELECT EXISTS (SELECT 1 FROM _focus_groups WHERE problem)
            OR EXISTS (SELECT 1 FROM _focus_tags WHERE tags IS NULL)
            OR NOT (SELECT bool_and({valid_datetime("s")} AND {valid_datetime("e")}
                                    AND e::timestamptz >= s::timestamptz)
                    FROM (SELECT DISTINCT billing_start_text AS s, billing_end_text AS e
                          FROM _focus_groups) d)
        """  # noqa: S608  # nosec B608 (constants only)
    )[0]
    return bool(flagged)


def row_counts() -> tuple[int, int]:
    """Rows that made costs, and rows of amount zero (skipped)."""
    (counts,) = _fetch(
        "SELECT coalesce(sum(lines) FILTER (WHERE sign <> 0), 0), "
        "coalesce(sum(lines) FILTER (WHERE sign = 0), 0) FROM _focus_groups"
    )
    return int(counts[0]), int(counts[1])
