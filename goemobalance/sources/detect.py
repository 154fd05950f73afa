"""`load_dataset_any`: one entry point that recognises every input the CLIs accept and picks the loader."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import datasets
import pyarrow as pa
import yaml
from datasets.data_files import DataFilesDict, get_data_patterns

from goemobalance.errors import InputError
from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.schema import COLUMNS, features, validate
from goemobalance.sources.errors import LoadReport, is_gzip, plain_suffix
from goemobalance.sources.generic import TABLE_SUFFIXES, load_table, open_parquet
from goemobalance.sources.goemotions import (
    HUB_ID,
    PACKAGED,
    SPLIT_FILES,
    load_goemotions_hub,
    load_goemotions_raw,
    load_goemotions_tsv,
    packaged_goemotions,
)
from goemobalance.sources.sentiment140 import load_sentiment140

ACCEPTED = (
    f"{PACKAGED!r} (GoEmotions shipped in the package); a GoEmotions TSV file or folder (train/dev/test.tsv); "
    "a folder of raw goemotions_*.csv; a Sentiment140 CSV; a `save_to_disk` folder; a Hub-layout folder of "
    "parquet/jsonl/csv files; a .parquet/.jsonl/.csv/.tsv file in the record schema or with a text column; "
    f"the Hub id {HUB_ID!r}"
)
#: Split names and the names accepted for them (``dev`` is GoEmotions' name for the validation split).
SPLIT_ALIASES = {"dev": "validation", "validation": "dev", "valid": "validation", "val": "validation"}
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

    Parameters
    ----------
    path_or_id : str, Path, Dataset or DatasetDict
        ``"packaged"`` (the GoEmotions copy shipped in the package), a file or folder, the GoEmotions Hub
        id, or a dataset in memory.
    split : str, optional
        The split of a folder or DatasetDict that has several (GoEmotions TSV folder, ``save_to_disk``
        DatasetDict, Hub-layout folder): ``train``, ``validation`` (alias ``dev``), ``test`` or any split
        the folder has. Default ``train``, or the only split. A single table file is its own split and
        ignores it.
    on_error : {"raise", "skip"}
        Bad rows of text files: raise naming file and line, or skip and count them in `report`.
    report : LoadReport, optional
        Receives rows read, loaded and skipped.

    Returns
    -------
    datasets.Dataset
        Records in the schema; unlabeled rows (e.g. Sentiment140 awaiting pseudo-labels) are allowed.
    """
    if isinstance(path_or_id, (datasets.Dataset, datasets.DatasetDict)):
        return conform_dataset(pick_split(path_or_id, split, "<dataset>"))
    if str(path_or_id) == PACKAGED:
        name = _split_name(split or "train", ["train", "dev", "test"], PACKAGED)
        return load_goemotions_tsv(packaged_goemotions(name), name, on_error=on_error, report=report)
    path = Path(path_or_id)
    if path.is_dir():
        return _load_folder(path, split, on_error, report)
    if path.is_file():
        return _load_file(path, split, on_error, report)
    if str(path_or_id) in (HUB_ID, "go_emotions"):
        return load_goemotions_hub(split or "train")
    raise FileNotFoundError(
        f"{str(path_or_id)!r} is not an existing file or folder nor a known Hub id; accepted: {ACCEPTED}"
    )


def split_names(path_or_id: str | Path | datasets.Dataset | datasets.DatasetDict) -> list[str]:
    """The splits an input has, in its own names; a single file or Dataset is one split (`split_label`).

    Parameters
    ----------
    path_or_id : str, Path, Dataset or DatasetDict
        Anything `load_dataset_any` reads.

    Returns
    -------
    list of str
        ``["train", "dev", "test"]`` for GoEmotions (packaged or a TSV folder), a DatasetDict's or
        Hub-layout folder's split names, or the one label of a single-split input.
    """
    return _multi_split_names(path_or_id) or [split_label(path_or_id, None)]


def split_label(path_or_id, split: str | None) -> str:
    """The name of the split `load_dataset_any(path_or_id, split)` reads, for outputs that must say it.

    A requested split keeps its name; otherwise the default split of a multi-split input (``train``, or
    the only one), the split a GoEmotions file name states, or ``"whole file"`` / ``"whole dataset"``.

    Parameters
    ----------
    path_or_id : str, Path, datasets.Dataset or datasets.DatasetDict
        The input, as given to `load_dataset_any`.
    split : str or None
        The requested split.

    Returns
    -------
    str
    """
    if split is not None:
        return split
    names = _multi_split_names(path_or_id)
    if names:
        return "train" if "train" in names else names[0]
    if isinstance(path_or_id, (datasets.Dataset, datasets.DatasetDict)) or Path(path_or_id).is_dir():
        return "whole dataset"
    match = re.search(r"(train|dev|validation|test)", Path(path_or_id).name.lower())
    if match and plain_suffix(path_or_id) == ".tsv":
        return match.group(1)
    return "whole file"


def _multi_split_names(path_or_id) -> list[str] | None:
    """The split names of an input that has splits; None for a single file or Dataset."""
    if isinstance(path_or_id, datasets.DatasetDict):
        return list(path_or_id)
    if isinstance(path_or_id, datasets.Dataset):
        return None
    if str(path_or_id) == PACKAGED:
        return ["train", "dev", "test"]
    path = Path(path_or_id)
    if not path.is_dir():
        return None
    tsv = [
        n
        for n in ("train", "dev", "test")
        if (path / f"{n}.tsv").is_file() or (path / f"{n}.tsv.gz").is_file()
    ]
    if tsv:
        return tsv
    if (path / "dataset_dict.json").is_file():
        return list(datasets.load_from_disk(str(path)))
    if (path / "state.json").is_file() or list(path.glob("goemotions_*.csv")):
        return None
    return list(_hub_data_files(path)) or None


def read_hub_folder(path: str | Path) -> datasets.DatasetDict:
    """Every split of a Hub-layout folder, read straight from its data files (no cache involved).

    The splits and their files come from the card's ``configs`` (``data_files``) when the README has
    them, else from the Hub's file-name conventions (``data/train-00000-of-00001.parquet``,
    ``test.jsonl``, ...), resolved with `datasets.data_files`. Parquet shards are read with pyarrow,
    other files with `load_dataset_any`, so a folder rewritten in place is always read as it is now.

    Parameters
    ----------
    path : str or Path
        The repository folder.

    Returns
    -------
    datasets.DatasetDict
        Split name -> its rows, as stored (not conformed to the record schema).

    Raises
    ------
    InputError
        If the folder holds no data files in the Hub layout.
    """
    folder = Path(path)
    files = _hub_data_files(folder)
    if not files:
        raise InputError(f"{folder}: no data files in the Hub layout; accepted: {ACCEPTED}")
    return datasets.DatasetDict({name: _read_split(folder, name, paths) for name, paths in files.items()})


def conform_dataset(dataset: datasets.Dataset, space: LabelSpace | None = None) -> datasets.Dataset:
    """A Dataset in the record schema: checked as is when it already is one, else mapped with `load_table`.

    Parameters
    ----------
    dataset : datasets.Dataset
        Rows in the record schema (``labels`` as ids or ClassLabels) or any table `load_table` maps.
    space : LabelSpace, optional
        The label space (default GoEmotions) when the labels need a ClassLabel or mapping.

    Returns
    -------
    datasets.Dataset
        The schema's columns only; unlabeled rows are allowed.

    Raises
    ------
    SchemaError
        If a row breaks the schema.
    """
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
        name = _split_name(split or "train", sorted(SPLIT_FILES), path)
        return load_goemotions_tsv(path, name, on_error=on_error, report=report)
    if list(path.glob("goemotions_*.csv")):
        return load_goemotions_raw(path, on_error=on_error, report=report)
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        return conform_dataset(pick_split(datasets.load_from_disk(str(path)), split, path))
    if any(p.suffix.lower() in TABLE_SUFFIXES for p in path.rglob("*") if p.is_file()):
        return conform_dataset(pick_split(read_hub_folder(path), split, path))
    raise InputError(f"{path}: folder holds nothing loadable; accepted: {ACCEPTED}")


def _hub_data_files(folder: Path) -> dict[str, list[Path]]:
    """{split: files} from the card's ``configs`` or, without them, the Hub's naming conventions."""
    configured = _card_data_files(folder)
    if configured:
        return configured
    try:
        patterns = get_data_patterns(str(folder))
        resolved = DataFilesDict.from_patterns(patterns, base_path=str(folder))
    except Exception:  # noqa: BLE001 - datasets raises several kinds for "no data files here"
        return {}
    return {str(name): sorted(Path(f) for f in files) for name, files in resolved.items()}


def _card_data_files(folder: Path) -> dict[str, list[Path]]:
    readme = folder / "README.md"
    if not readme.is_file():
        return {}
    text = readme.read_text(encoding="utf-8", errors="replace")
    match = re.match(r"---\s*\n(.*?)\n---\s*\n", text, re.DOTALL)
    try:
        metadata = yaml.safe_load(match.group(1)) if match else None
    except yaml.YAMLError:
        return {}
    configs = metadata.get("configs") if isinstance(metadata, dict) else None
    if not isinstance(configs, list) or not configs:
        return {}
    config = next((c for c in configs if isinstance(c, dict) and c.get("default")), configs[0])
    entries = config.get("data_files") if isinstance(config, dict) else None
    files: dict[str, list[Path]] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or "split" not in entry:
            continue
        patterns = entry.get("path", [])
        for pattern in [patterns] if isinstance(patterns, str) else patterns:
            files.setdefault(str(entry["split"]), []).extend(sorted(folder.glob(str(pattern))))
    return {name: paths for name, paths in files.items() if paths}


def _read_split(folder: Path, name: str, paths: list[Path]) -> datasets.Dataset:
    if all(plain_suffix(p) in (".parquet", ".pq") for p in paths):
        tables = [open_parquet(p).read() for p in paths]
        table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
        return datasets.Dataset(table)
    parts = [_load_file(p, name, "raise", None) for p in paths]
    return datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def _load_file(path: Path, split: str | None, on_error: str, report: LoadReport | None) -> datasets.Dataset:
    first_line = _first_line(path)
    if not first_line:
        raise InputError(f"{path}: empty file, no rows to read")
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
        table = open_parquet(path).read()
        if all(c in table.column_names for c in COLUMNS):
            return conform_dataset(datasets.Dataset(table))
    if suffix == ".arrow":
        return conform_dataset(datasets.Dataset.from_file(str(path)))
    if suffix not in TABLE_SUFFIXES:
        raise InputError(f"{path}: unsupported file type {suffix!r}; accepted: {ACCEPTED}")
    return load_table(path, allow_unlabeled=True, on_error=on_error, report=report)


def pick_split(data, split: str | None, where) -> datasets.Dataset:
    """One split of a Dataset / DatasetDict: `split` (``dev`` and ``validation`` are aliases), else
    ``train``, else the only split; an unknown split is an `InputError` naming the splits there are.

    Parameters
    ----------
    data : datasets.Dataset or datasets.DatasetDict
        A dataset (returned as is) or its splits.
    split : str or None
        The split wanted.
    where : object
        The input's name, for error messages.

    Returns
    -------
    datasets.Dataset

    Raises
    ------
    InputError
        If the split is missing, or none was given and there are several without ``train``.
    """
    if isinstance(data, datasets.Dataset):
        return data
    names = list(data)
    if split is None:
        split = "train" if "train" in names else (names[0] if len(names) == 1 else None)
        if split is None:
            raise InputError(f"{where}: several splits {names}; pass split= (one of them)")
    return data[_split_name(split, names, where)]


def _split_name(split: str, names: list[str], where) -> str:
    """`split` as one of `names`, through the aliases; an `InputError` naming `names` otherwise."""
    if split in names:
        return split
    aliases = [alias for key, alias in SPLIT_ALIASES.items() if key == split] + [
        key for key, alias in SPLIT_ALIASES.items() if alias == split
    ]
    for alias in aliases:
        if alias in names:
            return alias
    raise InputError(f"{where}: no split {split!r}; the splits there are {names}")


def _split_in_name(path: Path) -> str:
    """The split a GoEmotions file name states (``test.tsv``, ``goemotions_dev.tsv.gz``), else train."""
    match = re.search(r"(train|dev|validation|test)", path.name.lower())
    return match.group(1) if match else "train"


def _first_line(path: Path) -> bytes:
    with gzip.open(path, "rb") if is_gzip(path) else open(path, "rb") as handle:
        return handle.readline(65536)


__all__ = [
    "ACCEPTED",
    "SPLIT_ALIASES",
    "conform_dataset",
    "load_dataset_any",
    "pick_split",
    "read_hub_folder",
]
