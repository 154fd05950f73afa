"""Source loaders: every loader returns a `datasets.Dataset` in the record schema (`goemobalance.schema`).

`load_dataset_any(path_or_id, split=None)` recognises every supported input and picks the loader; the
CLIs use it for any "dataset path" argument. ``"packaged"`` means the GoEmotions copy shipped in the
package wherever a GoEmotions path is accepted.
"""

from goemobalance.sources.detect import (
    ACCEPTED,
    SPLIT_ALIASES,
    conform_dataset,
    load_dataset_any,
    pick_split,
    read_hub_folder,
    split_label,
    split_names,
)
from goemobalance.sources.errors import LoadReport, SourceError
from goemobalance.sources.generic import load_table
from goemobalance.sources.goemotions import (
    HUB_ID,
    PACKAGED,
    load_goemotions,
    load_goemotions_hub,
    load_goemotions_raw,
    load_goemotions_tsv,
    packaged_goemotions,
)
from goemobalance.sources.sentiment140 import CleanOptions, load_sentiment140

__all__ = [
    "ACCEPTED",
    "HUB_ID",
    "PACKAGED",
    "SPLIT_ALIASES",
    "CleanOptions",
    "LoadReport",
    "SourceError",
    "conform_dataset",
    "load_dataset_any",
    "load_goemotions",
    "load_goemotions_hub",
    "load_goemotions_raw",
    "load_goemotions_tsv",
    "load_sentiment140",
    "load_table",
    "packaged_goemotions",
    "pick_split",
    "read_hub_folder",
    "split_label",
    "split_names",
]
