"""The label space: GoEmotions' 28 labels, their groupings, and name/id/multi-hot conversions.

`LabelSpace` is a small immutable type so other label sets (Ekman, sentiment, a custom list) work the
same way everywhere in the pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from goemobalance.errors import InputError

GOEMOTIONS_NAMES: tuple[str, ...] = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion",
    "curiosity", "desire", "disappointment", "disapproval", "disgust", "embarrassment",
    "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness", "optimism",
    "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral",
)  # fmt: skip

EKMAN_GROUPS: dict[str, tuple[str, ...]] = {
    "anger": ("anger", "annoyance", "disapproval"),
    "disgust": ("disgust",),
    "fear": ("fear", "nervousness"),
    "joy": ("joy", "amusement", "approval", "excitement", "gratitude", "love", "optimism",
            "relief", "pride", "admiration", "desire", "caring"),
    "sadness": ("sadness", "disappointment", "embarrassment", "grief", "remorse"),
    "surprise": ("surprise", "realization", "confusion", "curiosity"),
}  # fmt: skip

SENTIMENT_GROUPS: dict[str, tuple[str, ...]] = {
    "positive": ("amusement", "excitement", "joy", "love", "desire", "optimism", "caring", "pride",
                 "admiration", "gratitude", "relief", "approval"),
    "negative": ("fear", "nervousness", "remorse", "embarrassment", "disappointment", "sadness",
                 "grief", "disgust", "anger", "annoyance", "disapproval"),
    "ambiguous": ("realization", "surprise", "curiosity", "confusion"),
}  # fmt: skip


class UnknownLabelError(InputError):
    """A label name or id that is not part of the label space."""


@dataclass(frozen=True)
class LabelSpace:
    """An ordered set of label names; ids are positions in `names`."""

    names: tuple[str, ...]
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = tuple(self.names)
        if len(set(names)) != len(names):
            raise ValueError(f"label names must be unique: {names}")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(names)})

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self):
        return iter(self.names)

    def id(self, name: str) -> int:
        """Id of one label name (case-insensitive, surrounding spaces ignored)."""
        key = name.strip().lower() if isinstance(name, str) else name
        try:
            return self._index[key]
        except KeyError:
            raise UnknownLabelError(f"unknown label name {name!r}; known: {', '.join(self.names)}") from None

    def name(self, label_id: int) -> str:
        """Name of one label id."""
        if not 0 <= int(label_id) < len(self.names):
            raise UnknownLabelError(f"unknown label id {label_id!r}; valid ids are 0..{len(self.names) - 1}")
        return self.names[int(label_id)]

    def ids(self, names: Iterable[str]) -> list[int]:
        return [self.id(n) for n in names]

    def to_names(self, ids: Iterable[int]) -> list[str]:
        return [self.name(i) for i in ids]

    def to_multi_hot(self, label_lists: Sequence[Sequence[int]], dtype=np.int8) -> np.ndarray:
        """Rows of label ids -> an (n_rows, n_labels) 0/1 matrix."""
        matrix = np.zeros((len(label_lists), len(self.names)), dtype=dtype)
        for row, ids in enumerate(label_lists):
            for label_id in ids:
                matrix[row, self._checked_id(label_id)] = 1
        return matrix

    def from_multi_hot(self, matrix: np.ndarray) -> list[list[int]]:
        """An (n_rows, n_labels) 0/1 (or boolean) matrix -> rows of sorted label ids."""
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[1] != len(self.names):
            raise ValueError(f"expected a matrix with {len(self.names)} columns, got shape {matrix.shape}")
        return [np.flatnonzero(row).tolist() for row in matrix]

    def grouped(self, groups: Mapping[str, Sequence[str]]) -> tuple[LabelSpace, np.ndarray]:
        """A coarser label space and the (n_labels, n_groups) 0/1 map from this space onto it.

        Multiply a multi-hot matrix by the map (and clip to 1) to convert labels to groups.
        """
        coarse = LabelSpace(tuple(groups))
        mapping = np.zeros((len(self), len(coarse)), dtype=np.int8)
        for group_id, members in enumerate(groups.values()):
            for member in members:
                mapping[self.id(member), group_id] = 1
        return coarse, mapping

    def _checked_id(self, label_id: int) -> int:
        if not 0 <= int(label_id) < len(self.names):
            raise UnknownLabelError(f"unknown label id {label_id!r}; valid ids are 0..{len(self.names) - 1}")
        return int(label_id)


GOEMOTIONS = LabelSpace(GOEMOTIONS_NAMES)
NEUTRAL_ID = GOEMOTIONS.id("neutral")


def ekman_space(space: LabelSpace = GOEMOTIONS) -> tuple[LabelSpace, np.ndarray]:
    """Ekman's six emotions plus neutral, and the map from the GoEmotions space onto them."""
    groups = dict(EKMAN_GROUPS, neutral=("neutral",))
    return space.grouped(groups)


def sentiment_space(space: LabelSpace = GOEMOTIONS) -> tuple[LabelSpace, np.ndarray]:
    """Positive / negative / ambiguous plus neutral, and the map from the GoEmotions space onto them."""
    groups = dict(SENTIMENT_GROUPS, neutral=("neutral",))
    return space.grouped(groups)
