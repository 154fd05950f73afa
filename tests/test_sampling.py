"""Target-count balancer, Charte et al. resamplers and the deficits contract, on real GoEmotions rows."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pandas as pd
import pytest

from goemobalance.balance import (
    LPROS,
    LPRUS,
    MLROS,
    MLRUS,
    MultilabelBalancer,
    balance_dataset,
    deficits,
    imbalance_ratios,
    resample_dataset,
    resolve_targets,
    sparse_label_matrix,
)
from goemobalance.labels import GOEMOTIONS
from goemobalance.schema import from_records, make_record, validate


@pytest.fixture(scope="module")
def mixed_pool(goemotions_dir, goemotions_train) -> datasets.Dataset:
    """GoEmotions train as human rows plus GoEmotions dev re-marked as a second (pseudo) source."""
    from goemobalance.sources import load_goemotions

    dev = load_goemotions(goemotions_dir, split="dev")
    pseudo = dev.map(lambda row: {"label_origin": "pseudo", "id": row["id"] + "@pseudo"})
    return datasets.concatenate_datasets([goemotions_train, pseudo])


def _random_labels(n_rows: int, n_labels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rates = np.geomspace(0.4, 0.01, n_labels)
    return (rng.random((n_rows, n_labels)) < rates).astype(np.int8)


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
    with pytest.raises(ValueError, match="unknown sampling_strategy"):
        resolve_targets(counts, "balanced")
    with pytest.raises(ValueError, match="unknown label"):
        resolve_targets(counts, {"zzz": 3}, names=["a", "b", "c", "d"])


def test_imbalance_ratios_follow_charte():
    y = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 0], [1, 0, 0]])
    ratios, mean_ir = imbalance_ratios(y)
    assert ratios[0] == 1 and ratios[1] == 4 and np.isinf(ratios[2])
    assert mean_ir == pytest.approx(2.5)


# ---------------------------------------------------------------------------------- balancer


def test_balancer_equal_on_goemotions_mixed_pool(mixed_pool):
    balancer = MultilabelBalancer("equal", label_names=GOEMOTIONS.names)
    balancer.fit(mixed_pool, mixed_pool["label_origin"])
    report = balancer.report_
    assert isinstance(report, pd.DataFrame) and list(report["label"]) == list(GOEMOTIONS.names)
    rarest = int(report["available"].min())
    assert (report["target"] == rarest).all()
    assert np.abs(report["gap"].to_numpy(dtype=float)).max() <= 0.1 * rarest
    assert balancer.cv_ < 0.02
    assert len(np.unique(balancer.sample_indices_)) == len(balancer.sample_indices_)
    achieved = sparse_label_matrix(mixed_pool.select(balancer.sample_indices_)).toarray().sum(axis=0)
    assert achieved.tolist() == report["achieved"].tolist()
    assert "| grief |" in balancer.report_markdown()
    assert balancer.source_counts_["human"] > balancer.source_counts_["pseudo"]


def test_balancer_prefers_higher_priority_sources():
    y = np.vstack([_random_labels(2000, 6, 0), _random_labels(2000, 6, 0)])
    sources = np.array(["llm"] * 2000 + ["human"] * 2000)
    target = int(y[:2000].sum(axis=0).min()) // 2
    balancer = MultilabelBalancer(target, random_state=1).fit(y, sources)
    assert balancer.source_counts_.get("llm", 0) == 0
    flipped = MultilabelBalancer(target, source_priority=("llm", "human"), random_state=1).fit(y, sources)
    assert flipped.source_counts_.get("human", 0) == 0


def test_balancer_respects_source_caps():
    y = np.vstack([_random_labels(3000, 6, 2), _random_labels(3000, 6, 3)])
    sources = np.array(["human"] * 3000 + ["pseudo"] * 3000)
    balancer = MultilabelBalancer(200, source_caps={"human": 150}, random_state=0).fit(y, sources)
    assert balancer.source_counts_["human"] == 150
    report = balancer.report_
    reachable = np.minimum(report["target"].to_numpy(dtype=float), report["available"].to_numpy(dtype=float))
    assert np.all(report["achieved"].to_numpy() >= reachable - 0.1 * 200)
    with pytest.raises(ValueError, match="absent from the pool"):
        MultilabelBalancer(10, source_caps={"llm": 3}).fit(y, sources)


def test_balancer_accounts_for_co_occurrence():
    """Rows carrying a rare label also carry a common one; the common label must not overshoot."""
    rare_with_common = np.tile([1, 1, 0], (50, 1))
    common_alone = np.tile([1, 0, 0], (500, 1))
    other = np.tile([0, 0, 1], (500, 1))
    y = np.vstack([common_alone, rare_with_common, other])
    balancer = MultilabelBalancer(50, random_state=0).fit(y)
    assert balancer.report_["achieved"].tolist() == [50, 50, 50]


def test_balancer_dict_targets_leave_other_labels_free():
    y = _random_labels(1000, 4, 4)
    balancer = MultilabelBalancer({0: 20, 3: 5}, random_state=0).fit(y)
    report = balancer.report_
    assert report.loc[0, "achieved"] == 20 and report.loc[3, "achieved"] == 5
    assert pd.isna(report.loc[1, "target"])


def test_fit_resample_returns_aligned_rows_and_same_seed_same_rows():
    y = _random_labels(800, 5, 5)
    X = np.arange(800)[:, None] * 10
    X_res, y_res = MultilabelBalancer(40, random_state=3).fit_resample(X, y)
    balancer = MultilabelBalancer(40, random_state=3).fit(y)
    assert np.array_equal(X_res[:, 0] // 10, balancer.sample_indices_)
    assert np.array_equal(y_res, y[balancer.sample_indices_])


def test_balance_dataset_keeps_schema_and_selects_rows(mixed_pool):
    balanced = balance_dataset(mixed_pool, sampling_strategy=150, source_caps={"pseudo": 100}, seed=0)
    assert balanced.features == mixed_pool.features
    assert sum(origin == "pseudo" for origin in balanced["label_origin"]) <= 100
    counts = sparse_label_matrix(balanced).toarray().sum(axis=0)
    assert np.all(counts[counts > 0] <= 150 * 1.2)
    validate(balanced)
    with pytest.raises(ValueError, match="source column"):
        balance_dataset(mixed_pool, source_column="origin")


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


def test_ml_rus_deletes_majority_rows_and_lowers_the_largest_imbalance(goemotions_train):
    y = sparse_label_matrix(goemotions_train)
    ratios, mean_ir = imbalance_ratios(y)
    rus = MLRUS(percentage=10, random_state=0)
    _, y_res = rus.fit_resample(np.zeros((y.shape[0], 1)), y)
    kept = rus.sample_indices_
    deleted = np.setdiff1d(np.arange(y.shape[0]), kept)
    assert 0 < len(deleted) <= int(y.shape[0] * 0.10)
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


def test_resample_dataset_marks_duplicates_in_provenance():
    records = [
        make_record(
            id=f"t:{i}", text=f"text {i}", labels=[0] if i < 40 else [1, 2] if i < 43 else [2], source="test"
        )
        for i in range(60)
    ]
    dataset = from_records(records)
    result = resample_dataset(dataset, MLROS(percentage=20, random_state=0))
    assert 60 < len(result) <= 60 + 12
    validate(result)
    duplicates = [(row["id"], json.loads(row["meta"])) for row in result if "#dup" in row["id"]]
    assert len(duplicates) == len(result) - 60
    for new_id, meta in duplicates:
        assert new_id.startswith(meta["duplicate_of"] + "#dup") and meta["resampler"] == "MLROS"
    assert result.features == dataset.features


# ---------------------------------------------------------------------------------- deficits


def test_deficits_contract_on_goemotions(goemotions_train):
    request = deficits(goemotions_train, 3000)
    json.dumps(request)
    counts = sparse_label_matrix(goemotions_train).toarray().sum(axis=0)
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
