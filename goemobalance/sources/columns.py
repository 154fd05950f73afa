"""Whole-column parsers for the generic table loader: labels, multi-hot flags, ids, scores, meta values.

Each takes an Arrow array (a batch's column) and returns the parsed column plus ``{row: message}`` for
the rows it could not parse, so the loader reports them by line without a Python record per row. Python
runs only on the values Arrow kernels cannot handle exactly (floats and nested values written to JSON,
printed lists of scores), never on the common shapes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from goemobalance.labels import LabelSpace
from goemobalance.sources.records import RawJson, json_string_bodies

Errors = dict[int, str]
_INTEGER = r"^-?[0-9]+$"
_FLAG_WORDS = ["1", "0", "true", "false", "1.0", "0.0", ""]
_FLAG_VALUES = np.array([1, 0, 1, 0, 1, 0, 0], dtype=np.int8)


def label_ids(
    values: pa.Array, label_format: str, space: LabelSpace, class_names: list[str] | None = None
) -> tuple[pa.Array, Errors]:
    """Sorted label ids per row from a list column, a comma-separated string or a printed list.

    Printed lists come as JSON/Python (``[2, 25]``, ``['joy']``) or numpy (``[ 2 25]``, as written by
    `Dataset.to_csv`). ``label_format="auto"`` reads integer tokens as ids and others as names; a
    Dataset's own ClassLabel names (`class_names`) are translated by name.
    """
    rows, tokens, raw_repr = _label_tokens(values)
    errors: Errors = {}
    if class_names is not None:
        tokens = pa.array(class_names).take(pc.cast(tokens, pa.int64()))
    ids = np.full(len(tokens), -1, dtype=np.int64)
    bad = np.zeros(len(tokens), dtype=bool)
    messages: dict[int, str] = {}
    if pa.types.is_integer(tokens.type) or pa.types.is_floating(tokens.type):
        _numeric_label_ids(tokens, label_format, space, ids, bad, messages)
    else:
        _text_label_ids(tokens.cast(pa.string()), label_format, space, ids, bad, messages)
    for index in np.flatnonzero(bad):
        errors.setdefault(int(rows[index]), messages[int(index)])
    labels, repeated = _sorted_lists(rows, np.where(bad, 0, ids), len(values), len(space))
    for row in repeated:
        errors.setdefault(int(row), f"repeated label in {raw_repr(int(row))!r}")
    return labels, errors


def _label_tokens(values: pa.Array):
    """(row of each token, the tokens, a function giving a row's raw value for messages)."""
    if pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
        rows = np.asarray(pc.list_parent_indices(values), dtype=np.int64)
        return rows, pc.list_flatten(values), lambda row: values[row].as_py()
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        present = np.flatnonzero(np.asarray(values.is_valid()))
        return present, values.filter(values.is_valid()), lambda row: values[row].as_py()
    text = pc.utf8_trim_whitespace(values)
    printed = pc.and_(pc.starts_with(text, "["), pc.ends_with(text, "]"))
    inner = pc.if_else(printed, pc.utf8_slice_codeunits(text, 1, -1), text)
    spaced = pc.and_(printed, pc.invert(pc.match_substring(inner, ",")))
    inner = pc.if_else(spaced, pc.replace_substring_regex(pc.utf8_trim_whitespace(inner), r"\s+", ","), inner)
    parts = pc.split_pattern(inner, ",")
    rows = np.asarray(pc.list_parent_indices(parts), dtype=np.int64)
    tokens = pc.utf8_trim_whitespace(pc.list_flatten(parts))
    in_printed = np.asarray(pc.fill_null(printed, False), dtype=bool)[rows]
    unquoted = pc.utf8_trim(tokens, "'\"")
    tokens = pc.if_else(pa.array(in_printed), unquoted, tokens)
    keep = np.asarray(pc.greater(pc.utf8_length(tokens), 0), dtype=bool)
    return rows[keep], tokens.filter(pa.array(keep)), lambda row: values[row].as_py()


def _numeric_label_ids(tokens, label_format, space, ids, bad, messages) -> None:
    numbers = np.asarray(tokens.to_numpy(zero_copy_only=False), dtype=np.float64)
    integral = np.isfinite(numbers) & (numbers == np.round(numbers))
    for index in np.flatnonzero(~integral):
        bad[index] = True
        value = tokens[int(index)].as_py()
        kind = "label ids must be integers" if label_format == "ids" else "label names must be strings"
        messages[int(index)] = f"{kind}, got {value!r}"
    if label_format == "names":
        for index in np.flatnonzero(integral):
            bad[index] = True
            messages[int(index)] = f"label names must be strings, got {tokens[int(index)].as_py()!r}"
        return
    _check_range(np.where(integral, numbers, -1).astype(np.int64), integral, space, ids, bad, messages)


def _text_label_ids(tokens, label_format, space, ids, bad, messages) -> None:
    is_number = np.asarray(pc.match_substring_regex(tokens, _INTEGER), dtype=bool)
    as_ids = is_number if label_format == "auto" else np.full(len(tokens), label_format == "ids")
    for index in np.flatnonzero(as_ids & ~is_number):
        bad[index] = True
        messages[int(index)] = f"label ids must be integers, got {tokens[int(index)].as_py()!r}"
    numbers = np.zeros(len(tokens), dtype=np.int64)
    if is_number.any():
        numbers[is_number] = np.asarray(pc.cast(tokens.filter(pa.array(is_number)), pa.int64()))
    _check_range(numbers, as_ids & is_number, space, ids, bad, messages)
    named = ~as_ids
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(tokens))
    found = np.asarray(pc.fill_null(pc.index_in(lowered, value_set=pa.array(list(space.names))), -1))
    ids[named] = found[named]
    for index in np.flatnonzero(named & (found < 0)):
        bad[index] = True
        token = tokens[int(index)].as_py()
        messages[int(index)] = f"unknown label name {token!r}; known: {', '.join(space.names)}"


def _check_range(numbers, mask, space, ids, bad, messages) -> None:
    inside = (numbers >= 0) & (numbers < len(space))
    ids[mask & inside] = numbers[mask & inside]
    for index in np.flatnonzero(mask & ~inside):
        bad[index] = True
        messages[int(index)] = f"unknown label id {int(numbers[index])}; valid ids are 0..{len(space) - 1}"


def _sorted_lists(
    rows: np.ndarray, ids: np.ndarray, n_rows: int, n_labels: int
) -> tuple[pa.Array, np.ndarray]:
    """A list<int64> array of each row's ids in ascending order, and the rows holding an id twice."""
    keys = np.sort(rows * n_labels + ids)
    repeated = np.unique(keys[1:][np.diff(keys) == 0] // n_labels) if keys.size > 1 else np.zeros(0, np.int64)
    offsets = np.searchsorted(keys // n_labels, np.arange(n_rows + 1), side="left").astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(keys % n_labels, pa.int64())), repeated


def multi_hot_labels(
    flags: Mapping[int, tuple[str, pa.Array]], n_rows: int, n_labels: int
) -> tuple[pa.Array, Errors]:
    """Sorted label ids per row from 0/1 columns (``{label id: (column name, values)}``)."""
    errors: Errors = {}
    row_parts, id_parts = [], []
    for label_id, (column, values) in flags.items():
        on, bad = _flags(values)
        for row in np.flatnonzero(bad):
            errors.setdefault(
                int(row), f"multi-hot column {column!r} must be 0 or 1, got {values[int(row)].as_py()!r}"
            )
        hits = np.flatnonzero(on & ~bad)
        row_parts.append(hits)
        id_parts.append(np.full(hits.size, label_id, dtype=np.int64))
    rows = np.concatenate(row_parts) if row_parts else np.zeros(0, np.int64)
    ids = np.concatenate(id_parts) if id_parts else np.zeros(0, np.int64)
    labels, _ = _sorted_lists(rows.astype(np.int64), ids, n_rows, n_labels)
    return labels, errors


def _flags(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(value is 1, value is not a 0/1 flag) for bool, numeric or text columns; null reads as 0."""
    valid = np.asarray(values.is_valid(), dtype=bool)
    if pa.types.is_boolean(values.type):
        return np.asarray(pc.fill_null(values, False), dtype=bool), np.zeros(len(values), dtype=bool)
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        numbers = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        return valid & (numbers == 1), valid & ~np.isin(numbers, (0.0, 1.0))
    words = pc.utf8_lower(pc.utf8_trim_whitespace(values.cast(pa.string())))
    index = np.asarray(pc.fill_null(pc.index_in(words, value_set=pa.array(_FLAG_WORDS)), -1))
    known = index >= 0
    return valid & known & (_FLAG_VALUES[np.where(known, index, 0)] == 1), valid & ~known


def id_strings(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """``str(value).strip()`` of every id, and the rows where it is empty (or null)."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        text = pc.utf8_trim_whitespace(values)
    elif pa.types.is_integer(values.type):
        text = values.cast(pa.string())
    else:
        text = pa.array([None if v is None else str(v).strip() for v in values.to_pylist()], pa.string())
    empty = np.asarray(pc.fill_null(pc.equal(pc.utf8_length(text), 0), True), dtype=bool)
    return pc.fill_null(text, ""), empty


def score_lists(values: pa.Array, n_labels: int) -> tuple[pa.Array, Errors]:
    """Per-row probabilities (``n_labels`` in [0, 1], or none) from a list column or printed lists."""
    errors: Errors = {}
    if pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
        lists = values
    else:
        parsed = []
        for row, value in enumerate(values.to_pylist()):
            try:
                parsed.append(_printed_floats(value))
            except ValueError:
                errors[row] = f"scores must be numbers, got {value!r}"
                parsed.append([])
        lists = pa.array(parsed, pa.list_(pa.float64()))
    try:
        lists = lists.cast(pa.list_(pa.float32()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([[]] * len(values), pa.list_(pa.float32())), dict.fromkeys(
            range(len(values)), f"scores must be numbers, got {values.type}"
        )
    lengths = np.asarray(pc.fill_null(pc.list_value_length(lists), 0), dtype=np.int64)
    flat = np.asarray(pc.list_flatten(lists).to_numpy(zero_copy_only=False), dtype=np.float64)
    outside = np.zeros(len(lists), dtype=bool)
    outside[np.asarray(pc.list_parent_indices(lists))[~((flat >= 0) & (flat <= 1))]] = True
    for row in np.flatnonzero(((lengths != 0) & (lengths != n_labels)) | outside):
        errors.setdefault(int(row), f"scores must be {n_labels} probabilities in [0, 1]")
    return pc.fill_null(lists, pa.scalar([], pa.list_(pa.float32()))), errors


def _printed_floats(value) -> list[float]:
    if value is None or value == "":
        return []
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    parts = text.split(",") if "," in text else text.split()
    return [float(p.strip().strip("'\"")) for p in parts if p.strip().strip("'\"")]


def json_values(values: pa.Array) -> RawJson:
    """The JSON text of every value, as ``json.dumps(..., ensure_ascii=False, sort_keys=True, default=str)``.

    Strings, integers and booleans are converted with Arrow kernels; floats and nested values (where
    Python's formatting is the reference) go through `json.dumps`. Nulls become ``null``.
    """
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pc.binary_join_element_wise('"', json_string_bodies(values), '"', "")
    elif pa.types.is_integer(kind):
        text = values.cast(pa.string())
    elif pa.types.is_boolean(kind):
        text = pc.if_else(values, "true", "false")
    else:
        dumped = [json.dumps(v, ensure_ascii=False, sort_keys=True, default=str) for v in values.to_pylist()]
        return RawJson(pa.array(dumped, pa.string()))
    return RawJson(pc.fill_null(text, "null"))
