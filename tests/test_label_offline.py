"""Offline labelers (TF-IDF and MiniLM embeddings + logistic heads), SentenceEncoder, selection rules, CLI."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from goemobalance.cli import main
from goemobalance.label import (
    EmbeddingLogRegLabeler,
    OfflineLabeler,
    SelectionRule,
    SentenceEncoder,
    TfidfLogRegLabeler,
    macro_f1,
)
from goemobalance.label.tiny import tiny_roberta_classifier, train_bpe_tokenizer
from goemobalance.labels import GOEMOTIONS
from goemobalance.schema import column, multi_hot, validate

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def small_train(goemotions_train):
    return goemotions_train.select(range(4000))


@pytest.fixture(scope="module")
def tfidf(small_train):
    return TfidfLogRegLabeler(C=4.0).fit(small_train["text"], multi_hot(small_train))


def constant_macro_f1(y: np.ndarray) -> float:
    """The best macro-F1 of a constant predictor: every label on every row, or only the commonest label."""
    everything = np.ones_like(y)
    commonest = np.zeros_like(y)
    commonest[:, y.sum(0).argmax()] = 1
    return max(macro_f1(y, everything), macro_f1(y, commonest))


def test_selection_rule_thresholds_cap_fallback_and_floor():
    probs = np.array([[0.9, 0.7, 0.6, 0.1], [0.2, 0.3, 0.1, 0.05], [0.45, 0.1, 0.1, 0.1]])
    space = GOEMOTIONS.__class__(("a", "b", "c", "d"))
    assert SelectionRule(0.5).select(probs, space) == [[0, 1, 2], [1], [0]]
    assert SelectionRule(0.5, top1_fallback=False).select(probs, space) == [[0, 1, 2], [], []]
    assert SelectionRule(0.5, max_labels=2).select(probs, space) == [[0, 1], [1], [0]]
    assert SelectionRule({"c": 0.65}, default_threshold=0.25).select(probs, space) == [[0, 1], [1], [0]]
    assert SelectionRule([0.95, 0.95, 0.95, 0.01]).select(probs, space) == [[3], [3], [3]]
    assert SelectionRule(0.5, min_confidence=0.4).select(probs, space) == [[0, 1, 2], [], [0]]
    assert SelectionRule(0.5, min_confidence=0.4).reject_reasons(probs, space) == ["", "low_confidence", ""]
    with pytest.raises(ValueError, match="expected 4 per-label thresholds"):
        SelectionRule([0.5, 0.5]).thresholds(space)


@pytest.mark.slow
def test_tfidf_beats_constant_and_round_trips(tfidf, goemotions_dev, goemotions_test, tmp_path):
    dev = goemotions_dev.select(range(2000))
    thresholds = tfidf.tune_acceptance(dev["text"], multi_hot(dev)).thresholds_
    assert thresholds.shape == (28,) and len(set(thresholds.tolist())) > 1
    test = goemotions_test.select(range(2000))
    y = multi_hot(test)
    scores = tfidf.evaluate(test["text"], y)
    assert scores["macro_f1"] > constant_macro_f1(y) + 0.15

    tfidf.save(tmp_path / "tfidf")
    loaded = OfflineLabeler.load(tmp_path / "tfidf")
    assert isinstance(loaded, TfidfLogRegLabeler)
    np.testing.assert_array_equal(
        loaded.predict_proba(test["text"][:50]), tfidf.predict_proba(test["text"][:50])
    )
    np.testing.assert_allclose(loaded.active_rule.thresholds(GOEMOTIONS), thresholds)
    np.testing.assert_allclose(loaded.thresholds_, thresholds)
    with pytest.raises(ValueError, match="holds a TfidfLogRegLabeler"):
        EmbeddingLogRegLabeler.load(tmp_path / "tfidf")


def test_offline_label_writes_pseudo_rows(tfidf, sentiment140_sample):
    from goemobalance.sources.sentiment140 import load_sentiment140

    tweets = load_sentiment140(sentiment140_sample, limit=50)
    labelled = tfidf.label(tweets)
    validate(labelled, allow_unlabeled=True)
    assert set(labelled["label_origin"]) == {"pseudo"} and all(len(s) == 28 for s in labelled["scores"])
    assert all(labelled["labels"])  # top-1 fallback: every row gets a label
    assert json.loads(labelled[0]["meta"])["pseudo_label"]["labeler"] == "tfidf-logreg"


def test_fit_and_load_errors(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(n_texts, n_labels\) = \(2, 28\)"):
        TfidfLogRegLabeler().fit(["a", "b"], np.zeros((2, 5)))
    with pytest.raises(NotFittedError, match="not fitted"):
        TfidfLogRegLabeler().predict_proba(["a"])
    with pytest.raises(FileNotFoundError, match="not a saved offline labeler"):
        OfflineLabeler.load(tmp_path)


@pytest.mark.slow
def test_sentence_encoder_pools_normalises_and_caches(goemotions_test, tmp_path):
    texts = goemotions_test["text"][:40] + ["", "é ü 😀"]
    encoder = SentenceEncoder(batch_size=8, device="cpu", cache_dir=tmp_path, show_progress=False)
    vectors = encoder.encode(texts)
    assert vectors.shape == (42, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    model, tokenizer = encoder._load()
    with torch.no_grad():
        encoded = tokenizer(texts[3], return_tensors="pt")
        reference = torch.nn.functional.normalize(model(**encoded).last_hidden_state.mean(1), dim=1)[
            0
        ].numpy()
    np.testing.assert_allclose(vectors[3], reference, atol=1e-5)

    encoder._model = None  # a cache hit must not need the model at all
    encoder._load = lambda: pytest.fail("cached texts were re-encoded")
    np.testing.assert_array_equal(encoder.encode(texts[::-1]), vectors[::-1])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Label not .* is present in all training examples")
def test_embedding_labeler_learns_and_round_trips(goemotions_train, goemotions_test, tmp_path):
    train = goemotions_train.select(range(240))
    labeler = EmbeddingLogRegLabeler(cache_dir=str(tmp_path / "cache"), device="cpu", show_progress=False)
    labeler.fit(train["text"], multi_hot(train))
    test = goemotions_test.select(range(120))
    y = multi_hot(test)
    assert labeler.evaluate(test["text"], y)["micro_f1"] > 0.2
    labeler.save(tmp_path / "emb")
    loaded = OfflineLabeler.load(tmp_path / "emb")
    assert isinstance(loaded, EmbeddingLogRegLabeler)
    np.testing.assert_allclose(loaded.predict_proba(test["text"][:20]), labeler.predict_proba(test["text"][:20]),
                               atol=1e-6)  # fmt: skip


def test_cli_labels_with_offline_and_local_model(tfidf, sentiment140_sample, tmp_path):
    tfidf.save(tmp_path / "offline")
    subset = tmp_path / "tweets.csv"
    subset.write_bytes(b"".join(sentiment140_sample.read_bytes().splitlines(keepends=True)[:60]))
    out = tmp_path / "labelled.parquet"
    assert main(["label", str(subset), "--out", str(out), "--offline", str(tmp_path / "offline")]) == 0
    labelled = datasets.Dataset.from_parquet(str(out))
    assert len(labelled) == 60 and set(labelled["label_origin"]) == {"pseudo"}

    tokenizer = train_bpe_tokenizer(labelled["text"], vocab_size=400)
    tiny_roberta_classifier(tokenizer, layers=1, hidden=32, heads=2).save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    accepted, rejected = tmp_path / "ok.jsonl", tmp_path / "rejected.jsonl"
    code = main(["label", str(subset), "--out", str(accepted), "--model", str(tmp_path / "tiny"), "--device", "cpu",
                 "--threshold", "0.9", "--no-fallback", "--rejected", str(rejected),
                 "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    assert code == 0
    rejected_rows = [json.loads(line) for line in rejected.read_text(encoding="utf-8").splitlines()]
    assert len(rejected_rows) == 60 and {r["reject_reason"] for r in rejected_rows} == {
        "no_label_above_threshold"
    }
    assert accepted.read_text() == ""
    assert main(["label", "--out", str(out)]) == 2  # InputError: INPUT is required


@pytest.mark.slow
def test_cli_trains_offline_labeler_on_goemotions_subset(goemotions_dir, tmp_path, capsys):
    folder = tmp_path / "goemotions"
    folder.mkdir()
    for split, n in (("train", 3000), ("dev", 500), ("test", 500)):
        lines = (goemotions_dir / f"{split}.tsv").read_text(encoding="utf-8").splitlines(keepends=True)[:n]
        (folder / f"{split}.tsv").write_text("".join(lines), encoding="utf-8")
    code = main(["label", "--train-offline", str(folder), "--out", str(tmp_path / "model"),
                 "--target-precision", "0.6"])  # fmt: skip
    assert code == 0
    manifest = json.loads((tmp_path / "model" / "labeler.json").read_text())
    assert manifest["kind"] == "tfidf-logreg" and 0 < manifest["metrics"]["test"]["macro_f1"] < 1
    acceptance = manifest["acceptance"]
    assert acceptance["target_precision"] == 0.6 and manifest["fitted_rule"]["top1_fallback"] is False
    assert all(entry["precision_lower"] >= 0.6 for entry in acceptance["labels"].values() if entry["accepts"])
    out = capsys.readouterr().out
    assert "macro-F1" in out and f"{len(acceptance['unreachable'])} labels cannot reach" in out


def test_sklearn_clone_gives_an_unfitted_copy_for_cross_validation(tfidf, goemotions_test):
    from sklearn.base import clone

    copy = clone(tfidf)
    assert not hasattr(copy, "model_") and copy.get_params() == tfidf.get_params()
    with pytest.raises(NotFittedError, match="not fitted"):
        copy.predict_proba(["still unfitted"])
    fold = goemotions_test.select(range(1500))
    probs = copy.fit(fold["text"], multi_hot(fold)).predict_proba(fold["text"][:10])
    assert probs.shape == (10, 28) and tfidf.model_ is not copy.model_


def test_heads_fit_in_worker_processes_with_the_same_result(tfidf, small_train, goemotions_test):
    """With n_jobs=2 joblib gives each worker a read-only memory map of the TF-IDF matrix (over 1 MB
    here); unsorted sparse indices made the heads' fit fail there (scikit-learn issue 12102)."""
    texts = column(small_train, "text")
    features = tfidf.model_.named_steps["features"].transform(texts)
    assert features.indices.nbytes > 1_000_000, "large enough for joblib to memory-map it"
    parallel = TfidfLogRegLabeler(C=4.0, n_jobs=2).fit(texts, multi_hot(small_train))
    scored = column(goemotions_test, "text")[:500]
    np.testing.assert_array_equal(parallel.predict_proba(scored), tfidf.predict_proba(scored))


def test_accept_passes_human_rows_and_rejects_unscored_pseudo_rows(
    tfidf, goemotions_test, sentiment140_sample
):
    from goemobalance.label import accept
    from goemobalance.sources.sentiment140 import load_sentiment140

    tweets = load_sentiment140(sentiment140_sample, limit=20)
    human = goemotions_test.select(range(10))
    scored = tfidf.label(tweets.select(range(10)))
    mixed = datasets.concatenate_datasets(
        [human.cast(scored.features), scored, tweets.select(range(10, 20)).cast(scored.features)]
    )
    accepted, rejected = accept(mixed, tfidf.active_rule)
    assert len(accepted) == 20 and accepted["labels"][:10] == human["labels"]
    assert accepted["labels"][10:] == scored["labels"]
    assert len(rejected) == 10 and set(rejected["reject_reason"]) == {"unscored"}
