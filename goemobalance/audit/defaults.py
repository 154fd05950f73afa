"""The audit's option values and defaults, importable without numpy, cleanlab or scikit-learn (for ``--help``)."""

from __future__ import annotations

#: Built-in probability models of `goemobalance.audit.cross_val_probs`.
MODELS: tuple[str, ...] = ("tfidf", "tfidf-char", "minilm", "tfidf+minilm")
#: Per-label calibrations of `cross_val_probs` (None: raw probabilities).
CALIBRATIONS: tuple[str | None, ...] = (None, "sigmoid", "isotonic")
#: Flag at most this share of rows (the lowest label quality that cleanlab's filter also marks).
DEFAULT_MAX_FLAG_FRACTION = 0.10
#: Texts with fewer words (after normalisation) are reported as very short.
DEFAULT_MIN_WORDS = 3

__all__ = ["CALIBRATIONS", "DEFAULT_MAX_FLAG_FRACTION", "DEFAULT_MIN_WORDS", "MODELS"]
