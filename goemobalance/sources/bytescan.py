"""Byte-level scans of Arrow string/binary arrays with numpy: which rows hold a kind of byte.

Arrow keeps every value of a string array in one buffer; a vectorised comparison over that buffer and
one `searchsorted` against the offsets find the few rows that need Python (a quote to escape, a non-ASCII
byte to decode, a quoted newline), much faster than a regex kernel over every value. `replace_rows` then
puts the fixed values of those rows back in one copy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BytePredicate = Callable[[np.ndarray], np.ndarray]
#: Up to this many replaced rows are spliced between slices; more go through `replace_with_mask`.
_SPLICE_ROWS = 64


def value_buffer(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The bytes (uint8) and the ``len + 1`` offsets of a string or binary array, without copying."""
    wide = pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type)
    buffers = values.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64 if wide else np.int32)
    offsets = offsets[values.offset : values.offset + len(values) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    return data, offsets


def value_lengths(values: pa.Array) -> np.ndarray:
    """Byte length of every value (0 for nulls), from the offsets."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.diff(value_buffer(values)[1]).astype(np.int64)


def rows_where(values: pa.Array, predicate: BytePredicate) -> np.ndarray:
    """Positions of the values holding at least one byte for which `predicate` (vectorised) is true."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    data, offsets = value_buffer(values)
    hits = np.flatnonzero(predicate(data[offsets[0] : offsets[-1]]))
    return unique_sorted(row_of(offsets, hits + offsets[0]))


def row_of(offsets: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The row holding each byte position, from the offsets `value_buffer` gives (ascending in, out)."""
    return np.searchsorted(offsets, positions, side="right").astype(np.int64) - 1


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """The distinct values of an ascending array (`np.unique` without its sort)."""
    if values.size == 0:
        return values.astype(np.int64)
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


def first_bytes(values: pa.Array) -> np.ndarray:
    """The first byte of every value (0 for empty values and nulls)."""
    data, offsets = value_buffer(values)
    lengths = np.diff(offsets)
    first = np.zeros(len(values), dtype=np.uint8)
    present = lengths > 0
    first[present] = data[offsets[:-1][present]]
    return first


def non_ascii(data: np.ndarray) -> np.ndarray:
    return data >= 0x80


def needs_json_escape(data: np.ndarray) -> np.ndarray:
    """Bytes `json.dumps` escapes: control characters, the quote and the backslash."""
    found = is_control(data)
    found |= data == 0x22
    found |= data == 0x5C
    return found


def is_control(data: np.ndarray) -> np.ndarray:
    """ASCII control characters (below 0x20)."""
    return data < 0x20


def byte_is(value: int) -> BytePredicate:
    """A predicate for one byte value (``byte_is(ord("&"))``)."""
    return lambda data: data == value


def replace_rows(values: pa.Array, rows: np.ndarray, new_values: pa.Array) -> pa.Array:
    """`values` with the values at `rows` (ascending) replaced by `new_values` (same type), in one copy.

    A few rows are spliced between slices of `values`; many go through Arrow's `replace_with_mask`.
    """
    if len(rows) == 0:
        return values
    if len(rows) > _SPLICE_ROWS:
        mask = np.zeros(len(values), dtype=bool)
        mask[rows] = True
        return pc.replace_with_mask(values, pa.array(mask), new_values)
    pieces, start = [], 0
    for index, row in enumerate(np.asarray(rows).tolist()):
        pieces += [values.slice(start, row - start), new_values.slice(index, 1)]
        start = row + 1
    pieces.append(values.slice(start))
    return pa.concat_arrays(pieces)


def replace_in_python(
    values: pa.Array, rows: np.ndarray, function: Callable[[str], str], source: pa.Array | None = None
) -> pa.Array:
    """`values` with the strings at `rows` (ascending) replaced by `function` of the strings of `source`
    (default `values`) there: the Python reference, for the few rows a vectorised kernel does not cover."""
    if len(rows) == 0:
        return values
    strings = (values if source is None else source).take(pa.array(rows)).to_pylist()
    return replace_rows(values, rows, pa.array([function(text) for text in strings], values.type))
