"""Vectorised row checks for the streaming loaders: decoding, bad rows per batch, repeated ids.

A loader checks a whole batch with Arrow kernels and numpy, then reports only the bad rows one by one
(`RowChecks.settle`): in file order, the first failing check naming each row, so ``on_error="raise"``
names the first bad line of the file and ``"skip"`` counts every bad row by reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from goemobalance.sources.bytescan import first_bytes, non_ascii, replace_rows, rows_where, value_lengths
from goemobalance.sources.errors import RowErrors
from goemobalance.sources.reading import BadRecord

#: ASCII bytes that are not whitespace in Python's sense (`str.isspace`): a text starting with one is not blank.
_SOLID_ASCII = np.ones(256, dtype=bool)
_SOLID_ASCII[[*range(0x09, 0x0E), *range(0x1C, 0x21)]] = False
_SOLID_ASCII[0x80:] = False


class RowChecks:
    """The bad rows of one batch: each row is named by the first check it fails, with its line."""

    def __init__(self, lines: np.ndarray):
        self.lines = lines
        self.bad = np.zeros(len(lines), dtype=bool)
        self.found: list[tuple[int, str, str]] = []

    def fail(self, mask: np.ndarray | pa.Array, kind: str, message: str | Callable[[int], str]) -> None:
        """Mark the rows in `mask` bad (unless an earlier check did), with a message per row."""
        mask = np.asarray(pc.fill_null(mask, True) if isinstance(mask, pa.Array) else mask, dtype=bool)
        rows = np.flatnonzero(mask & ~self.bad)
        for row in rows:
            text = message(int(row)) if callable(message) else message
            self.found.append((int(self.lines[row]), text, kind))
        self.bad[rows] = True

    def add_records(self, records: list[BadRecord]) -> None:
        """Records the reader could not make rows of (wrong field count, truncated file)."""
        self.found.extend((r.line, r.reason, r.kind) for r in records)

    @property
    def first_line(self) -> int | None:
        return min(line for line, _, _ in self.found) if self.found else None

    def settle(self, errors: RowErrors) -> np.ndarray:
        """Report every bad row in line order (raising at the first under "raise"); the rows to keep."""
        for line, text, kind in sorted(self.found):
            errors.bad(line, text, kind)
        return ~self.bad


class SeenIds:
    """Ids of the rows kept so far (numbers or strings) with their lines, to find repeats at any point."""

    def __init__(self) -> None:
        self._keys: list[np.ndarray | pa.Array] = []
        self._lines: list[np.ndarray] = []

    def add(self, keys: np.ndarray | pa.Array, lines: np.ndarray) -> None:
        self._keys.append(keys)
        self._lines.append(np.asarray(lines, dtype=np.int64))

    def repeats(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions (in the order added) of rows whose id was seen before, and the first row of each.

        A hash table (pandas) finds the repeats in one pass; only the few repeated ids are then looked up.
        """
        if not self._keys:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        if isinstance(self._keys[0], np.ndarray):
            codes = np.concatenate(self._keys)
        else:
            codes = np.asarray(pa.chunked_array(self._keys).combine_chunks().dictionary_encode().indices)
        positions = np.flatnonzero(pd.Series(codes).duplicated(keep="first").to_numpy())
        if positions.size == 0:
            return positions.astype(np.int64), np.zeros(0, dtype=np.int64)
        repeated = np.unique(codes[positions])
        first_positions = np.flatnonzero(np.isin(codes, repeated))
        first_of = dict(zip(codes[first_positions][::-1].tolist(), first_positions[::-1].tolist()))
        return positions.astype(np.int64), np.array(
            [first_of[c] for c in codes[positions].tolist()], dtype=np.int64
        )

    def key(self, position: int):
        """The id of the row at `position` (in the order added)."""
        for keys in self._keys:
            if position < len(keys):
                value = keys[position]
                return value.as_py() if isinstance(value, pa.Scalar) else value.item()
            position -= len(keys)
        raise IndexError(position)

    def lines(self) -> np.ndarray:
        return np.concatenate(self._lines) if self._lines else np.zeros(0, dtype=np.int64)


class Decoded(NamedTuple):
    """A binary column decoded to strings, with the rows that needed more than ASCII."""

    strings: pa.Array
    non_ascii: np.ndarray
    fallback: np.ndarray
    failed: dict[int, str]


def decode(column: pa.Array, encoding: str = "utf-8", fallback: str | None = None) -> Decoded:
    """Binary -> string with `encoding` (strict); where it fails, `fallback` if given, else the row fails.

    ASCII values (nearly all) are taken as they are; only the values holding a non-ASCII byte are
    checked, with one Arrow cast of that subset for UTF-8 and Python's codecs otherwise. Failed rows are
    left empty and listed in `failed` with the codec's message.
    """
    rows = rows_where(column, non_ascii)
    none = np.zeros(0, dtype=np.int64)
    if rows.size == 0:
        return Decoded(column.view(pa.string()), rows, none, {})
    subset = column.take(pa.array(rows))
    is_utf8 = encoding.replace("_", "-").lower() in ("utf-8", "utf8")
    if is_utf8:
        try:
            subset.cast(pa.string())
            return Decoded(column.view(pa.string()), rows, none, {})
        except pa.ArrowInvalid:
            pass
    replaced_rows, texts, used_fallback, failed = [], [], [], {}
    for row, raw in zip(rows.tolist(), subset.to_pylist()):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            if fallback is None:
                failed[row] = str(exc)
                text = ""
            else:
                text = raw.decode(fallback)
                used_fallback.append(row)
        else:
            if is_utf8:
                continue  # valid UTF-8 stays as it is in the column
        replaced_rows.append(row)
        texts.append(text)
    strings = _replace(column, np.asarray(replaced_rows, dtype=np.int64), texts)
    return Decoded(strings, rows, np.asarray(used_fallback, dtype=np.int64), failed)


def blank_text(texts: pa.Array) -> np.ndarray:
    """Rows whose text is empty or only whitespace in Python's sense (``not text.strip()``).

    A row starting with a non-space ASCII byte is not blank; only the others (empty, starting with a
    space or a non-ASCII character: few) are checked in Python.
    """
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    blank = value_lengths(texts) == 0
    candidates = np.flatnonzero(~blank & ~_SOLID_ASCII[first_bytes(texts)])
    for row, text in zip(candidates, texts.take(pa.array(candidates)).to_pylist()):
        blank[row] = not (text or "").strip()
    return blank


def _replace(column: pa.Array, rows: np.ndarray, texts: list[str]) -> pa.Array:
    """`column` as strings with the values at `rows` (ascending) replaced by `texts` (the others must be
    valid UTF-8)."""
    patches = pa.array([t.encode() for t in texts], pa.binary())
    return replace_rows(column, rows, patches).view(pa.string())
