"""Sentiment140 loader: the original CSV (no header; quoted polarity,id,date,query,user,text).

Rows come out unlabeled for the emotion space (``labels=[]``, ``label_origin="pseudo"``,
``meta["labeled"] = false``): the pseudo-labeler fills in labels, scores and meta later. The tweet's
polarity, id, date, query and user are kept in ``meta``; optional text cleaning is recorded there too.

The file is read in Arrow batches (`reading.read_delimited`), checked and cleaned with Arrow kernels, and
written through `records.RecordWriter`, so 1.6M tweets load in seconds with memory for one batch.

The file is documented as latin-1 but in practice mixes UTF-8 (most non-ASCII rows) with a few latin-1
rows. ``encoding="auto"`` (default) decodes each field as UTF-8 and falls back to latin-1, so both kinds
of text survive; ``encoding="latin-1"`` is the byte-exact reading of the documented encoding.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from goemobalance.data import packaged_file
from goemobalance.sources.batches import Prepared, load_batches
from goemobalance.sources.bytescan import first_bytes, rows_where, value_lengths
from goemobalance.sources.checks import RowChecks, blank_text, decode
from goemobalance.sources.cleaning import CleanOptions
from goemobalance.sources.errors import LoadReport, RowErrors
from goemobalance.sources.goemotions import PACKAGED
from goemobalance.sources.reading import Chunk, drop_blank_rows, read_delimited
from goemobalance.sources.records import JsonChoice, RawJson, json_objects

SOURCE = "sentiment140"
POLARITIES = {0: "negative", 2: "neutral", 4: "positive"}
FIELDS = ("polarity", "tweet_id", "date", "query", "user", "text")
_CODECS = ["ascii", "utf-8", "latin-1"]
_POLARITY_BYTES = np.array([ord("0"), ord("2"), ord("4")], dtype=np.uint8)


def load_sentiment140(
    path: str | Path,
    *,
    clean: bool | CleanOptions | dict = False,
    encoding: str = "auto",
    on_error: str = "raise",
    report: LoadReport | None = None,
    limit: int | None = None,
) -> datasets.Dataset:
    """Load a Sentiment140 CSV as unlabeled records with ids ``sentiment140:<tweet id>``.

    Parameters
    ----------
    path : str or Path
        The CSV, plain or gzip (a truncated gzip keeps the complete lines before the damage under
        ``on_error="skip"``, and the loss is counted), or ``"packaged"``: the 38,915-tweet sample shipped
        in the package (``goemobalance/data/README.md``).
    clean : bool, CleanOptions or dict
        False, True (all `CleanOptions` steps), or the options; the options used go to ``meta["cleaning"]``.
    encoding : str
        ``"auto"`` (UTF-8 per field, latin-1 where a field is not UTF-8), or a codec applied strictly.
    on_error : {"raise", "skip"}
        Bad lines (wrong field count, bad polarity or id, empty text, undecodable bytes, duplicate tweet
        id, text empty after cleaning) raise `SourceError` naming file and 1-based line, or are skipped
        and counted by reason in `report`.
    report : LoadReport, optional
        Receives rows read, loaded and skipped.
    limit : int, optional
        Read only the first `limit` records.

    Returns
    -------
    datasets.Dataset
        Records in the schema; a large file's rows are memory-mapped from a temporary Arrow file.
    """
    options = _clean_options(clean)
    file = packaged_file("sentiment140/sample") if str(path) == PACKAGED else Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"Sentiment140 file not found: {file}")
    errors = RowErrors(file, on_error, report)
    chunks = read_delimited(file, column_names=list(FIELDS), field_count_message=_field_count_message)
    return load_batches(
        _limited(chunks, limit),
        lambda chunk: _prepare(chunk, encoding, options),
        errors,
        lambda tweet_id, line: f"duplicate tweet id {tweet_id}, first seen on line {line}",
    )


def _prepare(chunk: Chunk, encoding: str, options: CleanOptions | None) -> Prepared:
    """Check, clean and build the records of one batch (runs in a worker thread: no shared state)."""
    batch, lines, blank_lines = drop_blank_rows(chunk)
    checks = RowChecks(lines)
    checks.add_records(chunk.bad)
    fields, codec = _decode(batch, encoding, checks)
    polarity, tweet_id, raw_text = batch.column(0), batch.column(1), fields["text"]
    checks.fail(~_is_polarity(polarity), "bad_polarity",
                lambda row: _polarity_message(fields["polarity"][row].as_py()))  # fmt: skip
    checks.fail(~_is_tweet_id(tweet_id), "bad_tweet_id",
                lambda row: f"tweet id must be digits (at most 19), got {fields['tweet_id'][row].as_py()!r}")  # fmt: skip
    checks.fail(blank_text(raw_text), "empty_text", "empty text")
    text = options.apply_arrow(raw_text) if options else raw_text
    if options:
        checks.fail(value_lengths(text) == 0, "empty_after_cleaning",
                    lambda row: f"empty text after cleaning (raw text {raw_text[row].as_py()!r})")  # fmt: skip
    keep = ~checks.bad
    kept = _filter({**fields, "clean_text": text, "codec": codec}, keep)
    kept_lines = lines[keep]
    ids = kept["tweet_id"]
    return Prepared(
        checks=checks,
        rows_read=len(lines) + sum(r.kind == "field_count" for r in chunk.bad),
        blank_lines=blank_lines,
        keys=np.asarray(pc.cast(ids, pa.uint64()), dtype=np.uint64),
        positions=kept_lines,
        columns={
            "id": pc.binary_join_element_wise(f"{SOURCE}:", ids, ""),
            "text": kept["clean_text"],
            "source": SOURCE,
            "label_origin": "pseudo",
            "meta": _metas(kept, [*_CODECS, encoding], kept_lines, options),
        },
    )


def _limited(chunks: Iterator[Chunk], limit: int | None) -> Iterator[Chunk]:
    """The chunks up to the first `limit` records (all of them when `limit` is None)."""
    remaining = limit
    for chunk in chunks:
        if remaining is not None:
            chunk = _first_records(chunk, remaining)
            remaining -= len(chunk.lines) + len(chunk.bad)
        yield chunk
        if remaining is not None and remaining <= 0:
            return


def _is_polarity(values: pa.Array) -> np.ndarray:
    """One byte, 0, 2 or 4."""
    return (value_lengths(values) == 1) & np.isin(first_bytes(values), _POLARITY_BYTES)


def _is_tweet_id(values: pa.Array) -> np.ndarray:
    """1 to 19 ASCII digits (so every id fits an unsigned 64-bit integer)."""
    lengths = value_lengths(values)
    good = (lengths >= 1) & (lengths <= 19)
    good[rows_where(values, _not_digit)] = False
    return good


def _not_digit(data: np.ndarray) -> np.ndarray:
    return (data < 0x30) | (data > 0x39)


def _filter(columns: dict[str, pa.Array | np.ndarray], keep: np.ndarray) -> dict[str, pa.Array | np.ndarray]:
    if keep.all():
        return columns
    mask = pa.array(keep)
    return {name: values[keep] if isinstance(values, np.ndarray) else pc.filter(values, mask)
            for name, values in columns.items()}  # fmt: skip


def _decode(
    batch: pa.RecordBatch, encoding: str, checks: RowChecks
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Every field as strings, and the codec code (`_CODECS`) that decoded each row's text."""
    fields: dict[str, pa.Array] = {}
    codec = np.zeros(batch.num_rows, dtype=np.int8)
    for name, column in zip(FIELDS, batch.columns):
        if encoding == "auto":
            decoded = decode(column, "utf-8", fallback="latin-1")
        else:
            decoded = decode(column, encoding)
            failed = np.zeros(len(column), dtype=bool)
            failed[list(decoded.failed)] = True
            checks.fail(failed, "undecodable",
                        lambda row, f=decoded.failed: f"undecodable bytes for {encoding}: {f[row]}")  # fmt: skip
        if name == "text":
            codec[decoded.non_ascii] = 1
            codec[decoded.fallback] = 2
        fields[name] = decoded.strings
    if encoding != "auto":
        codec[:] = 3
    return fields, codec


def _metas(
    kept: dict[str, pa.Array], codec_names: list[str], lines: np.ndarray, options: CleanOptions | None
) -> pa.Array:
    """The meta JSON of every kept row, keys sorted, byte for byte as `json.dumps` writes it."""
    polarity = np.asarray(first_bytes(kept["polarity"]), dtype=np.int64) - ord("0")
    fields: dict[str, pa.Array | RawJson | JsonChoice | str] = {
        "date": kept["date"],
        "encoding": JsonChoice(kept["codec"], [json.dumps(name, ensure_ascii=False) for name in codec_names]),
        "labeled": "false",
        "line": RawJson(pa.array(lines).cast(pa.string())),
        "polarity": JsonChoice(polarity, [str(p) for p in range(5)]),
        "polarity_name": JsonChoice(polarity, [json.dumps(POLARITIES.get(p, "")) for p in range(5)]),
        "query": kept["query"],
        "tweet_id": kept["tweet_id"],
        "user": kept["user"],
    }
    if options is not None:
        fields["cleaning"] = json.dumps(options.to_dict(), ensure_ascii=False)
        if options.keep_raw_text:
            changed = pc.not_equal(kept["clean_text"], kept["text"])
            fields["raw_text"] = pc.if_else(changed, kept["text"], pa.scalar(None, pa.string()))
    return json_objects(fields, len(lines))


def _first_records(chunk: Chunk, count: int) -> Chunk:
    """The first `count` records of a chunk (rows and bad records together, in line order)."""
    starts = np.sort(np.concatenate([chunk.lines, [r.line for r in chunk.bad]]).astype(np.int64))
    if count >= len(starts):
        return chunk
    last = starts[count - 1] if count > 0 else 0
    keep = chunk.lines <= last
    return Chunk(
        chunk.batch.filter(pa.array(keep)), chunk.lines[keep], [r for r in chunk.bad if r.line <= last]
    )


def _clean_options(clean: bool | CleanOptions | dict | None) -> CleanOptions | None:
    """`clean` as given by Python callers (bool / CleanOptions) or a recipe (a dict of option values)."""
    if isinstance(clean, CleanOptions):
        return clean
    if isinstance(clean, dict):
        return CleanOptions(**clean)
    return CleanOptions() if clean else None


def _field_count_message(got: int) -> str:
    return f"expected 6 quoted fields (polarity,id,date,query,user,text), got {got}"


def _polarity_message(field: str) -> str:
    try:
        return f"polarity must be 0, 2 or 4, got {int(field)}"
    except ValueError:
        return f"polarity must be 0, 2 or 4, got {field!r}"


__all__ = ["POLARITIES", "CleanOptions", "load_sentiment140"]
