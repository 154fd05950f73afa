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
    """An ordered set of label names; ids are positions in `names`.

    Immutable and hashable, so one space can be shared by every stage and compared for equality.

    Parameters
    ----------
    names : tuple of str
        The label names, in id order; they must be unique (a list is stored as a tuple).

    Raises
    ------
    ValueError
        If a name occurs twice.
    """

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
        """Id of one label name (case-insensitive, surrounding spaces ignored).

        Parameters
        ----------
        name : str
            A label name of this space.

        Returns
        -------
        int
            Its position in `names`.

        Raises
        ------
        UnknownLabelError
            If the name is not in the space (the message lists the known names).
        """
        key = name.strip().lower() if isinstance(name, str) else name
        try:
            return self._index[key]
        except KeyError:
            raise UnknownLabelError(f"unknown label name {name!r}; known: {', '.join(self.names)}") from None

    def name(self, label_id: int) -> str:
        """Name of one label id.

        Parameters
        ----------
        label_id : int
            A label id, ``0 <= label_id < len(space)``.

        Returns
        -------
        str
            The name at that position.

        Raises
        ------
        UnknownLabelError
            If the id is out of range.
        """
        if not 0 <= int(label_id) < len(self.names):
            raise UnknownLabelError(f"unknown label id {label_id!r}; valid ids are 0..{len(self.names) - 1}")
        return self.names[int(label_id)]

    def ids(self, names: Iterable[str]) -> list[int]:
        """Ids of several label names, in the order given (see `id`).

        Parameters
        ----------
        names : iterable of str
            Label names of this space.

        Returns
        -------
        list of int
            One id per name.
        """
        return [self.id(n) for n in names]

    def to_names(self, ids: Iterable[int]) -> list[str]:
        """Names of several label ids, in the order given (see `name`).

        Parameters
        ----------
        ids : iterable of int
            Label ids of this space.

        Returns
        -------
        list of str
            One name per id.
        """
        return [self.name(i) for i in ids]

    def to_multi_hot(self, label_lists: Sequence[Sequence[int]], dtype=np.int8) -> np.ndarray:
        """Rows of label ids -> an (n_rows, n_labels) 0/1 matrix.

        Parameters
        ----------
        label_lists : sequence of sequences of int
            Per row, its label ids (repeats are harmless).
        dtype : numpy dtype, default np.int8
            The matrix's dtype.

        Returns
        -------
        np.ndarray
            Shape ``(len(label_lists), len(space))``; 1 where the row has the label.

        Raises
        ------
        UnknownLabelError
            If an id is out of range.
        """
        matrix = np.zeros((len(label_lists), len(self.names)), dtype=dtype)
        for row, ids in enumerate(label_lists):
            for label_id in ids:
                matrix[row, self._checked_id(label_id)] = 1
        return matrix

    def from_multi_hot(self, matrix: np.ndarray) -> list[list[int]]:
        """An (n_rows, n_labels) 0/1 (or boolean) matrix -> rows of sorted label ids.

        Parameters
        ----------
        matrix : array-like of shape (n_rows, n_labels)
            Multi-hot rows; any non-zero entry counts as the label.

        Returns
        -------
        list of list of int
            Per row, its label ids in ascending order.

        Raises
        ------
        ValueError
            If `matrix` is not 2-D with one column per label.
        """
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[1] != len(self.names):
            raise ValueError(f"expected a matrix with {len(self.names)} columns, got shape {matrix.shape}")
        return [np.flatnonzero(row).tolist() for row in matrix]

    def grouped(self, groups: Mapping[str, Sequence[str]]) -> tuple[LabelSpace, np.ndarray]:
        """A coarser label space and the (n_labels, n_groups) 0/1 map from this space onto it.

        Multiply a multi-hot matrix by the map (and clip to 1) to convert labels to groups.

        Parameters
        ----------
        groups : mapping of str to sequence of str
            Group name -> the names (of this space) it contains; group ids follow the mapping's order.

        Returns
        -------
        coarse : LabelSpace
            The space of group names.
        mapping : np.ndarray
            ``int8`` array of shape ``(len(self), len(coarse))``; 1 where a label belongs to a group.

        Raises
        ------
        UnknownLabelError
            If a group names a label that is not in this space.
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
    """Ekman's six emotions plus neutral, and the map from the GoEmotions space onto them.

    Parameters
    ----------
    space : LabelSpace, default GOEMOTIONS
        The fine space; it must contain every GoEmotions name the groups use.

    Returns
    -------
    coarse : LabelSpace
        anger, disgust, fear, joy, sadness, surprise, neutral.
    mapping : np.ndarray
        The ``(len(space), 7)`` 0/1 map (see `LabelSpace.grouped`).
    """
    groups = dict(EKMAN_GROUPS, neutral=("neutral",))
    return space.grouped(groups)


def sentiment_space(space: LabelSpace = GOEMOTIONS) -> tuple[LabelSpace, np.ndarray]:
    """Positive / negative / ambiguous plus neutral, and the map from the GoEmotions space onto them.

    Parameters
    ----------
    space : LabelSpace, default GOEMOTIONS
        The fine space; it must contain every GoEmotions name the groups use.

    Returns
    -------
    coarse : LabelSpace
        positive, negative, ambiguous, neutral.
    mapping : np.ndarray
        The ``(len(space), 4)`` 0/1 map (see `LabelSpace.grouped`).
    """
    groups = dict(SENTIMENT_GROUPS, neutral=("neutral",))
    return space.grouped(groups)
