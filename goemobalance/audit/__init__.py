"""Label-noise audit: out-of-sample probabilities, cleanlab label issues, duplicates, leakage, a report.

>>> from goemobalance.audit import audit
>>> report = audit(dataset_dict, model="minilm")   # doctest: +SKIP
>>> report.save("audit/")                          # doctest: +SKIP
"""

from goemobalance.audit.core import audit
from goemobalance.audit.duplicates import find_duplicates, normalise_text, short_texts
from goemobalance.audit.issues import DEFAULT_MAX_FLAG_FRACTION, LabelIssues, find_label_issues
from goemobalance.audit.noise import PlantedNoise, detection_metrics, plant_label_noise
from goemobalance.audit.probs import cross_val_probs
from goemobalance.audit.report import AuditReport

__all__ = [
    "DEFAULT_MAX_FLAG_FRACTION",
    "AuditReport",
    "LabelIssues",
    "PlantedNoise",
    "audit",
    "cross_val_probs",
    "detection_metrics",
    "find_duplicates",
    "find_label_issues",
    "normalise_text",
    "plant_label_noise",
    "short_texts",
]
