"""Turning per-label probabilities into labels: thresholds, confidence floor, label cap, top-1 fallback.

`SelectionRule` is applied when labelling and again by `accept`, which splits a labelled dataset into
accepted and rejected rows (with a ``reject_reason`` column) so a rule can be changed without relabelling.
Thresholds are chosen on held-out data by `goemobalance.label.acceptance.tune_acceptance`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import datasets
import numpy as np
from sklearn.metrics import f1_score

from goemobalance.labels import LabelSpace
from goemobalance.schema import label_space_of

REJECT_UNSCORED = "unscored"
REJECT_LOW_CONFIDENCE = "low_confidence"
REJECT_NO_LABEL = "no_label_above_threshold"


@dataclass(frozen=True)
class SelectionRule:
    """How probabilities become labels.

    - ``threshold``: one global threshold, a list with one per label, or a ``{label name: threshold}``
      mapping (labels not named use ``default_threshold``); ``inf`` (or None) means the label is never kept;
    - ``min_confidence``: rows whose top probability is below it get no labels (rejected by `accept`);
    - ``max_labels``: keep at most this many labels per row, the most probable first (None: no cap);
    - ``top1_fallback``: when no label passes its threshold, keep the single most probable label.
    """

    threshold: float | Sequence[float] | Mapping[str, float] = 0.5
    min_confidence: float = 0.0
    max_labels: int | None = None
    top1_fallback: bool = True
    default_threshold: float = 0.5

    def thresholds(self, space: LabelSpace) -> np.ndarray:
        """The per-label thresholds in `space` order (None, as `to_dict` writes ``inf``, is ``inf``)."""
        if isinstance(self.threshold, Mapping):
            values = np.full(len(space), self.default_threshold, dtype=np.float64)
            for name, value in self.threshold.items():
                values[space.id(name)] = _as_threshold(value)
            return values
        if isinstance(self.threshold, (int, float)):
            return np.full(len(space), float(self.threshold), dtype=np.float64)
        values = np.asarray([_as_threshold(value) for value in self.threshold], dtype=np.float64)
        if values.shape != (len(space),):
            raise ValueError(f"expected {len(space)} per-label thresholds, got shape {values.shape}")
        return values

    def select_mask(self, probs: np.ndarray, space: LabelSpace) -> np.ndarray:
        """An (n, L) boolean matrix of the labels this rule keeps for each row."""
        probs = np.asarray(probs, dtype=np.float64)
        keep = probs >= self.thresholds(space)
        if self.top1_fallback and probs.shape[1]:
            empty = ~keep.any(axis=1)
            keep[np.flatnonzero(empty), probs[empty].argmax(axis=1)] = True
        if self.max_labels is not None:
            keep &= _top_k_mask(np.where(keep, probs, -np.inf), self.max_labels)
        if self.min_confidence > 0 and probs.shape[1]:
            keep[probs.max(axis=1) < self.min_confidence] = False
        return keep

    def select(self, probs: np.ndarray, space: LabelSpace) -> list[list[int]]:
        """Sorted label ids kept per row."""
        return space.from_multi_hot(self.select_mask(probs, space))

    def reject_reasons(self, probs: np.ndarray, space: LabelSpace) -> list[str]:
        """Why each row would be rejected by `accept` ('' for rows that are accepted)."""
        probs = np.asarray(probs, dtype=np.float64)
        if not len(probs):
            return []
        keep = self.select_mask(probs, space)
        low = probs.max(axis=1) < self.min_confidence
        return [
            REJECT_LOW_CONFIDENCE if is_low else ("" if kept.any() else REJECT_NO_LABEL)
            for is_low, kept in zip(low, keep)
        ]

    def to_dict(self, space: LabelSpace) -> dict:
        """A JSON-ready description (per-label thresholds spelt out) for provenance.

        A label that accepts nothing (threshold ``inf``) is written as None, which strict JSON allows.
        """
        data = asdict(self)
        data["threshold"] = [round(float(t), 6) if np.isfinite(t) else None for t in self.thresholds(space)]
        data.pop("default_threshold")
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> SelectionRule:
        """The rule `to_dict` described (extra keys are ignored)."""
        threshold = data["threshold"]
        if isinstance(threshold, list):
            threshold = [_as_threshold(value) for value in threshold]
        return cls(threshold=threshold, min_confidence=data.get("min_confidence", 0.0),
                   max_labels=data.get("max_labels"), top1_fallback=data.get("top1_fallback", True))  # fmt: skip


def _as_threshold(value: float | None) -> float:
    """A threshold as a float; None (a label that accepts nothing) is ``inf``."""
    return np.inf if value is None else float(value)


def _top_k_mask(values: np.ndarray, k: int) -> np.ndarray:
    """True at each row's `k` largest finite values."""
    if k <= 0:
        return np.zeros(values.shape, dtype=bool)
    if k >= values.shape[1]:
        return np.isfinite(values)
    top = np.argpartition(-values, k - 1, axis=1)[:, :k]
    mask = np.zeros(values.shape, dtype=bool)
    np.put_along_axis(mask, top, True, axis=1)
    return mask & np.isfinite(values)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-averaged F1 over labels (labels never seen nor predicted count as 0)."""
    return float(f1_score(np.asarray(y_true), np.asarray(y_pred), average="macro", zero_division=0))


def accept(dataset: datasets.Dataset, rule: SelectionRule) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Split pseudo-labelled rows into (accepted, rejected) under `rule`; both get a ``reject_reason`` column.

    Labels of scored rows are re-derived from their ``scores`` with `rule`; rows whose ``label_origin``
    is not ``pseudo`` pass through unchanged; pseudo rows without scores are rejected as ``unscored``.
    """
    space = label_space_of(dataset)
    new_labels = [list(labels) for labels in dataset["labels"]]
    reasons = [""] * len(dataset)
    scores = dataset["scores"]
    pseudo = [i for i, origin in enumerate(dataset["label_origin"]) if origin == "pseudo"]
    scored = [i for i in pseudo if len(scores[i])]
    for i in set(pseudo) - set(scored):
        reasons[i] = REJECT_UNSCORED
    if scored:
        probs = np.asarray([scores[i] for i in scored], dtype=np.float64)
        for i, labels, reason in zip(scored, rule.select(probs, space), rule.reject_reasons(probs, space)):
            new_labels[i], reasons[i] = labels, reason
    rule_json = json.dumps(rule.to_dict(space))
    labelled = dataset.map(
        lambda row, i: {"labels": new_labels[i], "reject_reason": reasons[i],
                        "meta": _with_labeled_flag(row["meta"], bool(new_labels[i]), row["label_origin"])},
        with_indices=True, features=_with_reason(dataset.features), desc="accept",
    )  # fmt: skip
    accepted = labelled.filter(lambda r: r == "", input_columns="reject_reason")
    rejected = labelled.filter(lambda r: r != "", input_columns="reject_reason")
    accepted.info.description = rejected.info.description = f"accept rule: {rule_json}"
    return accepted, rejected


def _with_labeled_flag(meta: str, labeled: bool, origin: str) -> str:
    if origin != "pseudo":
        return meta
    data = json.loads(meta) if meta else {}
    data["labeled"] = labeled
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _with_reason(features: datasets.Features) -> datasets.Features:
    updated = features.copy()
    updated["reject_reason"] = datasets.Value("string")
    return updated
