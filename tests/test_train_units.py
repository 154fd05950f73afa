"""Fast unit tests of goemobalance.train: tokenizer, vocabulary, embeddings, model, thresholds, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from goemobalance.device import autocast_dtype
from goemobalance.errors import InputError
from goemobalance.train.config import TrainConfig
from goemobalance.train.embeddings import embedding_matrix, load_glove_kumo, load_vectors, train_fasttext
from goemobalance.train.losses import MultiLabelLoss, pos_weights
from goemobalance.train.metrics import multilabel_report, rarest_labels, save_report
from goemobalance.train.model import HybridClassifier, HybridConfig
from goemobalance.train.thresholds import Thresholds, confusion_counts, f1_from_counts, tune_thresholds
from goemobalance.train.tokenize import Vocabulary, tokenize

# ---------------------------------------------------------------- tokenizer and vocabulary


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I don't know :) lol!!!!!", ["i", "do", "n't", "know", ":)", "lol", "!!!"]),
        ("@bob see http://t.co/x #blessed", ["<user>", "see", "<url>", "<hashtag>", "blessed"]),
        ("[NAME] is sooooo cool 😂😂", ["[name]", "is", "sooo", "cool", "😂", "😂"]),
        (
            "Can't believe it's 2009... I’m 23 &amp; happy <3",
            ["ca", "n't", "believe", "it", "'s", "<num>", "...", "i", "'m", "<num>", "&", "happy", "<3"],
        ),
        ("/r/funny and u/someone :-( ;) :D", ["<subreddit>", "and", "<user>", ":-(", ";)", ":D"]),
        ("Really?!?! WOW", ["really", "?!?", "wow"]),
    ],
)
def test_tokenize_normalizes_tweets_and_reddit_comments(text, expected):
    assert tokenize(text) == expected


def test_vocabulary_orders_by_frequency_applies_limits_and_round_trips(tmp_path):
    lists = [["b", "a", "a"], ["c", "a", "b"], ["d"]]
    vocab = Vocabulary.build(lists, min_freq=2)
    assert vocab.itos == ["<pad>", "<unk>", "a", "b"]
    assert vocab.encode(["a", "zzz", "b"]) == [2, 1, 3]
    assert Vocabulary.build(lists, max_size=3).itos == ["<pad>", "<unk>", "a"]
    vocab.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json").itos == vocab.itos
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="bad.json"):
        Vocabulary.load(tmp_path / "bad.json")


# ---------------------------------------------------------------- embeddings


def test_glove_from_kumo_package_loads_real_vectors():
    vectors = load_glove_kumo()
    assert vectors.vector_size == 50 and len(vectors) == 400_000
    assert vectors.similarity("happy", "glad") > vectors.similarity("happy", "table")
    vocab = Vocabulary(["<pad>", "<unk>", "happy", "n't", "qwxzvbnmlk"])
    matrix, coverage = embedding_matrix(vocab, vectors)
    assert np.allclose(matrix[2], vectors["happy"]) and np.allclose(matrix[3], vectors["n't"])
    assert not matrix[0].any() and coverage == pytest.approx(2 / 3)


def test_fasttext_trained_on_corpus_is_reproducible_and_covers_unknown_words(goemotions_train):
    tokens = [tokenize(t) for t in goemotions_train.select(range(400))["text"]]
    first = train_fasttext(tokens, dim=16, epochs=2, bucket=20_000, seed=3)
    second = train_fasttext(tokens, dim=16, epochs=2, bucket=20_000, seed=3)
    assert np.array_equal(first.vectors, second.vectors)
    unseen = "thankfulnessesss"
    assert unseen not in first.key_to_index
    assert first[unseen].shape == (16,) and np.abs(first[unseen]).sum() > 0
    vocab = Vocabulary(["<pad>", "<unk>", unseen])
    matrix, coverage = embedding_matrix(vocab, first)
    assert coverage == 1.0 and np.allclose(matrix[2], first[unseen])


def test_facebook_fasttext_bin_loads_with_subword_vectors(tmp_path):
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    sentences = [["i", "feel", "so", "happy", "today"], ["so", "sad", "and", "lonely"]] * 20
    model = FastText(sentences, vector_size=8, min_count=1, epochs=2, bucket=1000, seed=1, workers=1)
    save_facebook_model(model, str(tmp_path / "tiny.bin"))
    vectors = load_vectors(tmp_path / "tiny.bin")
    assert vectors.vector_size == 8 and "happy" in vectors.key_to_index
    assert "happiest" not in vectors.key_to_index and np.abs(vectors["happiest"]).sum() > 0


def test_word2vec_text_and_glove_text_files_load(tmp_path):
    (tmp_path / "w2v.vec").write_text("2 3\nhappy 1 0 0\nsad 0 1 0\n", encoding="utf-8")
    (tmp_path / "glove.txt").write_text("happy 1 0 0\nsad 0 1 0\n", encoding="utf-8")
    for name in ("w2v.vec", "glove.txt"):
        vectors = load_vectors(tmp_path / name)
        assert vectors.index_to_key == ["happy", "sad"] and vectors["sad"][1] == 1.0
    with pytest.raises(ValueError, match="unknown embedding format"):
        (tmp_path / "x.pkl").write_text("")
        load_vectors(tmp_path / "x.pkl")


# ---------------------------------------------------------------- model


def test_hybrid_classifier_shapes_and_padding_does_not_change_output():
    torch.manual_seed(0)
    config = HybridConfig(
        vocab_size=50,
        num_labels=5,
        embedding_dim=8,
        kernel_sizes=(2, 3),
        conv_channels=4,
        lstm_hidden=6,
        attention_dim=5,
    )
    model = HybridClassifier(config).eval()
    short = torch.tensor([[5, 6, 7, 0, 0]])
    long = torch.tensor([[5, 6, 7, 0, 0, 0, 0, 0, 0]])
    logits, weights = model(short, return_attention=True)
    assert logits.shape == (1, 5)
    assert torch.allclose(logits, model(long), atol=1e-6)
    assert weights[0, 3:].abs().max() == 0 and torch.isclose(weights.sum(), torch.tensor(1.0))


def test_hybrid_classifier_rejects_wrong_embedding_shape():
    with pytest.raises(ValueError, match="shape"):
        HybridClassifier(HybridConfig(vocab_size=10, embedding_dim=4), embeddings=np.zeros((10, 5)))


# ---------------------------------------------------------------- thresholds


def _random_problem(seed: int, n: int = 300, labels: int = 6):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, labels)) < rng.uniform(0.02, 0.4, labels)).astype(np.int8)
    p = np.clip(0.35 * y + rng.random((n, labels)) * 0.7 - 0.1, 0, 1)
    return y, p


def test_f1_from_counts_matches_scikit_learn():
    y, p = _random_problem(0)
    pred = p >= 0.5
    ours = f1_from_counts(*confusion_counts(y, pred))
    assert np.allclose(ours, skm.f1_score(y, pred, average=None, zero_division=0))


@pytest.mark.parametrize("seed", range(12))
def test_threshold_tuning_never_lowers_validation_f1(seed):
    y, p = _random_problem(seed)
    half = Thresholds.constant(y.shape[1]).apply(p)
    per_label = tune_thresholds(y, p, mode="per_label")
    assert np.all(
        skm.f1_score(y, per_label.apply(p), average=None, zero_division=0)
        >= skm.f1_score(y, half, average=None, zero_division=0) - 1e-12
    )
    for objective in ("micro", "macro"):
        tuned = tune_thresholds(y, p, mode="global", objective=objective)
        assert len(set(tuned.per_label)) == 1
        assert (
            skm.f1_score(y, tuned.apply(p), average=objective, zero_division=0)
            >= skm.f1_score(y, half, average=objective, zero_division=0) - 1e-12
        )


def test_threshold_tuning_keeps_half_when_nothing_is_better():
    y = np.array([[1], [0]])
    p = np.array([[0.9], [0.1]])
    assert tune_thresholds(y, p).per_label[0] == 0.5


def test_threshold_tuning_finds_low_cutoff_for_underconfident_label():
    y = np.array([[1], [1], [0], [0]])
    p = np.array([[0.3], [0.25], [0.1], [0.05]])
    tuned = tune_thresholds(y, p)
    assert 0.1 < tuned.per_label[0] <= 0.25
    assert tuned.apply(p)[:, 0].tolist() == [1, 1, 0, 0]


# ---------------------------------------------------------------- metrics


def test_multilabel_report_matches_scikit_learn(tmp_path, monkeypatch):
    y, p = _random_problem(7, labels=4)
    y[:, 3] = 0
    names = ["a", "b", "c", "d"]
    thresholds = Thresholds(np.array([0.5, 0.4, 0.3, 0.5]))
    report = multilabel_report(y, p, names, thresholds)
    pred = thresholds.apply(p)
    assert report["subset_accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert report["hamming_loss"] == pytest.approx(skm.hamming_loss(y, pred))
    for average in ("micro", "macro", "weighted", "samples"):
        assert report[f"f1_{average}"] == pytest.approx(
            skm.f1_score(y, pred, average=average, zero_division=0)
        )
        assert report[f"precision_{average}"] == pytest.approx(
            skm.precision_score(y, pred, average=average, zero_division=0)
        )
        assert report[f"recall_{average}"] == pytest.approx(
            skm.recall_score(y, pred, average=average, zero_division=0)
        )
    assert report["roc_auc_macro"] == pytest.approx(skm.roc_auc_score(y[:, :3], p[:, :3], average="macro"))
    assert report["roc_auc_micro"] == pytest.approx(skm.roc_auc_score(y, p, average="micro"))
    assert report["roc_auc_skipped_labels"] == [3] and report["per_label"]["d"]["roc_auc"] is None
    assert report["per_label"]["b"]["f1"] == pytest.approx(skm.f1_score(y[:, 1], pred[:, 1]))
    import matplotlib

    monkeypatch.setattr(
        matplotlib, "use", lambda *a, **k: pytest.fail("matplotlib.use: global backend switch")
    )
    paths = save_report(report, tmp_path, prefix="m")
    assert [p.name for p in paths] == ["m.json", "m_per_label_f1.png", "m_per_label_pr.png"]
    assert all(p.stat().st_size > 1000 for p in paths[1:])


def test_multilabel_report_scores_given_predictions_and_keeps_probabilities_for_roc_auc():
    y, p = _random_problem(8, labels=4)
    names = ["a", "b", "c", "d"]
    pred = (p > np.array([0.2, 0.7, 0.4, 0.5])).astype(np.int8)
    report = multilabel_report(y, p, names, y_pred=pred)
    assert report["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    assert report["roc_auc_micro"] == pytest.approx(skm.roc_auc_score(y, p, average="micro"))
    assert report["thresholds"] is None and report["per_label"]["a"]["threshold"] is None
    with pytest.raises(ValueError, match="not both"):
        multilabel_report(y, p, names, Thresholds.constant(4), y_pred=pred)
    with pytest.raises(ValueError, match="shapes differ"):
        multilabel_report(y, p, names, y_pred=pred[:, :3])


def test_rarest_labels_are_the_least_frequent():
    y = np.array([[1, 0, 1, 1], [1, 0, 0, 1], [1, 1, 0, 1]])
    assert rarest_labels(y, ["a", "b", "c", "d"], k=2) == ["b", "c"]


# ---------------------------------------------------------------- losses, AMP and config


def test_focal_loss_with_gamma_zero_is_bce_and_down_weights_easy_cells():
    logits = torch.tensor([[3.0, -2.0], [0.1, 0.2]])
    targets = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
    assert torch.isclose(MultiLabelLoss("focal", gamma=0.0)(logits, targets), bce)
    assert MultiLabelLoss("focal", gamma=2.0)(logits, targets) < bce


def test_balanced_pos_weight_is_negative_positive_ratio_capped():
    y = np.array([[1, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 0]], dtype=np.float32)
    weights = pos_weights(TrainConfig(pos_weight="balanced", pos_weight_cap=30.0), y)
    assert weights.tolist() == [3.0, 30.0, pytest.approx(1 / 3)]


def test_autocast_dtype_resolution():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert autocast_dtype(cpu, "auto") is None and autocast_dtype(cpu, "off") is None
    assert autocast_dtype(cpu, "bf16") == torch.bfloat16 and autocast_dtype(cuda, "fp16") == torch.float16
    assert autocast_dtype(cuda, "off") is None
    with pytest.raises(InputError, match="amp = 'bfloat16'; use one of auto, bf16, fp16, off"):
        autocast_dtype(cpu, "bfloat16")  # one vocabulary: the labelers' old torch names are refused


@pytest.mark.parametrize("native", [True, False])
def test_bf16_on_a_cpu_without_native_bfloat16_warns_that_it_is_emulated(monkeypatch, native):
    import warnings

    from goemobalance import device

    monkeypatch.setattr(device, "cpu_runs_bf16_natively", lambda: native)
    device._warn_emulated_bf16.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert autocast_dtype(torch.device("cpu"), "bf16") == torch.bfloat16
        autocast_dtype(torch.device("cpu"), "bf16")  # said once per process
        autocast_dtype(torch.device("cpu"), "off")
        autocast_dtype(torch.device("cuda"), "bf16")
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == (0 if native else 1)
    assert native or "without native bfloat16" in messages[0]


def test_native_bf16_check_answers_with_onednn():
    from goemobalance.device import cpu_runs_bf16_natively

    assert cpu_runs_bf16_natively() is bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def test_config_from_yaml_nested_sections_and_errors(tmp_path):
    good = tmp_path / "c.yaml"
    good.write_text(
        "epochs: 3\nhybrid: {lstm_hidden: 32, kernel_sizes: [3, 5]}\nembeddings: {source: glove-kumo}\n"
    )
    config = TrainConfig.from_yaml(good)
    assert (
        config.epochs == 3
        and config.hybrid.kernel_sizes == (3, 5)
        and config.embeddings.source == "glove-kumo"
    )
    assert TrainConfig.from_dict(config.to_dict()) == config
    bad = tmp_path / "bad.yaml"
    bad.write_text("hybrid: {lstm_size: 3}\n")
    with pytest.raises(
        InputError, match=r"bad\.yaml: hybrid: unknown field 'lstm_size' \(did you mean 'lstm_"
    ):
        TrainConfig.from_yaml(bad)
    bad.write_text("amp: fp8\n")
    with pytest.raises(InputError, match=r"bad\.yaml: TrainConfig\.amp = 'fp8'"):
        TrainConfig.from_yaml(bad)
    bad.write_text("proxy: {C: high}\n")
    with pytest.raises(InputError, match=r"bad\.yaml: proxy\.C: expected a number, got 'high'"):
        TrainConfig.from_yaml(bad)
    with pytest.raises(ValueError, match="amp"):
        TrainConfig(amp="fp8")
    assert TrainConfig().learning_rate == 2e-3 and TrainConfig(model="transformer").learning_rate == 5e-5
