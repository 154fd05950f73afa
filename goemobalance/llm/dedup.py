"""Exact and near-duplicate detection for generated texts, against named reference sets.

Texts are normalized (Unicode NFKC, lower case, URLs and @mentions masked as ``url``/``user``,
apostrophes inside words and other punctuation dropped, spaces collapsed); exact duplicates share a
normalized form. Near duplicates share at least
`threshold` of their character 4-gram shingles (Jaccard). Candidates come from MinHash signatures
split into LSH bands (dictionary lookups, O(1) per text whatever the pool size) and are then checked
with the exact Jaccard of their shingle sets, so the LSH only ever misses, never invents, a match.

Why not a sparse TF-IDF/hashing cosine with scikit-learn: it needs one sparse product per generated
batch against the whole index, and scipy's per-call overhead made it the slowest step of the pipeline
(``benchmarks/bench_llm.py`` compares both on a 50k pool).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_NON_WORD = re.compile(r"[^\w]+")
_APOSTROPHE = re.compile(r"(?<=\w)['\u2019](?=\w)")
_FOLD = np.uint64(0x9E3779B97F4A7C15)
_CHUNK = 1024
_PAIRWISE_MAX = 64


def normalize_text(text: str) -> str:
    """The comparison form of a text: NFKC, lower case, URLs/mentions masked, punctuation removed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _APOSTROPHE.sub("", _MENTION.sub(" user ", _URL.sub(" url ", text)))
    return " ".join(_NON_WORD.sub(" ", text).split())


def shingles(form: str, n: int = 4) -> np.ndarray:
    """Sorted unique byte n-grams (n <= 8) of a normalized, space-padded text, each packed in a uint64."""
    data = np.frombuffer(f" {form} ".encode("utf-8"), dtype=np.uint8).astype(np.uint64)
    if data.size < n:
        data = np.concatenate([data, np.zeros(n - data.size, dtype=np.uint64)])
    grams = np.zeros(data.size - n + 1, dtype=np.uint64)
    for offset in range(n):
        grams = (grams << np.uint64(8)) | data[offset : data.size - n + 1 + offset]
    return np.unique(grams)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted unique hash arrays."""
    common = np.intersect1d(a, b, assume_unique=True).size
    return common / (a.size + b.size - common) if (a.size or b.size) else 1.0


class DuplicateIndex:
    """Remembers texts with an origin (``test``, ``pool``, ``generated``) and flags new duplicates of them."""

    def __init__(self, threshold: float = 0.7, ngram: int = 4, bands: int = 24, rows: int = 5, seed: int = 0):
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"near-duplicate threshold must lie in (0, 1], got {threshold}")
        self.threshold = threshold
        self.ngram = ngram
        self.bands, self.rows = bands, rows
        if not 1 <= ngram <= 8:
            raise ValueError(f"ngram must lie in 1..8, got {ngram}")
        rng = np.random.default_rng(seed)
        self._a = rng.integers(1, 1 << 63, size=bands * rows, dtype=np.uint64) | np.uint64(1)
        self._b = rng.integers(0, 1 << 63, size=bands * rows, dtype=np.uint64)
        self._mix = rng.integers(1, 1 << 63, size=rows, dtype=np.uint64) | np.uint64(1)
        self._exact: dict[str, str] = {}
        self._origins: list[str] = []
        self._shingles: list[np.ndarray] = []
        self._buckets: list[dict[int, list[int]]] = [defaultdict(list) for _ in range(bands)]

    def __len__(self) -> int:
        return len(self._origins)

    def add(self, texts: Iterable[str], origin: str) -> None:
        """Index `texts` as references labelled `origin` (first origin wins for exact duplicates)."""
        forms = [normalize_text(t) for t in texts]
        for start in range(0, len(forms), _CHUNK):
            chunk = forms[start : start + _CHUNK]
            sets = [shingles(f, self.ngram) for f in chunk]
            for form, shingle_set, keys in zip(chunk, sets, self._band_keys(sets)):
                self._store(form, shingle_set, keys, origin)

    def find(self, texts: Sequence[str]) -> list[str | None]:
        """For each text, None if new, else ``exact_duplicate_<origin>`` or ``near_duplicate_<origin>``.

        Texts of the same call are also compared with each other, earlier ones winning (origin ``batch``).
        """
        return self._screen(texts, admit_as=None)

    def admit(self, texts: Sequence[str], origin: str = "generated") -> list[str | None]:
        """`find`, then index the texts found new under `origin` (one signature pass for both)."""
        return self._screen(texts, admit_as=origin)

    def _screen(self, texts: Sequence[str], admit_as: str | None) -> list[str | None]:
        forms = [normalize_text(t) for t in texts]
        sets = [shingles(f, self.ngram) for f in forms]
        local = _LocalBatch(self.bands, use_buckets=len(forms) > _PAIRWISE_MAX)
        fresh: list[tuple[str, np.ndarray, list[int]]] = []
        reasons: list[str | None] = []
        for form, shingle_set, keys in zip(forms, sets, self._band_keys(sets)):
            reason = self._reason(form, shingle_set, keys, local)
            reasons.append(reason)
            if reason is None:
                local.add(form, shingle_set, keys)
                fresh.append((form, shingle_set, keys))
        if admit_as is not None:
            for form, shingle_set, keys in fresh:
                self._store(form, shingle_set, keys, admit_as)
        return reasons

    def _store(self, form: str, shingle_set: np.ndarray, keys: list[int], origin: str) -> None:
        self._exact.setdefault(form, origin)
        self._insert(self._buckets, keys, len(self._origins))
        self._origins.append(origin)
        self._shingles.append(shingle_set)

    def _reason(self, form: str, shingle_set: np.ndarray, keys: list[int], local: _LocalBatch) -> str | None:
        if form in self._exact:
            return f"exact_duplicate_{self._exact[form]}"
        if form in local.forms:
            return "exact_duplicate_batch"
        for candidate in _candidates(self._buckets, keys):
            if jaccard(shingle_set, self._shingles[candidate]) >= self.threshold:
                return f"near_duplicate_{self._origins[candidate]}"
        for candidate in local.candidates(keys):
            if jaccard(shingle_set, local.sets[candidate]) >= self.threshold:
                return "near_duplicate_batch"
        return None

    def _band_keys(self, sets: list[np.ndarray]) -> list[list[int]]:
        """One LSH key per band for each shingle set, from MinHash signatures in one vectorized pass.

        Hashes are multiply-shift (``(a * x + b) mod 2**64``, top 32 bits): no modulo, overflow wraps.
        """
        if not sets:
            return []
        lengths = np.array([s.size for s in sets])
        with np.errstate(over="ignore"):
            flat = (np.concatenate(sets) * _FOLD) >> np.uint64(32)
            hashed = (self._a[:, None] * flat[None, :] + self._b[:, None]) >> np.uint64(32)
            starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            signatures = np.minimum.reduceat(hashed, starts, axis=1).T.reshape(len(sets), self.bands, self.rows)
            return (signatures * self._mix).sum(axis=2).tolist()

    @staticmethod
    def _insert(buckets: list[dict[int, list[int]]], keys: list[int], item: int) -> None:
        for bucket, key in zip(buckets, keys):
            bucket[key].append(item)


class _LocalBatch:
    """Texts kept so far in one `find` call: compared pairwise by band keys, or through buckets when many."""

    def __init__(self, bands: int, use_buckets: bool):
        self.forms: set[str] = set()
        self.sets: list[np.ndarray] = []
        self.keys: list[list[int]] = []
        self.buckets = [defaultdict(list) for _ in range(bands)] if use_buckets else None

    def add(self, form: str, shingle_set: np.ndarray, keys: list[int]) -> None:
        if self.buckets is not None:
            DuplicateIndex._insert(self.buckets, keys, len(self.sets))
        self.forms.add(form)
        self.sets.append(shingle_set)
        self.keys.append(keys)

    def candidates(self, keys: list[int]) -> list[int]:
        if self.buckets is not None:
            return _candidates(self.buckets, keys)
        return [i for i, other in enumerate(self.keys) if any(a == b for a, b in zip(keys, other))]


def _candidates(buckets: list[dict[int, list[int]]], keys: list[int]) -> list[int]:
    """Items sharing at least one band with `keys`, in index order (deterministic results)."""
    found: set[int] = set()
    for band, key in enumerate(keys):
        found.update(buckets[band].get(key, ()))
    return sorted(found)
