"""Training and evaluation: the paper's hybrid CNN-BiLSTM-attention model, a transformer baseline, thresholds,
metrics, and the balanced-vs-imbalanced comparison on the untouched GoEmotions test split."""

from goemobalance.train.config import EmbeddingConfig, TrainConfig, TransformerConfig
from goemobalance.train.loop import TrainedModel, fit
from goemobalance.train.metrics import multilabel_report, rarest_labels, save_report
from goemobalance.train.model import HybridClassifier, HybridConfig
from goemobalance.train.thresholds import Thresholds, tune_thresholds
from goemobalance.train.tokenize import Vocabulary, tokenize

__all__ = [
    "EmbeddingConfig",
    "HybridClassifier",
    "HybridConfig",
    "Thresholds",
    "TrainConfig",
    "TrainedModel",
    "TransformerConfig",
    "Vocabulary",
    "fit",
    "multilabel_report",
    "rarest_labels",
    "save_report",
    "tokenize",
    "tune_thresholds",
]
