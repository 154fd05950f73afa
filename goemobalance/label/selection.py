"""Turning per-label probabilities into labels: thresholds, confidence floor, label cap, top-1 fallback.

`SelectionRule` is applied when labelling and again by `accept`, which splits a labelled dataset into
accepted and rejected rows (with a ``reject_reason`` column) so a rule can be changed without relabelling.
Thresholds are chosen on held-out data by `goemobalance.label.acceptance.tune_acceptance`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.metrics import f1_score

from goemobalance.labels import LabelSpace
from goemobalance.mapped import pages_released
from goemobalance.metajson import set_flag
from goemobalance.schema import SchemaError, label_space_of

REJECT_UNSCORED = "unscored"
REJECT_LOW_CONFIDENCE = "low_confidence"
REJECT_NO_LABEL = "no_label_above_threshold"
ACCEPT_BATCH_SIZE = 10_000
#: The meta key of the labeler's stamp (labeler, model, rule), written with ``json.dumps(sort_keys=True)``.
PROVENANCE_KEY = "pseudo_label"


@dataclass(frozen=True)
class SelectionRule:
    """How probabilities become labels.

    - ``threshold``: one global threshold, a list with one per label, or a ``{label name: threshold}``
      mapping (labels not named use ``default_threshold``); ``inf`` (or None) means the label is never kept;
    - ``min_confidence``: rows whose top probability is below it get no labels (rejected by `accept`);
    - ``max_labels``: keep at most this many labels per row, the most probable first (None: no cap);
    - ``top1_fallback``: when no label passes its threshold, keep the single most probable label.

    Parameters
    ----------
    threshold : float, sequence of float or mapping of str to float, default 0.5
        The acceptance threshold(s), as above.
    min_confidence : float, default 0.0
        Rows whose top probability is below it get no labels.
    max_labels : int or None, default None
        Most labels kept per row.
    top1_fallback : bool, default True
        Keep the most probable label of a row where none passes (applied before `min_confidence`).
    default_threshold : float, default 0.5
        Threshold of the labels a mapping `threshold` does not name.
    """

    threshold: float | Sequence[float] | Mapping[str, float] = 0.5
    min_confidence: float = 0.0
    max_labels: int | None = None
    top1_fallback: bool = True
    default_threshold: float = 0.5

    def thresholds(self, space: LabelSpace) -> np.ndarray:
        """The per-label thresholds in `space` order (None, as `to_dict` writes ``inf``, is ``inf``).

        Parameters
        ----------
        space : LabelSpace
            The label space; mapping keys are looked up in it.

        Returns
        -------
        np.ndarray
            ``float64`` threshold per label.

        Raises
        ------
        UnknownLabelError
            If a mapping names a label that is not in `space`.
        ValueError
            If a sequence does not have one threshold per label.
        """
        if isinstance(self.threshold, Mapping):
            values = np.full(len(space), self.default_threshold, dtype=np.float64)
            for name, value in self.threshold.items():
                values[space.id(name)] = _as_threshold(value)
            return values
        if isinstance(self.threshold, (int, float)):
            return np.full(len(space), float(self.threshold), dtype=np.float64)
        values = np.asarray([_as_threshold(value) for value in self.threshold], dtype=np.float64)
        if values.shape != (len(space),):
            raise ValueError(f"expected {len(space)} per-label thresholds, got shape {values.shape}")
        return values

    def select_mask(self, probs: np.ndarray, space: LabelSpace) -> np.ndarray:
        """An (n, L) boolean matrix of the labels this rule keeps for each row.

        Parameters
        ----------
        probs : array-like of shape (n_rows, n_labels)
            Per-label probabilities, columns in `space` order.
        space : LabelSpace
            The label space the thresholds refer to.

        Returns
        -------
        np.ndarray
            Boolean matrix: thresholds, then the top-1 fallback, then `max_labels`, then `min_confidence`.
        """
        probs = np.asarray(probs, dtype=np.float64)
        keep = probs >= self.thresholds(space)
        if self.top1_fallback and probs.shape[1]:
            empty = ~keep.any(axis=1)
            keep[np.flatnonzero(empty), probs[empty].argmax(axis=1)] = True
        if self.max_labels is not None:
            keep &= _top_k_mask(np.where(keep, probs, -np.inf), self.max_labels)
        if self.min_confidence > 0 and probs.shape[1]:
            keep[probs.max(axis=1) < self.min_confidence] = False
        return keep

    def select(self, probs: np.ndarray, space: LabelSpace) -> list[list[int]]:
        """Sorted label ids kept per row.

        Parameters
        ----------
        probs : array-like of shape (n_rows, n_labels)
            Per-label probabilities, columns in `space` order.
        space : LabelSpace
            The label space the thresholds refer to.

        Returns
        -------
        list of list of int
            Per row, the ids `select_mask` keeps, ascending.
        """
        return space.from_multi_hot(self.select_mask(probs, space))

    def reject_reasons(self, probs: np.ndarray, space: LabelSpace) -> list[str]:
        """Why each row would be rejected by `accept` ('' for rows that are accepted).

        Parameters
        ----------
        probs : array-like of shape (n_rows, n_labels)
            Per-label probabilities, columns in `space` order.
        space : LabelSpace
            The label space the thresholds refer to.

        Returns
        -------
        list of str
            Per row ``""``, ``"low_confidence"`` (top probability under `min_confidence`) or
            ``"no_label_above_threshold"``.
        """
        probs = np.asarray(probs, dtype=np.float64)
        if not len(probs):
            return []
        return _reasons(self.select_mask(probs, space), probs, self).tolist()

    def to_dict(self, space: LabelSpace) -> dict:
        """A JSON-ready description (per-label thresholds spelt out) for provenance.

        A label that accepts nothing (threshold ``inf``) is written as None, which strict JSON allows.

        Parameters
        ----------
        space : LabelSpace
            The label space the per-label thresholds are spelt out in.

        Returns
        -------
        dict
            ``threshold`` (one value per label, 6 decimals), ``min_confidence``, ``max_labels`` and
            ``top1_fallback``.
        """
        data = asdict(self)
        data["threshold"] = [round(float(t), 6) if np.isfinite(t) else None for t in self.thresholds(space)]
        data.pop("default_threshold")
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> SelectionRule:
        """The rule `to_dict` described (extra keys are ignored).

        Parameters
        ----------
        data : mapping
            A `to_dict` result: ``threshold`` is required, the other keys default as in the constructor.

        Returns
        -------
        SelectionRule
        """
        threshold = data["threshold"]
        if isinstance(threshold, list):
            threshold = [_as_threshold(value) for value in threshold]
        return cls(threshold=threshold, min_confidence=data.get("min_confidence", 0.0),
                   max_labels=data.get("max_labels"), top1_fallback=data.get("top1_fallback", True))  # fmt: skip


def _as_threshold(value: float | None) -> float:
    """A threshold as a float; None (a label that accepts nothing) is ``inf``."""
    return np.inf if value is None else float(value)


def _top_k_mask(values: np.ndarray, k: int) -> np.ndarray:
    """True at each row's `k` largest finite values."""
    if k <= 0:
        return np.zeros(values.shape, dtype=bool)
    if k >= values.shape[1]:
        return np.isfinite(values)
    top = np.argpartition(-values, k - 1, axis=1)[:, :k]
    mask = np.zeros(values.shape, dtype=bool)
    np.put_along_axis(mask, top, True, axis=1)
    return mask & np.isfinite(values)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-averaged F1 over labels (labels never seen nor predicted count as 0).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_rows, n_labels)
        True and predicted 0/1 label matrices.

    Returns
    -------
    float
        scikit-learn's macro F1 with ``zero_division=0``.
    """
    return float(f1_score(np.asarray(y_true), np.asarray(y_pred), average="macro", zero_division=0))


def accept(
    dataset: datasets.Dataset, rule: SelectionRule, *, batch_size: int = ACCEPT_BATCH_SIZE
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Split pseudo-labelled rows into (accepted, rejected) under `rule`; both get a ``reject_reason`` column.

    Labels of scored rows are re-derived from their ``scores`` with `rule`; rows whose ``label_origin``
    is not ``pseudo`` pass through unchanged; pseudo rows without scores are rejected as ``unscored``.
    Pseudo rows get ``meta["labeled"]`` set to whether they keep labels.

    Works on Arrow batches of `batch_size` rows (`datasets.Dataset.map` with the ``arrow`` format), so
    memory does not grow with the number of rows and an on-disk dataset stays memory-mapped.

    Parameters
    ----------
    dataset : datasets.Dataset
        Rows in the record schema (`goemobalance.schema`), e.g. the output of a labeler's ``label``.
    rule : SelectionRule
        How probabilities become labels.
    batch_size : int
        Rows per Arrow batch.

    Returns
    -------
    accepted, rejected : datasets.Dataset
        The rows in input order, with ``reject_reason`` ('' for accepted rows; ``unscored``,
        ``low_confidence`` or ``no_label_above_threshold`` for rejected ones).
    """
    space = label_space_of(dataset)
    rule_json = json.dumps(rule.to_dict(space))
    with pages_released(dataset):
        labelled = dataset.with_format("arrow").map(
            _AcceptBatch(rule, space), batched=True, batch_size=batch_size, with_indices=True,
            features=_with_reason(dataset.features), desc="accept",
        )  # fmt: skip
    labelled = labelled.with_format(**_format_of(dataset))
    reasons = labelled.with_format("arrow", columns=["reject_reason"])[:].column("reject_reason")
    is_accepted = np.asarray(pc.equal(reasons, "").to_numpy(zero_copy_only=False), dtype=bool)
    accepted = labelled.select(np.flatnonzero(is_accepted))
    rejected = labelled.select(np.flatnonzero(~is_accepted))
    accepted.info.description = rejected.info.description = f"accept rule: {rule_json}"
    return accepted, rejected


class _AcceptBatch:
    """`accept` on one Arrow batch: labels and reasons from the scores, the labeled flag in meta."""

    def __init__(self, rule: SelectionRule, space: LabelSpace):
        self.rule = rule
        self.space = space

    def __call__(self, batch: pa.Table, indices: list[int]) -> pa.Table:
        pseudo = _bool_array(pc.equal(batch.column("label_origin"), "pseudo"))
        scores = batch.column("scores").combine_chunks()
        scored = pseudo & (_int_array(pc.list_value_length(scores)) > 0)
        scored_rows = np.flatnonzero(scored)
        reasons = np.where(pseudo, REJECT_UNSCORED, "").astype(object)
        labels = batch.column("labels").combine_chunks()
        if len(scored_rows):
            probs = _probability_matrix(
                scores.take(pa.array(scored_rows)), len(self.space), indices, scored_rows
            )
            keep = self.rule.select_mask(probs, self.space)
            reasons[scored_rows] = _reasons(keep, probs, self.rule)
            labels = _with_rows_replaced(labels, scored_rows, _list_array(keep, labels.type))
        has_labels = _int_array(pc.list_value_length(labels)) > 0
        pseudo_rows = np.flatnonzero(pseudo)
        metas = set_flag(
            batch.column("meta"), "labeled", pseudo_rows, has_labels[pseudo_rows], proof_key=PROVENANCE_KEY
        )
        return (
            batch.set_column(batch.schema.get_field_index("labels"), "labels", labels)
            .set_column(batch.schema.get_field_index("meta"), "meta", metas)
            .append_column("reject_reason", pa.array(reasons.tolist(), pa.string()))
        )


def _probability_matrix(
    scores: pa.ListArray, n_labels: int, indices: list[int], rows: np.ndarray
) -> np.ndarray:
    """The scored rows' probabilities as an (n, L) float64 matrix; a row of another length is an error."""
    lengths = _int_array(pc.list_value_length(scores))
    wrong = np.flatnonzero(lengths != n_labels)
    if len(wrong):
        row = indices[int(rows[wrong[0]])]
        raise SchemaError(
            f"row {row}, field 'scores': expected {n_labels} probabilities, got {lengths[wrong[0]]}"
        )
    flat = pc.list_flatten(scores).to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=np.float64).reshape(len(scores), n_labels)


def _reasons(keep: np.ndarray, probs: np.ndarray, rule: SelectionRule) -> np.ndarray:
    """Why each row is rejected ('' when kept): its top probability under ``min_confidence``, or no label."""
    low = probs.max(axis=1) < rule.min_confidence
    return np.where(low, REJECT_LOW_CONFIDENCE, np.where(keep.any(axis=1), "", REJECT_NO_LABEL))


def _list_array(mask: np.ndarray, list_type: pa.DataType) -> pa.ListArray:
    """Each row's True columns, ascending, as an Arrow list array of `list_type`."""
    offsets = np.zeros(len(mask) + 1, dtype=np.int32)
    np.cumsum(mask.sum(axis=1), out=offsets[1:])
    values = pa.array(np.nonzero(mask)[1], type=list_type.value_type)
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=list_type)


def _with_rows_replaced(column: pa.Array, rows: np.ndarray, replacement: pa.Array) -> pa.Array:
    """`column` with its entries at `rows` replaced by `replacement` (one entry per row, in order)."""
    take = np.arange(len(column), dtype=np.int64)
    take[rows] = len(column) + np.arange(len(rows))
    return pa.concat_arrays([column, replacement.cast(column.type)]).take(pa.array(take))


def _bool_array(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _int_array(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(values, 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _format_of(dataset: datasets.Dataset) -> dict:
    """`dataset`'s output format as `datasets.Dataset.with_format` arguments (all columns: ``columns=None``)."""
    current = dataset.format
    columns = None if set(current["columns"]) == set(dataset.column_names) else current["columns"]
    return {"type": current["type"], "columns": columns,
            "output_all_columns": current["output_all_columns"], **current["format_kwargs"]}  # fmt: skip


def _with_reason(features: datasets.Features) -> datasets.Features:
    updated = features.copy()
    updated["reject_reason"] = datasets.Value("string")
    return updated
