"""TransformerLabeler on a tiny RoBERTa built here (BPE tokenizer trained on real tweets + a config)."""

from __future__ import annotations

import contextlib
import json
import os

import datasets
import numpy as np
import pandas as pd
import pytest
import torch

from goemobalance.label import LabelMappingError, SelectionRule, TransformerLabeler, accept
from goemobalance.label.tiny import tiny_roberta_classifier, train_bpe_tokenizer
from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.schema import validate
from goemobalance.sources.sentiment140 import load_sentiment140

EDGE_TEXTS = ["", "   ", "é ü ñ — “quotes” 😀🔥 日本語のツイート", "so long " * 3000, "ok"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tweets(sentiment140_sample) -> datasets.Dataset:
    return load_sentiment140(sentiment140_sample, limit=400)


@pytest.fixture(scope="module")
def tokenizer(tweets):
    return train_bpe_tokenizer(tweets["text"], vocab_size=600)


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_roberta_classifier(tokenizer, layers=2, hidden=32, heads=2, seed=0)


def make_labeler(model, tokenizer, **kwargs) -> TransformerLabeler:
    kwargs.setdefault("max_tokens_per_batch", 600)
    return TransformerLabeler(model, tokenizer=tokenizer, device="cpu", show_progress=False, **kwargs)


def plain_forward(model, tokenizer, texts, activation="sigmoid", max_length=128) -> np.ndarray:
    """One text at a time, no padding: the reference the batched labeler must reproduce."""
    rows = []
    with torch.no_grad():
        for text in texts:
            encoded = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length)
            logits = model(**encoded).logits[0]
            rows.append(
                (torch.sigmoid(logits) if activation == "sigmoid" else torch.softmax(logits, -1)).numpy()
            )
    return np.stack(rows)


def test_batched_probabilities_equal_unbatched_forward(model, tokenizer, tweets):
    texts = tweets["text"][:150] + EDGE_TEXTS
    probs = make_labeler(model, tokenizer).predict_proba(texts)
    assert probs.shape == (len(texts), 28) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, plain_forward(model, tokenizer, texts), atol=1e-5)


def test_edge_texts_none_and_truncation(model, tokenizer):
    labeler = make_labeler(model, tokenizer, max_length=16)
    probs = labeler.predict_proba([None, "so long " * 3000, "so long " * 5])
    assert np.isfinite(probs).all()
    expected = plain_forward(model, tokenizer, ["", "so long " * 3000, "so long " * 5], max_length=16)
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    assert labeler.predict_proba([]).shape == (0, 28)


def test_single_label_model_uses_softmax(tokenizer, tweets):
    single = tiny_roberta_classifier(tokenizer, layers=1, hidden=32, heads=2, multi_label=False, seed=1)
    labeler = make_labeler(single, tokenizer)
    texts = tweets["text"][:40]
    probs = labeler.predict_proba(texts)
    assert labeler.activation == "softmax"
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs, plain_forward(single, tokenizer, texts, "softmax"), atol=1e-5)


def test_label_mapping_mismatch_is_a_clear_error(tokenizer):
    wrong = tiny_roberta_classifier(
        tokenizer, space=LabelSpace(tuple(f"LABEL_{i}" for i in range(28))), layers=1
    )
    with pytest.raises(LabelMappingError, match=r"LABEL_0.*missing from the model.*admiration.*label_map"):
        make_labeler(wrong, tokenizer)
    too_few = tiny_roberta_classifier(tokenizer, space=LabelSpace(GOEMOTIONS.names[:27]), layers=1)
    with pytest.raises(LabelMappingError, match=r"missing from the model: \['neutral'\]"):
        make_labeler(too_few, tokenizer)
    fixed = make_labeler(
        wrong, tokenizer, label_map={f"LABEL_{i}": n for i, n in enumerate(GOEMOTIONS.names)}
    )
    assert fixed.order.tolist() == list(range(28))


def test_model_label_order_is_mapped_onto_the_space(tokenizer, tweets):
    reversed_space = LabelSpace(tuple(reversed(GOEMOTIONS.names)))
    model = tiny_roberta_classifier(tokenizer, space=reversed_space, layers=1, seed=3)
    texts = tweets["text"][:20]
    probs = make_labeler(model, tokenizer).predict_proba(texts)
    raw = plain_forward(model, tokenizer, texts)
    np.testing.assert_allclose(probs, raw[:, ::-1], atol=1e-5)


def test_interrupted_run_resumes_with_identical_output(model, tokenizer, tweets, tmp_path, monkeypatch):
    texts = tweets["text"][:300]
    reference = make_labeler(model, tokenizer, shard_size=50).predict_proba(texts)
    labeler = make_labeler(model, tokenizer, cache_dir=tmp_path, shard_size=50)
    original = TransformerLabeler._predict_shard
    calls = {"n": 0}

    def interrupt_after_two(self, shard_texts, bar):
        if calls["n"] == 2:
            raise KeyboardInterrupt
        calls["n"] += 1
        return original(self, shard_texts, bar)

    monkeypatch.setattr(TransformerLabeler, "_predict_shard", interrupt_after_two)
    with pytest.raises(KeyboardInterrupt):
        labeler.predict_proba(texts)
    monkeypatch.setattr(TransformerLabeler, "_predict_shard", original)
    (folder,) = list(tmp_path.iterdir())
    assert sorted(p.name for p in folder.glob("shard-*.parquet")) == [
        "shard-000000.parquet",
        "shard-000001.parquet",
    ]

    computed = []
    monkeypatch.setattr(TransformerLabeler, "_predict_shard",
                        lambda self, t, bar: computed.append(len(t)) or original(self, t, bar))  # fmt: skip
    resumed = labeler.predict_proba(texts)
    assert computed == [50, 50, 50, 50]
    np.testing.assert_array_equal(resumed, reference)
    assert json.loads((folder / "manifest.json").read_text())["n_texts"] == 300


def test_cache_key_depends_on_inputs_and_model(model, tokenizer, tweets, tmp_path):
    labeler = make_labeler(model, tokenizer, cache_dir=tmp_path, shard_size=50)
    labeler.predict_proba(tweets["text"][:60])
    labeler.predict_proba(tweets["text"][1:61])
    other = tiny_roberta_classifier(tokenizer, layers=2, hidden=32, heads=2, seed=7)
    other_probs = make_labeler(other, tokenizer, cache_dir=tmp_path, shard_size=50).predict_proba(
        tweets["text"][:60]
    )
    assert len(list(tmp_path.iterdir())) == 3
    np.testing.assert_allclose(other_probs, plain_forward(other, tokenizer, tweets["text"][:60]), atol=1e-5)


def test_label_writes_schema_scores_and_provenance(model, tokenizer, tweets):
    rule = SelectionRule(threshold={"joy": 0.3}, default_threshold=0.55, max_labels=2)
    labeler = make_labeler(model, tokenizer, rule=rule)
    labelled = labeler.label(tweets.select(range(80)))
    validate(labelled, allow_unlabeled=True)
    assert set(labelled["label_origin"]) == {"pseudo"}
    scores = np.asarray(labelled["scores"], dtype=np.float32)
    np.testing.assert_allclose(scores, labeler.predict_proba(labelled["text"]), atol=1e-6)
    assert labelled["labels"] == rule.select(scores, GOEMOTIONS)
    assert all(1 <= len(ids) <= 2 for ids in labelled["labels"])
    meta = json.loads(labelled[0]["meta"])
    assert meta["labeled"] is True and meta["tweet_id"]
    stamp = meta["pseudo_label"]
    assert stamp["labeler"] == "transformer" and stamp["revision"].startswith("weights-")
    assert stamp["rule"]["threshold"][GOEMOTIONS.id("joy")] == 0.3
    assert stamp["rule"]["threshold"][GOEMOTIONS.id("anger")] == 0.55


def test_datasets_map_and_dataframe_batches_match_label(model, tokenizer, tweets):
    labeler = make_labeler(model, tokenizer)
    subset = tweets.select(range(70))
    expected = labeler.label(subset)
    mapped = subset.map(labeler.map_fn, batched=True, batch_size=16, features=expected.features)
    assert mapped["labels"] == expected["labels"]
    np.testing.assert_allclose(np.asarray(mapped["scores"]), np.asarray(expected["scores"]), atol=1e-6)
    frame = labeler(subset.select_columns(["id", "text", "meta"]).to_pandas())
    assert isinstance(frame, pd.DataFrame) and list(frame["labels"]) == expected["labels"]


def test_accept_splits_with_reasons(model, tokenizer, tweets):
    labelled = make_labeler(model, tokenizer).label(tweets.select(range(60)))
    top = np.asarray(labelled["scores"]).max(axis=1)
    floor = float(np.median(top))
    accepted, rejected = accept(
        labelled, SelectionRule(threshold=0.99, min_confidence=floor, top1_fallback=True)
    )
    assert len(accepted) + len(rejected) == 60
    assert len(accepted) == int((top >= floor).sum())
    assert set(rejected["reject_reason"]) == {"low_confidence"}
    assert all(len(ids) == 1 for ids in accepted["labels"])
    strict_ok, strict_rejected = accept(labelled, SelectionRule(threshold=0.99, top1_fallback=False))
    assert len(strict_ok) == 0 and set(strict_rejected["reject_reason"]) == {"no_label_above_threshold"}
    assert all(json.loads(m)["labeled"] is False for m in strict_rejected["meta"])


def test_local_folder_model_loads_like_a_hub_id(model, tokenizer, tweets, tmp_path):
    model.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    from_folder = TransformerLabeler(tmp_path / "tiny", device="cpu", show_progress=False)
    texts = tweets["text"][:30]
    np.testing.assert_allclose(
        from_folder.predict_proba(texts), plain_forward(model, tokenizer, texts), atol=1e-5
    )
    assert from_folder.provenance()["model"] == str((tmp_path / "tiny").resolve())


def test_missing_model_gives_offline_advice(tmp_path):
    with pytest.raises(OSError, match="offline labeler"):
        TransformerLabeler(tmp_path / "no-such-model", device="cpu")


def test_budget_batches_cover_every_text_once_within_budget_and_little_padding(tokenizer, tweets):
    from goemobalance.label.batching import budget_batches, tokenize

    lengths = np.asarray([len(ids) for ids in tokenize(tokenizer, tweets["text"], 128)])
    batches = budget_batches(lengths, max_tokens=512, max_batch_size=64)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    padded = [len(b) * lengths[b].max() for b in batches]
    assert max(padded) <= 512 and all(len(b) <= 64 for b in batches)
    assert sum(padded) / lengths.sum() < 1.15
    assert lengths[batches[0]].max() == lengths.max()
    assert budget_batches([300, 5], max_tokens=100, max_batch_size=8)[0].tolist() == [0]


def test_embedding_cache_shard_cut_off_mid_write_is_never_read(tmp_path, monkeypatch):
    from goemobalance.label.embed import EmbeddingCache

    cache = EmbeddingCache(tmp_path / "model")
    cache.store(["a", "b"], np.ones((2, 3), dtype=np.float32))
    original = np.savez

    def cut_off(file, **arrays):  # a kill or a full disk half-way through the next shard (a path or a handle)
        with (
            open(file, "ab") if isinstance(file, (str, os.PathLike)) else contextlib.nullcontext(file) as out
        ):
            out.write(b"PK\x03\x04 half a zip")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", cut_off)
    with pytest.raises(OSError, match="No space"):
        cache.store(["c"], np.zeros((1, 3), dtype=np.float32))
    monkeypatch.setattr(np, "savez", original)
    assert len(list(cache.folder.iterdir())) == 1, "the broken shard is removed, the finished one kept"
    found = cache.lookup(["a", "b", "c"])
    assert sorted(found) == ["a", "b"] and np.array_equal(found["a"], np.ones(3))
