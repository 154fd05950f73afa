"""Generic loader: CSV / TSV / JSONL / Parquet files or a `datasets.Dataset`, with a column mapping.

Labels may be a list column (ids or names), a comma-separated string of ids or names, or one 0/1
column per label (multi-hot). Columns not used by the mapping are kept in ``meta``. Files that already
hold the record schema (``id, text, labels, source, label_origin, scores, meta``) load unchanged.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq

from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.schema import LABEL_ORIGINS
from goemobalance.sources.errors import LoadReport, RowErrors, check_decoded, open_text, plain_suffix
from goemobalance.sources.records import dataset_from_columns

LABEL_FORMATS = ("auto", "names", "ids", "multi_hot")
TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
                  ".parquet": "parquet", ".pq": "parquet"}  # fmt: skip
_SCHEMA_PASSTHROUGH = ("source", "label_origin", "scores", "meta")
_TRUE = {"1": 1, "0": 0, "true": 1, "false": 0, "1.0": 1, "0.0": 0, "": 0}


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

    - `labels_column`: one column of labels (a list, or a string ``"2,25"`` / ``"anger, sadness"``);
      when neither it nor `label_columns` is given, a ``labels`` column is used if present, otherwise
      rows come out unlabeled (``labels=[]``, ``label_origin="pseudo"``, ``meta["labeled"]=false``).
    - `label_columns`: multi-hot 0/1 columns, named like the labels or mapped ``{column: label name}``.
    - `id_column`: defaults to ``id`` when present, else the line/row number; ids without a ``:`` are
      prefixed with ``<source>:``.
    - `source` / `label_origin`: defaults for rows without a ``source`` / ``label_origin`` column
      (``"custom"`` / ``"human"``).

    Bad rows (malformed lines, unknown label ids or names, empty text, undecodable bytes, no labels when
    labels are expected) raise `SourceError` naming file and line, or with ``on_error="skip"`` are
    skipped and counted in `report`.
    """
    if label_format not in LABEL_FORMATS:
        raise ValueError(f"label_format must be one of {LABEL_FORMATS}, got {label_format!r}")
    name, unit, rows, columns = _open_rows(path_or_dataset)
    mapping = _Mapping.build(
        columns, text_column, labels_column, label_columns, label_format, id_column, source, label_origin,
        space, allow_unlabeled, name,
    )  # fmt: skip
    mapping.class_names = _class_names(path_or_dataset, mapping.labels_column, space)
    errors = RowErrors(name, on_error, report, unit=unit)
    parsed: list[dict] = []
    for position, row in rows:
        record = errors.guard(position, mapping.parse, row, position)
        if record is not None:
            parsed.append(record)
    errors.finish(len(parsed))
    return dataset_from_columns(
        ids=[r["id"] for r in parsed],
        texts=[r["text"] for r in parsed],
        labels=[r["labels"] for r in parsed],
        source=[r["source"] for r in parsed],
        label_origin=[r["label_origin"] for r in parsed],
        scores=[r["scores"] for r in parsed],
        metas=[r["meta"] for r in parsed],
        space=space,
        allow_unlabeled=True,
    )


def table_format(path: str | Path) -> str:
    """The table format of a file from its suffix (csv, tsv, jsonl, parquet; text formats may end in .gz)."""
    suffix = plain_suffix(path)
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{path}: unsupported file type {suffix!r}; use one of {sorted(TABLE_SUFFIXES)}")
    return TABLE_SUFFIXES[suffix]


def _open_rows(source) -> tuple[str, str, Iterator[tuple[int, dict]], list[str]]:
    """(name for errors, position unit, iterator of (position, row dict), column names)."""
    if isinstance(source, datasets.Dataset):
        return "<datasets.Dataset>", "row", _enumerate_rows(source), list(source.column_names)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"table file not found: {path}")
    kind = table_format(path)
    if kind == "parquet":
        table = pq.read_table(path)
        return str(path), "row", _enumerate_rows(table.to_pylist()), list(table.column_names)
    if kind == "jsonl":
        return str(path), "line", _jsonl_rows(path), _jsonl_columns(path)
    delimiter = "\t" if kind == "tsv" else ","
    return str(path), "line", _delimited_rows(path, delimiter), _delimited_header(path, delimiter)


def _enumerate_rows(rows) -> Iterator[tuple[int, dict]]:
    yield from enumerate(rows)


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    with open_text(path) as handle:
        for line_no, line in enumerate(handle, start=1):
            if line.strip():
                yield line_no, {"__jsonl__": line}


def _jsonl_columns(path: Path) -> list[str]:
    columns: dict[str, None] = {}
    with open_text(path) as handle:
        for line in handle:
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                columns.update(dict.fromkeys(value))
    return list(columns)


def _delimited_header(path: Path, delimiter: str) -> list[str]:
    with open_text(path) as handle:
        return next(csv.reader(handle, delimiter=delimiter), [])


def _delimited_rows(path: Path, delimiter: str) -> Iterator[tuple[int, dict]]:
    with open_text(path) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, [])
        line_no = reader.line_num + 1
        for fields in reader:
            if fields:
                yield line_no, {"__fields__": fields, "__header__": header}
            line_no = reader.line_num + 1


@dataclass
class _Mapping:
    """How table columns map onto the record; `parse` turns one raw row into record columns."""

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
            raise ValueError(f"{name}: no text column {text_column!r}; columns are {columns}")
        if label_format == "multi_hot" and not label_columns:
            label_columns = [c for c in columns if c in space.names]
            if not label_columns:
                raise ValueError(f"{name}: label_format='multi_hot' but no column is named like a label")
        multi_hot = _multi_hot_columns(label_columns, space, columns, name)
        if labels_column is None and not multi_hot and "labels" in columns:
            labels_column = "labels"
        if id_column is None and "id" in columns:
            id_column = "id"
        for role, column in (("labels", labels_column), ("id", id_column)):
            if column is not None and columns and column not in columns:
                raise ValueError(f"{name}: no {role} column {column!r}; columns are {columns}")
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

    def parse(self, row: dict, position: int) -> dict:
        row = _materialize(row)
        text = row.get(self.text_column)
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"empty text in column {self.text_column!r}")
        source = self.source or _string_or(row.get("source"), "custom")
        labels = self._labels(row)
        meta = _meta(row.get("meta"))
        meta.update({k: v for k, v in row.items() if k not in self.used})
        origin = self.label_origin or _string_or(row.get("label_origin"), "human")
        if not labels:
            if self.labeled and not self.allow_unlabeled:
                raise ValueError("no labels")
            origin = "pseudo"
            meta["labeled"] = False
        if origin not in LABEL_ORIGINS:
            raise ValueError(f"label_origin {origin!r} is not one of {LABEL_ORIGINS}")
        return {
            "id": _record_id(row, self.id_column, source, position),
            "text": text,
            "labels": labels,
            "source": source,
            "label_origin": origin,
            "scores": _scores(row.get("scores"), len(self.space)),
            "meta": json.dumps(meta, ensure_ascii=False, sort_keys=True, default=str),
        }

    def _labels(self, row: dict) -> list[int]:
        if self.multi_hot:
            return sorted(self.space.id(label) for column, label in self.multi_hot.items()
                          if _flag(row.get(column), column))  # fmt: skip
        if self.labels_column is None:
            return []
        tokens = _tokens(row.get(self.labels_column))
        if self.class_names is not None:
            tokens = [self.class_names[int(t)] for t in tokens]
        ids = [_label_id(token, self.label_format, self.space) for token in tokens]
        if len(set(ids)) != len(ids):
            raise ValueError(f"repeated label in {row.get(self.labels_column)!r}")
        return sorted(ids)


def _class_names(source, labels_column: str | None, space: LabelSpace) -> list[str] | None:
    """A Dataset's own ClassLabel names when they differ from `space` (ids are then translated by name)."""
    if not isinstance(source, datasets.Dataset) or labels_column is None:
        return None
    feature = source.features.get(labels_column)
    inner = getattr(feature, "feature", feature)
    if isinstance(inner, datasets.ClassLabel) and tuple(inner.names) != space.names:
        return list(inner.names)
    return None


def _materialize(row: dict) -> dict:
    """A plain {column: value} dict from a CSV/JSONL carrier row, checking shape and decoding."""
    if "__jsonl__" in row:
        check_decoded([row["__jsonl__"]])
        try:
            value = json.loads(row["__jsonl__"])
        except json.JSONDecodeError as exc:
            raise ValueError(f"malformed JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, got {type(value).__name__}")
        return value
    if "__fields__" in row:
        fields, header = row["__fields__"], row["__header__"]
        if len(fields) != len(header):
            raise ValueError(f"malformed row: expected {len(header)} fields, got {len(fields)}")
        check_decoded(fields)
        return dict(zip(header, fields))
    return row


def _multi_hot_columns(label_columns, space: LabelSpace, columns: list[str], name: str) -> dict[str, str]:
    if not label_columns:
        return {}
    mapping = dict(label_columns) if isinstance(label_columns, Mapping) else {c: c for c in label_columns}
    for column, label in mapping.items():
        if columns and column not in columns:
            raise ValueError(f"{name}: no multi-hot column {column!r}; columns are {columns}")
        space.id(label)
    return mapping


def _flag(value: Any, column: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return _TRUE[value.strip().lower()]
    if value is None:
        return 0
    raise ValueError(f"multi-hot column {column!r} must be 0 or 1, got {value!r}")


def _tokens(value: Any) -> list:
    """Label tokens from a list, a scalar, a comma-separated string, or a printed list.

    Printed lists come as JSON/Python (``[2, 25]``, ``['joy']``) or numpy (``[ 2 25]``, as written by
    `Dataset.to_csv`).
    """
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist"):
        return list(value.tolist())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value]
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1]
        parts = inner.split(",") if "," in inner else inner.split()
        return [p.strip().strip("'\"") for p in parts if p.strip().strip("'\"")]
    return [token.strip() for token in text.split(",") if token.strip()]


def _label_id(token: Any, label_format: str, space: LabelSpace) -> int:
    is_number = isinstance(token, int) or (isinstance(token, str) and token.strip().lstrip("-").isdigit())
    if isinstance(token, float) and token.is_integer():
        token, is_number = int(token), True
    if label_format == "ids" or (label_format == "auto" and is_number):
        if not is_number:
            raise ValueError(f"label ids must be integers, got {token!r}")
        space.name(int(token))
        return int(token)
    if not isinstance(token, str):
        raise ValueError(f"label names must be strings, got {token!r}")  # noqa: TRY004 - a bad row, not a bug
    return space.id(token)


def _record_id(row: dict, id_column: str | None, source: str, position: int) -> str:
    value = row.get(id_column) if id_column else position
    if value is None or not str(value).strip():
        raise ValueError(f"empty id in column {id_column!r}")
    value = str(value).strip()
    return value if ":" in value else f"{source}:{value}"


def _string_or(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value.strip() else default


def _meta(value: Any) -> dict:
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


def _scores(value: Any, n_labels: int) -> list[float]:
    if value is None or value == "":
        return []
    try:
        scores = [float(s) for s in _tokens(value)]
    except ValueError:
        raise ValueError(f"scores must be numbers, got {value!r}") from None
    if scores and (len(scores) != n_labels or any(not 0.0 <= s <= 1.0 for s in scores)):
        raise ValueError(f"scores must be {n_labels} probabilities in [0, 1]")
    return scores


__all__ = ["LABEL_FORMATS", "load_table", "table_format"]
