"""Reading a FinOps FOCUS (v1.0–v1.2) CSV export into PostgreSQL.

The file is streamed (plain or gzip) through ``COPY`` into a temporary staging table of text
columns, then validated with set-based SQL: one pass types every value and collects the
row errors (line, column, message). Nothing here writes outside the temporary tables; the
caller (``costs.imports.loader``) turns the validated rows into costs.
"""

import csv
import gzip
import hashlib
import io
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import psycopg
from django.db import DatabaseError, connection, transaction

MANDATORY_COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "BillingCurrency",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargeDescription",
    "ProviderName",
    "PublisherName",
    "ServiceName",
    "ServiceCategory",
    "BillingAccountId",
)
# Columns the import reads when present (FOCUS conditional and optional columns).
OPTIONAL_COLUMNS = (
    "BillingAccountName",
    "ChargeClass",
    "ContractedCost",
    "InvoiceIssuerName",
    "SubAccountId",
    "SubAccountName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "RegionId",
    "RegionName",
    "Tags",
)
AMOUNT_COLUMNS = ("EffectiveCost", "BilledCost", "ListCost", "ContractedCost")
CHARGE_CATEGORIES = ("usage", "purchase", "tax", "credit", "adjustment")
MAX_ROW_ERRORS = 1000
TEMP_TABLES = (
    "_focus_raw",
    "_focus_rows",
    "_focus_tags",
    "_focus_rates",
    "_focus_groups",
    "_focus_rules",
    "_focus_mapped",
    "_focus_costs",
    "_focus_units",
)
CHUNK_BYTES = 1 << 20

# A decimal with an optional short exponent (1.5, -0.25, 1.2E-5); magnitude checked apart.
NUMBER_RE = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]{1,2})?$"
# ISO 8601 date-time as FOCUS writes it: 2024-01-01T00:00:00Z, with optional fraction/offset.
DATETIME_RE = (
    r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]{1,9})?)?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$"
)


class FocusFileError(Exception):
    """The file cannot be imported; ``errors`` are ``{line, column, message}`` dicts.

    ``line`` 0 means the file as a whole; ``error_count`` may exceed ``len(errors)`` when
    only the first ``MAX_ROW_ERRORS`` row errors are kept.
    """

    def __init__(self, errors: list[dict[str, Any]], error_count: int | None = None) -> None:
        self.errors = errors
        self.error_count = error_count if error_count is not None else len(errors)
        first = errors[0] if errors else {"message": "invalid file"}
        where = f"line {first.get('line')}: " if first.get("line") else ""
        super().__init__(f"{where}{first.get('message')}")


def file_error(message: str, *, line: int = 0, column: str = "") -> FocusFileError:
    return FocusFileError([{"line": line, "column": column, "message": message}])


@dataclass
class StagedFile:
    """What ``stage`` learnt about a file: its header, size, digest and row count."""

    columns: dict[str, str]  # FOCUS column name -> staging column name
    custom_columns: list[str]
    sha256: str
    size: int
    rows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def col(self, name: str) -> str:
        """The SQL expression for a FOCUS column (NULL when the file lacks it)."""
        return self.columns.get(name, "NULL::text")


GZIP_MAGIC = b"\x1f\x8b"


class _CountingReader(io.RawIOBase):
    """Reads a binary stream while counting the raw (maybe compressed) bytes for progress."""

    def __init__(self, raw: IO[bytes], progress: Callable[[int], None] | None) -> None:
        super().__init__()
        self.raw = raw
        self.size = 0
        self.progress = progress

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.size += n
        if self.progress is not None and n:
            self.progress(self.size)
        return n

    def readable(self) -> bool:
        return True


class _DigestingStream:
    """The decompressed stream, hashing what is read: a file's identity is its content, so
    the same CSV plain or gzipped (or gzipped again) is the same file."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()

    def peek(self, size: int) -> bytes:
        return self.stream.peek(size)  # type: ignore[attr-defined]

    def readline(self, limit: int = -1) -> bytes:
        data = self.stream.readline(limit)
        self.digest.update(data)
        return data

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.digest.update(data)
        return data


def content_sha256(content: bytes) -> str:
    """The digest ``stage`` gives the same bytes: of the CSV inside, when they are gzip."""
    digest = hashlib.sha256()
    if content[:2] != GZIP_MAGIC:
        digest.update(content)
        return digest.hexdigest()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(content), mode="rb") as stream:
            while chunk := stream.read(CHUNK_BYTES):
                digest.update(chunk)
    except (EOFError, OSError, zlib.error):
        # A damaged archive fails its import anyway; its raw bytes identify the upload.
        return hashlib.sha256(content).hexdigest()
    return digest.hexdigest()


def _open_text_stream(reader: _CountingReader) -> _DigestingStream:
    """The decompressed byte stream: gzip when the file starts with the gzip magic bytes."""
    buffered = io.BufferedReader(reader, buffer_size=CHUNK_BYTES)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return _DigestingStream(gzip.GzipFile(fileobj=buffered, mode="rb"))  # type: ignore[arg-type]
    return _DigestingStream(buffered)


def _read_header(stream: IO[bytes]) -> list[str]:
    try:
        if b"\x00" in stream.peek(4096)[:4096]:  # type: ignore[attr-defined]
            raise file_error("This is not a CSV file (it contains binary data).", line=1)
        line = stream.readline(256 * 1024)
    except (EOFError, OSError, zlib.error) as exc:
        raise file_error(f"The file cannot be read as gzip: {exc}.") from None
    if not line.strip():
        raise file_error("The file is empty: a FOCUS CSV starts with a header row.", line=1)
    if b"\x00" in line:
        raise file_error("This is not a CSV file (it contains binary data).", line=1)
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise file_error("This is not a UTF-8 CSV file.", line=1) from None
    try:
        header = next(csv.reader([text]))
    except csv.Error as exc:
        raise file_error(f"The header row is not valid CSV: {exc}.", line=1) from None
    return [name.strip() for name in header]


def _check_header(header: list[str], amount_column: str) -> None:
    errors = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            errors.append({"line": 1, "column": name, "message": f"Column '{name}' repeats."})
        seen.add(name)
    required = list(MANDATORY_COLUMNS)
    if amount_column not in required:
        required.append(amount_column)
    missing = [name for name in required if name not in seen]
    for name in missing:
        errors.append(
            {"line": 1, "column": name, "message": f"Mandatory column '{name}' is missing."}
        )
    if errors:
        if missing and len(missing) == len(required):
            errors.insert(
                0,
                {
                    "line": 1,
                    "column": "",
                    "message": "This is not a FOCUS CSV file: none of the mandatory columns "
                    f"({', '.join(MANDATORY_COLUMNS[:4])} …) is in the header.",
                },
            )
        raise FocusFileError(errors)


def _copy_error(exc: psycopg.Error) -> FocusFileError:
    """A clear message from a failed COPY, with the file line (the header is line 1)."""
    diag = getattr(exc, "diag", None)
    primary = (diag.message_primary if diag else None) or str(exc).splitlines()[0]
    context = (diag.context if diag else None) or ""
    match = re.search(r"line (\d+)", context)
    line = int(match.group(1)) + 1 if match else 0
    if "extra data after last expected column" in primary or "missing data for column" in primary:
        message = f"The row does not have the header's number of columns ({primary})."
    elif "invalid byte sequence" in primary or "0x00" in primary:
        message = f"This is not a UTF-8 CSV file ({primary})."
    elif "unterminated CSV quoted field" in primary:
        message = "The file ends inside a quoted field (truncated file?)."
    else:
        message = f"The file is not valid CSV: {primary}."
    return file_error(message, line=line)


def stage(
    source: IO[bytes],
    *,
    amount_column: str,
    progress: Callable[[int], None] | None = None,
) -> StagedFile:
    """COPY a FOCUS file into the temporary table ``_focus_raw`` (dropped at commit).

    Must run inside a transaction on PostgreSQL. Raises ``FocusFileError`` for a file that
    is not a readable CSV with the mandatory columns.
    """
    reader = _CountingReader(source, progress)
    stream = _open_text_stream(reader)
    header = _read_header(stream)
    _check_header(header, amount_column)
    staging = {name: f"c{i}" for i, name in enumerate(header)}
    known = set(MANDATORY_COLUMNS) | set(OPTIONAL_COLUMNS)
    custom = [name for name in header if name.startswith("x_")]
    columns = {name: staging[name] for name in header if name in known or name in custom}
    column_defs = ", ".join(f"c{i} text" for i in range(len(header)))
    column_list = ", ".join(f"c{i}" for i in range(len(header)))
    _enlarge_temp_buffers()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'UTC'")
        # ON COMMIT DROP is not enough inside an outer transaction (tests, a retried run).
        cursor.execute(f"DROP TABLE IF EXISTS {', '.join(TEMP_TABLES)}")
        cursor.execute("DROP SEQUENCE IF EXISTS _focus_line")
        cursor.execute("CREATE TEMP SEQUENCE _focus_line START 2")
        cursor.execute(
            "CREATE TEMP TABLE _focus_raw (line bigint NOT NULL DEFAULT nextval('_focus_line'), "
            f"{column_defs}) ON COMMIT DROP"
        )
    raw = connection.connection
    try:
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY _focus_raw ({column_list}) FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            while True:
                try:
                    chunk = stream.read(CHUNK_BYTES)
                except (EOFError, OSError, zlib.error) as exc:
                    raise file_error(
                        f"The gzip file is damaged or truncated ({exc}); nothing was imported."
                    ) from None
                if not chunk:
                    break
                if b"\x00" in chunk:
                    raise file_error("This is not a CSV file (it contains binary data).")
                copy.write(chunk)
    except psycopg.Error as exc:
        raise _copy_error(exc) from None
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM _focus_raw")
        rows = cursor.fetchone()[0]
    if rows == 0:
        raise file_error("The file has a header but no data rows.", line=2)
    return StagedFile(
        columns=columns,
        custom_columns=custom,
        sha256=stream.digest.hexdigest(),
        size=reader.size,
        rows=rows,
    )


def _enlarge_temp_buffers() -> None:
    """Let the staging tables live in memory (PostgreSQL's default is 8 MB per session).

    Only possible before the session's first temporary table; later calls change nothing.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET temp_buffers = '512MB'")
    except DatabaseError:
        pass


def _valid_datetime(expr: str) -> str:
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
            return f"CASE WHEN {_valid_datetime(expr)} THEN {expr}::timestamptz END"
        # The cast also reads words such as 'now' or 'epoch': a date starts with a digit.
        return f"CASE WHEN ascii({expr}) BETWEEN 48 AND 57 THEN {expr}::timestamptz END"

    def text(name: str, limit: int) -> str:
        if not precise:
            return c[name]
        return f"left(coalesce({c[name]}, ''), {limit})"

    customs = ", ".join(
        f"NULLIF({staged.columns[name]}, '') AS x{i}"
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
                f"coalesce({expr}, '') = '' OR NOT {_valid_datetime(expr)}",
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
                f"CASE WHEN {_valid_datetime(s)} AND {_valid_datetime(e)} "
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
