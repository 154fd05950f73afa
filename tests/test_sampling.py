"""Target-count balancer (select and add modes), Charte et al. resamplers, balancing by name on schema
Datasets, and the deficits contract, on real GoEmotions rows and on random pools."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goemobalance.balance import (
    DROP_REASONS,
    LPROS,
    LPRUS,
    METHODS,
    MLROS,
    MLRUS,
    PREFERENCES,
    BalanceResult,
    MultilabelBalancer,
    balance_dataset,
    check_balance_options,
    deficits,
    imbalance_ratios,
    resolve_targets,
    sampling,
    sparse_label_matrix,
)
from goemobalance.errors import InputError
from goemobalance.labels import GOEMOTIONS
from goemobalance.schema import from_records, make_record, validate

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _remarked(dataset: datasets.Dataset, origin: str, suffix: str) -> datasets.Dataset:
    """The same rows as another source: new ids and ``label_origin``."""
    ids = [f"{row_id}@{suffix}" for row_id in dataset.with_format("arrow")[:]["id"].to_pylist()]
    return (
        dataset.remove_columns(["id", "label_origin"])
        .add_column("id", ids)
        .add_column("label_origin", [origin] * len(dataset))
        .select_columns(list(dataset.column_names))
        .cast(dataset.features)
    )


@pytest.fixture(scope="module")
def mixed_pool(goemotions_train, goemotions_dev) -> datasets.Dataset:
    """GoEmotions train as human rows plus GoEmotions dev re-marked as a second (pseudo) source."""
    return datasets.concatenate_datasets([goemotions_train, _remarked(goemotions_dev, "pseudo", "pseudo")])


@pytest.fixture(scope="module")
def four_origin_pool(goemotions_train, goemotions_dev) -> datasets.Dataset:
    """Human (train), human-reviewed (dev rows 0-499), pseudo (dev) and llm (dev rows 500-2999) rows."""
    return datasets.concatenate_datasets(
        [
            goemotions_train,
            _remarked(goemotions_dev.select(range(500)), "human-reviewed", "reviewed"),
            _remarked(goemotions_dev, "pseudo", "pseudo"),
            _remarked(goemotions_dev.select(range(500, 3000)), "llm", "llm"),
        ]
    )


def _random_labels(n_rows: int, n_labels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rates = np.geomspace(0.4, 0.01, n_labels)
    return (rng.random((n_rows, n_labels)) < rates).astype(np.int8)


def _values(dataset: datasets.Dataset, name: str) -> np.ndarray:
    """A whole column as a numpy array (read once from Arrow, not row by row)."""
    return dataset.select_columns([name]).with_format("arrow")[:][name].to_numpy(zero_copy_only=False)


def _counts(y) -> np.ndarray:
    return sparse_label_matrix(y).toarray().sum(axis=0)


def _column(frame, name: str) -> np.ndarray:
    return frame[name].to_numpy(dtype=float, na_value=np.nan)


# ---------------------------------------------------------------------------------- targets


def test_resolve_targets_understands_every_strategy_form():
    counts = np.array([10, 40, 0, 100])
    assert resolve_targets(counts, "equal").tolist() == [10, 10, 10, 10]
    assert resolve_targets(counts, "median").tolist() == [40, 40, 40, 40]
    assert resolve_targets(counts, "max").tolist() == [100] * 4
    assert resolve_targets(counts, 25).tolist() == [25] * 4
    by_name = resolve_targets(counts, {"b": 5, 0: 7}, names=["a", "b", "c", "d"])
    assert by_name[0] == 7 and by_name[1] == 5 and np.isnan(by_name[2]) and np.isnan(by_name[3])
    assert resolve_targets(counts, lambda c: (c * 2).tolist()).tolist() == [20, 80, 0, 200]
    assert resolve_targets(counts, lambda c: int(c.max())).tolist() == [100] * 4
    with pytest.raises(InputError, match="unknown sampling_strategy"):
        resolve_targets(counts, "balanced")
    with pytest.raises(InputError, match="unknown label 'zzz'"):
        resolve_targets(counts, {"zzz": 3}, names=["a", "b", "c", "d"])
    with pytest.raises(InputError, match=r"sampling_strategy\['a'\]"):
        resolve_targets(counts, {"a": -3}, names=["a", "b", "c", "d"])


def test_imbalance_ratios_follow_charte():
    y = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 0], [1, 0, 0]])
    ratios, mean_ir = imbalance_ratios(y)
    assert ratios[0] == 1 and ratios[1] == 4 and np.isinf(ratios[2])
    assert mean_ir == pytest.approx(2.5)


# ---------------------------------------------------------------------------------- select mode


def test_equal_on_goemotions_hits_every_target_exactly(mixed_pool):
    """docs/balance.md: CV of achieved counts 0.0, every label at exactly the rarest label's count."""
    balancer = MultilabelBalancer("equal", label_names=GOEMOTIONS.names)
    balancer.fit(None, mixed_pool, sources=_values(mixed_pool, "label_origin"))
    report = balancer.report_
    frame = report.labels
    assert list(frame["label"]) == list(GOEMOTIONS.names)
    rarest = int(frame["available"].min())
    assert (frame["target"] == rarest).all()
    assert frame["achieved"].tolist() == [rarest] * len(GOEMOTIONS)
    assert report.cv == 0.0
    assert int(frame["over_by"].max()) == 0 and int(frame["short_by"].max()) == 0
    assert len(np.unique(balancer.sample_indices_)) == len(balancer.sample_indices_)
    assert _counts(mixed_pool.select(balancer.sample_indices_)).tolist() == frame["achieved"].tolist()
    assert "| grief |" in report.to_markdown()
    assert report.sources["human"] > report.sources["pseudo"]


def test_int_target_on_goemotions_is_exact_where_reachable(mixed_pool):
    """Labels with enough rows reach exactly the target (no row short, none over); rarer ones take all."""
    result = balance_dataset(mixed_pool, sampling_strategy=1000, seed=0)
    frame = result.report.labels
    available, achieved = frame["available"].to_numpy(), frame["achieved"].to_numpy()
    assert np.array_equal(achieved, np.minimum(available, 1000))
    assert (frame["available"] >= 1000).sum() == 18
    assert _counts(result.dataset).tolist() == achieved.tolist()


@PROPERTY_SETTINGS
@given(
    per_label=st.lists(st.integers(0, 40), min_size=1, max_size=6),
    target=st.integers(0, 45),
    mode=st.sampled_from(["select", "add"]),
    seed=st.integers(0, 1000),
)
def test_targets_are_exact_without_co_occurrence(per_label, target, mode, seed):
    """Single-label rows: every label ends at exactly min(target, rows there are), including a deficit of
    one row, in both modes (in add mode the first three rows of each label are human)."""
    y = np.repeat(np.eye(len(per_label), dtype=np.int8), per_label, axis=0)
    order = np.random.default_rng(seed).permutation(len(y))
    y = y[order]
    first = np.zeros(len(y), dtype=bool)
    for label, count in enumerate(per_label):
        first[np.flatnonzero(y[:, label])[: min(3, count)]] = True
    sources = np.where(first, "human", "pseudo")
    balancer = MultilabelBalancer(target, mode=mode, random_state=seed).fit(None, y, sources=sources)
    achieved = balancer.report_.labels["achieved"].to_numpy()
    kept = np.minimum(per_label, 3) if mode == "add" else 0
    assert np.array_equal(achieved, np.maximum(np.minimum(per_label, target), kept))


def test_a_deficit_of_one_row_is_filled():
    y = np.array([[1, 0]] * 9 + [[0, 1]] * 10 + [[1, 0]] * 5)
    sources = np.array(["human"] * 19 + ["pseudo"] * 5)
    added = MultilabelBalancer(10, mode="add").fit(None, y, sources=sources)
    assert added.report_.labels["achieved"].tolist() == [10, 10]
    assert added.report_.added == 1
    selected = MultilabelBalancer({0: 14}).fit(None, y)
    assert selected.report_.labels["achieved"].tolist()[0] == 14


def test_balancer_prefers_higher_priority_sources():
    y = np.vstack([_random_labels(2000, 6, 0), _random_labels(2000, 6, 0)])
    sources = np.array(["llm"] * 2000 + ["human"] * 2000)
    target = int(y[:2000].sum(axis=0).min()) // 2
    balancer = MultilabelBalancer(target, random_state=1).fit(None, y, sources=sources)
    assert "llm" not in balancer.report_.sources
    flipped = MultilabelBalancer(target, source_priority=("llm", "human"), random_state=1)
    assert "human" not in flipped.fit(None, y, sources=sources).report_.sources


def test_balancer_respects_source_caps():
    y = np.vstack([_random_labels(3000, 6, 2), _random_labels(3000, 6, 3)])
    sources = np.array(["human"] * 3000 + ["pseudo"] * 3000)
    balancer = MultilabelBalancer(200, source_caps={"human": 150}, random_state=0).fit(
        None, y, sources=sources
    )
    report = balancer.report_
    assert report.sources["human"] == 150 and report.dropped["source_cap"] > 0
    reachable = np.minimum(_column(report.labels, "target"), _column(report.labels, "available"))
    assert np.all(report.labels["achieved"].to_numpy() >= reachable - 0.1 * 200)
    with pytest.raises(InputError, match="absent from the pool"):
        MultilabelBalancer(10, source_caps={"llm": 3}).fit(None, y, sources=sources)


def test_balancer_accounts_for_co_occurrence():
    """Rows carrying a rare label also carry a common one; the common label must not overshoot."""
    rare_with_common = np.tile([1, 1, 0], (50, 1))
    common_alone = np.tile([1, 0, 0], (500, 1))
    other = np.tile([0, 0, 1], (500, 1))
    y = np.vstack([common_alone, rare_with_common, other])
    balancer = MultilabelBalancer(50, random_state=0).fit(None, y)
    assert balancer.report_.labels["achieved"].tolist() == [50, 50, 50]


def test_balancer_dict_targets_leave_other_labels_free():
    y = _random_labels(1000, 4, 4)
    balancer = MultilabelBalancer({0: 20, 3: 5}, random_state=0).fit(None, y)
    frame = balancer.report_.labels
    assert frame.loc[0, "achieved"] == 20 and frame.loc[3, "achieved"] == 5
    assert frame["target"].isna().tolist() == [False, True, True, False]
    assert balancer.report_.dropped["no_target"] > 0


def test_fit_resample_returns_aligned_rows_and_same_seed_same_rows():
    y = _random_labels(800, 5, 5)
    X = np.arange(800)[:, None] * 10
    X_res, y_res = MultilabelBalancer(40, random_state=3).fit_resample(X, y)
    balancer = MultilabelBalancer(40, random_state=3).fit(None, y)
    assert np.array_equal(X_res[:, 0] // 10, balancer.sample_indices_)
    assert np.array_equal(y_res, y[balancer.sample_indices_])


# ---------------------------------------------------------------------------------- add mode


def test_add_mode_keeps_every_human_row_and_adds_towards_targets(four_origin_pool):
    pool = four_origin_pool
    origins = _values(pool, "label_origin")
    ids = _values(pool, "id")
    result = balance_dataset(pool, method="add", sampling_strategy="median", seed=0)
    report = result.report
    out_ids = set(_values(result.dataset, "id"))
    human = np.isin(origins, ["human", "human-reviewed"])
    assert set(ids[human]) <= out_ids
    assert report.kept == int(human.sum()) and report.added == len(result.dataset) - report.kept
    assert report.rows_in == report.kept + report.added + sum(report.dropped.values())
    frame = report.labels
    human_counts = _counts(pool.select(np.flatnonzero(human)))
    assert frame["kept"].tolist() == human_counts.tolist()
    assert (frame["target"] == int(np.median(human_counts[human_counts > 0]))).all()
    assert report.added > 0
    ceiling = np.maximum(_column(frame, "target"), human_counts) + np.floor(0.05 * _column(frame, "target"))
    assert np.all(frame["achieved"].to_numpy() <= ceiling)
    gained = frame["achieved"].to_numpy() - human_counts
    full_from_the_start = human_counts >= _column(frame, "target")
    assert gained[~full_from_the_start].sum() > gained[full_from_the_start].sum()
    added_origins = set(_values(result.dataset, "label_origin")) - {"human", "human-reviewed"}
    assert added_origins <= {"pseudo", "llm"}
    assert report.sources.get("pseudo", 0) >= report.sources.get("llm", 0)


@PROPERTY_SETTINGS
@given(
    n_rows=st.integers(1, 300),
    n_labels=st.integers(1, 6),
    human_share=st.floats(0.0, 1.0),
    strategy=st.one_of(st.sampled_from(["median", "mean", "max"]), st.integers(0, 60)),
    max_overshoot=st.sampled_from([None, 0.0, 0.05, 0.5]),
    prefer=st.sampled_from(PREFERENCES),
    seed=st.integers(0, 1000),
)
def test_add_mode_never_drops_a_human_row_and_respects_the_ceiling(
    n_rows, n_labels, human_share, strategy, max_overshoot, prefer, seed
):
    rng = np.random.default_rng(seed)
    y = (rng.random((n_rows, n_labels)) < rng.uniform(0.05, 0.6)).astype(np.int8)
    sources = rng.choice(
        ["human", "human-reviewed", "pseudo", "llm"], size=n_rows, p=[human_share, 0, 1 - human_share, 0]
    )
    sources[rng.random(n_rows) < 0.1] = "human-reviewed"
    sources[rng.random(n_rows) < 0.1] = "llm"
    human = np.flatnonzero(np.isin(sources, ["human", "human-reviewed"]))
    scores = rng.random((n_rows, n_labels)) if prefer == "confidence" else None
    if scores is not None:
        scores[human] = np.nan
    balancer = MultilabelBalancer(
        strategy, mode="add", max_overshoot=max_overshoot, prefer=prefer, random_state=seed
    )
    balancer.fit(None, y, sources=sources, scores=scores)
    assert np.isin(human, balancer.sample_indices_).all()
    report = balancer.report_
    assert report.kept == len(human)
    assert report.rows_in == report.kept + report.added + sum(report.dropped.values())
    if max_overshoot is not None:
        frame = report.labels
        target = _column(frame, "target")
        ceiling = np.maximum(target, frame["kept"].to_numpy()) + np.floor(max_overshoot * target)
        assert np.all(frame["achieved"].to_numpy() <= ceiling)


def test_overshoot_ceiling_holds_within_one_batch():
    """Label a is full from the kept rows; every pool row for b also carries a. Ceiling for a:
    max(20, 20) + floor(0.25 x 20) = 25, so only five of the nine rows of b's first batch may go in."""
    y = np.array([[1, 0]] * 20 + [[0, 1]] * 2 + [[1, 1]] * 30)
    sources = np.array(["human"] * 22 + ["pseudo"] * 30)
    balancer = MultilabelBalancer(20, mode="add", max_overshoot=0.25).fit(None, y, sources=sources)
    frame = balancer.report_.labels
    assert frame["achieved"].tolist() == [25, 7]
    assert frame["over_by"].tolist() == [5, 0] and frame["short_by"].tolist() == [0, 13]
    assert balancer.report_.dropped == {"over_ceiling": 25}


def test_add_mode_refuses_equal_and_caps_on_kept_rows():
    y = _random_labels(50, 3, 0)
    sources = np.array(["human"] * 25 + ["pseudo"] * 25)
    with pytest.raises(InputError, match="sampling_strategy 'equal' with mode 'add'"):
        MultilabelBalancer("equal", mode="add").fit(None, y, sources=sources)
    with pytest.raises(InputError, match=r"source_caps\['human'\]"):
        MultilabelBalancer("max", mode="add", source_caps={"human": 3}).fit(None, y, sources=sources)
    with pytest.raises(InputError, match="needs the source of every row"):
        MultilabelBalancer("max", mode="add").fit(None, y)


# ---------------------------------------------------------------------------------- confidence ranking


def _one_short_label(n_pool: int = 30):
    """20 human rows of label 0, 10 of label 1; ``n_pool`` pseudo rows of label 1 with distinct scores
    in random order: ``max`` (20) needs 10 of them."""
    y = np.array([[1, 0]] * 20 + [[0, 1]] * 10 + [[0, 1]] * n_pool, dtype=np.int8)
    sources = np.array(["human"] * 30 + ["pseudo"] * n_pool)
    scores = np.full((len(y), 2), np.nan)
    scores[30:, 1] = np.random.default_rng(7).permutation(np.linspace(0.3, 0.99, n_pool))
    scores[30:, 0] = 0.01
    return y, sources, scores


def test_prefer_confidence_adds_the_most_confident_rows_first():
    y, sources, scores = _one_short_label()
    ranked = MultilabelBalancer("max", mode="add", prefer="confidence", random_state=0)
    ranked.fit(None, y, sources=sources, scores=scores)
    added = np.setdiff1d(ranked.sample_indices_, np.arange(30))
    assert len(added) == 10
    assert set(added) == set(30 + np.argsort(-scores[30:, 1])[:10])
    assert scores[added, 1].min() > np.sort(scores[30:, 1])[::-1][10]
    at_random = MultilabelBalancer("max", mode="add", random_state=0).fit(None, y, sources=sources)
    assert set(np.setdiff1d(at_random.sample_indices_, np.arange(30))) != set(added)


def test_prefer_confidence_never_takes_a_planted_low_score_row_while_better_ones_wait():
    y, sources, scores = _one_short_label()
    scores[30:, 1] = 0.9
    scores[45, 1] = 0.05
    for seed in range(20):
        balancer = MultilabelBalancer("max", mode="add", prefer="confidence", random_state=seed)
        assert 45 not in balancer.fit(None, y, sources=sources, scores=scores).sample_indices_


def test_prefer_confidence_ties_are_seeded():
    y, sources, scores = _one_short_label(60)
    scores[30:, 1] = 0.5

    def added(seed):
        balancer = MultilabelBalancer("max", mode="add", prefer="confidence", random_state=seed)
        return balancer.fit(None, y, sources=sources, scores=scores).sample_indices_

    assert np.array_equal(added(3), added(3))
    assert not np.array_equal(added(3), added(4))


def test_prefer_confidence_ranks_within_a_source_and_unscored_rows_as_sure():
    """Source priority still comes first; a row without scores ranks above scored rows of its tier."""
    y = np.array([[1, 0]] * 20 + [[0, 1]] * 10 + [[0, 1]] * 30, dtype=np.int8)
    sources = np.array(["human"] * 30 + ["pseudo"] * 20 + ["llm"] * 10)
    scores = np.full((60, 2), np.nan)
    scores[30:50, 1] = np.linspace(0.5, 0.99, 20)
    ordered = MultilabelBalancer("max", mode="add", prefer="confidence", source_priority=("human", "llm"))
    picked = np.setdiff1d(ordered.fit(None, y, sources=sources, scores=scores).sample_indices_, range(30))
    assert set(sources[picked]) == {"llm"}
    same_tier = MultilabelBalancer("max", mode="add", prefer="confidence", source_priority=("human",))
    scores[50:55, 1] = 0.1
    picked = np.setdiff1d(same_tier.fit(None, y, sources=sources, scores=scores).sample_indices_, range(30))
    assert set(picked) == set(range(55, 60)) | set(range(45, 50))


@pytest.mark.parametrize("batch", [7, 65_536])
def test_prefer_confidence_reads_the_scores_column_of_a_chunked_reindexed_dataset(batch, monkeypatch):
    """The Arrow path (several chunks, an indices mapping, empty score lists, rows read in batches)
    picks what the array path picks."""
    monkeypatch.setattr(sampling, "_SCORE_BATCH", batch)
    rng = np.random.default_rng(0)
    n_labels = len(GOEMOTIONS.names)
    records = []
    for i in range(400):
        human = i % 3 == 0
        labels = rng.choice(n_labels, size=rng.integers(1, 3), replace=False)
        scores = None if human else rng.random(n_labels)
        records.append(
            make_record(id=f"r{i}", text=f"text {i}", labels=labels, source="x",
                        label_origin="human" if human else "pseudo", scores=scores)
        )  # fmt: skip
    parts = [from_records(records[i : i + 100]) for i in range(0, 400, 100)]
    pool = datasets.concatenate_datasets(parts).select(rng.permutation(400)[:350])
    assert pool.data.column("scores").num_chunks > 1 and pool._indices is not None
    result = balance_dataset(pool, method="add", sampling_strategy="max", prefer="confidence", seed=5)
    flat = pool.flatten_indices()
    dense = np.full((len(flat), n_labels), np.nan)
    for row, values in enumerate(_values(flat, "scores")):
        if len(values):
            dense[row] = values
    direct = MultilabelBalancer("max", mode="add", prefer="confidence", random_state=5)
    direct.fit(None, sparse_label_matrix(flat), sources=_values(flat, "label_origin"), scores=dense)
    assert _values(result.dataset, "id").tolist() == _values(flat, "id")[direct.sample_indices_].tolist()
    assert result.report.settings["prefer"] == "confidence"


def test_prefer_confidence_needs_scores_and_only_the_balancer_reads_them():
    y, sources, scores = _one_short_label()
    with pytest.raises(InputError, match="prefer='confidence' ranks rows by their scores"):
        MultilabelBalancer("max", mode="add", prefer="confidence").fit(None, y, sources=sources)
    with pytest.raises(InputError, match=r"scores must have shape \(60, 2\)"):
        MultilabelBalancer("max", mode="add", prefer="confidence").fit(
            None, y, sources=sources, scores=scores[:, :1]
        )
    with pytest.raises(InputError, match="only with prefer='confidence'"):
        MultilabelBalancer("max", mode="add").fit(None, y, sources=sources, scores=scores)
    with pytest.raises(InputError, match="MLROS does not read scores"):
        MLROS(25).fit(None, y, scores=scores)


# ---------------------------------------------------------------------------------- reports


def test_every_method_reports_targets_rows_and_drop_reasons(mixed_pool):
    small = mixed_pool.shuffle(seed=0).select(range(4000))
    for method in METHODS:
        options = {"percentage": 20} if method not in ("select", "add") else {}
        result = balance_dataset(small, method=method, seed=0, **options)
        assert isinstance(result, BalanceResult)
        report = result.report.to_dict()
        json.dumps(report)
        assert report["method"] == method and set(report["labels"]) == set(GOEMOTIONS.names)
        rows = report["rows"]
        assert rows["out"] == len(result.dataset) == rows["kept"] + rows["added"]
        assert set(rows["dropped"]) <= set(DROP_REASONS)
        assert rows["dropped_total"] == sum(rows["dropped"].values())
        if not method.endswith("ros"):
            assert rows["in"] == rows["kept"] + rows["added"] + rows["dropped_total"]
        assert {"target", "achieved", "short_by", "over_by"} <= set(report["labels"]["grief"])
        achieved = {name: entry["achieved"] for name, entry in report["labels"].items()}
        assert list(achieved.values()) == _counts(result.dataset).tolist()
        validate(result.dataset)
    with pytest.raises(InputError, match="source_column 'origin'"):
        balance_dataset(small, source_column="origin")


def test_rows_dropped_as_target_reached_carry_no_short_label():
    y = _random_labels(2000, 6, 7)
    balancer = MultilabelBalancer(120, max_overshoot=None, random_state=0).fit(None, y)
    frame = balancer.report_.labels
    short = frame["short_by"].to_numpy(dtype=int) > 0
    left_out = np.setdiff1d(np.arange(len(y)), balancer.sample_indices_)
    assert balancer.report_.dropped["target_reached"] + balancer.report_.dropped["unlabeled"] == len(left_out)
    assert not y[left_out][:, short].any()


def test_balance_dataset_keeps_schema_and_selects_rows(mixed_pool):
    result = balance_dataset(mixed_pool, sampling_strategy=150, source_caps={"pseudo": 100}, seed=0)
    balanced = result.dataset
    assert balanced.features == mixed_pool.features
    assert (_values(balanced, "label_origin") == "pseudo").sum() <= 100
    counts = _counts(balanced)
    assert np.all(counts <= 150 + np.floor(0.05 * 150))
    validate(balanced)


# ---------------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"method": "smote"}, "unknown balance method 'smote'"),
        ({"method": "select", "percentage": 10}, "option 'percentage'"),
        ({"method": "ml-ros", "sampling_strategy": "equal"}, "sampling_strategy does not apply"),
        ({"method": "lp-rus", "source_caps": {"llm": 3}}, "source_caps does not apply"),
        ({"method": "ml-ros", "percentage": 150}, "percentage must be"),
        ({"method": "ml-rus", "protect_minority": "yes"}, "protect_minority"),
        ({"method": "add", "sampling_strategy": "min"}, "sampling_strategy 'min' with mode 'add'"),
        ({"method": "select", "sampling_strategy": {"happiness": 3}}, "unknown label 'happiness'"),
        ({"method": "select", "sampling_strategy": -1}, "sampling_strategy"),
        ({"method": "select", "source_caps": {"llm": -1}}, r"source_caps\['llm'\]"),
        ({"method": "add", "keep_sources": "human"}, "keep_sources"),
        ({"method": "select", "max_overshoot": -0.1}, "max_overshoot"),
        ({"method": "select", "source_priority": "human"}, "source_priority"),
        ({"method": "select", "seed": "zero"}, "random_state"),
        ({"method": "select", "source_column": ""}, "source_column"),
        ({"method": "add", "prefer": "best"}, "prefer must be one of"),
        ({"method": "ml-ros", "prefer": "confidence"}, "option 'prefer'"),
    ],
)
def test_check_balance_options_names_the_bad_field(settings, field):
    with pytest.raises(InputError, match=field):
        check_balance_options(**settings, label_names=GOEMOTIONS.names)


def test_check_balance_options_accepts_good_settings():
    check_balance_options("select", "equal", ["human", "pseudo", "llm"], {"llm": 500}, seed=3)
    check_balance_options("add", {"grief": 1000}, label_names=GOEMOTIONS.names, max_overshoot=0.1)
    check_balance_options("add", "mean", prefer="confidence")
    check_balance_options("ml-ros", percentage=25)
    check_balance_options("ml-rus", percentage=5, protect_minority=False)


# ---------------------------------------------------------------------------------- Charte resamplers


def test_ml_ros_clones_minority_rows_and_lowers_mean_ir(goemotions_train):
    y = sparse_label_matrix(goemotions_train)
    ratios, mean_ir = imbalance_ratios(y)
    ros = MLROS(percentage=10, random_state=0)
    _, y_res = ros.fit_resample(np.zeros((y.shape[0], 1)), y)
    clones = ros.sample_indices_[y.shape[0] :]
    assert 0 < len(clones) <= int(y.shape[0] * 0.10)
    assert np.array_equal(ros.sample_indices_[: y.shape[0]], np.arange(y.shape[0]))
    minority = ratios > mean_ir
    assert np.all(y[clones].toarray()[:, minority].any(axis=1))
    assert imbalance_ratios(y_res)[1] < mean_ir
    assert ros.report_.added == len(clones) and ros.report_.dropped == {}


def test_ml_rus_deletes_majority_rows_and_lowers_the_largest_imbalance(goemotions_train):
    y = sparse_label_matrix(goemotions_train)
    ratios, mean_ir = imbalance_ratios(y)
    rus = MLRUS(percentage=10, random_state=0)
    _, y_res = rus.fit_resample(np.zeros((y.shape[0], 1)), y)
    kept = rus.sample_indices_
    deleted = np.setdiff1d(np.arange(y.shape[0]), kept)
    assert 0 < len(deleted) <= int(y.shape[0] * 0.10)
    assert rus.report_.dropped == {"undersampled": len(deleted)}
    dense = y[deleted].toarray()
    assert np.all(dense[:, ratios < mean_ir].any(axis=1))
    assert not dense[:, ratios > mean_ir].any()
    after = sparse_label_matrix(y_res).toarray().sum(axis=0)
    before = y.toarray().sum(axis=0)
    assert after.max() < before.max()
    assert imbalance_ratios(y_res)[0].max() < ratios.max()
    original = MLRUS(percentage=10, random_state=0, protect_minority=False)
    original.fit_resample(np.zeros((y.shape[0], 1)), y)
    assert len(original.sample_indices_) == y.shape[0] - int(y.shape[0] * 0.10)


def test_lp_resamplers_move_labelsets_towards_the_mean():
    y = _random_labels(3000, 5, 6)
    codes = np.unique(y, axis=0, return_inverse=True)[1].ravel()
    sizes = np.bincount(codes)
    ros = LPROS(percentage=20, random_state=0)
    ros.fit_resample(np.zeros((3000, 1)), y)
    added = ros.sample_indices_[3000:]
    assert len(added) <= 600 and len(added) >= 0.5 * 600
    assert np.all(sizes[codes[added]] < sizes.mean())
    rus = LPRUS(percentage=20, random_state=0)
    rus.fit_resample(np.zeros((3000, 1)), y)
    removed = np.setdiff1d(np.arange(3000), rus.sample_indices_)
    assert len(removed) <= 600 and len(removed) >= 0.5 * 600
    assert np.all(sizes[codes[removed]] > sizes.mean())
    assert np.bincount(codes[rus.sample_indices_]).std() < sizes.std()


def test_ros_by_name_marks_duplicates_in_provenance():
    records = [
        make_record(
            id=f"t:{i}", text=f"text {i}", labels=[0] if i < 40 else [1, 2] if i < 43 else [2], source="test"
        )
        for i in range(60)
    ]
    dataset = from_records(records)
    result = balance_dataset(dataset, method="ml-ros", percentage=20, seed=0)
    assert 60 < len(result.dataset) <= 60 + 12 and result.report.added == len(result.dataset) - 60
    validate(result.dataset)
    duplicates = [(row["id"], json.loads(row["meta"])) for row in result.dataset if "#dup" in row["id"]]
    assert len(duplicates) == len(result.dataset) - 60
    for new_id, meta in duplicates:
        assert new_id.startswith(meta["duplicate_of"] + "#dup") and meta["resampler"] == "ml-ros"
    assert result.dataset.features == dataset.features


# ---------------------------------------------------------------------------------- deficits


def test_deficits_contract_on_goemotions(goemotions_train):
    request = deficits(goemotions_train, 3000)
    json.dumps(request)
    counts = _counts(goemotions_train)
    assert set(request["labels"]) == set(GOEMOTIONS.names)
    for name, missing in request["labels"].items():
        assert missing == max(0, 3000 - counts[GOEMOTIONS.id(name)])
    ratios, mean_ir = imbalance_ratios(goemotions_train)
    minority = {GOEMOTIONS.names[i] for i in np.flatnonzero(ratios > mean_ir)}
    counts_in_sets = [entry["count"] for entry in request["labelsets"]]
    assert counts_in_sets == sorted(counts_in_sets, reverse=True)
    for name in minority:
        requested = sum(e["count"] for e in request["labelsets"] if name in e["labels"])
        assert requested >= request["labels"][name]
    for entry in request["labelsets"]:
        assert set(entry["labels"]) & minority and set(entry["labels"]) <= set(GOEMOTIONS.names)


def test_deficits_for_a_label_with_no_examples_ask_for_it_alone():
    y = np.array([[1, 0, 0]] * 30 + [[0, 1, 0]] * 2)
    request = deficits(y, {0: 30, 1: 10, 2: 5}, label_names=["a", "b", "c"])
    assert request["labels"] == {"a": 0, "b": 8, "c": 5}
    assert {"labels": ["c"], "count": 5} in request["labelsets"]
    assert {"labels": ["b"], "count": 8} in request["labelsets"]
