"""Exact and near-duplicate groups within and across splits and sources, train-evaluation leaks, short texts.

"The same text" is `goemobalance.text`'s, the definition the LLM generator and the build's leak guard
use: exact duplicates share their normalised form, near duplicates have byte 4-gram Jaccard >=
`threshold` (default `goemobalance.text.NEAR_DUPLICATE_THRESHOLD`, 0.7), found with MinHash LSH and
checked exactly. Linked rows form groups (connected components), so the audit flags what the generator
would have rejected, and nothing the leak guard let through.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from goemobalance.errors import InputError
from goemobalance.text import NEAR_DUPLICATE_THRESHOLD, cluster_texts, normalize_text

EVAL_SPLITS: frozenset[str] = frozenset({"test", "dev", "validation", "valid", "eval"})
GROUP_COLUMNS: tuple[str, ...] = (
    "rows", "size", "kind", "similarity", "splits", "sources", "cross_split", "cross_source", "leak",
)  # fmt: skip
_NAME_PARTS = re.compile(r"[_\-:/. ]+")


def is_eval_split(name: str) -> bool:
    """Whether a split holds evaluation data: its name, or its last ``_``/``-``/``:`` part, is one of
    test/dev/validation/valid/eval (``test``, ``validation``, ``goemotions_test``, ``eval``).

    Parameters
    ----------
    name : str
        A split or evaluation-set name (case-insensitive).

    Returns
    -------
    bool
    """
    parts = _NAME_PARTS.split(str(name).lower())
    return parts[-1] in EVAL_SPLITS or str(name).lower() in EVAL_SPLITS


def find_duplicates(
    texts: Sequence[str],
    *,
    splits: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    threshold: float | None = NEAR_DUPLICATE_THRESHOLD,
) -> pd.DataFrame:
    """Duplicate groups, one per row of the result: member rows, kind, splits, sources and leak flag.

    Parameters
    ----------
    texts : sequence of str
        One text per row.
    splits, sources : sequence of str, optional
        The split and the source of each row (default ``"all"`` / ``"unknown"``).
    threshold : float or None
        Near-duplicate Jaccard threshold; None groups exact duplicates only.

    Returns
    -------
    pd.DataFrame
        One row per group of two or more rows: ``rows`` (row indices), ``size``, ``kind`` (``exact`` when
        every member has the same normalised text, else ``near``), ``similarity`` (the lowest Jaccard of
        a link in the group, 1.0 for exact), ``splits``, ``sources``, ``cross_split``, ``cross_source``
        and ``leak`` (the group joins an evaluation split, see `is_eval_split`, with another split).
        Leaks first, then larger groups. Empty texts are never duplicates.
    """
    n = len(texts)
    splits = [str(s) for s in splits] if splits is not None else ["all"] * n
    sources = [str(s) for s in sources] if sources is not None else ["unknown"] * n
    if len(splits) != n or len(sources) != n:
        raise InputError(f"splits ({len(splits)}) and sources ({len(sources)}) must match texts ({n})")
    clusters = cluster_texts(texts, threshold=threshold)
    groups = clusters.row_groups()
    lowest = clusters.lowest_similarity()
    sizes = np.bincount(groups)
    records = []
    for rows in _members(groups, sizes):
        forms = clusters.row_form[rows]
        near = bool((forms != forms[0]).any())
        similarity = round(float(lowest[clusters.component[forms[0]]]), 4) if near else 1.0
        records.append(_group_record(rows, splits, sources, near, similarity))
    frame = pd.DataFrame(records, columns=list(GROUP_COLUMNS))
    return frame.sort_values(["leak", "size"], ascending=False, kind="stable").reset_index(drop=True)


def _members(groups: np.ndarray, sizes: np.ndarray) -> list[list[int]]:
    """Row lists of the groups with two or more rows, in group order."""
    rows = np.flatnonzero(sizes[groups] > 1)
    order = rows[np.argsort(groups[rows], kind="stable")]
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    return [part.tolist() for part in np.split(order, bounds)] if len(order) else []


def _group_record(
    rows: list[int], splits: list[str], sources: list[str], near: bool, similarity: float
) -> dict:
    group_splits = sorted({splits[r] for r in rows})
    group_sources = sorted({sources[r] for r in rows})
    return {
        "rows": rows,
        "size": len(rows),
        "kind": "near" if near else "exact",
        "similarity": similarity,
        "splits": group_splits,
        "sources": group_sources,
        "cross_split": len(group_splits) > 1,
        "cross_source": len(group_sources) > 1,
        "leak": len(group_splits) > 1 and any(is_eval_split(s) for s in group_splits),
    }


def short_texts(texts: Sequence[str], *, min_words: int = 3) -> dict[str, list[int]]:
    """Rows whose text is empty after normalisation, and rows with fewer than `min_words` words.

    Parameters
    ----------
    texts : sequence of str
        Raw texts.
    min_words : int, default 3
        Texts with 1 to ``min_words - 1`` words count as short.

    Returns
    -------
    dict of str to list of int
        ``empty`` and ``short``: row indices, ascending.
    """
    counts = word_counts(texts)
    return {
        "empty": np.flatnonzero(counts == 0).tolist(),
        "short": np.flatnonzero((counts > 0) & (counts < min_words)).tolist(),
    }


def word_counts(texts: Sequence[str]) -> np.ndarray:
    """Number of words of each text after normalisation (`goemobalance.text.normalize_text`)."""
    return np.array([len(normalize_text(t).split()) for t in texts], dtype=np.int64)
