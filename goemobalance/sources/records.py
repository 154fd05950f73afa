"""Column-wise dataset building and a vectorized schema check, so loaders stay fast on millions of rows.

`schema.from_records` + `schema.validate` walk the dataset row by row in Python (about 30 us a row);
`dataset_from_columns` builds the Arrow table directly and `validate_table` checks the same rules with
pyarrow compute kernels, raising the same `SchemaError` (naming row and field) on the first bad row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.schema import COLUMNS, LABEL_ORIGINS, SchemaError, features, label_space_of


def dataset_from_columns(
    *,
    ids: Sequence[str] | pa.Array,
    texts: Sequence[str] | pa.Array,
    labels: Sequence[Sequence[int]] | pa.Array,
    source: str | Sequence[str] | pa.Array,
    label_origin: str | Sequence[str] | pa.Array,
    metas: Sequence[str] | pa.Array,
    scores: Sequence[Sequence[float]] | pa.Array | None = None,
    space: LabelSpace = GOEMOTIONS,
    allow_unlabeled: bool = False,
    metas_from_meta_json: bool = False,
) -> datasets.Dataset:
    """A validated `Dataset` in the schema from whole columns (meta already JSON strings).

    Pass ``metas_from_meta_json=True`` when `metas` came from `meta_json` (objects by construction) to skip
    re-parsing every meta string, the slowest part of validation.
    """
    n = len(ids)
    table = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "text": pa.array(texts, pa.string()),
            "labels": _list_array(labels, pa.int64()),
            "source": _repeat_or_array(source, n),
            "label_origin": _repeat_or_array(label_origin, n),
            "scores": _list_array([[]] * n if scores is None else scores, pa.float32()),
            "meta": pa.array(metas, pa.string()),
        }
    )
    dataset = datasets.Dataset(table, info=datasets.DatasetInfo(features=features(space)))
    validate_table(dataset, allow_unlabeled=allow_unlabeled, check_meta=not metas_from_meta_json)
    return dataset


def meta_json(columns: dict[str, Sequence[Any]]) -> list[str]:
    """One JSON object string per row from column lists (keys sorted, like `schema.make_record`).

    A ``None`` value leaves the key out of that row's object.
    """
    keys = sorted(columns)
    lists = [columns[k] for k in keys]
    return [
        json.dumps({k: v for k, v in zip(keys, values) if v is not None}, ensure_ascii=False, default=str)
        for values in zip(*lists)
    ]


def validate_table(
    dataset: datasets.Dataset, *, allow_unlabeled: bool = False, check_meta: bool = True
) -> None:
    """Vectorized twin of `schema.validate`: same rules, same `SchemaError` messages, ~10-20x faster.

    `check_meta=False` skips parsing the meta JSON strings (for metas written by `meta_json`).
    """
    missing = [c for c in COLUMNS if c not in dataset.column_names]
    if missing:
        raise SchemaError(f"missing column(s) {missing}; a record has {list(COLUMNS)}")
    n_labels = len(label_space_of(dataset))
    table = dataset.with_format("arrow")[:]
    if len(table) == 0:
        return
    ids = table.column("id").combine_chunks()
    failures: list[tuple[int, str, str]] = []

    def first(mask, field: str, why) -> None:
        mask = np.asarray(pc.fill_null(mask, True).to_numpy(zero_copy_only=False), dtype=bool)
        hits = np.flatnonzero(mask)
        if hits.size:
            row = int(hits[0])
            failures.append((row, field, why(row) if callable(why) else why))

    first(pc.equal(pc.utf8_length(pc.fill_null(ids, "")), 0), "id", "empty id")
    _check_duplicate_ids(ids, failures)
    texts = pc.fill_null(table.column("text").combine_chunks(), "")
    first(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(texts)), 0), "text", "empty text")
    _check_labels(table.column("labels").combine_chunks(), n_labels, allow_unlabeled, first)
    first(pc.equal(pc.utf8_length(pc.fill_null(table.column("source"), "")), 0), "source", "empty source")
    origins = table.column("label_origin").combine_chunks()
    first(
        pc.invert(pc.is_in(origins, value_set=pa.array(LABEL_ORIGINS))),
        "label_origin",
        lambda row: f"{origins[row].as_py()!r} is not one of {LABEL_ORIGINS}",
    )
    _check_scores(table.column("scores").combine_chunks(), n_labels, first)
    if check_meta:
        _check_meta(table.column("meta").combine_chunks(), failures)
    if failures:
        row, field, why = min(failures, key=lambda f: (f[0], COLUMNS.index(f[1])))
        raise SchemaError(f"row {row} (id={ids[row].as_py()!r}), field '{field}': {why}")


def _check_duplicate_ids(ids: pa.Array, failures: list) -> None:
    codes = np.asarray(pc.fill_null(ids, "").dictionary_encode().indices)
    _, first_index, inverse = np.unique(codes, return_index=True, return_inverse=True)
    duplicate_rows = np.flatnonzero(first_index[inverse] != np.arange(len(codes)))
    if duplicate_rows.size:
        row = int(duplicate_rows[0])
        failures.append((row, "id", f"duplicate id, first used by row {int(first_index[inverse[row]])}"))


def _check_labels(labels: pa.ListArray, n_labels: int, allow_unlabeled: bool, first) -> None:
    lengths = pc.list_value_length(labels)
    if not allow_unlabeled:
        first(pc.equal(lengths, 0), "labels", "no labels")
    rows = np.asarray(pc.list_parent_indices(labels))
    flat = np.asarray(pc.list_flatten(labels).to_numpy(zero_copy_only=False))
    bad = np.zeros(len(labels), dtype=bool)
    bad[rows[(flat < 0) | (flat >= n_labels)]] = True
    first(pa.array(bad), "labels", lambda row: f"label id outside 0..{n_labels - 1}: {labels[row].as_py()}")
    repeated = np.zeros(len(labels), dtype=bool)
    if flat.size:
        pairs = np.unique(np.stack([rows, flat]), axis=1)
        unique_per_row = np.bincount(pairs[0], minlength=len(labels))
        repeated = unique_per_row != np.asarray(lengths.to_numpy(zero_copy_only=False))
    first(pa.array(repeated), "labels", lambda row: f"repeated label id: {labels[row].as_py()}")


def _check_scores(scores: pa.ListArray, n_labels: int, first) -> None:
    lengths = pc.fill_null(pc.list_value_length(scores), 0)
    first(
        pc.and_(pc.not_equal(lengths, 0), pc.not_equal(lengths, n_labels)),
        "scores",
        lambda row: f"expected {n_labels} probabilities, got {len(scores[row])}",
    )
    flat = np.asarray(pc.list_flatten(scores).to_numpy(zero_copy_only=False), dtype=np.float64)
    rows = np.asarray(pc.list_parent_indices(scores))
    bad = np.zeros(len(scores), dtype=bool)
    bad[rows[~((flat >= 0.0) & (flat <= 1.0))]] = True
    first(pa.array(bad), "scores", "probabilities must lie in [0, 1]")


def _check_meta(metas: pa.Array, failures: list) -> None:
    for row, text in enumerate(metas.to_pylist()):
        if not text:
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            failures.append((row, "meta", f"not valid JSON: {exc}"))
            return
        if not isinstance(value, dict):
            failures.append((row, "meta", "must be a JSON object"))
            return


def _list_array(values, value_type: pa.DataType) -> pa.Array:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.cast(pa.list_(value_type))
    return pa.array(values, pa.list_(value_type))


def _repeat_or_array(value, n: int) -> pa.Array:
    if isinstance(value, str):
        return pa.array([value] * n, pa.string())
    return pa.array(value, pa.string())
