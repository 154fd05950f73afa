"""Real data shipped inside the package (see README.md here for provenance and attribution)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGED_FILES: dict[str, str] = {
    "goemotions/train": "goemotions_train.tsv.gz",
    "goemotions/dev": "goemotions_dev.tsv.gz",
    "goemotions/test": "goemotions_test.tsv.gz",
    "sentiment140/sample": "sentiment140_sample.csv.gz",
}


def packaged_file(name: str) -> Path:
    """Path of one shipped file, by its short name (e.g. ``goemotions/train``)."""
    if name not in PACKAGED_FILES:
        raise KeyError(f"no packaged data named {name!r}; available: {sorted(PACKAGED_FILES)}")
    return Path(str(resources.files(__name__) / PACKAGED_FILES[name]))
