"""What "the same text" means in goemobalance: one normalisation, one exact key, one near-duplicate test.

Every stage that compares texts goes through this module: the LLM generator (rejects copies of the pool
and of the GoEmotions test split, `goemobalance.llm.dedup.DuplicateIndex`), the audit (duplicate groups
and leaks, `goemobalance.audit.find_duplicates`), the build's leak guard and splitter groups
(`goemobalance.leaks.drop_eval_leaks`, `duplicate_groups`) and compare's leak check before training
(`goemobalance.train.compare.leak_key`). So a text one of them calls a copy, every other one does too.

**Normalisation** (`normalize_text`), in this order:

1. HTML entities unescaped (``&amp;`` -> ``&``, ``&quot;`` -> ``"``; Sentiment140 stores them escaped);
2. Unicode NFKC (full-width letters, ligatures, non-breaking spaces become their plain forms);
3. case folded (`str.casefold`: ``Straße`` and ``STRASSE`` match);
4. URLs masked as ``url``, ``@user`` and ``u/user`` mentions as ``user`` (which user or link is not the text);
5. apostrophes inside words dropped (``don't``, ``don’t`` and ``dont`` are one word);
6. emoji and pictographs kept as words of their own (they carry the emotion the data is labelled with:
   ``great 😍`` and ``great 😡`` differ); every other character that is not a letter or digit
   (punctuation, symbols, underscores, variation selectors) becomes a space;
7. runs of spaces collapsed, ends stripped.

So ``"Thanks!!  &amp; see https://t.co/x @Bob"`` and ``"thanks & see http://bit.ly/y @al"`` are the same
text; a text that normalises to the empty string (only punctuation) equals nothing, not even itself.

**Exact duplicates** share their normalised form: `normalize_text` *is* the exact key.

**Near duplicates** share at least `NEAR_DUPLICATE_THRESHOLD` (0.7) of their byte 4-grams (Jaccard of the
sets of 4-byte shingles of the space-padded normalised forms). Candidates come from MinHash signatures cut
into LSH bands (`MinHasher`: 20 bands x 4 rows; a pair at Jaccard 0.7 shares a band with probability
99.6%, at 0.8 99.99%) and every candidate is then checked with its exact Jaccard, so the LSH can only miss
a pair (rarely, near the threshold), never invent one. The generator's incremental index and the batch
search here (`near_duplicate_pairs`) use the same seeded hasher, so they find the same pairs.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from goemobalance.errors import InputError

#: The one near-duplicate threshold: Jaccard similarity of byte 4-gram sets of the normalised texts.
NEAR_DUPLICATE_THRESHOLD = 0.7
#: Shingle size in bytes of UTF-8.
NGRAM = 4

_EMOJI_RANGES = (
    "\U0001f1e6-\U0001f1ff\U0001f300-\U0001f5ff\U0001f600-\U0001f64f\U0001f680-\U0001f6ff"
    "\U0001f700-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2190-\u21ff\u2300-\u23ff"
)
_EMOJI_FIRST = "\u2190"
_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+|(?<![\w/])/?u/[\w-]+")
_APOSTROPHE = re.compile(r"(?<=\w)['\u2019\u2018\u02bc`](?=\w)")
_EMOJI = re.compile(f"([{_EMOJI_RANGES}])")
_OTHER = re.compile(rf"[^\w\s{_EMOJI_RANGES}]+|_+")
_FOLD = np.uint64(0x9E3779B97F4A7C15)
_CHUNK = 512
_PAIR_CHUNK = 1 << 18


def normalize_text(text: str | None) -> str:
    """The comparison form of a text, and its exact-duplicate key (see the module docstring for the rules).

    Parameters
    ----------
    text : str or None
        Any text; None counts as empty.

    Returns
    -------
    str
        The normalised form; ``""`` when nothing but punctuation and spaces remain.
    """
    text = text or ""
    if "&" in text:
        text = html.unescape(text)
    text = unicodedata.normalize("NFKC", text).casefold()
    if "http" in text or "www." in text:
        text = _URL.sub(" url ", text)
    if "@" in text or "u/" in text:
        text = _MENTION.sub(" user ", text)
    text = _APOSTROPHE.sub("", text)
    if text and max(text) >= _EMOJI_FIRST:
        text = _EMOJI.sub(r" \1 ", text)
    return " ".join(_OTHER.sub(" ", text).split())


def byte_ngrams(forms: Sequence[str], n: int = NGRAM) -> tuple[np.ndarray, np.ndarray]:
    """Byte n-grams (n <= 8) of every space-padded text, each packed in a uint64, and how many each text has.

    Parameters
    ----------
    forms : sequence of str
        Normalised texts.
    n : int
        Shingle size in bytes.

    Returns
    -------
    grams : np.ndarray of uint64
        The n-grams of all texts, concatenated (duplicates within a text kept).
    counts : np.ndarray of int64
        Number of n-grams of each text (at least 1: short texts are zero-padded to `n` bytes).
    """
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


def shingles(form: str, n: int = NGRAM) -> np.ndarray:
    """Sorted unique byte n-grams of one normalised text (the set whose Jaccard defines near duplicates).

    Parameters
    ----------
    form : str
        A text already normalised with `normalize_text`.
    n : int, default NGRAM
        Shingle size in bytes (1..8).

    Returns
    -------
    np.ndarray
        The distinct n-grams packed into ``uint64``, ascending.
    """
    grams, _ = byte_ngrams([form], n)
    return np.unique(grams)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted unique shingle arrays (1.0 for two empty ones).

    Parameters
    ----------
    a, b : np.ndarray
        Shingle sets as returned by `shingles` (sorted, no repeats).

    Returns
    -------
    float
        ``|a & b| / |a | b|``, in [0, 1].
    """
    common = np.intersect1d(a, b, assume_unique=True).size
    return common / (a.size + b.size - common) if (a.size or b.size) else 1.0


def similarity(a: str, b: str) -> float:
    """Near-duplicate similarity of two raw texts: Jaccard of the 4-gram shingles of their normalised forms.

    Parameters
    ----------
    a, b : str
        Raw texts (normalised here with `normalize_text`).

    Returns
    -------
    float
        In [0, 1]; near duplicates are those at or above `NEAR_DUPLICATE_THRESHOLD`.
    """
    return jaccard(shingles(normalize_text(a)), shingles(normalize_text(b)))


class MinHasher:
    """Seeded MinHash signatures of byte n-gram sets, cut into salted LSH band keys.

    Two texts are near-duplicate *candidates* when they share at least one band key; with `bands` bands of
    `rows` hashes a pair at Jaccard ``J`` becomes a candidate with probability ``1 - (1 - J**rows)**bands``.
    Hashes are multiply-shift (``(a * x + b) mod 2**64``, top 32 bits), vectorised over a chunk of texts;
    band keys are salted per band so one dictionary or sorted array can hold every band.

    Parameters
    ----------
    bands, rows : int
        LSH layout (default 20 x 4).
    ngram : int
        Shingle size in bytes (1..8).
    seed : int
        Seed of the hash functions; texts hashed with the same seed and layout get the same keys.
    """

    def __init__(self, bands: int = 20, rows: int = 4, ngram: int = NGRAM, seed: int = 0):
        if not 1 <= ngram <= 8:
            raise InputError(f"ngram must lie in 1..8, got {ngram}")
        self.bands, self.rows, self.ngram, self.seed = bands, rows, ngram, seed
        rng = np.random.default_rng(seed)
        self._a = rng.integers(1, 1 << 63, size=bands * rows, dtype=np.uint64) | np.uint64(1)
        self._b = rng.integers(0, 1 << 63, size=bands * rows, dtype=np.uint64)
        self._mix = rng.integers(1, 1 << 63, size=rows, dtype=np.uint64) | np.uint64(1)
        self._salt = rng.integers(1, 1 << 63, size=bands, dtype=np.uint64)

    def band_keys(self, grams: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """LSH band keys (n_texts, bands) of texts given as `byte_ngrams` output (one chunk: memory grows
        with ``bands * rows * len(grams)``).

        Parameters
        ----------
        grams : np.ndarray
            The n-grams of every text, concatenated (``uint64``, as `byte_ngrams` returns them).
        counts : np.ndarray
            How many of `grams` belong to each text, in order (each at least 1).

        Returns
        -------
        np.ndarray
            ``uint64`` array of shape ``(len(counts), bands)``; texts sharing a key in any column are
            near-duplicate candidates.
        """
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        with np.errstate(over="ignore"):
            folded = (grams * _FOLD) >> np.uint64(32)
            hashed = (self._a[:, None] * folded[None, :] + self._b[:, None]) >> np.uint64(32)
            signatures = np.minimum.reduceat(hashed, starts, axis=1).T.reshape(
                len(counts), self.bands, self.rows
            )
            return (signatures * self._mix).sum(axis=2) ^ self._salt

    def signatures(self, forms: Sequence[str]) -> tuple[list[np.ndarray], np.ndarray]:
        """Each text's sorted unique n-grams and its (n_texts, bands) LSH keys, in one vectorised pass.

        Parameters
        ----------
        forms : sequence of str
            Normalised texts.

        Returns
        -------
        shingles : list of np.ndarray
            Per text, its sorted unique n-grams (as `shingles` gives them).
        keys : np.ndarray
            The ``(len(forms), bands)`` band keys (see `band_keys`).
        """
        grams, counts = byte_ngrams(forms, self.ngram)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        return [np.unique(part) for part in np.split(grams, starts[1:])], self.band_keys(grams, counts)


def near_duplicate_pairs(
    forms: Sequence[str],
    *,
    threshold: float = NEAR_DUPLICATE_THRESHOLD,
    sides: np.ndarray | None = None,
    hasher: MinHasher | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of distinct normalised texts whose shingle Jaccard is at least `threshold`.

    Parameters
    ----------
    forms : sequence of str
        Distinct, non-empty normalised texts (`normalize_text` output).
    threshold : float
        Jaccard threshold in (0, 1].
    sides : np.ndarray, optional
        One label per form; when given, only pairs whose labels differ are returned (e.g. training texts
        against evaluation texts), and same-side candidates are never verified.
    hasher : MinHasher, optional
        The LSH hasher (default: `MinHasher()`, the generator's).

    Returns
    -------
    pairs : np.ndarray of shape (m, 2), int64
        Form indices ``i < j``, sorted.
    similarity : np.ndarray of shape (m,)
        Their Jaccard similarity.
    """
    _check_threshold(threshold)
    hasher = hasher or MinHasher()
    empty = (np.empty((0, 2), dtype=np.int64), np.empty(0))
    if len(forms) < 2:
        return empty
    keys, matrix = _keys_and_shingle_matrix(list(forms), hasher)
    candidates = _shared_band_pairs(keys)
    if sides is not None:
        sides = np.asarray(sides)
        candidates = candidates[sides[candidates[:, 0]] != sides[candidates[:, 1]]]
    if not len(candidates):
        return empty
    scores = _pair_jaccard(matrix, candidates)
    keep = scores >= threshold
    return candidates[keep], scores[keep]


class ReferenceForms:
    """Near duplicates of texts in a fixed set of reference forms, searched one batch of texts at a time.

    `pairs` returns what ``near_duplicate_pairs(forms + references, sides=...)`` returns (the same LSH
    candidates: a form and a reference sharing a key in one band; the same exact Jaccard check), but
    the references are hashed once and nothing is kept per searched text, so memory follows the batch,
    not all texts ever searched: the build's leak guard streams millions of rows through it against
    GoEmotions dev/test.

    Parameters
    ----------
    references : sequence of str
        Distinct, non-empty normalised texts (`normalize_text` output).
    threshold : float
        Jaccard threshold in (0, 1].
    hasher : MinHasher, optional
        The LSH hasher (default: `MinHasher()`, the generator's).
    """

    def __init__(
        self,
        references: Sequence[str],
        *,
        threshold: float = NEAR_DUPLICATE_THRESHOLD,
        hasher: MinHasher | None = None,
    ):
        _check_threshold(threshold)
        self.references = list(references)
        self.threshold = threshold
        self.hasher = hasher or MinHasher()
        keys = band_keys(self.references, self.hasher)
        self._order = np.argsort(keys, axis=0, kind="stable")
        self._sorted_keys = np.take_along_axis(keys, self._order, axis=0)
        self._shingles = [shingles(form, self.hasher.ngram) for form in self.references]

    def pairs(self, forms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Pairs (form, reference) at Jaccard >= `threshold`, sorted by form then reference index.

        Parameters
        ----------
        forms : sequence of str
            Distinct, non-empty normalised texts, none of them equal to a reference.

        Returns
        -------
        pairs : np.ndarray of shape (m, 2), int64
            Index into `forms` and index into `references`.
        similarity : np.ndarray of shape (m,)
            Their Jaccard similarity.
        """
        candidates = self._candidates(band_keys(forms, self.hasher)) if len(forms) and self.references else []
        if not len(candidates):
            return np.empty((0, 2), dtype=np.int64), np.empty(0)
        own = {i: shingles(forms[i], self.hasher.ngram) for i in np.unique(candidates[:, 0]).tolist()}
        scores = np.array([jaccard(own[i], self._shingles[j]) for i, j in candidates.tolist()])
        keep = scores >= self.threshold
        return candidates[keep], scores[keep]

    def _candidates(self, keys: np.ndarray) -> np.ndarray:
        """Unique (form, reference) pairs sharing a key in at least one band, sorted."""
        m = len(self.references)
        found = []
        for band in range(keys.shape[1]):
            column = self._sorted_keys[:, band]
            low = np.searchsorted(column, keys[:, band], side="left")
            counts = np.searchsorted(column, keys[:, band], side="right") - low
            if not counts.any():
                continue
            forms = np.repeat(np.arange(len(keys)), counts)
            offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
            found.append(forms * m + self._order[np.repeat(low, counts) + offsets, band])
        if not found:
            return np.empty((0, 2), dtype=np.int64)
        codes = np.unique(np.concatenate(found))
        return np.stack([codes // m, codes % m], axis=1).astype(np.int64)


@dataclass(frozen=True)
class TextClusters:
    """Rows grouped by text identity: exact duplicates share a form, near duplicates link forms.

    Attributes
    ----------
    forms : list of str
        The distinct non-empty normalised forms, in order of first appearance.
    row_form : np.ndarray
        Index into `forms` of each row; -1 for a row whose text normalises to ``""``.
    pairs, similarity : np.ndarray
        Near-duplicate form pairs and their Jaccard (`near_duplicate_pairs`).
    component : np.ndarray
        Connected-component id of each form over `pairs` (transitive closure of "near duplicate").
    """

    forms: list[str]
    row_form: np.ndarray
    pairs: np.ndarray
    similarity: np.ndarray
    component: np.ndarray

    def row_groups(self) -> np.ndarray:
        """One group id per row, numbered 0.. in order of first appearance; each empty text is its own group.

        Returns
        -------
        np.ndarray
            ``int64`` group id per row: rows whose forms are in one component share an id.
        """
        n_components = int(self.component.max()) + 1 if len(self.component) else 0
        raw = np.where(
            self.row_form >= 0,
            self.component[np.maximum(self.row_form, 0)] if len(self.component) else 0,
            n_components + np.arange(len(self.row_form)),
        )
        _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        return rank[inverse]

    def lowest_similarity(self) -> np.ndarray:
        """Per component, the lowest Jaccard of a near-duplicate link inside it (1.0 when none).

        Returns
        -------
        np.ndarray
            One float per component id (``component.max() + 1`` entries).
        """
        lowest = np.ones(int(self.component.max()) + 1 if len(self.component) else 0)
        if len(self.pairs):
            np.minimum.at(lowest, self.component[self.pairs[:, 0]], self.similarity)
        return lowest


def cluster_texts(
    texts: Sequence[str | None], *, threshold: float | None = NEAR_DUPLICATE_THRESHOLD
) -> TextClusters:
    """Group texts into exact-duplicate forms and link near-duplicate forms (``threshold=None``: exact only).

    Parameters
    ----------
    texts : sequence of str
        Raw texts, one per row.
    threshold : float or None
        Near-duplicate Jaccard threshold; None links nothing beyond exact duplicates.

    Returns
    -------
    TextClusters
    """
    normalised = [normalize_text(t) for t in texts]
    index: dict[str, int] = {}
    row_form = np.array(
        [index.setdefault(form, len(index)) if form else -1 for form in normalised], dtype=np.int64
    )
    forms = list(index)
    if threshold is None:
        pairs, scores = np.empty((0, 2), dtype=np.int64), np.empty(0)
    else:
        pairs, scores = near_duplicate_pairs(forms, threshold=threshold)
    graph = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(forms),) * 2)
    _, component = connected_components(graph, directed=False) if forms else (0, np.empty(0, np.int64))
    return TextClusters(forms, row_form, pairs, scores, np.asarray(component, dtype=np.int64))


def text_column(dataset, column: str = "text") -> list[str]:
    """A dataset's text column as a Python list, read as one Arrow column (no per-row access).

    Goes through the Arrow format rather than ``dataset.data``, which ignores the indices mapping of a
    `select`-ed or shuffled dataset.

    Parameters
    ----------
    dataset : datasets.Dataset
        Any dataset.
    column : str, default "text"
        The column to read.

    Returns
    -------
    list of str
        One value per row, in row order (None for a null).

    Raises
    ------
    InputError
        If the dataset has no such column.
    """
    if column not in dataset.column_names:
        raise InputError(f"dataset has no {column!r} column (columns: {dataset.column_names})")
    return dataset.with_format("arrow")[column].to_pylist()


def duplicate_groups(
    dataset, *, threshold: float | None = NEAR_DUPLICATE_THRESHOLD, column: str = "text"
) -> np.ndarray:
    """One group id per row such that exact and near duplicates share a group: the splitter's `groups`.

    Groups are the connected components of "same normalised text or Jaccard >= `threshold`", so a
    splitter that keeps each group in one split never puts a text in training and its copy in
    validation or test.

    Parameters
    ----------
    dataset : datasets.Dataset
        Rows with a text column.
    threshold : float or None
        Near-duplicate threshold (default `NEAR_DUPLICATE_THRESHOLD`); None groups exact duplicates only.
    column : str
        The text column.

    Returns
    -------
    np.ndarray of shape (n_rows,), int64
        Group ids 0..G-1, numbered in order of first appearance (deterministic); a row without
        duplicates (or with an empty text) has a group of its own.
    """
    return cluster_texts(text_column(dataset, column), threshold=threshold).row_groups()


def _check_threshold(threshold: float) -> None:
    if not 0.0 < threshold <= 1.0:
        raise InputError(f"near-duplicate threshold must lie in (0, 1], got {threshold}")


def band_keys(forms: Sequence[str], hasher: MinHasher) -> np.ndarray:
    """LSH band keys of normalised texts, hashed `_CHUNK` texts at a time (the hash matrix of a chunk is
    bands*rows x its n-grams), so memory follows the chunk, not the number of texts.

    Parameters
    ----------
    forms : sequence of str
        Normalised texts (`normalize_text` output).
    hasher : MinHasher
        The LSH hasher.

    Returns
    -------
    np.ndarray of shape (len(forms), hasher.bands), uint64
        One key per text and band.
    """
    blocks = [hasher.band_keys(grams, counts) for grams, counts in _ngram_chunks(forms, hasher.ngram)]
    return np.concatenate(blocks) if blocks else np.empty((0, hasher.bands), dtype=np.uint64)


def _ngram_chunks(forms: Sequence[str], ngram: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`byte_ngrams` of `_CHUNK` forms at a time (what `MinHasher.band_keys` can hash in one matrix)."""
    for start in range(0, len(forms), _CHUNK):
        yield byte_ngrams(forms[start : start + _CHUNK], ngram)


def _keys_and_shingle_matrix(forms: list[str], hasher: MinHasher) -> tuple[np.ndarray, sp.csr_matrix]:
    """LSH band keys of every form and a binary form x shingle matrix for exact Jaccard, from one pass of
    `byte_ngrams` over the forms."""
    chunks = list(_ngram_chunks(forms, hasher.ngram))
    keys = np.concatenate([hasher.band_keys(grams, counts) for grams, counts in chunks])
    grams = np.concatenate([grams for grams, _ in chunks])
    counts = np.concatenate([counts for _, counts in chunks])
    _, columns = np.unique(grams, return_inverse=True)
    rows = np.repeat(np.arange(len(forms)), counts)
    matrix = sp.csr_matrix((np.ones(len(grams), dtype=np.int32), (rows, columns.ravel())))
    matrix.sum_duplicates()
    matrix.data[:] = 1
    return keys, matrix


def _shared_band_pairs(keys: np.ndarray) -> np.ndarray:
    """Unique pairs (i < j) of rows sharing a key in at least one band, from one sort per band."""
    n = keys.shape[0]
    found = []
    for band in keys.T:
        order = np.argsort(band, kind="stable")
        ordered = band[order]
        same_as_next = ordered[1:] == ordered[:-1]
        if not same_as_next.any():
            continue
        run = np.concatenate(([0], np.cumsum(~same_as_next)))
        members = np.flatnonzero(np.bincount(run)[run] > 1)
        member_run, member_row = run[members], order[members]
        for offset in range(1, len(members)):
            same = member_run[offset:] == member_run[:-offset]
            if not same.any():
                break
            first, second = member_row[:-offset][same], member_row[offset:][same]
            found.append(np.minimum(first, second) * n + np.maximum(first, second))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(found))
    return np.stack([codes // n, codes % n], axis=1).astype(np.int64)


def _pair_jaccard(matrix: sp.csr_matrix, pairs: np.ndarray) -> np.ndarray:
    """Exact Jaccard of the shingle sets of each pair, by row-wise sparse products in chunks."""
    sizes = np.diff(matrix.indptr)
    scores = []
    for start in range(0, len(pairs), _PAIR_CHUNK):
        first, second = pairs[start : start + _PAIR_CHUNK, 0], pairs[start : start + _PAIR_CHUNK, 1]
        common = np.asarray(matrix[first].multiply(matrix[second]).sum(axis=1)).ravel()
        scores.append(common / (sizes[first] + sizes[second] - common))
    return np.concatenate(scores)


__all__ = [
    "NEAR_DUPLICATE_THRESHOLD",
    "NGRAM",
    "MinHasher",
    "ReferenceForms",
    "TextClusters",
    "band_keys",
    "byte_ngrams",
    "cluster_texts",
    "duplicate_groups",
    "jaccard",
    "near_duplicate_pairs",
    "normalize_text",
    "shingles",
    "similarity",
    "text_column",
]
