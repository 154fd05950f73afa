"""Shared fixtures: real data, from ../shared/data when present, else from the copies shipped in the package.

- ``goemotions_dir``, ``goemotions_train/dev/test``, ``sentiment140_sample``: the shared files
  (``GOEMOBALANCE_SHARED_DATA``, default ``../shared/data``) when they exist, otherwise the GoEmotions
  release and the 38,915-tweet Sentiment140 sample shipped in ``goemobalance/data/`` (decompressed into a
  session folder, so tests read plain ``train.tsv``/``dev.tsv``/``test.tsv`` files either way).
- ``shared_goemotions_dir``, ``shared_sentiment140_dir``: only the shared files, for the few tests that check
  something the package does not ship (the upstream ``emotions.txt`` and mapping files, the hand-labelled
  Sentiment140 test file, packaged-versus-upstream equality).
  They skip with a reason when the folder is absent; with ``GOEMOBALANCE_REQUIRE_DATA=1`` (set by
  ``.ci/run``) that skip is a failure, so CI cannot go green with part of the suite unrun.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

from goemobalance.data import packaged_file

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GOEMOBALANCE_SHARED_DATA", REPO.parent / "shared" / "data"))
GOEMOTIONS_DIR = SHARED_DATA / "goemotions"
SENTIMENT140_DIR = SHARED_DATA / "sentiment140"
SENTIMENT140_SAMPLE = SENTIMENT140_DIR / "training_sample.csv"
REQUIRE_DATA = os.environ.get("GOEMOBALANCE_REQUIRE_DATA", "") not in ("", "0")
GOEMOTIONS_SPLITS = ("train", "dev", "test")


def pytest_report_header(config) -> list[str]:
    where = "shared" if GOEMOTIONS_DIR.is_dir() else "packaged copies (shared data not found)"
    required = ", missing data fails (GOEMOBALANCE_REQUIRE_DATA)" if REQUIRE_DATA else ""
    return [f"goemobalance test data: {where}: {SHARED_DATA}{required}"]


def _require(path: Path) -> Path:
    if not path.exists():
        reason = f"real data not found at {path} (set GOEMOBALANCE_SHARED_DATA to the shared/data folder)"
        if REQUIRE_DATA:
            pytest.fail(
                f"{reason}; GOEMOBALANCE_REQUIRE_DATA is set, so a missing-data skip fails", pytrace=False
            )
        pytest.skip(reason)
    return path


def _decompress(name: str, target: Path) -> Path:
    with gzip.open(packaged_file(name), "rb") as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out)
    return target


@pytest.fixture(scope="session")
def shared_goemotions_dir() -> Path:
    """The shared GoEmotions folder with the upstream emotions.txt and mapping files (skips without it)."""
    return _require(GOEMOTIONS_DIR)


@pytest.fixture(scope="session")
def shared_sentiment140_dir() -> Path:
    """The shared Sentiment140 folder: the 38,915-row sample and the hand-labelled test file."""
    return _require(SENTIMENT140_DIR)


@pytest.fixture(scope="session")
def goemotions_dir(tmp_path_factory) -> Path:
    """A folder with GoEmotions ``train.tsv``, ``dev.tsv``, ``test.tsv``: shared, else the packaged copy."""
    if all((GOEMOTIONS_DIR / f"{split}.tsv").is_file() for split in GOEMOTIONS_SPLITS):
        return GOEMOTIONS_DIR
    folder = tmp_path_factory.mktemp("packaged_goemotions")
    for split in GOEMOTIONS_SPLITS:
        _decompress(f"goemotions/{split}", folder / f"{split}.tsv")
    return folder


@pytest.fixture(scope="session")
def sentiment140_sample(tmp_path_factory) -> Path:
    """A plain Sentiment140 CSV: the shared 38,915-row sample, else the same sample shipped in the package."""
    if SENTIMENT140_SAMPLE.is_file():
        return SENTIMENT140_SAMPLE
    return _decompress("sentiment140/sample", tmp_path_factory.mktemp("packaged_sentiment140") / "sample.csv")


def _load_goemotions(folder: Path, split: str):
    from goemobalance.sources import load_goemotions

    return load_goemotions(folder, split=split)


@pytest.fixture(scope="session")
def goemotions_train(goemotions_dir):
    return _load_goemotions(goemotions_dir, "train")


@pytest.fixture(scope="session")
def goemotions_dev(goemotions_dir):
    return _load_goemotions(goemotions_dir, "dev")


@pytest.fixture(scope="session")
def goemotions_test(goemotions_dir):
    return _load_goemotions(goemotions_dir, "test")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread, and the shared CI cores are not oversubscribed."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
