"""The loop every streaming loader shares: prepare batches in worker threads, report and write in order.

A loader turns each `Chunk` into a `Prepared` batch (record columns of its good rows, its bad rows, the ids
it used); `load_batches` reports bad rows in file order (so ``on_error="raise"`` names the first bad line
of the file), drops rows whose id an earlier row used (named with the line of both), and returns the
records as one `datasets.Dataset`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import pyarrow as pa

from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.sources.checks import RowChecks, SeenIds
from goemobalance.sources.errors import RowErrors
from goemobalance.sources.reading import Chunk, ordered_map
from goemobalance.sources.records import RecordWriter

#: Builds the message for a repeated id from the id and the position of its first use.
RepeatMessage = Callable[[Any, int], str]


@dataclass
class Prepared:
    """One batch made into records: columns of its kept rows, and what to report about it.

    `keys` are the ids of the kept rows (numbers or strings) checked for repeats across the whole file,
    `positions` their lines (or rows); `rows_read` counts records, `blank_lines` blank lines.
    """

    checks: RowChecks
    rows_read: int
    blank_lines: int
    keys: np.ndarray | pa.Array
    positions: np.ndarray
    columns: dict[str, Any]


def load_batches(
    chunks: Iterable[Chunk],
    prepare: Callable[[Chunk], Prepared],
    errors: RowErrors,
    repeat_message: RepeatMessage,
    space: LabelSpace = GOEMOTIONS,
) -> datasets.Dataset:
    """Prepare every chunk (two at a time on worker threads), report and write them in file order.

    Parameters
    ----------
    chunks : iterable of Chunk
        The file's batches, in order.
    prepare : callable
        Turns a chunk into a `Prepared` batch; runs in worker threads, so it must not change shared state.
    errors : RowErrors
        Raises at the first bad row (``"raise"``) or counts bad rows by reason (``"skip"``).
    repeat_message : callable
        The message for a row whose id an earlier row used, from the id and the earlier position.
    space : LabelSpace
        The label space of the records.

    Returns
    -------
    datasets.Dataset
        The good rows in file order.
    """
    first_skipped = len(errors.report.skipped)
    writer = RecordWriter(space)
    seen = SeenIds()
    for prepared in ordered_map(prepare, chunks):
        errors.report.counts["blank_lines"] += prepared.blank_lines
        errors.report.rows_read += prepared.rows_read
        seen.add(prepared.keys, prepared.positions)
        if errors.on_error == "raise" and prepared.checks.found:
            _report_repeats(seen, errors, repeat_message, before=prepared.checks.first_line)
        prepared.checks.settle(errors)
        writer.write(prepared.columns)
    dataset = writer.finish(drop=_report_repeats(seen, errors, repeat_message))
    unit = errors.unit
    errors.report.skipped[first_skipped:] = sorted(
        errors.report.skipped[first_skipped:], key=lambda item: item.get(unit, 0)
    )
    errors.finish(len(dataset))
    return dataset


def _report_repeats(
    seen: SeenIds, errors: RowErrors, message: RepeatMessage, before: int | None = None
) -> np.ndarray:
    """Report rows whose id an earlier row used (only those before position `before`, if given).

    Under "raise" this raises at the first one; it returns the rows' positions in the output to drop.
    """
    repeats, first = seen.repeats()
    positions = seen.lines()
    for repeat, first_use in zip(repeats, first):
        if before is not None and positions[repeat] >= before:
            break
        errors.bad(
            int(positions[repeat]), message(seen.key(repeat), int(positions[first_use])), "duplicate_id"
        )
    return repeats
