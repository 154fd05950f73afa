"""Choosing per-label acceptance thresholds on held-out data, and reporting what the accepted labels are worth.

Two ways to choose, both on labelled held-out data (the GoEmotions dev split; never the test split):

- **F1-optimal** (``target_precision=None``): each label's threshold maximises its F1 on a grid (or its
  F-beta with ``beta``: above 1 leans to recall, accepting more rows at lower precision);
- **precision target**: each label gets the *lowest* grid threshold whose accepted held-out rows reach the
  target precision by a conservative estimate: the one-sided Wilson score lower bound on precision (at
  ``confidence``, 95% by default) must be at least the target. The Wilson bound penalises thresholds that
  accept few held-out rows (3 of 3 correct gives 0.53, 20 of 20 gives 0.88), so a label with few held-out
  positives cannot pass on luck. A label that reaches the target at no threshold gets threshold ``inf``:
  it accepts nothing, and the report lists it as unreachable. The top-1 fallback is switched off in the
  resulting rule, since it would add labels that passed no threshold.

Scanning the grid and keeping the lowest passing threshold is a selection on the same data, so the bound
is slightly optimistic for the chosen threshold; docs/label.md compares it with GoEmotions test precision.

`tune_acceptance` returns an `AcceptanceReport`: the resulting `SelectionRule`, and per label the
threshold, held-out support, accepted rows, precision (point and lower bound) and recall of the labels the
rule selects (with its label cap and confidence floor applied), serialisable with ``to_dict()``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from goemobalance.errors import InputError
from goemobalance.label.selection import SelectionRule
from goemobalance.labels import GOEMOTIONS, LabelSpace

METHOD_PRECISION = "wilson-lower-bound"
F1_GRID = np.round(np.arange(0.02, 0.96, 0.01), 2)
PRECISION_GRID = np.round(np.arange(0.01, 1.0, 0.01), 2)


def wilson_lower_bound(successes: np.ndarray, trials: np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """One-sided Wilson score lower bound of a binomial proportion (vectorised; 0 where ``trials == 0``).

    Parameters
    ----------
    successes, trials : array-like of int
        Counts, broadcast against each other (e.g. true positives and accepted rows per threshold).
    confidence : float
        One-sided confidence level in (0.5, 1): the true proportion is above the bound with this probability.

    Returns
    -------
    numpy.ndarray
        The bounds, float64, same shape as the broadcast inputs. Equal to the lower end of scipy's
        ``binomtest(k, n).proportion_ci(2 * confidence - 1, method="wilson")``.
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    z = norm.ppf(confidence)
    safe_n = np.maximum(n, 1.0)
    p = k / safe_n
    centre = p + z * z / (2 * safe_n)
    spread = z * np.sqrt(p * (1 - p) / safe_n + z * z / (4 * safe_n * safe_n))
    bound = (centre - spread) / (1 + z * z / safe_n)
    return np.where(n > 0, np.clip(bound, 0.0, 1.0), 0.0)


@dataclass(frozen=True)
class LabelAcceptance:
    """What one label's accepted pseudo-labels are worth, measured on the held-out data they were tuned on.

    ``threshold`` is ``inf`` when the label accepts nothing; ``precision`` and ``precision_lower`` are
    None when no held-out row was accepted; ``reached`` is None in F1 mode (no target).

    Attributes
    ----------
    name : str
        The label.
    threshold : float
        Its acceptance threshold.
    support : int
        Held-out rows that carry the label.
    accepted : int
        Held-out rows the rule gives it.
    true_positives : int
        Accepted rows that carry it.
    precision : float or None
        ``true_positives / accepted``.
    precision_lower : float or None
        Wilson lower bound of that precision at the report's confidence.
    recall : float
        ``true_positives / support`` (0.0 without support).
    reached : bool or None
        Whether `precision_lower` reaches the target precision.
    """

    name: str
    threshold: float
    support: int
    accepted: int
    true_positives: int
    precision: float | None
    precision_lower: float | None
    recall: float
    reached: bool | None

    @property
    def accepts(self) -> bool:
        """Whether this label can be accepted at all (a finite threshold)."""
        return math.isfinite(self.threshold)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: an infinite threshold is written as None (``accepts: false``); ratios to 4 decimals.

        Returns
        -------
        dict
            The fields except ``name``, plus ``accepts``.
        """
        return {
            "threshold": round(self.threshold, 6) if self.accepts else None,
            "accepts": self.accepts,
            "support": self.support,
            "accepted": self.accepted,
            "true_positives": self.true_positives,
            "precision": _rounded(self.precision),
            "precision_lower": _rounded(self.precision_lower),
            "recall": _rounded(self.recall),
            "reached": self.reached,
        }


@dataclass(frozen=True)
class AcceptanceReport:
    """The thresholds chosen on held-out data, the rule they make, and each label's held-out precision.

    Attributes
    ----------
    method : str
        ``"wilson-lower-bound"`` (precision target), ``"f1-optimal"``, or ``"f<beta>-optimal"`` (e.g.
        ``"f2-optimal"``) for another beta.
    target_precision : float or None
        The precision each accepting label's lower bound reaches; None in F1 mode.
    confidence : float
        One-sided confidence of the Wilson lower bound.
    rule : SelectionRule
        The rule to label with: the base rule with these thresholds (no top-1 fallback with a target).
    labels : tuple of LabelAcceptance
        One entry per label, in label-space order.
    n_rows : int
        Held-out rows the thresholds were chosen on.
    tuned_on : str
        What those rows were (e.g. ``"goemotions dev"``), for the manifest and the dataset card.
    """

    method: str
    target_precision: float | None
    confidence: float
    rule: SelectionRule
    labels: tuple[LabelAcceptance, ...]
    n_rows: int
    tuned_on: str = "held-out data"

    @property
    def space(self) -> LabelSpace:
        """The label space, in the order of `labels`."""
        return LabelSpace(tuple(label.name for label in self.labels))

    @property
    def thresholds(self) -> np.ndarray:
        """Per-label thresholds in label-space order (``inf`` = accepts nothing)."""
        return np.asarray([label.threshold for label in self.labels], dtype=np.float64)

    @property
    def unreachable(self) -> list[str]:
        """Labels that accept nothing because no threshold reached the target precision."""
        return [label.name for label in self.labels if not label.accepts]

    def accepted_counts(self, probs: np.ndarray) -> dict[str, int]:
        """How many rows of `probs` (e.g. the unlabeled tweets) the rule gives each label.

        Parameters
        ----------
        probs : array-like of shape (n_rows, n_labels)
            Per-label probabilities in `space` order.

        Returns
        -------
        dict of str to int
            Label name -> rows that `rule` gives it.
        """
        mask = self.rule.select_mask(np.asarray(probs), self.space)
        return dict(zip(self.space.names, mask.sum(axis=0).astype(int).tolist()))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description for the build manifest and the dataset card.

        Returns
        -------
        dict
            ``method``, ``target_precision``, ``confidence``, ``tuned_on``, ``n_rows``, ``rule``
            (`SelectionRule.to_dict`), ``unreachable`` and ``labels`` (name -> `LabelAcceptance.to_dict`).
        """
        return {
            "method": self.method,
            "target_precision": self.target_precision,
            "confidence": self.confidence,
            "tuned_on": self.tuned_on,
            "n_rows": self.n_rows,
            "rule": self.rule.to_dict(self.space),
            "unreachable": self.unreachable,
            "labels": {label.name: label.to_dict() for label in self.labels},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AcceptanceReport:
        """The report `to_dict` wrote (e.g. read back from a saved labeler's manifest).

        Parameters
        ----------
        data : mapping
            A `to_dict` result.

        Returns
        -------
        AcceptanceReport
        """
        counts = (
            "support",
            "accepted",
            "true_positives",
            "precision",
            "precision_lower",
            "recall",
            "reached",
        )
        labels = tuple(
            LabelAcceptance(
                name=name,
                threshold=math.inf if entry["threshold"] is None else float(entry["threshold"]),
                **{key: entry[key] for key in counts},
            )
            for name, entry in data["labels"].items()
        )
        return cls(method=data["method"], target_precision=data["target_precision"],
                   confidence=data["confidence"], rule=SelectionRule.from_dict(data["rule"]), labels=labels,
                   n_rows=data["n_rows"], tuned_on=data.get("tuned_on", "held-out data"))  # fmt: skip


def tune_acceptance(
    y_true: np.ndarray,
    probs: np.ndarray,
    space: LabelSpace = GOEMOTIONS,
    *,
    target_precision: float | None = None,
    rule: SelectionRule | None = None,
    confidence: float = 0.95,
    grid: Sequence[float] | None = None,
    tuned_on: str = "held-out data",
    beta: float = 1.0,
) -> AcceptanceReport:
    """Choose per-label thresholds on held-out labelled data and report each label's precision there.

    Parameters
    ----------
    y_true : numpy.ndarray
        (n, L) 0/1 labels of the held-out rows (GoEmotions dev; never the test split).
    probs : numpy.ndarray
        (n, L) probabilities a labeler gives the same rows.
    space : LabelSpace
        The label space of the columns.
    target_precision : float or None
        None: F1-optimal thresholds. A value in (0, 1]: per label, the lowest grid threshold whose Wilson
        lower bound on precision reaches it; labels that never do get ``inf`` (accept nothing).
    rule : SelectionRule or None
        The base rule (label cap, confidence floor, fallback) the thresholds go into; default `SelectionRule()`.
    confidence : float
        One-sided confidence of the Wilson bound, in (0.5, 1).
    grid : sequence of float or None
        Candidate thresholds (default 0.02-0.95 for F1, 0.01-0.99 for a precision target, step 0.01).
    tuned_on : str
        A name for the held-out data, recorded in the report.
    beta : float
        Without a target precision: the thresholds maximise F-beta (``sklearn.metrics.fbeta_score``'s
        beta; 1 is F1, 2 weighs recall twice as much as precision). Ignored with a target precision.

    Returns
    -------
    AcceptanceReport
        The resulting rule, and per label the threshold and the held-out support, accepted rows,
        precision, its lower bound and recall of the labels that rule selects.
    """
    y, probs = _checked(y_true, probs, space)
    base = rule or SelectionRule()
    if not 0.5 < confidence < 1:
        raise InputError(f"confidence must be in (0.5, 1), got {confidence}")
    if target_precision is None:
        if not beta > 0:
            raise InputError(f"beta must be positive, got {beta}")
        candidates = F1_GRID if grid is None else np.asarray(grid, dtype=np.float64)
        thresholds = _fbeta_thresholds(y, probs, candidates, beta)
        final = dataclasses.replace(base, threshold=thresholds.tolist())
        return _report(y, probs, space, final, None, confidence, tuned_on, f"f{beta:g}-optimal")
    if not 0 < target_precision <= 1:
        raise InputError(f"target_precision must be in (0, 1], got {target_precision}")
    candidates = PRECISION_GRID if grid is None else np.asarray(grid, dtype=np.float64)
    thresholds = _precision_thresholds(y, probs, target_precision, confidence, candidates)
    while True:
        final = dataclasses.replace(base, threshold=thresholds.tolist(), top1_fallback=False)
        report = _report(y, probs, space, final, target_precision, confidence, tuned_on)
        short = [i for i, label in enumerate(report.labels) if label.accepts and not label.reached]
        if not short:
            return report
        thresholds[short] = np.inf  # the label cap or confidence floor pulled these below the target


def _fbeta_thresholds(y: np.ndarray, probs: np.ndarray, grid: np.ndarray, beta: float) -> np.ndarray:
    """Per label, the grid threshold with the highest F-beta (the first one on ties)."""
    weight = beta * beta
    best = np.empty(y.shape[1])
    for label in range(y.shape[1]):
        predicted = probs[:, label][:, None] >= grid[None, :]
        truth = y[:, label][:, None]
        tp = (predicted & truth).sum(0)
        score = (1 + weight) * tp / np.maximum(predicted.sum(0) + weight * truth.sum(), 1)
        best[label] = grid[int(np.argmax(score))]
    return best


def _precision_thresholds(
    y: np.ndarray, probs: np.ndarray, target: float, confidence: float, grid: np.ndarray
) -> np.ndarray:
    """Per label, the lowest grid threshold whose Wilson lower bound on precision reaches `target`, else inf."""
    chosen = np.full(y.shape[1], np.inf)
    grid = np.sort(grid)
    for label in range(y.shape[1]):
        predicted = probs[:, label][:, None] >= grid[None, :]
        accepted = predicted.sum(0)
        tp = (predicted & y[:, label][:, None]).sum(0)
        passing = np.flatnonzero(wilson_lower_bound(tp, accepted, confidence) >= target)
        if len(passing):
            chosen[label] = grid[passing[0]]
    return chosen


def _report(
    y: np.ndarray,
    probs: np.ndarray,
    space: LabelSpace,
    rule: SelectionRule,
    target: float | None,
    confidence: float,
    tuned_on: str,
    method: str = METHOD_PRECISION,
) -> AcceptanceReport:
    """Per-label held-out statistics of the labels `rule` selects."""
    selected = rule.select_mask(probs, space)
    support = y.sum(0)
    accepted = selected.sum(0)
    tp = (selected & y).sum(0)
    lower = wilson_lower_bound(tp, accepted, confidence)
    labels = tuple(
        LabelAcceptance(
            name=space.name(i),
            threshold=float(threshold),
            support=int(support[i]),
            accepted=int(accepted[i]),
            true_positives=int(tp[i]),
            precision=float(tp[i] / accepted[i]) if accepted[i] else None,
            precision_lower=float(lower[i]) if accepted[i] else None,
            recall=float(tp[i] / support[i]) if support[i] else 0.0,
            reached=None if target is None else bool(accepted[i] and lower[i] >= target),
        )
        for i, threshold in enumerate(rule.thresholds(space))
    )
    return AcceptanceReport(method, target, confidence, rule, labels, len(y), tuned_on)


def _checked(y_true: np.ndarray, probs: np.ndarray, space: LabelSpace) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    probs = np.asarray(probs, dtype=np.float64)
    if y.ndim != 2 or y.shape != probs.shape or y.shape[1] != len(space):
        raise InputError(
            f"y_true and probs must both have shape (n_rows, {len(space)} labels), got {y.shape} and {probs.shape}"
        )
    return y.astype(bool), probs


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
