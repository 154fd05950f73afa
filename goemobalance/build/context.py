"""The typed state of one build: the recipe, the output folder, each stage's output, key, report and record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from goemobalance.build.console import Console
from goemobalance.outputs import OwnedFolder
from goemobalance.recipe import Recipe


@dataclass
class StageRecord:
    """How a stage went: ``ran``, ``reused`` (from the cache) or ``skipped``; its key, rows and time."""

    name: str
    status: str
    key: str | None = None
    seconds: float = 0.0
    rows_in: int | None = None
    rows_out: int | None = None
    reason: str = ""

    @property
    def cached(self) -> bool:
        """True when the stage's saved output was reused."""
        return self.status == "reused"

    def to_dict(self) -> dict[str, Any]:
        """The record as plain data, for the manifest."""
        return {
            "status": self.status, "cached": self.cached, "key": self.key, "seconds": round(self.seconds, 3),
            "rows_in": self.rows_in, "rows_out": self.rows_out, **({"reason": self.reason} if self.reason else {}),
        }  # fmt: skip


@dataclass
class BuildContext:
    """Everything the stages of one build share.

    Each stage reads the outputs named in its ``inputs`` and sets the field named after itself; its key,
    report (counts, rows dropped by reason, model provenance) and artifacts folder are kept by name.
    """

    recipe: Recipe
    out: OwnedFolder
    console: Console = field(default_factory=Console)
    sources: datasets.Dataset | None = None
    pool: datasets.Dataset | None = None
    screened: datasets.Dataset | None = None
    llm: datasets.Dataset | None = None
    balanced: datasets.Dataset | None = None
    split: datasets.DatasetDict | None = None
    audit: dict[str, Any] | None = None
    train: dict[str, Any] | None = None
    publish: dict[str, Any] | None = None
    keys: dict[str, str] = field(default_factory=dict)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifacts: dict[str, Path] = field(default_factory=dict)
    records: dict[str, StageRecord] = field(default_factory=dict)

    @property
    def out_dir(self) -> Path:
        """The build's output folder."""
        return self.out.root

    @property
    def quiet(self) -> bool:
        """Whether progress bars of long steps should stay hidden."""
        return self.console.quiet

    def output(self, name: str) -> Any:
        """The output of stage `name` (None before it ran or when it is skipped without a pass-through)."""
        return getattr(self, name)

    def set_output(self, name: str, value: Any) -> None:
        """Store the output of stage `name`."""
        if name not in _OUTPUT_FIELDS:
            raise KeyError(f"no stage output named {name!r}")
        setattr(self, name, value)

    def dropped(self) -> dict[str, dict[str, int]]:
        """Rows dropped or skipped, by stage and reason (only stages that dropped something)."""
        return {
            name: dict(report["dropped"]) for name, report in self.reports.items() if report.get("dropped")
        }


_OUTPUT_FIELDS = ("sources", "pool", "screened", "llm", "balanced", "split", "audit", "train", "publish")

__all__ = ["BuildContext", "StageRecord"]
