"""Training on real GoEmotions rows: learning, resume, save/load, transformer baseline, leak checks, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch

from goemobalance.cli import main
from goemobalance.errors import InputError
from goemobalance.schema import from_records, make_record, multi_hot
from goemobalance.train.compare import LeakError, check_untouched_test, find_leaks, remove_leaks
from goemobalance.train.config import EmbeddingConfig, TrainConfig, TransformerConfig
from goemobalance.train.loop import TrainedModel, fit
from goemobalance.train.metrics import multilabel_report
from goemobalance.train.model import HybridConfig
from goemobalance.train.thresholds import Thresholds

TINY_HYBRID = HybridConfig(
    kernel_sizes=(2, 3), conv_channels=24, lstm_hidden=24, attention_dim=16, max_len=30
)


def tiny_config(**changes) -> TrainConfig:
    base = {
        "epochs": 3,
        "batch_size": 32,
        "lr": 4e-3,
        "patience": 5,
        "progress": False,
        "num_threads": 1,
        "hybrid": TINY_HYBRID,
        "embeddings": EmbeddingConfig(source="fasttext-train", fasttext_dim=24, fasttext_epochs=3),
    }
    base.update(changes)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def small_splits(goemotions_train, goemotions_test):
    shuffled = goemotions_train.shuffle(seed=0)
    return (
        shuffled.select(range(2000)),
        shuffled.select(range(3000, 3800)),
        goemotions_test.select(range(1500)),
    )


@pytest.mark.slow
def test_hybrid_trains_on_real_subset_and_beats_constant_predictor(small_splits, tmp_path):
    train, val, held_out = small_splits
    model = fit(train, val, tiny_config(embeddings=EmbeddingConfig(source="glove-kumo")))
    report = model.evaluate(held_out)
    y_train, y_test = multi_hot(train), multi_hot(held_out)
    prior = np.tile(y_train.mean(axis=0), (len(held_out), 1))
    most_frequent = Thresholds(np.where(np.arange(28) == y_train.sum(axis=0).argmax(), 0.0, 1.1))
    constant = multilabel_report(y_test, prior, model.label_names, most_frequent)
    assert report["f1_macro"] > constant["f1_macro"] + 0.05
    assert report["roc_auc_macro"] > 0.6
    assert model.history[-1]["train_loss"] < model.history[0]["train_loss"]
    assert model.info["embedding_source"] == "glove-kumo" and model.info["embedding_coverage"] > 0.8
    model.save(tmp_path / "m")
    loaded = TrainedModel.load(tmp_path / "m")
    texts = held_out["text"][:50]
    assert np.allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)
    assert np.array_equal(loaded.thresholds.per_label, model.thresholds.per_label)


@pytest.mark.slow
def test_resume_from_checkpoint_matches_uninterrupted_run(small_splits, tmp_path):
    train, val, _ = small_splits
    train, val = train.select(range(600)), val.select(range(200))
    config = tiny_config(epochs=3)
    full = fit(train, val, config, checkpoint_dir=tmp_path / "full")
    first = fit(train, val, config, checkpoint_dir=tmp_path / "split", stop_after_epoch=1)
    assert len(first.history) == 1
    resumed = fit(train, val, config, checkpoint_dir=tmp_path / "split", resume=True)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]
    full_state, resumed_state = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(full_state[k], resumed_state[k]) for k in full_state)
    assert np.array_equal(full.thresholds.per_label, resumed.thresholds.per_label)


@pytest.mark.slow
def test_bf16_autocast_on_cpu_and_focal_loss_train(small_splits):
    train, val, _ = small_splits
    model = fit(
        train.select(range(300)),
        val.select(range(100)),
        tiny_config(epochs=1, amp="bf16", loss="focal", pos_weight="balanced"),
    )
    probabilities = model.predict_proba(val["text"][:20])
    assert model.info["amp"] == "torch.bfloat16"
    assert probabilities.dtype == np.float32 and np.isfinite(probabilities).all()


def _tiny_transformer_dir(tmp_path):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from goemobalance.label.models import default_encoder_path

    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(tmp_path / "tiny")
    AutoTokenizer.from_pretrained(default_encoder_path()).save_pretrained(tmp_path / "tiny")
    return tmp_path / "tiny"


@pytest.mark.slow
def test_transformer_baseline_from_tiny_config_trains_saves_and_loads(small_splits, tmp_path):
    train, val, _ = small_splits
    config = tiny_config(
        model="transformer",
        epochs=2,
        lr=1e-3,
        batch_size=32,
        transformer=TransformerConfig(model_name=str(_tiny_transformer_dir(tmp_path)), max_length=32),
    )
    model = fit(train.select(range(400)), val.select(range(200)), config)
    assert model.kind == "transformer" and len(model.history) == 2
    report = model.evaluate(val.select(range(200)))
    assert set(report["per_label"]) == set(model.label_names)
    model.save(tmp_path / "saved")
    loaded = TrainedModel.load(tmp_path / "saved")
    texts = val["text"][:16]
    assert np.allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-5)


@pytest.mark.slow
def test_transformer_baseline_fine_tunes_real_minilm_encoder(small_splits):
    from transformers import AutoModel

    from goemobalance.label.models import default_encoder_path

    train, val, _ = small_splits
    config = tiny_config(
        model="transformer",
        epochs=1,
        lr=5e-4,
        batch_size=32,
        warmup_ratio=0.0,
        transformer=TransformerConfig(model_name=str(default_encoder_path()), max_length=16),
    )
    model = fit(train.select(range(160)), val.select(range(64)), config)
    pretrained = AutoModel.from_pretrained(default_encoder_path())
    query = "encoder.layer.0.attention.self.query.weight"
    tuned_query = model.model.hf.bert.get_parameter(query)
    assert tuned_query.shape == (384, 384) and not torch.equal(tuned_query, pretrained.get_parameter(query))
    untrained_val_loss = float(np.log(2))  # a fresh head outputs ~0.5 for every label
    assert model.history[0]["val_loss"] < untrained_val_loss - 0.1


def _records(texts_ids):
    return [
        make_record(id=f"x:{cid}", text=t, labels=[1], source="goemotions", meta={"comment_id": cid})
        for t, cid in texts_ids
    ]


def test_leak_check_finds_text_and_comment_id_overlap_and_drops_or_raises(goemotions_test):
    test = goemotions_test.select(range(50))
    leak_text = "  " + test["text"][3].upper() + "  "
    leak_id = json.loads(test["meta"][7])["comment_id"]
    train = from_records(
        _records(
            [
                ("a brand new sentence about kittens", "new1"),
                (leak_text, "new2"),
                ("unrelated text here", leak_id),
                ("another clean row", "new3"),
            ]
        )
    )
    report = find_leaks(train, [test])
    assert report.text_overlap == [1] and report.id_overlap == [2] and report.leaking_rows == [1, 2]
    clean, _ = remove_leaks(train, [test])
    assert clean["text"] == ["a brand new sentence about kittens", "another clean row"]
    with pytest.raises(LeakError, match="2 of 4 rows"):
        remove_leaks(train, [test], on_leak="error")


def test_fit_refuses_unlabeled_rows(goemotions_train):
    from goemobalance.schema import features

    rows = goemotions_train.select(range(5)).to_list()
    rows[2]["labels"] = []
    unlabeled = datasets.Dataset.from_list(rows, features=features())
    with pytest.raises(InputError, match="row 3 .* has no labels"):
        fit(unlabeled, goemotions_train.select(range(5)), tiny_config(epochs=1))


def test_evaluation_must_be_untouched_goemotions(goemotions_test):
    check_untouched_test(goemotions_test.select(range(20)))
    pseudo = from_records(
        [make_record(id="s140:1", text="so happy", labels=[17], source="sentiment140", label_origin="pseudo")]
    )
    with pytest.raises(ValueError, match="untouched GoEmotions test"):
        check_untouched_test(pseudo)


@pytest.mark.slow
def test_train_and_compare_commands_write_models_metrics_and_delta_table(
    goemotions_train, goemotions_dir, tmp_path
):
    config = tmp_path / "tiny.yaml"
    config.write_text(
        "epochs: 1\nbatch_size: 32\nlr: 0.004\nnum_threads: 1\nprogress: false\n"
        "hybrid: {kernel_sizes: [2, 3], conv_channels: 16, lstm_hidden: 16, attention_dim: 16}\n"
        "embeddings: {source: fasttext-train, fasttext_dim: 16, fasttext_epochs: 1}\n"
    )
    shuffled = goemotions_train.shuffle(seed=1)
    imbalanced, balanced = shuffled.select(range(400)), shuffled.select(range(400, 800))
    imbalanced.save_to_disk(tmp_path / "imb")
    balanced.save_to_disk(tmp_path / "bal")
    dev = str(tmp_path / "dev.tsv")
    (tmp_path / "dev.tsv").write_text("".join((goemotions_dir / "dev.tsv").open().readlines()[:300]))
    code = main(
        [
            "train",
            str(tmp_path / "imb"),
            "--out",
            str(tmp_path / "t"),
            "--config",
            str(config),
            "--val",
            dev,
            "--test",
            dev,
        ]
    )
    assert code == 0
    assert (tmp_path / "t/model/trained.json").is_file() and (tmp_path / "t/checkpoints/last.pt").is_file()
    assert json.loads((tmp_path / "t/test_metrics.json").read_text())["n_rows"] == 300
    out = tmp_path / "cmp"
    code = main(
        [
            "compare",
            "--balanced",
            str(tmp_path / "bal"),
            "--imbalanced",
            str(tmp_path / "imb"),
            "--test",
            str(goemotions_dir),
            "--val",
            dev,
            "--out",
            str(out),
            "--config",
            str(config),
        ]
    )
    assert code == 0
    result = json.loads((out / "comparison.json").read_text())
    assert len(result["per_label"]) == 28 and len(result["rare_labels"]) == 8
    assert json.loads(Path(result["runs"]["balanced"][0]["test_metrics"]).read_text())["n_rows"] == 5427
    row = result["summary"]["f1_macro"]
    assert row["delta"] == pytest.approx(row["balanced"] - row["imbalanced"])
    assert f"| {result['rare_labels'][0]}* |" in (out / "comparison.md").read_text()
    assert (out / "comparison_delta.png").stat().st_size > 1000
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochz: 1\n")
    assert main(["train", str(tmp_path / "imb"), "--out", str(tmp_path / "x"), "--config", str(bad)]) == 2
