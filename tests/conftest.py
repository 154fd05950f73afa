"""Shared fixtures: the real data in ../shared/data (tests skip with a reason when it is absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GOEMOBALANCE_SHARED_DATA", REPO.parent / "shared" / "data"))
GOEMOTIONS_DIR = SHARED_DATA / "goemotions"
SENTIMENT140_DIR = SHARED_DATA / "sentiment140"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set GOEMOBALANCE_SHARED_DATA to the shared/data folder)")
    return path


@pytest.fixture(scope="session")
def goemotions_dir() -> Path:
    return _require(GOEMOTIONS_DIR)


@pytest.fixture(scope="session")
def sentiment140_dir() -> Path:
    return _require(SENTIMENT140_DIR)


@pytest.fixture(scope="session")
def goemotions_train(goemotions_dir):
    from goemobalance.sources import load_goemotions

    return load_goemotions(goemotions_dir, split="train")


@pytest.fixture(scope="session")
def goemotions_test(goemotions_dir):
    from goemobalance.sources import load_goemotions

    return load_goemotions(goemotions_dir, split="test")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread, and the shared CI cores are not oversubscribed."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
