"""The build's leak guard: drop (or refuse) rows whose text is the same as an evaluation text.

"The same text" is `goemobalance.text`'s: equal normalised forms (exact) or, unless ``threshold=None``,
shingle Jaccard >= `goemobalance.text.NEAR_DUPLICATE_THRESHOLD` (near), the definition the LLM generator
uses to reject copies of the GoEmotions test split and the audit uses to report leaks. A build that
drops what `drop_eval_leaks` finds therefore publishes nothing its own audit calls a leak into that
evaluation data.

>>> kept, report = drop_eval_leaks(balanced, {"goemotions_dev": dev, "goemotions_test": test})  # doctest: +SKIP
>>> report.to_dict()["per_eval"]["goemotions_test"]["dropped"]                                # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import datasets
import numpy as np

from goemobalance.errors import InputError, LeakError
from goemobalance.mapped import pages_released
from goemobalance.text import NEAR_DUPLICATE_THRESHOLD, ReferenceForms, normalize_text, text_column

log = logging.getLogger(__name__)
ON_LEAK: tuple[str, ...] = ("drop", "error")
MAX_EXAMPLES = 5
#: Rows the leak guard reads and matches at a time.
LEAK_BATCH_SIZE = 262_144


@dataclass
class EvalLeakReport:
    """What `drop_eval_leaks` found: rows checked and dropped, and per evaluation set the counts and examples.

    Attributes
    ----------
    rows : int
        Rows checked.
    dropped_rows : np.ndarray
        Indices (0-based, into the checked dataset) of the rows that leak into any evaluation set.
    per_eval : dict
        Per evaluation set name: ``rows`` (its size), ``exact`` and ``near`` (checked rows whose text equals,
        or nearly equals, one of its texts) and ``dropped`` (their sum). A row that leaks into two
        evaluation sets counts in both; `dropped_rows` counts it once.
    examples : dict
        Per evaluation set, up to 5 leaking rows: ``row``, ``id``, ``text``, ``eval_text``, ``match``
        (exact/near) and ``similarity``.
    threshold : float or None
        The near-duplicate threshold used (None: exact matches only).
    on_leak : str
        ``"drop"`` or ``"error"``.
    """

    rows: int
    dropped_rows: np.ndarray
    per_eval: dict[str, dict[str, int]]
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    threshold: float | None = NEAR_DUPLICATE_THRESHOLD
    on_leak: str = "drop"

    @property
    def dropped(self) -> int:
        """Number of rows that leak into at least one evaluation set."""
        return len(self.dropped_rows)

    def summary(self) -> str:
        """One line: how many rows leak, into which evaluation set, exact or near.

        Returns
        -------
        str
            E.g. ``3 of 900 rows have the same text as evaluation data (goemotions_test: 2 (1 exact,
            1 near))``.
        """
        parts = [
            f"{name}: {c['dropped']} ({c['exact']} exact, {c['near']} near)"
            for name, c in self.per_eval.items()
        ]
        return (
            f"{self.dropped} of {self.rows} rows have the same text as evaluation data ({'; '.join(parts)})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts, settings and examples (row indices are not listed, only counted).

        Returns
        -------
        dict
            ``rows``, ``dropped``, ``kept``, ``threshold``, ``on_leak``, ``per_eval`` and ``examples``.
        """
        return {
            "rows": self.rows,
            "dropped": self.dropped,
            "kept": self.rows - self.dropped,
            "threshold": self.threshold,
            "on_leak": self.on_leak,
            "per_eval": self.per_eval,
            "examples": self.examples,
        }


def drop_eval_leaks(
    dataset: datasets.Dataset,
    eval_sets: Mapping[str, datasets.Dataset],
    *,
    on_leak: str = "drop",
    threshold: float | None = NEAR_DUPLICATE_THRESHOLD,
    column: str = "text",
    batch_size: int = LEAK_BATCH_SIZE,
) -> tuple[datasets.Dataset, EvalLeakReport]:
    """Drop the rows whose text is the same as a text of an evaluation set (e.g. GoEmotions dev and test).

    The rows are read in Arrow batches of `batch_size` (text and id only) and each batch is matched
    against the evaluation texts (`goemobalance.text.ReferenceForms`), so memory follows the batch and
    the evaluation sets, not the number of rows checked; the result does not depend on `batch_size`.

    Parameters
    ----------
    dataset : datasets.Dataset
        The rows to check (a build before it is split).
    eval_sets : Mapping[str, datasets.Dataset]
        Evaluation sets by name (``{"goemotions_dev": dev, "goemotions_test": test}``); only their text
        column is read.
    on_leak : {"drop", "error"}
        ``"drop"`` returns the dataset without the leaking rows (with a logged warning); ``"error"``
        raises `LeakError` when any row leaks.
    threshold : float or None
        Near-duplicate Jaccard threshold (default `NEAR_DUPLICATE_THRESHOLD`, the generator's and the
        audit's); None drops exact matches of the normalised text only.
    column : str
        The text column of `dataset` and of every evaluation set.
    batch_size : int
        Rows of `dataset` read and matched at a time.

    Returns
    -------
    kept : datasets.Dataset
        `dataset` without the leaking rows (the same object when nothing leaks).
    report : EvalLeakReport
        Counts per evaluation set and examples.

    Raises
    ------
    LeakError
        With ``on_leak="error"``, when at least one row leaks; the message gives the counts and an example.
    InputError
        For an unknown `on_leak` or a missing text column.
    """
    if on_leak not in ON_LEAK:
        raise InputError(f"on_leak must be one of {ON_LEAK}, got {on_leak!r}")
    if column not in dataset.column_names:
        raise InputError(f"dataset has no {column!r} column (columns: {dataset.column_names})")
    eval_forms = {name: _forms_with_text(ds, column) for name, ds in eval_sets.items()}
    references = (
        ReferenceForms(sorted({form for own in eval_forms.values() for form in own}), threshold=threshold)
        if threshold is not None
        else None
    )
    scan = _LeakScan(eval_forms, len(dataset))
    with pages_released(dataset):
        for start, texts, ids in _text_batches(dataset, column, batch_size):
            forms = [normalize_text(t) for t in texts]
            matches = _exact_matches(forms, eval_forms)
            if references is not None:
                _add_near_matches(matches, forms, eval_forms, references)
            scan.add(start, texts, ids, forms, matches)
    sizes = {name: len(ds) for name, ds in eval_sets.items()}
    report = scan.report(sizes, threshold, on_leak)
    if not report.dropped:
        return dataset, report
    if on_leak == "error":
        example = next(e for examples in report.examples.values() for e in examples)
        raise LeakError(f"{report.summary()}; e.g. row {example['row'] + 1}: {example['text']!r}")
    log.warning("%s; dropping them", report.summary())
    keep = np.setdiff1d(np.arange(len(dataset)), report.dropped_rows)
    return dataset.select(keep), report


def _text_batches(
    dataset: datasets.Dataset, column: str, batch_size: int
) -> Iterator[tuple[int, list[str], list[Any]]]:
    """(first row, texts, ids) of consecutive Arrow batches (ids None when there is no id column)."""
    names = [column] + (["id"] if "id" in dataset.column_names and column != "id" else [])
    start = 0
    for table in dataset.select_columns(names).with_format("arrow").iter(batch_size=batch_size):
        texts = table.column(column).to_pylist()
        ids = table.column("id").to_pylist() if "id" in names else [None] * len(texts)
        yield start, texts, ids
        start += len(texts)


def _forms_with_text(dataset: datasets.Dataset, column: str) -> dict[str, str]:
    """Non-empty normalised form -> the first raw text with that form, for one evaluation set."""
    found: dict[str, str] = {}
    for text in text_column(dataset, column):
        form = normalize_text(text)
        if form:
            found.setdefault(form, text)
    return found


def _exact_matches(forms: list[str], eval_forms: dict[str, dict[str, str]]) -> dict[str, dict[str, tuple]]:
    """Per evaluation set: checked form -> (match kind, similarity, evaluation form)."""
    present = set(forms)
    return {
        name: {form: ("exact", 1.0, form) for form in present & own.keys()}
        for name, own in eval_forms.items()
    }


def _add_near_matches(
    matches: dict[str, dict[str, tuple]],
    forms: list[str],
    eval_forms: dict[str, dict[str, str]],
    references: ReferenceForms,
) -> None:
    """Checked forms with an evaluation form at Jaccard >= threshold (each set's best), unless already exact."""
    candidates = sorted(set(forms) - {""} - {f for m in matches.values() for f in m})
    pairs, scores = references.pairs(candidates)
    for (first, second), score in zip(pairs.tolist(), scores.tolist()):
        form, reference = candidates[first], references.references[second]
        for name, own in eval_forms.items():
            best = matches[name].get(form)
            if reference in own and (best is None or (best[0] == "near" and score > best[1])):
                matches[name][form] = ("near", round(score, 4), reference)


class _LeakScan:
    """The report of `drop_eval_leaks`, gathered one batch of rows at a time: a leak flag per row, counts
    and the first examples per evaluation set."""

    def __init__(self, eval_forms: dict[str, dict[str, str]], rows: int):
        self.eval_forms = eval_forms
        self.leaking = np.zeros(rows, dtype=bool)
        self.counts = {name: {"exact": 0, "near": 0, "dropped": 0} for name in eval_forms}
        self.examples: dict[str, list[dict[str, Any]]] = {name: [] for name in eval_forms}

    def add(
        self, start: int, texts: list[str], ids: list, forms: list[str], matches: dict[str, dict[str, tuple]]
    ) -> None:
        """Record the rows ``start .. start + len(forms) - 1`` given their forms' matches."""
        for name, found in matches.items():
            if not found:
                continue
            rows = [i for i, form in enumerate(forms) if form in found]
            self.leaking[start + np.asarray(rows, dtype=np.int64)] = True
            counts = self.counts[name]
            for i in rows:
                counts[found[forms[i]][0]] += 1
            counts["dropped"] += len(rows)
            examples = self.examples[name]
            for i in rows[: MAX_EXAMPLES - len(examples)]:
                kind, score, eval_form = found[forms[i]]
                examples.append({
                    "row": start + i, "id": ids[i], "text": texts[i],
                    "eval_text": self.eval_forms[name][eval_form], "match": kind, "similarity": score,
                })  # fmt: skip

    def report(self, sizes: dict[str, int], threshold: float | None, on_leak: str) -> EvalLeakReport:
        """The finished report."""
        per_eval = {
            name: {"rows": sizes[name], "exact": c["exact"], "near": c["near"], "dropped": c["dropped"]}
            for name, c in self.counts.items()
        }
        return EvalLeakReport(
            len(self.leaking), np.flatnonzero(self.leaking), per_eval, self.examples, threshold, on_leak
        )


__all__ = ["LEAK_BATCH_SIZE", "ON_LEAK", "EvalLeakReport", "drop_eval_leaks"]
