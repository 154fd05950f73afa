"""Human review of LLM rows: export a CSV (one 0/1 column per label) plus a JSONL of full rows, and
import the edited CSV back as rows with ``label_origin="human-reviewed"``.

In the CSV a reviewer edits the label columns (``1`` = the text expresses the label, ``0`` or empty =
it does not) and may correct the text. A row with no label set is treated as rejected and left out.
Errors name the file, line and column. Both files pass through `goemobalance.redact` (a key pasted into
a text never reaches them); an empty dataset gives a header-only CSV and an empty JSONL.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import datasets

from goemobalance.atomic import replacing
from goemobalance.errors import InputError
from goemobalance.labels import LabelSpace
from goemobalance.redact import redact_data
from goemobalance.schema import from_records, label_space_of, make_record

FIXED_COLUMNS = ("id", "text", "intended", "annotated", "jaccard")
_TRUE = {"1", "1.0", "true", "yes", "x"}
_FALSE = {"", "0", "0.0", "false", "no"}


class ReviewError(InputError):
    """A review file that cannot be imported; the message names the file and line."""


def export_review(
    dataset: datasets.Dataset, csv_path: str | Path, jsonl_path: str | Path | None = None
) -> tuple[Path, Path]:
    """Write the review CSV (labels pre-filled with the current ones) and the JSONL of full rows.

    Parameters
    ----------
    dataset : datasets.Dataset
        Rows in the record schema (may be empty: the CSV then holds only its header).
    csv_path : path
        The CSV to write (its folder is created).
    jsonl_path : path, optional
        The full rows; default: next to the CSV with a ``.jsonl`` suffix.

    Returns
    -------
    tuple of Path
        The CSV and JSONL paths.
    """
    space = label_space_of(dataset)
    csv_path = Path(csv_path)
    jsonl_path = Path(jsonl_path) if jsonl_path else csv_path.with_suffix(".jsonl")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    records = dataset.to_list()
    with replacing(csv_path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*FIXED_COLUMNS, *space.names])
        writer.writeheader()
        writer.writerows(redact_data(_review_row(record, space)) for record in records)
    with replacing(jsonl_path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        for record in records:
            full = redact_data(_with_names(record, space))
            handle.write(json.dumps(full, ensure_ascii=False) + "\n")
    return csv_path, jsonl_path


def save_rows(dataset: datasets.Dataset, path: str | Path) -> None:
    """`save_to_disk` that stays loadable when `dataset` is empty.

    ``datasets`` writes no data file for an empty dataset and then fails to load the folder
    (``IndexError``); one explicit shard keeps its schema and makes it load as 0 rows.
    """
    dataset.save_to_disk(str(path), num_shards=1 if len(dataset) == 0 else None)


def empty_saved_dataset(path: str | Path) -> datasets.Dataset | None:
    """The 0-row dataset (with its features) a ``save_to_disk`` folder without data files holds, else None.

    Such folders (written by `save_to_disk` for an empty dataset) make ``datasets.load_from_disk`` fail
    with an ``IndexError``; their ``dataset_info.json`` still has the features.
    """
    folder = Path(path)
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(state, dict) or state.get("_data_files") != []:
        return None
    features = datasets.DatasetInfo.from_directory(str(folder)).features
    return datasets.Dataset.from_dict({name: [] for name in features}, features=features)


def import_review(
    csv_path: str | Path, dataset: datasets.Dataset | None = None, *, jsonl_path: str | Path | None = None
) -> tuple[datasets.Dataset, dict[str, Any]]:
    """Reviewed rows as a Dataset (``label_origin="human-reviewed"``) and a report of what was read.

    The original rows come from `dataset` when given, else from the JSONL written next to the CSV.

    Parameters
    ----------
    csv_path : str or Path
        The review CSV (written by `export_review`, one 0/1 column per label, edited by a person).
    dataset : datasets.Dataset, optional
        The rows that were exported.
    jsonl_path : str or Path, optional
        The exported rows' JSONL (default: the CSV's path with a ``.jsonl`` suffix).

    Returns
    -------
    dataset : datasets.Dataset
        The rows given at least one label, with the reviewed labels (and text, when edited).
    report : dict
        ``file``, ``rows`` read, ``imported``, ``rejected`` (rows left with no label) and the first 100
        ``rejected_ids``.

    Raises
    ------
    ReviewError
        Naming file and line: a missing file, a bad header, an unknown or repeated id, a flag that is not
        0/1, or an empty text.
    """
    csv_path = Path(csv_path)
    if dataset is not None:
        space = label_space_of(dataset)
        originals = {record["id"]: _with_names(record, space) for record in dataset}
    else:
        space = _space_from_header(csv_path)
        originals = _read_jsonl(Path(jsonl_path) if jsonl_path else csv_path.with_suffix(".jsonl"))
    records, report = _read_review_csv(csv_path, originals, space)
    return from_records(records, space), report


def _review_row(record: Mapping[str, Any], space: LabelSpace) -> dict[str, Any]:
    meta = json.loads(record["meta"] or "{}")
    agreement = meta.get("agreement") or {}
    row = {
        "id": record["id"],
        "text": record["text"],
        "intended": " ".join(
            agreement.get("intended") or meta.get("generator", {}).get("intended_labels", [])
        ),
        "annotated": " ".join(agreement.get("annotated") or []),
        "jaccard": agreement.get("jaccard", ""),
    }
    current = set(record["labels"])
    row.update({name: int(i in current) for i, name in enumerate(space.names)})
    return row


def _read_review_csv(
    path: Path, originals: Mapping[str, dict[str, Any]], space: LabelSpace
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if not path.is_file():
        raise ReviewError(f"review file not found: {path}")
    records: list[dict[str, Any]] = []
    rejected: list[str] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        _check_header(path, reader.fieldnames, space)
        for row in reader:
            line = reader.line_num
            row_id = (row.get("id") or "").strip()
            if row_id not in originals:
                raise ReviewError(f"{path}, line {line}: id {row_id!r} is not in the reviewed dataset")
            if row_id in seen:
                raise ReviewError(f"{path}, line {line}: id {row_id!r} already given on line {seen[row_id]}")
            seen[row_id] = line
            labels = [name for name in space.names if _flag(row.get(name), path, line, name)]
            if not labels:
                rejected.append(row_id)
                continue
            records.append(_reviewed_record(originals[row_id], row, labels, space, path, line))
    report = {"file": str(path), "rows": len(seen), "imported": len(records), "rejected": len(rejected)}
    report["rejected_ids"] = rejected[:100]
    return records, report


def _reviewed_record(original, row, labels, space, path: Path, line: int) -> dict[str, Any]:
    text = " ".join((row.get("text") or "").split()) or original["text"]
    if not text.strip():
        raise ReviewError(f"{path}, line {line}: empty text")
    meta = dict(original["meta"])
    meta["review"] = {"file": path.name, "line": line, "previous_labels": original["labels"]}
    if text != original["text"]:
        meta["review"]["original_text"] = original["text"]
    return make_record(
        id=original["id"],
        text=text,
        labels=space.ids(labels),
        source=original["source"],
        label_origin="human-reviewed",
        meta=meta,
    )


def _check_header(path: Path, header: list[str] | None, space: LabelSpace) -> None:
    if not header:
        raise ReviewError(f"{path}, line 1: empty file, expected a header with 'id' and the label columns")
    missing = [name for name in ("id", *space.names) if name not in header]
    if missing:
        raise ReviewError(f"{path}, line 1: header lacks column(s) {missing}")


def _flag(value: str | None, path: Path, line: int, column: str) -> bool:
    cell = (value or "").strip().lower()
    if cell in _TRUE:
        return True
    if cell in _FALSE:
        return False
    raise ReviewError(f"{path}, line {line}, column '{column}': expected 0 or 1, got {value!r}")


def _with_names(record: Mapping[str, Any], space: LabelSpace) -> dict[str, Any]:
    return dict(record, labels=space.to_names(record["labels"]), meta=json.loads(record["meta"] or "{}"))


def _space_from_header(path: Path) -> LabelSpace:
    """The label space of a review CSV: its columns after the fixed ones, in order."""
    if not path.is_file():
        raise ReviewError(f"review file not found: {path}")
    with open(path, encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), [])
    names = tuple(column for column in header if column not in FIXED_COLUMNS)
    if "id" not in header or not names:
        raise ReviewError(f"{path}, line 1: header needs 'id' and one column per label, got {header}")
    return LabelSpace(names)


def _read_jsonl(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        raise ReviewError(f"rows file not found: {path} (pass the dataset the review was exported from)")
    originals: dict[str, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                originals[record["id"]] = record
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ReviewError(f"{path}, line {line_no}: not a row object: {exc}") from None
    return originals
