"""Planted label noise and detection metrics: how to measure an audit against known errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from goemobalance.errors import InputError

NOISE_KINDS: tuple[str, ...] = ("swap", "drop", "add")


@dataclass(frozen=True)
class PlantedNoise:
    """Noisy label lists plus which rows were changed and how.

    Attributes
    ----------
    labels : list of list of int
        Every row's label ids after the noise (sorted).
    rows : np.ndarray
        The changed rows, ascending.
    kinds : list of str
        ``swap``, ``drop`` or ``add`` for each of `rows`.
    """

    labels: list[list[int]]
    rows: np.ndarray
    kinds: list[str]


def plant_label_noise(
    labels: Sequence[Sequence[int]], n_labels: int, *, rate: float = 0.03, seed: int = 0
) -> PlantedNoise:
    """Swap, drop or add one label on a seeded `rate` of rows (a drop on a one-label row becomes a swap).

    Replacement and added labels are drawn uniformly from the labels the row does not have, the
    usual synthetic-noise protocol for benchmarking label-error detection.

    Parameters
    ----------
    labels : sequence of sequences of int
        The clean label ids of each row.
    n_labels : int
        Size of the label space.
    rate : float, default 0.03
        Share of rows changed, in (0, 1) (at least one row).
    seed : int, default 0
        Seed of the rows, kinds and labels drawn.

    Returns
    -------
    PlantedNoise

    Raises
    ------
    InputError
        If `rate` is outside (0, 1).
    """
    if not 0.0 < rate < 1.0:
        raise InputError(f"rate must lie in (0, 1), got {rate}")
    rng = np.random.default_rng(seed)
    noisy = [sorted({int(i) for i in row}) for row in labels]
    n_planted = max(1, round(rate * len(noisy)))
    rows = np.sort(rng.choice(len(noisy), size=n_planted, replace=False))
    kinds = []
    for row in rows:
        kind = NOISE_KINDS[rng.integers(len(NOISE_KINDS))]
        if kind == "drop" and len(noisy[row]) < 2:
            kind = "swap"
        noisy[row] = _apply_noise(noisy[row], kind, n_labels, rng)
        kinds.append(kind)
    return PlantedNoise(labels=noisy, rows=rows, kinds=kinds)


def _apply_noise(row: list[int], kind: str, n_labels: int, rng: np.random.Generator) -> list[int]:
    absent = [c for c in range(n_labels) if c not in row]
    if kind == "add" or not row:
        return sorted(row + [int(rng.choice(absent))])
    kept = list(row)
    kept.pop(int(rng.integers(len(kept))))
    if kind == "drop":
        return sorted(kept)
    return sorted(kept + [int(rng.choice(absent))])


def detection_metrics(flagged: np.ndarray, ranking: np.ndarray, planted: np.ndarray, n_rows: int) -> dict:
    """Recall, precision, precision@k (k = rows planted) and the fraction of rows flagged.

    `flagged` are the row indices the audit flags, `ranking` all rows from most to least suspicious.

    Parameters
    ----------
    flagged : array-like of int
        Flagged row indices.
    ranking : array-like of int
        All rows, most suspicious first.
    planted : array-like of int
        The rows where noise was planted (`PlantedNoise.rows`).
    n_rows : int
        Rows in the dataset.

    Returns
    -------
    dict
        ``planted``, ``flagged``, ``flagged_fraction``, ``recall``, ``precision`` and ``precision_at_k``.
    """
    planted_set = set(np.asarray(planted).tolist())
    flagged = np.asarray(flagged)
    hits = sum(int(i) in planted_set for i in flagged)
    k = len(planted_set)
    top_k = np.asarray(ranking)[:k]
    return {
        "planted": k,
        "flagged": len(flagged),
        "flagged_fraction": len(flagged) / n_rows if n_rows else 0.0,
        "recall": hits / k if k else 0.0,
        "precision": hits / len(flagged) if len(flagged) else 0.0,
        "precision_at_k": sum(int(i) in planted_set for i in top_k) / k if k else 0.0,
    }
