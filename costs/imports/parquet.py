"""FOCUS Parquet files (AWS Data Exports, Azure cost exports) as CSV text for ``COPY``.

A file is read one record batch at a time (``iter_batches`` reads a row group at most at
once), so memory stays bounded by a row group whatever the file size. Each batch becomes
CSV without a header: timestamps in ISO 8601 UTC, decimals and floats as their text, tags
(a map or struct column, as AWS writes them) as a JSON object, so that the rows are typed
and checked by the same SQL as a CSV file's.
"""

import hashlib
import io
import json
from collections.abc import Iterator
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

ParquetError = (pa.ArrowException, OSError, ValueError)

DIGEST_CHUNK = 1 << 20


def open_file(source: IO[bytes]) -> pq.ParquetFile:
    return pq.ParquetFile(source)


def _as_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    kind = column.type
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            column = pc.assume_timezone(column, "UTC")
        return pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ", locale="C")
    if pa.types.is_date(kind):
        return pc.strftime(pc.cast(column, pa.timestamp("s")), format="%Y-%m-%d", locale="C")
    if pa.types.is_map(kind) or pa.types.is_struct(kind) or pa.types.is_list(kind):
        values = []
        for value in column.to_pylist():
            if value is None:
                values.append(None)
            elif isinstance(value, list) and all(isinstance(v, tuple) for v in value):
                values.append(json.dumps(dict(value), default=str))
            else:
                values.append(json.dumps(value, default=str))
        return pa.array(values, type=pa.string())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column
    return pc.cast(column, pa.string())


def csv_chunks(handle: pq.ParquetFile, *, batch_rows: int) -> Iterator[bytes]:
    """The file's rows as CSV text, one chunk per record batch."""
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    for batch in handle.iter_batches(batch_size=batch_rows):
        table = pa.Table.from_arrays(
            [_as_text(column) for column in batch.columns], names=batch.schema.names
        )
        out = io.BytesIO()
        pa_csv.write_csv(table, out, write_options=options)
        yield out.getvalue()


def file_sha256(source: IO[bytes]) -> str:
    source.seek(0)
    digest = hashlib.sha256()
    while chunk := source.read(DIGEST_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()
