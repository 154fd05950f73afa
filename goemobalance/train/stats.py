"""Seed statistics and paired bootstrap confidence intervals for comparing two training sets.

`compare` trains each training set with several seeds and predicts the same test rows with each model. The
question is whether the balanced set's F1 differs from the imbalanced set's by more than noise. Two kinds
of noise are reported:

- **seeds** (training noise): mean, sample standard deviation and the paired per-seed deltas
  (`seed_summary`);
- **test rows** (evaluation noise): a paired bootstrap over the test rows (`paired_bootstrap`). Each
  replicate draws the test rows with replacement, once, for both training sets and every seed; the
  statistic is the mean over seeds of (F1 of the balanced models - F1 of the imbalanced models) on those
  rows, per label and averaged over label groups (all labels = macro-F1, the rare labels = rare-F1).
  The predictions are fixed (thresholds were tuned on validation data), so only the test rows vary.
  Resampling and the percentile interval come from `scipy.stats.bootstrap`; F1 on a resample is computed
  from label counts weighted by how often each row was drawn, for all replicates of a batch at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import sparse, stats

from goemobalance.errors import InputError
from goemobalance.train.thresholds import f1_from_counts

DEFAULT_RESAMPLES = 1000
DEFAULT_BATCH = 100


def seed_summary(first: Sequence[float], second: Sequence[float]) -> dict[str, Any]:
    """Mean and sample std (ddof=1; None for one seed) of both sides and of their paired deltas.

    Parameters
    ----------
    first, second
        One value per seed, in the same seed order (``second - first`` is the delta).

    Returns
    -------
    dict
        ``first``, ``second``, ``delta`` (means), ``first_std``, ``second_std``, ``delta_std`` and
        ``deltas`` (the per-seed deltas).
    """
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise InputError(f"need one value per seed on both sides, got {a.shape} and {b.shape}")
    deltas = b - a

    def std(values: np.ndarray) -> float | None:
        return float(np.std(values, ddof=1)) if len(values) > 1 else None

    return {
        "first": float(a.mean()),
        "second": float(b.mean()),
        "delta": float(deltas.mean()),
        "first_std": std(a),
        "second_std": std(b),
        "delta_std": std(deltas),
        "deltas": [float(d) for d in deltas],
    }


def _outcome_columns(y_true: np.ndarray, predictions: Sequence[np.ndarray]) -> np.ndarray:
    """(n_rows, n_predictions * 3 * n_labels) 0/1 columns: TP, FP, FN indicators of every prediction."""
    truth = np.asarray(y_true, dtype=bool)
    blocks = []
    for pred in predictions:
        pred = np.asarray(pred, dtype=bool)
        blocks += [truth & pred, ~truth & pred, truth & ~pred]
    return np.concatenate(blocks, axis=1).astype(np.float64)


def _draw_counts(indices: np.ndarray, n_rows: int) -> sparse.csr_matrix:
    """(n_resamples, n_rows) matrix: how often each row was drawn in each resample."""
    resamples, drawn = indices.shape
    rows = np.repeat(np.arange(resamples), drawn)
    values = np.ones(indices.size, dtype=np.float64)
    return sparse.csr_matrix((values, (rows, indices.ravel())), shape=(resamples, n_rows))


def _resampled_f1(columns: np.ndarray, indices: np.ndarray, n_predictions: int) -> np.ndarray:
    """(n_resamples, n_predictions, n_labels) F1 from the outcome columns and the drawn row indices."""
    counts = np.asarray(_draw_counts(indices, len(columns)) @ columns)
    counts = counts.reshape(len(indices), n_predictions, 3, -1)
    return f1_from_counts(counts[:, :, 0], counts[:, :, 1], counts[:, :, 2])


def resampled_label_f1(y_true: np.ndarray, y_pred: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Per-label F1 (zero_division=0) on each resample of the rows.

    Parameters
    ----------
    y_true, y_pred
        (n_rows, n_labels) 0/1 matrices.
    indices
        (n_resamples, n_drawn) row indices, one resample per row of the array.

    Returns
    -------
    numpy.ndarray
        (n_resamples, n_labels) F1 of each label on each resample, equal to scikit-learn's
        ``f1_score(y_true[idx], y_pred[idx], average=None, zero_division=0)`` for each ``idx``.
    """
    indices = np.atleast_2d(np.asarray(indices))
    return _resampled_f1(_outcome_columns(y_true, [y_pred]), indices, 1)[:, 0]


def paired_bootstrap(
    y_true: np.ndarray,
    first: Sequence[np.ndarray],
    second: Sequence[np.ndarray] | None,
    groups: Mapping[str, Sequence[int]],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
    batch: int = DEFAULT_BATCH,
) -> dict[str, Any]:
    """Percentile bootstrap CIs of seed-mean F1 scores and of their paired delta, resampling the test rows.

    Parameters
    ----------
    y_true
        (n_rows, n_labels) 0/1 test labels.
    first, second
        One (n_rows, n_labels) 0/1 prediction matrix per seed for each side, seeds in the same order;
        `second` may be None (one side: scores only, no deltas).
    groups
        Label groups to average, e.g. ``{"f1_macro": range(28), "rare_f1": rare_indices}``.
    n_resamples, seed, confidence, batch
        Bootstrap replicates, the seed of ``numpy.random.default_rng`` given to `scipy.stats.bootstrap`,
        the interval's level and how many replicates are computed at once.

    Returns
    -------
    dict
        ``scores``: {"first"/"second": {group: {"value", "ci": [low, high]}}}; with two sides also
        ``groups``: {group: {"delta", "ci"}} and ``per_label``: {"delta": [...], "ci": [[low, high], ...]}
        (second - first); and the settings (``n_resamples``, ``seed``, ``confidence``, ``method``).
    """
    y_true = np.asarray(y_true)
    sides = [list(first)] if second is None else [list(first), list(second)]
    if any(len(side) != len(first) for side in sides) or not len(first):
        raise InputError(f"need the same number (>= 1) of seeds on each side, got {[len(s) for s in sides]}")
    for pred in (p for side in sides for p in side):
        if np.shape(pred) != y_true.shape:
            raise InputError(f"predictions of shape {np.shape(pred)} do not match the labels {y_true.shape}")
    names = list(groups)
    members = [np.asarray(list(groups[name]), dtype=int) for name in names]
    columns = _outcome_columns(y_true, [p for side in sides for p in side])
    n_seeds = len(first)

    def grouped(per_label: np.ndarray) -> np.ndarray:
        return np.stack([per_label[:, m].mean(axis=1) for m in members])

    def statistic(indices: np.ndarray, axis: int = -1) -> np.ndarray:
        single = np.ndim(indices) == 1
        f1 = _resampled_f1(columns, np.atleast_2d(indices), len(sides) * n_seeds)
        means = [f1[:, i * n_seeds : (i + 1) * n_seeds].mean(axis=1) for i in range(len(sides))]
        parts = [grouped(m) for m in means]
        if len(sides) == 2:
            delta = means[1] - means[0]
            parts = [grouped(delta), delta.T, *parts]
        out = np.concatenate(parts)
        return out[:, 0] if single else out

    everything = np.arange(len(y_true))
    point = statistic(everything)
    result = stats.bootstrap(
        (everything,),
        statistic,
        n_resamples=n_resamples,
        batch=batch,
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    rows = [(float(p), [float(lo), float(hi)]) for p, lo, hi in zip(point, low, high)]
    k, n_labels = len(names), y_true.shape[1]
    out: dict[str, Any] = {}
    if len(sides) == 2:
        out["groups"] = {name: {"delta": rows[i][0], "ci": rows[i][1]} for i, name in enumerate(names)}
        out["per_label"] = {
            "delta": [value for value, _ in rows[k : k + n_labels]],
            "ci": [ci for _, ci in rows[k : k + n_labels]],
        }
        rows = rows[k + n_labels :]
    out["scores"] = {
        side: {name: {"value": rows[j * k + i][0], "ci": rows[j * k + i][1]} for i, name in enumerate(names)}
        for j, side in enumerate(("first", "second")[: len(sides)])
    }
    out.update(
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
        method="percentile bootstrap over the scored rows (scipy.stats.bootstrap), seeds fixed",
    )
    return out


__all__ = ["DEFAULT_RESAMPLES", "paired_bootstrap", "resampled_label_f1", "seed_summary"]
