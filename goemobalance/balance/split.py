"""Fast iterative stratification of multi-label data (Sechidis et al. 2011; Szymanski & Kajdanowicz 2017).

The algorithm is the one iterstrat implements (labels rarest first; each example of the label goes to
the fold that most desires that label, ties by the fold's total desire, then at random), computed in
bulk: for one label, the sequence of greedy choices only depends on the folds' desires for that label
and their total desires, so the number of examples each fold receives is a water-filling allocation
that numpy computes in O(k) instead of one Python step per example.

Without groups the search runs on a (labelset x fold) count table, because rows with the same
labelset are interchangeable for every label count: each labelset carrying the current label is split
over the folds in the water-filled proportions (`_apportion`), and rows are placed once at the end, in
random order within their labelset. With groups, groups are units weighing their number of rows and
are dealt in random order (`_assign_units`).

On top of the original algorithm: exact fold sizes (within one row of the requested proportions, by a
repair that moves rows of the labelsets the receiving fold still desires, then swaps of rows between
folds that bring every fold's label counts closer to its share), a best-effort guarantee that every
label with at least ``k`` examples appears in every fold, second order stratification (label pairs),
groups kept whole, and dense or scipy.sparse label matrices.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import BaseCrossValidator, BaseShuffleSplit
from sklearn.model_selection._split import _validate_shuffle_split
from sklearn.utils import check_random_state

from goemobalance.balance.matrix import column_counts, labelset_codes, sparse_label_matrix

__all__ = [
    "IterativeStratifier",
    "MultilabelStratifiedKFold",
    "MultilabelStratifiedShuffleSplit",
    "SplitQuality",
    "check_split_sizes",
    "example_distribution",
    "fold_sizes_for",
    "folds_missing_labels",
    "label_distribution",
    "label_pair_distribution",
    "split_quality",
    "stratified_subsample",
    "train_val_test_split",
]


# --------------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------------


def fold_sizes_for(n: int, proportions: Sequence[float]) -> np.ndarray:
    """Integer fold sizes summing to ``n``, each within one row of ``n * proportion`` (largest remainder).

    Parameters
    ----------
    n : int
        Rows to share out.
    proportions : sequence of float
        Relative fold sizes (two or more, non-negative, not all zero).

    Returns
    -------
    np.ndarray
        ``int64`` size per fold; ties in the remainders go to the earlier fold.

    Raises
    ------
    ValueError
        If fewer than two proportions are given, or they are negative or all zero.
    """
    weights = np.asarray(proportions, dtype=float)
    if weights.ndim != 1 or len(weights) < 2:
        raise ValueError(f"need at least two fold proportions, got {proportions!r}")
    if np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError(f"fold proportions must be non-negative and not all zero, got {proportions!r}")
    exact = n * weights / weights.sum()
    sizes = np.floor(exact).astype(np.int64)
    short = n - int(sizes.sum())
    if short:
        order = np.argsort(-(exact - sizes), kind="stable")
        sizes[order[:short]] += 1
    return sizes


def _second_order(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Columns for every single label and every label pair present (combinations with replacement)."""
    n_rows, n_labels = matrix.shape
    rows = np.repeat(np.arange(n_rows), np.diff(matrix.indptr))
    cols = matrix.indices
    pair_rows, pair_keys = [], []
    max_per_row = int(np.diff(matrix.indptr).max()) if n_rows else 0
    for offset in range(1, max_per_row):
        same_row = rows[offset:] == rows[:-offset]
        pair_rows.append(rows[:-offset][same_row])
        pair_keys.append(cols[:-offset][same_row] * n_labels + cols[offset:][same_row])
    if not pair_rows:
        return matrix
    pair_rows_all = np.concatenate(pair_rows)
    keys, pair_cols = np.unique(np.concatenate(pair_keys), return_inverse=True)
    pairs = sp.csr_matrix(
        (np.ones(len(pair_rows_all), dtype=np.int32), (pair_rows_all, pair_cols.ravel())),
        shape=(n_rows, len(keys)),
    )
    return sp.hstack([matrix, pairs], format="csr", dtype=np.int32)


def _group_codes(groups: Any, n_rows: int) -> np.ndarray:
    """Integer codes 0..n_groups-1 for any array of hashable group keys."""
    keys = np.asarray(groups)
    if keys.shape != (n_rows,):
        raise ValueError(f"groups must have one entry per row ({n_rows}), got shape {keys.shape}")
    _, codes = np.unique(keys.astype(str) if keys.dtype == object else keys, return_inverse=True)
    return codes.ravel().astype(np.int64)


# --------------------------------------------------------------------------------------------------
# The bulk greedy (shared), and its row-by-row form for groups
# --------------------------------------------------------------------------------------------------


def _waterfill(desire: np.ndarray, capacity: np.ndarray, amount: int, rng: np.random.Generator) -> np.ndarray:
    """How many of ``amount`` unit picks each fold gets when every pick takes the fold with the largest
    desire (ties: largest capacity, then random) and lowers that fold's desire and capacity by one."""
    k = len(desire)
    counts = np.zeros(k, dtype=np.int64)
    if amount <= 0:
        return counts
    ordered = np.sort(desire)[::-1]
    cumulative = np.cumsum(ordered)
    for active in range(1, k + 1):
        level = (cumulative[active - 1] - amount) / active
        if active == k or level >= ordered[active]:
            break
    counts = np.floor(np.maximum(desire - level - 1e-9, 0.0)).astype(np.int64)
    while counts.sum() > amount:
        last = np.flatnonzero(counts > 0)
        counts[last[np.argmin(desire[last] - counts[last])]] -= 1
    for _ in range(amount - int(counts.sum())):
        counts[_greedy_pick(desire - counts, capacity - counts, rng)] += 1
    return counts


def _greedy_pick(desire: np.ndarray, capacity: np.ndarray, rng: np.random.Generator) -> int:
    """The fold with the largest desire, then largest capacity, then a random one."""
    best = np.flatnonzero(desire == desire.max())
    if len(best) > 1:
        best = best[capacity[best] == capacity[best].max()]
    return int(best[rng.integers(len(best))]) if len(best) > 1 else int(best[0])


def _cut(masses: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Fold of each unit when units (in order) fill the folds' quotas of mass one after the other."""
    if np.all(masses == 1):
        return np.repeat(np.arange(len(counts)), counts)
    midpoints = np.cumsum(masses) - masses / 2.0
    return np.minimum(np.searchsorted(np.cumsum(counts), midpoints, side="right"), len(counts) - 1)


def _assign_units(
    units: sp.csr_matrix,
    masses: np.ndarray,
    sizes: np.ndarray,
    rng: np.random.Generator,
    shuffle: bool,
) -> np.ndarray:
    """Iterative stratification of units (rows, or groups of rows weighing ``masses`` rows) into folds
    of ``sizes`` rows: the bulk form of Sechidis et al.'s greedy. With ``shuffle`` the units are put
    in random order first (as iterstrat does), so each label's examples are dealt in random order."""
    n_units, n_cols = units.shape
    if shuffle:
        order = rng.permutation(n_units)
        in_order = _assign_units(units[order], masses[order], sizes, rng, False)
        fold = np.empty_like(in_order)
        fold[order] = in_order
        return fold
    k = len(sizes)
    ratios = sizes / max(int(sizes.sum()), 1)
    by_column = units.tocsc()
    by_column.sort_indices()
    totals = column_counts(units).astype(np.float64)
    desired = np.outer(ratios, totals)
    remaining = totals.copy()
    tie_break = rng.random(n_cols)
    fold = np.full(n_units, -1, dtype=np.int64)
    capacity = sizes.astype(np.float64)
    unit_rows = bool(np.all(masses == 1)) and bool(np.all(units.data == 1))
    for _ in range(n_cols):
        open_cols = np.flatnonzero(remaining > 0)
        if not len(open_cols):
            break
        col = int(open_cols[np.lexsort((tie_break[open_cols], remaining[open_cols]))[0]])
        start, end = by_column.indptr[col], by_column.indptr[col + 1]
        members, weights = by_column.indices[start:end], by_column.data[start:end]
        done = fold[members] >= 0
        desire = desired[:, col] - np.bincount(fold[members[done]], weights=weights[done], minlength=k)
        todo, todo_weights = members[~done], weights[~done]
        counts = _waterfill(desire, capacity, int(todo_weights.sum()), rng)
        if unit_rows:
            fold[todo] = np.repeat(np.arange(k), counts)
            capacity -= counts
        else:
            fold[todo] = _cut(todo_weights, counts)
            capacity -= np.bincount(fold[todo], weights=masses[todo], minlength=k)
        remaining -= _rows_column_sums(units, todo)
        remaining[col] = 0
    leftover = np.flatnonzero(fold < 0)
    if len(leftover):
        counts = _waterfill(capacity, capacity, int(masses[leftover].sum()), rng)
        fold[leftover] = _cut(masses[leftover], counts)
    return fold


def _rows_column_sums(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Column sums over some rows of a CSR matrix, straight from its arrays."""
    starts = matrix.indptr[rows]
    lengths = matrix.indptr[rows + 1] - starts
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
    return np.bincount(matrix.indices[offsets], weights=matrix.data[offsets], minlength=matrix.shape[1])


def _binary(matrix: sp.csr_matrix) -> bool:
    """Whether every stored value is 1 (then counts need no weights)."""
    return not matrix.nnz or (
        matrix.data.dtype.kind in "iu" and int(matrix.data.max()) == 1 and int(matrix.data.min()) == 1
    )


def _fold_counts(matrix: sp.csr_matrix, fold: np.ndarray, k: int) -> np.ndarray:
    """(k, n_cols) number of rows of each fold carrying each column."""
    n_cols = matrix.shape[1]
    row_fold = np.repeat(fold, np.diff(matrix.indptr))
    weights = None if _binary(matrix) else matrix.data
    counts = np.bincount(row_fold * n_cols + matrix.indices, weights=weights, minlength=k * n_cols)
    return counts.reshape(k, n_cols)


# --------------------------------------------------------------------------------------------------
# The greedy on labelsets (no groups): counts per (labelset, fold), rows placed at the end
# --------------------------------------------------------------------------------------------------


@dataclass
class _Labelsets:
    """Rows grouped by labelset: rows sorted by labelset code (random order within a code when
    shuffled), block bounds, and one representative row per code."""

    order: np.ndarray
    bounds: np.ndarray
    representatives: np.ndarray

    @property
    def rows(self) -> np.ndarray:
        """Number of rows of every labelset."""
        return np.diff(self.bounds)

    def place(self, counts: np.ndarray) -> np.ndarray:
        """Fold of every row, given how many rows of each labelset go to each fold (n_codes, k)."""
        n_codes, k = counts.shape
        fold = np.empty(len(self.order), dtype=np.int64)
        fold[self.order] = np.repeat(np.tile(np.arange(k), n_codes), counts.ravel())
        return fold


def _labelsets_of(labels: sp.csr_matrix, rng: np.random.Generator, shuffle: bool = True) -> _Labelsets:
    """Group rows by labelset (`labelset_codes`), then order them by code with a radix sort (linear), in
    random order within a code when shuffled."""
    codes, representatives = labelset_codes(labels)
    n_codes = len(representatives)
    small = np.int16 if n_codes < np.iinfo(np.int16).max else np.int64
    visit = rng.permutation(len(codes)) if shuffle else np.arange(len(codes))
    order = visit[np.argsort(codes[visit].astype(small), kind="stable")]
    bounds = np.searchsorted(codes[order], np.arange(n_codes + 1))
    return _Labelsets(order, bounds, representatives)


def _stratify_labelsets(
    labels: sp.csr_matrix, order: int, sizes: np.ndarray, rng: np.random.Generator, shuffle: bool
) -> np.ndarray:
    """Fold of every row: Sechidis's greedy, size repair and swaps on (labelset x fold) counts.

    Rows with the same labelset are interchangeable for every label count, so the whole search runs on
    a few thousand labelsets instead of every row; rows are placed in one pass at the end (in random
    order within a labelset when shuffled, as iterstrat deals examples in random order)."""
    sets = _labelsets_of(labels, rng, shuffle)
    code_labels = labels[sets.representatives]
    code_strata = code_labels if order == 1 else _second_order(code_labels)
    counts = _greedy_counts(code_strata, sets.rows, sizes, rng, shuffle)
    _repair_sizes(code_strata, code_labels, counts, sizes, rng)
    _refine_by_swaps(code_strata, counts, sizes)
    fold = sets.place(counts)
    _repair_coverage(labels, fold, np.asarray((code_labels.T @ counts).T))
    return fold


def _greedy_counts(
    code_strata: sp.csr_matrix, rows: np.ndarray, sizes: np.ndarray, rng: np.random.Generator, shuffle: bool
) -> np.ndarray:
    """(n_codes, k) rows of each labelset per fold after the bulk greedy: labels rarest first; the
    label's unassigned rows are water-filled over the folds by desire, and every labelset carrying it
    is split over the folds in those proportions (`_apportion`), which keeps its other labels in
    proportion too."""
    n_codes, n_cols = code_strata.shape
    k = len(sizes)
    dense = code_strata.toarray().astype(np.int64)
    totals = rows @ dense
    desired = np.outer(sizes / max(int(sizes.sum()), 1), totals)
    assigned = np.zeros((k, n_cols), dtype=np.int64)
    remaining = totals.copy()
    unassigned = rows.copy()
    capacity = sizes.astype(np.int64)
    counts = np.zeros((n_codes, k), dtype=np.int64)
    tie_break = rng.random(n_cols)
    for _ in range(n_cols):
        open_cols = np.flatnonzero(remaining > 0)
        if not len(open_cols):
            break
        col = int(open_cols[np.lexsort((tie_break[open_cols], remaining[open_cols]))[0]])
        todo = np.flatnonzero(dense[:, col] & (unassigned > 0))
        amounts = unassigned[todo]
        fold_counts = _waterfill(desired[:, col] - assigned[:, col], capacity, int(amounts.sum()), rng)
        split = _apportion(amounts, fold_counts, rng.permutation(len(todo)) if shuffle else None)
        counts[todo] = split
        unassigned[todo] = 0
        capacity -= fold_counts
        block = dense[todo]
        assigned += split.T @ block
        remaining -= amounts @ block
    leftover = np.flatnonzero(unassigned > 0)
    if len(leftover):
        amounts = unassigned[leftover]
        fold_counts = _waterfill(capacity, capacity, int(amounts.sum()), rng)
        visit = rng.permutation(len(leftover)) if shuffle else None
        counts[leftover] = _apportion(amounts, fold_counts, visit)
    return counts


def _apportion(amounts: np.ndarray, fold_counts: np.ndarray, visit: np.ndarray | None) -> np.ndarray:
    """(len(amounts), k) integers with row sums ``amounts`` and column sums ``fold_counts``, every
    row split over the folds as closely as possible in the proportions of ``fold_counts``.

    The units of all rows are laid end to end (in ``visit`` order) and dealt to the folds by one
    Sainte-Lague sequence (fold f's j-th unit sits at (j + 1/2) / fold_counts[f], ties to the lower
    fold): it is house-monotone, so cumulative counts at the row boundaries never decrease. After any
    prefix of rows each fold's count is within (k - 1) / 2 units of its proportional share (each fold's
    own count is within 1/2 of its share of the sequence so far), so every cell is within k - 1 units of
    its share: 1 for two folds (tests/test_split.py checks both bounds). The position of every unit in the
    merged sequence is computed in closed form, so this is O(total x k) numpy work with no sort."""
    k = len(fold_counts)
    ordered = amounts if visit is None else amounts[visit]
    boundaries = np.concatenate([[0], np.cumsum(ordered)])
    cumulative = np.zeros((len(boundaries), k), dtype=np.int64)
    for f in range(k):
        own = int(fold_counts[f])
        if own == 0:
            continue
        odd = 2 * np.arange(own, dtype=np.int64) + 1
        position = np.arange(own, dtype=np.int64)
        for g in range(k):
            other = int(fold_counts[g])
            if g == f or other == 0:
                continue
            scaled = odd * other
            before = (scaled // own + 1) // 2 if g < f else (-(-scaled // own)) // 2
            position += np.minimum(before, other)
        cumulative[:, f] = np.searchsorted(position, boundaries)
    split = np.diff(cumulative, axis=0)
    if visit is None:
        return split
    result = np.empty_like(split)
    result[visit] = split
    return result


def _repair_sizes(
    code_strata: sp.csr_matrix,
    code_labels: sp.csr_matrix,
    counts: np.ndarray,
    sizes: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Move rows one at a time from over-full to under-full folds, each time a row of the labelset
    whose move helps the label distribution most (or harms it least), never the last carrier of a
    label with at least ``k`` rows while another row can go. Works on ``counts`` in place."""
    k = len(sizes)
    excess = counts.sum(axis=0) - sizes
    if excess.max() <= 0:
        return
    rows = counts.sum(axis=1)
    desired = np.outer(sizes / sizes.sum(), code_strata.T @ rows)
    have = np.asarray((code_strata.T @ counts).T)
    present = np.asarray((code_labels.T @ counts).T)
    needed = code_labels.T @ rows >= k
    carries = code_labels.toarray().astype(bool)
    code_size = np.diff(code_strata.indptr)
    while excess.max() > 0:
        source, target = int(np.argmax(excess)), int(np.argmin(excess))
        delta = (desired[target] - have[target]) - (desired[source] - have[source])
        gain = code_strata @ delta - code_size + rng.random(len(code_size)) * 1e-6
        critical = needed & (present[source] == 1)
        if critical.any():
            gain[carries[:, critical].any(axis=1)] -= 1e9
        gain[counts[:, source] == 0] = -np.inf
        code = int(np.argmax(gain))
        counts[code, source] -= 1
        counts[code, target] += 1
        for matrix, tally in ((code_strata, have), (code_labels, present)):
            columns = matrix.indices[matrix.indptr[code] : matrix.indptr[code + 1]]
            tally[source, columns] -= 1
            tally[target, columns] += 1
        excess[source] -= 1
        excess[target] += 1


def _refine_by_swaps(
    code_strata: sp.csr_matrix,
    counts: np.ndarray,
    sizes: np.ndarray,
    max_swaps: int = 2000,
    top_codes: int = 128,
) -> None:
    """Swap rows between folds while a swap lowers the size-weighted squared gap between each fold's
    label counts and its share of the totals (sizes unchanged). The greedy leaves every label within
    a row of its share but folds can end with rows of too few or too many labels; moving rows to fix
    sizes then shifts all counts of a fold a little, which these swaps undo. Only labelsets with at
    least two rows in their fold are swapped, so no label loses its last carrier in a fold."""
    k = len(sizes)
    if k < 2 or counts.sum() < 4:
        return
    weight = 1.0 / np.maximum(sizes, 1)
    rows = counts.sum(axis=1)
    gap = np.asarray((code_strata.T @ counts).T) - np.outer(sizes / sizes.sum(), code_strata.T @ rows)
    common = np.argsort(-rows, kind="stable")[:top_codes]
    code_matrix = code_strata[common].toarray().astype(np.int64)
    code_sizes = code_matrix.sum(axis=1)
    # integer product on purpose: a float one goes through multi-threaded BLAS, slow on a busy machine
    swap_cost = (code_sizes[:, None] + code_sizes[None, :] - 2 * (code_matrix @ code_matrix.T)).astype(
        np.float64
    )
    local = counts[common]
    for _ in range(max_swaps):
        best = (-1e-9, -1, -1, -1, -1)
        for a in range(k):
            for b in range(a + 1, k):
                direction = code_matrix @ (weight[b] * gap[b] - weight[a] * gap[a])
                change = np.subtract.outer(2 * direction, 2 * direction)
                change += (weight[a] + weight[b]) * swap_cost
                change[local[:, a] < 2, :] = np.inf
                change[:, local[:, b] < 2] = np.inf
                i, j = np.unravel_index(int(np.argmin(change)), change.shape)
                if change[i, j] < best[0]:
                    best = (float(change[i, j]), a, b, int(i), int(j))
        if best[1] < 0:
            break
        _, a, b, i, j = best
        local[i, a] -= 1
        local[i, b] += 1
        local[j, b] -= 1
        local[j, a] += 1
        moved = code_matrix[i] - code_matrix[j]
        gap[a] -= moved
        gap[b] += moved
    counts[common] = local


def _repair_coverage(labels: sp.csr_matrix, fold: np.ndarray, present: np.ndarray) -> None:
    """Swap rows so that every label with at least ``k`` rows has a carrier in every fold, as long as
    some swap, or a sideways swap followed by another, lowers the number of (fold, label) holes (best
    effort: some label structures admit no hole-free split at all, e.g. three rows {A,B}, {B,C}, {A,C}
    in two folds). ``present`` holds the (k, n_labels) label counts per fold and is kept up to date."""
    k = present.shape[0]
    needed = present.sum(axis=0) >= k
    nonempty = np.bincount(fold, minlength=k) > 0
    if not ((present == 0) & needed[None, :] & nonempty[:, None]).any():
        return
    by_column = labels.tocsc()
    for _ in range(int(needed.sum()) * k):
        holes = np.argwhere((present == 0) & needed[None, :] & nonempty[:, None])
        if not len(holes):
            return
        if not _swap_into_any(labels, by_column, fold, present, needed, holes) and not _two_swaps(
            labels, by_column, fold, present, needed, holes
        ):
            return


def _swap_into_any(
    labels: sp.csr_matrix,
    by_column: sp.csc_matrix,
    fold: np.ndarray,
    present: np.ndarray,
    needed: np.ndarray,
    holes: np.ndarray,
    max_candidates: int = 256,
) -> bool:
    """One swap that removes at least one of the ``holes`` (fold, label), if there is one."""
    return any(
        _swap_in(labels, by_column, fold, present, needed, int(target), int(label), max_candidates)
        for target, label in holes
    )


def _two_swaps(
    labels: sp.csr_matrix,
    by_column: sp.csc_matrix,
    fold: np.ndarray,
    present: np.ndarray,
    needed: np.ndarray,
    holes: np.ndarray,
    max_donors: int = 8,
    max_residents: int = 32,
) -> bool:
    """When no single swap removes a hole: a swap that brings a missing label into its fold without
    adding a hole, kept only if a second swap then removes one (a few candidates per hole, so this stays
    cheap on large inputs, where holes are rare anyway)."""
    before = len(holes)
    nonempty = np.bincount(fold, minlength=present.shape[0]) > 0
    for target, label in holes:
        carriers = by_column.indices[by_column.indptr[label] : by_column.indptr[label + 1]]
        for donor in carriers[fold[carriers] != target][:max_donors]:
            for resident in np.flatnonzero(fold == target)[:max_residents]:
                _swap(labels, fold, present, int(donor), int(resident))
                after = np.argwhere((present == 0) & needed[None, :] & nonempty[:, None])
                if len(after) <= before and _swap_into_any(
                    labels, by_column, fold, present, needed, after, max_residents
                ):
                    return True
                _swap(labels, fold, present, int(donor), int(resident))
    return False


def _swap_in(
    labels: sp.csr_matrix,
    by_column: sp.csc_matrix,
    fold: np.ndarray,
    present: np.ndarray,
    needed: np.ndarray,
    target: int,
    label: int,
    max_candidates: int = 256,
) -> bool:
    """Swap one carrier of ``label`` into fold ``target`` against one of its rows, choosing the swap
    that removes the most holes; False when no swap removes any."""
    carriers = by_column.indices[by_column.indptr[label] : by_column.indptr[label + 1]]
    carriers = carriers[fold[carriers] != target]
    residents = np.flatnonzero(fold == target)
    if not len(carriers) or not len(residents):
        return False
    carriers = carriers[np.argsort(np.diff(labels.indptr)[carriers], kind="stable")][:max_candidates]
    resident_matrix = labels[residents[: 4 * max_candidates]].toarray()
    resident_rows = residents[: 4 * max_candidates]
    best = (0, -1, -1)
    for donor in carriers:
        source = int(fold[donor])
        donor_vector = labels[donor].toarray().ravel()
        before = int(np.sum(needed & (present[target] == 0)) + np.sum(needed & (present[source] == 0)))
        target_after = present[target] + donor_vector - resident_matrix
        source_after = present[source] - donor_vector + resident_matrix
        after = ((target_after == 0) & needed).sum(axis=1) + ((source_after == 0) & needed).sum(axis=1)
        choice = int(np.argmin(after))
        if after[choice] - before < best[0]:
            best = (int(after[choice] - before), int(donor), int(resident_rows[choice]))
    if best[0] >= 0:
        return False
    _swap(labels, fold, present, best[1], best[2])
    return True


def _swap(labels: sp.csr_matrix, fold: np.ndarray, present: np.ndarray, donor: int, resident: int) -> None:
    """Exchange the folds of two rows, updating the per-fold label counts (the same call undoes it)."""
    source, target = int(fold[donor]), int(fold[resident])
    donor_labels, resident_labels = labels[donor].indices, labels[resident].indices
    fold[donor], fold[resident] = target, source
    present[source, donor_labels] -= 1
    present[target, donor_labels] += 1
    present[target, resident_labels] -= 1
    present[source, resident_labels] += 1


# --------------------------------------------------------------------------------------------------
# Public splitters
# --------------------------------------------------------------------------------------------------


class IterativeStratifier:
    """Assign every row to one of several folds with given proportions, stratified on labels.

    ``order=1`` balances every label (Sechidis et al. 2011), ``order=2`` every label and label pair
    (Szymanski & Kajdanowicz 2017). With ``groups``, rows sharing a group go to the same fold: groups
    are stratified as units weighing their number of rows (fold sizes then follow the proportions
    only as closely as the group sizes allow).

    Parameters
    ----------
    proportions : sequence of float, default=(0.8, 0.1, 0.1)
        Relative fold sizes (two or more, non-negative, not all zero).
    order : {1, 2}, default=1
        Stratify on labels (1) or on labels and label pairs (2).
    shuffle : bool, default=True
        Deal each labelset's rows in random order (as iterstrat does); ``False`` keeps row order.
    random_state : int, numpy Generator or RandomState, or None, default=0
        Seed of every random choice.

    Parameters are stored as given and checked when `assign` or `assign_sizes` runs.
    """

    def __init__(
        self,
        proportions: Sequence[float] = (0.8, 0.1, 0.1),
        order: int = 1,
        shuffle: bool = True,
        random_state: int | np.random.Generator | None = 0,
    ) -> None:
        self.proportions = proportions
        self.order = order
        self.shuffle = shuffle
        self.random_state = random_state

    def assign(self, y: Any, groups: Any = None) -> np.ndarray:
        """The fold of every row, with fold sizes from ``proportions``.

        Parameters
        ----------
        y : datasets.Dataset, array-like or scipy.sparse matrix
            The (n_rows, n_labels) 0/1 label matrix, or a schema Dataset.
        groups : array-like of shape (n_rows,), optional
            Group key of every row; rows sharing a key go to the same fold.

        Returns
        -------
        numpy.ndarray
            Fold index (0..k-1) of every row; without groups fold ``j`` holds exactly
            ``fold_sizes_for(n_rows, proportions)[j]`` rows.
        """
        labels = sparse_label_matrix(y)
        return self._assign(labels, fold_sizes_for(labels.shape[0], self.proportions), groups)

    def assign_sizes(self, y: Any, sizes: Sequence[int], groups: Any = None) -> np.ndarray:
        """Like `assign`, with exact fold sizes in rows instead of proportions.

        Parameters
        ----------
        y : datasets.Dataset, array-like or scipy.sparse matrix
            The label matrix.
        sizes : sequence of int
            Rows per fold, summing to the number of rows.
        groups : array-like of shape (n_rows,), optional
            Group key of every row.

        Returns
        -------
        numpy.ndarray
            Fold index of every row.
        """
        labels = sparse_label_matrix(y)
        sizes = np.asarray(sizes, dtype=np.int64)
        if sizes.sum() != labels.shape[0] or np.any(sizes < 0):
            raise ValueError(f"fold sizes {sizes.tolist()} must be >= 0 and sum to {labels.shape[0]} rows")
        return self._assign(labels, sizes, groups)

    def _assign(self, labels: sp.csr_matrix, sizes: np.ndarray, groups: Any) -> np.ndarray:
        if self.order not in (1, 2):
            raise ValueError(f"order must be 1 (labels) or 2 (labels and label pairs), got {self.order!r}")
        rng = _generator(self.random_state)
        if groups is None:
            return _stratify_labelsets(labels, self.order, sizes, rng, self.shuffle)
        n_rows = labels.shape[0]
        strata = labels if self.order == 1 else _second_order(labels)
        codes = _group_codes(groups, n_rows)
        members = sp.csr_matrix(
            (np.ones(n_rows), (codes, np.arange(n_rows))), shape=(codes.max() + 1, n_rows)
        )
        grouped = sp.csr_matrix(members @ strata)
        masses = np.bincount(codes).astype(np.float64)
        return _assign_units(grouped, masses, sizes, rng, self.shuffle)[codes]


def _generator(random_state: Any) -> np.random.Generator:
    """A numpy Generator from an int, a Generator, a RandomState or None."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31 - 1))
    return np.random.default_rng(random_state)


def _checked_labels(y: Any) -> sp.csr_matrix:
    """The label matrix of ``y``, which a multi-label splitter cannot do without (scikit-learn's
    ``split`` has already checked that X and y have the same number of rows)."""
    if y is None:
        raise ValueError("a multi-label splitter needs y, the (n_samples, n_labels) label matrix")
    return sparse_label_matrix(y)


class MultilabelStratifiedKFold(BaseCrossValidator):
    """K-fold cross-validation with iteratively stratified folds (a scikit-learn splitter).

    Implements scikit-learn's template: `_iter_test_masks` builds all folds at once with
    `IterativeStratifier` and the inherited ``split(X, y, groups)`` turns each mask into
    ``(train, test)`` indices. As with ``StratifiedKFold``, ``X`` only gives the number of rows
    (``np.zeros((n_samples, 1))`` will do) and ``y`` is required.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds, at least 2 (checked when splitting).
    order : {1, 2}, default=1
        Stratify on labels (1) or on labels and label pairs (2).
    shuffle : bool, default=True
        Deal each labelset's rows in random order.
    random_state : int or None, default=None
        Seed; the same seed gives the same folds.
    """

    def __init__(
        self, n_splits: int = 5, *, order: int = 1, shuffle: bool = True, random_state: int | None = None
    ) -> None:
        self.n_splits = n_splits
        self.order = order
        self.shuffle = shuffle
        self.random_state = random_state

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """The number of folds, ``n_splits``.

        Parameters
        ----------
        X, y, groups : object, optional
            Ignored; present for scikit-learn's splitter API.

        Returns
        -------
        int
            ``n_splits``.
        """
        return self.n_splits

    def _iter_test_masks(self, X: Any = None, y: Any = None, groups: Any = None) -> Iterator[np.ndarray]:
        labels = _checked_labels(y)
        if int(self.n_splits) < 2:
            raise ValueError(f"n_splits must be at least 2, got {self.n_splits}")
        if self.n_splits > labels.shape[0]:
            raise ValueError(f"cannot make {self.n_splits} folds from {labels.shape[0]} rows")
        stratifier = IterativeStratifier([1.0] * self.n_splits, self.order, self.shuffle, self.random_state)
        fold = stratifier.assign(labels, groups)
        for k in range(self.n_splits):
            yield fold == k


class MultilabelStratifiedShuffleSplit(BaseShuffleSplit):
    """Random stratified train/test splits (a scikit-learn splitter).

    Implements scikit-learn's shuffle-split template (`_iter_indices`; sizes read as ``ShuffleSplit``
    reads them, default test share 0.1). ``train_size`` is honoured too: rows in neither set are left
    out, stratified like the others. ``X`` only gives the number of rows; ``y`` is required.

    Parameters
    ----------
    n_splits : int, default=1
        Number of independent splits.
    test_size, train_size : float, int or None, default=None
        Share (float in (0, 1)) or number of rows (int) of each set, as in ``ShuffleSplit``.
    order : {1, 2}, default=1
        Stratify on labels (1) or on labels and label pairs (2).
    random_state : int or None, default=None
        Seed of the per-split seeds.
    """

    def __init__(
        self,
        n_splits: int = 1,
        *,
        test_size: float | None = None,
        train_size: float | None = None,
        order: int = 1,
        random_state: int | None = None,
    ) -> None:
        super().__init__(
            n_splits=n_splits, test_size=test_size, train_size=train_size, random_state=random_state
        )
        self.order = order

    def _iter_indices(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        labels = _checked_labels(y)
        n_rows = labels.shape[0]
        n_train, n_test = _validate_shuffle_split(
            n_rows, self.test_size, self.train_size, default_test_size=self._default_test_size
        )
        sizes = np.array([n_train, n_test, n_rows - n_train - n_test])
        sizes = sizes[sizes > 0]
        seeds = check_random_state(self.random_state).randint(np.iinfo(np.int32).max, size=self.n_splits)
        for seed in seeds:
            stratifier = IterativeStratifier((1.0, 1.0, 1.0), self.order, True, int(seed))
            fold = stratifier.assign_sizes(labels, sizes, groups)
            yield np.flatnonzero(fold == 0), np.flatnonzero(fold == 1)


# --------------------------------------------------------------------------------------------------
# Dataset helpers
# --------------------------------------------------------------------------------------------------


def check_split_sizes(sizes: Sequence[float]) -> tuple[float, float, float]:
    """The one rule for train/validation/test fractions, used by recipes (``split.sizes``) and ``publish
    --sizes``: three numbers, train above 0, validation and test at least 0, summing to 1 (a validation or
    test fraction of 0 publishes that split empty).

    Parameters
    ----------
    sizes : sequence of three float
        Train, validation and test fractions.

    Returns
    -------
    tuple of three float
        The fractions, as floats.

    Raises
    ------
    ValueError
        Naming the rule and the values given.
    """
    values = tuple(float(size) for size in sizes)
    if len(values) != 3 or values[0] <= 0 or min(values) < 0 or abs(sum(values) - 1.0) > 1e-6:
        given = " ".join(f"{size:g}" for size in values)
        raise ValueError(f"three fractions (train > 0, validation >= 0, test >= 0) summing to 1, got {given}")
    return values


def train_val_test_split(
    dataset: datasets.Dataset,
    sizes: Sequence[float] = (0.8, 0.1, 0.1),
    order: int = 1,
    seed: int = 0,
    groups: str | Sequence[Any] | None = None,
) -> datasets.DatasetDict:
    """Stratified train/validation/test split of a schema Dataset in one call.

    ``groups`` is a column name or one key per row; rows sharing a key stay in the same split.

    Parameters
    ----------
    dataset : datasets.Dataset
        Rows in the record schema.
    sizes : sequence of three float, default (0.8, 0.1, 0.1)
        Relative sizes of train, validation and test.
    order : {1, 2}, default 1
        Stratify on labels (1) or on labels and label pairs (2).
    seed : int, default 0
        Seed of the stratifier.
    groups : str or sequence, optional
        A column of `dataset`, or one group key per row.

    Returns
    -------
    datasets.DatasetDict
        ``train``, ``validation`` and ``test`` selections of `dataset`, each in the dataset's row order.

    Raises
    ------
    ValueError
        If `sizes` does not have three entries or `groups` names a missing column.
    """
    if len(sizes) != 3:
        raise ValueError(f"sizes must give (train, validation, test) proportions, got {sizes!r}")
    if isinstance(groups, str):
        if groups not in dataset.column_names:
            raise ValueError(f"groups column {groups!r} not in dataset columns {dataset.column_names}")
        groups = dataset[groups]
    fold = IterativeStratifier(sizes, order=order, random_state=seed).assign(dataset, groups)
    return datasets.DatasetDict(
        {
            name: dataset.select(np.flatnonzero(fold == k))
            for k, name in enumerate(("train", "validation", "test"))
        }
    )


def stratified_subsample(
    dataset_or_y: datasets.Dataset | Any, n: int, seed: int = 0, order: int = 1
) -> datasets.Dataset | np.ndarray:
    """Exactly ``n`` rows whose label distribution follows the whole: a Dataset for a Dataset, else the
    sorted row indices into the label matrix.

    Parameters
    ----------
    dataset_or_y : datasets.Dataset, array-like or scipy.sparse matrix
        A schema Dataset, or the (n_rows, n_labels) 0/1 label matrix.
    n : int
        Rows to keep, ``0 <= n <= n_rows``.
    seed : int, default 0
        Seed of the stratifier.
    order : {1, 2}, default 1
        Stratify on labels (1) or on labels and label pairs (2).

    Returns
    -------
    datasets.Dataset or np.ndarray
        The selected rows (in dataset order) or their ascending indices.

    Raises
    ------
    ValueError
        If `n` is negative or larger than the number of rows.
    """
    labels = sparse_label_matrix(dataset_or_y)
    n_rows = labels.shape[0]
    if not 0 <= n <= n_rows:
        raise ValueError(f"cannot take {n} rows from {n_rows}")
    fold = IterativeStratifier((1, 1), order=order, random_state=seed).assign_sizes(labels, [n, n_rows - n])
    indices = np.flatnonzero(fold == 0)
    if isinstance(dataset_or_y, datasets.Dataset):
        return dataset_or_y.select(indices)
    return indices


# --------------------------------------------------------------------------------------------------
# Split quality (Sechidis et al. 2011)
# --------------------------------------------------------------------------------------------------


def _folds_of(fold_or_splits: Any, n_rows: int) -> tuple[np.ndarray, int]:
    """A fold vector from a fold vector or a list of index arrays (one per fold)."""
    if (
        isinstance(fold_or_splits, np.ndarray)
        and fold_or_splits.ndim == 1
        and len(fold_or_splits) == n_rows
        and np.issubdtype(fold_or_splits.dtype, np.integer)
    ):
        return fold_or_splits, int(fold_or_splits.max()) + 1
    fold = np.full(n_rows, -1, dtype=np.int64)
    for k, indices in enumerate(fold_or_splits):
        fold[np.asarray(indices, dtype=np.int64)] = k
    if np.any(fold < 0):
        raise ValueError(f"{int((fold < 0).sum())} rows are in no fold")
    return fold, len(fold_or_splits)


def _distribution(matrix: sp.csr_matrix, fold: np.ndarray, k: int) -> float:
    """Mean over columns and folds of |positive/negative ratio in fold - ratio in the whole|."""
    counts = _fold_counts(matrix, fold, k)
    sizes = np.bincount(fold, minlength=k)[:, None]
    totals = counts.sum(axis=0)
    whole = totals / np.maximum(len(fold) - totals, 1)
    per_fold = counts / np.maximum(sizes - counts, 1)
    return float(np.abs(per_fold - whole[None, :]).mean()) if counts.size else 0.0


def label_distribution(y: Any, folds: Any) -> float:
    """LD of Sechidis et al. 2011 (lower is better): how far each fold's label ratios are from the whole.

    Parameters
    ----------
    y : datasets.Dataset, array-like or scipy.sparse matrix
        The (n_rows, n_labels) 0/1 label matrix, or a schema Dataset.
    folds : array-like of int of shape (n_rows,), or sequence of index arrays
        The fold of every row, or one array of row indices per fold (every row in one fold).

    Returns
    -------
    float
        Mean over folds and present labels of the absolute difference between the fold's and the whole's
        positive/negative ratio.
    """
    labels = sparse_label_matrix(y)
    fold, k = _folds_of(folds, labels.shape[0])
    present = column_counts(labels) > 0
    return _distribution(labels[:, present], fold, k)


def label_pair_distribution(y: Any, folds: Any) -> float:
    """LD computed over the label pairs present in ``y`` (Szymanski & Kajdanowicz 2017).

    Parameters
    ----------
    y : datasets.Dataset, array-like or scipy.sparse matrix
        The (n_rows, n_labels) 0/1 label matrix, or a schema Dataset.
    folds : array-like of int of shape (n_rows,), or sequence of index arrays
        The fold of every row, or one array of row indices per fold (every row in one fold).

    Returns
    -------
    float
        `label_distribution` over the co-occurring label pairs; 0.0 when no row has two labels.
    """
    labels = sparse_label_matrix(y)
    fold, k = _folds_of(folds, labels.shape[0])
    pairs = _second_order(labels)[:, labels.shape[1] :]
    return _distribution(sp.csr_matrix(pairs), fold, k) if pairs.shape[1] else 0.0


def example_distribution(
    folds: Any, proportions: Sequence[float] | None = None, n_rows: int | None = None
) -> float:
    """ED of Sechidis et al. 2011: mean |fold size - desired fold size| in rows (equal folds by default).

    Parameters
    ----------
    folds : array-like of int of shape (n_rows,), or sequence of index arrays
        The fold of every row, or one array of row indices per fold.
    proportions : sequence of float, optional
        Desired relative fold sizes; equal when None.
    n_rows : int, optional
        Rows in total (default: the fold vector's length, or the sum of the index arrays' lengths).

    Returns
    -------
    float
        Mean absolute difference in rows.
    """
    if n_rows is None:
        n_rows = (
            len(folds) if isinstance(folds, np.ndarray) and folds.ndim == 1 else sum(len(f) for f in folds)
        )
    fold, k = _folds_of(folds, n_rows)
    weights = np.ones(k) if proportions is None else np.asarray(proportions, dtype=float)
    desired = n_rows * weights / weights.sum()
    return float(np.abs(np.bincount(fold, minlength=k) - desired).mean())


def folds_missing_labels(y: Any, folds: Any) -> tuple[int, int]:
    """(folds lacking at least one label present in ``y``, fold-label pairs with no positive example).

    Parameters
    ----------
    y : datasets.Dataset, array-like or scipy.sparse matrix
        The (n_rows, n_labels) 0/1 label matrix, or a schema Dataset.
    folds : array-like of int of shape (n_rows,), or sequence of index arrays
        The fold of every row, or one array of row indices per fold (every row in one fold).

    Returns
    -------
    folds_missing : int
        Folds with no positive example of at least one label present in `y`.
    pairs_missing : int
        (fold, present label) pairs with no positive example.
    """
    labels = sparse_label_matrix(y)
    fold, k = _folds_of(folds, labels.shape[0])
    present = column_counts(labels) > 0
    empty = _fold_counts(labels, fold, k)[:, present] == 0
    return int(empty.any(axis=1).sum()), int(empty.sum())


@dataclass(frozen=True)
class SplitQuality:
    """The split measures of Sechidis et al. 2011 plus the label-pair distribution.

    Made by `split_quality`.

    Attributes
    ----------
    label_distribution : float
        LD (`label_distribution`); lower is better.
    label_pair_distribution : float
        LD over label pairs (`label_pair_distribution`).
    example_distribution : float
        ED in rows (`example_distribution`).
    folds_missing_a_label : int
        Folds lacking at least one present label.
    fold_label_pairs_missing : int
        (fold, present label) pairs with no positive example.
    """

    label_distribution: float
    label_pair_distribution: float
    example_distribution: float
    folds_missing_a_label: int
    fold_label_pairs_missing: int

    def to_dict(self) -> dict[str, float]:
        """The five measures as a JSON-ready dict.

        Returns
        -------
        dict
            Field name -> value.
        """
        return dict(self.__dict__)


def split_quality(y: Any, folds: Any, proportions: Sequence[float] | None = None) -> SplitQuality:
    """All split measures at once for a fold vector or a list of index arrays.

    Parameters
    ----------
    y : datasets.Dataset, array-like or scipy.sparse matrix
        The (n_rows, n_labels) 0/1 label matrix, or a schema Dataset.
    folds : array-like of int of shape (n_rows,), or sequence of index arrays
        The fold of every row, or one array of row indices per fold (every row in one fold).
    proportions : sequence of float, optional
        Desired relative fold sizes for ED; equal when None.

    Returns
    -------
    SplitQuality
    """
    labels = sparse_label_matrix(y)
    fold, _ = _folds_of(folds, labels.shape[0])
    missing_folds, missing_pairs = folds_missing_labels(labels, fold)
    return SplitQuality(
        label_distribution=label_distribution(labels, fold),
        label_pair_distribution=label_pair_distribution(labels, fold),
        example_distribution=example_distribution(fold, proportions, labels.shape[0]),
        folds_missing_a_label=missing_folds,
        fold_label_pairs_missing=missing_pairs,
    )
