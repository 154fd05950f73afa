"""The record every stage reads and writes, as `datasets.Features`, and its one validation function.

Columns:
- ``id``: stable string id (source prefix + source id, e.g. ``goemotions:eebbqej``);
- ``text``: the text;
- ``labels``: ``Sequence(ClassLabel(names=...))``, label ids in the label space;
- ``source``: where the row came from (``goemotions``, ``sentiment140``, ``llm``, ...);
- ``label_origin``: who labelled it (``human``, ``pseudo``, ``llm``, ``human-reviewed``);
- ``scores``: per-label probabilities for machine labels, empty for human labels;
- ``meta``: a JSON object (as a string) with the source's own fields and provenance.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import datasets
import numpy as np

from goemobalance.labels import GOEMOTIONS, LabelSpace

LABEL_ORIGINS: tuple[str, ...] = ("human", "pseudo", "llm", "human-reviewed")
COLUMNS: tuple[str, ...] = ("id", "text", "labels", "source", "label_origin", "scores", "meta")


class SchemaError(ValueError):
    """A record that does not fit the schema; the message names the row and the field."""


def features(space: LabelSpace = GOEMOTIONS) -> datasets.Features:
    """The `datasets.Features` of a record in `space`."""
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "text": datasets.Value("string"),
            "labels": datasets.Sequence(datasets.ClassLabel(names=list(space.names))),
            "source": datasets.Value("string"),
            "label_origin": datasets.Value("string"),
            "scores": datasets.Sequence(datasets.Value("float32")),
            "meta": datasets.Value("string"),
        }
    )


def label_space_of(dataset: datasets.Dataset) -> LabelSpace:
    """The label space stored in a dataset's ``labels`` feature."""
    feature = dataset.features["labels"]
    inner = getattr(feature, "feature", None)
    if not isinstance(inner, datasets.ClassLabel):
        raise SchemaError(f"column 'labels' must be Sequence(ClassLabel), got {feature}")
    return LabelSpace(tuple(inner.names))


def make_record(
    *,
    id: str,
    text: str,
    labels: Iterable[int],
    source: str,
    label_origin: str = "human",
    scores: Iterable[float] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One record as a plain dict, ready for `datasets.Dataset.from_list(..., features=features())`."""
    return {
        "id": str(id),
        "text": text,
        "labels": sorted({int(i) for i in labels}),
        "source": source,
        "label_origin": label_origin,
        "scores": [] if scores is None else [float(s) for s in scores],
        "meta": json.dumps(dict(meta or {}), ensure_ascii=False, sort_keys=True, default=str),
    }


def from_records(records: list[dict[str, Any]], space: LabelSpace = GOEMOTIONS) -> datasets.Dataset:
    """A validated `Dataset` in the schema from a list of records made with `make_record`."""
    if not records:
        return datasets.Dataset.from_dict({c: [] for c in COLUMNS}, features=features(space))
    columns = {c: [r[c] for r in records] for c in COLUMNS}
    dataset = datasets.Dataset.from_dict(columns, features=features(space))
    validate(dataset)
    return dataset


def multi_hot(dataset: datasets.Dataset, dtype=np.int8) -> np.ndarray:
    """The (n_rows, n_labels) 0/1 label matrix of a dataset in the schema."""
    space = label_space_of(dataset)
    return space.to_multi_hot(dataset["labels"], dtype=dtype)


def validate(dataset: datasets.Dataset, *, allow_unlabeled: bool = False) -> None:
    """Check every column and row; raise `SchemaError` naming the first bad row and field.

    Unlabeled rows (an empty ``labels`` list) are only allowed with ``allow_unlabeled=True``, for
    texts still waiting for the pseudo-labeler or the LLM annotator.
    """
    missing = [c for c in COLUMNS if c not in dataset.column_names]
    if missing:
        raise SchemaError(f"missing column(s) {missing}; a record has {list(COLUMNS)}")
    space = label_space_of(dataset)
    n_labels = len(space)
    seen_ids: dict[str, int] = {}
    for row, record in enumerate(dataset.select_columns(list(COLUMNS))):
        _validate_row(row, record, n_labels, seen_ids, allow_unlabeled)


def _validate_row(row: int, record: dict, n_labels: int, seen_ids: dict[str, int], allow_unlabeled: bool) -> None:
    def fail(field: str, why: str) -> None:
        raise SchemaError(f"row {row} (id={record.get('id')!r}), field '{field}': {why}")

    if not record["id"]:
        fail("id", "empty id")
    if record["id"] in seen_ids:
        fail("id", f"duplicate id, first used by row {seen_ids[record['id']]}")
    seen_ids[record["id"]] = row
    if not isinstance(record["text"], str) or not record["text"].strip():
        fail("text", "empty text")
    labels = record["labels"]
    if not labels and not allow_unlabeled:
        fail("labels", "no labels")
    if any(not 0 <= i < n_labels for i in labels):
        fail("labels", f"label id outside 0..{n_labels - 1}: {labels}")
    if len(set(labels)) != len(labels):
        fail("labels", f"repeated label id: {labels}")
    if not record["source"]:
        fail("source", "empty source")
    if record["label_origin"] not in LABEL_ORIGINS:
        fail("label_origin", f"{record['label_origin']!r} is not one of {LABEL_ORIGINS}")
    scores = record["scores"]
    if scores:
        if len(scores) != n_labels:
            fail("scores", f"expected {n_labels} probabilities, got {len(scores)}")
        if any(not (0.0 <= s <= 1.0) for s in scores):
            fail("scores", "probabilities must lie in [0, 1]")
    try:
        meta = json.loads(record["meta"]) if record["meta"] else {}
    except json.JSONDecodeError as exc:
        fail("meta", f"not valid JSON: {exc}")
    if not isinstance(meta, dict):
        fail("meta", "must be a JSON object")
