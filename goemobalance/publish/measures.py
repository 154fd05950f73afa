"""Per-label counts and imbalance measures for the card: the input pool before balancing vs the published set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import datasets
import numpy as np

from goemobalance.balance.stats import coefficient_of_variation, distribution_stats
from goemobalance.labels import LabelSpace
from goemobalance.schema import label_space_of, multi_hot

LabelData = datasets.Dataset | datasets.DatasetDict | Mapping[str, int]
STATS_KEYS: tuple[tuple[str, str], ...] = (
    ("mean_ir", "MeanIR"),
    ("max_ir", "MaxIR"),
    ("cvir", "CVIR"),
    ("scumble", "SCUMBLE"),
)


def label_counts(data: LabelData, space: LabelSpace | None = None) -> np.ndarray:
    """Rows carrying each label, summed over all splits; a mapping of label name -> count is taken as is.

    Parameters
    ----------
    data : Dataset, DatasetDict or mapping of str to int
        Rows in the record schema, or counts by label name.
    space : LabelSpace, optional
        Orders the counts of a mapping (required for one).

    Returns
    -------
    ndarray of int64, shape (L,)
    """
    if isinstance(data, Mapping) and not isinstance(data, datasets.DatasetDict):
        if space is None:
            raise ValueError("label counts given as a mapping need the label space to order them")
        unknown = sorted(set(data) - set(space.names))
        if unknown:
            raise ValueError(f"label counts name unknown labels {unknown}; known: {list(space.names)}")
        return np.array([int(data.get(name, 0)) for name in space.names], dtype=np.int64)
    return sum(multi_hot(split).sum(axis=0, dtype=np.int64) for split in _splits(data))


def imbalance_measures(data: datasets.Dataset | datasets.DatasetDict) -> dict[str, float]:
    """Rows, label cardinality, coefficient of variation of label counts, and MeanIR/MaxIR/CVIR/SCUMBLE.

    The four multi-label measures come from `goemobalance.balance.stats`.

    Parameters
    ----------
    data : datasets.Dataset or datasets.DatasetDict
        Rows in the record schema (all splits together).

    Returns
    -------
    dict of str to float
        ``rows``, ``label_cardinality``, ``count_cv`` and the measures of `goemobalance.balance.stats`.
    """
    splits = _splits(data)
    matrix = np.concatenate([multi_hot(split) for split in splits]) if splits else np.zeros((0, 0), np.int8)
    counts = matrix.sum(axis=0, dtype=np.int64)
    measures: dict[str, float] = {
        "rows": float(matrix.shape[0]),
        "label_cardinality": float(matrix.sum(axis=1).mean()) if matrix.shape[0] else 0.0,
        "count_cv": coefficient_of_variation(counts),
    }
    measures.update(_stats_measures(matrix, label_space_of(splits[0])) if splits else {})
    return measures


def label_space_of_any(data: LabelData) -> LabelSpace:
    """The label space of a Dataset or of the first split of a DatasetDict."""
    return label_space_of(_splits(data)[0])


def _splits(data: Any) -> list[datasets.Dataset]:
    if isinstance(data, datasets.DatasetDict):
        return list(data.values())
    if isinstance(data, datasets.Dataset):
        return [data]
    raise TypeError(f"expected a datasets.Dataset or DatasetDict, got {type(data).__name__}")


def _stats_measures(matrix: np.ndarray, space: LabelSpace) -> dict[str, float]:
    if matrix.shape[0] == 0:
        return {}
    values = distribution_stats(matrix, space).to_dict()
    return {label: _as_float(values[key]) for key, label in STATS_KEYS if key in values}


def _as_float(value: Any) -> float:
    return float("nan") if value is None else float(value)
