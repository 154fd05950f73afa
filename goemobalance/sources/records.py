"""Column-wise dataset building, so loaders stay fast on millions of rows.

`dataset_from_columns` builds the Arrow table directly (no per-row dicts) and checks it with the
vectorized `schema.validate`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import datasets
import pyarrow as pa

from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.schema import features, validate


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
    validate(dataset, allow_unlabeled=allow_unlabeled, check_meta=not metas_from_meta_json)
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


def _list_array(values, value_type: pa.DataType) -> pa.Array:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.cast(pa.list_(value_type))
    return pa.array(values, pa.list_(value_type))


def _repeat_or_array(value, n: int) -> pa.Array:
    if isinstance(value, str):
        return pa.array([value] * n, pa.string())
    return pa.array(value, pa.string())
