"""Turning per-label probabilities into labels: thresholds, confidence floor, label cap, top-1 fallback.

`SelectionRule` is applied when labelling and again by `accept`, which splits a labelled dataset into
accepted and rejected rows (with a ``reject_reason`` column) so a rule can be changed without relabelling.
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
      mapping (labels not named use ``default_threshold``);
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
        """The per-label thresholds in `space` order."""
        if isinstance(self.threshold, Mapping):
            values = np.full(len(space), self.default_threshold, dtype=np.float64)
            for name, value in self.threshold.items():
                values[space.id(name)] = float(value)
            return values
        if isinstance(self.threshold, (int, float)):
            return np.full(len(space), float(self.threshold), dtype=np.float64)
        values = np.asarray(self.threshold, dtype=np.float64)
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
        """A JSON-ready description (per-label thresholds spelt out) for provenance."""
        data = asdict(self)
        data["threshold"] = [round(float(t), 6) for t in self.thresholds(space)]
        data.pop("default_threshold")
        return data


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


def tune_thresholds(y_true: np.ndarray, probs: np.ndarray, grid: Sequence[float] | None = None) -> np.ndarray:
    """Per-label thresholds that maximise each label's F1 on held-out data (e.g. the GoEmotions dev split)."""
    y_true = np.asarray(y_true).astype(bool)
    probs = np.asarray(probs, dtype=np.float64)
    grid = np.asarray(grid if grid is not None else np.round(np.arange(0.02, 0.96, 0.01), 2))
    best = np.full(y_true.shape[1], 0.5)
    for label in range(y_true.shape[1]):
        predicted = probs[:, label][:, None] >= grid[None, :]
        truth = y_true[:, label][:, None]
        tp = (predicted & truth).sum(0)
        f1 = 2 * tp / np.maximum(predicted.sum(0) + truth.sum(), 1)
        best[label] = grid[int(np.argmax(f1))]
    return best


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
