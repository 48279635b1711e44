"""Typing and checking the staged rows of a FOCUS file with set-based SQL.

``fast_source`` is the plain-cast reading that a well-formed file needs and nothing more;
``type_rows`` is the precise pass, which checks every value with a pattern and names each
row error (line, column, message); ``type_tags`` parses the ``Tags`` JSON once per distinct
text. Everything works on the temporary tables of ``costs.imports.focus.stage``.
"""

from typing import Any

from django.db import connection

from .focus import (
    CHARGE_CATEGORIES,
    MANDATORY_COLUMNS,
    MAX_CUSTOM_VALUE,
    MAX_ROW_ERRORS,
    OPTIONAL_COLUMNS,
    StagedFile,
)

# A decimal with an optional short exponent (1.5, -0.25, 1.2E-5); magnitude checked apart.
NUMBER_RE = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]{1,2})?$"


# ISO 8601 date-time as FOCUS writes it: 2024-01-01T00:00:00Z, with optional fraction/offset.
DATETIME_RE = (
    r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]{1,9})?)?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$"
)


def valid_datetime(expr: str) -> str:
    """SQL: the text is an ISO date-time on a real calendar day."""
    return (
        f"(CASE WHEN {expr} ~ '{DATETIME_RE}' THEN substr({expr}, 9, 2)::int <= extract(day "
        f"FROM make_date(substr({expr}, 1, 4)::int, substr({expr}, 6, 2)::int, 1) "
        "+ interval '1 month - 1 day') ELSE false END)"
    )


def _valid_number(expr: str) -> str:
    return f"(CASE WHEN {expr} ~ '{NUMBER_RE}' THEN abs({expr}::numeric) < 1e12 ELSE false END)"


def _err(condition: str, column: str, message_sql: str) -> str:
    return f"CASE WHEN {condition} THEN '{column}' || chr(31) || {message_sql} END"


def _shown(expr: str) -> str:
    return f"quote_literal(left({expr}, 60))"


def fast_source(staged: StagedFile, *, amount_column: str) -> str:
    """SQL of the staged rows typed with plain casts.

    For a well-formed file this is all the typing there is: the rows are summed straight
    from it (``loader.group_rows`` flags what cheap checks find). A cast that fails, or a
    flagged group, sends the import to the precise pass (``type_rows``), which names every
    row error.
    """
    return _row_select(staged, amount_column=amount_column, precise=False)


def type_rows(staged: StagedFile, *, amount_column: str, currencies: list[str]) -> None:
    """Create ``_focus_rows``: every row typed after a pattern check of each value, with its
    list of errors (``column<US>message`` in ``errs``, empty when the row is fine)."""
    sql = _row_select(staged, amount_column=amount_column, precise=True)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS _focus_rows")
        cursor.execute(
            f"CREATE TEMP TABLE _focus_rows ON COMMIT DROP AS {sql}",  # noqa: S608  # nosec B608
            {"currencies": list(currencies), "charge_categories": list(CHARGE_CATEGORIES)},
        )


def drop_raw() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS _focus_raw")


def _row_select(staged: StagedFile, *, amount_column: str, precise: bool) -> str:
    # The fast path leaves text as it is (trimmed per group later) and casts directly: every
    # function call per row costs on a million rows.
    trim = "btrim({})" if precise else "{}"
    c = {name: trim.format(staged.col(name)) for name in (*MANDATORY_COLUMNS, *OPTIONAL_COLUMNS)}
    amount = c.get(amount_column) or trim.format(staged.col(amount_column))
    currency = f"upper({c['BillingCurrency']})" if precise else c["BillingCurrency"]

    def number(expr: str) -> str:
        if precise:
            return f"CASE WHEN {_valid_number(expr)} THEN {expr}::numeric END"
        return f"{expr}::numeric"

    def ts(name: str) -> str:
        expr = c[name]
        if precise:
            return f"CASE WHEN {valid_datetime(expr)} THEN {expr}::timestamptz END"
        # The cast also reads words such as 'now' or 'epoch': a date starts with a digit.
        return f"CASE WHEN ascii({expr}) BETWEEN 48 AND 57 THEN {expr}::timestamptz END"

    def text(name: str, limit: int) -> str:
        if not precise:
            return c[name]
        return f"left(coalesce({c[name]}, ''), {limit})"

    customs = ", ".join(
        f"NULLIF(left({staged.columns[name]}, {MAX_CUSTOM_VALUE}), '') AS x{i}"
        for i, name in enumerate(staged.custom_columns)
    )
    errs = f"array_remove(ARRAY[{', '.join(_checks(staged, c, amount, amount_column))}], NULL)"
    return f"""
        SELECT line,
            {text("BillingAccountId", 255)} AS billing_account_id,
            {text("BillingAccountName", 255)} AS billing_account_name,
            {text("SubAccountId", 128)} AS sub_account_id,
            {text("SubAccountName", 255)} AS sub_account_name,
            {text("ProviderName", 64)} AS provider_name,
            {text("PublisherName", 128)} AS publisher_name,
            {text("ServiceName", 128)} AS service_name,
            {text("ServiceCategory", 64)} AS service_category,
            {text("ChargeCategory", 16)} AS charge_category,
            {text("ChargeClass", 32)} AS charge_class,
            {text("ChargeDescription", 500)} AS description,
            {text("ResourceId", 512)} AS resource_id,
            {text("ResourceName", 255)} AS resource_name,
            {text("ResourceType", 128)} AS resource_type,
            {text("RegionId", 64)} AS region_id,
            {currency} AS currency,
            {number(amount)} AS amount,
            {number(c["BilledCost"])} AS billed_cost,
            {number(c["ListCost"])} AS list_cost,
            {number(c["EffectiveCost"])} AS effective_cost,
            {ts("ChargePeriodStart")} AS charge_start,
            {ts("ChargePeriodEnd")} AS charge_end,
            {c["BillingPeriodStart"]} AS billing_start_text,
            {c["BillingPeriodEnd"]} AS billing_end_text,
            NULLIF({c["Tags"]}, '') AS tags_text,
            {customs + "," if customs else ""}
            {errs if precise else "ARRAY[]::text[]"} AS errs
        FROM _focus_raw
    """  # noqa: S608  # nosec B608 (this module's constants and staging names c0, c1 … only)


def _checks(staged: StagedFile, c: dict[str, str], amount: str, amount_column: str) -> list[str]:
    checks = []
    for name in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
        if name not in staged.columns or name == amount_column:
            continue
        expr = c[name]
        checks.append(
            _err(
                f"{expr} <> '' AND NOT {_valid_number(expr)}",
                name,
                f"{_shown(expr)} || ' is not a decimal number'",
            )
        )
    checks.append(
        _err(
            f"coalesce({amount}, '') = '' OR NOT {_valid_number(amount)}",
            amount_column,
            f"CASE WHEN coalesce({amount}, '') = '' THEN 'the amount is missing' ELSE "
            f"{_shown(amount)} || ' is not a decimal number (below 10^12)' END",
        )
    )
    currency = f"upper({c['BillingCurrency']})"
    checks.append(
        _err(
            f"coalesce({currency}, '') <> ALL(%(currencies)s)",
            "BillingCurrency",
            f"CASE WHEN coalesce({currency}, '') = '' THEN 'the currency is missing' "
            f"ELSE 'unknown currency ' || {_shown(c['BillingCurrency'])} END",
        )
    )
    for name in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd"):
        expr = c[name]
        checks.append(
            _err(
                f"coalesce({expr}, '') = '' OR NOT {valid_datetime(expr)}",
                name,
                f"CASE WHEN coalesce({expr}, '') = '' THEN 'the date is missing' ELSE "
                f"{_shown(expr)} || ' is not an ISO 8601 date-time' END",
            )
        )
    for start, end in (
        ("ChargePeriodStart", "ChargePeriodEnd"),
        ("BillingPeriodStart", "BillingPeriodEnd"),
    ):
        s, e = c[start], c[end]
        checks.append(
            _err(
                f"CASE WHEN {valid_datetime(s)} AND {valid_datetime(e)} "
                f"THEN {e}::timestamptz < {s}::timestamptz ELSE false END",
                end,
                f"{_shown(e)} || ' is before {start} ' || {_shown(s)}",
            )
        )
    checks.append(
        _err(
            f"coalesce({c['BillingAccountId']}, '') = ''",
            "BillingAccountId",
            "'the billing account is missing'",
        )
    )
    checks.append(
        _err(
            f"coalesce(lower({c['ChargeCategory']}), '') <> ALL(%(charge_categories)s)",
            "ChargeCategory",
            f"coalesce({_shown(c['ChargeCategory'])}, 'empty') || ' is not one of Usage, "
            "Purchase, Tax, Credit, Adjustment'",
        )
    )
    return checks


TAGS_FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.focus_tags(raw text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    parsed jsonb;
BEGIN
    BEGIN
        parsed := raw::jsonb;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END;
    IF jsonb_typeof(parsed) <> 'object' THEN
        RETURN NULL;
    END IF;
    RETURN coalesce((
        SELECT jsonb_object_agg(left(key, 256), left(coalesce(value #>> '{}', ''), 256))
        FROM jsonb_each(parsed) WHERE btrim(key) <> ''
    ), '{}'::jsonb);
END $$
"""


def type_tags(source: str = "_focus_rows") -> None:
    """Create ``_focus_tags``: each distinct Tags text parsed once (NULL when not an object).

    ``source`` is ``_focus_rows`` or ``_focus_groups`` (a table name of this package).
    """
    if source not in ("_focus_rows", "_focus_groups"):
        raise ValueError(source)
    with connection.cursor() as cursor:
        cursor.execute(TAGS_FUNCTION)
        cursor.execute("DROP TABLE IF EXISTS _focus_tags")
        cursor.execute(
            "CREATE TEMP TABLE _focus_tags ON COMMIT DROP AS "  # noqa: S608  # nosec B608
            "SELECT tags_text, pg_temp.focus_tags(tags_text) AS tags "
            f"FROM (SELECT DISTINCT tags_text FROM {source} WHERE tags_text IS NOT NULL) d"
        )
        cursor.execute("CREATE UNIQUE INDEX ON _focus_tags (tags_text)")
        cursor.execute("ANALYZE _focus_tags")


def row_errors(limit: int = MAX_ROW_ERRORS) -> tuple[list[dict[str, Any]], int]:
    """The first ``limit`` row errors in line order, and how many there are in all."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH e AS (
                SELECT line, split_part(err, chr(31), 1) AS col, split_part(err, chr(31), 2) AS msg
                FROM _focus_rows, unnest(errs) AS err
                WHERE cardinality(errs) > 0
                UNION ALL
                SELECT r.line, 'Tags', 'the tags are not a JSON object'
                FROM _focus_rows r JOIN _focus_tags t USING (tags_text)
                WHERE t.tags IS NULL
            )
            SELECT line, col, msg, count(*) OVER () FROM e ORDER BY line, col LIMIT %s
            """,
            [limit],
        )
        rows = cursor.fetchall()
    if not rows:
        return [], 0
    return [{"line": line, "column": col, "message": msg} for line, col, msg, _ in rows], rows[0][3]
