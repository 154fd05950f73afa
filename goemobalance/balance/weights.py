"""Training weights from label frequencies: the alternative to resampling, in one place.

A rare label can be given more say in training either by adding rows (resampling, `balance_dataset`) or by
weighting the rows it already has. This module computes those weights from a multi-hot label matrix; the
hybrid training loop (`TrainConfig.sample_weighting`, `TrainConfig.label_weighting`) and the proxy model
use it, so every model weights rows the same way.

Schemes (``n_j`` = rows that carry label ``j``):

- ``inverse``: ``w_j = 1 / n_j``;
- ``effective``: the class-balanced weight of Cui et al. (CVPR 2019), ``w_j = (1 - beta) / (1 - beta**n_j)``,
  one over the "effective number" of rows; ``beta`` -> 0 gives equal weights, ``beta`` -> 1 gives
  ``inverse``. With the default ``beta = 0.999`` the rarest GoEmotions label (grief, 77 rows) weighs 13x
  neutral (14,219 rows), against 185x with ``inverse``;
- ``none``: every weight 1.

Label weights are scaled to mean 1 over the labels that occur; row weights (the mean or the max of the
row's label weights) are scaled to mean 1 over the rows, so switching weighting on keeps the loss scale and
the learning rate comparable.
"""

from __future__ import annotations

import numpy as np

from goemobalance.errors import InputError

WEIGHTINGS = ("none", "inverse", "effective")
REDUCTIONS = ("mean", "max")
DEFAULT_BETA = 0.999


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"{name} = {value!r}; use one of {list(allowed)}")


def label_weights(y: np.ndarray, scheme: str = "effective", *, beta: float = DEFAULT_BETA) -> np.ndarray:
    """One weight per label from its row count, scaled to mean 1 over the labels that occur.

    Parameters
    ----------
    y
        (n_rows, n_labels) 0/1 label matrix of the training rows.
    scheme
        ``none``, ``inverse`` or ``effective`` (see the module docstring).
    beta
        The effective-number parameter, in [0, 1); used by ``effective`` only.

    Returns
    -------
    numpy.ndarray
        float64 weights, shape (n_labels,); labels without any row get 0 (they weight nothing).
    """
    _check_choice("weighting", scheme, WEIGHTINGS)
    if not 0.0 <= beta < 1.0:
        raise InputError(f"beta = {beta!r}; it must be in [0, 1)")
    y = np.asarray(y)
    if y.ndim != 2:
        raise InputError(f"label matrix must be 2-D (rows x labels), got shape {y.shape}")
    counts = (y != 0).sum(axis=0).astype(np.float64)
    present = counts > 0
    weights = np.zeros(len(counts), dtype=np.float64)
    if scheme == "none":
        weights[present] = 1.0
    elif scheme == "inverse":
        weights[present] = 1.0 / counts[present]
    else:
        weights[present] = (1.0 - beta) / (1.0 - np.power(beta, counts[present]))
    if present.any():
        weights[present] /= weights[present].mean()
    return weights


def sample_weights(
    y: np.ndarray, scheme: str = "effective", *, beta: float = DEFAULT_BETA, reduce: str = "mean"
) -> np.ndarray:
    """One training weight per row: the mean (or max) of its labels' `label_weights`, scaled to mean 1.

    Parameters
    ----------
    y
        (n_rows, n_labels) 0/1 label matrix of the training rows.
    scheme
        ``none``, ``inverse`` or ``effective``.
    beta
        The effective-number parameter (``effective`` only).
    reduce
        ``mean`` (a row with a rare and a common label gets a middle weight) or ``max`` (it counts as rare).

    Returns
    -------
    numpy.ndarray
        float64 weights, shape (n_rows,), mean 1; rows without labels get the smallest label weight.
    """
    _check_choice("reduce", reduce, REDUCTIONS)
    y = np.asarray(y) != 0
    per_label = label_weights(y, scheme, beta=beta)
    if len(y) == 0:
        return np.zeros(0, dtype=np.float64)
    n_labels = y.sum(axis=1)
    if reduce == "mean":
        rows = (y @ per_label) / np.maximum(n_labels, 1)
    else:
        rows = np.where(y, per_label[None, :], 0.0).max(axis=1)
    present = per_label > 0
    rows[n_labels == 0] = per_label[present].min() if present.any() else 1.0
    return rows / rows.mean()


__all__ = ["DEFAULT_BETA", "REDUCTIONS", "WEIGHTINGS", "label_weights", "sample_weights"]
