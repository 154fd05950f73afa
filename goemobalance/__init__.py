"""goemobalance: build balanced multi-label emotion datasets, audit them, publish them, and prove they help.

The package root stays light (no `datasets`, `torch` or `pandas` import) so that ``goemobalance --help``
and recipe checks start fast; `features` and `validate` are loaded from `goemobalance.schema` on first use.
"""

from __future__ import annotations

from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.lazy import lazy_exports

__version__ = "0.1.0"
__all__ = ["GOEMOTIONS", "LabelSpace", "__version__", "features", "validate"]

__getattr__, __dir__ = lazy_exports(__name__, {"features": "schema", "validate": "schema"}, globals())
