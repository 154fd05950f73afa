"""Every split of what the audit is pointed at: a published folder, a `save_to_disk` DatasetDict, GoEmotions.

A published folder (Hub layout: ``data/<split>-00000-of-00001.parquet``) is read straight from its
parquet shards with pyarrow, so the audit sees the files as they are now (never a cached copy keyed by
the folder name); a `save_to_disk` folder through `datasets.load_from_disk`; a GoEmotions folder as its
train/dev/test files; anything else `goemobalance.sources.load_dataset_any` reads is one split.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from goemobalance.errors import InputError

_SHARD = re.compile(r"^(?P<split>[A-Za-z0-9_.]+?)(?:-\d{5}-of-\d{5})?\.parquet$")
_GOEMOTIONS_FILES = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}


def load_splits(path: str | Path, splits: Sequence[str] | None = None) -> dict[str, datasets.Dataset]:
    """All splits of the dataset at `path` (or the named `splits`), each a Dataset in the record schema.

    Parameters
    ----------
    path : str or Path
        A Hub-layout folder (``data/*.parquet``), a `save_to_disk` folder (DatasetDict or Dataset), a
        GoEmotions folder (train/dev/test.tsv), or any file or folder `load_dataset_any` reads.
    splits : sequence of str, optional
        Only these splits (``dev`` and ``validation`` are aliases); default every split.

    Returns
    -------
    dict of str to datasets.Dataset
        Split name -> rows, in the folder's order; a single table is one split, ``train`` (or the one
        named in `splits`).

    Raises
    ------
    InputError
        When a requested split is not there; FileNotFoundError when `path` does not exist.
    """
    from goemobalance.sources import load_dataset_any

    path = Path(path)
    found = _hub_shards(path) if path.is_dir() else {}
    if found:
        available = {name: _parquet_split(path, files) for name, files in found.items()}
    elif path.is_dir() and (names := _saved_split_names(path) or _goemotions_split_names(path)):
        available = {name: lambda name=name: load_dataset_any(path, split=name) for name in names}
    else:
        name = splits[0] if splits else "train"
        if splits and len(splits) > 1:
            raise InputError(
                f"{path}: holds one table, so --split can name one split only, got {list(splits)}"
            )
        return {name: load_dataset_any(path, split=splits[0] if splits else None)}
    chosen = _choose(available, splits, path)
    return {name: load() for name, load in chosen.items()}


def _hub_shards(folder: Path) -> dict[str, list[Path]]:
    """Split name -> its parquet shards under ``data/`` (``train-00000-of-00002.parquet`` or ``train.parquet``)."""
    shards: dict[str, list[Path]] = {}
    for file in sorted((folder / "data").glob("*.parquet")):
        match = _SHARD.match(file.name)
        if match:
            shards.setdefault(match.group("split"), []).append(file)
    return dict(sorted(shards.items(), key=lambda item: _split_order(item[0])))


def _parquet_split(folder: Path, files: list[Path]):
    def load() -> datasets.Dataset:
        from goemobalance.sources import load_dataset_any

        tables = [pq.read_table(file) for file in files]
        return load_dataset_any(datasets.Dataset(pa.concat_tables(tables, promote_options="default")))

    return load


def _saved_split_names(folder: Path) -> list[str]:
    index = folder / "dataset_dict.json"
    if index.is_file():
        return list(json.loads(index.read_text(encoding="utf-8"))["splits"])
    return ["train"] if (folder / "state.json").is_file() else []


def _goemotions_split_names(folder: Path) -> list[str]:
    return [
        s for s, f in _GOEMOTIONS_FILES.items() if (folder / f).is_file() or (folder / f"{f}.gz").is_file()
    ]


def _choose(available: dict, splits: Sequence[str] | None, path: Path) -> dict:
    if not splits:
        return available
    aliases = {"dev": "validation", "validation": "dev"}
    chosen = {}
    for name in splits:
        key = name if name in available else aliases.get(name)
        if key not in available:
            raise InputError(f"{path}: no split {name!r}; splits are {list(available)}")
        chosen[key] = available[key]
    return chosen


def _split_order(name: str) -> tuple[int, str]:
    order = {"train": 0, "validation": 1, "dev": 1, "test": 2}
    return order.get(name, 3), name


__all__ = ["load_splits"]
