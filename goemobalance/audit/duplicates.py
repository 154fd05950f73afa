"""Exact and near-duplicate texts within and across splits and sources, and train-test leakage.

Exact duplicates share a normalised key (case-folded, punctuation and extra spaces removed, so
"Thanks!!" and "thanks" match). Near duplicates have TF-IDF cosine similarity >= `threshold`;
candidate pairs come from a sparse product over the *rare* terms only (a near copy shares its rare
words), which keeps the search well below quadratic on 50k short texts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import TfidfVectorizer

EVAL_SPLITS: frozenset[str] = frozenset({"test", "dev", "validation", "valid", "eval"})
_PUNCTUATION = re.compile(r"[^\w\s]|_", re.UNICODE)
_SPACES = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """The key two texts share when they are exact duplicates up to case, accents of form, punctuation and spacing."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", text)).strip()


def find_duplicates(
    texts: Sequence[str],
    *,
    splits: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    threshold: float = 0.9,
    rare_df: int = 50,
    chunk: int = 4096,
) -> pd.DataFrame:
    """Duplicate groups, one per row of the result: member rows, kind, splits, sources and leak flag.

    Rows with the same normalised key form one group (``exact``); groups linked by a TF-IDF cosine
    >= `threshold` merge into one (``near``). A group is a ``leak`` when it holds rows of an
    evaluation split (test/dev/validation) and of another split. Empty texts are skipped.
    """
    n = len(texts)
    splits = [str(s) for s in splits] if splits is not None else ["all"] * n
    sources = [str(s) for s in sources] if sources is not None else ["unknown"] * n
    if len(splits) != n or len(sources) != n:
        raise ValueError(f"splits ({len(splits)}) and sources ({len(sources)}) must match texts ({n})")
    keys = [normalise_text(t) for t in texts]
    unique_keys = sorted({k for k in keys if k})
    key_index = {k: i for i, k in enumerate(unique_keys)}
    edges, similarity = near_duplicate_edges(unique_keys, threshold=threshold, rare_df=rare_df, chunk=chunk)
    graph = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(len(unique_keys),) * 2)
    _, component = connected_components(graph, directed=False)
    lowest = _lowest_similarity_per_component(component, edges, similarity)
    members: dict[int, list[int]] = {}
    for row, key in enumerate(keys):
        if key:
            members.setdefault(int(component[key_index[key]]), []).append(row)
    groups = [
        _group_record(rows, keys, splits, sources, lowest.get(c))
        for c, rows in members.items()
        if len(rows) > 1
    ]
    columns = [
        "rows",
        "size",
        "kind",
        "similarity",
        "splits",
        "sources",
        "cross_split",
        "cross_source",
        "leak",
    ]
    frame = pd.DataFrame(groups, columns=columns)
    return frame.sort_values(["leak", "size"], ascending=False, kind="stable").reset_index(drop=True)


def near_duplicate_edges(
    unique_keys: Sequence[str], *, threshold: float = 0.9, rare_df: int = 50, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) of distinct normalised texts with TF-IDF cosine >= `threshold`, and their cosine."""
    empty = (np.empty((0, 2), dtype=np.int64), np.empty(0))
    if len(unique_keys) < 2:
        return empty
    vectors = sp.csr_matrix(
        TfidfVectorizer(token_pattern=r"(?u)\b\w+\b", sublinear_tf=True).fit_transform(unique_keys)
    )
    candidates = _rare_term_candidates(vectors, rare_df, chunk)
    if not len(candidates):
        return empty
    first, second = candidates[:, 0], candidates[:, 1]
    cosine = np.asarray(vectors[first].multiply(vectors[second]).sum(axis=1)).ravel()
    keep = cosine >= threshold
    return candidates[keep], np.minimum(cosine[keep], 1.0)


def _lowest_similarity_per_component(
    component: np.ndarray, edges: np.ndarray, similarity: np.ndarray
) -> dict:
    lowest: dict[int, float] = {}
    for (a, _), s in zip(edges, similarity):
        c = int(component[a])
        lowest[c] = min(lowest.get(c, 1.0), float(s))
    return lowest


def _group_record(rows: list[int], keys: list[str], splits: list[str], sources: list[str], near_sim) -> dict:
    group_splits = sorted({splits[r] for r in rows})
    group_sources = sorted({sources[r] for r in rows})
    has_eval = any(s.lower() in EVAL_SPLITS for s in group_splits)
    exact = len({keys[r] for r in rows}) == 1
    return {
        "rows": rows,
        "size": len(rows),
        "kind": "exact" if exact else "near",
        "similarity": 1.0 if exact or near_sim is None else round(near_sim, 4),
        "splits": group_splits,
        "sources": group_sources,
        "cross_split": len(group_splits) > 1,
        "cross_source": len(group_sources) > 1,
        "leak": has_eval and len(group_splits) > 1,
    }


def short_texts(texts: Sequence[str], *, min_words: int = 3) -> dict[str, list[int]]:
    """Rows whose text is empty after normalisation, and rows with fewer than `min_words` words."""
    empty, short = [], []
    for row, text in enumerate(texts):
        words = normalise_text(text).split()
        if not words:
            empty.append(row)
        elif len(words) < min_words:
            short.append(row)
    return {"empty": empty, "short": short}


def _rare_term_candidates(vectors: sp.csr_matrix, rare_df: int, chunk: int) -> np.ndarray:
    """Pairs (i < j) of unique texts sharing at least one term that occurs in at most `rare_df` texts."""
    presence = (vectors > 0).astype(np.int32).tocsc()
    doc_freq = np.diff(presence.indptr)
    rare = presence[:, np.flatnonzero((doc_freq >= 2) & (doc_freq <= rare_df))].tocsr()
    rare_t = rare.T.tocsr()
    found = []
    for start in range(0, rare.shape[0], chunk):
        block = (rare[start : start + chunk] @ rare_t).tocoo()
        i = block.row + start
        upper = i < block.col
        found.append(np.stack([i[upper], block.col[upper]], axis=1))
    return np.concatenate(found) if found else np.empty((0, 2), dtype=np.int64)
