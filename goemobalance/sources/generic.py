"""Generic loader: CSV / TSV / JSONL / Parquet files or a `datasets.Dataset`, with a column mapping.

Labels may be a list column (ids or names), a comma-separated string of ids or names, or one 0/1
column per label (multi-hot). Columns not used by the mapping are kept in ``meta``. Files that already
hold the record schema (``id, text, labels, source, label_origin, scores, meta``) load unchanged.

Tables are read in Arrow batches (pyarrow's CSV and Parquet readers, a Dataset's own batches; JSONL
lines parsed with `json`) and mapped column by column (`columns`), so a table of millions of rows loads
with memory for one batch and without a Python record per row.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from goemobalance.errors import InputError
from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.schema import LABEL_ORIGINS
from goemobalance.sources.batches import Prepared, load_batches
from goemobalance.sources.checks import RowChecks, blank_text, decode
from goemobalance.sources.columns import id_strings, json_values, label_ids, multi_hot_labels, score_lists
from goemobalance.sources.errors import LoadReport, RowErrors, is_gzip, plain_suffix, reason_kind
from goemobalance.sources.reading import (
    BadRecord,
    Chunk,
    GzipInput,
    drop_blank_rows,
    read_delimited,
    read_header,
)
from goemobalance.sources.records import RawJson, json_objects

LABEL_FORMATS = ("auto", "names", "ids", "multi_hot")
TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
                  ".parquet": "parquet", ".pq": "parquet"}  # fmt: skip
_SCHEMA_PASSTHROUGH = ("source", "label_origin", "scores", "meta")
#: Rows per batch for Parquet files, Datasets and JSONL.
BATCH_ROWS = 1 << 15
_UNDECODABLE = "undecodable bytes (the file is not valid UTF-8; pass the right encoding)"


def load_table(
    path_or_dataset: str | Path | datasets.Dataset,
    *,
    text_column: str = "text",
    labels_column: str | None = None,
    label_columns: Sequence[str] | Mapping[str, str] | None = None,
    label_format: str = "auto",
    id_column: str | None = None,
    source: str | None = None,
    label_origin: str | None = None,
    space: LabelSpace = GOEMOTIONS,
    allow_unlabeled: bool = False,
    on_error: str = "raise",
    report: LoadReport | None = None,
) -> datasets.Dataset:
    """Load a table into the record schema.

    Parameters
    ----------
    path_or_dataset : str, Path or datasets.Dataset
        A ``.csv``/``.tsv``/``.jsonl`` file (plain or gzip), a ``.parquet`` file, or a Dataset.
    text_column : str
        The column holding the text.
    labels_column : str, optional
        One column of labels (a list, or a string ``"2,25"`` / ``"anger, sadness"`` / ``"[2, 25]"``); when
        neither it nor `label_columns` is given, a ``labels`` column is used if present, otherwise rows come
        out unlabeled (``labels=[]``, ``label_origin="pseudo"``, ``meta["labeled"]=false``).
    label_columns : list of str or dict, optional
        Multi-hot 0/1 columns, named like the labels or mapped ``{column: label name}``.
    label_format : {"auto", "names", "ids", "multi_hot"}
        How label tokens are read ("auto": integers are ids, other tokens names).
    id_column : str, optional
        Defaults to ``id`` when present, else the line (files) or 0-based row (Parquet, Dataset) number;
        ids without a ``:`` are prefixed with ``<source>:``.
    source, label_origin : str, optional
        Defaults for rows without a ``source`` / ``label_origin`` column (``"custom"`` / ``"human"``).
    space : LabelSpace
        The label space.
    allow_unlabeled : bool
        Accept rows with an empty label cell when a label column is given.
    on_error : {"raise", "skip"}
        Bad rows (malformed lines, unknown label ids or names, empty text or id, undecodable bytes,
        repeated labels or ids) raise `SourceError` naming the file and the 1-based line (or row), or are
        skipped and counted by reason in `report`.
    report : LoadReport, optional
        Receives rows read, loaded and skipped.

    Returns
    -------
    datasets.Dataset
        Records in the schema; a large table's rows are memory-mapped from a temporary Arrow file.
    """
    if label_format not in LABEL_FORMATS:
        raise InputError(f"label_format must be one of {LABEL_FORMATS}, got {label_format!r}")
    table = _open_table(path_or_dataset)
    mapping = _Mapping.build(
        table.columns, text_column, labels_column, label_columns, label_format, id_column, source,
        label_origin, space, allow_unlabeled, table.name,
    )  # fmt: skip
    mapping.class_names = _class_names(path_or_dataset, mapping.labels_column, space)
    mapping.first_position = 1 if table.unit == "row" else 0
    mapping.text_file = table.binary
    errors = RowErrors(table.name, on_error, report, unit=table.unit)
    return load_batches(
        table.chunks,
        mapping.prepare,
        errors,
        lambda record_id, first: f"duplicate id {record_id!r}, first seen on {table.unit} {first}",
        space,
    )


def table_format(path: str | Path) -> str:
    """The table format of a file from its suffix (csv, tsv, jsonl, parquet; text formats may end in .gz)."""
    suffix = plain_suffix(path)
    if suffix not in TABLE_SUFFIXES:
        raise InputError(f"{path}: unsupported file type {suffix!r}; use one of {sorted(TABLE_SUFFIXES)}")
    return TABLE_SUFFIXES[suffix]


@dataclass
class _Table:
    """An opened table: its name for messages, position unit, columns and batches in file order.

    Positions are 1-based: lines for files read as text, rows for Parquet files and Datasets (whose
    default ids stay the 0-based row number, as before). `binary` marks delimited text files, whose
    columns arrive as bytes to decode.
    """

    name: str
    unit: str
    columns: list[str]
    chunks: Iterator[Chunk]
    binary: bool = False


def _open_table(source) -> _Table:
    if isinstance(source, datasets.Dataset):
        batches = source.with_format("arrow").iter(batch_size=BATCH_ROWS)
        return _Table("<datasets.Dataset>", "row", list(source.column_names), _row_chunks(batches))
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"table file not found: {path}")
    kind = table_format(path)
    if kind == "parquet":
        parquet = open_parquet(path)
        batches = parquet.iter_batches(batch_size=BATCH_ROWS)
        return _Table(str(path), "row", list(parquet.schema_arrow.names), _row_chunks(batches))
    if kind == "jsonl":
        return _Table(str(path), "line", _jsonl_columns(path), _jsonl_chunks(path))
    delimiter = "\t" if kind == "tsv" else ","
    header = read_header(path, delimiter)
    chunks = read_delimited(
        path,
        delimiter=delimiter,
        field_count_message=lambda got: f"malformed row: expected {len(header)} fields, got {got}",
    )
    return _Table(str(path), "line", header, chunks, binary=True)


def open_parquet(path: str | Path) -> pq.ParquetFile:
    """The parquet file `path`, opened; a file that is not parquet (or is cut off) is an `InputError`
    naming it, not a pyarrow error."""
    try:
        return pq.ParquetFile(path)
    except pa.ArrowException as exc:
        raise InputError(f"{path}: not a readable parquet file ({' '.join(str(exc).split())})") from None


def _row_chunks(batches) -> Iterator[Chunk]:
    start = 0
    for batch in batches:
        if isinstance(batch, pa.Table):
            batch = (
                batch.combine_chunks().to_batches()[0] if batch.num_rows else pa.RecordBatch.from_pylist([])
            )
        batch = _small_offsets(batch)
        yield Chunk(batch, np.arange(start + 1, start + 1 + batch.num_rows, dtype=np.int64))
        start += batch.num_rows


def _jsonl_lines(path: Path) -> Iterator[tuple[int, bytes | None, str | None]]:
    """(line number, line bytes, None) for every line, then (line, None, why) if a gzip file is damaged."""
    gzip_input = GzipInput(path) if is_gzip(path) else None
    handle = io.BufferedReader(gzip_input) if gzip_input else open(path, "rb")  # noqa: SIM115
    number = 0
    with handle:
        for number, raw in enumerate(handle, start=1):
            yield number, raw.removeprefix(b"\xef\xbb\xbf") if number == 1 else raw, None
    if gzip_input is not None and gzip_input.broken:
        why = f"the gzip file is truncated or corrupt ({gzip_input.broken}); rows from this line on are lost"
        yield number + 1, None, why


def _jsonl_columns(path: Path) -> list[str]:
    columns: dict[str, None] = {}
    for _, raw, _ in _jsonl_lines(path):
        try:
            value = json.loads(raw) if raw is not None else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(value, dict):
            columns.update(dict.fromkeys(value))
    return list(columns)


def _jsonl_chunks(path: Path) -> Iterator[Chunk]:
    """Batches of JSONL rows (one JSON object per line), with malformed lines as bad records."""
    rows: list[dict] = []
    lines: list[int] = []
    bad: list[BadRecord] = []
    for number, raw, why in _jsonl_lines(path):
        if raw is None:
            bad.append(BadRecord(number, why, "truncated_file"))
            continue
        if not raw.strip():
            continue
        value, problem = _json_object(raw)
        if problem is not None:
            bad.append(BadRecord(number, problem, reason_kind(problem)))
        else:
            rows.append(value)
            lines.append(number)
        if len(rows) >= BATCH_ROWS:
            yield Chunk(_rows_to_batch(rows), np.asarray(lines, dtype=np.int64), bad)
            rows, lines, bad = [], [], []
    if rows or bad:
        yield Chunk(_rows_to_batch(rows), np.asarray(lines, dtype=np.int64), bad)


def _json_object(raw: bytes) -> tuple[dict | None, str | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, _UNDECODABLE
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"malformed JSON: {exc}"
    if not isinstance(value, dict):
        return None, f"expected a JSON object, got {type(value).__name__}"
    return value, None


def _rows_to_batch(rows: list[dict]) -> pa.RecordBatch:
    """One batch from JSON objects; a column whose values Arrow cannot type together is kept as JSON text."""
    names = list(dict.fromkeys(key for row in rows for key in row))
    arrays = []
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            arrays.append(pa.array([v if isinstance(v, str) or v is None else json.dumps(v) for v in values]))
    if not names:
        return pa.RecordBatch.from_pydict({})
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _small_offsets(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Large string/binary/list columns (pandas writes them) as their 32-bit-offset types."""
    arrays = []
    for column in batch.columns:
        kind = column.type
        if pa.types.is_large_string(kind):
            column = column.cast(pa.string())
        elif pa.types.is_large_binary(kind):
            column = column.cast(pa.binary())
        elif pa.types.is_large_list(kind):
            column = column.cast(pa.list_(kind.value_type))
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


@dataclass
class _Mapping:
    """How table columns map onto the record; `prepare` maps one batch, column by column."""

    text_column: str
    labels_column: str | None
    multi_hot: dict[str, str]
    label_format: str
    id_column: str | None
    source: str | None
    label_origin: str | None
    space: LabelSpace
    allow_unlabeled: bool
    used: set[str]
    class_names: list[str] | None = None
    first_position: int = 0
    text_file: bool = False

    @property
    def labeled(self) -> bool:
        return bool(self.multi_hot) or self.labels_column is not None

    @classmethod
    def build(
        cls, columns: list[str], text_column: str, labels_column: str | None, label_columns, label_format: str,
        id_column: str | None, source: str | None, label_origin: str | None, space: LabelSpace,
        allow_unlabeled: bool, name: str,
    ) -> _Mapping:  # fmt: skip
        """Resolve defaults (``labels``/``id`` columns, multi-hot detection) and check columns exist."""
        if columns and text_column not in columns:
            raise InputError(f"{name}: no text column {text_column!r}; columns are {columns}")
        if label_format == "multi_hot" and not label_columns:
            label_columns = [c for c in columns if c in space.names]
            if not label_columns:
                raise InputError(f"{name}: label_format='multi_hot' but no column is named like a label")
        multi_hot = _multi_hot_columns(label_columns, space, columns, name)
        if labels_column is None and not multi_hot and "labels" in columns:
            labels_column = "labels"
        if id_column is None and "id" in columns:
            id_column = "id"
        for role, column in (("labels", labels_column), ("id", id_column)):
            if column is not None and columns and column not in columns:
                raise InputError(f"{name}: no {role} column {column!r}; columns are {columns}")
        return cls(
            text_column=text_column,
            labels_column=labels_column,
            multi_hot=multi_hot,
            label_format="multi_hot" if multi_hot else label_format,
            id_column=id_column,
            source=source,
            label_origin=label_origin,
            space=space,
            allow_unlabeled=allow_unlabeled,
            used={text_column, labels_column, id_column, *multi_hot, *_SCHEMA_PASSTHROUGH},
        )

    def prepare(self, chunk: Chunk) -> Prepared:
        """Map one batch (runs in a worker thread: no shared state is changed)."""
        batch, positions, blank_lines = chunk.batch, chunk.lines, 0
        if self.text_file:
            batch, positions, blank_lines = drop_blank_rows(chunk)
        checks = RowChecks(positions)
        checks.add_records(chunk.bad)
        columns = dict(zip(batch.schema.names, batch.columns))
        if self.text_file:
            columns = self._decoded(columns, checks)
        n = batch.num_rows
        text = self._text(columns, n, checks)
        labels = self._labels(columns, n, checks)
        sources = self._sources(columns, n)
        unlabeled = np.asarray(pc.equal(pc.list_value_length(labels), 0), dtype=bool)
        meta = self._meta(columns, n, unlabeled, checks)
        if self.labeled and not self.allow_unlabeled:
            checks.fail(unlabeled, "no_labels", "no labels")
        origins = self._origins(columns, n, unlabeled, checks)
        ids = self._ids(columns, positions, sources, checks)
        scores = self._scores(columns, n, checks)
        keep = pa.array(~checks.bad)
        return Prepared(
            checks=checks,
            rows_read=n + sum(r.kind != "truncated_file" for r in chunk.bad),
            blank_lines=blank_lines,
            keys=ids.filter(keep),
            positions=positions[~checks.bad],
            columns={
                "id": ids.filter(keep),
                "text": text.filter(keep),
                "labels": labels.filter(keep),
                "source": sources.filter(keep),
                "label_origin": origins.filter(keep),
                "scores": scores.filter(keep),
                "meta": meta.filter(keep),
            },
        )

    def _decoded(self, columns: dict[str, pa.Array], checks: RowChecks) -> dict[str, pa.Array]:
        """Binary CSV columns as UTF-8 strings; rows with undecodable bytes fail."""
        decoded = {}
        for name, column in columns.items():
            result = decode(column)
            failed = np.zeros(len(column), dtype=bool)
            failed[list(result.failed)] = True
            checks.fail(failed, "undecodable", _UNDECODABLE)
            decoded[name] = result.strings
        return decoded

    def _text(self, columns: dict[str, pa.Array], n: int, checks: RowChecks) -> pa.Array:
        values = columns.get(self.text_column)
        message = f"empty text in column {self.text_column!r}"
        if values is None or not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            checks.fail(np.ones(n, dtype=bool), "empty_text", message)
            return pa.array([""] * n, pa.string())
        values = pc.fill_null(values, "")
        checks.fail(blank_text(values), "empty_text", message)
        return values

    def _labels(self, columns: dict[str, pa.Array], n: int, checks: RowChecks) -> pa.Array:
        if self.multi_hot:
            flags = {self.space.id(label): (column, _column_or_nulls(columns, column, n))
                     for column, label in self.multi_hot.items()}  # fmt: skip
            labels, errors = multi_hot_labels(flags, n, len(self.space))
        elif self.labels_column is not None:
            values = _column_or_nulls(columns, self.labels_column, n)
            labels, errors = label_ids(values, self.label_format, self.space, self.class_names)
        else:
            return pa.array([[]] * n, pa.list_(pa.int64()))
        _fail_rows(checks, errors, "bad_label")
        return labels

    def _sources(self, columns: dict[str, pa.Array], n: int) -> pa.Array:
        if self.source:
            return pa.repeat(pa.scalar(self.source), n)
        return _string_or(columns.get("source"), "custom", n)

    def _origins(
        self, columns: dict[str, pa.Array], n: int, unlabeled: np.ndarray, checks: RowChecks
    ) -> pa.Array:
        given = pa.repeat(pa.scalar(self.label_origin), n) if self.label_origin else None
        origins = given if given is not None else _string_or(columns.get("label_origin"), "human", n)
        origins = pc.if_else(pa.array(unlabeled), "pseudo", origins)
        known = np.asarray(pc.is_in(origins, value_set=pa.array(LABEL_ORIGINS)), dtype=bool)
        checks.fail(~known, "bad_label_origin",
                    lambda row: f"label_origin {origins[row].as_py()!r} is not one of {LABEL_ORIGINS}")  # fmt: skip
        return origins

    def _ids(
        self, columns: dict[str, pa.Array], positions: np.ndarray, sources: pa.Array, checks: RowChecks
    ) -> pa.Array:
        if self.id_column is None:
            values = pa.array(positions - self.first_position).cast(pa.string())
        else:
            values, empty = id_strings(_column_or_nulls(columns, self.id_column, len(positions)))
            checks.fail(empty, "empty_id", f"empty id in column {self.id_column!r}")
        prefixed = pc.binary_join_element_wise(sources, ":", values, "")
        return pc.if_else(pc.match_substring(values, ":"), values, prefixed)

    def _scores(self, columns: dict[str, pa.Array], n: int, checks: RowChecks) -> pa.Array:
        values = columns.get("scores")
        if values is None:
            return pa.array([[]] * n, pa.list_(pa.float32()))
        scores, errors = score_lists(values, len(self.space))
        _fail_rows(checks, errors, "bad_scores")
        return scores

    def _meta(
        self, columns: dict[str, pa.Array], n: int, unlabeled: np.ndarray, checks: RowChecks
    ) -> pa.Array:
        """Unused columns (and ``labeled: false`` for unlabeled rows), merged into a ``meta`` column if any."""
        extra = {name: values for name, values in columns.items() if name not in self.used}
        labeled = pa.array(np.where(unlabeled, "false", None), pa.string())
        if "meta" not in columns:
            fields: dict[str, Any] = {name: json_values(values) for name, values in extra.items()}
            fields["labeled"] = RawJson(labeled) if "labeled" not in extra else fields["labeled"]
            return json_objects(fields, n)
        merged, errors = _merged_meta(columns["meta"], extra, unlabeled)
        _fail_rows(checks, errors, "bad_meta")
        return merged


def _fail_rows(checks: RowChecks, errors: dict[int, str], kind: str) -> None:
    if errors:
        mask = np.zeros(len(checks.lines), dtype=bool)
        mask[list(errors)] = True
        checks.fail(mask, kind, lambda row: errors[row])


def _column_or_nulls(columns: dict[str, pa.Array], name: str, n: int) -> pa.Array:
    """A column, or nulls where a JSONL batch had no such key."""
    values = columns.get(name)
    return values if values is not None else pa.nulls(n, pa.string())


def _string_or(values: pa.Array | None, default: str, n: int) -> pa.Array:
    """Each value when it is a non-blank string, else `default`."""
    if values is None or not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return pa.repeat(pa.scalar(default), n)
    present = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(values)), 0), False)
    return pc.if_else(present, values, default)


def _merged_meta(metas: pa.Array, extra: dict[str, pa.Array], unlabeled: np.ndarray) -> tuple[pa.Array, dict]:
    """Each row's ``meta`` object with the unused columns added (in Python: it merges JSON objects)."""
    extra_values = {name: values.to_pylist() for name, values in extra.items()}
    merged, errors = [], {}
    for row, value in enumerate(metas.to_pylist()):
        try:
            meta = _meta_object(value)
        except ValueError as exc:
            errors[row] = str(exc)
            merged.append("{}")
            continue
        meta.update({name: values[row] for name, values in extra_values.items()})
        if unlabeled[row]:
            meta["labeled"] = False
        merged.append(json.dumps(meta, ensure_ascii=False, sort_keys=True, default=str))
    return pa.array(merged, pa.string()), errors


def _meta_object(value: Any) -> dict:
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return dict(value)
    try:
        parsed = json.loads(value)
    except (TypeError, json.JSONDecodeError):
        raise ValueError(f"meta must be a JSON object, got {value!r}") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"meta must be a JSON object, got {value!r}")  # noqa: TRY004 - a bad row, not a bug
    return parsed


def _class_names(source, labels_column: str | None, space: LabelSpace) -> list[str] | None:
    """A Dataset's own ClassLabel names when they differ from `space` (ids are then translated by name)."""
    if not isinstance(source, datasets.Dataset) or labels_column is None:
        return None
    feature = source.features.get(labels_column)
    inner = getattr(feature, "feature", feature)
    if isinstance(inner, datasets.ClassLabel) and tuple(inner.names) != space.names:
        return list(inner.names)
    return None


def _multi_hot_columns(label_columns, space: LabelSpace, columns: list[str], name: str) -> dict[str, str]:
    if not label_columns:
        return {}
    mapping = dict(label_columns) if isinstance(label_columns, Mapping) else {c: c for c in label_columns}
    for column, label in mapping.items():
        if columns and column not in columns:
            raise InputError(f"{name}: no multi-hot column {column!r}; columns are {columns}")
        space.id(label)
    return mapping


__all__ = ["LABEL_FORMATS", "load_table", "table_format"]
