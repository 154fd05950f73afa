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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import datasets
import numpy as np

from goemobalance.errors import InputError, LeakError
from goemobalance.text import NEAR_DUPLICATE_THRESHOLD, near_duplicate_pairs, normalize_text, text_column

log = logging.getLogger(__name__)
ON_LEAK: tuple[str, ...] = ("drop", "error")
MAX_EXAMPLES = 5


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
) -> tuple[datasets.Dataset, EvalLeakReport]:
    """Drop the rows whose text is the same as a text of an evaluation set (e.g. GoEmotions dev and test).

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
    texts = text_column(dataset, column)
    forms = [normalize_text(t) for t in texts]
    eval_forms = {name: _forms_with_text(ds, column) for name, ds in eval_sets.items()}
    matches = _exact_matches(forms, eval_forms)
    if threshold is not None:
        _add_near_matches(matches, forms, eval_forms, threshold)
    ids = text_column(dataset, "id") if "id" in dataset.column_names else [None] * len(texts)
    sizes = {name: len(ds) for name, ds in eval_sets.items()}
    report = _report(texts, ids, forms, eval_forms, sizes, matches, threshold, on_leak)
    if not report.dropped:
        return dataset, report
    if on_leak == "error":
        example = next(e for examples in report.examples.values() for e in examples)
        raise LeakError(f"{report.summary()}; e.g. row {example['row'] + 1}: {example['text']!r}")
    log.warning("%s; dropping them", report.summary())
    keep = np.setdiff1d(np.arange(len(forms)), report.dropped_rows)
    return dataset.select(keep), report


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
    threshold: float,
) -> None:
    """Checked forms with an evaluation form at Jaccard >= threshold (each set's best), unless already exact."""
    candidates = sorted(set(forms) - {""} - {f for m in matches.values() for f in m})
    references = sorted({form for own in eval_forms.values() for form in own})
    if not candidates or not references:
        return
    everything = candidates + references
    sides = np.r_[np.zeros(len(candidates), dtype=np.int8), np.ones(len(references), dtype=np.int8)]
    pairs, scores = near_duplicate_pairs(everything, threshold=threshold, sides=sides)
    for (first, second), score in zip(pairs.tolist(), scores.tolist()):
        form, reference = everything[min(first, second)], everything[max(first, second)]
        for name, own in eval_forms.items():
            best = matches[name].get(form)
            if reference in own and (best is None or (best[0] == "near" and score > best[1])):
                matches[name][form] = ("near", round(score, 4), reference)


def _report(
    texts: list[str],
    ids: list,
    forms: list[str],
    eval_forms: dict[str, dict[str, str]],
    sizes: dict[str, int],
    matches: dict[str, dict[str, tuple]],
    threshold: float | None,
    on_leak: str,
) -> EvalLeakReport:
    leaking = np.zeros(len(forms), dtype=bool)
    per_eval, examples = {}, {}
    for name, found in matches.items():
        rows = np.flatnonzero([form in found for form in forms]) if found else np.empty(0, dtype=np.int64)
        leaking[rows] = True
        kinds = [found[forms[r]][0] for r in rows]
        per_eval[name] = {
            "rows": sizes[name],
            "exact": kinds.count("exact"),
            "near": kinds.count("near"),
            "dropped": len(rows),
        }
        examples[name] = [
            {
                "row": int(r), "id": ids[r], "text": texts[r], "eval_text": eval_forms[name][found[forms[r]][2]],
                "match": found[forms[r]][0], "similarity": found[forms[r]][1],
            }
            for r in rows[:MAX_EXAMPLES]
        ]  # fmt: skip
    return EvalLeakReport(len(forms), np.flatnonzero(leaking), per_eval, examples, threshold, on_leak)


__all__ = ["ON_LEAK", "EvalLeakReport", "drop_eval_leaks"]
