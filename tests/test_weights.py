"""Training weights from label frequencies (goemobalance.balance.weights) and the losses that use them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from goemobalance.balance.weights import label_weights, sample_weights
from goemobalance.errors import InputError
from goemobalance.train.config import TrainConfig
from goemobalance.train.losses import MultiLabelLoss, make_loss, row_weights

# label counts 4, 2, 1, 0
Y = np.array(
    [
        [1, 1, 0, 0],
        [1, 0, 1, 0],
        [1, 1, 0, 0],
        [1, 0, 0, 0],
        [0, 0, 0, 0],
    ]
)


def test_inverse_label_weights_are_one_over_count_scaled_to_mean_one():
    raw = np.array([1 / 4, 1 / 2, 1 / 1])
    expected = raw / raw.mean()
    assert label_weights(Y, "inverse") == pytest.approx([*expected, 0.0])


def test_effective_number_weights_follow_cui_et_al():
    beta = 0.9
    raw = np.array([(1 - beta) / (1 - beta**n) for n in (4, 2, 1)])
    assert label_weights(Y, "effective", beta=beta) == pytest.approx([*(raw / raw.mean()), 0.0])
    assert label_weights(Y, "effective", beta=0.0) == pytest.approx([1, 1, 1, 0])
    close_to_inverse = label_weights(Y, "effective", beta=0.999999)
    assert close_to_inverse == pytest.approx(label_weights(Y, "inverse"), rel=1e-4)


def test_sample_weights_mean_and_max_over_a_row_s_labels():
    per_label = label_weights(Y, "inverse")
    means = [np.mean(per_label[np.flatnonzero(row)]) for row in Y[:4]]
    maxes = [np.max(per_label[np.flatnonzero(row)]) for row in Y[:4]]
    smallest = per_label[per_label > 0].min()
    for reduce, values in (("mean", means), ("max", maxes)):
        raw = np.array([*values, smallest])
        weights = sample_weights(Y, "inverse", reduce=reduce)
        assert weights == pytest.approx(raw / raw.mean())
        assert weights.mean() == pytest.approx(1.0)
    assert sample_weights(Y, "none") == pytest.approx(np.ones(5))


def test_bad_weighting_settings_are_input_errors():
    with pytest.raises(InputError, match="weighting"):
        label_weights(Y, "sqrt")
    with pytest.raises(InputError, match="beta"):
        label_weights(Y, "effective", beta=1.0)
    with pytest.raises(InputError, match="reduce"):
        sample_weights(Y, "inverse", reduce="sum")
    with pytest.raises(InputError, match="sample_weighting"):
        TrainConfig(sample_weighting="balanced")


def test_loss_applies_label_and_row_weights_to_each_cell():
    logits = torch.tensor([[2.0, -1.0, 0.5], [-0.3, 0.2, 1.5]])
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    cells = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    columns, rows = torch.tensor([0.5, 1.0, 1.5]), torch.tensor([2.0, 0.0])
    loss = MultiLabelLoss("bce", label_weights=columns)(logits, targets, rows)
    assert torch.isclose(loss, (cells * columns * rows[:, None]).mean())
    assert torch.isclose(MultiLabelLoss("bce")(logits, targets), cells.mean())


def test_config_options_reach_the_loss_and_the_row_weights():
    y = Y[:4].astype(np.float32)
    loss = make_loss(TrainConfig(label_weighting="effective", weight_beta=0.9), y, torch.device("cpu"))
    assert loss.label_weights.numpy() == pytest.approx(label_weights(y, "effective", beta=0.9))
    weights = row_weights(TrainConfig(sample_weighting="inverse", sample_weight_reduce="max"), y)
    assert weights.numpy() == pytest.approx(sample_weights(y, "inverse", reduce="max"))
    assert row_weights(TrainConfig(), y) is None
