"""The fast proxy model: TF-IDF word 1-2-grams + one logistic regression per label, seconds per fit.

It screens training sets before the hybrid model confirms the best ones: same `TrainedModel` interface,
same validation-tuned thresholds, same reports, but a fit of GoEmotions train takes well under a minute on
one CPU core. Options (`ProxyConfig`): n-gram range, ``min_df``, ``C``, ``class_weight`` ("balanced"), and
the shared ``sample_weighting`` of `TrainConfig` (rows weighted by `goemobalance.balance.weights`).

Everything but the thresholds is fitted on the training rows only; the thresholds are tuned on the
validation rows, exactly as for the hybrid model.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import datasets
import joblib
import numpy as np
import sklearn
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from goemobalance.balance.weights import sample_weights
from goemobalance.schema import multi_hot
from goemobalance.train.config import TrainConfig
from goemobalance.train.thresholds import tune_thresholds

VECTORIZER_FILE = "tfidf.joblib"
CLASSIFIER_FILE = "proxy.joblib"


class ProxyEncoder:
    """Texts -> TF-IDF matrix (a fitted `TfidfVectorizer`); saved with joblib."""

    kind = "proxy"

    def __init__(self, vectorizer: TfidfVectorizer):
        self.vectorizer = vectorizer

    def encode(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return self.vectorizer.transform(list(texts))

    def save(self, folder: str | Path) -> None:
        joblib.dump(self.vectorizer, Path(folder) / VECTORIZER_FILE)

    @classmethod
    def load(cls, folder: str | Path) -> ProxyEncoder:
        return cls(joblib.load(Path(folder) / VECTORIZER_FILE))


class ProxyClassifier:
    """A fitted one-vs-rest logistic regression returning an (n, n_labels) float32 probability matrix."""

    def __init__(self, estimator: OneVsRestClassifier):
        self.estimator = estimator

    def predict_proba(self, features: sparse.csr_matrix) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(features), dtype=np.float32)

    def save(self, folder: str | Path) -> None:
        joblib.dump(self.estimator, Path(folder) / CLASSIFIER_FILE)

    @classmethod
    def load(cls, folder: str | Path) -> ProxyClassifier:
        return cls(joblib.load(Path(folder) / CLASSIFIER_FILE))


def build_proxy(config: TrainConfig) -> tuple[TfidfVectorizer, OneVsRestClassifier]:
    """The unfitted vectorizer and classifier `config.proxy` describes.

    liblinear's dual solver (seeded): with far more n-gram features than rows it fits several times faster
    than the primal solver, to the same optimum.
    """
    options = config.proxy
    vectorizer = TfidfVectorizer(
        ngram_range=(1, options.ngram_max),
        min_df=options.min_df,
        max_features=options.max_features,
        sublinear_tf=options.sublinear_tf,
        dtype=np.float32,
    )
    logistic = LogisticRegression(
        C=options.C,
        class_weight=options.class_weight,
        solver="liblinear",
        dual=True,
        max_iter=options.max_iter,
        random_state=config.seed,
    )
    return vectorizer, OneVsRestClassifier(logistic)


def fit_proxy(
    train_ds: datasets.Dataset, val_ds: datasets.Dataset, config: TrainConfig, label_names: list[str]
):
    """Fit the proxy on `train_ds`, tune thresholds on `val_ds`; a `TrainedModel` of kind ``proxy``.

    Parameters
    ----------
    train_ds, val_ds
        Schema Datasets (``text``, ``labels``) with the same label space.
    config
        ``proxy`` section, ``seed``, ``thresholds`` and ``sample_weighting`` are used.
    label_names
        The label names, in column order.

    Returns
    -------
    TrainedModel
        With ``history == []`` (no epochs) and timing in ``info``.
    """
    from goemobalance.train.loop import TrainedModel, column_values

    started = time.perf_counter()
    vectorizer, classifier = build_proxy(config)
    y_train = multi_hot(train_ds)
    features = vectorizer.fit_transform(column_values(train_ds, "text"))
    weights = None
    if config.sample_weighting != "none":
        weights = sample_weights(
            y_train, config.sample_weighting, beta=config.weight_beta, reduce=config.sample_weight_reduce
        )
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Label not .* is present in all training examples")
        classifier.estimator.set_fit_request(sample_weight=True)
        classifier.fit(features, y_train, sample_weight=weights)
    encoder, model = ProxyEncoder(vectorizer), ProxyClassifier(classifier)
    val_prob = model.predict_proba(encoder.encode(column_values(val_ds, "text")))
    thresholds = tune_thresholds(multi_hot(val_ds), val_prob, mode=config.thresholds)
    info = {
        "features": len(vectorizer.vocabulary_),
        "train_rows": len(train_ds),
        "val_rows": len(val_ds),
        "best_epoch": None,
        "fit_seconds": round(time.perf_counter() - started, 2),
    }
    return TrainedModel(model, encoder, list(label_names), thresholds, config, [], info)


__all__ = ["ProxyClassifier", "ProxyEncoder", "build_proxy", "fit_proxy"]
