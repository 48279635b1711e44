"""Reading a FinOps FOCUS (v1.0–v1.3) export into PostgreSQL.

The file is streamed (CSV plain or gzip, or Parquet one record batch at a time, its rows
numbered from line 2 as a CSV file's) through ``COPY`` into a temporary staging table of text
columns; ``costs.imports.rows`` types and checks them with set-based SQL (row errors with
line, column and message), ``costs.imports.grouping`` sums them into charge groups and
``costs.imports.loader`` turns those into costs. Nothing here writes outside the temporary
tables.
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
# x_ columns kept per cost: at most this many, each value at most this long.
MAX_CUSTOM_COLUMNS = 20
MAX_CUSTOM_VALUE = 256
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
    "_focus_auditors",
)
CHUNK_BYTES = 1 << 20


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
    version: str = ""
    format: str = "focus"
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
    if content[:2] != GZIP_MAGIC:  # plain CSV, or Parquet (digest of its bytes)
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


def _open_text_stream(buffered: io.BufferedReader) -> _DigestingStream:
    """The decompressed byte stream: gzip when the file starts with the gzip magic bytes."""
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


PARQUET_MAGIC = b"PAR1"
PARQUET_BATCH_ROWS = 16_384


def _size_limit() -> int:
    from costtrack.core.uploads import max_upload_bytes

    return max_upload_bytes()


def _limited(progress: Callable[[int], None] | None, limit: int) -> Callable[[int], None]:
    """``progress`` that also refuses a file once more than ``limit`` bytes were read."""

    def seen(size: int) -> None:
        if size > limit:
            raise file_error(
                f"The file is larger than the import limit of {limit / (1 << 20):.0f} MB "
                "(COSTTRACK_IMPORT_MAX_MB); nothing was imported."
            )
        if progress is not None:
            progress(size)

    return seen


def _staging_columns(header: list[str], version: str) -> tuple[dict[str, str], list[str]]:
    from . import versions

    staging = {name: f"c{i}" for i, name in enumerate(header)}
    known = set(MANDATORY_COLUMNS) | set(OPTIONAL_COLUMNS)
    custom = [name for name in header if name.startswith("x_")][:MAX_CUSTOM_COLUMNS]
    columns = {name: staging[name] for name in header if name in known or name in custom}
    if version == "1.3":
        for old, new in versions.RENAMED_IN_1_3.items():
            if old not in columns and new in staging:
                columns[old] = staging[new]
    return columns, custom


def _create_raw(width: int) -> None:
    column_defs = ", ".join(f"c{i} text" for i in range(width))
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


def _staged_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM _focus_raw")
        rows = cursor.fetchone()[0]
    if rows == 0:
        raise file_error("The file has a header but no data rows.", line=2)
    return rows


def stage(
    source: IO[bytes],
    *,
    amount_column: str,
    progress: Callable[[int], None] | None = None,
    version: str = "",
) -> StagedFile:
    """COPY a FOCUS file into the temporary table ``_focus_raw`` (dropped at commit).

    Must run inside a transaction on PostgreSQL. Raises ``FocusFileError`` for a file that
    is not a readable CSV or Parquet file with the mandatory columns of its FOCUS version
    (``version`` when declared, else detected from the header), or that passes the size
    limit.
    """
    from . import versions  # (which reads this module's column lists)

    reader = _CountingReader(source, _limited(progress, _size_limit()))
    buffered = io.BufferedReader(reader, buffer_size=CHUNK_BYTES)
    if buffered.peek(4)[:4] == PARQUET_MAGIC:
        return _stage_parquet(source, reader, amount_column=amount_column, version=version)
    stream = _open_text_stream(buffered)
    header = _read_header(stream)
    version = versions.check_header(header, amount_column, version)
    columns, custom = _staging_columns(header, version)
    column_list = ", ".join(f"c{i}" for i in range(len(header)))
    _create_raw(len(header))
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
    return StagedFile(
        columns=columns,
        custom_columns=custom,
        sha256=stream.digest.hexdigest(),
        size=reader.size,
        rows=_staged_rows(),
        version=version,
    )


def _stage_parquet(
    source: IO[bytes], reader: "_CountingReader", *, amount_column: str, version: str
) -> StagedFile:
    """COPY a Parquet file one record batch at a time (each row group read on its own).

    Every column is written as CSV text (timestamps as ISO 8601, decimals as written, maps
    and lists of tags as JSON), so the rows are checked and summed as a CSV file's are.
    """
    from . import parquet, versions

    if not hasattr(source, "seek"):
        raise file_error("A Parquet file must be read from a seekable file.")
    size = source.seek(0, io.SEEK_END)
    reader.progress(size)  # refuses a file over the limit before reading it
    source.seek(0)
    try:
        handle = parquet.open_file(source)
    except parquet.ParquetError as exc:
        raise file_error(f"The Parquet file cannot be read: {exc}.") from None
    names = list(handle.schema_arrow.names)
    header = [name.strip() for name in names]
    version = versions.check_header(header, amount_column, version, kind="Parquet")
    columns, custom = _staging_columns(header, version)
    # Only the columns the import reads are decoded and copied (a CSV's are all parsed).
    used = sorted({int(name[1:]) for name in columns.values()})
    column_list = ", ".join(f"c{i}" for i in used)
    _create_raw(len(header))
    raw = connection.connection
    try:
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY _focus_raw ({column_list}) FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            for chunk in parquet.csv_chunks(
                handle, batch_rows=PARQUET_BATCH_ROWS, columns=[names[i] for i in used]
            ):
                copy.write(chunk)
    except parquet.ParquetError as exc:
        raise file_error(f"The Parquet file cannot be read: {exc}.") from None
    except psycopg.Error as exc:
        raise _copy_error(exc) from None
    return StagedFile(
        columns=columns,
        custom_columns=custom,
        sha256=parquet.file_sha256(source),
        size=size,
        rows=_staged_rows(),
        version=version,
        format="focus-parquet",
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
