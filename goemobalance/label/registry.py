"""The one registry of offline labelers: the names recipes and the CLI use, and training one on GoEmotions.

| name | labeler |
|---|---|
| ``tfidf`` | `TfidfLogRegLabeler` (word + char TF-IDF, logistic heads): the fast default |
| ``minilm`` | `EmbeddingLogRegLabeler` (MiniLM sentence embeddings, logistic heads) |
| ``tfidf+minilm`` | `MeanEnsembleLabeler` of the two: the most accurate (docs/label.md) |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from goemobalance.errors import InputError

if TYPE_CHECKING:
    from goemobalance.label.offline import OfflineLabeler


def _tfidf() -> OfflineLabeler:
    from goemobalance.label.offline import TfidfLogRegLabeler

    return TfidfLogRegLabeler()


def _minilm() -> OfflineLabeler:
    from goemobalance.label.offline import EmbeddingLogRegLabeler

    return EmbeddingLogRegLabeler()


def _tfidf_minilm() -> OfflineLabeler:
    from goemobalance.label.offline import MeanEnsembleLabeler

    return MeanEnsembleLabeler([("tfidf", _tfidf()), ("minilm", _minilm())])


#: Offline labeler name -> a factory of the unfitted labeler with default parameters. Importing this
#: module loads no model code (scikit-learn, torch), so the CLI can list the names in ``--help``.
OFFLINE_LABELERS: Mapping[str, Callable[[], OfflineLabeler]] = MappingProxyType(
    {"tfidf": _tfidf, "minilm": _minilm, "tfidf+minilm": _tfidf_minilm}
)


def offline_labeler(name: str, **params: Any) -> OfflineLabeler:
    """An unfitted offline labeler by registry name.

    Parameters
    ----------
    name : str
        ``"tfidf"``, ``"minilm"`` or ``"tfidf+minilm"`` (`OFFLINE_LABELERS`).
    **params
        Constructor parameters. For the ensemble a plain name (``rule``, ``space``, ``n_jobs``,
        ``cache_dir``, ``C``...) is set on the ensemble and on every member that has it;
        ``member__param`` (``minilm__C=1.0``) sets one member's.

    Returns
    -------
    OfflineLabeler
        The labeler, not fitted: call ``fit(texts, y)`` then ``tune_acceptance(dev_texts, dev_y, ...)``.
    """
    if name not in OFFLINE_LABELERS:
        raise InputError(f"unknown offline labeler {name!r}; use one of {sorted(OFFLINE_LABELERS)}")
    labeler = OFFLINE_LABELERS[name]()
    if params:
        labeler.set_params(**_routed(labeler, name, params))
    return labeler


def _routed(labeler: OfflineLabeler, name: str, params: dict[str, Any]) -> dict[str, Any]:
    """`params` as `set_params` arguments: plain names of an ensemble go to it and each member that has them."""
    valid = labeler.get_params(deep=True)
    members = getattr(labeler, "members", [])
    routed: dict[str, Any] = {}
    for key, value in params.items():
        targets = [key] if key in valid else []
        targets += [
            f"{member}__{key}" for member, _ in members if "__" not in key and f"{member}__{key}" in valid
        ]
        if not targets:
            plain = set(labeler.get_params(deep=False))
            for _, member in members:
                plain |= set(member.get_params(deep=False))
            raise InputError(
                f"offline labeler {name!r} has no parameter {key!r}; parameters: {sorted(plain)}"
            )
        routed.update(dict.fromkeys(targets, value))
    return routed


def train_offline(
    goemotions_dir: str | Path,
    name: str = "tfidf",
    *,
    target_precision: float | None = None,
    **params: Any,
) -> OfflineLabeler:
    """Fit an offline labeler on GoEmotions train, choose thresholds on dev, then score dev and test once.

    Parameters
    ----------
    goemotions_dir : str or Path
        A folder with GoEmotions ``train.tsv``, ``dev.tsv`` and ``test.tsv``.
    name : str
        A registry name (`OFFLINE_LABELERS`).
    target_precision : float or None
        Passed to ``tune_acceptance`` (None: F1-optimal thresholds). Thresholds see dev only.
    **params
        Labeler parameters (see `offline_labeler`).

    Returns
    -------
    OfflineLabeler
        Fitted and tuned; ``metrics_`` holds dev and test macro/micro-F1 of the tuned rule, and the
        ``acceptance_report_`` the per-label dev precision.
    """
    from goemobalance.schema import multi_hot
    from goemobalance.sources import load_goemotions

    labeler = offline_labeler(name, **params)
    train, dev, test = (load_goemotions(goemotions_dir, split=s) for s in ("train", "dev", "test"))
    labeler.fit(train["text"], multi_hot(train))
    labeler.tune_acceptance(dev["text"], multi_hot(dev), target_precision=target_precision)
    labeler.metrics_ = {
        "name": name, "trained_on": "goemotions train", "thresholds_tuned_on": "goemotions dev",
        "target_precision": target_precision,
        "dev": labeler.evaluate(dev["text"], multi_hot(dev)), "test": labeler.evaluate(test["text"], multi_hot(test)),
    }  # fmt: skip
    return labeler
