"""Pseudo-labelling: a batched, resumable transformer labeler and offline scikit-learn labelers.

All labelers share ``predict_proba(texts)``, ``label(dataset) -> Dataset`` and a batched ``__call__``
usable with `datasets.Dataset.map` and Ray Data ``map_batches``; see docs/label.md.
"""

from goemobalance.errors import InputError
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

#: The offline labelers a recipe can name (``labeler: {type: offline, model: NAME}``).
OFFLINE_LABELERS: dict[str, type[OfflineLabeler]] = {
    "tfidf": TfidfLogRegLabeler,
    "minilm": EmbeddingLogRegLabeler,
}


def offline_labeler(name: str, **params) -> OfflineLabeler:
    """An unfitted offline labeler by its recipe name (``tfidf``, ``minilm``), built with `params`.

    Parameters
    ----------
    name : str
        One of `OFFLINE_LABELERS`.
    **params
        Constructor arguments (``rule``, ``C``, ...).

    Returns
    -------
    OfflineLabeler
    """
    if name not in OFFLINE_LABELERS:
        raise InputError(f"unknown offline labeler {name!r}; use one of {', '.join(OFFLINE_LABELERS)}")
    return OFFLINE_LABELERS[name](**params)


__all__ = [
    "DEFAULT_MODEL",
    "OFFLINE_LABELERS",
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
    "offline_labeler",
    "train_offline",
    "tune_thresholds",
    "write_predictions",
]
