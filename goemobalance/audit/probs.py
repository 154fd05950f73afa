"""Out-of-sample per-label probabilities with iterative-stratified folds, the input every audit needs.

cleanlab's label-issue scores are only meaningful on probabilities for rows the model did not see, so
`cross_val_probs` fits one model per fold and predicts the held-out fold. Models:

- ``"tfidf"``: TF-IDF word 1-2 grams + one-vs-rest logistic regression (fast default);
- ``"minilm"``: MiniLM sentence embeddings (encoded once, cached on disk) + one-vs-rest logistic heads;
- ``"tfidf-char"``: TF-IDF word 1-2 grams + character 2-5 grams + the same heads;
- ``"tfidf+minilm"``: the mean of ``"tfidf-char"`` and ``"minilm"`` (the most accurate for finding label
  errors, see docs/benchmarks.md), as the offline labeler registry's ``tfidf+minilm``;
- any estimator-like object with ``fit(texts, y)`` and ``predict_proba(texts) -> (n, L)``
  (e.g. the pseudo-labelers in `goemobalance.label`), refitted per fold with `sklearn.base.clone`;
- a precomputed ``(n, L)`` probability matrix, returned as is after checking its shape.

The built-in models are the offline labelers' (`audit_labeler`): their TF-IDF vectorizers (fitted once on
all rows, label-free) and logistic heads (fitted per fold), so the model is defined in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from sklearn.base import clone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from tqdm.auto import tqdm

from goemobalance.audit.defaults import CALIBRATIONS, MODELS
from goemobalance.balance.split import MultilabelStratifiedKFold
from goemobalance.errors import InputError
from goemobalance.label.batching import clean_texts
from goemobalance.label.offline import EmbeddingLogRegLabeler, TfidfLogRegLabeler
from goemobalance.schema import column, multi_hot


def cross_val_probs(
    dataset: datasets.Dataset,
    model: str | Any | np.ndarray = "tfidf",
    *,
    folds: int = 5,
    seed: int = 0,
    calibration: str | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Out-of-fold probabilities (n_rows, n_labels): each row predicted by a model that never saw it.

    `calibration` (``"sigmoid"`` or ``"isotonic"``) then maps each label's probabilities through a
    calibrator fitted on the *other* folds' out-of-fold probabilities (`calibrate_out_of_fold`).
    `cache_dir` keeps MiniLM embeddings on disk so a rerun does not re-encode.

    Parameters
    ----------
    dataset : datasets.Dataset
        Labeled rows in the record schema.
    model : str, estimator or np.ndarray, default "tfidf"
        One of `MODELS` (``tfidf+minilm`` averages ``tfidf-char`` and ``minilm``), an estimator with
        ``fit(texts, y)``/``predict_proba(texts)`` (a fresh copy per fold), or ready probabilities
        (returned after a shape check).
    folds : int, default 5
        Iteratively stratified folds.
    seed : int, default 0
        Seed of the folds.
    calibration : {None, "sigmoid", "isotonic"}, default None
        Per-label calibration of the out-of-fold probabilities.
    cache_dir : str or Path, optional
        Embedding cache folder.
    progress : bool, default True
        Show progress bars.
    n_jobs : int or None, default None
        Worker processes for a built-in model's one-vs-rest heads (None: 1); the probabilities are the
        same for any value.

    Returns
    -------
    np.ndarray
        Shape ``(len(dataset), n_labels)``, rows in dataset order.

    Raises
    ------
    ValueError
        If `calibration` is unknown, or given probabilities have the wrong shape or lie outside [0, 1].
    TypeError
        If `model` is none of the above.
    """
    y = multi_hot(dataset)
    if isinstance(model, np.ndarray):
        return _checked_probs(model, y.shape)
    if calibration not in CALIBRATIONS:
        raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {calibration!r}")
    texts = column(dataset, "text")
    if model == "tfidf+minilm":
        parts = [
            cross_val_probs(
                dataset,
                part,
                folds=folds,
                seed=seed,
                calibration=calibration,
                cache_dir=cache_dir,
                progress=progress,
                n_jobs=n_jobs,
            )
            for part in ("tfidf-char", "minilm")
        ]
        return (parts[0] + parts[1]) / 2
    if isinstance(model, str):
        features = text_features(texts, model, cache_dir=cache_dir, progress=progress)
        head = logistic_head(model, n_jobs=n_jobs)
        probs = _out_of_fold(features, y, lambda: clone(head), folds, seed, progress, as_array=True)
        return calibrate_out_of_fold(probs, y, calibration, folds, seed) if calibration else probs
    if not (hasattr(model, "fit") and hasattr(model, "predict_proba")):
        raise TypeError(
            f"model must be one of {MODELS}, an estimator with fit/predict_proba, or an (n, L) array; got {type(model).__name__}"
        )
    probs = _out_of_fold(texts, y, lambda: _fresh_copy(model), folds, seed, progress, as_array=False)
    return calibrate_out_of_fold(probs, y, calibration, folds, seed) if calibration else probs


def audit_labeler(model: str, n_jobs: int | None = None) -> TfidfLogRegLabeler | EmbeddingLogRegLabeler:
    """The offline labeler whose features and logistic heads a built-in audit model uses (one definition).

    ``"tfidf"`` is the labeler's word n-grams alone, ``"tfidf-char"`` the labeler as is, ``"minilm"`` the
    MiniLM labeler with ``C=1`` (stronger regularisation ranks planted noise better, docs/benchmarks.md).
    `n_jobs`: worker processes for its heads.
    """
    if model == "tfidf":
        return TfidfLogRegLabeler(char_ngrams=None, n_jobs=n_jobs)
    if model == "tfidf-char":
        return TfidfLogRegLabeler(n_jobs=n_jobs)
    if model == "minilm":
        return EmbeddingLogRegLabeler(C=1.0, n_jobs=n_jobs)
    raise InputError(f"unknown model {model!r}; use one of {MODELS}")


def text_features(
    texts: Sequence[str], model: str, *, cache_dir: str | Path | None = None, progress: bool = True
):
    """The feature matrix a built-in model fits its logistic heads on (unsupervised, so fitted once).

    Fitting TF-IDF on all rows uses no labels, so it leaks nothing into the held-out folds; the
    vectorizers are the offline labeler's (`TfidfLogRegLabeler.make_features`). The sparse indices are
    sorted, as in the labeler's own pipeline, so the heads can fit in worker processes.
    """
    labeler = audit_labeler(model)
    if isinstance(labeler, EmbeddingLogRegLabeler):
        return cached_embeddings(texts, cache_dir=cache_dir, progress=progress)
    features = labeler.make_features(len(texts)).fit_transform(clean_texts(texts)).tocsr()
    features.sort_indices()
    return features


def logistic_head(model: str, n_jobs: int | None = None) -> OneVsRestClassifier:
    """The one-vs-rest logistic heads of a built-in model: the offline labeler's ``make_heads()``.

    On sparse TF-IDF (more features than rows) liblinear's dual solver fits ~4.7x faster than the
    primal one with the same AUC (see docs/benchmarks.md). `n_jobs`: worker processes for the heads.
    """
    return audit_labeler(model, n_jobs).make_heads()


def calibrate_out_of_fold(probs: np.ndarray, y: np.ndarray, method: str, folds: int, seed: int) -> np.ndarray:
    """Per-label calibration, cross-fitted: fold k's probabilities go through a map fitted on the other folds.

    ``"sigmoid"`` is Platt scaling (logistic regression on the logit), ``"isotonic"`` isotonic
    regression; a label with only one class outside fold k keeps its probabilities.
    """
    if method not in ("sigmoid", "isotonic"):
        raise ValueError(f"calibration must be 'sigmoid' or 'isotonic', got {method!r}")
    clipped = np.clip(probs, 1e-6, 1 - 1e-6)
    logits = np.log(clipped) - np.log1p(-clipped)
    calibrated = probs.copy()
    for train, test in stratified_folds(y, folds, seed):
        for label in range(y.shape[1]):
            target = y[train, label]
            if target.min() == target.max():
                continue
            if method == "isotonic":
                mapper = IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4)
                calibrated[test, label] = mapper.fit(probs[train, label], target).predict(probs[test, label])
            else:
                mapper = LogisticRegression(C=100.0).fit(logits[train, label : label + 1], target)
                calibrated[test, label] = mapper.predict_proba(logits[test, label : label + 1])[:, 1]
    return calibrated


def cached_embeddings(
    texts: Sequence[str], *, cache_dir: str | Path | None = None, progress: bool = True
) -> np.ndarray:
    """MiniLM sentence embeddings of `texts`; with `cache_dir`, texts encoded before are read from disk."""
    labeler = EmbeddingLogRegLabeler(
        cache_dir=None if cache_dir is None else str(cache_dir), show_progress=progress
    )
    return np.asarray(labeler.encode(texts), dtype=np.float32)


def stratified_folds(y: np.ndarray, folds: int, seed: int):
    """Iterative-stratified (train, test) index pairs, so every label appears in every fold."""
    splitter = MultilabelStratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros((len(y), 1)), y))


def _out_of_fold(
    inputs, y: np.ndarray, make_model, folds: int, seed: int, progress: bool, *, as_array: bool
) -> np.ndarray:
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    probs = np.zeros(y.shape, dtype=np.float64)
    constant = y.all(axis=0) | ~y.any(axis=0)
    for train, test in tqdm(stratified_folds(y, folds, seed), desc="audit folds", disable=not progress):
        varying = ~constant & y[train].any(axis=0) & ~y[train].all(axis=0)
        train_inputs = inputs[train] if as_array else [inputs[i] for i in train]
        test_inputs = inputs[test] if as_array else [inputs[i] for i in test]
        fitted = make_model()
        if as_array:
            fitted.fit(train_inputs, y[train][:, varying])
            probs[np.ix_(test, np.flatnonzero(varying))] = fitted.predict_proba(test_inputs)
            probs[np.ix_(test, np.flatnonzero(~varying))] = y[train][:, ~varying].mean(axis=0)
        else:
            fitted.fit(train_inputs, y[train])
            probs[test] = _checked_probs(
                np.asarray(fitted.predict_proba(test_inputs)), (len(test), y.shape[1])
            )
    return probs


def _fresh_copy(model):
    try:
        return clone(model)
    except (TypeError, RuntimeError):
        import copy

        return copy.deepcopy(model)


def _checked_probs(probs: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != tuple(shape):
        raise ValueError(f"probabilities must have shape {tuple(shape)} (rows, labels), got {probs.shape}")
    if np.isnan(probs).any() or probs.min() < 0.0 or probs.max() > 1.0:
        raise ValueError("probabilities must lie in [0, 1] with no NaN")
    return probs
