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
import os
import threading
from collections.abc import Iterator
from queue import Full, Queue
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

ParquetError = (pa.ArrowException, OSError, ValueError)

DIGEST_CHUNK = 1 << 20
# Column chunks are read through a buffer of this size, not whole (memory bounded).
BUFFER = 4 << 20


def open_file(source: IO[bytes]) -> pq.ParquetFile:
    """The Parquet file of ``source``: read through Arrow's own file (a path's descriptor,
    an upload's buffer) rather than Python calls when it can."""
    if isinstance(source, io.BytesIO):
        return pq.ParquetFile(pa.BufferReader(source.getbuffer()), buffer_size=BUFFER)
    name = getattr(source, "name", None)
    if isinstance(name, str) and os.path.isfile(name):
        return pq.ParquetFile(pa.OSFile(name), buffer_size=BUFFER)
    return pq.ParquetFile(source, buffer_size=BUFFER)


def _as_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        # A month of charges has a few hundred distinct instants: format each once.
        encoded = pc.dictionary_encode(column)
        values = encoded.dictionary
        if pa.types.is_date(kind):
            values = pc.cast(values, pa.timestamp("s"))
        elif kind.tz is None:
            values = pc.assume_timezone(values, "UTC")
        text = pc.strftime(values, format="%Y-%m-%dT%H:%M:%SZ", locale="C")
        return pc.take(text, encoded.indices)
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


def csv_chunks(
    handle: pq.ParquetFile, *, batch_rows: int, columns: list[str], ahead: int = 2
) -> Iterator[memoryview]:
    """The file's rows as CSV text of ``columns`` (in that order), one chunk per batch.

    The chunks are made on a thread of their own, at most ``ahead`` chunks in advance
    (Arrow releases the GIL while it decodes and formats), so that the next chunk is being
    made while the database reads the last one; memory stays bounded by ``ahead`` chunks.
    """
    return _prefetched(_csv_chunks(handle, batch_rows=batch_rows, columns=columns), ahead=ahead)


_DONE = object()


def _prefetched(chunks: Iterator[memoryview], *, ahead: int) -> Iterator[memoryview]:
    queue: Queue = Queue(maxsize=ahead)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        queue.put(chunk, timeout=0.5)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(_DONE)
        except BaseException as exc:  # handed to the reading thread, raised there
            queue.put(exc)

    worker = threading.Thread(target=produce, name="parquet-chunks", daemon=True)
    worker.start()
    try:
        while True:
            item = queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def _csv_chunks(
    handle: pq.ParquetFile, *, batch_rows: int, columns: list[str]
) -> Iterator[memoryview]:
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    # One thread: the import shares its cores with the database, which does the real work.
    for batch in handle.iter_batches(batch_size=batch_rows, columns=columns, use_threads=False):
        table = pa.Table.from_arrays(
            [_as_text(column) for column in batch.columns], names=batch.schema.names
        )
        out = io.BytesIO()
        pa_csv.write_csv(table, out, write_options=options)
        yield out.getbuffer()  # the written bytes, not a copy of them


def file_sha256(source: IO[bytes]) -> str:
    source.seek(0)
    digest = hashlib.sha256()
    while chunk := source.read(DIGEST_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()
