"""The published `DatasetDict`: train/validation/test splits in the record schema, checked for leakage."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import datasets

from goemobalance.balance.split import train_val_test_split
from goemobalance.errors import InputError
from goemobalance.publish.hashing import SPLIT_ORDER
from goemobalance.schema import features, label_space_of, validate

SplitFunction = Callable[..., datasets.DatasetDict]
SPLIT_ALIASES: dict[str, str] = {"dev": "validation", "valid": "validation", "val": "validation"}


class PublishError(InputError):
    """A dataset or folder that cannot be published as it is; the message says what to fix."""


def make_dataset_dict(
    data: datasets.Dataset | datasets.DatasetDict,
    *,
    split_fn: SplitFunction | None = None,
    sizes: Sequence[float] = (0.8, 0.1, 0.1),
    order: int = 1,
    seed: int = 0,
    groups: Sequence[str] | None = None,
) -> datasets.DatasetDict:
    """A validated train/validation/test `DatasetDict` in the record schema, ready for `save`.

    An already split `DatasetDict` is checked and reordered (a ``dev`` split is renamed ``validation``); a
    `Dataset` is split with `split_fn(dataset, sizes=, order=, seed=, groups=)`, by default the balancing
    stage's iterative stratifier. Every split is validated, cast to identical features, and no id may
    appear in two splits.

    Parameters
    ----------
    data : datasets.Dataset or datasets.DatasetDict
        Rows to split, or splits to check.
    split_fn : callable, optional
        The splitter for a Dataset (default: `goemobalance.balance.train_val_test_split`).
    sizes : sequence of three float, default (0.8, 0.1, 0.1)
        Train, validation and test proportions for `split_fn`.
    order : int, default 1
        Stratification order for `split_fn`.
    seed : int, default 0
        Seed for `split_fn`.
    groups : sequence of str, optional
        Group keys for `split_fn` (rows sharing one stay together).

    Returns
    -------
    datasets.DatasetDict
        Exactly ``train``, ``validation``, ``test``, in that order.

    Raises
    ------
    PublishError
        If the splits are not exactly those three, a split fails validation, or an id is in two splits.
    TypeError
        If `data` is neither a Dataset nor a DatasetDict.
    """
    if isinstance(data, datasets.DatasetDict):
        dataset_dict = _renamed_splits(data)
    elif isinstance(data, datasets.Dataset):
        split = split_fn or train_val_test_split
        kwargs = {"sizes": tuple(sizes), "order": order, "seed": seed}
        if groups is not None:
            kwargs["groups"] = groups
        dataset_dict = _renamed_splits(split(data, **kwargs))
    else:
        raise TypeError(f"expected a datasets.Dataset or DatasetDict, got {type(data).__name__}")
    missing = [name for name in SPLIT_ORDER if name not in dataset_dict]
    extra = [name for name in dataset_dict if name not in SPLIT_ORDER]
    if missing or extra:
        raise PublishError(
            f"a published dataset has exactly the splits {list(SPLIT_ORDER)}; "
            f"missing {missing}, unexpected {extra} (got {list(dataset_dict)})"
        )
    schema = _common_features(dataset_dict)
    result = datasets.DatasetDict()
    for name in SPLIT_ORDER:
        split = dataset_dict[name]
        try:
            validate(split)
        except ValueError as exc:
            raise PublishError(f"split {name!r}: {exc}") from exc
        result[name] = split.select_columns(list(schema)).cast(schema) if split.features != schema else split
    _check_no_shared_ids(result)
    return result


def _renamed_splits(dataset_dict: datasets.DatasetDict) -> datasets.DatasetDict:
    renamed = datasets.DatasetDict()
    for name, split in dataset_dict.items():
        target = SPLIT_ALIASES.get(name, name)
        if target in renamed:
            raise PublishError(f"splits {name!r} and {target!r} would both be published as {target!r}")
        renamed[target] = split
    return renamed


def _common_features(dataset_dict: datasets.DatasetDict) -> datasets.Features:
    spaces = {}
    for name, split in dataset_dict.items():
        try:
            spaces[name] = label_space_of(split)
        except ValueError as exc:
            raise PublishError(f"split {name!r}: {exc}") from exc
    first = next(iter(spaces.values()))
    for name, space in spaces.items():
        if space.names != first.names:
            raise PublishError(
                f"split {name!r} has label names {list(space.names)}, expected {list(first.names)}"
            )
    return features(first)


def _check_no_shared_ids(dataset_dict: datasets.DatasetDict) -> None:
    owner: dict[str, str] = {}
    for name, split in dataset_dict.items():
        for row, row_id in enumerate(split.with_format("arrow")["id"].to_pylist()):
            if row_id in owner:
                raise PublishError(
                    f"id {row_id!r} is in split {owner[row_id]!r} and in split {name!r} (row {row}): "
                    "a row may appear in one split only"
                )
            owner[row_id] = name
