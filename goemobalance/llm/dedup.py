"""Exact and near-duplicate screening of generated texts against named reference sets (pool, test split).

What counts as the same text is defined once, in `goemobalance.text`: exact duplicates share their
normalised form, near duplicates share at least 70% of their byte 4-gram shingles (Jaccard), found with
the same seeded MinHash LSH + exact Jaccard check the audit and the build's leak guard use, so the audit
never flags a pair the generator accepted. This module keeps the *incremental* index: references added
once, generated batches screened (and admitted) as they arrive, O(1) dictionary lookups per text.

Why not a sparse TF-IDF/hashing cosine with scikit-learn: it needs one sparse product per generated
batch against the whole index, and scipy's per-call overhead made it the slowest step of the pipeline
(``benchmarks/bench_llm.py`` compares both on a 50k pool).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from goemobalance.errors import InputError
from goemobalance.text import NEAR_DUPLICATE_THRESHOLD, NGRAM, MinHasher, jaccard, normalize_text

_CHUNK = 512
_PAIRWISE_MAX = 64
_FROZEN_MIN = 256


class DuplicateIndex:
    """Remembers texts with an origin (``test``, ``pool``, ``generated``) and flags new duplicates of them.

    "Duplicate" is `goemobalance.text`'s: the same normalised form (exact), or shingle Jaccard at or above
    `threshold` among MinHash LSH candidates (near).

    Parameters
    ----------
    threshold : float, default NEAR_DUPLICATE_THRESHOLD
        Near-duplicate Jaccard threshold, in (0, 1].
    ngram : int, default NGRAM
        Shingle size in bytes.
    bands, rows : int, default 20, 4
        MinHash LSH layout (see `goemobalance.text.MinHasher`).
    seed : int, default 0
        Seed of the hash functions.

    Raises
    ------
    InputError
        If `threshold` is outside (0, 1].
    """

    def __init__(
        self,
        threshold: float = NEAR_DUPLICATE_THRESHOLD,
        ngram: int = NGRAM,
        bands: int = 20,
        rows: int = 4,
        seed: int = 0,
    ):
        if not 0.0 < threshold <= 1.0:
            raise InputError(f"near-duplicate threshold must lie in (0, 1], got {threshold}")
        self.threshold = threshold
        self.ngram = ngram
        self.bands, self.rows = bands, rows
        self._hasher = MinHasher(bands=bands, rows=rows, ngram=ngram, seed=seed)
        self._exact: dict[str, str] = {}
        self._origins: list[str] = []
        self._grams: list[np.ndarray] = []
        self._frozen: list[_FrozenBuckets] = []
        self._buckets: dict[int, list[int]] = defaultdict(list)

    def __len__(self) -> int:
        return len(self._origins)

    def add(self, texts: Iterable[str], origin: str) -> None:
        """Index `texts` as references labelled `origin` (first origin wins for exact duplicates).

        Large additions (a pool, a test split) become sorted-array segments searched with
        `numpy.searchsorted`; small ones (generated batches) go to a dictionary.

        Parameters
        ----------
        texts : iterable of str
            Raw texts.
        origin : str
            Their origin, named in `find`'s reasons.
        """
        forms = [normalize_text(t) for t in texts]
        if len(forms) < _FROZEN_MIN:
            grams, keys = (
                self._signatures(forms) if forms else ([], np.zeros((0, self.bands), dtype=np.uint64))
            )
            for form, text_grams, text_keys in zip(forms, grams, keys.tolist()):
                self._store(form, text_grams, text_keys, origin)
            return
        key_blocks = []
        for start in range(0, len(forms), _CHUNK):
            grams, keys = self._signatures(forms[start : start + _CHUNK])
            self._grams.extend(grams)
            key_blocks.append(keys)
        self._frozen.append(_FrozenBuckets(np.concatenate(key_blocks), len(self._origins)))
        for form in forms:
            self._exact.setdefault(form, origin)
        self._origins.extend([origin] * len(forms))

    def find(self, texts: Sequence[str]) -> list[str | None]:
        """For each text, None if new, else ``exact_duplicate_<origin>`` or ``near_duplicate_<origin>``.

        Texts of the same call are also compared with each other, earlier ones winning (origin ``batch``).

        Parameters
        ----------
        texts : sequence of str
            Raw texts to check (not indexed).

        Returns
        -------
        list of str or None
            One reason per text.
        """
        return self._screen(texts, admit_as=None)

    def admit(self, texts: Sequence[str], origin: str = "generated") -> list[str | None]:
        """`find`, then index the texts found new under `origin` (one signature pass for both).

        Parameters
        ----------
        texts : sequence of str
            Raw texts to check.
        origin : str, default "generated"
            The origin the new texts are indexed under.

        Returns
        -------
        list of str or None
            One reason per text, as `find` gives them (None: new, and now indexed).
        """
        return self._screen(texts, admit_as=origin)

    def _screen(self, texts: Sequence[str], admit_as: str | None) -> list[str | None]:
        forms = [normalize_text(t) for t in texts]
        if not forms:
            return []
        grams, keys = self._signatures(forms)
        local = _LocalBatch(use_buckets=len(forms) > _PAIRWISE_MAX)
        fresh: list[tuple[str, np.ndarray, list[int]]] = []
        reasons: list[str | None] = []
        for form, text_grams, text_keys in zip(forms, grams, keys.tolist()):
            reason = self._reason(form, text_grams, text_keys, local)
            reasons.append(reason)
            if reason is None:
                local.add(form, text_grams, text_keys)
                fresh.append((form, text_grams, text_keys))
        if admit_as is not None:
            for form, text_grams, text_keys in fresh:
                self._store(form, text_grams, text_keys, admit_as)
        return reasons

    def _store(self, form: str, grams: np.ndarray, keys: list[int], origin: str) -> None:
        self._exact.setdefault(form, origin)
        _insert(self._buckets, keys, len(self._origins))
        self._origins.append(origin)
        self._grams.append(grams)

    def _reason(self, form: str, grams: np.ndarray, keys: list[int], local: _LocalBatch) -> str | None:
        if form in self._exact:
            return f"exact_duplicate_{self._exact[form]}"
        if form in local.forms:
            return "exact_duplicate_batch"
        for candidate in self._candidates(keys):
            if jaccard(grams, self._grams[candidate]) >= self.threshold:
                return f"near_duplicate_{self._origins[candidate]}"
        for candidate in local.candidates(keys):
            if jaccard(grams, local.grams[candidate]) >= self.threshold:
                return "near_duplicate_batch"
        return None

    def _candidates(self, keys: list[int]) -> list[int]:
        """Indexed texts sharing at least one band with `keys`, in index order (deterministic results)."""
        found: set[int] = set()
        for key in keys:
            found.update(self._buckets.get(key, ()))
        if self._frozen:
            query = np.array(keys, dtype=np.uint64)
            for segment in self._frozen:
                found.update(segment.lookup(query))
        return sorted(found)

    def _signatures(self, forms: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
        """Each text's unique n-grams and its (n_texts, bands) LSH keys (`goemobalance.text.MinHasher`)."""
        return self._hasher.signatures(forms)


class _FrozenBuckets:
    """A bulk-added block of the index: every (band key, text) pair in sorted arrays."""

    def __init__(self, keys: np.ndarray, first_id: int):
        flat = keys.ravel()
        order = np.argsort(flat, kind="stable")
        self.keys = flat[order]
        self.ids = (np.repeat(np.arange(keys.shape[0]), keys.shape[1]) + first_id)[order]

    def lookup(self, query: np.ndarray) -> list[int]:
        low = np.searchsorted(self.keys, query, side="left")
        high = np.searchsorted(self.keys, query, side="right")
        hits = np.flatnonzero(high > low)
        if not hits.size:
            return []
        return np.concatenate([self.ids[low[i] : high[i]] for i in hits]).tolist()


def _insert(buckets: dict[int, list[int]], keys: list[int], item: int) -> None:
    for key in keys:
        buckets[key].append(item)


class _LocalBatch:
    """Texts kept so far in one `find` call: compared pairwise by band keys, or through buckets when many."""

    def __init__(self, use_buckets: bool):
        self.forms: set[str] = set()
        self.grams: list[np.ndarray] = []
        self.keys: list[list[int]] = []
        self.buckets: dict[int, list[int]] | None = defaultdict(list) if use_buckets else None

    def add(self, form: str, grams: np.ndarray, keys: list[int]) -> None:
        if self.buckets is not None:
            _insert(self.buckets, keys, len(self.grams))
        self.forms.add(form)
        self.grams.append(grams)
        self.keys.append(keys)

    def candidates(self, keys: list[int]) -> list[int]:
        if self.buckets is not None:
            return sorted({item for key in keys for item in self.buckets.get(key, ())})
        return [i for i, other in enumerate(self.keys) if any(a == b for a, b in zip(keys, other))]
