"""Source loaders: every loader returns a `datasets.Dataset` in the record schema (`goemobalance.schema`)."""

from goemobalance.sources.errors import LoadReport, SourceError
from goemobalance.sources.goemotions import HUB_ID, load_goemotions

__all__ = ["HUB_ID", "LoadReport", "SourceError", "load_goemotions"]
