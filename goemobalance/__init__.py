"""goemobalance: build balanced multi-label emotion datasets, audit them, publish them, and prove they help."""

from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.schema import features, validate

__version__ = "0.1.0"
__all__ = ["GOEMOTIONS", "LabelSpace", "__version__", "features", "validate"]
