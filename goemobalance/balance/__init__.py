"""Balancing: fast iterative stratification (`split`), target-count selection and multi-label
resampling (`sampling`), and dataset statistics (`stats`, when present)."""

from goemobalance.balance.sampling import (
    DEFAULT_SOURCE_PRIORITY,
    LPROS,
    LPRUS,
    MLROS,
    MLRUS,
    MultilabelBalancer,
    balance_dataset,
    deficits,
    imbalance_ratios,
    resample_dataset,
    resolve_targets,
)
from goemobalance.balance.split import (
    IterativeStratifier,
    MultilabelStratifiedKFold,
    MultilabelStratifiedShuffleSplit,
    SplitQuality,
    example_distribution,
    fold_sizes_for,
    folds_missing_labels,
    label_distribution,
    label_pair_distribution,
    sparse_label_matrix,
    split_quality,
    stratified_subsample,
    train_val_test_split,
)

__all__ = [
    "DEFAULT_SOURCE_PRIORITY",
    "LPROS",
    "LPRUS",
    "MLROS",
    "MLRUS",
    "IterativeStratifier",
    "MultilabelBalancer",
    "MultilabelStratifiedKFold",
    "MultilabelStratifiedShuffleSplit",
    "SplitQuality",
    "balance_dataset",
    "deficits",
    "example_distribution",
    "fold_sizes_for",
    "folds_missing_labels",
    "imbalance_ratios",
    "label_distribution",
    "label_pair_distribution",
    "resample_dataset",
    "resolve_targets",
    "sparse_label_matrix",
    "split_quality",
    "stratified_subsample",
    "train_val_test_split",
]

try:
    from goemobalance.balance import stats as _stats
except ModuleNotFoundError as exc:
    if exc.name != "goemobalance.balance.stats":
        raise
else:
    _stats_names = getattr(_stats, "__all__", [n for n in vars(_stats) if not n.startswith("_")])
    _stats_names = [name for name in _stats_names if name not in __all__]
    globals().update({name: getattr(_stats, name) for name in _stats_names})
    __all__.extend(_stats_names)
