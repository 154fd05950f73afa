"""The evaluation harness: the test split stays untouched, leaks are checked against validation and test,
seeds and bootstrap CIs are computed right, equal compute, the proxy model, and split-aware CLI flags.

Uses the GoEmotions copy shipped in the package (no skip without ../shared/data); tiny models, few
hundred rows.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.metrics import f1_score

from goemobalance.cli import main
from goemobalance.commands.train import load_split
from goemobalance.errors import InputError, LeakError
from goemobalance.schema import multi_hot
from goemobalance.train.compare import SCORED_ON_CROSS_FIT, compare, cross_fit_compare, screening_split
from goemobalance.train.config import EmbeddingConfig, ProxyConfig, TrainConfig
from goemobalance.train.loop import TrainedModel, fit
from goemobalance.train.model import HybridConfig
from goemobalance.train.stats import paired_bootstrap, resampled_label_f1, seed_summary


def tiny_hybrid(**changes) -> TrainConfig:
    base = {
        "epochs": 2,
        "batch_size": 32,
        "lr": 4e-3,
        "patience": 5,
        "progress": False,
        "num_threads": 1,
        "hybrid": HybridConfig(kernel_sizes=(2, 3), conv_channels=8, lstm_hidden=8, attention_dim=8),
        "embeddings": EmbeddingConfig(source="fasttext-train", fasttext_dim=8, fasttext_epochs=1),
    }
    base.update(changes)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def packaged():
    train = load_split("packaged", "train").shuffle(seed=3)
    return {
        "imbalanced": train.select(range(300)),
        "balanced": train.select(range(300, 450)),
        "val": load_split("packaged", "validation").select(range(200)),
        "test": load_split("packaged", "test").select(range(250)),
    }


def poisoned(test: datasets.Dataset) -> datasets.Dataset:
    """The same test rows with every label id shifted by one (27 -> 0): any use of test labels shows."""
    return test.map(lambda row: {"labels": [(label + 1) % 28 for label in row["labels"]]})


def _saved_state(folder):
    return torch.load(folder / "model.pt", map_location="cpu", weights_only=True)


# ------------------------------------------------------------------ the test split stays untouched


def test_poisoned_test_labels_leave_thresholds_best_epoch_and_saved_models_unchanged(packaged, tmp_path):
    config = tiny_hybrid(epochs=3)
    honest, bad = packaged["test"], poisoned(packaged["test"])
    assert not np.array_equal(multi_hot(honest), multi_hot(bad))
    results = {}
    for name, test in (("honest", honest), ("poisoned", bad)):
        results[name] = compare(
            packaged["balanced"],
            packaged["imbalanced"],
            test,
            packaged["val"],
            config,
            tmp_path / name,
            n_bootstrap=0,
            save_models=True,
        )
    for side in ("imbalanced", "balanced"):
        honest_run, bad_run = results["honest"]["runs"][side][0], results["poisoned"]["runs"][side][0]
        assert honest_run["thresholds"] == bad_run["thresholds"]
        assert honest_run["best_epoch"] == bad_run["best_epoch"]
        assert [h["macro_f1_tuned"] for h in honest_run["history"]] == [
            h["macro_f1_tuned"] for h in bad_run["history"]
        ]
        honest_state = _saved_state(tmp_path / "honest" / side / "seed_13" / "model")
        bad_state = _saved_state(tmp_path / "poisoned" / side / "seed_13" / "model")
        assert all(torch.equal(honest_state[k], bad_state[k]) for k in honest_state)
    honest_f1 = results["honest"]["summary"]["f1_macro"]["imbalanced"]
    assert honest_f1 != results["poisoned"]["summary"]["f1_macro"]["imbalanced"]


def test_proxy_thresholds_come_from_validation_not_test(packaged, tmp_path):
    config = TrainConfig(model="proxy")
    runs = [
        compare(
            packaged["balanced"],
            packaged["imbalanced"],
            test,
            packaged["val"],
            config,
            tmp_path / str(i),
            n_bootstrap=0,
        )["runs"]
        for i, test in enumerate((packaged["test"], poisoned(packaged["test"])))
    ]
    assert runs[0]["balanced"][0]["thresholds"] == runs[1]["balanced"][0]["thresholds"]
    model = fit(packaged["balanced"], packaged["val"], config)
    assert runs[0]["balanced"][0]["thresholds"] == model.thresholds.to_dict()["per_label"]


def test_validation_sharing_rows_with_test_is_refused(packaged, tmp_path):
    with pytest.raises(InputError, match="validation and test data share 250 row id"):
        compare(
            packaged["balanced"],
            packaged["imbalanced"],
            packaged["test"],
            packaged["test"],
            TrainConfig(model="proxy"),
            tmp_path,
        )


# ------------------------------------------------------------------ leak check covers validation too


def _with_copies(train: datasets.Dataset, source: datasets.Dataset, rows: list[int]) -> datasets.Dataset:
    """`train` plus copies of some `source` rows (new ids, same text and comment id)."""
    copies = source.select(rows).map(lambda row: {"id": row["id"] + "#copy"})
    return datasets.concatenate_datasets([train, copies.cast(train.features)])


def test_leak_check_removes_rows_found_in_the_validation_or_the_test_data(packaged, tmp_path):
    leaky = _with_copies(packaged["imbalanced"], packaged["val"], [0, 5])
    leaky = _with_copies(leaky, packaged["test"], [9])
    result = compare(
        packaged["balanced"],
        leaky,
        packaged["test"],
        packaged["val"],
        TrainConfig(model="proxy"),
        tmp_path,
        n_bootstrap=0,
    )
    assert result["leaks"]["imbalanced"]["leaking_rows"] == 3
    assert result["runs"]["imbalanced"][0]["train_rows_after_leak_check"] == len(leaky) - 3
    with pytest.raises(LeakError, match="3 of 303 rows"):
        compare(
            packaged["balanced"],
            leaky,
            packaged["test"],
            packaged["val"],
            TrainConfig(model="proxy"),
            tmp_path,
            on_leak="error",
        )


def test_train_command_leak_check_covers_validation_and_exits_3(packaged, tmp_path, capsys):
    leaky = _with_copies(packaged["imbalanced"], packaged["val"], [1, 2])
    leaky.save_to_disk(tmp_path / "leaky")
    packaged["val"].save_to_disk(tmp_path / "val")
    args = ["train", str(tmp_path / "leaky"), "--model", "proxy", "--val", str(tmp_path / "val")]
    assert main([*args, "--test", "none", "--out", str(tmp_path / "t")]) == 0
    assert json.loads(capsys.readouterr().out)["leaking_rows_removed"] == 2
    assert main([*args, "--test", "none", "--out", str(tmp_path / "u"), "--on-leak", "error"]) == 3
    assert "2 of 302 rows overlap" in capsys.readouterr().err


# ------------------------------------------------------------------ seeds and bootstrap arithmetic


def test_seed_summary_matches_the_statistics_module():
    first, second = [0.41, 0.44, 0.40], [0.45, 0.43, 0.47]
    summary = seed_summary(first, second)
    deltas = [b - a for a, b in zip(first, second)]
    assert summary["deltas"] == pytest.approx(deltas)
    assert summary["delta"] == pytest.approx(statistics.mean(deltas))
    assert summary["delta_std"] == pytest.approx(statistics.stdev(deltas))
    assert summary["first_std"] == pytest.approx(statistics.stdev(first))
    assert seed_summary([0.5], [0.6])["delta_std"] is None


def _noisy_predictions(y, keep, rng):
    flip = rng.random(y.shape) > keep
    return np.where(flip, 1 - y, y) & (rng.random(y.shape) < 0.6)


def test_resampled_label_f1_matches_sklearn_on_each_resample():
    rng = np.random.default_rng(1)
    y = (rng.random((300, 6)) < 0.1).astype(int)
    pred = _noisy_predictions(y, 0.8, rng)
    indices = rng.integers(0, 300, size=(5, 300))
    ours = resampled_label_f1(y, pred, indices)
    for row, idx in enumerate(indices):
        expected = f1_score(y[idx], pred[idx], average=None, zero_division=0)
        assert np.allclose(ours[row], expected, atol=1e-12)


def test_paired_bootstrap_matches_a_naive_sklearn_bootstrap():
    rng = np.random.default_rng(2)
    y = (rng.random((200, 5)) < 0.15).astype(int)
    first = [_noisy_predictions(y, 0.80, rng) for _ in range(2)]
    second = [_noisy_predictions(y, 0.85, rng) for _ in range(2)]
    rare = [3, 4]
    ours = paired_bootstrap(y, first, second, {"macro": range(5), "rare": rare}, n_resamples=100, seed=7)

    def naive(idx):
        def f1(pred, labels):
            return f1_score(y[idx][:, labels], pred[idx][:, labels], average="macro", zero_division=0)

        every = list(range(5))
        return [
            np.mean([f1(b, every) - f1(a, every) for a, b in zip(first, second)]),
            np.mean([f1(b, rare) - f1(a, rare) for a, b in zip(first, second)]),
            np.mean([f1(a, every) for a in first]),
            np.mean([f1(b, rare) for b in second]),
        ]

    reference = stats.bootstrap(
        (np.arange(len(y)),),
        lambda idx: np.array(naive(idx.astype(int))),
        n_resamples=100,
        batch=100,
        vectorized=False,
        method="percentile",
        rng=np.random.default_rng(7),
    )
    low, high = reference.confidence_interval
    assert ours["groups"]["macro"]["ci"] == pytest.approx([low[0], high[0]], abs=1e-12)
    assert ours["groups"]["rare"]["ci"] == pytest.approx([low[1], high[1]], abs=1e-12)
    assert ours["scores"]["first"]["macro"]["ci"] == pytest.approx([low[2], high[2]], abs=1e-12)
    assert ours["scores"]["second"]["rare"]["ci"] == pytest.approx([low[3], high[3]], abs=1e-12)
    point = naive(np.arange(len(y)))
    assert [ours["groups"]["macro"]["delta"], ours["groups"]["rare"]["delta"]] == pytest.approx(
        point[:2], abs=1e-12
    )
    alone = paired_bootstrap(y, first, None, {"macro": range(5)}, n_resamples=100, seed=7)
    assert "groups" not in alone and alone["scores"]["first"]["macro"]["value"] == pytest.approx(point[2])


def test_compare_summary_is_the_seed_mean_of_per_run_reports(packaged, tmp_path):
    result = compare(
        {1: packaged["balanced"], 2: packaged["balanced"].select(range(100))},
        packaged["imbalanced"],
        packaged["test"],
        packaged["val"],
        TrainConfig(model="proxy"),
        tmp_path,
        seeds=[1, 2],
        n_bootstrap=200,
    )
    macro = result["summary"]["f1_macro"]
    reports = {
        side: [json.loads(Path(run["test_metrics"]).read_text()) for run in result["runs"][side]]
        for side in ("imbalanced", "balanced")
    }
    per_seed = {side: [r["f1_macro"] for r in reports[side]] for side in reports}
    assert macro["per_seed"]["balanced"] == per_seed["balanced"]
    assert per_seed["balanced"][0] != per_seed["balanced"][1]
    deltas = [b - a for a, b in zip(per_seed["imbalanced"], per_seed["balanced"])]
    assert macro["delta"] == pytest.approx(statistics.mean(deltas))
    assert macro["delta_std"] == pytest.approx(statistics.stdev(deltas))
    low, high = macro["ci"]
    assert low <= macro["delta"] <= high
    rare = result["rare_labels"]
    rare_means = [np.mean([r["per_label"][name]["f1"] for name in rare]) for r in reports["balanced"]]
    assert result["summary"]["rare_f1"]["balanced"] == pytest.approx(np.mean(rare_means))
    table = (tmp_path / "comparison.md").read_text()
    assert "| f1_macro |" in table and f"[{low:+.4f}, {high:+.4f}]" in table


# ------------------------------------------------------------------ equal compute


def test_equal_steps_gives_both_sets_the_same_optimizer_steps(packaged, tmp_path):
    config = tiny_hybrid(epochs=2, batch_size=32)
    result = compare(
        packaged["balanced"],
        packaged["imbalanced"],
        packaged["test"],
        packaged["val"],
        config,
        tmp_path,
        equal_steps=True,
        n_bootstrap=0,
    )
    imbalanced, balanced = result["runs"]["imbalanced"][0], result["runs"]["balanced"][0]
    expected = 2 * -(-imbalanced["train_rows_after_leak_check"] // 32)
    assert imbalanced["steps"] == balanced["steps"] == expected
    assert len(imbalanced["history"]) == 2 and len(balanced["history"]) > 2
    plain = compare(
        packaged["balanced"],
        packaged["imbalanced"],
        packaged["test"],
        packaged["val"],
        config,
        tmp_path / "plain",
        n_bootstrap=0,
        reuse=[tmp_path],
    )
    assert plain["runs"]["imbalanced"][0]["reused"] and not plain["runs"]["balanced"][0]["reused"]


def test_equal_steps_caps_a_larger_balanced_set_at_the_imbalanced_budget(packaged, tmp_path):
    """A balanced set larger than the imbalanced one gets no extra updates, and the imbalanced run is the
    plain run (reused from a comparison without equal steps)."""
    config = tiny_hybrid(epochs=1, batch_size=32)
    larger, smaller = packaged["imbalanced"], packaged["balanced"]
    args = (larger, smaller, packaged["test"], packaged["val"], config)
    plain = compare(*args, tmp_path / "plain", n_bootstrap=0)
    equal = compare(*args, tmp_path / "equal", equal_steps=True, n_bootstrap=0, reuse=[tmp_path / "plain"])
    imbalanced, balanced = equal["runs"]["imbalanced"][0], equal["runs"]["balanced"][0]
    assert imbalanced["reused"] and not balanced["reused"]
    assert balanced["steps"] == imbalanced["steps"] == -(-imbalanced["train_rows_after_leak_check"] // 32)
    assert plain["runs"]["balanced"][0]["steps"] > balanced["steps"]


# ------------------------------------------------------------------ the proxy model


def test_proxy_fits_saves_loads_and_weights_change_it(packaged, tmp_path):
    train, val = packaged["imbalanced"], packaged["val"]
    model = fit(train, val, TrainConfig(model="proxy"))
    assert model.kind == "proxy" and model.history == []
    probabilities = model.predict_proba(val["text"][:20])
    assert probabilities.shape == (20, 28) and probabilities.dtype == np.float32
    model.save(tmp_path / "m")
    loaded = TrainedModel.load(tmp_path / "m")
    assert np.array_equal(loaded.predict_proba(val["text"][:20]), probabilities)
    weighted = fit(train, val, TrainConfig(model="proxy", sample_weighting="inverse"))
    balanced = fit(train, val, TrainConfig(model="proxy", proxy=ProxyConfig(class_weight="balanced")))
    for other in (weighted, balanced):
        assert not np.allclose(other.predict_proba(val["text"][:20]), probabilities)


def test_hybrid_sample_weights_are_used_and_normalized(packaged):
    train, val = packaged["imbalanced"].select(range(120)), packaged["val"].select(range(60))
    config = tiny_hybrid(epochs=1)
    plain = fit(train, val, config)
    weighted = fit(train, val, config.replace(sample_weighting="inverse"))
    assert plain.history[0]["train_loss"] != weighted.history[0]["train_loss"]
    one_label = train.map(lambda row: {"labels": [27]})
    plain_one = fit(one_label, val, config)
    weighted_one = fit(one_label, val, config.replace(sample_weighting="effective"))
    state, other = plain_one.model.state_dict(), weighted_one.model.state_dict()
    assert all(torch.equal(state[k], other[k]) for k in state)


# ------------------------------------------------------------------ split-aware CLI, packaged defaults


def _split_folder(packaged, tmp_path):
    """A train/validation/test folder of GoEmotions TSVs (train 300, dev 200, test 250 rows)."""
    folder = tmp_path / "splits"
    folder.mkdir()
    for split, key in (("train", "imbalanced"), ("dev", "val"), ("test", "test")):
        rows = packaged[key]
        lines = [
            f"{text}\t{','.join(map(str, labels))}\t{json.loads(meta)['comment_id']}\n"
            for text, labels, meta in zip(rows["text"], rows["labels"], rows["meta"])
        ]
        (folder / f"{split}.tsv").write_text("".join(lines), encoding="utf-8")
    return folder


def test_train_val_and_test_flags_use_the_folder_s_own_splits(packaged, tmp_path, capsys):
    folder = _split_folder(packaged, tmp_path)
    packaged["balanced"].save_to_disk(tmp_path / "bal")
    code = main(
        ["train", str(tmp_path / "bal"), "--model", "proxy", "--val", str(folder), "--test", str(folder)]
        + ["--out", str(tmp_path / "t")]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["val_rows"] == 200 and summary["train_rows"] == 150
    assert json.loads((tmp_path / "t/test_metrics.json").read_text())["n_rows"] == 250
    out = tmp_path / "c"
    code = main(
        ["compare", "--balanced", str(tmp_path / "bal"), "--imbalanced", str(folder), "--test", str(folder)]
        + ["--model", "proxy", "--bootstrap", "50", "--out", str(out)]
    )
    assert code == 0
    result = json.loads((out / "comparison.json").read_text())
    assert result["runs"]["imbalanced"][0]["train_rows"] == 300
    assert result["runs"]["balanced"][0]["val_rows"] == 200
    assert result["per_label"][0]["test_support"] == int(multi_hot(packaged["test"])[:, 0].sum())


def test_packaged_goemotions_is_the_default_validation_and_test_data(packaged, tmp_path, capsys):
    packaged["balanced"].save_to_disk(tmp_path / "bal")
    assert main(["train", str(tmp_path / "bal"), "--model", "proxy", "--out", str(tmp_path / "t")]) == 0
    assert json.loads(capsys.readouterr().out)["val_rows"] == 5426
    assert json.loads((tmp_path / "t/test_metrics.json").read_text())["n_rows"] == 5427


def test_compare_seed_template_loads_one_training_set_per_seed(packaged, tmp_path):
    for seed, rows in ((1, range(100)), (2, range(50, 150))):
        packaged["balanced"].select(rows).save_to_disk(tmp_path / f"bal_{seed}")
    packaged["imbalanced"].save_to_disk(tmp_path / "imb")
    packaged["val"].save_to_disk(tmp_path / "val")
    code = main(
        ["compare", "--balanced", str(tmp_path / "bal_{seed}"), "--imbalanced", str(tmp_path / "imb")]
        + ["--val", str(tmp_path / "val"), "--seeds", "1", "2", "--model", "proxy", "--bootstrap", "0"]
        + ["--out", str(tmp_path / "c")]
    )
    assert code == 0
    result = json.loads((tmp_path / "c/comparison.json").read_text())
    assert [run["seed"] for run in result["runs"]["balanced"]] == [1, 2]
    assert len(result["summary"]["f1_macro"]["per_seed"]["delta"]) == 2


def test_screening_split_halves_the_validation_split_label_by_label():
    dev = load_split("packaged", "validation")
    tune, score = screening_split(dev)
    tune_ids, score_ids = set(tune["id"][:]), set(score["id"][:])
    assert not tune_ids & score_ids and tune_ids | score_ids == set(dev["id"][:])
    assert abs(len(tune) - len(score)) <= 1
    assert np.abs(multi_hot(tune).sum(axis=0) - multi_hot(score).sum(axis=0)).max() <= 1
    assert screening_split(dev)[1]["id"][:] == score["id"][:]
    with pytest.raises(InputError, match="needs 2 rows or more, got 1"):
        screening_split(dev.select(range(1)))


def test_compare_screen_scores_half_the_validation_split_and_never_loads_the_test_split(packaged, tmp_path):
    packaged["balanced"].save_to_disk(tmp_path / "bal")
    packaged["imbalanced"].save_to_disk(tmp_path / "imb")
    packaged["val"].save_to_disk(tmp_path / "val")
    code = main(
        ["compare", "--balanced", str(tmp_path / "bal"), "--imbalanced", str(tmp_path / "imb")]
        + ["--val", str(tmp_path / "val"), "--test", str(tmp_path / "no_such_test_split"), "--screen"]
        + ["--model", "proxy", "--bootstrap", "20", "--out", str(tmp_path / "c")]
    )
    assert code == 0
    result = json.loads((tmp_path / "c/comparison.json").read_text())
    tune, score = screening_split(packaged["val"])
    assert "screen" in result["scored_on"]
    assert result["runs"]["balanced"][0]["val_rows"] == len(tune) == 100
    assert [row["test_support"] for row in result["per_label"]] == multi_hot(score).sum(axis=0).tolist()
    assert (tmp_path / "c/comparison.md").read_text().startswith("Scored on half of the validation split")


def test_screening_split_fold_1_swaps_the_halves():
    dev = load_split("packaged", "validation")
    tune, score = screening_split(dev, fold=1)
    assert (tune["id"][:], score["id"][:]) == tuple(h["id"][:] for h in reversed(screening_split(dev)))
    with pytest.raises(ValueError, match="fold must be 0 or 1"):
        screening_split(dev, fold=2)


def _fold_predictions(run_folder: Path) -> np.ndarray:
    """A finished run's 0/1 predictions: its saved probabilities under its own tuned thresholds."""
    thresholds = json.loads((run_folder / "run.json").read_text())["info"]["thresholds"]
    return (np.load(run_folder / "test_probabilities.npy") >= np.asarray(thresholds)).astype(int)


def test_cross_fit_scores_every_validation_row_with_the_fold_that_did_not_tune_on_it(packaged, tmp_path):
    val, config = packaged["val"], TrainConfig(model="proxy")
    sets = {"balanced": packaged["balanced"], "imbalanced": packaged["imbalanced"]}
    result = cross_fit_compare(*sets.values(), val, config, tmp_path / "x", seeds=[0], n_bootstrap=20)
    assert result["scored_on"] == SCORED_ON_CROSS_FIT
    assert [row["test_support"] for row in result["per_label"]] == multi_hot(val).sum(axis=0).tolist()
    assert [run["train_rows_after_leak_check"] for run in result["runs"]["balanced"]] == [150]
    halves = [screening_split(val, fold=fold) for fold in (0, 1)]
    y_pooled = np.vstack([multi_hot(score) for _, score in halves])
    for side, train in sets.items():
        pooled = np.vstack([_fold_predictions(tmp_path / f"x/fold_{k}/{side}/seed_0") for k in (0, 1)])
        expected = f1_score(y_pooled, pooled, average="macro", zero_division=0)
        assert result["summary"]["f1_macro"][side] == pytest.approx(expected)
        for fold, (tune, _) in enumerate(halves):
            info = json.loads((tmp_path / f"x/fold_{fold}/{side}/seed_0/run.json").read_text())["info"]
            refit = fit(train, tune, config.replace(seed=0))
            assert info["val_rows"] == len(tune) and info["thresholds"] == refit.thresholds.per_label.tolist()
    fold0 = json.loads((tmp_path / "x/fold_0/comparison.json").read_text())
    alone = compare(*sets.values(), halves[0][1], halves[0][0], config, tmp_path / "alone", n_bootstrap=20)
    assert (
        fold0["summary"]["f1_macro"]
        == alone["summary"]["f1_macro"]
        == result["folds"][0]["summary"]["f1_macro"]
    )


def test_compare_screen_cross_pools_both_folds_without_the_test_split(packaged, tmp_path):
    packaged["imbalanced"].save_to_disk(tmp_path / "imb")
    packaged["val"].save_to_disk(tmp_path / "val")
    code = main(
        ["compare", "--imbalanced", str(tmp_path / "imb"), "--val", str(tmp_path / "val")]
        + ["--test", str(tmp_path / "no_such_test_split"), "--screen", "cross", "--model", "proxy"]
        + ["--bootstrap", "20", "--out", str(tmp_path / "c")]
    )
    assert code == 0
    result = json.loads((tmp_path / "c/comparison.json").read_text())
    assert result["scored_on"] == SCORED_ON_CROSS_FIT and len(result["folds"]) == 2
    assert result["per_label"][0]["test_support"] == multi_hot(packaged["val"]).sum(axis=0)[0]
    assert (tmp_path / "c/fold_1/comparison.md").is_file()
    markdown = (tmp_path / "c/comparison.md").read_text()
    assert markdown.startswith(f"Scored on {SCORED_ON_CROSS_FIT}")
    fold1 = result["folds"][1]["summary"]["f1_macro"]["imbalanced"]
    assert f"fold_1 macro-F1 {fold1:.4f}" in markdown.splitlines()[2]


def test_compare_screen_of_a_one_row_validation_split_fails_in_one_line(packaged, tmp_path, capsys):
    packaged["imbalanced"].save_to_disk(tmp_path / "imb")
    packaged["val"].select(range(1)).save_to_disk(tmp_path / "val1")
    capsys.readouterr()
    code = main(
        ["compare", "--imbalanced", str(tmp_path / "imb"), "--val", str(tmp_path / "val1"), "--screen"]
        + ["--model", "proxy", "--out", str(tmp_path / "c")]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert str(tmp_path / "val1") in err[0] and "needs 2 rows or more, got 1" in err[0]
    assert not (tmp_path / "c" / "comparison.json").exists()


# ------------------------------------------------------------------ baseline only, resume and reuse


def test_baseline_only_reports_scores_with_cis_and_no_deltas(packaged, tmp_path):
    result = compare(
        None,
        packaged["imbalanced"],
        packaged["test"],
        packaged["val"],
        TrainConfig(model="proxy"),
        tmp_path,
        n_bootstrap=100,
    )
    macro = result["summary"]["f1_macro"]
    assert "balanced" not in macro and "delta" not in macro
    low, high = macro["imbalanced_ci"]
    assert low < macro["imbalanced"] < high
    assert list(result["runs"]) == ["imbalanced"]
    table = (tmp_path / "comparison.md").read_text()
    assert "| metric | imbalanced | per-seed values |" in table and f"[{low:.4f}, {high:.4f}]" in table


def test_finished_runs_are_reused_by_key_and_changed_settings_retrain(packaged, tmp_path):
    def run(out, config, reuse=()):
        return compare(
            packaged["balanced"],
            packaged["imbalanced"],
            packaged["test"],
            packaged["val"],
            config,
            tmp_path / out,
            n_bootstrap=0,
            reuse=reuse,
        )

    first = run("a", TrainConfig(model="proxy"))
    again = run("a", TrainConfig(model="proxy"))
    assert [r["reused"] for r in again["runs"]["balanced"]] == [True]
    assert again["summary"] == first["summary"]
    elsewhere = run("b", TrainConfig(model="proxy"), reuse=[tmp_path / "a"])
    assert (
        elsewhere["runs"]["imbalanced"][0]["reused"]
        and (tmp_path / "b/imbalanced/seed_13/run.json").is_file()
    )
    changed = run("c", TrainConfig(model="proxy", proxy=ProxyConfig(C=1.0)), reuse=[tmp_path / "a"])
    assert not changed["runs"]["imbalanced"][0]["reused"]
    other_data = compare(
        packaged["balanced"].select(range(100)),
        packaged["imbalanced"],
        packaged["test"],
        packaged["val"],
        TrainConfig(model="proxy"),
        tmp_path / "d",
        n_bootstrap=0,
        reuse=[tmp_path / "a"],
    )
    assert [other_data["runs"][s][0]["reused"] for s in ("imbalanced", "balanced")] == [True, False]


def test_balanced_config_changes_only_the_balanced_side(packaged, tmp_path):
    same_data = packaged["imbalanced"]
    config = TrainConfig(model="proxy")
    plain = compare(
        same_data, same_data, packaged["test"], packaged["val"], config, tmp_path / "p", n_bootstrap=0
    )
    assert plain["summary"]["f1_macro"]["delta"] == 0.0
    weighted = compare(
        same_data,
        same_data,
        packaged["test"],
        packaged["val"],
        config,
        tmp_path / "w",
        n_bootstrap=0,
        balanced_config=config.replace(sample_weighting="inverse"),
    )
    assert weighted["balanced_config"]["sample_weighting"] == "inverse"
    assert weighted["summary"]["f1_macro"]["imbalanced"] == plain["summary"]["f1_macro"]["imbalanced"]
    assert weighted["summary"]["f1_macro"]["delta"] != 0.0
