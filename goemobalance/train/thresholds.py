"""Decision thresholds tuned on the validation split: one per label, or one global value.

The candidate grid always contains 0.5 and ties keep 0.5, so tuning can never lower the tuned objective
on the validation split compared with the default 0.5 cut: per-label thresholds maximize each label's F1
(hence macro-F1); the global threshold maximizes micro- or macro-F1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_GRID = np.round(np.arange(0.02, 0.981, 0.01), 2)


@dataclass(frozen=True)
class Thresholds:
    """Per-label cut-offs (probability >= cut-off means the label is predicted) and how they were chosen.

    Parameters
    ----------
    per_label : np.ndarray
        One cut-off per label.
    mode : str, default "fixed"
        How they were chosen: ``"per_label"``, ``"global-<objective>"`` (`tune_thresholds`) or ``"fixed"``.
    """

    per_label: np.ndarray
    mode: str = "fixed"

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """A 0/1 int8 prediction matrix.

        Parameters
        ----------
        probabilities : array-like of shape (n_rows, n_labels)
            Per-label probabilities.

        Returns
        -------
        np.ndarray
            ``int8``, 1 where the probability reaches the label's cut-off.

        Raises
        ------
        ValueError
            If the number of columns differs from the number of cut-offs.
        """
        probabilities = np.asarray(probabilities)
        if probabilities.shape[1] != len(self.per_label):
            raise ValueError(f"{probabilities.shape[1]} label columns but {len(self.per_label)} thresholds")
        return (probabilities >= self.per_label[None, :]).astype(np.int8)

    def to_dict(self) -> dict:
        """JSON-ready form, read back by `from_dict`.

        Returns
        -------
        dict
            ``mode`` and ``per_label`` (a list of floats).
        """
        return {"mode": self.mode, "per_label": [float(t) for t in self.per_label]}

    @classmethod
    def from_dict(cls, data: dict) -> Thresholds:
        """The thresholds `to_dict` wrote.

        Parameters
        ----------
        data : dict
            ``per_label`` (required) and ``mode`` (default ``"fixed"``).

        Returns
        -------
        Thresholds
        """
        return cls(np.asarray(data["per_label"], dtype=np.float64), data.get("mode", "fixed"))

    @classmethod
    def constant(cls, n_labels: int, value: float = 0.5) -> Thresholds:
        """The same cut-off for every label.

        Parameters
        ----------
        n_labels : int
            Number of labels.
        value : float, default 0.5
            The cut-off.

        Returns
        -------
        Thresholds
            With mode ``"fixed"``.
        """
        return cls(np.full(n_labels, float(value)), "fixed")


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives and false negatives per label (column): the confusion counts F1 needs.

    (Not `goemobalance.publish.label_counts`, which counts the rows carrying each label.)
    """
    y_true, y_pred = np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)
    tp = (y_true & y_pred).sum(axis=0)
    fp = (~y_true & y_pred).sum(axis=0)
    fn = (y_true & ~y_pred).sum(axis=0)
    return tp, fp, fn


def f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 = 2TP / (2TP + FP + FN), 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros(np.shape(tp), dtype=np.float64), where=denominator > 0)


def tune_thresholds(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    *,
    mode: str = "per_label",
    objective: str = "macro",
    grid: np.ndarray = DEFAULT_GRID,
) -> Thresholds:
    """Thresholds maximizing validation F1: ``per_label`` (each label's F1) or ``global`` (micro/macro F1).

    Parameters
    ----------
    y_true : ndarray of shape (n, L)
        0/1 validation labels.
    y_prob : ndarray of shape (n, L)
        Predicted probabilities for the same rows.
    mode : {"per_label", "global", "none"}
        One threshold per label, one for all labels, or 0.5 everywhere.
    objective : {"macro", "micro"}
        The F1 that ``global`` maximises.
    grid : ndarray
        Candidate thresholds (0.5 is always added and kept wherever it already reaches the best F1).

    Returns
    -------
    Thresholds
    """
    y_true, y_prob = np.asarray(y_true), np.asarray(y_prob)
    if y_true.shape != y_prob.shape:
        raise ValueError(f"y_true {y_true.shape} and y_prob {y_prob.shape} must have the same shape")
    grid = np.unique(np.append(np.asarray(grid, dtype=np.float64), 0.5))
    n_labels = y_true.shape[1]
    if mode == "none":
        return Thresholds.constant(n_labels)
    counts = [confusion_counts(y_true, y_prob >= t) for t in grid]
    if mode == "per_label":
        f1 = np.stack([f1_from_counts(*c) for c in counts])
        best = _argmax_preferring_half(f1, grid)
        return Thresholds(grid[best], "per_label")
    if mode == "global":
        if objective == "micro":
            scores = np.array([f1_from_counts(tp.sum(), fp.sum(), fn.sum()) for tp, fp, fn in counts])
        elif objective == "macro":
            scores = np.array([f1_from_counts(*c).mean() for c in counts])
        else:
            raise ValueError(f"objective must be 'micro' or 'macro', got {objective!r}")
        best = _argmax_preferring_half(scores[:, None], grid)[0]
        return Thresholds(np.full(n_labels, grid[best]), f"global-{objective}")
    raise ValueError(f"mode must be 'per_label', 'global' or 'none', got {mode!r}")


def _argmax_preferring_half(scores: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Column-wise argmax over the grid; where 0.5 already reaches the maximum, keep 0.5."""
    half = int(np.flatnonzero(grid == 0.5)[0])
    best = scores.argmax(axis=0)
    keep_half = scores[half] >= scores.max(axis=0)
    return np.where(keep_half, half, best)


__all__ = ["DEFAULT_GRID", "Thresholds", "confusion_counts", "f1_from_counts", "tune_thresholds"]
