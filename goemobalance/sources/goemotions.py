"""GoEmotions loaders: the TSV release (train/dev/test.tsv), the raw rater-level CSVs, and the Hub id."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import datasets
import numpy as np

from goemobalance.labels import GOEMOTIONS
from goemobalance.schema import from_records, make_record
from goemobalance.sources.errors import LoadReport, RowErrors, SourceError, check_decoded, open_text
from goemobalance.sources.records import dataset_from_columns, meta_json

HUB_ID = "google-research-datasets/go_emotions"
SPLIT_FILES = {"train": "train.tsv", "dev": "dev.tsv", "validation": "dev.tsv", "test": "test.tsv"}


def load_goemotions_tsv(
    path: str | Path, split: str = "train", *, on_error: str = "raise", report: LoadReport | None = None
) -> datasets.Dataset:
    """Load one split of the TSV release (text, comma-separated label ids, comment id; no header).

    `path` is either a ``.tsv`` file or the folder holding ``train.tsv``/``dev.tsv``/``test.tsv``.
    """
    file = _tsv_file(Path(path), split)
    errors = RowErrors(file, on_error, report)
    rows = []
    with open_text(file) as handle:
        for line_no, line in enumerate(handle, start=1):
            row = errors.guard(line_no, _parse_tsv_line, line.rstrip("\r\n"))
            if row is not None:
                rows.append(row)
    errors.finish(len(rows))
    texts, label_ids, comment_ids = zip(*rows) if rows else ((), (), ())
    return dataset_from_columns(
        ids=[f"goemotions:{c}" for c in comment_ids],
        texts=list(texts),
        labels=list(label_ids),
        source="goemotions",
        label_origin="human",
        metas=meta_json({"comment_id": list(comment_ids), "split": [split] * len(rows)}),
        metas_from_meta_json=True,
    )


def _tsv_file(path: Path, split: str) -> Path:
    if path.is_dir():
        if split not in SPLIT_FILES:
            raise ValueError(f"unknown GoEmotions split {split!r}; use one of {sorted(SPLIT_FILES)}")
        gzipped = path / f"{SPLIT_FILES[split]}.gz"
        path = (
            gzipped
            if gzipped.is_file() and not (path / SPLIT_FILES[split]).is_file()
            else path / SPLIT_FILES[split]
        )
    if not path.is_file():
        raise FileNotFoundError(f"GoEmotions file not found: {path}")
    return path


def _parse_tsv_line(line: str) -> tuple[str, list[int], str]:
    fields = line.split("\t")
    if len(fields) != 3:
        raise ValueError(f"expected 3 tab-separated fields (text, label ids, id), got {len(fields)}")
    check_decoded(fields)
    text, label_field, comment_id = fields
    if not text.strip():
        raise ValueError("empty text")
    if not comment_id.strip():
        raise ValueError("empty comment id")
    try:
        ids = [int(x) for x in label_field.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"label ids must be integers, got {label_field!r}") from None
    if not ids:
        raise ValueError("no label ids")
    GOEMOTIONS.to_names(ids)
    if len(set(ids)) != len(ids):
        raise ValueError(f"repeated label id in {label_field!r}")
    return text, sorted(ids), comment_id.strip()


def load_goemotions_hub(split: str = "train", config: str = "simplified") -> datasets.Dataset:
    """Load `google-research-datasets/go_emotions` from the Hub (needs network)."""
    hub_split = "validation" if split == "dev" else split
    try:
        raw = datasets.load_dataset(HUB_ID, config, split=hub_split)
    except Exception as exc:
        raise ConnectionError(
            f"could not load {HUB_ID!r} from the Hugging Face Hub ({type(exc).__name__}: {exc}). "
            "Without network, pass a local path to the TSV release instead, e.g. "
            "load_goemotions('../shared/data/goemotions', split='train')."
        ) from exc
    records = [
        make_record(
            id=f"goemotions:{row['id']}", text=row["text"], labels=row["labels"], source="goemotions",
            meta={"comment_id": row["id"], "split": split},
        )
        for row in raw
    ]  # fmt: skip
    return from_records(records, GOEMOTIONS)


def load_goemotions(
    path: str | Path | None = None,
    split: str = "train",
    *,
    on_error: str = "raise",
    report: LoadReport | None = None,
) -> datasets.Dataset:
    """Load GoEmotions from a local TSV file or folder, or from the Hub when `path` is None or the Hub id."""
    if path is None or str(path) == HUB_ID:
        return load_goemotions_hub(split)
    return load_goemotions_tsv(path, split, on_error=on_error, report=report)


RAW_ID_COLUMNS = ("text", "id", "rater_id", "example_very_unclear")
RAW_META_COLUMNS = ("author", "subreddit", "link_id", "parent_id", "created_utc")
_TRUE = {"true": True, "1": True, "false": False, "0": False}


def load_goemotions_raw(
    paths: str | Path | Iterable[str | Path],
    min_raters: int = 2,
    *,
    on_error: str = "raise",
    report: LoadReport | None = None,
) -> datasets.Dataset:
    """Aggregate the rater-level CSVs (``goemotions_1..3.csv``) like upstream's 'simplified' set.

    Each CSV row is one rater's answer for one comment (`id`), with one 0/1 column per emotion. A label
    is kept when at least `min_raters` raters chose it; ratings flagged ``example_very_unclear`` carry no
    votes and are counted (``report.counts["unclear_ratings"]``, ``meta["n_unclear"]``). Comments where
    no label reaches `min_raters` are dropped and recorded in `report` (reason "no label chosen by ...").
    `paths` is one CSV, a list of CSVs, or a folder holding ``goemotions_*.csv``.
    """
    if min_raters < 1:
        raise ValueError(f"min_raters must be >= 1, got {min_raters}")
    report = report if report is not None else LoadReport()
    ratings = _RawRatings()
    for file in _raw_files(paths):
        ratings.read(file, on_error, report)
    return ratings.aggregate(min_raters, report)


def _raw_files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        path = Path(paths)
        files = sorted(path.glob("goemotions_*.csv")) if path.is_dir() else [path]
    else:
        files = [Path(p) for p in paths]
    if not files:
        raise FileNotFoundError(f"no goemotions_*.csv files in {paths}")
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(f"GoEmotions raw CSV not found: {file}")
    return files


class _RawRatings:
    """Rater rows collected across files, then aggregated per comment id with numpy."""

    def __init__(self) -> None:
        self.comment_ids: list[str] = []
        self.votes: list[np.ndarray] = []
        self.unclear: list[bool] = []
        self.first: dict[str, dict] = {}

    def read(self, file: Path, on_error: str, report: LoadReport) -> None:
        errors = RowErrors(file, on_error, report)
        with open_text(file) as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            label_columns = _raw_label_columns(file, header)
            column_index = {name: i for i, name in enumerate(header)}
            line_no = reader.line_num + 1
            for fields in reader:
                row = errors.guard(line_no, _parse_raw_row, fields, column_index, label_columns)
                if row is not None:
                    self._add(row, file, line_no)
                line_no = reader.line_num + 1
        errors.finish(0)

    def _add(self, row: dict, file: Path, line_no: int) -> None:
        comment_id = row["id"]
        self.comment_ids.append(comment_id)
        self.votes.append(row["votes"])
        self.unclear.append(row["unclear"])
        if comment_id not in self.first:
            meta = {k: row[k] for k in RAW_META_COLUMNS if k in row}
            self.first[comment_id] = {"text": row["text"], "file": str(file), "line": line_no, "meta": meta}

    def aggregate(self, min_raters: int, report: LoadReport) -> datasets.Dataset:
        order = list(self.first)
        position = {cid: i for i, cid in enumerate(order)}
        groups = np.array([position[c] for c in self.comment_ids], dtype=np.int64)
        unclear = np.array(self.unclear, dtype=bool)
        votes = np.zeros((len(order), len(GOEMOTIONS)), dtype=np.int64)
        if self.votes:
            clear_votes = np.stack(self.votes) * ~unclear[:, None]
            np.add.at(votes, groups, clear_votes)
        n_ratings = np.bincount(groups, minlength=len(order))
        n_unclear = np.bincount(groups, weights=unclear, minlength=len(order)).astype(np.int64)
        report.counts["unclear_ratings"] += int(unclear.sum())
        kept_mask = votes >= min_raters
        agreed = kept_mask.any(axis=1)
        for index in np.flatnonzero(~agreed):
            self._drop(order[index], min_raters, int(n_ratings[index]), report)
        report.counts["examples_without_agreement"] += int((~agreed).sum())
        keep = np.flatnonzero(agreed)
        report.rows_loaded += len(keep)
        return dataset_from_columns(
            ids=[f"goemotions:{order[i]}" for i in keep],
            texts=[self.first[order[i]]["text"] for i in keep],
            labels=GOEMOTIONS.from_multi_hot(kept_mask[keep]),
            source="goemotions",
            label_origin="human",
            metas=meta_json(self._meta_columns(order, keep, votes, n_ratings, n_unclear, min_raters)),
            metas_from_meta_json=True,
        )

    def _drop(self, comment_id: str, min_raters: int, n_ratings: int, report: LoadReport) -> None:
        first = self.first[comment_id]
        reason = f"no label chosen by at least {min_raters} raters"
        RowErrors(first["file"], "skip", report).drop(
            first["line"], reason, comment_id=comment_id, ratings=n_ratings
        )

    def _meta_columns(self, order, keep, votes, n_ratings, n_unclear, min_raters) -> dict[str, list]:
        columns: dict[str, list] = {key: [] for key in RAW_META_COLUMNS}
        for i in keep:
            for key in RAW_META_COLUMNS:
                columns[key].append(self.first[order[i]]["meta"].get(key))
        columns["comment_id"] = [order[i] for i in keep]
        columns["n_raters"] = n_ratings[keep].tolist()
        columns["n_unclear"] = n_unclear[keep].tolist()
        columns["votes"] = [
            {GOEMOTIONS.names[j]: int(votes[i, j]) for j in np.flatnonzero(votes[i])} for i in keep
        ]
        columns["min_raters"] = [min_raters] * len(keep)
        columns["split"] = ["raw"] * len(keep)
        return columns


def _raw_label_columns(file: Path, header: list[str] | None) -> list[int]:
    if not header:
        raise SourceError(f"{file}, line 1: empty file, expected a header row")
    missing = [c for c in (*RAW_ID_COLUMNS, *GOEMOTIONS.names) if c not in header]
    if missing:
        raise SourceError(f"{file}, line 1: header lacks column(s) {missing}")
    return [header.index(name) for name in GOEMOTIONS.names]


def _parse_raw_row(fields: list[str], column_index: dict[str, int], label_columns: list[int]) -> dict:
    if len(fields) != len(column_index):
        raise ValueError(f"expected {len(column_index)} fields, got {len(fields)}")
    check_decoded(fields)
    value = {name: fields[i] for name, i in column_index.items()}
    if not value["text"].strip():
        raise ValueError("empty text")
    if not value["id"].strip():
        raise ValueError("empty id")
    unclear = _TRUE.get(value["example_very_unclear"].strip().lower())
    if unclear is None:
        raise ValueError(f"example_very_unclear must be True/False, got {value['example_very_unclear']!r}")
    try:
        votes = np.array([int(fields[i]) for i in label_columns], dtype=np.int8)
    except ValueError:
        raise ValueError("emotion columns must be 0 or 1") from None
    if ((votes != 0) & (votes != 1)).any():
        bad = [GOEMOTIONS.names[j] for j in np.flatnonzero((votes != 0) & (votes != 1))]
        raise ValueError(f"emotion columns must be 0 or 1, got other values in {bad}")
    return {**value, "id": value["id"].strip(), "votes": votes, "unclear": unclear}


__all__ = ["HUB_ID", "load_goemotions", "load_goemotions_hub", "load_goemotions_raw", "load_goemotions_tsv"]
