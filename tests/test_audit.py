"""Audit: out-of-sample probabilities, label issues on planted noise, duplicates, leakage, report, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest
from cleanlab.multilabel_classification import dataset as cl_dataset
from cleanlab.multilabel_classification import filter as cl_filter
from cleanlab.multilabel_classification.dataset import overall_multilabel_health_score
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline

from goemobalance.audit import (
    AuditReport,
    audit,
    cross_val_probs,
    find_duplicates,
    find_label_issues,
    is_eval_split,
    load_splits,
    short_texts,
)
from goemobalance.audit.report import PLOTS
from goemobalance.data import packaged_file
from goemobalance.errors import InputError
from goemobalance.labels import GOEMOTIONS
from goemobalance.schema import from_records, make_record, multi_hot
from goemobalance.sources import load_goemotions
from goemobalance.text import NEAR_DUPLICATE_THRESHOLD

REPO = Path(__file__).resolve().parents[1]

NOISE_RATE = 0.03


def plant_noise(labels: list[list[int]], rate: float, seed: int) -> tuple[list[list[int]], np.ndarray]:
    """The test's own noise: on `rate` of rows swap, drop (rows with 2+ labels) or add one uniform random label."""
    rng = np.random.default_rng(seed)
    noisy = [list(row) for row in labels]
    rows = rng.choice(len(noisy), size=round(rate * len(noisy)), replace=False)
    for row in rows:
        current = noisy[row]
        absent = [c for c in range(len(GOEMOTIONS)) if c not in current]
        kind = rng.choice(["swap", "drop", "add"])
        if kind == "drop" and len(current) > 1:
            current.remove(current[rng.integers(len(current))])
        elif kind == "add":
            current.append(int(rng.choice(absent)))
        else:
            current.remove(current[rng.integers(len(current))])
            current.append(int(rng.choice(absent)))
        noisy[row] = sorted(current)
    return noisy, np.sort(rows)


def with_labels(dataset: datasets.Dataset, labels: list[list[int]]) -> datasets.Dataset:
    return dataset.remove_columns("labels").add_column("labels", labels, feature=dataset.features["labels"])


@pytest.fixture(scope="module")
def noisy_subset(goemotions_train):
    """8,000 real GoEmotions train rows with 3% planted label noise, and the planted row indices."""
    rows = np.random.default_rng(7).choice(len(goemotions_train), size=8_000, replace=False)
    subset = goemotions_train.select(np.sort(rows))
    noisy, planted = plant_noise([list(r) for r in subset["labels"]], NOISE_RATE, seed=11)
    return with_labels(subset, noisy), planted


@pytest.fixture(scope="module")
def noisy_probs(noisy_subset):
    dataset, _ = noisy_subset
    return cross_val_probs(dataset, "tfidf", folds=5, seed=0, progress=False)


@pytest.fixture(scope="module")
def noisy_issues(noisy_subset, noisy_probs):
    """The label issues on the word TF-IDF probabilities, found once for the tests that read them (the
    ranking and health score do not depend on the flagging budget; the flags use a 15% budget)."""
    dataset, _ = noisy_subset
    labels = [list(r) for r in dataset["labels"]]
    return find_label_issues(labels, noisy_probs, class_names=GOEMOTIONS.names, max_flag_fraction=0.15)


def small_dataset(texts: list[str], labels: list[list[int]], prefix: str = "r", source: str = "goemotions"):
    records = [
        make_record(id=f"{prefix}{i}", text=t, labels=l, source=source, label_origin="human")
        for i, (t, l) in enumerate(zip(texts, labels))
    ]
    return from_records(records)


@pytest.mark.slow
def test_planted_noise_precision_at_k_is_eight_times_the_base_rate(noisy_subset, noisy_issues):
    """On these 8,000 rows (noise seed 11) TF-IDF gives p@k 0.34 (char n-grams 0.375; 0.38-0.40 on all 43k
    rows in bench_audit.py); cleanlab's default moving-average ranking stays near 0.15."""
    _, planted = noisy_subset
    found = noisy_issues
    top_k = found.ranking[: len(planted)]
    precision_at_k = np.isin(top_k, planted).mean()
    assert precision_at_k >= 8 * NOISE_RATE, precision_at_k
    recall = np.isin(planted, np.flatnonzero(found.flagged)).mean()
    assert recall >= 0.5, recall
    assert found.flagged.mean() <= 0.15


@pytest.mark.slow
def test_out_of_fold_probs_shape_range_and_ranking_quality(noisy_subset, noisy_probs):
    dataset, _ = noisy_subset
    y = multi_hot(dataset)
    assert noisy_probs.shape == y.shape
    assert noisy_probs.min() >= 0 and noisy_probs.max() <= 1
    from sklearn.metrics import roc_auc_score

    neutral = GOEMOTIONS.id("neutral")
    assert roc_auc_score(y[:, neutral], noisy_probs[:, neutral]) > 0.7


def test_probs_are_out_of_sample_not_memorised():
    """Unique nonsense tokens with random labels: an in-sample model would memorise them, held-out ones cannot."""
    rng = np.random.default_rng(0)
    texts = [f"tok{i}x tok{i}y" for i in range(300)]
    labels = [[int(rng.integers(2)) * 17 + 0] if i % 3 else [27] for i in range(300)]
    dataset = small_dataset(texts, labels)
    probs = cross_val_probs(dataset, "tfidf", folds=3, seed=0, progress=False)
    y = multi_hot(dataset)
    given = probs[y == 1]
    assert given.mean() < 0.6
    in_sample = OneVsRestClassifier(LogisticRegression(C=100, max_iter=1000)).fit(
        TfidfVectorizer().fit_transform(texts), y[:, y.any(0)]
    )
    assert in_sample.predict_proba(TfidfVectorizer().fit_transform(texts)).max(1).mean() > given.mean()


def test_char_ngrams_rank_planted_noise_at_least_as_well_as_words(noisy_subset, noisy_issues):
    """The word+char TF-IDF model (half of ``tfidf+minilm``) is deterministic, the same with its heads in
    worker processes, and no worse than words alone. The 5-fold run's char n-gram matrix (over 1 MB)
    reaches the workers as a read-only memory map, where unsorted indices used to fail the fit."""
    dataset, planted = noisy_subset
    labels = [list(row) for row in dataset["labels"]]
    char_probs = cross_val_probs(dataset, "tfidf-char", folds=5, seed=0, progress=False, n_jobs=2)
    small = dataset.select(range(1000))
    assert np.array_equal(
        cross_val_probs(small, "tfidf-char", folds=3, seed=0, progress=False),
        cross_val_probs(small, "tfidf-char", folds=3, seed=0, progress=False, n_jobs=2),
    )

    def precision_at_k(ranking):
        return np.isin(ranking[: len(planted)], planted).mean()

    char_ranking = find_label_issues(labels, char_probs).ranking
    assert precision_at_k(char_ranking) >= precision_at_k(noisy_issues.ranking) - 0.02


@pytest.mark.filterwarnings("ignore:Label not .* is present in all training examples")
def test_estimator_and_precomputed_probs_are_accepted(goemotions_train):
    dataset = goemotions_train.select(range(400))
    y = multi_hot(dataset)
    pipeline = make_pipeline(TfidfVectorizer(), OneVsRestClassifier(LogisticRegression(max_iter=500)))
    probs = cross_val_probs(dataset, pipeline, folds=2, seed=0, progress=False)
    assert probs.shape == y.shape
    assert not np.allclose(probs, probs[0])
    fixed = np.full(y.shape, 0.5)
    np.testing.assert_array_equal(cross_val_probs(dataset, fixed), fixed)
    with pytest.raises(ValueError, match="shape"):
        cross_val_probs(dataset, fixed[:10])
    with pytest.raises(ValueError, match="unknown model"):
        cross_val_probs(dataset, "bert-large", progress=False)


@pytest.mark.slow
def test_health_score_and_row_mask_match_cleanlabs_own_functions(noisy_subset, noisy_probs, noisy_issues):
    dataset, _ = noisy_subset
    labels = [list(r) for r in dataset["labels"]]
    found = noisy_issues
    assert found.health_score == pytest.approx(overall_multilabel_health_score(labels, noisy_probs))
    assert found.flagged.sum() <= found.cleanlab_flagged.sum()
    assert not (found.flagged & ~found.cleanlab_flagged).any()
    assert np.array_equal(found.cleanlab_flagged, cl_filter.find_label_issues(labels, noisy_probs, n_jobs=1))


def test_label_issue_search_rejects_bad_input_in_one_line():
    probs = np.full((2, len(GOEMOTIONS)), 0.1)
    with pytest.raises(InputError, match=r"labels \(1 rows\) and probs \(2 rows\)"):
        find_label_issues([[0]], probs)
    with pytest.raises(InputError, match="max_flag_fraction"):
        find_label_issues([[0], [1]], probs, max_flag_fraction=0.0)
    with pytest.raises(InputError, match="no rows"):
        find_label_issues([], probs[:0])


@pytest.mark.slow
def test_per_label_tables_are_cleanlabs_with_exact_counts(noisy_subset, noisy_probs, noisy_issues):
    """Our one-pass tables hold cleanlab's numbers; only its truncated per-label counts (int(p * n)) differ."""
    labels = [list(r) for r in noisy_subset[0]["labels"]]
    names = list(GOEMOTIONS.names)
    common = cl_dataset.common_multilabel_issues(labels, noisy_probs, class_names=names)
    ours = noisy_issues.common_issues
    assert ours["Issue Probability"].is_monotonic_decreasing and len(ours) == 2 * len(names)
    key = ["Class Index", "In Given Label"]
    pd.testing.assert_frame_equal(
        ours.set_index(key).sort_index(), common.set_index(key).sort_index(), check_dtype=False
    )

    theirs = cl_dataset.rank_classes_by_multilabel_quality(labels, noisy_probs, class_names=names).set_index(
        "Class Index"
    )
    mine = noisy_issues.per_label.set_index("Class Index").loc[theirs.index]
    assert noisy_issues.per_label["Label Quality Score"].is_monotonic_increasing
    assert list(mine.columns) == list(theirs.columns)
    for column in ("Class Name", "Label Noise", "Inverse Label Noise", "Label Quality Score"):
        pd.testing.assert_series_equal(mine[column], theirs[column], check_dtype=False)
    n = len(labels)
    for column, noise in (("Label Issues", "Label Noise"), ("Inverse Label Issues", "Inverse Label Noise")):
        assert np.array_equal(mine[column], np.rint(theirs[noise] * n).astype(int))
        assert ((mine[column] - theirs[column]).isin([0, 1])).all()


def test_exact_near_duplicates_and_short_texts_are_found():
    texts = [
        "I can't believe they cancelled the show after one season.",
        "i can't believe they cancelled the show after ONE season!!",
        "I can't believe they cancelled the whole show after one season.",
        "The weather in Lisbon was lovely this spring afternoon.",
        "Completely unrelated remark about quantum chromodynamics lectures.",
        "",
        "lol",
    ]
    groups = find_duplicates(texts, splits=["train"] * 5 + ["test", "test"])
    assert len(groups) == 1
    group = groups.iloc[0]
    assert sorted(group["rows"]) == [0, 1, 2]
    assert group["kind"] == "near"
    assert NEAR_DUPLICATE_THRESHOLD <= group["similarity"] < 1.0
    assert not group["leak"]
    exact_only = find_duplicates(texts[:3], threshold=None)
    assert exact_only.iloc[0]["kind"] == "exact" and sorted(exact_only.iloc[0]["rows"]) == [0, 1]
    assert short_texts(texts) == {"empty": [5], "short": [6]}


def test_leaks_are_groups_joining_an_evaluation_split_with_another_split():
    texts = ["so happy for you both", "So happy for you both!", "so happy for you both"] * 2
    splits = ["train", "goemotions_test", "validation", "validation", "test", "eval_test"]
    groups = find_duplicates(texts, splits=splits)
    assert len(groups) == 1 and groups.iloc[0]["leak"]
    assert not find_duplicates(texts[:2], splits=["train", "pool"]).iloc[0]["leak"]
    assert find_duplicates(texts[:2], splits=["train", "goemotions_test"]).iloc[0]["leak"]
    assert [is_eval_split(n) for n in ("test", "dev", "validation", "goemotions_test", "eval_test", "train",
                                       "contest", "pool")] == [True] * 5 + [False] * 3  # fmt: skip


@pytest.mark.slow
def test_audit_finds_planted_duplicates_and_train_test_leak(goemotions_train, goemotions_test, tmp_path):
    train = goemotions_train.select(range(1500))
    test = goemotions_test.select(range(500))
    leaked = test[10]
    copied = train[3]
    extra = from_records(
        [
            make_record(
                id="planted:leak",
                text=leaked["text"].upper(),
                labels=leaked["labels"],
                source="llm",
                label_origin="llm",
            ),
            make_record(
                id="planted:dup", text=copied["text"] + " ", labels=copied["labels"], source="goemotions"
            ),
        ]
    )
    train = datasets.concatenate_datasets([train, extra])
    report = audit(datasets.DatasetDict({"train": train}), eval_dataset=test, folds=3, progress=False)
    leak_ids = [ids for ids in report.leaks["ids"]]
    assert any({"planted:leak", leaked["id"]} <= set(ids) for ids in leak_ids)
    dup_ids = [set(ids) for ids in report.duplicates["ids"]]
    assert any({"planted:dup", copied["id"]} <= ids for ids in dup_ids)
    assert not any("planted:dup" in ids for ids in leak_ids)
    out = report.save(tmp_path / "report")
    document = json.loads((out / "audit.json").read_text())
    for key in (
        "rows",
        "issues",
        "health_score",
        "per_label",
        "duplicates",
        "leaks",
        "per_source",
        "coverage",
    ):
        assert key in document
    assert document["rows"] == len(train)
    assert document["coverage"]["splits"] == {"train": len(train)}
    assert document["coverage"]["eval_sets"] == {"eval": len(test)}
    assert document["coverage"]["duplicates"]["rows"] == len(train) + len(test)
    assert set(document["issues"]) <= set(train["id"])
    assert set(document["per_label"]) == set(GOEMOTIONS.names)
    assert document["duplicates"]["leak_groups"] >= 1
    origins = {(r["by"], r["value"]) for r in document["per_source"]}
    assert {("label_origin", "llm"), ("label_origin", "human"), ("split", "train")} <= origins
    markdown = (out / "audit.md").read_text()
    assert markdown.startswith("# Dataset audit\n\nWe audited 1,502 rows")
    assert "checked against eval 500 rows of evaluation data" in markdown
    for name in (
        "label_counts.png",
        "issue_rate_per_label.png",
        "issue_rate_per_source.png",
        "cooccurrence.png",
    ):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_cli_writes_report_for_tsv_and_eval(goemotions_dir, tmp_path):
    from goemobalance.cli import main

    train_lines = (goemotions_dir / "train.tsv").read_text(encoding="utf-8").splitlines()[:800]
    test_lines = (goemotions_dir / "test.tsv").read_text(encoding="utf-8").splitlines()[:200]
    leaked_text, leaked_labels, _ = test_lines[0].split("\t")
    (tmp_path / "train.tsv").write_text(
        "\n".join(train_lines + [f"{leaked_text}\t{leaked_labels}\tplantedleak"]) + "\n", encoding="utf-8"
    )
    (tmp_path / "test.tsv").write_text("\n".join(test_lines) + "\n", encoding="utf-8")
    code = main(["audit", str(tmp_path / "train.tsv"), "--eval", str(tmp_path / "test.tsv"), "--out",
                 str(tmp_path / "out"), "--folds", "3", "--max-flag-fraction", "0.05"])  # fmt: skip
    assert code == 0
    document = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert document["rows"] == 801
    assert document["coverage"]["eval_sets"] == {"eval_test": 200}
    assert 0 < len(document["issues"]) <= 0.05 * 801 + 1
    assert 0.0 <= document["health_score"] <= 1.0
    assert any("goemotions:plantedleak" in group["ids"] for group in document["leaks"])
    assert main(["audit", str(tmp_path / "missing.tsv"), "--out", str(tmp_path / "x")]) == 2


def published_splits_with_a_leak():
    """train/validation/test from the packaged GoEmotions, and a validation row that copies a train text."""
    rows = load_goemotions(packaged_file("goemotions/train"), split="train").select(range(400))
    train, validation, test = (
        rows.select(range(300)),
        rows.select(range(300, 350)),
        rows.select(range(350, 400)),
    )
    copied = train[5]
    planted = from_records(
        [
            make_record(
                id="planted:leak",
                text=copied["text"].upper() + "!!",
                labels=copied["labels"],
                source="goemotions",
            )
        ]
    )
    validation = datasets.concatenate_datasets([validation, planted.cast(validation.features)])
    return datasets.DatasetDict({"train": train, "validation": validation, "test": test}), copied["id"]


@pytest.mark.parametrize("layout", ["hub", "save_to_disk"])
def test_audit_of_a_dataset_dict_folder_covers_every_split_and_finds_a_train_validation_leak(
    layout, tmp_path
):
    from goemobalance.cli import main
    from goemobalance.publish.hub import save

    splits, copied_id = published_splits_with_a_leak()
    folder = tmp_path / "published"
    if layout == "hub":
        save(splits, folder, plots=False)
    else:
        splits.save_to_disk(str(folder))
    assert main(["audit", str(folder), "--out", str(tmp_path / "out"), "--folds", "2"]) == 0
    document = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert document["coverage"]["splits"] == {"train": 300, "validation": 51, "test": 50}
    assert document["rows"] == 401
    assert sum(document["coverage"]["label_audit"]["splits"].values()) == 401
    planted = [group for group in document["leaks"] if "planted:leak" in group["ids"]]
    assert len(planted) == 1 and copied_id in planted[0]["ids"]
    assert planted[0]["splits"] == ["train", "validation"]
    assert {r["value"] for r in document["per_source"] if r["by"] == "split"} == {
        "train",
        "validation",
        "test",
    }
    assert "train 300, validation 51, test 50" in (tmp_path / "out" / "audit.md").read_text()

    only = load_splits(folder, ["validation", "test"])
    assert list(only) == ["validation", "test"] and len(only["validation"]) == 51
    with pytest.raises(InputError, match="no split 'holdout'"):
        load_splits(folder, ["holdout"])


def test_audit_command_registers_without_importing_cleanlab_scikit_learn_or_matplotlib():
    code = (
        "import argparse, sys; from goemobalance.commands import audit; "
        "audit.register(argparse.ArgumentParser().add_subparsers()); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'cleanlab', 'sklearn', 'matplotlib', 'scipy'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert result.stdout.strip() == "[]"


def test_report_plots_draw_without_switching_the_global_backend(monkeypatch, tmp_path):
    import matplotlib

    def refuse(*args, **kwargs):
        raise AssertionError("matplotlib.use called: the audit must not switch the global backend")

    monkeypatch.setattr(matplotlib, "use", refuse)
    names = ["joy", "anger"]
    report = AuditReport(
        settings={}, rows=2, splits={"train": 2}, label_names=names, health_score=1.0, issues=pd.DataFrame(),
        per_label=pd.DataFrame({"label": names, "count": [2, 1], "issue_rate": [0.5, 0.0]}),
        per_source=pd.DataFrame({"by": ["split"], "value": ["train"], "issue_rate": [0.25]}),
        common_issues=pd.DataFrame(), duplicates=pd.DataFrame(), texts={"empty": [], "short": []},
        cooccurrence=np.array([[2, 1], [1, 1]]),
    )  # fmt: skip
    written = report.plot(tmp_path)
    assert [p.name for p in written] == list(PLOTS)
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in written)


def test_cross_fitted_calibration_handles_rare_labels_and_tracks_base_rates(goemotions_train):
    dataset = goemotions_train.select(range(600))
    raw = cross_val_probs(dataset, "tfidf", folds=3, seed=0, progress=False)
    calibrated = {}
    for method in ("sigmoid", "isotonic"):
        calibrated[method] = cross_val_probs(
            dataset, "tfidf", folds=3, seed=0, calibration=method, progress=False
        )
        assert calibrated[method].shape == raw.shape
        assert calibrated[method].min() >= 0 and calibrated[method].max() <= 1
        assert not np.allclose(calibrated[method], raw)
    y = multi_hot(dataset)
    neutral = GOEMOTIONS.id("neutral")
    isotonic = calibrated["isotonic"]
    assert (
        abs(isotonic[:, neutral].mean() - y[:, neutral].mean())
        < abs(raw[:, neutral].mean() - y[:, neutral].mean()) + 0.02
    )
    with pytest.raises(ValueError, match="calibration"):
        cross_val_probs(dataset, "tfidf", calibration="temperature", progress=False)


def test_plant_label_noise_changes_exactly_the_planted_rows_and_metrics_count_hits():
    from goemobalance.audit import detection_metrics, plant_label_noise

    labels = [[i % 28] if i % 4 else [i % 28, (i + 5) % 28] for i in range(1000)]
    planted = plant_label_noise(labels, 28, rate=0.05, seed=3)
    assert len(planted.rows) == 50
    changed = {i for i, (a, b) in enumerate(zip(labels, planted.labels)) if sorted(a) != b}
    assert changed == set(planted.rows.tolist())
    for row, kind in zip(planted.rows, planted.kinds):
        before, after = set(labels[row]), set(planted.labels[row])
        assert {"add": len(after) == len(before) + 1, "drop": len(after) == len(before) - 1,
                "swap": len(after) == len(before)}[kind]  # fmt: skip
        assert kind != "drop" or len(before) >= 2
    assert plant_label_noise(labels, 28, rate=0.05, seed=3).labels == planted.labels
    ranking = np.concatenate([planted.rows[:25], np.setdiff1d(np.arange(1000), planted.rows[:25])])
    metrics = detection_metrics(planted.rows[:40], ranking, planted.rows, 1000)
    assert metrics["recall"] == pytest.approx(0.8)
    assert metrics["precision"] == 1.0
    assert metrics["precision_at_k"] == pytest.approx(0.5)
    assert metrics["flagged_fraction"] == pytest.approx(0.04)
