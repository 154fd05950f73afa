"""What every labeler shares: ``label(dataset)``, the batched ``__call__`` for `datasets.map` / Ray Data,
and writing labels, scores and provenance into the record schema.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import datasets
import numpy as np

from goemobalance.label.batching import available_cpus, predict_proba_in_batches
from goemobalance.label.selection import PROVENANCE_KEY, SelectionRule
from goemobalance.labels import LabelSpace
from goemobalance.mapped import pages_released
from goemobalance.schema import COLUMNS, features


class ProbaLabeler(ABC):
    """A labeler that maps texts to per-label probabilities; subclasses implement `predict_proba`.

    Subclasses also implement `provenance` and set the two attributes below; `label`, ``__call__`` and
    `map_fn` are shared.

    Attributes
    ----------
    space : LabelSpace
        The labels the probabilities are for, in column order.
    rule : SelectionRule or None
        The rule that turns probabilities into labels (None: `SelectionRule`'s defaults).
    """

    space: LabelSpace
    rule: SelectionRule | None
    #: Whether `predict_proba` is single-threaded Python (e.g. scikit-learn's TF-IDF analyzers), so that
    #: `label` predicts row batches in one worker process per CPU by default. Labelers whose model
    #: already uses every core (torch) leave it False.
    predicts_in_processes: ClassVar[bool] = False

    @property
    def active_rule(self) -> SelectionRule:
        """The rule `label` and ``__call__`` apply (offline labelers: the tuned rule once tuned)."""
        return self.rule or SelectionRule()

    @abstractmethod
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Per-label probabilities, shape (n, len(space)), float32, in `space` order.

        Parameters
        ----------
        texts : sequence of str
            The texts to score.

        Returns
        -------
        np.ndarray
            ``float32`` array of shape ``(len(texts), len(space))``, one row per text in input order.
        """

    @abstractmethod
    def provenance(self) -> dict[str, Any]:
        """What produced the labels (labeler kind, model id, revision...), stored in each row's meta.

        Returns
        -------
        dict
            JSON-ready description of the labeler.
        """

    def label(
        self, dataset: datasets.Dataset, rule: SelectionRule | None = None, *, n_jobs: int | None = None
    ) -> datasets.Dataset:
        """Pseudo-label every row of `dataset`: ``labels``, ``scores``, ``label_origin="pseudo"``, provenance.

        Parameters
        ----------
        dataset : datasets.Dataset
            Rows with a ``text`` column (the other schema columns are added when missing).
        rule : SelectionRule, optional
            The rule to apply instead of `active_rule`.
        n_jobs : int, optional
            Worker processes predicting row batches (`predict_proba_in_batches`); None: one per available
            CPU for labelers that `predicts_in_processes`, else 1. The labels are the same for any value.

        Returns
        -------
        datasets.Dataset
            The same rows, in order, with the predictions written by `write_predictions`.

        Raises
        ------
        SchemaError
            If the dataset has no ``text`` column.
        """
        _require_text(dataset)
        if n_jobs is None:
            n_jobs = available_cpus() if self.predicts_in_processes else 1
        probs = predict_proba_in_batches(self.predict_proba, dataset, len(self.space), n_jobs=n_jobs)
        return write_predictions(dataset, probs, self.space, rule or self.active_rule, self.provenance())

    def __call__(self, batch: Any) -> Any:
        """Label one batch (a dict of columns or a pandas DataFrame) for `datasets.map` / Ray `map_batches`."""
        rule = self.active_rule
        texts = list(batch["text"])
        probs = self.predict_proba(texts)
        metas = list(batch["meta"]) if "meta" in batch else ["{}"] * len(texts)
        columns = prediction_columns(probs, self.space, rule, self.provenance(), metas)
        if hasattr(batch, "assign"):
            return batch.assign(**columns)
        updated = dict(batch)
        updated.update(columns)
        return updated

    @property
    def map_fn(self):
        """This labeler as a batched `datasets.map` function: ``ds.map(labeler.map_fn, batched=True)``."""
        return self


def prediction_columns(
    probs: np.ndarray,
    space: LabelSpace,
    rule: SelectionRule,
    provenance: Mapping[str, Any],
    metas: Sequence[str],
) -> dict[str, list]:
    """The ``labels``/``scores``/``label_origin``/``meta`` columns for a block of probabilities."""
    probs = np.asarray(probs, dtype=np.float32)
    labels = rule.select(probs, space)
    stamp = dict(provenance, rule=rule.to_dict(space))
    return {
        "labels": labels,
        "scores": probs.tolist(),
        "label_origin": ["pseudo"] * len(labels),
        "meta": [_merged_meta(meta, stamp, bool(ids)) for meta, ids in zip(metas, labels)],
    }


def write_predictions(
    dataset: datasets.Dataset,
    probs: np.ndarray,
    space: LabelSpace,
    rule: SelectionRule,
    provenance: Mapping[str, Any],
) -> datasets.Dataset:
    """`dataset` in the record schema with the labels `rule` selects from `probs` and the provenance in meta.

    Parameters
    ----------
    dataset : datasets.Dataset
        The rows that were labelled (extra columns are kept).
    probs : ndarray of shape (n, L)
        Per-label probabilities in `space` order.
    space : LabelSpace
        The label space.
    rule : SelectionRule
        Turns probabilities into labels.
    provenance : mapping
        Model identity and settings, written into each row's ``meta``.

    Returns
    -------
    datasets.Dataset
        With ``labels``, ``scores``, ``label_origin="pseudo"`` and ``meta``.
    """
    probs = np.ascontiguousarray(probs, dtype=np.float32)
    if probs.shape != (len(dataset), len(space)):
        raise ValueError(f"expected probabilities of shape {(len(dataset), len(space))}, got {probs.shape}")
    dataset = _with_schema_columns(dataset)
    target = features(space)
    for name, feature in dataset.features.items():
        if name not in target:
            target[name] = feature

    def add_predictions(batch: dict, indices: list[int]) -> dict:
        columns = prediction_columns(probs[indices], space, rule, provenance, batch["meta"])
        return dict(batch, **columns)

    fingerprint = predictions_fingerprint(dataset, probs, space, rule, provenance)
    with pages_released(dataset):
        return dataset.map(add_predictions, with_indices=True, batched=True, batch_size=4096,
                           features=target, desc="write labels", new_fingerprint=fingerprint)  # fmt: skip


def predictions_fingerprint(
    dataset: datasets.Dataset,
    probs: np.ndarray,
    space: LabelSpace,
    rule: SelectionRule,
    provenance: Mapping[str, Any],
) -> str:
    """The `datasets` fingerprint of `write_predictions`' output: the input's fingerprint, the probabilities
    hashed where they lie, the labels, the rule and the provenance.

    Given no fingerprint, `datasets.Dataset.map` pickles the map function to hash it, and the function holds
    the whole probability matrix: a transient copy of twice its size (2.2 GB at 10M tweets).
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(dataset._fingerprint.encode())
    digest.update(memoryview(np.ascontiguousarray(probs)).cast("B"))
    settings = [list(space.names), rule.to_dict(space), dict(provenance)]
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _require_text(dataset: datasets.Dataset) -> None:
    if "text" not in dataset.column_names:
        raise ValueError(f"dataset has no 'text' column (columns: {dataset.column_names})")


def _with_schema_columns(dataset: datasets.Dataset) -> datasets.Dataset:
    """Add the schema columns a bare text dataset lacks (id from the row number, source 'unknown')."""
    n = len(dataset)
    defaults = {
        "id": lambda: [f"row:{i}" for i in range(n)],
        "source": lambda: ["unknown"] * n,
        "label_origin": lambda: ["pseudo"] * n,
        "meta": lambda: ["{}"] * n,
        "labels": lambda: [[] for _ in range(n)],
        "scores": lambda: [[] for _ in range(n)],
    }
    for column in COLUMNS:
        if column not in dataset.column_names:
            dataset = dataset.add_column(column, defaults[column]())
    if not isinstance(getattr(dataset.features["labels"], "feature", None), datasets.ClassLabel):
        dataset = dataset.remove_columns("labels").add_column("labels", [[] for _ in range(n)])
    return dataset


def _merged_meta(meta: str | None, stamp: Mapping[str, Any], labeled: bool) -> str:
    data = json.loads(meta) if meta else {}
    if not isinstance(data, dict):
        data = {"original_meta": data}
    data[PROVENANCE_KEY] = stamp
    data["labeled"] = labeled
    return json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
