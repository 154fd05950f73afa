"""The multi-label training loss: BCE or focal, with positive-class, per-label and per-row weights.

One module for every loss option of `TrainConfig`:

- ``loss``: ``bce`` (binary cross-entropy on logits) or ``focal`` (Lin et al. 2017, ``focal_gamma``);
- ``pos_weight``: ``balanced`` (negatives / positives per label, capped at ``pos_weight_cap``) or one
  value per label: weights the positive term of each label's BCE;
- ``label_weighting``: a weight per label column (``effective`` is the class-balanced loss of Cui et al.
  2019), from `goemobalance.balance.weights.label_weights`;
- ``sample_weighting``: a weight per training row, from `goemobalance.balance.weights.sample_weights`,
  passed to `MultiLabelLoss.forward` batch by batch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from goemobalance.balance.weights import label_weights, sample_weights
from goemobalance.errors import InputError
from goemobalance.train.config import TrainConfig


class MultiLabelLoss(nn.Module):
    """Per-cell BCE-with-logits (or focal) loss, times label and row weights, averaged over all cells.

    Parameters
    ----------
    kind
        ``bce`` or ``focal``.
    gamma
        The focal exponent (``focal`` only); ``gamma = 0`` is plain BCE.
    pos_weight
        Optional (n_labels,) weights of each label's positive term.
    label_weights
        Optional (n_labels,) weights of each label's column (class-balanced loss).
    """

    def __init__(
        self,
        kind: str = "bce",
        *,
        gamma: float = 2.0,
        pos_weight: torch.Tensor | None = None,
        label_weights: torch.Tensor | None = None,
    ):
        super().__init__()
        if kind not in ("bce", "focal"):
            raise InputError(f"loss = {kind!r}; use 'bce' or 'focal'")
        self.kind = kind
        self.gamma = float(gamma)
        self.register_buffer("pos_weight", pos_weight)
        self.register_buffer("label_weights", label_weights)

    def forward(
        self, logits: torch.Tensor, targets: torch.Tensor, row_weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The mean weighted loss of a batch; `row_weights` (batch,) weight each row's cells."""
        cells = nn.functional.binary_cross_entropy_with_logits(
            logits, targets, pos_weight=self.pos_weight, reduction="none"
        )
        if self.kind == "focal":
            plain = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
            cells = (1 - torch.exp(-plain)) ** self.gamma * cells
        if self.label_weights is not None:
            cells = cells * self.label_weights
        if row_weights is not None:
            cells = cells * row_weights[:, None]
        return cells.mean()


def pos_weights(config: TrainConfig, y_train: np.ndarray) -> np.ndarray | None:
    """The configured positive-class weights: None, ``balanced`` (neg/pos, capped) or the given list."""
    if config.pos_weight is None:
        return None
    if config.pos_weight == "balanced":
        positives = y_train.sum(axis=0)
        ratio = np.divide(
            len(y_train) - positives, positives, out=np.full_like(positives, np.inf), where=positives > 0
        )
        return np.minimum(ratio, config.pos_weight_cap)
    weights = np.asarray(config.pos_weight, dtype=np.float32)
    if weights.shape != (y_train.shape[1],):
        raise InputError(f"pos_weight has {weights.size} values, expected one per label ({y_train.shape[1]})")
    return weights


def make_loss(config: TrainConfig, y_train: np.ndarray, device: torch.device) -> MultiLabelLoss:
    """The loss `config` asks for, its weights computed from the training labels `y_train`."""

    def tensor(values: np.ndarray | None) -> torch.Tensor | None:
        return None if values is None else torch.as_tensor(values, dtype=torch.float32, device=device)

    columns = None
    if config.label_weighting != "none":
        columns = label_weights(y_train, config.label_weighting, beta=config.weight_beta)
    return MultiLabelLoss(
        config.loss,
        gamma=config.focal_gamma,
        pos_weight=tensor(pos_weights(config, y_train)),
        label_weights=tensor(columns),
    )


def row_weights(config: TrainConfig, y_train: np.ndarray) -> torch.Tensor | None:
    """Per-row training weights (mean 1) when ``sample_weighting`` is on, else None."""
    if config.sample_weighting == "none":
        return None
    weights = sample_weights(
        y_train, config.sample_weighting, beta=config.weight_beta, reduce=config.sample_weight_reduce
    )
    return torch.as_tensor(weights, dtype=torch.float32)


__all__ = ["MultiLabelLoss", "make_loss", "pos_weights", "row_weights"]
