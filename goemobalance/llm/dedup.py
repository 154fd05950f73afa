"""Exact and near-duplicate detection for generated texts, against named reference sets.

Texts are normalized (Unicode NFKC, lower case, URLs and @mentions masked as ``url``/``user``,
apostrophes inside words and other punctuation dropped, spaces collapsed); exact duplicates share a
normalized form. Near duplicates share at least `threshold` of their character 4-gram shingles
(Jaccard). Candidates come from MinHash signatures split into LSH bands (dictionary lookups, O(1) per
text whatever the pool size) and are then checked with the exact Jaccard of their shingle sets, so the
LSH can only miss a match (rarely, near the threshold), never invent one.

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

from goemobalance.errors import InputError

_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_NON_WORD = re.compile(r"[^\w]+")
_APOSTROPHE = re.compile(r"(?<=\w)['\u2019](?=\w)")
_FOLD = np.uint64(0x9E3779B97F4A7C15)
_CHUNK = 512
_PAIRWISE_MAX = 64
_FROZEN_MIN = 256


def normalize_text(text: str) -> str:
    """The comparison form of a text: NFKC, lower case, URLs/mentions masked, punctuation removed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _APOSTROPHE.sub("", _MENTION.sub(" user ", _URL.sub(" url ", text)))
    return " ".join(_NON_WORD.sub(" ", text).split())


def shingles(form: str, n: int = 4) -> np.ndarray:
    """Sorted unique byte n-grams (n <= 8) of a normalized, space-padded text, each packed in a uint64."""
    grams, _ = _chunk_grams([form], n)
    return np.unique(grams)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted unique hash arrays."""
    common = np.intersect1d(a, b, assume_unique=True).size
    return common / (a.size + b.size - common) if (a.size or b.size) else 1.0


class DuplicateIndex:
    """Remembers texts with an origin (``test``, ``pool``, ``generated``) and flags new duplicates of them."""

    def __init__(self, threshold: float = 0.7, ngram: int = 4, bands: int = 20, rows: int = 4, seed: int = 0):
        if not 0.0 < threshold <= 1.0:
            raise InputError(f"near-duplicate threshold must lie in (0, 1], got {threshold}")
        if not 1 <= ngram <= 8:
            raise InputError(f"ngram must lie in 1..8, got {ngram}")
        self.threshold = threshold
        self.ngram = ngram
        self.bands, self.rows = bands, rows
        rng = np.random.default_rng(seed)
        self._a = rng.integers(1, 1 << 63, size=bands * rows, dtype=np.uint64) | np.uint64(1)
        self._b = rng.integers(0, 1 << 63, size=bands * rows, dtype=np.uint64)
        self._mix = rng.integers(1, 1 << 63, size=rows, dtype=np.uint64) | np.uint64(1)
        self._band_salt = rng.integers(1, 1 << 63, size=bands, dtype=np.uint64)
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
        """
        return self._screen(texts, admit_as=None)

    def admit(self, texts: Sequence[str], origin: str = "generated") -> list[str | None]:
        """`find`, then index the texts found new under `origin` (one signature pass for both)."""
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
        """Each text's unique n-grams and its (n_texts, bands) LSH keys, from MinHash in one vectorized pass.

        Hashes are multiply-shift (``(a * x + b) mod 2**64``, top 32 bits): no modulo, overflow wraps.
        Band keys are salted per band so one dictionary or sorted array holds every band.
        """
        flat, counts = _chunk_grams(forms, self.ngram)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        with np.errstate(over="ignore"):
            folded = (flat * _FOLD) >> np.uint64(32)
            hashed = (self._a[:, None] * folded[None, :] + self._b[:, None]) >> np.uint64(32)
            signatures = np.minimum.reduceat(hashed, starts, axis=1).T.reshape(
                len(forms), self.bands, self.rows
            )
            keys = (signatures * self._mix).sum(axis=2) ^ self._band_salt
        grams = [np.unique(part) for part in np.split(flat, starts[1:])]
        return grams, keys


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


def _chunk_grams(forms: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Byte n-grams of every space-padded text, concatenated, and how many each text has (vectorized)."""
    encoded = [f" {form} ".encode().ljust(n, b"\0") for form in forms]
    lengths = np.array([len(e) for e in encoded], dtype=np.int64)
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8).astype(np.uint64)
    counts = lengths - n + 1
    text_starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    gram_starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    positions = np.repeat(text_starts - gram_starts, counts) + np.arange(int(counts.sum()))
    grams = np.zeros(positions.size, dtype=np.uint64)
    for offset in range(n):
        grams = (grams << np.uint64(8)) | data[positions + offset]
    return grams, counts


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
