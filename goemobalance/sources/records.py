"""Column-wise dataset building, so loaders stay fast and small on millions of rows.

`RecordWriter` takes whole record batches in the schema and returns a `datasets.Dataset`: kept in memory
while small, spilled to a temporary Arrow file and memory-mapped once large (as `datasets` does), so a
load's peak memory does not grow with the file. `json_strings` and `json_objects` build the ``meta`` JSON
text with Arrow kernels, byte for byte what `json.dumps(..., ensure_ascii=False)` writes.
`dataset_from_columns` is the one-call form for loaders that already hold whole columns.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.schema import features, validate
from goemobalance.sources.bytescan import (
    is_control,
    needs_json_escape,
    replace_in_python,
    replace_rows,
    rows_where,
)


def dataset_from_columns(
    *,
    ids: Sequence[str] | pa.Array,
    texts: Sequence[str] | pa.Array,
    labels: Sequence[Sequence[int]] | pa.Array,
    source: str | Sequence[str] | pa.Array,
    label_origin: str | Sequence[str] | pa.Array,
    metas: Sequence[str] | pa.Array,
    scores: Sequence[Sequence[float]] | pa.Array | None = None,
    space: LabelSpace = GOEMOTIONS,
    allow_unlabeled: bool = False,
    metas_from_meta_json: bool = False,
) -> datasets.Dataset:
    """A validated `Dataset` in the schema from whole columns (meta already JSON strings).

    Pass ``metas_from_meta_json=True`` when `metas` are JSON objects by construction (`json_objects`) to
    skip re-parsing every meta string, the slowest part of validation.
    """
    n = len(ids)
    table = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "text": pa.array(texts, pa.string()),
            "labels": _list_array(labels, pa.int64()),
            "source": _repeat_or_array(source, n),
            "label_origin": _repeat_or_array(label_origin, n),
            "scores": _list_array([[]] * n if scores is None else scores, pa.float32()),
            "meta": pa.array(metas, pa.string()),
        }
    )
    dataset = datasets.Dataset(table, info=datasets.DatasetInfo(features=features(space)))
    validate(dataset, allow_unlabeled=allow_unlabeled, check_meta=not metas_from_meta_json)
    return dataset


#: In-memory bytes above which `RecordWriter` spills to a memory-mapped temporary Arrow file.
SPILL_BYTES = 32 << 20
_spill_dir: Path | None = None
_REPEAT_CACHE_ROWS = 1 << 16
_repeat_cache: dict[str, pa.Array] = {}


class RecordWriter:
    """Collects record batches in the schema and returns them as one `datasets.Dataset`.

    Small outputs stay in memory; past `spill_bytes` every batch goes to an Arrow stream file in a
    temporary folder (removed when Python exits) and the result is memory-mapped from it, so loading
    a large file needs memory for one batch, not for the whole table. The loaders' own checks are the
    schema's rules, applied per batch (ids across the whole file), so batches are not validated again.
    """

    def __init__(self, space: LabelSpace = GOEMOTIONS, spill_bytes: int | None = None):
        self.features = features(space)
        self.schema = self.features.arrow_schema
        self.spill_bytes = SPILL_BYTES if spill_bytes is None else spill_bytes
        self.rows = 0
        self._batches: list[pa.RecordBatch] = []
        self._bytes = 0
        self._path: Path | None = None
        self._sink: pa.ipc.RecordBatchStreamWriter | None = None

    def write(self, columns: Mapping[str, Any]) -> None:
        """Add rows given as whole columns (see `record_batch`)."""
        batch = record_batch(columns, self.schema)
        if batch.num_rows == 0:
            return
        self.rows += batch.num_rows
        if self._sink is not None:
            self._sink.write_batch(batch)
            return
        self._batches.append(batch)
        self._bytes += batch.nbytes
        if self._bytes > self.spill_bytes:
            self._spill()

    def finish(self, drop: np.ndarray | None = None) -> datasets.Dataset:
        """The rows written, in order, without the row positions in `drop` (rows found bad at the end)."""
        info = datasets.DatasetInfo(features=self.features)
        if self._sink is None:
            table = pa.Table.from_batches(self._batches, schema=self.schema)
            self._batches = []
            if drop is not None and len(drop):
                table = table.filter(_keep_mask(table.num_rows, drop))
            return datasets.Dataset(table, info=info)
        self._sink.close()
        self._sink = None
        dataset = datasets.Dataset.from_file(str(self._path), info=info)
        if drop is None or not len(drop):
            return dataset
        keep = _keep_mask(len(dataset), drop)
        rewritten = RecordWriter(spill_bytes=0)
        rewritten.features, rewritten.schema = self.features, self.schema
        start = 0
        for batch in dataset.data.to_batches():
            rewritten.write_batch(batch.filter(keep[start : start + batch.num_rows]))
            start += batch.num_rows
        return rewritten.finish()

    def write_batch(self, batch: pa.RecordBatch) -> None:
        """Add a batch already in the schema."""
        self.write(dict(zip(batch.schema.names, batch.columns)))

    def _spill(self) -> None:
        self._path = Path(tempfile.mkstemp(suffix=".arrow", dir=spill_dir())[1])
        self._sink = pa.ipc.new_stream(str(self._path), self.schema)
        for batch in self._batches:
            self._sink.write_batch(batch)
        self._batches, self._bytes = [], 0


def spill_dir() -> Path:
    """The temporary folder for spilled loads (under ``TMPDIR``), removed when Python exits."""
    global _spill_dir
    if _spill_dir is None:
        _spill_dir = Path(tempfile.mkdtemp(prefix="goemobalance-load-"))
        atexit.register(shutil.rmtree, _spill_dir, ignore_errors=True)
    return _spill_dir


def record_batch(columns: Mapping[str, Any], schema: pa.Schema) -> pa.RecordBatch:
    """A record batch in the schema from whole columns; a `str` is repeated, None means empty lists.

    ``id``, ``text`` and ``meta`` must be arrays or sequences; ``labels`` and ``scores`` lists (None:
    every row empty); ``source`` and ``label_origin`` a string for every row or one per row.
    """
    n = len(columns["id"])
    arrays = []
    for name in schema.names:
        value = columns.get(name)
        field_type = schema.field(name).type
        if value is None and pa.types.is_list(field_type):
            arrays.append(empty_lists(n, field_type))
        elif isinstance(value, str):
            arrays.append(repeated(value, n))
        elif isinstance(value, (pa.Array, pa.ChunkedArray)):
            arrays.append(value.cast(field_type) if value.type != field_type else value)
        else:
            arrays.append(pa.array(value, field_type))
    arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def repeated(text: str, n: int) -> pa.Array:
    """`text` `n` times as a string array; short ones are slices of a cached array (no new allocation)."""
    if n > _REPEAT_CACHE_ROWS:
        return pa.repeat(pa.scalar(text), n)
    cached = _repeat_cache.get(text)
    if cached is None:
        if len(_repeat_cache) > 256:
            _repeat_cache.clear()
        cached = _repeat_cache[text] = pa.repeat(pa.scalar(text), _REPEAT_CACHE_ROWS)
    return cached.slice(0, n)


def empty_lists(n: int, list_type: pa.DataType) -> pa.Array:
    """`n` empty lists of `list_type` without building Python lists."""
    offsets = pa.array(np.zeros(n + 1, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array([], list_type.value_type))


class RawJson(NamedTuple):
    """Values that are already JSON text (numbers, ``true``, quoted strings), for `json_objects`."""

    values: pa.Array


def json_string_bodies(values: pa.Array) -> pa.Array:
    """``json.dumps(v, ensure_ascii=False)[1:-1]`` of every string, vectorised (nulls stay null).

    Most strings need no escaping and are returned as they are; in the rows holding a quote, a backslash
    or a control character (found with one numpy pass over the bytes) Arrow escapes backslashes and
    quotes, and the few with a control character go through `json.dumps` itself, so the bytes always match.
    """
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    rows = rows_where(values, needs_json_escape)
    if rows.size == 0:
        return values
    subset = values.take(pa.array(rows))
    escaped = pc.replace_substring(pc.replace_substring(subset, "\\", "\\\\"), '"', '\\"')
    control = rows_where(subset, is_control)
    escaped = replace_in_python(
        escaped, control, lambda text: json.dumps(text, ensure_ascii=False)[1:-1], subset
    )
    return replace_rows(values, rows, escaped)


def json_strings(values: pa.Array) -> pa.Array:
    """``json.dumps(v, ensure_ascii=False)`` of every string, vectorised (nulls stay null)."""
    return pc.binary_join_element_wise('"', json_string_bodies(values), '"', "")


class JsonChoice(NamedTuple):
    """A field with few distinct values: one JSON text per code, and the code of every row."""

    codes: np.ndarray
    texts: Sequence[str]


def json_objects(fields: Mapping[str, str | pa.Array | RawJson | JsonChoice], n: int) -> pa.Array:
    """One JSON object text per row with sorted keys, as ``json.dumps(..., ensure_ascii=False)`` writes it.

    A field is a `str` (the same JSON text on every row), a string array (JSON strings, escaped here), a
    `RawJson` (JSON text per row) or a `JsonChoice` (few distinct values). A null leaves the key out of
    that row's object, as a missing key. Constant and few-valued fields next to each other are
    merged into one piece first, then everything goes through one Arrow join, the costly step.
    """
    pieces: list[pa.Array | JsonChoice] = [JsonChoice(np.zeros(n, dtype=np.int64), ["{"])]
    needs_trim = False
    for index, key in enumerate(sorted(fields)):
        separator = ", " if index else ""
        prefix = separator + json.dumps(key, ensure_ascii=False) + ": "
        value = fields[key]
        if isinstance(value, str):
            _append_choice(pieces, JsonChoice(np.zeros(n, dtype=np.int64), [prefix + value]))
        elif isinstance(value, JsonChoice):
            _append_choice(pieces, JsonChoice(value.codes, [prefix + text for text in value.texts]))
        else:
            raw = isinstance(value, RawJson)
            body = value.values if raw else json_string_bodies(value)
            quote = "" if raw else '"'
            if body.null_count == 0:
                _append_choice(pieces, JsonChoice(np.zeros(n, dtype=np.int64), [prefix + quote]))
                pieces.append(body)
                _append_choice(pieces, JsonChoice(np.zeros(n, dtype=np.int64), [quote]))
                continue
            fragment = pc.binary_join_element_wise(", " + prefix[len(separator) :] + quote, body, quote, "")
            pieces.append(pc.fill_null(fragment, ""))
            needs_trim = needs_trim or index == 0
    _append_choice(pieces, JsonChoice(np.zeros(n, dtype=np.int64), ["}"]))
    parts = [_choice_array(p) if isinstance(p, JsonChoice) else p for p in pieces]
    joined = pc.binary_join_element_wise(*parts, "") if len(parts) > 1 else parts[0]
    if needs_trim:
        trimmed = pc.binary_join_element_wise("{", pc.utf8_slice_codeunits(joined, 3), "")
        joined = pc.if_else(pc.equal(joined, "{}"), joined, trimmed)
    return joined


def _append_choice(pieces: list, choice: JsonChoice) -> None:
    """Add a few-valued piece, merged with the previous one when that is few-valued too."""
    if pieces and isinstance(pieces[-1], JsonChoice):
        previous = pieces.pop()
        width = len(choice.texts)
        codes = np.asarray(previous.codes, dtype=np.int64) * width + np.asarray(choice.codes, dtype=np.int64)
        texts = [a + b for a in previous.texts for b in choice.texts]
        choice = JsonChoice(codes, texts)
    pieces.append(choice)


def _choice_array(choice: JsonChoice) -> pa.Array:
    if len(choice.texts) == 1:
        return repeated(choice.texts[0], len(choice.codes))
    return pa.array(choice.texts, pa.string()).take(pa.array(choice.codes))


def _keep_mask(n: int, drop: np.ndarray) -> pa.Array:
    keep = np.ones(n, dtype=bool)
    keep[np.asarray(drop, dtype=np.int64)] = False
    return pa.array(keep)


def _list_array(values, value_type: pa.DataType) -> pa.Array:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.cast(pa.list_(value_type))
    return pa.array(values, pa.list_(value_type))


def _repeat_or_array(value, n: int) -> pa.Array:
    if isinstance(value, str):
        return pa.array([value] * n, pa.string())
    return pa.array(value, pa.string())
