"""`load_dataset_any`: one entry point that recognises every input the CLIs accept and picks the loader."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import datasets
import pyarrow.parquet as pq

from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.schema import COLUMNS, features, validate
from goemobalance.sources.errors import LoadReport, is_gzip, plain_suffix
from goemobalance.sources.generic import TABLE_SUFFIXES, load_table
from goemobalance.sources.goemotions import (
    HUB_ID,
    SPLIT_FILES,
    load_goemotions_hub,
    load_goemotions_raw,
    load_goemotions_tsv,
)
from goemobalance.sources.sentiment140 import load_sentiment140

ACCEPTED = (
    "a GoEmotions TSV file or folder (train/dev/test.tsv); a folder of raw goemotions_*.csv; a Sentiment140 "
    "CSV; a `save_to_disk` folder; a Hub-layout folder of parquet/jsonl/csv files; a .parquet/.jsonl/.csv/"
    f".tsv file in the record schema or with a text column; the Hub id {HUB_ID!r}"
)
_GOEMOTIONS_TSV_LINE = re.compile(r"[^\t]*\t\d+(,\d+)*\t\S+")
_SENTIMENT140_LINE = re.compile(rb'"[024]","\d+","[^"]*","[^"]*","[^"]*",')


def load_dataset_any(
    path_or_id: str | Path | datasets.Dataset | datasets.DatasetDict,
    split: str | None = None,
    *,
    on_error: str = "raise",
    report: LoadReport | None = None,
) -> datasets.Dataset:
    """Load any supported input (see `ACCEPTED`) as a validated `Dataset` in the record schema.

    `split` picks train/dev/test in a GoEmotions folder or a split of a DatasetDict / Hub-layout folder
    (default ``train``, or the only split); a single table file is its own split and ignores it.
    Unlabeled rows (e.g. Sentiment140 awaiting pseudo-labels) are allowed.
    """
    if isinstance(path_or_id, (datasets.Dataset, datasets.DatasetDict)):
        return conform_dataset(_pick_split(path_or_id, split, "<dataset>"))
    path = Path(path_or_id)
    if path.is_dir():
        return _load_folder(path, split, on_error, report)
    if path.is_file():
        return _load_file(path, split, on_error, report)
    if str(path_or_id) in (HUB_ID, "go_emotions"):
        return load_goemotions_hub(split or "train")
    raise FileNotFoundError(
        f"{path_or_id!r} is not an existing file or folder nor a known Hub id; accepted: {ACCEPTED}"
    )


def conform_dataset(dataset: datasets.Dataset, space: LabelSpace | None = None) -> datasets.Dataset:
    """A Dataset in the record schema: checked as is when it already is one, else mapped with `load_table`."""
    if all(c in dataset.column_names for c in COLUMNS):
        labels = dataset.features["labels"]
        if not isinstance(getattr(labels, "feature", None), datasets.ClassLabel):
            dataset = dataset.cast(features(space or GOEMOTIONS))
        dataset = dataset.select_columns(list(COLUMNS))
        validate(dataset, allow_unlabeled=True)
        return dataset
    return load_table(dataset, space=space or GOEMOTIONS, allow_unlabeled=True)


def _load_folder(path: Path, split: str | None, on_error: str, report: LoadReport | None) -> datasets.Dataset:
    if any((path / name).is_file() or (path / f"{name}.gz").is_file() for name in set(SPLIT_FILES.values())):
        return load_goemotions_tsv(path, split or "train", on_error=on_error, report=report)
    if list(path.glob("goemotions_*.csv")):
        return load_goemotions_raw(path, on_error=on_error, report=report)
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        return conform_dataset(_pick_split(datasets.load_from_disk(str(path)), split, path))
    if any(p.suffix.lower() in TABLE_SUFFIXES for p in path.rglob("*") if p.is_file()):
        try:
            loaded = datasets.load_dataset(str(path))
        except Exception as exc:
            raise ValueError(
                f"{path}: could not read it as a Hub-layout folder ({exc}); accepted: {ACCEPTED}"
            ) from exc
        return conform_dataset(_pick_split(loaded, split, path))
    raise ValueError(f"{path}: folder holds nothing loadable; accepted: {ACCEPTED}")


def _load_file(path: Path, split: str | None, on_error: str, report: LoadReport | None) -> datasets.Dataset:
    first_line = _first_line(path)
    suffix = plain_suffix(path)
    if suffix == ".tsv" and _GOEMOTIONS_TSV_LINE.fullmatch(
        first_line.decode("utf-8", "replace").rstrip("\r\n")
    ):
        return load_goemotions_tsv(path, split or _split_in_name(path), on_error=on_error, report=report)
    if suffix == ".csv" and _SENTIMENT140_LINE.match(first_line):
        return load_sentiment140(path, on_error=on_error, report=report)
    if suffix == ".csv" and b"rater_id" in first_line and b"example_very_unclear" in first_line:
        return load_goemotions_raw(path, on_error=on_error, report=report)
    if suffix in (".parquet", ".pq"):
        table = pq.read_table(path)
        if all(c in table.column_names for c in COLUMNS):
            return conform_dataset(datasets.Dataset(table))
    if suffix == ".arrow":
        return conform_dataset(datasets.Dataset.from_file(str(path)))
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{path}: unsupported file type {suffix!r}; accepted: {ACCEPTED}")
    return load_table(path, allow_unlabeled=True, on_error=on_error, report=report)


def _pick_split(data, split: str | None, where) -> datasets.Dataset:
    if isinstance(data, datasets.Dataset):
        return data
    names = list(data)
    if split is None:
        split = "train" if "train" in names else (names[0] if len(names) == 1 else None)
        if split is None:
            raise ValueError(f"{where}: several splits {names}; pass split=")
    aliases = {"dev": "validation", "validation": "dev"}
    if split not in names and aliases.get(split) in names:
        split = aliases[split]
    if split not in names:
        raise ValueError(f"{where}: no split {split!r}; splits are {names}")
    return data[split]


def _split_in_name(path: Path) -> str:
    """The split a GoEmotions file name states (``test.tsv``, ``goemotions_dev.tsv.gz``), else train."""
    match = re.search(r"(train|dev|validation|test)", path.name.lower())
    return match.group(1) if match else "train"


def _first_line(path: Path) -> bytes:
    with gzip.open(path, "rb") if is_gzip(path) else open(path, "rb") as handle:
        return handle.readline(65536)


__all__ = ["ACCEPTED", "conform_dataset", "load_dataset_any"]
