"""Setting one top-level flag in the ``meta`` column of millions of rows without a Python parse per row.

Setting a flag such as ``meta["labeled"]`` by parsing and dumping every row in Python costs tens of
microseconds a row: most of `accept`'s time on 1.6M tweets. `set_flag` reads every row's current value
with Arrow's JSON reader (one C++ pass over the batch) and rewrites only the rows whose value changes, by
replacing the ``true``/``false`` token after the key.

Byte for byte the same as parsing and dumping with sorted keys needs text that is already in that form.
Not every writer's is (the loaders keep the cleaning options in their own order), so only rows carrying a
proof of it are edited in place: a top-level object under `proof_key`, such as the labeler's
``pseudo_label`` stamp, which is only ever written by ``json.dumps(..., sort_keys=True)``. Every other row
(no proof, null or empty meta, no such key at the top level, a key written twice, a value that is not a
JSON boolean, a raw line break in the text) goes through `json` exactly as before (`with_flag`).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from goemobalance.sources.bytescan import rows_where, value_buffer

_LITERALS = {True: b"true", False: b"false"}


def set_flag(
    metas: pa.Array | pa.ChunkedArray, key: str, rows: np.ndarray, values: np.ndarray, *, proof_key: str
) -> pa.Array:
    """`metas` with the top-level boolean `key` set to ``values[i]`` on row ``rows[i]`` (other rows kept).

    Parameters
    ----------
    metas : pyarrow.Array or pyarrow.ChunkedArray
        JSON object texts (strings; nulls allowed).
    key : str
        The top-level key to set.
    rows : numpy.ndarray
        Ascending positions of the rows to set.
    values : numpy.ndarray
        The boolean value for each of `rows`.
    proof_key : str
        A top-level key whose object marks text written by ``json.dumps(..., sort_keys=True)``.

    Returns
    -------
    pyarrow.Array
        The updated texts: for rows holding `key` once as a boolean and a `proof_key` object, the text
        with that token replaced where the value changes; for the others `with_flag`, i.e.
        ``json.dumps({**json.loads(meta or "{}"), key: value}, ensure_ascii=False, sort_keys=True)``.
    """
    metas = metas.combine_chunks() if isinstance(metas, pa.ChunkedArray) else metas
    rows = np.asarray(rows, dtype=np.int64)
    values = np.asarray(values, dtype=bool)
    if rows.size == 0:
        return metas
    current = top_level_flags(metas, key, proof_key)
    known = current[rows] >= 0
    flip = known & (current[rows] != values)
    texts = dict(zip(rows[flip].tolist(), _flipped(metas, rows[flip], key, values[flip], proof_key)))
    slow = ~known
    slow[flip] = [text is None for text in texts.values()]
    for row, meta, value in zip(
        rows[slow].tolist(), metas.take(pa.array(rows[slow])).to_pylist(), values[slow]
    ):
        texts[row] = with_flag(meta, key, bool(value))
    changed = np.array(sorted(texts), dtype=np.int64)
    if changed.size == 0:
        return metas
    mask = np.zeros(len(metas), dtype=bool)
    mask[changed] = True
    replacements = pa.array([texts[row] for row in changed.tolist()], metas.type)
    return pc.replace_with_mask(metas, pa.array(mask), replacements)


def with_flag(meta: str | None, key: str, value: bool) -> str:
    """One row the Python way: parse, set the key, dump with sorted keys (the reference for `set_flag`)."""
    data = json.loads(meta) if meta else {}
    data[key] = value
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def top_level_flags(metas: pa.Array, key: str, proof_key: str) -> np.ndarray:
    """Each row's top-level boolean `key` as read by Arrow's JSON reader: 1 true, 0 false, -1 otherwise.

    -1 covers a null or empty text, a text with a raw line break (the reader reads one object a line),
    no such key, a value that is not a boolean, and a row without a `proof_key` object. A batch the
    reader rejects (a text that is not a JSON object, a key written twice, a non-boolean value or a
    non-object proof somewhere) is all -1, so its rows take the Python path.
    """
    flags = np.full(len(metas), -1, dtype=np.int8)
    if len(metas) == 0:
        return flags
    unreadable = np.zeros(len(metas), dtype=bool)
    unreadable[rows_where(metas, _line_break)] = True
    unreadable |= np.asarray(pc.fill_null(pc.equal(pc.binary_length(metas), 0), True), dtype=bool)
    readable = pc.replace_with_mask(
        metas, pa.array(unreadable), pa.repeat(pa.scalar("{}"), int(unreadable.sum()))
    )
    lines = pc.binary_join_element_wise(readable, "\n", "")
    data, offsets = value_buffer(lines)
    buffer = pa.py_buffer(data[offsets[0] : offsets[-1]])
    schema = pa.schema([(key, pa.bool_()), (proof_key, pa.struct([]))])
    try:
        table = pa_json.read_json(
            pa.BufferReader(buffer),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=buffer.size + 1),
            parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return flags
    if table.num_rows != len(metas):
        return flags
    column = table.column(key).combine_chunks()
    proven = np.asarray(table.column(proof_key).is_valid(), dtype=bool)
    present = np.asarray(column.is_valid(), dtype=bool) & proven & ~unreadable
    value = np.asarray(pc.fill_null(column, False), dtype=bool)
    flags[present] = value[present]
    return flags


def _line_break(data: np.ndarray) -> np.ndarray:
    return (data == 0x0A) | (data == 0x0D)


def _flipped(
    metas: pa.Array, rows: np.ndarray, key: str, values: np.ndarray, proof_key: str
) -> list[str | None]:
    """The rows' texts with the key's boolean token replaced by `values` (None where that is not safe).

    Safe means the key's quoted name appears once in the row, followed by ``: `` and the old token, and
    Arrow reads the new value back from the edited text.
    """
    subset = metas.take(pa.array(rows))
    name = json.dumps(key, ensure_ascii=False)
    once = np.asarray(pc.equal(pc.count_substring(subset, name), 1), dtype=bool)
    texts: list[str | None] = []
    for text, single, value in zip(subset.cast(pa.binary()).to_pylist(), once, values.tolist()):
        head = name.encode() + b": " + _LITERALS[not value]
        start = text.find(head) if single else -1
        if start < 0:
            texts.append(None)
            continue
        end = start + len(head)
        texts.append(
            (text[: end - len(_LITERALS[not value])] + _LITERALS[value] + text[end:]).decode("utf-8")
        )
    edited = [i for i, text in enumerate(texts) if text is not None]
    if edited:
        check = top_level_flags(pa.array([texts[i] for i in edited], pa.string()), key, proof_key)
        for i, flag in zip(edited, check.tolist()):
            if flag != int(values[i]):
                texts[i] = None
    return texts
