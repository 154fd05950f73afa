"""GoEmotions loaders: the TSV release (train/dev/test.tsv), the raw rater-level CSVs, and the Hub id."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from goemobalance.data import packaged_file
from goemobalance.errors import InputError
from goemobalance.labels import GOEMOTIONS
from goemobalance.sources.batches import Prepared, load_batches
from goemobalance.sources.bytescan import value_lengths
from goemobalance.sources.checks import RowChecks, blank_text, decode
from goemobalance.sources.columns import json_values, label_ids
from goemobalance.sources.errors import LoadReport, RowErrors, SourceError
from goemobalance.sources.reading import Chunk, drop_blank_rows, read_delimited, read_header
from goemobalance.sources.records import RawJson, dataset_from_columns, json_objects

HUB_ID = "google-research-datasets/go_emotions"
#: The path that means "the copy shipped in the package" wherever a GoEmotions path is accepted.
PACKAGED = "packaged"
SPLIT_FILES = {"train": "train.tsv", "dev": "dev.tsv", "validation": "dev.tsv", "test": "test.tsv"}


TSV_COLUMNS = ["text", "labels", "id"]


def load_goemotions_tsv(
    path: str | Path, split: str = "train", *, on_error: str = "raise", report: LoadReport | None = None
) -> datasets.Dataset:
    """Load one split of the TSV release (text, comma-separated label ids, comment id; no header).

    Parameters
    ----------
    path : str or Path
        A ``.tsv`` file (plain or gzip), or the folder holding ``train.tsv``/``dev.tsv``/``test.tsv``.
    split : str
        ``train``, ``dev`` (or ``validation``) or ``test``; picks the file in a folder and is stored in meta.
    on_error : {"raise", "skip"}
        Bad lines raise `SourceError` naming file and 1-based line, or are skipped and counted.
    report : LoadReport, optional
        Receives rows read, loaded and skipped.

    Returns
    -------
    datasets.Dataset
        Records in the schema, ids ``goemotions:<comment id>``.
    """
    file = _tsv_file(Path(path), split)
    chunks = read_delimited(
        file,
        delimiter="\t",
        quoting=False,
        column_names=TSV_COLUMNS,
        field_count_message=lambda got: f"expected 3 tab-separated fields (text, label ids, id), got {got}",
    )
    return load_batches(
        chunks,
        lambda chunk: _prepare_tsv(chunk, split),
        RowErrors(file, on_error, report),
        lambda record_id, line: (
            f"duplicate comment id {record_id.split(':', 1)[1]!r}, first seen on line {line}"
        ),
    )


def _prepare_tsv(chunk: Chunk, split: str) -> Prepared:
    """Check and build one batch of TSV rows (runs in a worker thread)."""
    batch, lines, blank_lines = drop_blank_rows(chunk)
    checks = RowChecks(lines)
    checks.add_records(chunk.bad)
    text, labels, comment = (_decoded(column, checks) for column in batch.columns)
    checks.fail(blank_text(text), "empty_text", "empty text")
    comment = pc.utf8_trim_whitespace(comment)
    checks.fail(value_lengths(comment) == 0, "empty_comment_id", "empty comment id")
    label_lists, label_errors = label_ids(labels, "ids", GOEMOTIONS)
    no_labels = np.asarray(pc.equal(pc.list_value_length(label_lists), 0), dtype=bool)
    for row in np.flatnonzero(no_labels):
        label_errors.setdefault(int(row), "no label ids")
    mask = np.zeros(len(lines), dtype=bool)
    mask[list(label_errors)] = True
    checks.fail(mask, "bad_label", lambda row: label_errors[row])
    keep = pa.array(~checks.bad)
    ids = pc.binary_join_element_wise("goemotions:", comment.filter(keep), "")
    return Prepared(
        checks=checks,
        rows_read=len(lines) + sum(r.kind == "field_count" for r in chunk.bad),
        blank_lines=blank_lines,
        keys=ids,
        positions=lines[~checks.bad],
        columns={
            "id": ids,
            "text": text.filter(keep),
            "labels": label_lists.filter(keep),
            "source": "goemotions",
            "label_origin": "human",
            "meta": json_objects({"comment_id": comment.filter(keep), "split": json.dumps(split)}, len(ids)),
        },
    )


def _decoded(column: pa.Array, checks: RowChecks) -> pa.Array:
    result = decode(column)
    failed = np.zeros(len(column), dtype=bool)
    failed[list(result.failed)] = True
    checks.fail(
        failed, "undecodable", "undecodable bytes (the file is not valid UTF-8; pass the right encoding)"
    )
    return result.strings


def _tsv_file(path: Path, split: str) -> Path:
    if path.is_dir():
        if split not in SPLIT_FILES:
            raise InputError(f"{path}: unknown GoEmotions split {split!r}; use one of {sorted(SPLIT_FILES)}")
        gzipped = path / f"{SPLIT_FILES[split]}.gz"
        path = (
            gzipped
            if gzipped.is_file() and not (path / SPLIT_FILES[split]).is_file()
            else path / SPLIT_FILES[split]
        )
    if not path.is_file():
        raise FileNotFoundError(f"GoEmotions file not found: {path}")
    return path


def load_goemotions_hub(split: str = "train", config: str = "simplified") -> datasets.Dataset:
    """Load `google-research-datasets/go_emotions` from the Hub (needs network).

    Parameters
    ----------
    split : str, default "train"
        ``train``, ``dev`` (read as the Hub's ``validation``) or ``test``.
    config : str, default "simplified"
        The Hub configuration.

    Returns
    -------
    datasets.Dataset
        Rows in the record schema, ``label_origin="human"``.

    Raises
    ------
    ConnectionError
        If the Hub cannot be reached (the message points to the packaged copy).
    """
    hub_split = "validation" if split == "dev" else split
    try:
        raw = datasets.load_dataset(HUB_ID, config, split=hub_split)
    except Exception as exc:
        raise ConnectionError(
            f"could not load {HUB_ID!r} from the Hugging Face Hub ({type(exc).__name__}: {exc}). "
            "Without network, pass a local path to the TSV release instead, e.g. "
            "load_goemotions('packaged', split='train')."
        ) from exc
    table = raw.with_format("arrow")[:]
    comment = table.column("id").combine_chunks().cast(pa.string())
    return dataset_from_columns(
        ids=pc.binary_join_element_wise("goemotions:", comment, ""),
        texts=table.column("text").combine_chunks(),
        labels=_sorted(table.column("labels").combine_chunks()),
        source="goemotions",
        label_origin="human",
        metas=json_objects({"comment_id": comment, "split": json.dumps(split)}, len(comment)),
        metas_from_meta_json=True,
    )


def _sorted(lists: pa.Array) -> pa.Array:
    rows = np.asarray(pc.list_parent_indices(lists), dtype=np.int64)
    values = np.asarray(pc.list_flatten(lists).to_numpy(zero_copy_only=False), dtype=np.int64)
    order = np.lexsort((values, rows))
    offsets = np.asarray(lists.offsets, dtype=np.int32) - lists.offsets[0].as_py()
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values[order], pa.int64()))


def load_goemotions(
    path: str | Path | None = None,
    split: str = "train",
    *,
    on_error: str = "raise",
    report: LoadReport | None = None,
) -> datasets.Dataset:
    """Load GoEmotions: ``"packaged"`` (the copy shipped in the package), a TSV file or folder, or the Hub.

    Parameters
    ----------
    path : str or Path, optional
        ``"packaged"``, a local ``.tsv`` file or folder, or None / the Hub id (needs network).
    split : str
        ``train``, ``dev`` (alias ``validation``) or ``test``.
    on_error, report
        As in `load_goemotions_tsv`.

    Returns
    -------
    datasets.Dataset
        Records in the schema.
    """
    if path is None or str(path) == HUB_ID:
        return load_goemotions_hub(split)
    if str(path) == PACKAGED:
        return load_goemotions_tsv(packaged_goemotions(split), split, on_error=on_error, report=report)
    return load_goemotions_tsv(path, split, on_error=on_error, report=report)


def packaged_goemotions(split: str) -> Path:
    """The GoEmotions split shipped in the package (``train``, ``dev``/``validation`` or ``test``).

    Parameters
    ----------
    split : str
        The split name.

    Returns
    -------
    Path
        The gzipped TSV file.

    Raises
    ------
    InputError
        If the split is unknown.
    """
    name = {"validation": "dev"}.get(split, split)
    if name not in ("train", "dev", "test"):
        raise InputError(
            f"unknown GoEmotions split {split!r}; the packaged copy has train, dev (validation), test"
        )
    return packaged_file(f"goemotions/{name}")


RAW_ID_COLUMNS = ("text", "id", "rater_id", "example_very_unclear")
RAW_META_COLUMNS = ("author", "subreddit", "link_id", "parent_id", "created_utc")
_UNCLEAR_WORDS = ["true", "1", "false", "0"]


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
    `paths` is one CSV, a list of CSVs, or a folder holding ``goemotions_*.csv``; files are read in
    Arrow batches.

    Parameters
    ----------
    paths : str, Path or iterable of them
        The CSV file(s), or a folder.
    min_raters : int, default 2
        Raters who must choose a label for it to be kept (>= 1).
    on_error : {"raise", "skip"}, default "raise"
        A bad row raises `SourceError` naming file and line, or is skipped and counted.
    report : LoadReport, optional
        Filled with rows read, loaded and skipped (a new one when None).

    Returns
    -------
    datasets.Dataset
        One row per kept comment, in the record schema.

    Raises
    ------
    InputError
        If `min_raters` < 1.
    FileNotFoundError
        If a file, or any ``goemotions_*.csv`` in a folder, is missing.
    """
    if min_raters < 1:
        raise InputError(f"min_raters must be >= 1, got {min_raters}")
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
    """Rater rows collected across files as columns, then aggregated per comment id with numpy."""

    def __init__(self) -> None:
        self.parts: list[dict[str, Any]] = []

    def read(self, file: Path, on_error: str, report: LoadReport) -> None:
        header = read_header(file)
        _check_raw_header(file, header)
        errors = RowErrors(file, on_error, report)
        chunks = read_delimited(
            file, field_count_message=lambda got: f"expected {len(header)} fields, got {got}"
        )
        for chunk in chunks:
            self.parts.append(self._read_chunk(chunk, header, file, errors))

    def _read_chunk(self, chunk: Chunk, header: list[str], file: Path, errors: RowErrors) -> dict[str, Any]:
        batch, lines, blank_lines = drop_blank_rows(chunk)
        errors.report.counts["blank_lines"] += blank_lines
        errors.report.rows_read += len(lines) + sum(r.kind == "field_count" for r in chunk.bad)
        checks = RowChecks(lines)
        checks.add_records(chunk.bad)
        columns = {name: _decoded(column, checks) for name, column in zip(header, batch.columns)}
        checks.fail(blank_text(columns["text"]), "empty_text", "empty text")
        comment = pc.utf8_trim_whitespace(columns["id"])
        checks.fail(value_lengths(comment) == 0, "empty_id", "empty id")
        unclear_word = pc.utf8_lower(pc.utf8_trim_whitespace(columns["example_very_unclear"]))
        unclear_code = np.asarray(
            pc.fill_null(pc.index_in(unclear_word, value_set=pa.array(_UNCLEAR_WORDS)), -1)
        )
        checks.fail(unclear_code < 0, "bad_unclear_flag",
                    lambda row: "example_very_unclear must be True/False, got "
                    f"{columns['example_very_unclear'][row].as_py()!r}")  # fmt: skip
        votes, vote_errors = _votes(columns)
        mask = np.zeros(len(lines), dtype=bool)
        mask[list(vote_errors)] = True
        checks.fail(mask, "bad_emotion_flag", lambda row: vote_errors[row])
        checks.settle(errors)
        keep = ~checks.bad
        return {
            "id": comment.filter(pa.array(keep)),
            "votes": votes[keep],
            "unclear": unclear_code[keep] < 2,
            "text": columns["text"].filter(pa.array(keep)),
            "meta": {k: columns[k].filter(pa.array(keep)) for k in RAW_META_COLUMNS if k in columns},
            "file": str(file),
            "lines": lines[keep],
        }

    def aggregate(self, min_raters: int, report: LoadReport) -> datasets.Dataset:
        parts = [p for p in self.parts if len(p["lines"])]
        ids = pa.chunked_array([p["id"] for p in parts], pa.string()).combine_chunks()
        codes = np.asarray(ids.dictionary_encode().indices, dtype=np.int64)
        _, first_row, groups = np.unique(codes, return_index=True, return_inverse=True)
        order = np.argsort(first_row, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        groups, first_row = rank[groups], first_row[order]
        unclear = np.concatenate([p["unclear"] for p in parts]) if parts else np.zeros(0, bool)
        all_votes = (
            np.concatenate([p["votes"] for p in parts]) if parts else np.zeros((0, len(GOEMOTIONS)), np.int8)
        )
        votes = np.zeros((len(order), len(GOEMOTIONS)), dtype=np.int64)
        np.add.at(votes, groups, all_votes * ~unclear[:, None])
        n_ratings = np.bincount(groups, minlength=len(order))
        n_unclear = np.bincount(groups, weights=unclear, minlength=len(order)).astype(np.int64)
        report.counts["unclear_ratings"] += int(unclear.sum())
        kept_mask = votes >= min_raters
        agreed = kept_mask.any(axis=1)
        files = np.concatenate([[p["file"]] * len(p["lines"]) for p in parts]) if parts else np.zeros(0, str)
        lines = np.concatenate([p["lines"] for p in parts]) if parts else np.zeros(0, np.int64)
        reason = f"no label chosen by at least {min_raters} raters"
        for index in np.flatnonzero(~agreed):
            row = first_row[index]
            RowErrors(files[row], "skip", report).drop(
                int(lines[row]),
                reason,
                "no_agreement",
                comment_id=ids[int(row)].as_py(),
                ratings=int(n_ratings[index]),
            )
        report.counts["examples_without_agreement"] += int((~agreed).sum())
        keep = np.flatnonzero(agreed)
        rows = pa.array(first_row[keep])
        report.rows_loaded += len(keep)
        comment = ids.take(rows)
        meta = {
            key: RawJson(
                json_values(
                    pa.chunked_array([p["meta"][key] for p in parts], pa.string()).combine_chunks().take(rows)
                ).values
            )
            for key in RAW_META_COLUMNS
            if parts and key in parts[0]["meta"]
        }
        meta.update(
            {
                "comment_id": comment,
                "n_raters": RawJson(pa.array(n_ratings[keep]).cast(pa.string())),
                "n_unclear": RawJson(pa.array(n_unclear[keep]).cast(pa.string())),
                "votes": RawJson(
                    pa.array(
                        [
                            json.dumps(
                                {GOEMOTIONS.names[j]: int(votes[i, j]) for j in np.flatnonzero(votes[i])}
                            )
                            for i in keep
                        ],
                        pa.string(),
                    )
                ),
                "min_raters": str(min_raters),
                "split": '"raw"',
            }
        )
        texts = pa.chunked_array([p["text"] for p in parts], pa.string()).combine_chunks().take(rows)
        return dataset_from_columns(
            ids=pc.binary_join_element_wise("goemotions:", comment, ""),
            texts=texts,
            labels=GOEMOTIONS.from_multi_hot(kept_mask[keep]),
            source="goemotions",
            label_origin="human",
            metas=json_objects(meta, len(keep)),
            metas_from_meta_json=True,
        )


def _check_raw_header(file: Path, header: list[str]) -> None:
    if not header:
        raise SourceError(f"{file}, line 1: empty file, expected a header row")
    missing = [c for c in (*RAW_ID_COLUMNS, *GOEMOTIONS.names) if c not in header]
    if missing:
        raise SourceError(f"{file}, line 1: header lacks column(s) {missing}")


def _votes(columns: dict[str, pa.Array]) -> tuple[np.ndarray, dict[int, str]]:
    """The (rows, 28) 0/1 emotion votes, and the rows whose emotion columns are not 0 or 1."""
    n = len(columns["text"])
    votes = np.zeros((n, len(GOEMOTIONS)), dtype=np.int8)
    errors: dict[int, str] = {}
    for j, name in enumerate(GOEMOTIONS.names):
        words = pc.utf8_trim_whitespace(columns[name])
        number = np.asarray(
            pc.fill_null(pc.match_substring_regex(words, r"^[+-]?[0-9]+$"), False), dtype=bool
        )
        for row in np.flatnonzero(~number):
            errors.setdefault(int(row), "emotion columns must be 0 or 1")
        values = np.zeros(n, dtype=np.int64)
        if number.any():
            values[number] = np.asarray(pc.cast(words.filter(pa.array(number)), pa.int64()))
        for row in np.flatnonzero(number & (values != 0) & (values != 1)):
            errors.setdefault(
                int(row),
                f"emotion columns must be 0 or 1, got other values in {_bad_flags(columns, int(row))}",
            )
        votes[:, j] = values == 1
    return votes, errors


def _bad_flags(columns: dict[str, pa.Array], row: int) -> list[str]:
    return [name for name in GOEMOTIONS.names if columns[name][row].as_py().strip() not in ("0", "1")]


__all__ = [
    "HUB_ID",
    "PACKAGED",
    "load_goemotions",
    "load_goemotions_hub",
    "load_goemotions_raw",
    "load_goemotions_tsv",
    "packaged_goemotions",
]
