"""goemobalance: build balanced multi-label emotion datasets, audit them, publish them, and prove they help.

The package root stays light (no `datasets`, `torch` or `pandas` import) so that ``goemobalance --help``
and recipe checks start fast; `features` and `validate` are loaded from `goemobalance.schema` on first use.
"""

from __future__ import annotations

from typing import Any

from goemobalance.labels import GOEMOTIONS, LabelSpace

__version__ = "0.1.0"
__all__ = ["GOEMOTIONS", "LabelSpace", "__version__", "features", "validate"]

_LAZY = {"features": "goemobalance.schema", "validate": "goemobalance.schema"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'goemobalance' has no attribute {name!r}")
