"""Pseudo-labelling: a batched, resumable transformer labeler and offline scikit-learn labelers.

All labelers share ``predict_proba(texts)``, ``label(dataset) -> Dataset`` and a batched ``__call__``
usable with `datasets.Dataset.map` and Ray Data ``map_batches``; offline labelers are built by name with
`offline_labeler` and choose per-label acceptance thresholds on GoEmotions dev with ``tune_acceptance``.
See docs/label.md.

Names are imported on first use, so ``import goemobalance.label.models`` (model identities) stays free of
torch and transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from goemobalance.lazy import lazy_exports

_HOMES = {
    "AcceptanceReport": "acceptance",
    "DEFAULT_MODEL": "models",
    "EmbeddingLogRegLabeler": "offline",
    "LabelAcceptance": "acceptance",
    "LabelMappingError": "transformer",
    "MeanEnsembleLabeler": "offline",
    "OFFLINE_LABELERS": "registry",
    "OfflineLabeler": "offline",
    "ProbaLabeler": "base",
    "SelectionRule": "selection",
    "SentenceEncoder": "embed",
    "TfidfLogRegLabeler": "offline",
    "TransformerLabeler": "transformer",
    "accept": "selection",
    "default_encoder_path": "models",
    "macro_f1": "selection",
    "offline_labeler": "registry",
    "train_offline": "registry",
    "tune_acceptance": "acceptance",
    "wilson_lower_bound": "acceptance",
    "write_predictions": "base",
}

__all__ = [
    "DEFAULT_MODEL",
    "OFFLINE_LABELERS",
    "AcceptanceReport",
    "EmbeddingLogRegLabeler",
    "LabelAcceptance",
    "LabelMappingError",
    "MeanEnsembleLabeler",
    "OfflineLabeler",
    "ProbaLabeler",
    "SelectionRule",
    "SentenceEncoder",
    "TfidfLogRegLabeler",
    "TransformerLabeler",
    "accept",
    "default_encoder_path",
    "macro_f1",
    "offline_labeler",
    "train_offline",
    "tune_acceptance",
    "wilson_lower_bound",
    "write_predictions",
]

if TYPE_CHECKING:
    from goemobalance.label.acceptance import (
        AcceptanceReport,
        LabelAcceptance,
        tune_acceptance,
        wilson_lower_bound,
    )
    from goemobalance.label.base import ProbaLabeler, write_predictions
    from goemobalance.label.embed import SentenceEncoder
    from goemobalance.label.models import DEFAULT_MODEL, default_encoder_path
    from goemobalance.label.offline import (
        EmbeddingLogRegLabeler,
        MeanEnsembleLabeler,
        OfflineLabeler,
        TfidfLogRegLabeler,
    )
    from goemobalance.label.registry import OFFLINE_LABELERS, offline_labeler, train_offline
    from goemobalance.label.selection import SelectionRule, accept, macro_f1
    from goemobalance.label.transformer import LabelMappingError, TransformerLabeler


__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
