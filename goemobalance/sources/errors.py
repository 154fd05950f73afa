"""Bad-input handling shared by every loader: raise with file and line, or skip and count."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


class SourceError(ValueError):
    """A row of an input file that cannot be loaded; the message names the file and line."""


@dataclass
class LoadReport:
    """What a loader read, kept and skipped (with reasons), so nothing is dropped silently."""

    rows_read: int = 0
    rows_loaded: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)

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
            "skipped": self.skipped[:100],
        }


class RowErrors:
    """Runs a row parser; on failure raises `SourceError` (on_error="raise") or records a skip."""

    def __init__(self, file: str | Path, on_error: str = "raise", report: LoadReport | None = None):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.file = str(file)
        self.on_error = on_error
        self.report = report if report is not None else LoadReport()

    def guard(self, line_no: int, parse: Callable[..., Any], *args: Any) -> Any:
        self.report.rows_read += 1
        try:
            return parse(*args)
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            reason = str(exc)
            if self.on_error == "raise":
                raise SourceError(f"{self.file}, line {line_no}: {reason}") from exc
            self.report.skipped.append({"file": self.file, "line": line_no, "reason": reason})
            return None

    def finish(self, loaded: int) -> None:
        self.report.rows_loaded += loaded
