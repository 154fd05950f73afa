"""Bad-input handling shared by every loader: raise with file and line, or skip and count by reason."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goemobalance.errors import InputError

_GZIP_MAGIC = b"\x1f\x8b"
#: How many skipped rows a `LoadReport` keeps with their details (all of them are counted).
MAX_DETAILS = 10_000


def is_gzip(path: str | Path) -> bool:
    """True for gzip files (by magic bytes), such as the copies shipped in `goemobalance.data`."""
    with open(path, "rb") as handle:
        return handle.read(2) == _GZIP_MAGIC


def plain_suffix(path: str | Path) -> str:
    """The format suffix, looking through a trailing ``.gz`` (``train.tsv.gz`` -> ``.tsv``)."""
    path = Path(path)
    if path.suffix.lower() == ".gz":
        path = path.with_suffix("")
    return path.suffix.lower()


class SourceError(InputError):
    """A row of an input file that cannot be loaded; the message names the file and the 1-based line."""


@dataclass
class LoadReport:
    """What a loader read, kept and skipped, so nothing is dropped silently.

    Every skipped row is counted under a short reason kind (``reasons()``: ``{"bad_polarity": 3, ...}``);
    the first `MAX_DETAILS` also keep their file, line and full message in `skipped`. `counts` holds
    other tallies a loader keeps (blank lines, unclear ratings, ...).

    Attributes
    ----------
    rows_read : int
        Rows (lines) the loader read.
    rows_loaded : int
        Rows in the returned dataset.
    rows_skipped : int
        Rows left out, all reasons together.
    skipped : list of dict
        Details of the first `MAX_DETAILS` skipped rows (file, line or row, reason, kind).
    counts : collections.Counter
        Other tallies, by name.
    by_reason : collections.Counter
        Skipped rows per reason kind.
    """

    rows_read: int = 0
    rows_loaded: int = 0
    rows_skipped: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    by_reason: Counter = field(default_factory=Counter)

    def add_skip(self, item: dict[str, Any]) -> None:
        """Count one skipped row (``item`` has file, line or row, reason and kind) and keep its details.

        Parameters
        ----------
        item : dict
            The row's details; ``kind`` (default ``"bad_row"``) is the reason it is counted under.
        """
        self.rows_skipped += 1
        self.by_reason[item.get("kind", "bad_row")] += 1
        if len(self.skipped) < MAX_DETAILS:
            self.skipped.append(item)

    def reasons(self) -> Counter:
        """Skipped rows per reason kind.

        Returns
        -------
        collections.Counter
            A copy of `by_reason`.
        """
        return Counter(self.by_reason)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: row counts, skipped rows per reason kind, other counts, first 100 details.

        Returns
        -------
        dict
            ``rows_read``, ``rows_loaded``, ``rows_skipped``, ``reasons``, ``counts`` and ``skipped``.
        """
        return {
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_skipped": self.rows_skipped,
            "reasons": dict(self.by_reason),
            "counts": dict(self.counts),
            "skipped": self.skipped[:100],
        }


def reason_kind(message: str) -> str:
    """A short, stable key for a bad-row message (its leading words), used to count rows by reason."""
    head = re.split(r"[:(,'\"\d]", message, maxsplit=1)[0]
    words = re.findall(r"[a-z]+", head.lower())[:6]
    return "_".join(words) or "bad_row"


class RowErrors:
    """Raises `SourceError` (on_error="raise") or records a skipped row, for one input file.

    `guard` runs a per-row parser (loaders that parse row by row); `bad` reports one bad row found by a
    vectorised check. Positions are 1-based lines (text files) or 1-based rows (Parquet, Datasets).
    """

    def __init__(
        self, file: str | Path, on_error: str = "raise", report: LoadReport | None = None, unit: str = "line"
    ):
        if on_error not in ("raise", "skip"):
            raise InputError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.file = str(file)
        self.unit = unit
        self.on_error = on_error
        self.report = report if report is not None else LoadReport()

    def guard(self, line_no: int, parse: Callable[..., Any], *args: Any) -> Any:
        self.report.rows_read += 1
        try:
            return parse(*args)
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            self.bad(line_no, str(exc))
            return None

    def bad(self, line_no: int, reason: str, kind: str | None = None, **details: Any) -> None:
        """One bad row: raise naming file and line, or (skip) count it under its reason kind."""
        if self.on_error == "raise":
            raise SourceError(f"{self.file}, {self.unit} {line_no}: {reason}")
        self.drop(line_no, reason, kind, **details)

    def drop(self, line_no: int, reason: str, kind: str | None = None, **details: Any) -> None:
        """Record a row dropped by a rule (not a parse failure) so it is counted, never silent."""
        item = {"file": self.file, self.unit: line_no, "reason": reason, "kind": kind or reason_kind(reason)}
        self.report.add_skip({**item, **details})

    def finish(self, loaded: int) -> None:
        self.report.rows_loaded += loaded
