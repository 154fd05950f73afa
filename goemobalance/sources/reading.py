"""Streaming reads of delimited text files into Arrow record batches, with the 1-based line of every row.

`read_delimited` wraps pyarrow's streaming CSV reader (every column as raw bytes, quoted newlines as
Python's `csv` module reads them, a UTF-8 byte order mark dropped) and adds what a loader needs to report
bad input precisely: the physical line where each row starts, the rows with the wrong number of fields,
and the line where a truncated or corrupt gzip file stops (the complete lines before it are kept).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import queue
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from goemobalance.sources.bytescan import byte_is, rows_where, value_lengths
from goemobalance.sources.errors import is_gzip

#: Bytes parsed per batch: big enough that per-batch Python overhead is small (1.6M tweets: about 115
#: batches), small enough that the batches in flight stay a few tens of MB (4 MB: 0.1 GB more peak RSS
#: at 1.6M tweets for the same CPU time, docs/benchmarks.md).
BLOCK_SIZE = 2 << 20
_BOM = b"\xef\xbb\xbf"
_END = object()
#: Threads that prepare batches while the next one is parsed (1: everything in the calling thread).
WORKERS = min(2, os.cpu_count() or 1)
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class BadRecord:
    """A record that could not become a row: its 1-based line, the message and a reason kind."""

    line: int
    reason: str
    kind: str


@dataclass
class Chunk:
    """One batch of rows (every column binary), the 1-based line each row starts on, and bad records.

    `bad` holds the records of this stretch of the file that had the wrong number of fields, and at the
    end of a truncated gzip file a ``truncated_file`` record; rows of `batch` are complete records.
    """

    batch: pa.RecordBatch
    lines: np.ndarray
    bad: list[BadRecord] = field(default_factory=list)


class GzipInput(io.RawIOBase):
    """The decompressed bytes of a gzip file that end cleanly where the file is truncated or corrupt.

    Python's `gzip` raises `EOFError` at a truncated end and loses what it decompressed in that call.
    This reader decompresses with `zlib` piece by piece, stops at the last complete line before the
    damage, and records what happened in `broken` (None for an intact file). Multi-member files are read
    whole, like `gzip` does.
    """

    def __init__(self, path: str | Path):
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close(), which read_delimited calls
        self._inflate = zlib.decompressobj(wbits=31)
        self._pending = b""
        self._tail = b""
        self._done = False
        self.broken: str | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._pending and not self._done:
            self._fill()
        if size is None or size < 0 or size >= len(self._pending):
            data, self._pending = self._pending, b""
        else:
            data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _fill(self) -> None:
        compressed = self._file.read(BLOCK_SIZE // 4)
        try:
            data = self._tail + self._inflate_all(compressed)
        except zlib.error as exc:
            self._stop(f"zlib.error: {exc}")
            return
        if not compressed:
            if not self._inflate.eof:
                self._stop("EOFError: compressed file ended before the end-of-stream marker was reached")
            else:
                self._pending, self._tail, self._done = data, b"", True
            return
        cut = data.rfind(b"\n") + 1
        self._pending, self._tail = data[:cut], data[cut:]

    def _inflate_all(self, compressed: bytes) -> bytes:
        out = [self._inflate.decompress(compressed)]
        while self._inflate.eof and self._inflate.unused_data:
            rest = self._inflate.unused_data
            self._inflate = zlib.decompressobj(wbits=31)
            out.append(self._inflate.decompress(rest))
        return b"".join(out)

    def _stop(self, why: str) -> None:
        self.broken = why
        self._done = True

    def close(self) -> None:
        self._file.close()
        super().close()


def read_delimited(
    path: str | Path,
    *,
    delimiter: str = ",",
    quoting: bool = True,
    column_names: list[str] | None = None,
    field_count_message: Callable[[int], str] | None = None,
    block_size: int | None = None,
) -> Iterator[Chunk]:
    """Stream a delimited text file (plain or gzip) as `Chunk`s of binary columns, in file order.

    Parameters
    ----------
    path : str or Path
        The file; gzip files are recognised by their magic bytes.
    delimiter : str
        Field separator (``","`` or ``"\\t"``).
    quoting : bool
        Whether ``"`` quotes fields (CSV, with doubled quotes and newlines inside quotes, read as Python's
        `csv` module reads them); False for TSV files where quotes are ordinary characters.
    column_names : list of str, optional
        The columns of a file without a header row; None reads them from the first line.
    field_count_message : callable, optional
        Builds the message for a record with the wrong number of fields from the number it has.
    block_size : int, optional
        Bytes parsed per batch (default `BLOCK_SIZE`).

    Yields
    ------
    Chunk
        Rows with the right number of fields as a batch of binary columns, the 1-based line each starts
        on, and the bad records (wrong field count, truncated gzip) of the same stretch of the file.
    """
    header_lines = 0
    if column_names is None:
        column_names = read_header(path, delimiter, quoting)
        header_lines = 1
    invalid: list[tuple[int, str, int]] = []
    lock = threading.Lock()

    def on_invalid(row) -> str:
        with lock:
            invalid.append((row.number, row.text, row.actual_columns))
        return "skip"

    source = GzipInput(path) if is_gzip(path) else str(path)
    try:
        reader = _open_reader(source, column_names, header_lines, delimiter, quoting, on_invalid, block_size)
        expected = len(column_names)
        message = field_count_message or (lambda got: f"expected {expected} fields, got {got}")
        lines = _LineCounter(header_lines, message)
        if reader is not None:
            batches = _read_ahead(reader)
            try:
                for batch in batches:
                    with lock:
                        chunk = lines.chunk(batch, invalid)
                    yield chunk
            finally:
                batches.close()
        tail = lines.chunk(_empty_batch(column_names), invalid, final=True)
        broken = source.broken if isinstance(source, GzipInput) else None
        if broken:
            why = f"the gzip file is truncated or corrupt ({broken}); rows from this line on are lost"
            tail.bad.append(BadRecord(lines.next_line, why, "truncated_file"))
        if tail.bad or len(tail.batch):
            yield tail
    finally:
        if isinstance(source, GzipInput):
            source.close()


def _open_reader(source, column_names, header_lines, delimiter, quoting, on_invalid, block_size):
    """pyarrow's streaming CSV reader with every column as bytes (None for an empty file)."""
    try:
        return pa_csv.open_csv(
            source,
            read_options=pa_csv.ReadOptions(
                column_names=column_names,
                skip_rows=header_lines,
                use_threads=False,
                block_size=block_size or BLOCK_SIZE,
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter,
                quote_char='"' if quoting else False,
                double_quote=quoting,
                newlines_in_values=quoting,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(column_names, pa.binary()), strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" not in str(exc):
            raise
        return None


def _read_ahead(reader: pa.RecordBatchReader, depth: int = 2) -> Iterator[pa.RecordBatch]:
    """The reader's batches, parsed one or two ahead in a background thread while the caller works.

    pyarrow parses without the GIL, so parsing the next block overlaps with the caller's work on this
    one. Errors are raised here, in order; closing the iterator early stops the thread.
    """
    batches: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in reader:
                while not stop.is_set():
                    try:
                        batches.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            batches.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread and raised there
            batches.put(exc)

    thread = threading.Thread(target=produce, name="goemobalance-csv-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = batches.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                batches.get(timeout=0.1)
            except queue.Empty:
                continue
        thread.join()


def ordered_map(function: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> Iterator[R]:
    """``map(function, items)`` on a few worker threads, results in order, at most a few items ahead.

    Loaders prepare batches with Arrow and numpy kernels, which release the GIL, so batches prepared on
    two threads take about half the time on two cores; the caller reports and writes them in file order.
    """
    workers = workers or WORKERS
    if workers <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="goemobalance-load") as pool:
        pending: deque[Future] = deque()
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def read_header(path: str | Path, delimiter: str = ",", quoting: bool = True) -> list[str]:
    """The column names on the first line of a delimited file (a byte order mark dropped)."""
    with gzip.open(path, "rb") if is_gzip(path) else open(path, "rb") as handle:
        try:
            first = handle.readline(1 << 20)
        except (EOFError, OSError, zlib.error):
            first = b""
    first = first.removeprefix(_BOM)
    text = first.decode("utf-8", "replace").rstrip("\r\n")
    if not quoting:
        return text.split(delimiter) if text else []
    return next(csv.reader([text], delimiter=delimiter), [])


class _LineCounter:
    """Turns pyarrow's record numbers (valid rows in batches, invalid rows via the handler) into lines."""

    def __init__(self, header_lines: int, message: Callable[[int], str]):
        self.message = message
        self.records = header_lines
        self.next_line = header_lines + 1

    def chunk(self, batch: pa.RecordBatch, invalid: list[tuple[int, str, int]], final: bool = False) -> Chunk:
        n_valid = batch.num_rows
        taken = _invalid_in_chunk(invalid, self.records, n_valid, final)
        del invalid[: len(taken)]
        spans = np.empty(n_valid + len(taken), dtype=np.int64)
        is_bad = np.zeros(len(spans), dtype=bool)
        is_bad[[number - self.records - 1 for number, _, _ in taken]] = True
        spans[~is_bad] = 1 + _newlines_per_row(batch)
        spans[is_bad] = [1 + text.count("\n") for _, text, _ in taken]
        starts = self.next_line + np.concatenate(([0], np.cumsum(spans)[:-1])).astype(np.int64)
        bad = [
            BadRecord(int(line), self.message(0 if not text.strip("\r\n") else got), "field_count")
            for line, (_, text, got) in zip(starts[is_bad], taken)
        ]
        self.records += len(spans)
        self.next_line += int(spans.sum())
        return Chunk(batch, starts[~is_bad], bad)


def _invalid_in_chunk(
    invalid: list[tuple[int, str, int]], records_before: int, n_valid: int, final: bool
) -> list[tuple[int, str, int]]:
    """The leading invalid records that lie among (or right after) this batch's valid rows."""
    taken = []
    for item in invalid:
        position = item[0] - records_before - 1
        if not final and position - len(taken) > n_valid:
            break
        taken.append(item)
    return taken


def _newlines_per_row(batch: pa.RecordBatch) -> np.ndarray:
    """Newlines inside each row's fields (quoted newlines), found with one numpy pass per column."""
    counts = np.zeros(batch.num_rows, dtype=np.int64)
    for column in batch.columns:
        rows = rows_where(column, byte_is(ord("\n")))
        if rows.size:
            counts[rows] += np.asarray(pc.count_substring(column.take(pa.array(rows)), "\n"), dtype=np.int64)
    return counts


def _empty_batch(column_names: list[str]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], pa.binary()) for _ in column_names], names=column_names)


def drop_blank_rows(chunk: Chunk) -> tuple[pa.RecordBatch, np.ndarray, int]:
    """A chunk's batch and lines without its blank lines (no copy when it has none), and how many."""
    blank = blank_rows(chunk.batch)
    count = int(blank.sum())
    if not count:
        return chunk.batch, chunk.lines, 0
    return chunk.batch.filter(pa.array(~blank)), chunk.lines[~blank], count


def blank_rows(batch: pa.RecordBatch) -> np.ndarray:
    """Rows whose every field is empty: blank lines (pyarrow reads them as a row of empty fields)."""
    total = np.zeros(batch.num_rows, dtype=np.int64)
    for column in batch.columns:
        total += value_lengths(column)
    return total == 0
