"""Iterative stratification: properties (hypothesis), quality against iterstrat, Dataset helpers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from goemobalance.balance import (
    IterativeStratifier,
    MultilabelStratifiedKFold,
    MultilabelStratifiedShuffleSplit,
    example_distribution,
    fold_sizes_for,
    folds_missing_labels,
    label_distribution,
    label_pair_distribution,
    sparse_label_matrix,
    split_quality,
    stratified_subsample,
    train_val_test_split,
)
from goemobalance.balance.split import _apportion
from goemobalance.schema import validate

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def label_matrices(draw, min_rows: int = 2, max_rows: int = 80, max_labels: int = 6):
    n_rows = draw(st.integers(min_rows, max_rows))
    n_labels = draw(st.integers(1, max_labels))
    density = draw(st.floats(0.0, 0.7))
    seed = draw(st.integers(0, 2**32 - 1))
    return (np.random.default_rng(seed).random((n_rows, n_labels)) < density).astype(np.int8)


@st.composite
def proportions(draw, max_folds: int = 5):
    k = draw(st.integers(2, max_folds))
    return tuple(draw(st.lists(st.floats(0.05, 1.0), min_size=k, max_size=k)))


# ---------------------------------------------------------------------------------- properties


@PROPERTY_SETTINGS
@given(y=label_matrices(), props=proportions(), order=st.sampled_from([1, 2]), seed=st.integers(0, 1000))
def test_every_row_in_exactly_one_fold_and_fold_sizes_are_exact(y, props, order, seed):
    """Fold sizes are exactly the largest-remainder rounding of the proportions (`fold_sizes_for`)."""
    fold = IterativeStratifier(props, order=order, random_state=seed).assign(y)
    assert fold.shape == (len(y),)
    assert fold.min() >= 0 and fold.max() < len(props)
    assert np.bincount(fold, minlength=len(props)).tolist() == fold_sizes_for(len(y), props).tolist()


@PROPERTY_SETTINGS
@given(y=label_matrices(), k=st.integers(2, 5), order=st.sampled_from([1, 2]), seed=st.integers(0, 1000))
def test_kfold_test_sets_partition_the_rows(y, k, order, seed):
    if len(y) < k:
        return
    splits = list(
        MultilabelStratifiedKFold(k, order=order, random_state=seed).split(np.zeros((len(y), 1)), y)
    )
    tests = np.concatenate([test for _, test in splits])
    assert sorted(tests.tolist()) == list(range(len(y)))
    for train, test in splits:
        assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(y)


@PROPERTY_SETTINGS
@given(y=label_matrices(), props=proportions(), order=st.sampled_from([1, 2]), seed=st.integers(0, 1000))
def test_same_seed_same_split(y, props, order, seed):
    first = IterativeStratifier(props, order=order, random_state=seed).assign(y)
    second = IterativeStratifier(props, order=order, random_state=seed).assign(y)
    assert np.array_equal(first, second)


@PROPERTY_SETTINGS
@given(y=label_matrices(), props=proportions(), seed=st.integers(0, 1000), n_groups=st.integers(1, 30))
def test_groups_are_never_split(y, props, seed, n_groups):
    groups = np.random.default_rng(seed).integers(0, n_groups, size=len(y))
    fold = IterativeStratifier(props, random_state=seed).assign(y, groups=groups)
    for group in np.unique(groups):
        assert len(np.unique(fold[groups == group])) == 1


@st.composite
def matrices_with_single_label_rows(draw):
    """A random multi-label part plus, per label, some rows carrying that label alone."""
    k = draw(st.integers(2, 5))
    n_labels = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mixed = (rng.random((draw(st.integers(0, 40)), n_labels)) < draw(st.floats(0.0, 0.6))).astype(np.int8)
    singles = np.repeat(np.eye(n_labels, dtype=np.int8), rng.integers(0, 2 * k + 1, size=n_labels), axis=0)
    padding = np.zeros((k * (n_labels + 1), n_labels), dtype=np.int8)
    y = np.vstack([mixed, singles, padding])
    return y[rng.permutation(len(y))], k, singles.sum(axis=0)


@PROPERTY_SETTINGS
@given(case=matrices_with_single_label_rows(), order=st.sampled_from([1, 2]), seed=st.integers(0, 1000))
def test_label_with_k_examples_is_in_every_one_of_k_folds(case, order, seed):
    y, k, singles = case
    fold = IterativeStratifier([1.0] * k, order=order, random_state=seed).assign(y)
    per_fold = np.stack([y[fold == j].sum(axis=0) for j in range(k)])
    for label in np.flatnonzero(singles >= k):
        assert np.all(per_fold[:, label] > 0), (label, per_fold)


@pytest.mark.slow
def test_label_coverage_on_random_data_with_room():
    """Best effort in general: on random matrices with folds larger than twice the label count, every
    label with at least k examples lands in every fold (1000 cases)."""
    failures = 0
    for trial in range(1000):
        rng = np.random.default_rng(trial)
        n_labels, k = int(rng.integers(1, 7)), int(rng.integers(2, 6))
        n_rows = int(rng.integers(2 * k * (n_labels + 1), 120)) if 2 * k * (n_labels + 1) < 120 else 120
        y = (rng.random((n_rows, n_labels)) < rng.uniform(0.02, 0.6)).astype(np.int8)
        fold = IterativeStratifier([1.0] * k, random_state=trial).assign(y)
        per_fold = np.stack([y[fold == j].sum(axis=0) for j in range(k)])
        failures += bool(np.any((per_fold == 0) & (y.sum(axis=0) >= k)))
    assert failures <= 2


def _fold_holes(y: np.ndarray, fold: np.ndarray, k: int) -> int:
    """(fold, label) pairs without a carrier, over the labels with at least k rows."""
    needed = y.sum(axis=0) >= k
    return int(sum(((y[fold == j].sum(axis=0) == 0) & needed).sum() for j in range(k)))


def _fewest_holes(y: np.ndarray, sizes: np.ndarray, assignments: dict) -> int:
    """The achievable minimum of `_fold_holes` over every assignment with these exact fold sizes."""
    n, k = len(y), len(sizes)
    key = (n, tuple(sizes.tolist()))
    if key not in assignments:
        grid = np.array(list(itertools.product(range(k), repeat=n)), dtype=np.int8)
        assignments[key] = grid[
            (np.stack([(grid == j).sum(axis=1) for j in range(k)], axis=1) == sizes).all(axis=1)
        ]
    grid = assignments[key]
    needed = y.sum(axis=0) >= k
    return int(sum((((grid == j).astype(np.int64) @ y == 0) & needed).sum(axis=1) for j in range(k)).min())


def test_coverage_reaches_the_achievable_minimum_on_tight_matrices():
    """Tiny random matrices (2 folds of up to 7 rows, 3 of up to 3-4) where the greedy often leaves a
    fold without some label: every split has exactly as few holes as the best split of those sizes,
    found by enumeration. (On 3,000 such cases one stays one hole above: it needs three swaps. Without
    the coverage repair 36 of 1,000 cases keep a hole, 32 above the minimum.)"""
    assignments: dict = {}
    above_minimum, with_holes = [], 0
    for trial in range(400):
        rng = np.random.default_rng(trial)
        k = int(rng.integers(2, 4))
        n_rows = int(rng.integers(2 * k, 15 if k == 2 else 11))
        y = (rng.random((n_rows, int(rng.integers(2, 6)))) < rng.uniform(0.1, 0.5)).astype(np.int64)
        fold = IterativeStratifier([1.0] * k, random_state=trial).assign(y)
        holes = _fold_holes(y, fold, k)
        with_holes += holes > 0
        if holes > _fewest_holes(y, fold_sizes_for(n_rows, [1.0] * k), assignments):
            above_minimum.append(trial)
    assert above_minimum == [] and with_holes > 0


def _rare_label_matrix(seed: int) -> np.ndarray:
    """Nine common labels (30% of rows each) and a rare label on 40 rows, each in its own labelset."""
    rng = np.random.default_rng(seed)
    y = (rng.random((2000, 10)) < 0.3).astype(np.int8)
    y[:, 0] = 0
    y[rng.choice(2000, 40, replace=False), 0] = 1
    return y


@pytest.mark.parametrize("proportions", [(1, 1, 1, 1, 1), (0.8, 0.1, 0.1)])
def test_the_rarest_label_gets_its_exact_share_of_every_fold(proportions):
    """The greedy serves the rarest label first, so its 40 rows are dealt by desire (8 per fold of five,
    32/4/4 for 80/10/10). Served after the common labels, they fall wherever their labelsets go: up to
    7 rows off."""
    for seed in range(6):
        y = _rare_label_matrix(seed)
        fold = IterativeStratifier(proportions, random_state=seed).assign(y)
        share = 40 * np.asarray(proportions) / sum(proportions)
        per_fold = np.bincount(fold[y[:, 0] == 1], minlength=len(proportions))
        assert np.abs(per_fold - share).max() < 1.0, (seed, per_fold)
        groups = np.arange(len(y)) // 2
        fold = IterativeStratifier(proportions, random_state=seed).assign(y, groups=groups)
        share = 40 * np.bincount(fold, minlength=len(proportions)) / len(y)
        per_fold = np.bincount(fold[y[:, 0] == 1], minlength=len(proportions))
        assert np.abs(per_fold - share).max() <= 2.0, (seed, per_fold)


@PROPERTY_SETTINGS
@given(
    amounts=st.lists(st.integers(0, 60), min_size=1, max_size=40),
    shares=st.lists(st.integers(0, 20), min_size=2, max_size=5),
    seed=st.integers(0, 1000),
)
@example(
    amounts=[18, 3, 3], shares=[2, 3, 3, 14], seed=0
)  # a cell 2 units off with 4 folds (found by hypothesis)
@example(
    amounts=[0, 4, 4, 6, 2, 1, 4, 6, 1, 0, 5, 1, 5, 1, 3, 7, 0, 1, 6, 5, 3, 6, 3],
    shares=[2, 1, 19, 4, 1],
    seed=0,
)
def test_apportion_keeps_both_totals_and_splits_each_labelset_in_proportion(amounts, shares, seed):
    amounts = np.asarray(amounts, dtype=np.int64)
    total = int(amounts.sum())
    if not sum(shares):
        shares = [1] + shares[1:]
    fold_counts = np.asarray(fold_sizes_for(total, shares), dtype=np.int64)
    visit = np.random.default_rng(seed).permutation(len(amounts))
    split = _apportion(amounts, fold_counts, visit)
    assert split.min() >= 0
    assert np.array_equal(split.sum(axis=1), amounts)
    assert np.array_equal(split.sum(axis=0), fold_counts)
    if total:
        ideal = np.outer(amounts, fold_counts) / total
        k = len(fold_counts)
        prefix_error = np.cumsum(split[visit], axis=0) - np.cumsum(ideal[visit], axis=0)
        assert np.abs(prefix_error).max() <= (k - 1) / 2 + 1e-9, "a prefix of rows strays from its share"
        assert np.abs(split - ideal).max() <= k - 1 + 1e-9


def test_rows_of_one_labelset_are_dealt_at_random_unless_shuffle_is_off():
    y = np.ones((200, 1), dtype=np.int8)
    tests = {
        seed: frozenset(np.flatnonzero(IterativeStratifier((0.8, 0.2), random_state=seed).assign(y) == 1))
        for seed in range(3)
    }
    assert len(set(tests.values())) == 3 and all(len(t) == 40 for t in tests.values())
    in_order = IterativeStratifier((0.8, 0.2), shuffle=False, random_state=0).assign(y)
    assert np.array_equal(np.flatnonzero(in_order == 1), np.arange(160, 200))


# ---------------------------------------------------------------------------------- API behaviour


def test_dense_and_sparse_inputs_give_the_same_split():
    y = (np.random.default_rng(1).random((500, 8)) < 0.2).astype(np.int8)
    dense = IterativeStratifier((0.6, 0.2, 0.2), random_state=3).assign(y)
    sparse = IterativeStratifier((0.6, 0.2, 0.2), random_state=3).assign(sp.csr_matrix(y))
    boolean = IterativeStratifier((0.6, 0.2, 0.2), random_state=3).assign(y.astype(bool))
    assert np.array_equal(dense, sparse) and np.array_equal(dense, boolean)


def test_different_seeds_give_different_splits():
    y = (np.random.default_rng(1).random((500, 8)) < 0.2).astype(np.int8)
    assert not np.array_equal(
        IterativeStratifier(random_state=0).assign(y), IterativeStratifier(random_state=1).assign(y)
    )


def test_shuffle_split_honours_train_size_and_test_size():
    y = (np.random.default_rng(2).random((1000, 6)) < 0.15).astype(np.int8)
    splitter = MultilabelStratifiedShuffleSplit(n_splits=3, train_size=0.5, test_size=0.2, random_state=0)
    splits = list(splitter.split(np.zeros((1000, 1)), y))
    assert splitter.get_n_splits() == 3 and len(splits) == 3
    for train, test in splits:
        assert len(train) == 500 and len(test) == 200 and len(np.intersect1d(train, test)) == 0
    assert not np.array_equal(splits[0][1], splits[1][1])


def test_kfold_plugs_into_scikit_learn_cross_validation():
    from sklearn.dummy import DummyClassifier
    from sklearn.model_selection import cross_validate

    rng = np.random.default_rng(4)
    y = (rng.random((300, 5)) < 0.3).astype(int)
    scores = cross_validate(
        DummyClassifier(strategy="prior"),
        rng.random((300, 3)),
        y,
        cv=MultilabelStratifiedKFold(4, random_state=0),
    )
    assert len(scores["test_score"]) == 4


def test_splitters_follow_the_scikit_learn_template():
    """Only the template's hooks are implemented: ``split`` is scikit-learn's own, and parameters are
    stored untouched and checked when splitting."""
    from sklearn.model_selection import BaseCrossValidator, BaseShuffleSplit, ShuffleSplit

    assert MultilabelStratifiedKFold.split is BaseCrossValidator.split
    assert MultilabelStratifiedShuffleSplit.split is BaseShuffleSplit.split
    splitter = MultilabelStratifiedKFold(n_splits=1)
    assert splitter.n_splits == 1
    y = (np.random.default_rng(0).random((40, 3)) < 0.3).astype(np.int8)
    with pytest.raises(ValueError, match="n_splits must be at least 2"):
        next(splitter.split(np.zeros((40, 1)), y))
    for test_size, train_size in [(0.15, None), (7, 20), (None, 0.55)]:
        ours = MultilabelStratifiedShuffleSplit(test_size=test_size, train_size=train_size, random_state=0)
        theirs = ShuffleSplit(n_splits=1, test_size=test_size, train_size=train_size, random_state=0)
        (train, test), (their_train, their_test) = next(ours.split(y, y)), next(theirs.split(y))
        assert (len(train), len(test)) == (len(their_train), len(their_test))


def test_order_two_balances_label_pairs_better_than_order_one():
    rng = np.random.default_rng(5)
    base = (rng.random((3000, 10)) < 0.08).astype(np.int8)
    pair_rows = rng.choice(3000, 150, replace=False)
    base[pair_rows, 0] = base[pair_rows, 1] = 1
    first = [
        label_pair_distribution(base, IterativeStratifier((0.6, 0.2, 0.2), 1, random_state=s).assign(base))
        for s in range(5)
    ]
    second = [
        label_pair_distribution(base, IterativeStratifier((0.6, 0.2, 0.2), 2, random_state=s).assign(base))
        for s in range(5)
    ]
    assert np.mean(second) < np.mean(first)


def test_bad_inputs_raise_clear_errors():
    y = np.array([[1, 0], [0, 1], [1, 1]])
    with pytest.raises(ValueError, match="only 0 and 1"):
        IterativeStratifier().assign(np.array([[2, 0], [0, 1]]))
    with pytest.raises(ValueError, match="2-D"):
        IterativeStratifier().assign(np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="groups must have one entry per row"):
        IterativeStratifier().assign(y, groups=[1, 2])
    with pytest.raises(ValueError, match="proportions"):
        IterativeStratifier((1.0,)).assign(y)
    with pytest.raises(ValueError, match="order"):
        IterativeStratifier(order=3).assign(y)
    with pytest.raises(ValueError, match="The sum of test_size and train_size"):
        next(MultilabelStratifiedShuffleSplit(train_size=0.8, test_size=0.5).split(np.zeros((3, 1)), y))
    with pytest.raises(ValueError, match="needs y"):
        next(MultilabelStratifiedKFold(2).split(np.zeros((3, 1))))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        next(MultilabelStratifiedKFold(2).split(np.zeros((2, 1)), y))


def test_fold_sizes_for_uses_largest_remainder():
    assert fold_sizes_for(10, (0.8, 0.1, 0.1)).tolist() == [8, 1, 1]
    assert fold_sizes_for(7, (1, 1, 1)).tolist() == [3, 2, 2]
    assert fold_sizes_for(5, (8, 1, 1)).sum() == 5


# ---------------------------------------------------------------------------------- measures


def test_measures_match_hand_computed_values():
    y = np.array([[1, 0], [1, 0], [0, 1], [1, 1]])
    folds = [np.array([0, 2]), np.array([1, 3])]
    # label 0: whole 3/1; fold A 1/1, fold B 2/0 (denominator clipped to 1) -> |1-3| and |2-3|
    # label 1: whole 2/2 = 1; fold A 1/1, fold B 1/1 -> 0
    assert label_distribution(y, folds) == pytest.approx((2 + 1 + 0 + 0) / 4)
    assert example_distribution(folds, (0.75, 0.25), n_rows=4) == pytest.approx(1.0)
    assert folds_missing_labels(y, folds) == (0, 0)
    assert folds_missing_labels(np.array([[1, 0], [0, 1]]), [np.array([0]), np.array([1])]) == (2, 2)
    quality = split_quality(y, np.array([0, 1, 0, 1]))
    assert quality.example_distribution == 0.0 and quality.label_distribution == pytest.approx(0.75)


# ---------------------------------------------------------------------------------- real data


def _ids(dataset) -> list[str]:
    """The id column, read once from Arrow."""
    return dataset.select_columns(["id"]).with_format("arrow")[:]["id"].to_pylist()


# LD on GoEmotions train, measured (iterstrat 0.1.9): 2-way 90/10, seeds 0 and 1: ours 2.89e-5, iterstrat
# 2.81e-4 (9.7x); 3-way 80/10/10, seed 0: ours 3.87e-5, iterstrat 2.55e-4 (6.6x). Both sides are
# deterministic for a seed. The bounds fail an LD 30% worse than today's on either task (without the
# swap refinement the 3-way LD is 7.3e-5).
LD_TWO_WAY, LD_THREE_WAY = 2.89e-5, 3.87e-5


@pytest.mark.slow
def test_label_distribution_on_goemotions_well_below_iterstrat(goemotions_train):
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit as IterstratSplit

    y = sparse_label_matrix(goemotions_train).toarray()
    X = np.zeros((len(y), 1))
    ours = np.mean(
        [
            label_distribution(
                y, next(MultilabelStratifiedShuffleSplit(test_size=0.1, random_state=s).split(X, y))
            )
            for s in (0, 1)
        ]
    )
    theirs = np.mean(
        [
            label_distribution(y, next(IterstratSplit(n_splits=1, test_size=0.1, random_state=s).split(X, y)))
            for s in (0, 1)
        ]
    )
    assert ours <= 1.15 * LD_TWO_WAY and theirs / ours >= 8.0
    ours_3 = label_distribution(y, IterativeStratifier((0.8, 0.1, 0.1), random_state=0).assign(y))
    rest, test = next(IterstratSplit(n_splits=1, test_size=0.1, random_state=0).split(X, y))
    train, validation = next(
        IterstratSplit(n_splits=1, test_size=0.1 / 0.9, random_state=0).split(X[rest], y[rest])
    )
    theirs_3 = label_distribution(y, [rest[train], rest[validation], test])
    assert ours_3 <= 1.15 * LD_THREE_WAY and theirs_3 / ours_3 >= 5.5


def test_train_val_test_split_of_goemotions(goemotions_train):
    parts = train_val_test_split(goemotions_train, sizes=(0.8, 0.1, 0.1), seed=0)
    assert list(parts) == ["train", "validation", "test"]
    sizes = [len(parts[name]) for name in parts]
    assert sum(sizes) == len(goemotions_train)
    assert np.all(np.abs(np.array(sizes) - len(goemotions_train) * np.array([0.8, 0.1, 0.1])) < 1)
    ids = [set(_ids(parts[name])) for name in parts]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    for name in parts:
        assert parts[name].features == goemotions_train.features
    validate(parts["test"])
    whole = sparse_label_matrix(goemotions_train).toarray().mean(axis=0)
    for name in parts:
        share = sparse_label_matrix(parts[name]).toarray().mean(axis=0)
        assert np.all(np.abs(share - whole) < 0.01)


def test_train_val_test_split_names_each_part_by_its_size(goemotions_train):
    """Unequal validation and test shares, so swapped parts cannot pass."""
    small = goemotions_train.select(range(2000))
    parts = train_val_test_split(small, sizes=(0.7, 0.2, 0.1), seed=0)
    assert [len(parts[name]) for name in ("train", "validation", "test")] == [1400, 400, 200]
    parts = train_val_test_split(small, sizes=(0.6, 0.1, 0.3), seed=0)
    assert [len(parts[name]) for name in ("train", "validation", "test")] == [1200, 200, 600]


def test_train_val_test_split_keeps_groups_together(goemotions_train):
    small = goemotions_train.select(range(3000))
    texts = small.select_columns(["text"]).with_format("arrow")[:]["text"].to_pylist()
    groups = [text.lower()[:3] for text in texts]
    small = small.add_column("group", groups)
    parts = train_val_test_split(small, order=2, seed=1, groups="group")
    seen = {}
    for name in parts:
        for group in parts[name].select_columns(["group"]).with_format("arrow")[:]["group"].to_pylist():
            assert seen.setdefault(group, name) == name
    assert sum(len(parts[name]) for name in parts) == 3000


def test_stratified_subsample_exact_size(goemotions_train):
    sample = stratified_subsample(goemotions_train, 1000, seed=0)
    assert len(sample) == 1000 and len(set(_ids(sample))) == 1000
    y = sparse_label_matrix(goemotions_train)
    indices = stratified_subsample(y, 1000, seed=0)
    assert indices.tolist() == sorted(indices.tolist()) and len(indices) == 1000
    assert _ids(sample) == _ids(goemotions_train.select(indices))
    whole = y.toarray().mean(axis=0)
    assert np.abs(y[indices].toarray().mean(axis=0) - whole).max() < 0.005
