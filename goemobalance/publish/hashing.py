"""A content hash of a published dataset: same rows, order and features give the same hash, whatever the files."""

from __future__ import annotations

import hashlib
import json

import datasets
from tqdm.auto import tqdm

SPLIT_ORDER: tuple[str, ...] = ("train", "validation", "test")
PROGRESS_MIN_ROWS = 100_000


def ordered_splits(dataset_dict: datasets.DatasetDict) -> list[str]:
    """Split names in publishing order: train, validation, test, then any others alphabetically."""
    known = [name for name in SPLIT_ORDER if name in dataset_dict]
    return known + sorted(name for name in dataset_dict if name not in SPLIT_ORDER)


def dataset_hash(data: datasets.DatasetDict | datasets.Dataset, *, batch_size: int = 1000) -> str:
    """SHA-256 over features, split names and every row in order; independent of files and timestamps.

    Rows are hashed as canonical JSON (columns in sorted order), so the hash of a dataset read back with
    `datasets.load_dataset` equals the hash of the one that was saved.

    Parameters
    ----------
    data : datasets.DatasetDict or datasets.Dataset
        The dataset (splits in the published order).
    batch_size : int
        Rows read per batch.

    Returns
    -------
    str
        The hex SHA-256.
    """
    splits = (
        [("", data)] if isinstance(data, datasets.Dataset) else [(n, data[n]) for n in ordered_splits(data)]
    )
    digest = hashlib.sha256()
    total = sum(len(split) for _, split in splits)
    progress = tqdm(total=total, desc="hashing", unit="rows", disable=total < PROGRESS_MIN_ROWS)
    for name, split in splits:
        columns = sorted(split.column_names)
        header = {"split": name, "features": split.features.to_dict(), "num_rows": len(split)}
        digest.update(_canonical(header) + b"\n")
        for batch in split.select_columns(columns).iter(batch_size=batch_size):
            for row in zip(*(batch[c] for c in columns)):
                digest.update(_canonical(row) + b"\n")
            progress.update(len(batch[columns[0]]))
    progress.close()
    return digest.hexdigest()


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
