"""Acceptance thresholds chosen on held-out data for a target precision, the labeler registry, estimator contracts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.base import clone
from sklearn.metrics import fbeta_score

from goemobalance.errors import InputError
from goemobalance.label import (
    OFFLINE_LABELERS,
    AcceptanceReport,
    MeanEnsembleLabeler,
    OfflineLabeler,
    SelectionRule,
    TfidfLogRegLabeler,
    macro_f1,
    offline_labeler,
    train_offline,
    tune_acceptance,
    wilson_lower_bound,
)
from goemobalance.labels import LabelSpace
from goemobalance.schema import multi_hot

SPACE = LabelSpace(("a", "b", "c"))


def known_case() -> tuple[np.ndarray, np.ndarray]:
    """Held-out rows whose precision-target thresholds are worked out by hand (see the test).

    Label a: 20 positives at 0.905; 10 rows at 0.705 (5 positive); 30 negatives at 0.305; 5 positives at
    0.105. Label b: one positive and one negative at every probability, precision 0.5 at any threshold.
    Label c: 3 positives at 0.95 and nothing else above 0.
    """
    a_probs = [0.905] * 20 + [0.705] * 10 + [0.305] * 30 + [0.105] * 5
    a_truth = [1] * 20 + [1, 0] * 5 + [0] * 30 + [1] * 5
    n = len(a_probs)
    probs = np.zeros((n, 3))
    y = np.zeros((n, 3), dtype=int)
    probs[:, 0], y[:, 0] = a_probs, a_truth
    probs[:, 1] = np.repeat(np.linspace(0.05, 0.95, n // 2 + 1), 2)[:n]
    y[:, 1] = np.arange(n) % 2
    probs[:3, 2], y[:3, 2] = 0.95, 1
    return y, probs


def test_wilson_lower_bound_is_scipys_one_sided_wilson_bound():
    for k, n in [(0, 5), (3, 3), (20, 20), (25, 30), (7, 40), (999, 1000)]:
        expected = binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson").low
        assert wilson_lower_bound(k, n, confidence=0.95) == pytest.approx(expected, abs=1e-12)
    assert wilson_lower_bound(0, 0) == 0.0


def test_precision_target_picks_the_lowest_threshold_worked_out_by_hand():
    y, probs = known_case()
    # Label a: t <= 0.305 accepts the 30 negatives too; 0.305 < t <= 0.705 accepts 30 rows, 25 correct:
    # Wilson lower bound 0.695; 0.705 < t <= 0.905 accepts 20 of 20 correct: bound 20 / (20 + z^2) = 0.881.
    assert wilson_lower_bound(25, 30) == pytest.approx(0.695, abs=1e-3)
    assert wilson_lower_bound(20, 20) == pytest.approx(0.881, abs=1e-3)
    strict = tune_acceptance(y, probs, SPACE, target_precision=0.8)
    assert strict.thresholds[0] == 0.71
    loose = tune_acceptance(y, probs, SPACE, target_precision=0.6)
    assert loose.thresholds[0] == 0.31

    a = strict.labels[0]
    assert (a.support, a.accepted, a.true_positives, a.precision) == (30, 20, 20, 1.0)
    assert a.recall == pytest.approx(20 / 30) and a.precision_lower == pytest.approx(0.881, abs=1e-3)
    assert a.reached is True and strict.method == "wilson-lower-bound"


def test_labels_that_cannot_reach_the_target_accept_nothing():
    y, probs = known_case()
    report = tune_acceptance(y, probs, SPACE, target_precision=0.8, tuned_on="synthetic dev")
    # b is never more than 50% precise; c is 3 of 3 correct, but 3 rows only bound precision at 0.53.
    assert np.isinf(report.thresholds[1:]).all() and report.unreachable == ["b", "c"]
    assert [label.reached for label in report.labels] == [True, False, False]
    assert report.rule.top1_fallback is False
    selected = report.rule.select_mask(np.full((4, 3), 0.99), SPACE)
    assert selected[:, 0].all() and not selected[:, 1:].any()
    assert report.accepted_counts(probs) == {"a": 20, "b": 0, "c": 0}

    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))  # strict JSON: inf is written as null
    assert data["labels"]["b"]["threshold"] is None and data["labels"]["b"]["accepts"] is False
    assert data["rule"]["threshold"][1:] == [None, None] and data["tuned_on"] == "synthetic dev"
    restored = AcceptanceReport.from_dict(data)  # what a saved labeler reads back
    assert restored.to_dict() == data and restored.unreachable == ["b", "c"]
    np.testing.assert_array_equal(restored.thresholds, report.thresholds)


def test_a_label_cap_that_pulls_precision_below_the_target_closes_the_label():
    """Raw b passes 0.5 (20 of 30), but with max_labels=1 its 20 positives go to a: b keeps 0 of 10."""
    y = np.zeros((30, 3), dtype=int)
    probs = np.zeros((30, 3))
    y[:20, :2] = 1
    probs[:20, 0], probs[:, 1] = 0.95, 0.9
    report = tune_acceptance(y, probs, SPACE, target_precision=0.5, rule=SelectionRule(max_labels=1))
    assert report.thresholds[0] < 1 and np.isinf(report.thresholds[1])
    assert report.labels[1].accepted == 0 and report.unreachable == ["b", "c"]


def test_f1_mode_keeps_the_fallback_and_finds_the_separating_threshold():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(400, 3))
    probs = np.where(y == 1, rng.uniform(0.3, 0.4, y.shape), rng.uniform(0.0, 0.25, y.shape))
    report = tune_acceptance(y, probs, SPACE, rule=SelectionRule(max_labels=2))
    assert np.all((report.thresholds >= 0.25) & (report.thresholds <= 0.3))
    assert macro_f1(y, probs >= report.thresholds) == 1.0
    assert report.method == "f1-optimal" and report.target_precision is None
    assert report.rule.top1_fallback is True and report.rule.max_labels == 2
    assert {label.reached for label in report.labels} == {None}


def test_beta_above_one_leans_to_recall_worked_out_by_hand():
    y, probs = known_case()
    # Label a has 30 positives. 0.305 < t <= 0.705 accepts 30 rows, 25 correct: F1 = F3 = 0.833.
    # t <= 0.105 accepts all 65 rows, 30 correct: F1 0.632, but F3 = 10 * 30 / (65 + 9 * 30) = 0.896.
    assert tune_acceptance(y, probs, SPACE).thresholds[0] == 0.31
    recall_leaning = tune_acceptance(y, probs, SPACE, beta=3.0)
    assert recall_leaning.thresholds[0] == 0.02 and recall_leaning.method == "f3-optimal"
    assert recall_leaning.labels[0].recall == 1.0


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_fbeta_thresholds_are_the_grid_maximum_of_sklearns_fbeta_score(beta):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=(300, 3))
    probs = np.clip(y * 0.25 + rng.uniform(0, 0.7, y.shape), 0, 1)
    thresholds = tune_acceptance(y, probs, SPACE, beta=beta).thresholds
    grid = np.round(np.arange(0.02, 0.96, 0.01), 2)
    for label in range(3):
        scores = [fbeta_score(y[:, label], probs[:, label] >= t, beta=beta, zero_division=0) for t in grid]
        assert thresholds[label] == grid[int(np.argmax(scores))]


def test_bad_targets_and_shapes_are_input_errors():
    y, probs = known_case()
    with pytest.raises(InputError, match="target_precision"):
        tune_acceptance(y, probs, SPACE, target_precision=1.5)
    with pytest.raises(InputError, match="confidence"):
        tune_acceptance(y, probs, SPACE, target_precision=0.8, confidence=0.3)
    with pytest.raises(InputError, match="beta must be positive, got 0"):
        tune_acceptance(y, probs, SPACE, beta=0)
    with pytest.raises(InputError, match=r"shape \(n_rows, 3 labels\)"):
        tune_acceptance(y[:, :2], probs[:, :2], SPACE)


def test_registry_names_and_unknown_names():
    assert sorted(OFFLINE_LABELERS) == ["minilm", "tfidf", "tfidf+minilm"]
    kinds = {name: type(offline_labeler(name)).__name__ for name in OFFLINE_LABELERS}
    assert kinds == {"tfidf": "TfidfLogRegLabeler", "minilm": "EmbeddingLogRegLabeler",
                     "tfidf+minilm": "MeanEnsembleLabeler"}  # fmt: skip
    with pytest.raises(
        InputError, match=r"unknown offline labeler 'bert'; use one of \['minilm', 'tfidf', 'tfidf\+minilm'\]"
    ):
        offline_labeler("bert")
    with pytest.raises(InputError, match="has no parameter 'depth'"):
        offline_labeler("tfidf+minilm", depth=3)


def test_registry_routes_plain_parameters_to_the_ensemble_members():
    rule = SelectionRule(max_labels=2)
    ensemble = offline_labeler("tfidf+minilm", rule=rule, cache_dir="emb-cache", minilm__C=0.5)
    params = ensemble.get_params()
    assert params["rule"] is rule and params["tfidf__rule"] is rule
    assert (
        params["minilm__cache_dir"] == "emb-cache"
        and params["minilm__C"] == 0.5
        and params["tfidf__C"] == 4.0
    )
    assert offline_labeler("minilm", cache_dir="emb-cache").cache_dir == "emb-cache"


@pytest.mark.parametrize("name", sorted(OFFLINE_LABELERS))
def test_offline_labelers_round_trip_through_get_params_and_clone(name):
    labeler = offline_labeler(name, rule=SelectionRule(max_labels=3))
    copy = clone(labeler)
    assert type(copy) is type(labeler) and copy is not labeler
    assert repr(copy.get_params()) == repr(labeler.get_params())
    rebuilt = type(labeler)(**labeler.get_params(deep=False))
    assert repr(rebuilt.get_params()) == repr(labeler.get_params())
    # scikit-learn's rule: __init__ stores its arguments and nothing else (no encoder, no fitted state)
    for estimator in [labeler] + [member for _, member in getattr(labeler, "members", [])]:
        assert set(vars(estimator)) == set(estimator.get_params(deep=False))


@pytest.fixture(scope="module")
def tiny_corpus(goemotions_train):
    data = goemotions_train.select(range(1500))
    return list(data["text"]), multi_hot(data)


def test_tuning_sets_fitted_attributes_and_leaves_constructor_params_alone(tiny_corpus):
    texts, y = tiny_corpus
    rule = SelectionRule(max_labels=3)
    labeler = TfidfLogRegLabeler(rule=rule, C=2.0).fit(texts[:1000], y[:1000])
    before = repr(labeler.get_params())
    labeler.tune_acceptance(texts[1000:], y[1000:], target_precision=0.7)
    assert repr(labeler.get_params()) == before and labeler.rule is rule
    assert labeler.rule_.max_labels == 3 and labeler.rule_.top1_fallback is False
    np.testing.assert_array_equal(labeler.thresholds_, labeler.acceptance_report_.thresholds)
    assert labeler.active_rule is labeler.rule_
    fresh = clone(labeler)
    assert not hasattr(fresh, "thresholds_") and fresh.active_rule == rule


def test_ensemble_probabilities_are_the_mean_of_its_members(tiny_corpus, tmp_path):
    texts, y = tiny_corpus
    members = [("words", TfidfLogRegLabeler(char_ngrams=None, C=1.0)), ("chars", TfidfLogRegLabeler(C=8.0))]
    ensemble = MeanEnsembleLabeler(members).fit(texts[:1000], y[:1000])
    parts = [clone(member).fit(texts[:1000], y[:1000]).predict_proba(texts[1000:]) for _, member in members]
    probs = ensemble.predict_proba(texts[1000:])
    np.testing.assert_allclose(probs, (parts[0].astype(np.float64) + parts[1]) / 2, rtol=1e-6, atol=1e-7)
    assert not np.allclose(parts[0], parts[1], atol=1e-3)
    assert all(not hasattr(member, "model_") for _, member in members)  # fit works on clones

    ensemble.tune_acceptance(texts[1000:], y[1000:], target_precision=0.6)
    loaded = OfflineLabeler.load(ensemble.save(tmp_path / "ensemble"))
    assert isinstance(loaded, MeanEnsembleLabeler) and [n for n, _ in loaded.members] == ["words", "chars"]
    np.testing.assert_array_equal(loaded.predict_proba(texts[:20]), ensemble.predict_proba(texts[:20]))
    np.testing.assert_array_equal(loaded.thresholds_, ensemble.thresholds_)
    assert loaded.acceptance_report_.to_dict() == ensemble.acceptance_report_.to_dict()


@pytest.mark.slow
def test_thresholds_come_from_dev_only_poisoned_test_labels_change_nothing(goemotions_dir, tmp_path):
    """train_offline takes dev for thresholds: shuffling the test labels changes the test score, nothing else."""
    sizes = {"train": 2000, "dev": 600, "test": 600}
    runs = {}
    for variant in ("clean", "poisoned"):
        folder = tmp_path / variant
        folder.mkdir()
        for split, n in sizes.items():
            rows = [
                line.split("\t")
                for line in (goemotions_dir / f"{split}.tsv").read_text("utf-8").splitlines()[:n]
            ]
            if split == "test" and variant == "poisoned":
                rows = [[text, labels, row_id] for (text, _, row_id), (_, labels, _) in zip(rows, rows[::-1])]
            (folder / f"{split}.tsv").write_text(
                "".join("\t".join(row) + "\n" for row in rows), encoding="utf-8"
            )
        runs[variant] = train_offline(folder, "tfidf", target_precision=0.6)
    clean, poisoned = runs["clean"], runs["poisoned"]
    np.testing.assert_array_equal(clean.thresholds_, poisoned.thresholds_)
    assert clean.acceptance_report_ == poisoned.acceptance_report_
    assert clean.metrics_["dev"] == poisoned.metrics_["dev"]
    assert clean.metrics_["test"] != poisoned.metrics_["test"]


def test_package_names_resolve_and_model_identities_load_without_torch():
    import subprocess
    import sys

    import goemobalance.label as package

    assert sorted(package.__all__) == sorted(package._HOMES)
    assert all(getattr(package, name) is not None for name in package.__all__)
    probe = (
        "import sys; from goemobalance.label.models import DEFAULT_MODEL; "
        "from goemobalance.label.registry import OFFLINE_LABELERS; "
        "print(sorted(m for m in ('torch', 'sklearn', 'transformers') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
