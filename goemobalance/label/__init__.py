"""Pseudo-labelling: a batched, resumable transformer labeler and offline scikit-learn labelers.

All labelers share ``predict_proba(texts)``, ``label(dataset) -> Dataset`` and a batched ``__call__``
usable with `datasets.Dataset.map` and Ray Data ``map_batches``; see docs/label.md.
"""

from goemobalance.label.base import ProbaLabeler, write_predictions
from goemobalance.label.embed import SentenceEncoder, default_encoder_path
from goemobalance.label.offline import (
    EmbeddingLogRegLabeler,
    OfflineLabeler,
    TfidfLogRegLabeler,
    train_offline,
)
from goemobalance.label.selection import SelectionRule, accept, macro_f1, tune_thresholds
from goemobalance.label.transformer import DEFAULT_MODEL, LabelMappingError, TransformerLabeler

__all__ = [
    "DEFAULT_MODEL",
    "EmbeddingLogRegLabeler",
    "LabelMappingError",
    "OfflineLabeler",
    "ProbaLabeler",
    "SelectionRule",
    "SentenceEncoder",
    "TfidfLogRegLabeler",
    "TransformerLabeler",
    "accept",
    "default_encoder_path",
    "macro_f1",
    "train_offline",
    "tune_thresholds",
    "write_predictions",
]
