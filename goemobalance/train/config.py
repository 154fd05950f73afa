"""All training settings in dataclasses, loadable from a YAML file with the same nesting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from goemobalance.balance.weights import DEFAULT_BETA, REDUCTIONS, WEIGHTINGS
from goemobalance.device import AMP_MODES
from goemobalance.errors import InputError
from goemobalance.strict import from_mapping
from goemobalance.train.model import HybridConfig

MODEL_KINDS = ("hybrid", "transformer", "proxy")


@dataclass
class EmbeddingConfig:
    """Where the hybrid model's word vectors come from, and how its vocabulary is built.

    ``source``: ``fasttext-train`` (FastText trained on the training texts), ``glove-kumo`` (GloVe 6B 50d
    from PyPI), ``minilm`` (the input word-piece embeddings of the MiniLM-L6 encoder from PyPI, averaged
    over each word's pieces), or a path to a FastText ``.bin``, a ``.vec``/``.txt`` word2vec/GloVe file or
    a gensim ``.kv``; several joined with ``+`` (``glove-kumo+minilm``) are concatenated. The hybrid
    model's ``embedding_dim`` follows the vectors' size.

    Parameters
    ----------
    source : str, default "glove-kumo"
        The vectors, as above.
    fasttext_dim : int, default 300
        Vector size of ``fasttext-train``.
    fasttext_epochs : int, default 5
        Training epochs of ``fasttext-train``.
    fasttext_min_count : int, default 1
        Least occurrences of a word for ``fasttext-train`` to learn it.
    min_freq : int, default 1
        Least occurrences in the training texts for a token to enter the vocabulary.
    max_size : int or None, default 50000
        Most vocabulary entries, padding and unknown included; None: no cap.
    """

    source: str = "glove-kumo"
    fasttext_dim: int = 300
    fasttext_epochs: int = 5
    fasttext_min_count: int = 1
    min_freq: int = 1
    max_size: int | None = 50000


@dataclass
class TransformerConfig:
    """The transformer baseline: any `transformers` checkpoint (Hub id or local folder).

    Parameters
    ----------
    model_name : str, default "distilroberta-base"
        The checkpoint.
    max_length : int, default 64
        Tokens kept per text.
    """

    model_name: str = "distilroberta-base"
    max_length: int = 64


@dataclass
class ProxyConfig:
    """The fast proxy model: TF-IDF word n-grams + one logistic regression per label (scikit-learn).

    ``class_weight``: ``None`` or ``"balanced"`` (scikit-learn's per-label positive/negative reweighting).
    """

    ngram_max: int = 2
    min_df: int = 2
    max_features: int | None = None
    sublinear_tf: bool = True
    C: float = 4.0
    class_weight: str | None = None
    max_iter: int = 1000

    def __post_init__(self) -> None:
        if self.class_weight not in (None, "balanced"):
            raise InputError(f"ProxyConfig.class_weight = {self.class_weight!r}; use null or 'balanced'")
        if self.ngram_max < 1 or self.min_df < 1 or self.C <= 0:
            raise InputError("ProxyConfig: ngram_max and min_df must be >= 1 and C > 0")


@dataclass
class TrainConfig:
    """Training settings shared by the hybrid model, the transformer baseline and the proxy model.

    The defaults (GloVe 6B 50d vectors, 128-unit layers, 6 epochs at lr 2e-3, class-balanced label
    weights) were chosen on GoEmotions dev (docs/results.md). ``max_steps`` (optional) fixes the number
    of optimizer steps instead of ``epochs`` (the last epoch is cut short); `compare` sets it for
    equal-compute comparisons. ``sample_weighting`` weights each
    training row and ``label_weighting`` each label's loss column (``effective`` = the class-balanced loss
    of Cui et al.), both from label frequencies (`goemobalance.balance.weights`).

    Parameters
    ----------
    model : {"hybrid", "transformer", "proxy"}, default "hybrid"
        Which model `goemobalance.train.fit` trains.
    seed : int, default 13
        Seed of initialisation, shuffling and subsampling.
    epochs : int, default 6
        Training epochs (>= 1).
    max_steps : int, optional
        Optimizer steps instead of `epochs` (>= 1).
    batch_size : int, default 64
        Training rows per step (>= 1).
    eval_batch_size : int, default 256
        Rows per batch when predicting.
    lr : float, optional
        Learning rate; None: `learning_rate`'s default for the model kind.
    weight_decay : float, default 0.0
        AdamW weight decay.
    grad_clip : float, default 1.0
        Gradient-norm clip (0: none).
    patience : int, default 2
        Epochs without a better `early_stopping_metric` before training stops.
    warmup_ratio : float, default 0.06
        Share of the steps spent in linear warm-up.
    loss : {"bce", "focal"}, default "bce"
        Binary cross-entropy or focal loss.
    pos_weight : None, "balanced" or list of float, default None
        Positive-class weights: none, negatives/positives per label (capped at `pos_weight_cap`), or one
        per label.
    pos_weight_cap : float, default 30.0
        Cap of the ``balanced`` positive weights.
    focal_gamma : float, default 2.0
        Focusing parameter of the focal loss.
    sample_weighting : {"none", "inverse", "effective"}, default "none"
        Per-row weights from label frequencies.
    sample_weight_reduce : {"mean", "max"}, default "mean"
        How a row's label weights combine into its weight.
    label_weighting : {"none", "inverse", "effective"}, default "effective"
        Per-label loss-column weights.
    weight_beta : float, default DEFAULT_BETA
        Beta of the ``effective`` weighting, in [0, 1).
    amp : str, default "auto"
        Autocast mode, one of `goemobalance.device.AMP_MODES`.
    device : str, default "auto"
        ``"auto"`` (CUDA when available) or anything `torch.device` accepts.
    thresholds : {"per_label", "global", "none"}, default "per_label"
        How decision thresholds are tuned on the validation split (``none``: 0.5).
    early_stopping_metric : {"macro_f1_tuned", "macro_f1", "loss"}, default "macro_f1_tuned"
        The validation score that picks the best epoch.
    max_train_rows : int, optional
        Train on a seeded random subset of this many rows.
    num_threads : int, optional
        Torch CPU threads (unchanged when None).
    progress : bool, default True
        Show progress bars.
    hybrid : HybridConfig
        The hybrid model's architecture.
    embeddings : EmbeddingConfig
        The hybrid model's word vectors and vocabulary.
    transformer : TransformerConfig
        The transformer baseline.
    proxy : ProxyConfig
        The TF-IDF proxy model.

    Raises
    ------
    InputError
        If a choice is unknown or a number is out of range.
    """

    model: str = "hybrid"
    seed: int = 13
    epochs: int = 6
    max_steps: int | None = None
    batch_size: int = 64
    eval_batch_size: int = 256
    lr: float | None = None
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    patience: int = 2
    warmup_ratio: float = 0.06
    loss: str = "bce"
    pos_weight: str | list[float] | None = None
    pos_weight_cap: float = 30.0
    focal_gamma: float = 2.0
    sample_weighting: str = "none"
    sample_weight_reduce: str = "mean"
    label_weighting: str = "effective"
    weight_beta: float = DEFAULT_BETA
    amp: str = "auto"
    device: str = "auto"
    thresholds: str = "per_label"
    early_stopping_metric: str = "macro_f1_tuned"
    max_train_rows: int | None = None
    num_threads: int | None = None
    progress: bool = True
    hybrid: HybridConfig = field(default_factory=HybridConfig)
    embeddings: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)

    def __post_init__(self) -> None:
        checks = {
            "model": (self.model, MODEL_KINDS),
            "loss": (self.loss, ("bce", "focal")),
            "amp": (self.amp, AMP_MODES),
            "thresholds": (self.thresholds, ("per_label", "global", "none")),
            "early_stopping_metric": (self.early_stopping_metric, ("macro_f1_tuned", "macro_f1", "loss")),
            "sample_weighting": (self.sample_weighting, WEIGHTINGS),
            "sample_weight_reduce": (self.sample_weight_reduce, REDUCTIONS),
            "label_weighting": (self.label_weighting, WEIGHTINGS),
        }
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise InputError(f"TrainConfig.{name} = {value!r}; use one of {allowed}")
        if isinstance(self.pos_weight, str) and self.pos_weight != "balanced":
            raise InputError(
                f"TrainConfig.pos_weight = {self.pos_weight!r}; use null, 'balanced' or a list of floats"
            )
        if self.epochs < 1 or self.batch_size < 1:
            raise InputError("TrainConfig.epochs and batch_size must be >= 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise InputError(f"TrainConfig.max_steps = {self.max_steps}; use null or a count >= 1")
        if not 0.0 <= self.weight_beta < 1.0:
            raise InputError(f"TrainConfig.weight_beta = {self.weight_beta}; it must be in [0, 1)")

    @property
    def learning_rate(self) -> float:
        """The configured rate, or the default of the model kind (2e-3 hybrid, 5e-5 transformer)."""
        if self.lr is not None:
            return float(self.lr)
        return 2e-3 if self.model == "hybrid" else 5e-5

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain data, nested like the dataclasses (what `from_dict` reads back).

        Returns
        -------
        dict
        """
        data = asdict(self)
        data["hybrid"] = self.hybrid.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, where: str = "train config") -> TrainConfig:
        """Build from plain mappings (YAML, JSON), with the nested sections.

        Parameters
        ----------
        data : mapping or None
            Settings with the same nesting as the dataclasses (``{"epochs": 3, "hybrid": {...}}``).
        where : str
            Where the mapping comes from, the prefix of every error message (a file, ``r.yaml: train.config``).

        Returns
        -------
        TrainConfig

        Raises
        ------
        InputError
            Naming the field: unknown (with the closest known name), of the wrong type, or out of range.
        """
        return from_mapping(cls, data, where)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Read a YAML file of training settings (see `from_dict`); errors name the file and the field.

        Parameters
        ----------
        path : str or Path
            The YAML file.

        Returns
        -------
        TrainConfig

        Raises
        ------
        InputError
            Invalid YAML, or a field as in `from_dict`.
        """
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: not valid YAML ({exc})") from exc
        return cls.from_dict(data, where=str(path))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some top-level fields changed.

        Parameters
        ----------
        **changes
            Field name -> new value (nested sections are replaced whole).

        Returns
        -------
        TrainConfig
            A new config, checked like any other.
        """
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(changes)
        return TrainConfig(**data)


__all__ = ["MODEL_KINDS", "EmbeddingConfig", "ProxyConfig", "TrainConfig", "TransformerConfig"]
