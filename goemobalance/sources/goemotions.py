"""GoEmotions loaders: the TSV release (train/dev/test.tsv), the raw rater-level CSVs, and the Hub id."""

from __future__ import annotations

from pathlib import Path

import datasets

from goemobalance.labels import GOEMOTIONS
from goemobalance.schema import from_records, make_record
from goemobalance.sources.errors import LoadReport, RowErrors

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
    records = []
    with open(file, encoding="utf-8", newline="") as handle:
        for line_no, line in enumerate(handle, start=1):
            record = errors.guard(line_no, _parse_tsv_line, line.rstrip("\r\n"), line_no, split)
            if record is not None:
                records.append(record)
    errors.finish(len(records))
    return from_records(records, GOEMOTIONS)


def _tsv_file(path: Path, split: str) -> Path:
    if path.is_dir():
        if split not in SPLIT_FILES:
            raise ValueError(f"unknown GoEmotions split {split!r}; use one of {sorted(SPLIT_FILES)}")
        path = path / SPLIT_FILES[split]
    if not path.is_file():
        raise FileNotFoundError(f"GoEmotions file not found: {path}")
    return path


def _parse_tsv_line(line: str, line_no: int, split: str) -> dict:
    fields = line.split("\t")
    if len(fields) != 3:
        raise ValueError(f"expected 3 tab-separated fields (text, label ids, id), got {len(fields)}")
    text, label_field, comment_id = fields
    if not text.strip():
        raise ValueError("empty text")
    try:
        ids = [int(x) for x in label_field.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"label ids must be integers, got {label_field!r}") from None
    if not ids:
        raise ValueError("no label ids")
    GOEMOTIONS.to_names(ids)
    return make_record(
        id=f"goemotions:{comment_id}",
        text=text,
        labels=ids,
        source="goemotions",
        label_origin="human",
        meta={"comment_id": comment_id, "split": split},
    )


def load_goemotions_hub(split: str = "train", config: str = "simplified") -> datasets.Dataset:
    """Load `google-research-datasets/go_emotions` from the Hub (needs network)."""
    hub_split = "validation" if split == "dev" else split
    try:
        raw = datasets.load_dataset(HUB_ID, config, split=hub_split)
    except Exception as exc:  # noqa: BLE001 - any hub/network failure gets the same advice
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
    path: str | Path | None = None, split: str = "train", *, on_error: str = "raise", report: LoadReport | None = None
) -> datasets.Dataset:
    """Load GoEmotions from a local TSV file or folder, or from the Hub when `path` is None or the Hub id."""
    if path is None or str(path) == HUB_ID:
        return load_goemotions_hub(split)
    return load_goemotions_tsv(path, split, on_error=on_error, report=report)


__all__ = ["HUB_ID", "load_goemotions", "load_goemotions_tsv", "load_goemotions_hub"]
