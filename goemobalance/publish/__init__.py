"""Publishing: a validated train/validation/test `DatasetDict` saved in the Hub layout with a full card, and uploaded."""

from goemobalance.publish.card import (
    CITATIONS,
    CardInfo,
    build_card,
    card_body,
    card_info,
    card_metadata,
    source_mix,
)
from goemobalance.publish.hashing import dataset_hash
from goemobalance.publish.hub import is_hub_folder, load_published, push_to_hub, read_dataset, save
from goemobalance.publish.measures import imbalance_measures, label_counts
from goemobalance.publish.splits import PublishError, make_dataset_dict

__all__ = [
    "CITATIONS",
    "CardInfo",
    "PublishError",
    "build_card",
    "card_body",
    "card_info",
    "card_metadata",
    "dataset_hash",
    "imbalance_measures",
    "is_hub_folder",
    "label_counts",
    "load_published",
    "make_dataset_dict",
    "push_to_hub",
    "read_dataset",
    "save",
    "source_mix",
]
