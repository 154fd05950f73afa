"""Bad-input handling shared by every loader: raise with file and line, or skip and count."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from goemobalance.errors import InputError

_UNDECODABLE = re.compile("[\udc80-\udcff]")
_GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str | Path) -> bool:
    """True for gzip files (by magic bytes), such as the copies shipped in `goemobalance.data`."""
    with open(path, "rb") as handle:
        return handle.read(2) == _GZIP_MAGIC


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, gunzipped when it is a gzip file."""
    data = Path(path).read_bytes()
    return gzip.decompress(data) if data[:2] == _GZIP_MAGIC else data


def open_text(path: str | Path) -> IO[str]:
    """UTF-8 text handle (gzip or plain) that keeps undecodable bytes as surrogates for `check_decoded`."""
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8", errors="surrogateescape", newline="")
    return open(path, encoding="utf-8", errors="surrogateescape", newline="")


def plain_suffix(path: str | Path) -> str:
    """The format suffix, looking through a trailing ``.gz`` (``train.tsv.gz`` -> ``.tsv``)."""
    path = Path(path)
    if path.suffix.lower() == ".gz":
        path = path.with_suffix("")
    return path.suffix.lower()


def check_decoded(fields: Iterable[str]) -> None:
    """Raise ValueError if text read with ``errors="surrogateescape"`` holds bytes that did not decode."""
    for text in fields:
        if not text.isascii() and _UNDECODABLE.search(text):
            raise ValueError("undecodable bytes (the file is not valid UTF-8; pass the right encoding)")


class SourceError(InputError):
    """A row of an input file that cannot be loaded; the message names the file and line."""


@dataclass
class LoadReport:
    """What a loader read, kept and skipped (with reasons), so nothing is dropped silently."""

    rows_read: int = 0
    rows_loaded: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    @property
    def rows_skipped(self) -> int:
        return len(self.skipped)

    def reasons(self) -> Counter:
        return Counter(item["reason"] for item in self.skipped)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_skipped": self.rows_skipped,
            "reasons": dict(self.reasons()),
            "counts": dict(self.counts),
            "skipped": self.skipped[:100],
        }


class RowErrors:
    """Runs a row parser; on failure raises `SourceError` (on_error="raise") or records a skip."""

    def __init__(
        self, file: str | Path, on_error: str = "raise", report: LoadReport | None = None, unit: str = "line"
    ):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.file = str(file)
        self.unit = unit
        self.on_error = on_error
        self.report = report if report is not None else LoadReport()

    def guard(self, line_no: int, parse: Callable[..., Any], *args: Any) -> Any:
        self.report.rows_read += 1
        try:
            return parse(*args)
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            reason = str(exc)
            if self.on_error == "raise":
                raise SourceError(f"{self.file}, {self.unit} {line_no}: {reason}") from exc
            self.report.skipped.append({"file": self.file, self.unit: line_no, "reason": reason})
            return None

    def drop(self, line_no: int, reason: str, **details: Any) -> None:
        """Record a row dropped by a rule (not a parse failure) so it is counted, never silent."""
        self.report.skipped.append({"file": self.file, self.unit: line_no, "reason": reason, **details})

    def finish(self, loaded: int) -> None:
        self.report.rows_loaded += loaded
