"""Label-noise audit: out-of-sample probabilities, cleanlab label issues, duplicates, leakage, a report.

>>> from goemobalance.audit import audit, load_splits
>>> report = audit(load_splits("published/"), model="minilm")   # doctest: +SKIP
>>> report.save("audit/")                                       # doctest: +SKIP

Names are imported on first use (PEP 562), so ``goemobalance.audit.defaults`` and the command line's
``--help`` do not pay for cleanlab and scikit-learn.
"""

from __future__ import annotations

from goemobalance.lazy import lazy_exports

_HOMES: dict[str, str] = {
    "AuditReport": "report",
    "CALIBRATIONS": "defaults",
    "DEFAULT_MAX_FLAG_FRACTION": "defaults",
    "DEFAULT_MIN_WORDS": "defaults",
    "LabelIssues": "issues",
    "MODELS": "defaults",
    "PlantedNoise": "noise",
    "audit": "core",
    "cross_val_probs": "probs",
    "detection_metrics": "noise",
    "find_duplicates": "duplicates",
    "find_label_issues": "issues",
    "is_eval_split": "duplicates",
    "load_splits": "inputs",
    "plant_label_noise": "noise",
    "short_texts": "duplicates",
}

__all__ = [
    "CALIBRATIONS",
    "DEFAULT_MAX_FLAG_FRACTION",
    "DEFAULT_MIN_WORDS",
    "MODELS",
    "AuditReport",
    "LabelIssues",
    "PlantedNoise",
    "audit",
    "cross_val_probs",
    "detection_metrics",
    "find_duplicates",
    "find_label_issues",
    "is_eval_split",
    "load_splits",
    "plant_label_noise",
    "short_texts",
]


__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
