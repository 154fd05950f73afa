"""The stage cache: each finished stage's output under ``OUT/stages/<stage>/``, trusted only while its files
are exactly as written.

A stage folder holds the output (``data/`` from `save_to_disk`, or ``data.json``), the stage's
``report.json``, its ``artifacts/`` (saved models, report files) and, written last, ``checksums.json``: the
stage key and the sha256 of every other file. The folder is built in a temporary sibling and renamed into
place, so it is either complete or absent. A stage is reused only when its key matches and every file
still has its checksum; a changed, missing, truncated or unreadable file makes the stage run again (with
a warning), so a rerun never publishes data that no stage produced.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from goemobalance.atomic import remove_temporaries, replace_folder, temporary_sibling, write_json
from goemobalance.hashing import changed_files, folder_checksums
from goemobalance.mapped import pages_released

CHECKSUMS = "checksums.json"
REPORT = "report.json"
ARTIFACTS = "artifacts"
SHOWN_PROBLEMS = 2


@dataclass
class StageOutput:
    """What a stage made: its data (a Dataset, DatasetDict, JSON value or None), a JSON report (counts,
    drops by reason, model provenance), and the folder of its artifacts."""

    data: Any
    report: dict[str, Any] = field(default_factory=dict)
    artifacts: Path | None = None


class StageCache:
    """Finished stage outputs under `root`, verified by checksum before reuse.

    Parameters
    ----------
    root : str or Path
        ``OUT/stages``.
    warn : callable
        Called with a one-line message when a saved stage cannot be trusted and is recomputed.
    """

    def __init__(self, root: str | Path, warn: Callable[[str], None] | None = None) -> None:
        self.root = Path(root)
        self.warn = warn or (lambda message: None)

    def clear_temporaries(self) -> None:
        """Remove half-written stage folders left by an interrupted run."""
        remove_temporaries(self.root)

    def load(self, stage: str, key: str) -> StageOutput | None:
        """The saved output of `stage` when it was made with `key` and is intact; None otherwise.

        Parameters
        ----------
        stage : str
            The stage name.
        key : str
            The key the output must have been made with.

        Returns
        -------
        StageOutput or None
            None when there is no saved output, its key differs, or a file is missing, changed or
            unreadable (the last three with a warning).
        """
        folder = self.root / stage
        record = self._record(folder, stage)
        if record is None or record.get("key") != key:
            return None
        problems = changed_files(folder, record.get("files") or {})
        if problems:
            shown = "; ".join(problems[:SHOWN_PROBLEMS]) + ("; ..." if len(problems) > SHOWN_PROBLEMS else "")
            self.warn(
                f"stage {stage}: saved output in {folder} does not match its checksums ({shown}); recomputing"
            )
            return None
        try:
            return _read(folder)
        except Exception as exc:  # noqa: BLE001 - any unreadable saved output is recomputed, never trusted
            self.warn(
                f"stage {stage}: cannot read the saved output in {folder} ({type(exc).__name__}: {exc}); recomputing"
            )
            return None

    def is_valid(self, stage: str, key: str) -> bool:
        """Whether `load` would reuse the stage (checks checksums, reads nothing else)."""
        folder = self.root / stage
        record = self._record(folder, stage, quiet=True)
        return bool(
            record and record.get("key") == key and not changed_files(folder, record.get("files") or {})
        )

    def save(self, stage: str, key: str, compute: Callable[[Path], StageOutput]) -> StageOutput:
        """Run `compute(artifacts_folder)`, save its output with checksums, and return it as read back.

        Returning what was read back from the saved files (not the object in memory) means a fresh run and
        a rerun that reuses the stage publish the same bytes.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        folder = self.root / stage
        staged = temporary_sibling(folder)
        try:
            (staged / ARTIFACTS).mkdir(parents=True)
            output = compute(staged / ARTIFACTS)
            _write(output, staged)
            checksums = folder_checksums(staged)
            write_json(staged / CHECKSUMS, {"key": key, "files": checksums}, redact=False)
            replace_folder(staged, folder)
        finally:
            if staged.exists():
                shutil.rmtree(staged)
        return _read(folder)

    def _record(self, folder: Path, stage: str, quiet: bool = False) -> dict[str, Any] | None:
        path = folder / CHECKSUMS
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problem = str(exc)
        else:
            if isinstance(record, dict):
                return record
            problem = "not a JSON object"
        if not quiet:
            self.warn(f"stage {stage}: unreadable {path} ({problem}); recomputing")
        return None


def _write(output: StageOutput, folder: Path) -> None:
    data = output.data
    if isinstance(data, (datasets.Dataset, datasets.DatasetDict)):
        with pages_released(data):
            data.save_to_disk(str(folder / "data"))
    elif data is not None:
        write_json(folder / "data.json", data, sort_keys=False)
    write_json(folder / REPORT, output.report, sort_keys=False)


def _read(folder: Path) -> StageOutput:
    report = json.loads((folder / REPORT).read_text(encoding="utf-8"))
    if (folder / "data").is_dir():
        data = datasets.load_from_disk(str(folder / "data"))
    elif (folder / "data.json").is_file():
        data = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    else:
        data = None
    return StageOutput(data, report, folder / ARTIFACTS)


__all__ = ["ARTIFACTS", "CHECKSUMS", "StageCache", "StageOutput"]
