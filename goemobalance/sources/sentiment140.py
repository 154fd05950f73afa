"""Sentiment140 loader: the original CSV (no header; quoted polarity,id,date,query,user,text).

Rows come out unlabeled for the emotion space (``labels=[]``, ``label_origin="pseudo"``,
``meta["labeled"] = false``): the pseudo-labeler fills in labels, scores and meta later. The tweet's
polarity, id, date, query and user are kept in ``meta``; optional text cleaning is recorded there too.

The file is documented as latin-1 but in practice mixes UTF-8 (most non-ASCII rows) with a few latin-1
rows. ``encoding="auto"`` (default) decodes each line as UTF-8 and falls back to latin-1, so both kinds of
text survive; ``encoding="latin-1"`` is the byte-exact reading of the documented encoding.
"""

from __future__ import annotations

import csv
import html
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets

from goemobalance.sources.errors import LoadReport, RowErrors, read_bytes
from goemobalance.sources.records import dataset_from_columns, meta_json

SOURCE = "sentiment140"
POLARITIES = {0: "negative", 2: "neutral", 4: "positive"}
_LINE = re.compile(rb'"([^"]*)","([^"]*)","([^"]*)","([^"]*)","([^"]*)","(.*)"')
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@\w+")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class CleanOptions:
    """Which cleaning steps to apply to tweet text; the options used are stored in each row's meta."""

    urls: bool = True
    mentions: bool = True
    html_entities: bool = True
    whitespace: bool = True
    url_token: str = ""
    mention_token: str = ""
    keep_raw_text: bool = True

    def apply(self, text: str) -> str:
        """The cleaned text (HTML entities first, so ``&amp;`` inside URLs is resolved before URL removal)."""
        if self.html_entities:
            text = html.unescape(text)
        if self.urls:
            text = _URL.sub(self.url_token, text)
        if self.mentions:
            text = _MENTION.sub(self.mention_token, text)
        if self.whitespace:
            text = _SPACES.sub(" ", text).strip()
        return text

    def as_dict(self) -> dict:
        return asdict(self)


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

    Bad lines (wrong field count, bad polarity or id, empty text, undecodable bytes, duplicate tweet id)
    raise `SourceError` naming file and line, or with ``on_error="skip"`` are skipped and counted in
    `report`. `clean` is False, True (all `CleanOptions` steps) or a `CleanOptions` / dict of its
    fields; the options used go to ``meta["cleaning"]``. `limit` caps the number of data lines read.
    """
    options = _clean_options(clean)
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"Sentiment140 file not found: {file}")
    errors = RowErrors(file, on_error, report)
    columns: dict[str, list] = {k: [] for k in ("id", "text", "polarity", "tweet_id", "date", "query",
                                                "user", "encoding", "line", "raw_text")}  # fmt: skip
    first_line_of: dict[str, int] = {}
    lines = read_bytes(file).split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()
    if limit is not None:
        lines = lines[:limit]
    for line_no, raw in enumerate(lines, start=1):
        row = errors.guard(line_no, _parse_line, raw, encoding, options, first_line_of, line_no)
        if row is not None:
            for key, value in row.items():
                columns[key].append(value)
    errors.finish(len(columns["id"]))
    return dataset_from_columns(
        ids=columns["id"],
        texts=columns["text"],
        labels=[[]] * len(columns["id"]),
        source=SOURCE,
        label_origin="pseudo",
        metas=_metas(columns, options),
        metas_from_meta_json=True,
        allow_unlabeled=True,
    )


def _clean_options(clean: bool | CleanOptions | dict | None) -> CleanOptions | None:
    """`clean` as given by Python callers (bool / CleanOptions) or a recipe (a dict of option values)."""
    if isinstance(clean, CleanOptions):
        return clean
    if isinstance(clean, dict):
        return CleanOptions(**clean)
    return CleanOptions() if clean else None


def _parse_line(raw: bytes, encoding: str, options: CleanOptions | None, first_line_of: dict, line_no: int):
    fields = _split_fields(raw.rstrip(b"\r"))
    polarity_field, tweet_id, date, query, user = (_decode(f, encoding)[0] for f in fields[:5])
    raw_text, codec = _decode(fields[5], encoding)
    try:
        polarity = int(polarity_field)
    except ValueError:
        raise ValueError(f"polarity must be 0, 2 or 4, got {polarity_field!r}") from None
    if polarity not in POLARITIES:
        raise ValueError(f"polarity must be 0, 2 or 4, got {polarity}")
    if not tweet_id.isdigit():
        raise ValueError(f"tweet id must be digits, got {tweet_id!r}")
    if tweet_id in first_line_of:
        raise ValueError(f"duplicate tweet id {tweet_id}, first seen on line {first_line_of[tweet_id]}")
    if not raw_text.strip():
        raise ValueError("empty text")
    text = options.apply(raw_text) if options else raw_text
    if not text:
        raise ValueError(f"empty text after cleaning (raw text {raw_text!r})")
    first_line_of[tweet_id] = line_no
    return {
        "id": f"{SOURCE}:{tweet_id}", "text": text, "polarity": polarity, "tweet_id": tweet_id,
        "date": date, "query": query, "user": user, "encoding": codec,
        "line": line_no, "raw_text": raw_text if text != raw_text else None,
    }  # fmt: skip


def _split_fields(line: bytes) -> tuple[bytes, ...]:
    match = _LINE.fullmatch(line)
    if match and b'"' not in match.group(6):
        return match.groups()
    fields = next(csv.reader([line.decode("latin-1")]), [])
    if len(fields) != 6:
        raise ValueError(f"expected 6 quoted fields (polarity,id,date,query,user,text), got {len(fields)}")
    return tuple(f.encode("latin-1") for f in fields)


def _decode(field: bytes, encoding: str) -> tuple[str, str]:
    """The decoded field and the codec that decoded it ("ascii", "utf-8", "latin-1" or `encoding`)."""
    if encoding == "auto":
        if field.isascii():
            return field.decode("ascii"), "ascii"
        try:
            return field.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return field.decode("latin-1"), "latin-1"
    try:
        return field.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        raise ValueError(f"undecodable bytes for {encoding}: {exc}") from None


def _metas(columns: dict[str, list], options: CleanOptions | None) -> list[str]:
    n = len(columns["id"])
    meta_columns = {
        key: columns[key] for key in ("polarity", "tweet_id", "date", "query", "user", "encoding", "line")
    }
    meta_columns["polarity_name"] = [POLARITIES[p] for p in columns["polarity"]]
    meta_columns["labeled"] = [False] * n
    if options is not None:
        meta_columns["cleaning"] = [options.as_dict()] * n
        if options.keep_raw_text:
            meta_columns["raw_text"] = columns["raw_text"]
    return meta_json(meta_columns)


__all__ = ["POLARITIES", "CleanOptions", "load_sentiment140"]
