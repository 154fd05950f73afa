"""`goemobalance.strict.from_mapping`: the one mapping -> dataclass conversion (recipes, training configs)."""

from __future__ import annotations

import pytest
import yaml

from goemobalance.errors import InputError
from goemobalance.train.config import TrainConfig


def test_exponent_numbers_that_yaml_reads_as_strings_are_floats():
    """PyYAML (YAML 1.1) reads ``2e-3`` as the string "2e-3"; a float setting takes it as 0.002."""
    data = yaml.safe_load("lr: 2e-3\nepochs: 2\n")
    assert data["lr"] == "2e-3"
    assert TrainConfig.from_dict(data).lr == pytest.approx(0.002)


@pytest.mark.parametrize("text", ["lr: fast", "lr: 2e", "epochs: 2e3"])
def test_other_strings_are_still_refused_with_the_field_named(text):
    with pytest.raises(InputError, match=r"lr|epochs"):
        TrainConfig.from_dict(yaml.safe_load(text))
