"""Multi-label balancing: per-label target counts from a multi-source pool, the classic random
resamplers of Charte et al. (ML-ROS, ML-RUS, LP-ROS, LP-RUS), and the per-label deficits the LLM
generator is asked to fill.

Every balancer is a scikit-learn estimator that follows imbalanced-learn's sampler template:
``__init__`` stores its parameters untouched, ``fit_resample(X, y)`` checks them and then calls
``_fit_resample``, fitted attributes end with an underscore (``sample_indices_``: rows of the input,
repeated for clones; ``report_``: a `BalanceReport`), and ``get_params``/``set_params``/``clone`` work.
imbalanced-learn itself only handles single-label targets, hence this module.

`balance_dataset` runs any of them by name on a schema Dataset (``method="select"``, ``"add"``,
``"ml-ros"``, ``"lp-ros"``, ``"ml-rus"``, ``"lp-rus"``) and returns the balanced Dataset with its report;
`check_balance_options` validates the same settings before any data is read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import _num_samples
from tqdm.auto import tqdm

from goemobalance.balance.matrix import column_counts, labelset_codes, sparse_label_matrix
from goemobalance.balance.stats import coefficient_of_variation, imbalance_ratio_per_label
from goemobalance.errors import InputError
from goemobalance.markdown import markdown_table

__all__ = [
    "DEFAULT_MAX_OVERSHOOT",
    "DEFAULT_SOURCE_PRIORITY",
    "DROP_REASONS",
    "HUMAN_ORIGINS",
    "LPROS",
    "LPRUS",
    "METHODS",
    "MLROS",
    "MLRUS",
    "PREFERENCES",
    "BalanceReport",
    "BalanceResult",
    "MultilabelBalancer",
    "SamplingStrategy",
    "balance_dataset",
    "check_balance_options",
    "deficits",
    "imbalance_ratios",
    "make_sampler",
    "resolve_targets",
]

DEFAULT_SOURCE_PRIORITY: tuple[str, ...] = ("human", "human-reviewed", "pseudo", "llm")
HUMAN_ORIGINS: tuple[str, ...] = ("human", "human-reviewed")
NAMED_STRATEGIES: tuple[str, ...] = ("equal", "min", "median", "mean", "max")
MODES: tuple[str, ...] = ("select", "add")
#: What decides among a label's candidate rows of equal standing (`MultilabelBalancer`'s ``prefer``).
PREFERENCES: tuple[str, ...] = ("random", "confidence")
_SCORE_BATCH = 65_536  # rows of a scores column read at once (a few MB of floats)
#: How far (as a share of its target) the balancer may push a label past max(target, kept rows).
DEFAULT_MAX_OVERSHOOT = 0.05
#: Why a row of the input is not in the output.
DROP_REASONS: tuple[str, ...] = (
    "unlabeled",  # carries no label, so it cannot count towards any target
    "no_target",  # carries only labels without a target (a dict strategy naming other labels)
    "target_reached",  # every targeted label it carries had reached its target
    "over_ceiling",  # it would push a label past its overshoot ceiling
    "source_cap",  # its source had reached its cap
    "undersampled",  # deleted by ML-RUS / LP-RUS
)
_KEPT, _ADDED = 0, 1
_OUTCOMES: tuple[str, ...] = ("kept", "added", *DROP_REASONS)
_REASON = {name: code for code, name in enumerate(_OUTCOMES)}

SamplingStrategy = str | int | Mapping[Any, int] | Callable[[np.ndarray], Any]


# --------------------------------------------------------------------------------------------------
# Targets and imbalance measures
# --------------------------------------------------------------------------------------------------


def imbalance_ratios(y: Any) -> tuple[np.ndarray, float]:
    """IRLbl per label and MeanIR (Charte et al. 2015).

    Parameters
    ----------
    y : datasets.Dataset, array-like or scipy.sparse matrix
        The label matrix.

    Returns
    -------
    ratios : numpy.ndarray
        `stats.imbalance_ratio_per_label`, with inf for absent labels so they rank as the most
        imbalanced.
    mean_ir : float
        Mean IRLbl over the present labels (0.0 when none is present).
    """
    irlbl = imbalance_ratio_per_label(column_counts(sparse_label_matrix(y)))
    present = ~np.isnan(irlbl)
    mean_ir = float(irlbl[present].mean()) if present.any() else 0.0
    return np.where(present, irlbl, np.inf), mean_ir


def resolve_targets(
    counts: np.ndarray, strategy: SamplingStrategy, names: Sequence[str] | None = None
) -> np.ndarray:
    """Per-label target counts from a sampling strategy.

    Parameters
    ----------
    counts : array-like of int
        Rows carrying each label, which the named strategies are computed from.
    strategy : str, int, dict or callable
        ``"equal"``/``"min"``: every label to the rarest present label's count; ``"median"``,
        ``"mean"``, ``"max"``: every label to that statistic of the present counts (rounded down); an
        int: every label to it; a dict keyed by label name or id: those labels only; a callable:
        called with a copy of the counts, returns one of the above or an array of targets.
    names : sequence of str, optional
        Label names, for dict keys given as names.

    Returns
    -------
    numpy.ndarray
        float64 target per label; NaN means no target for that label.
    """
    counts = np.asarray(counts, dtype=float)
    if callable(strategy) and not isinstance(strategy, str):
        result = strategy(counts.copy())
        if isinstance(result, (np.ndarray, list, tuple)):
            targets = np.asarray(result, dtype=float)
            if targets.shape != counts.shape:
                raise InputError(
                    f"sampling_strategy callable returned shape {targets.shape}, expected {counts.shape}"
                )
            return targets
        return resolve_targets(counts, result, names)
    _check_sampling_strategy(strategy, names, len(counts))
    if isinstance(strategy, str):
        present = counts[counts > 0]
        if not len(present):
            return np.zeros_like(counts)
        statistic = {"equal": np.min, "min": np.min, "median": np.median, "mean": np.mean, "max": np.max}
        return np.full_like(counts, float(math.floor(statistic[strategy](present))))
    if isinstance(strategy, Mapping):
        targets = np.full_like(counts, np.nan)
        for key, value in strategy.items():
            targets[_label_index(key, names)] = float(value)
        return targets
    return np.full_like(counts, float(strategy))


def _check_sampling_strategy(
    strategy: Any, names: Sequence[str] | None = None, n_labels: int | None = None
) -> None:
    """Raise `InputError` naming ``sampling_strategy`` unless it is a form `resolve_targets` reads;
    dict keys are checked against ``names``/``n_labels`` when given."""
    if callable(strategy) and not isinstance(strategy, str):
        return
    if isinstance(strategy, str):
        if strategy not in NAMED_STRATEGIES:
            raise InputError(
                f"unknown sampling_strategy {strategy!r}; use one of {list(NAMED_STRATEGIES)}, an int, "
                "a dict {label: count} or a callable"
            )
    elif isinstance(strategy, (int, np.integer)) and not isinstance(strategy, bool):
        if strategy < 0:
            raise InputError(f"sampling_strategy: a target count must be >= 0, got {strategy}")
    elif isinstance(strategy, Mapping):
        for key, value in strategy.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise InputError(
                    f"sampling_strategy[{key!r}]: a target count must be an int >= 0, got {value!r}"
                )
            _label_index(key, names, n_labels)
    else:
        raise InputError(
            f"sampling_strategy must be a name, an int, a dict or a callable, got {type(strategy).__name__}"
        )


def _label_index(key: Any, names: Sequence[str] | None, n_labels: int | None = None) -> int:
    """Column of a label given by name or id (checked against what is known so far)."""
    if isinstance(key, str):
        if names is not None and key not in names:
            raise InputError(f"sampling_strategy names unknown label {key!r}; known: {list(names)}")
        return list(names).index(key) if names is not None else -1
    if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
        raise InputError(f"sampling_strategy keys are label names or ids, got {key!r}")
    n_labels = len(names) if names is not None else n_labels
    if key < 0 or (n_labels is not None and key >= n_labels):
        raise InputError(f"sampling_strategy names label id {key}, outside 0..{(n_labels or 0) - 1}")
    return int(key)


# --------------------------------------------------------------------------------------------------
# What a balancing run did
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BalanceReport:
    """Target vs achieved per label, and what happened to every row of the input.

    Attributes
    ----------
    method : str
        ``"select"``, ``"add"``, ``"ml-ros"``, ``"lp-ros"``, ``"ml-rus"`` or ``"lp-rus"``.
    labels : pandas.DataFrame
        One row per label: ``available`` (input rows carrying it), ``kept`` (of those, rows carried
        over without being chosen: the human rows of ``add``, the input rows ROS/RUS keep), ``target``
        (missing: no target), ``achieved`` (rows in the output), ``short_by`` = max(target - achieved,
        0), ``over_by`` = max(achieved - max(target, kept), 0).
    rows_in, kept, added : int
        Input rows; rows carried over; rows chosen by the method (selected, added, or cloned).
    dropped : dict of str to int
        Input rows left out, by reason (`DROP_REASONS`); reasons with no row are omitted.
    sources : dict of str to int
        Output rows per source (empty when no sources were given).
    cv : float
        Coefficient of variation of the achieved counts over the labels with a target (all labels
        when the method sets none); NaN when undefined.
    settings : dict
        The parameters the run used.
    """

    method: str
    labels: pd.DataFrame
    rows_in: int
    kept: int
    added: int
    dropped: dict[str, int]
    sources: dict[str, int]
    cv: float
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_out(self) -> int:
        """Rows in the output (``kept + added``)."""
        return self.kept + self.added

    @property
    def max_overshoot(self) -> float:
        """Largest ``over_by / target`` over the labels with a positive target (0.0 when none)."""
        target = self.labels["target"].to_numpy(dtype=float, na_value=np.nan)
        over = self.labels["over_by"].to_numpy(dtype=float, na_value=np.nan)
        usable = target > 0
        return float(np.max(over[usable] / target[usable])) if usable.any() else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: method, settings, row counts, per-label table keyed by label name.

        Returns
        -------
        dict
            ``method``, ``settings``, ``rows`` (``in``, ``out``, ``kept``, ``added``, ``dropped`` by reason,
            ``dropped_total``), ``sources``, ``cv`` (None when undefined), ``max_overshoot`` and ``labels``
            (label name -> the per-label columns, missing values as None).
        """
        per_label = {
            record["label"]: {key: _plain(value) for key, value in record.items() if key != "label"}
            for record in self.labels.to_dict("records")
        }
        return {
            "method": self.method,
            "settings": self.settings,
            "rows": {
                "in": self.rows_in,
                "out": self.rows_out,
                "kept": self.kept,
                "added": self.added,
                "dropped": dict(self.dropped),
                "dropped_total": int(sum(self.dropped.values())),
            },
            "sources": dict(self.sources),
            "cv": _plain(self.cv),
            "max_overshoot": self.max_overshoot,
            "labels": per_label,
        }

    def to_markdown(self) -> str:
        """The per-label table, then the row counts, as GitHub Markdown.

        Returns
        -------
        str
            A markdown table (empty cells for missing values), a blank line and a one-sentence summary.
        """
        table = markdown_table(
            list(self.labels.columns),
            [
                ["" if pd.isna(v) else str(v) for v in record]
                for record in self.labels.itertuples(index=False)
            ],
            align="".join("l" if c == "label" else "r" for c in self.labels.columns),
        )
        dropped = ", ".join(f"{reason} {n}" for reason, n in self.dropped.items()) or "none"
        cv = "n/a" if math.isnan(self.cv) else f"{self.cv:.4f}"
        summary = (
            f"Method {self.method}: {self.rows_in} rows in, {self.kept} kept, {self.added} added, "
            f"{self.rows_out} out; dropped: {dropped}. Coefficient of variation of achieved counts: {cv}."
        )
        return f"{table}\n\n{summary}"


@dataclass(frozen=True)
class BalanceResult:
    """What `balance_dataset` returns: the balanced Dataset and its `BalanceReport`.

    Attributes
    ----------
    dataset : datasets.Dataset
        The balanced rows.
    report : BalanceReport
        Targets, achieved counts and what happened to every input row.
    """

    dataset: datasets.Dataset
    report: BalanceReport


def _plain(value: Any) -> Any:
    """Plain Python for JSON: numpy scalars unwrapped, NaN and pandas' missing values as None."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    return value


def _build_report(
    method: str,
    names: Sequence[str],
    labels: sp.csr_matrix,
    indices: np.ndarray,
    outcome: np.ndarray,
    targets: np.ndarray,
    sources: _Sources | None,
    settings: dict[str, Any],
) -> BalanceReport:
    kept_rows = outcome == _KEPT
    kept = column_counts(labels[kept_rows])
    achieved = column_counts(labels[indices])
    has_target = ~np.isnan(targets)
    floor = np.maximum(np.nan_to_num(targets), kept)
    frame = pd.DataFrame(
        {
            "label": list(names),
            "available": column_counts(labels),
            "kept": kept,
            "target": _optional_ints(targets, has_target),
            "achieved": achieved,
            "short_by": _optional_ints(np.maximum(np.nan_to_num(targets) - achieved, 0), has_target),
            "over_by": _optional_ints(np.maximum(achieved - floor, 0), has_target),
        }
    )
    tally = np.bincount(outcome, minlength=len(_OUTCOMES))
    output_sources = {}
    if sources is not None:
        per_source = np.bincount(sources.codes[indices], minlength=len(sources.names))
        output_sources = {name: int(n) for name, n in zip(sources.names, per_source) if n}
    return BalanceReport(
        method=method,
        labels=frame,
        rows_in=labels.shape[0],
        kept=int(kept_rows.sum()),
        added=len(indices) - int(kept_rows.sum()),
        dropped={reason: int(tally[_REASON[reason]]) for reason in DROP_REASONS if tally[_REASON[reason]]},
        sources=output_sources,
        cv=coefficient_of_variation(achieved[has_target] if has_target.any() else achieved),
        settings=settings,
    )


def _optional_ints(values: np.ndarray, present: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.array([int(v) if ok else None for v, ok in zip(values, present)], dtype="Int64")


# --------------------------------------------------------------------------------------------------
# The sampler template (imbalanced-learn's, for multi-label y)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sources:
    """Source of every row as integer codes into ``names`` (sorted)."""

    codes: np.ndarray
    names: list[str]

    @classmethod
    def of(cls, sources: Any, n_rows: int) -> _Sources | None:
        if sources is None:
            return None
        keys = np.asarray(sources, dtype=str)
        if keys.shape != (n_rows,):
            raise InputError(f"sources must have one entry per row ({n_rows}), got shape {keys.shape}")
        names, codes = np.unique(keys, return_inverse=True)
        return cls(codes.ravel().astype(np.int64), [str(name) for name in names])


class _MultilabelSampler(BaseEstimator):
    """imbalanced-learn's sampler template for multi-label targets.

    Subclasses store their parameters in ``__init__`` and implement ``_check_params`` (raise
    `InputError` naming the parameter) and ``_choose_rows`` (which rows, and why the others are not
    there). ``fit_resample`` checks the parameters, then calls ``_fit_resample``.
    """

    _method: str = ""

    def fit(
        self, X: Any, y: Any, *, sources: Sequence[str] | None = None, scores: Any = None
    ) -> _MultilabelSampler:
        """Choose the rows (`fit_resample` without returning them).

        Parameters
        ----------
        X : array-like, Dataset or None
            Features, one row per row of ``y`` (only their number is used; None is allowed).
        y : datasets.Dataset, array-like or scipy.sparse matrix
            The (n_rows, n_labels) 0/1 label matrix, or a schema Dataset.
        sources : sequence of str, optional
            Source of every row (e.g. ``label_origin``), for priorities, caps, kept rows and the report.
        scores : array-like of shape (n_rows, n_labels), optional
            Per-label scores of every row (NaN for a row without scores), read by
            ``MultilabelBalancer(prefer="confidence")``; by default a schema Dataset's ``scores`` column.

        Returns
        -------
        self
        """
        self.fit_resample(X, y, sources=sources, scores=scores)
        return self

    def fit_resample(
        self, X: Any, y: Any, *, sources: Sequence[str] | None = None, scores: Any = None
    ) -> tuple[Any, Any]:
        """Check the parameters, choose the rows and return them.

        Parameters
        ----------
        X : array-like, Dataset or None
            Features, one row per row of ``y``; None gives None back.
        y : datasets.Dataset, array-like or scipy.sparse matrix
            The label matrix, or a schema Dataset.
        sources : sequence of str, optional
            Source of every row.
        scores : array-like of shape (n_rows, n_labels), optional
            Per-label scores of every row, for ``MultilabelBalancer(prefer="confidence")`` (see `fit`).

        Returns
        -------
        X_resampled, y_resampled
            The rows ``sample_indices_`` of ``X`` and ``y``, in the types given.
        """
        self._check_params()
        return self._fit_resample(X, y, sources=sources, scores=scores)

    def _fit_resample(
        self, X: Any, y: Any, *, sources: Sequence[str] | None = None, scores: Any = None
    ) -> tuple[Any, Any]:
        labels = sparse_label_matrix(y)
        if X is not None and _num_samples(X) != labels.shape[0]:
            raise InputError(f"X has {_num_samples(X)} rows but y has {labels.shape[0]}")
        names = _names_for(y, self.label_names, labels.shape[1])
        row_sources = _Sources.of(sources, labels.shape[0])
        carried = self._carried_scores(labels, y, scores)
        indices, outcome, targets = self._choose_rows(labels, names, row_sources, carried)
        self.sample_indices_ = indices
        self.report_ = _build_report(
            self._method_name(), names, labels, indices, outcome, targets, row_sources, self._settings()
        )
        return _take(X, indices), _take(y, indices)

    def _check_params(self) -> None:
        raise NotImplementedError

    def _method_name(self) -> str:
        """The method's name in reports."""
        return self._method

    def _carried_scores(self, labels: sp.csr_matrix, y: Any, scores: Any) -> np.ndarray | None:
        """The scores this sampler ranks by (`_carried_label_scores`), or None; the random resamplers
        read none, so scores given to them are an error rather than silently ignored."""
        if scores is not None:
            raise InputError(f"{type(self).__name__} does not read scores; leave them out")
        return None

    def _choose_rows(
        self,
        labels: sp.csr_matrix,
        names: list[str],
        sources: _Sources | None,
        carried_scores: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sample_indices, outcome code per input row, target per label with NaN for none)."""
        raise NotImplementedError

    def _settings(self) -> dict[str, Any]:
        """The parameters, JSON-ready (a callable strategy by its name)."""
        return {
            key: (getattr(value, "__name__", repr(value)) if callable(value) else _json_ready(value))
            for key, value in self.get_params(deep=False).items()
            if key not in ("progress", "label_names")
        }


def _json_ready(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _take(data: Any, indices: np.ndarray) -> Any:
    """Rows ``indices`` of X or y: Datasets through ``select``, the rest through scikit-learn."""
    if data is None:
        return None
    if isinstance(data, datasets.Dataset):
        return data.select(indices)
    return _safe_indexing(data, indices)


def _check_random_state(random_state: Any) -> None:
    if random_state is not None and not isinstance(random_state, (int, np.integer, np.random.Generator)):
        raise InputError(f"random_state must be an int, a numpy Generator or None, got {random_state!r}")


def _check_label_names(label_names: Any) -> None:
    if label_names is not None and (
        isinstance(label_names, str) or not all(isinstance(name, str) for name in label_names)
    ):
        raise InputError(f"label_names must be a sequence of label names, got {label_names!r}")


def _check_source_names(name: str, value: Any) -> None:
    if isinstance(value, str) or not all(isinstance(item, str) for item in value):
        raise InputError(f"{name} must be a list of source names, got {value!r}")


# --------------------------------------------------------------------------------------------------
# Target-count balancer
# --------------------------------------------------------------------------------------------------


class MultilabelBalancer(_MultilabelSampler):
    """Bring every label's count as close as possible to its target, by selecting or by adding rows.

    ``mode="select"`` chooses rows from the whole pool. ``mode="add"`` keeps every row whose source is
    in ``keep_sources`` (the human rows) and adds rows of the other sources only towards the labels
    still short of target.

    Selection is greedy, most constrained label first (fewest selectable rows per missing row). Among
    the rows carrying that label it prefers rows whose targeted labels are all short of target (rows
    that push no full label further), then rows from higher-priority sources (``source_priority``),
    then rows that also carry other labels still short; ties at random. With ``prefer="confidence"``
    the rows of a source are ranked by their score for that label first (the labeler's probability of
    a pseudo-labelled tweet, the annotators' vote share of an LLM text), so a label short of target
    gets its most confident rows; the other criteria then only break ties. Rows are taken in halving
    batches with the scores refreshed between batches; a batch never pushes a label past its target
    through its own rows. With ``max_overshoot`` a row that would push any label past its ceiling,
    max(target, kept rows) + floor(max_overshoot x target), is never taken.

    Parameters
    ----------
    sampling_strategy : str, int, dict or callable, default="auto"
        Targets, read by `resolve_targets`: in ``select`` mode named strategies are computed on the
        pool's counts, in ``add`` mode on the kept rows' counts (``"equal"``/``"min"`` would then add
        nothing and are refused). ``"auto"``: ``"equal"`` for select, ``"median"`` for add.
    mode : {"select", "add"}, default="select"
        Select from the pool, or keep the ``keep_sources`` rows and add towards the targets.
    source_priority : sequence of str, default=DEFAULT_SOURCE_PRIORITY
        Preferred sources first; sources not listed come last.
    source_caps : dict of str to int, optional
        Most rows taken from a source (not allowed on a kept source).
    keep_sources : sequence of str, default=HUMAN_ORIGINS
        Sources whose rows ``add`` mode always keeps.
    max_overshoot : float or None, default=DEFAULT_MAX_OVERSHOOT (0.05)
        Ceiling on overshoot as a share of the target (see above); None: no ceiling (rows carrying a
        full label are then only ranked last).
    prefer : {"random", "confidence"}, default="random"
        Among a label's candidate rows from the same source that push no full label: ``"random"``
        prefers rows that also carry other labels still short, then chooses at random;
        ``"confidence"`` prefers rows with the highest score for that label (``scores`` passed to
        `fit`, by default a schema Dataset's ``scores`` column), then as ``"random"``. A row without
        scores (a human row) ranks as fully confident within its source.
    random_state : int, numpy Generator or None, default=0
        Seed of the random tie-breaks.
    label_names : sequence of str, optional
        Label names for dict targets and the report (a Dataset's own names by default).
    progress : bool, default=False
        Show a progress bar.

    Attributes
    ----------
    sample_indices_ : numpy.ndarray
        The chosen rows of the input (kept and added), in increasing order.
    targets_ : numpy.ndarray
        Target per label (NaN: no target).
    report_ : BalanceReport
        Target vs achieved per label, rows kept, added and dropped (by reason), rows per source.
    """

    def __init__(
        self,
        sampling_strategy: SamplingStrategy = "auto",
        *,
        mode: str = "select",
        source_priority: Sequence[str] = DEFAULT_SOURCE_PRIORITY,
        source_caps: Mapping[str, int] | None = None,
        keep_sources: Sequence[str] = HUMAN_ORIGINS,
        max_overshoot: float | None = DEFAULT_MAX_OVERSHOOT,
        prefer: str = "random",
        random_state: int | np.random.Generator | None = 0,
        label_names: Sequence[str] | None = None,
        progress: bool = False,
    ) -> None:
        self.sampling_strategy = sampling_strategy
        self.mode = mode
        self.source_priority = source_priority
        self.source_caps = source_caps
        self.keep_sources = keep_sources
        self.max_overshoot = max_overshoot
        self.prefer = prefer
        self.random_state = random_state
        self.label_names = label_names
        self.progress = progress

    def _check_params(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"mode must be one of {list(MODES)}, got {self.mode!r}")
        strategy = self._strategy()
        _check_sampling_strategy(strategy, self.label_names)
        if self.mode == "add" and isinstance(strategy, str) and strategy in ("equal", "min"):
            raise InputError(
                f"sampling_strategy {strategy!r} with mode 'add' adds nothing (every label already has the "
                "rarest kept label's count); use 'median', 'mean', 'max', an int or a dict"
            )
        _check_source_names("source_priority", self.source_priority)
        _check_source_names("keep_sources", self.keep_sources)
        for name, cap in (self.source_caps or {}).items():
            if isinstance(cap, bool) or not isinstance(cap, (int, np.integer)) or cap < 0:
                raise InputError(f"source_caps[{name!r}] must be an int >= 0, got {cap!r}")
            if self.mode == "add" and name in self.keep_sources:
                raise InputError(
                    f"source_caps[{name!r}]: mode 'add' keeps every {name!r} row, it cannot cap them"
                )
        overshoot = self.max_overshoot
        if overshoot is not None and (
            isinstance(overshoot, (bool, str)) or not isinstance(overshoot, (int, float)) or overshoot < 0
        ):
            raise InputError(f"max_overshoot must be a number >= 0 or None, got {overshoot!r}")
        if not isinstance(self.prefer, str) or self.prefer not in PREFERENCES:
            raise InputError(f"prefer must be one of {list(PREFERENCES)}, got {self.prefer!r}")
        _check_random_state(self.random_state)
        _check_label_names(self.label_names)

    def _method_name(self) -> str:
        return str(self.mode)

    def _carried_scores(self, labels: sp.csr_matrix, y: Any, scores: Any) -> np.ndarray | None:
        if self.prefer != "confidence":
            if scores is not None:
                raise InputError("scores are read only with prefer='confidence'; leave them out")
            return None
        if scores is None:
            if not isinstance(y, datasets.Dataset) or "scores" not in y.column_names:
                raise InputError(
                    "prefer='confidence' ranks rows by their scores: pass scores=(n_rows, n_labels) "
                    "or a schema Dataset with a 'scores' column"
                )
            scores = y.select_columns(["scores"]).with_format("arrow")[:]["scores"]
        return _carried_label_scores(labels, scores)

    def _strategy(self) -> SamplingStrategy:
        if isinstance(self.sampling_strategy, str) and self.sampling_strategy == "auto":
            return "median" if self.mode == "add" else "equal"
        return self.sampling_strategy

    def _choose_rows(
        self,
        labels: sp.csr_matrix,
        names: list[str],
        sources: _Sources | None,
        carried_scores: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_rows = labels.shape[0]
        if sources is None:
            if self.mode == "add" or self.source_caps:
                raise InputError(
                    f"mode {self.mode!r} with these settings needs the source of every row (sources)"
                )
            sources = _Sources(np.zeros(n_rows, dtype=np.int64), [""])
        unknown = sorted(set(self.source_caps or {}) - set(sources.names))
        if unknown:
            raise InputError(f"source_caps names sources absent from the pool: {unknown}")
        kept = np.zeros(n_rows, dtype=bool)
        if self.mode == "add":
            kept = np.isin(np.asarray(sources.names), list(self.keep_sources))[sources.codes]
        start = column_counts(labels[kept])
        targets = resolve_targets(
            start if self.mode == "add" else column_counts(labels), self._strategy(), names
        )
        self.targets_ = targets
        selection = _GreedySelection(
            labels,
            targets,
            kept,
            _ceilings(targets, start, self.max_overshoot),
            sources.codes,
            self._ranks(sources.names),
            self._caps(sources.names),
            np.random.default_rng(self.random_state),
            self.progress,
            None if carried_scores is None else _in_column_order(labels, carried_scores),
        )
        selected = selection.run()
        return np.flatnonzero(selected), selection.outcomes(), targets

    def _ranks(self, source_names: list[str]) -> np.ndarray:
        order = {name: rank for rank, name in enumerate(self.source_priority)}
        return np.array([order.get(name, len(order)) for name in source_names], dtype=np.int64)

    def _caps(self, source_names: list[str]) -> np.ndarray:
        caps = self.source_caps or {}
        unlimited = np.iinfo(np.int64).max
        return np.array([int(caps.get(name, unlimited)) for name in source_names], dtype=np.int64)


def _carried_label_scores(labels: sp.csr_matrix, scores: Any) -> np.ndarray:
    """The score of every (row, label) entry of ``labels``, in CSR order; NaN where the row has none.

    ``scores`` is a schema ``scores`` column (Arrow list of floats: one per label, or empty) or an
    (n_rows, n_labels) array-like. Only the labels a row carries are read, so no dense copy of an Arrow
    column is made.
    """
    if isinstance(scores, (pa.Array, pa.ChunkedArray)):
        return _carried_arrow_scores(labels, scores)
    try:
        matrix = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"scores must be an (n_rows, n_labels) array of numbers: {error}") from None
    if matrix.shape != labels.shape:
        raise InputError(f"scores must have shape {labels.shape} (rows, labels), got {matrix.shape}")
    rows = np.repeat(np.arange(labels.shape[0]), np.diff(labels.indptr))
    return matrix[rows, labels.indices]


def _carried_arrow_scores(labels: sp.csr_matrix, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """`_carried_label_scores` of an Arrow list column, `_SCORE_BATCH` rows at a time (rows with another
    number of scores than labels, e.g. the empty lists of human rows, get NaN). A Dataset with an
    indices mapping gives one chunk per row, hence batches of rows rather than a loop over chunks."""
    if len(column) != labels.shape[0]:
        raise InputError(f"scores must have one entry per row ({labels.shape[0]}), got {len(column)}")
    carried = np.full(labels.nnz, np.nan)
    for first in range(0, len(column), _SCORE_BATCH):
        part = column.slice(first, _SCORE_BATCH)
        batch = part.combine_chunks() if isinstance(part, pa.ChunkedArray) else part
        bounds = labels.indptr[first : first + len(batch) + 1]
        rows = np.repeat(np.arange(len(batch)), np.diff(bounds))
        offsets = batch.offsets.to_numpy()
        scored = (np.diff(offsets) == labels.shape[1]) & batch.is_valid().to_numpy(zero_copy_only=False)
        values = batch.values.to_numpy(zero_copy_only=False)
        entries = slice(bounds[0], bounds[-1])
        has = scored[rows]
        carried[entries][has] = values[offsets[rows[has]] + labels.indices[entries][has]]
    return carried


def _in_column_order(labels: sp.csr_matrix, values: np.ndarray) -> np.ndarray:
    """Values given per entry of ``labels`` in CSR order, rearranged into the entry order of
    ``labels.tocsc()`` with sorted indices (the order `_GreedySelection` reads a label's rows in)."""
    position = sp.csr_matrix(
        (np.arange(1, labels.nnz + 1, dtype=np.int64), labels.indices, labels.indptr), shape=labels.shape
    ).tocsc()
    position.sort_indices()
    return values[position.data - 1]


def _ceilings(targets: np.ndarray, start: np.ndarray, max_overshoot: float | None) -> np.ndarray:
    """Most rows a label may end with: max(target, kept rows) + floor(max_overshoot x target); inf for
    labels without a target and when there is no ceiling."""
    if max_overshoot is None:
        return np.full(len(targets), np.inf)
    allowed = np.maximum(targets, start) + np.floor(max_overshoot * targets)
    return np.where(np.isnan(targets), np.inf, allowed)


class _GreedySelection:
    """State of one balancing run (kept in one object so the steps stay small functions)."""

    def __init__(
        self,
        labels: sp.csr_matrix,
        targets: np.ndarray,
        kept: np.ndarray,
        ceilings: np.ndarray,
        source_codes: np.ndarray,
        source_ranks: np.ndarray,
        caps: np.ndarray,
        rng: np.random.Generator,
        progress: bool,
        confidence: np.ndarray | None = None,
    ) -> None:
        self.labels = labels
        self.by_column = labels.tocsc()
        self.by_column.sort_indices()
        self.targets = targets
        self.has_target = ~np.isnan(targets)
        self.ceilings = ceilings
        self.codes = source_codes
        self.row_rank = source_ranks[source_codes]
        self.caps_left = caps.copy()
        self.rng = rng
        self.progress = progress
        self.kept = kept
        self.selected = kept.copy()
        self.eligible = ~kept & (np.diff(labels.indptr) > 0)
        self.retired = np.full(labels.shape[0], -1, dtype=np.int8)
        self.achieved = column_counts(labels[kept])
        self.available = column_counts(labels[self.eligible]).astype(np.float64)
        self.closed = ~self.has_target
        self.rank_span = float(source_ranks.max() + 1) if len(source_ranks) else 1.0
        # score of every entry of by_column (its rows' score for its label); no score ranks as sure
        self.confidence = None if confidence is None else np.where(np.isnan(confidence), 1.0, confidence)

    def run(self) -> np.ndarray:
        for code in np.flatnonzero(self.caps_left <= 0):
            self._exhaust_source(int(code))
        total = int(np.nansum(np.maximum(self._deficits(), 0)))
        with tqdm(total=total, desc="balancing", unit="row", disable=not self.progress) as bar:
            while True:
                label = self._most_constrained_label()
                if label is None:
                    break
                before = int(self.selected.sum())
                self._take_for(label)
                bar.update(int(self.selected.sum()) - before)
        return self.selected

    def outcomes(self) -> np.ndarray:
        """Outcome code of every row (`_OUTCOMES`): kept, added, or why it was left out."""
        outcome = np.full(len(self.selected), _REASON["target_reached"], dtype=np.int64)
        carries_target = np.asarray(self.labels @ self.has_target.astype(np.int64)).ravel() > 0
        outcome[~carries_target] = _REASON["no_target"]
        outcome[np.diff(self.labels.indptr) == 0] = _REASON["unlabeled"]
        outcome[self.retired >= 0] = self.retired[self.retired >= 0]
        outcome[self.selected] = _ADDED
        outcome[self.kept] = _KEPT
        return outcome

    def _deficits(self) -> np.ndarray:
        return np.where(self.has_target, self.targets - self.achieved, np.nan)

    def _most_constrained_label(self) -> int | None:
        deficit = self._deficits()
        open_labels = np.flatnonzero(~self.closed & (np.nan_to_num(deficit) > 0))
        if not len(open_labels):
            return None
        slack = self.available[open_labels] / deficit[open_labels]
        return int(open_labels[np.argmin(slack)])

    def _take_for(self, label: int) -> None:
        rows = self.by_column.indices[self.by_column.indptr[label] : self.by_column.indptr[label + 1]]
        rows = self._below_ceilings(rows[self.eligible[rows]])
        deficit = int(self.targets[label] - self.achieved[label])
        if not len(rows):
            self.closed[label] = True
            return
        batch = deficit if deficit <= 8 else (deficit + 1) // 2
        picked = self._best_rows(rows, label, batch)
        self._select(picked)
        if len(picked) == 0 or len(picked) == len(rows):
            self.closed[label] = True

    def _below_ceilings(self, rows: np.ndarray) -> np.ndarray:
        """Retire the rows carrying a label already at its ceiling (counts only grow, so for good)."""
        at_ceiling = self.achieved >= self.ceilings
        if not at_ceiling.any() or not len(rows):
            return rows
        blocked = np.asarray(self.labels[rows] @ at_ceiling.astype(np.int64)).ravel() > 0
        self._retire(rows[blocked], "over_ceiling")
        return rows[~blocked]

    def _best_rows(self, rows: np.ndarray, label: int, batch: int) -> np.ndarray:
        """Top ``batch`` rows by (no full label, source priority, [score for ``label``,] other labels
        helped, random), within caps and ceilings."""
        sub = self.labels[rows]
        deficit = self._deficits()
        full = self.has_target & (np.nan_to_num(deficit, nan=1.0) <= 0)
        helps = self.has_target & (np.nan_to_num(deficit) > 0)
        helps[label] = False
        overshoot = np.asarray(sub @ full.astype(np.float64)).ravel()
        gain = np.asarray(sub @ helps.astype(np.float64)).ravel()
        standing = -(overshoot * self.rank_span + self.row_rank[rows])
        tie_break = self.rng.random(len(rows))
        keep = min(len(rows), batch)
        if self.confidence is None:
            score = standing * (self.labels.shape[1] + 2) + gain + tie_break * 0.5
            if keep < len(rows):
                top = np.argpartition(-score, keep - 1)[: min(len(rows), keep * 2)]
            else:
                top = np.arange(len(rows))
            top = top[np.argsort(-score[top], kind="stable")]
        else:
            top = np.lexsort((tie_break, gain, self._confidence(rows, label), standing))[::-1][: keep * 2]
        ordered = self._within_caps(rows[top])
        return self._without_batch_overshoot(ordered, label, deficit)[:batch]

    def _confidence(self, rows: np.ndarray, label: int) -> np.ndarray:
        """Score of each of ``rows`` (all carrying ``label``) for ``label``."""
        start, end = self.by_column.indptr[label], self.by_column.indptr[label + 1]
        return self.confidence[start + np.searchsorted(self.by_column.indices[start:end], rows)]

    def _without_batch_overshoot(self, ordered: np.ndarray, label: int, deficit: np.ndarray) -> np.ndarray:
        """Drop rows that, counting the better-ranked rows of the same batch, would push another label
        past its target, or any label past its ceiling (the next batch sees fresh deficits)."""
        if len(ordered) <= 1:
            return ordered
        room = np.where(self.has_target, np.nan_to_num(deficit), np.inf)
        room[label] = np.inf
        carried = self.labels[ordered].toarray()
        reached = np.cumsum(carried, axis=0)
        exceeds = ((reached > room[None, :]) & (carried > 0) & (room[None, :] > 0)).any(axis=1)
        exceeds[0] = False
        exceeds |= ((reached > (self.ceilings - self.achieved)[None, :]) & (carried > 0)).any(axis=1)
        return ordered[~exceeds]

    def _within_caps(self, ordered: np.ndarray) -> np.ndarray:
        codes = self.codes[ordered]
        order = np.argsort(codes, kind="stable")
        position = np.empty(len(ordered), dtype=np.int64)
        sorted_codes = codes[order]
        starts = np.searchsorted(sorted_codes, sorted_codes, side="left")
        position[order] = np.arange(len(ordered)) - starts
        return ordered[position < self.caps_left[codes]]

    def _select(self, rows: np.ndarray) -> None:
        if not len(rows):
            return
        self.selected[rows] = True
        self.eligible[rows] = False
        gained = column_counts(self.labels[rows])
        self.achieved += gained
        self.available -= gained
        used = np.bincount(self.codes[rows], minlength=len(self.caps_left))
        self.caps_left -= used
        for code in np.flatnonzero((used > 0) & (self.caps_left <= 0)):
            self._exhaust_source(int(code))

    def _exhaust_source(self, code: int) -> None:
        """A source at its cap: its remaining rows stop counting as available."""
        self._retire(np.flatnonzero(self.eligible & (self.codes == code)), "source_cap")

    def _retire(self, rows: np.ndarray, reason: str) -> None:
        """Rows that can never be taken: no longer eligible nor counted as available, with the reason."""
        if not len(rows):
            return
        self.eligible[rows] = False
        self.retired[rows] = _REASON[reason]
        self.available -= column_counts(self.labels[rows])


# --------------------------------------------------------------------------------------------------
# Charte et al. random resamplers
# --------------------------------------------------------------------------------------------------


class _PercentageResampler(_MultilabelSampler):
    """Shared parameters of the four random resamplers of Charte et al. 2015.

    Parameters
    ----------
    percentage : float, default=10.0
        Rows to add (ROS) or delete (RUS), as a percentage of the input rows, in (0, 100).
    random_state : int, numpy Generator or None, default=0
        Seed of the random draws.
    label_names : sequence of str, optional
        Label names for the report.

    Attributes
    ----------
    sample_indices_ : numpy.ndarray
        Rows of the input in the output; ROS repeats a row once per clone (originals first).
    report_ : BalanceReport
        Counts per label before and after (no per-label targets), rows kept, added and dropped.
    """

    def __init__(
        self,
        percentage: float = 10.0,
        random_state: int | np.random.Generator | None = 0,
        label_names: Sequence[str] | None = None,
    ) -> None:
        self.percentage = percentage
        self.random_state = random_state
        self.label_names = label_names

    def _check_params(self) -> None:
        if (
            isinstance(self.percentage, bool)
            or not isinstance(self.percentage, (int, float, np.number))
            or not 0 < self.percentage < 100
        ):
            raise InputError(f"percentage must be a number in (0, 100), got {self.percentage!r}")
        _check_random_state(self.random_state)
        _check_label_names(self.label_names)

    def _choose_rows(
        self,
        labels: sp.csr_matrix,
        names: list[str],
        sources: _Sources | None,
        carried_scores: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.random_state)
        indices = self._indices(labels, int(labels.shape[0] * self.percentage / 100), rng)
        outcome = np.full(labels.shape[0], _REASON["undersampled"], dtype=np.int64)
        outcome[indices] = _KEPT
        return indices, outcome, np.full(labels.shape[1], np.nan)

    def _indices(self, labels: sp.csr_matrix, amount: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


class MLROS(_PercentageResampler):
    """ML-ROS: clone random rows of minority labels (IRLbl > MeanIR) until ``percentage`` % more rows.

    Labels are served round robin; a label leaves the bag when its IRLbl reaches MeanIR (Charte's
    stopping rule), so fewer rows may be added.

    Parameters
    ----------
    percentage : float, default=10.0
        Rows to add (clones), as a percentage of the input rows, in (0, 100).
    random_state : int, numpy Generator or None, default=0
        Seed of the random draws.
    label_names : sequence of str, optional
        Label names for the report.

    Attributes
    ----------
    sample_indices_ : numpy.ndarray
        Rows of the input in the output, each clone repeating its row (originals first).
    report_ : BalanceReport
        Counts per label before and after (no per-label targets), rows kept, added and dropped.
    """

    _method = "ml-ros"

    def _indices(self, labels, amount, rng):
        counts = column_counts(labels).astype(np.float64)
        ratios, mean_ir = imbalance_ratios(labels)
        bag = list(np.flatnonzero(np.isfinite(ratios) & (ratios > mean_ir)))
        by_column = labels.tocsc()
        carriers = {l: by_column.indices[by_column.indptr[l] : by_column.indptr[l + 1]] for l in bag}
        clones: list[int] = []
        while len(clones) < amount and bag:
            for label in list(bag):
                if len(clones) >= amount:
                    break
                row = int(carriers[label][rng.integers(len(carriers[label]))])
                clones.append(row)
                counts[labels.indices[labels.indptr[row] : labels.indptr[row + 1]]] += 1
                if counts.max() / counts[label] <= mean_ir:
                    bag.remove(label)
        return np.concatenate([np.arange(labels.shape[0]), np.asarray(clones, dtype=np.int64)])


class MLRUS(_PercentageResampler):
    """ML-RUS: delete random rows of majority labels (IRLbl < MeanIR) until ``percentage`` % fewer rows.

    With ``protect_minority`` (default) rows that also carry a minority label (IRLbl > MeanIR) are never
    deleted, so undersampling cannot make the rare labels rarer; ``False`` is Charte et al.'s original.

    Parameters
    ----------
    percentage : float, default=10.0
        Rows to delete, as a percentage of the input rows, in (0, 100).
    random_state : int, numpy Generator or None, default=0
        Seed of the random draws.
    protect_minority : bool, default=True
        Never delete a row that carries a minority label.
    label_names : sequence of str, optional
        Label names for the report.

    Attributes
    ----------
    sample_indices_ : numpy.ndarray
        Rows of the input in the output.
    report_ : BalanceReport
        Counts per label before and after (no per-label targets), rows kept, added and dropped.
    """

    _method = "ml-rus"

    def __init__(
        self,
        percentage: float = 10.0,
        random_state: int | np.random.Generator | None = 0,
        protect_minority: bool = True,
        label_names: Sequence[str] | None = None,
    ) -> None:
        self.percentage = percentage
        self.random_state = random_state
        self.protect_minority = protect_minority
        self.label_names = label_names

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.protect_minority, (bool, np.bool_)):
            raise InputError(f"protect_minority must be true or false, got {self.protect_minority!r}")

    def _indices(self, labels, amount, rng):
        counts = column_counts(labels).astype(np.float64)
        ratios, mean_ir = imbalance_ratios(labels)
        bag = list(np.flatnonzero(np.isfinite(ratios) & (ratios < mean_ir)))
        by_column = labels.tocsc()
        alive = np.ones(labels.shape[0], dtype=bool)
        protected = np.zeros(labels.shape[0], dtype=bool)
        if self.protect_minority:
            protected = (
                np.asarray(labels @ (np.isfinite(ratios) & (ratios > mean_ir)).astype(np.int64)).ravel() > 0
            )
        queues = {
            l: [
                r
                for r in rng.permutation(by_column.indices[by_column.indptr[l] : by_column.indptr[l + 1]])
                if not protected[r]
            ]
            for l in bag
        }
        deleted = 0
        while deleted < amount and bag:
            for label in list(bag):
                if deleted >= amount:
                    break
                queue = queues[label]
                while queue and not alive[queue[-1]]:
                    queue.pop()
                if not queue:
                    bag.remove(label)
                    continue
                row = int(queue.pop())
                alive[row] = False
                deleted += 1
                counts[labels.indices[labels.indptr[row] : labels.indptr[row + 1]]] -= 1
                if counts[label] <= 0 or counts.max() / counts[label] >= mean_ir:
                    bag.remove(label)
        return np.flatnonzero(alive)


def _lp_shares(gaps: np.ndarray, amount: int) -> np.ndarray:
    """Charte's LP-ROS/LP-RUS allocation: each bag gets the mean share capped by its gap to the mean
    labelset size, unused share flows to the bags after it; rounded so the total is exact."""
    takes = np.zeros(len(gaps))
    share = amount / max(len(gaps), 1)
    for position, gap in enumerate(gaps):
        takes[position] = min(gap, share)
        share += (share - takes[position]) / max(len(gaps) - position - 1, 1)
    cumulative = np.round(np.cumsum(takes)).astype(np.int64)
    return np.diff(np.concatenate([[0], cumulative]))


class LPROS(_PercentageResampler):
    """LP-ROS: clone random rows of labelsets rarer than the mean labelset size.

    Parameters
    ----------
    percentage : float, default=10.0
        Rows to add (clones), as a percentage of the input rows, in (0, 100).
    random_state : int, numpy Generator or None, default=0
        Seed of the random draws.
    label_names : sequence of str, optional
        Label names for the report.

    Attributes
    ----------
    sample_indices_ : numpy.ndarray
        Rows of the input in the output, each clone repeating its row (originals first).
    report_ : BalanceReport
        Counts per label before and after (no per-label targets), rows kept, added and dropped.
    """

    _method = "lp-ros"

    def _indices(self, labels, amount, rng):
        codes = labelset_codes(labels)[0]
        sizes = np.bincount(codes)
        mean_size = sizes.mean()
        minority = np.flatnonzero(sizes < mean_size)
        minority = minority[np.argsort(-sizes[minority], kind="stable")]
        clones = []
        takes = _lp_shares(mean_size - sizes[minority], amount)
        for bag, take in zip(minority, takes):
            members = np.flatnonzero(codes == bag)
            clones.append(rng.choice(members, size=int(take), replace=True))
        extra = np.concatenate(clones) if clones else np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(labels.shape[0]), extra.astype(np.int64)])


class LPRUS(_PercentageResampler):
    """LP-RUS: delete random rows of labelsets more frequent than the mean labelset size.

    Parameters
    ----------
    percentage : float, default=10.0
        Rows to delete, as a percentage of the input rows, in (0, 100).
    random_state : int, numpy Generator or None, default=0
        Seed of the random draws.
    label_names : sequence of str, optional
        Label names for the report.

    Attributes
    ----------
    sample_indices_ : numpy.ndarray
        Rows of the input in the output.
    report_ : BalanceReport
        Counts per label before and after (no per-label targets), rows kept, added and dropped.
    """

    _method = "lp-rus"

    def _indices(self, labels, amount, rng):
        codes = labelset_codes(labels)[0]
        sizes = np.bincount(codes)
        mean_size = sizes.mean()
        majority = np.flatnonzero(sizes > mean_size)
        majority = majority[np.argsort(sizes[majority], kind="stable")]
        alive = np.ones(labels.shape[0], dtype=bool)
        takes = _lp_shares(sizes[majority] - mean_size, amount)
        for bag, take in zip(majority, takes):
            members = np.flatnonzero(codes == bag)
            alive[rng.choice(members, size=int(take), replace=False)] = False
        return np.flatnonzero(alive)


# --------------------------------------------------------------------------------------------------
# By name, on schema Datasets
# --------------------------------------------------------------------------------------------------

RESAMPLERS: dict[str, type[_PercentageResampler]] = {
    "ml-ros": MLROS,
    "lp-ros": LPROS,
    "ml-rus": MLRUS,
    "lp-rus": LPRUS,
}
METHODS: tuple[str, ...] = (*MODES, *RESAMPLERS)
_OPTIONS: dict[str, frozenset[str]] = {
    "select": frozenset({"max_overshoot", "prefer", "progress"}),
    "add": frozenset({"keep_sources", "max_overshoot", "prefer", "progress"}),
    "ml-ros": frozenset({"percentage"}),
    "lp-ros": frozenset({"percentage"}),
    "ml-rus": frozenset({"percentage", "protect_minority"}),
    "lp-rus": frozenset({"percentage"}),
}
_DATASET_OPTIONS = frozenset({"source_column"})


def make_sampler(
    method: str = "select",
    *,
    sampling_strategy: SamplingStrategy | None = None,
    source_priority: Sequence[str] | None = None,
    source_caps: Mapping[str, int] | None = None,
    seed: int | None = 0,
    label_names: Sequence[str] | None = None,
    **options: Any,
) -> _MultilabelSampler:
    """The (unfitted) estimator behind a method name, with its settings.

    Parameters
    ----------
    method : str, default="select"
        One of `METHODS`: ``"select"``/``"add"`` (`MultilabelBalancer` modes), ``"ml-ros"``,
        ``"lp-ros"``, ``"ml-rus"``, ``"lp-rus"`` (Charte et al.'s resamplers).
    sampling_strategy, source_priority, source_caps : optional
        `MultilabelBalancer` settings (None: its defaults); the resamplers take none of them.
    seed : int or None, default=0
        ``random_state`` of the estimator.
    label_names : sequence of str, optional
        Label names (checks dict targets, names the report's rows).
    **options
        The method's own settings: ``max_overshoot``, ``prefer``, ``progress`` (select, add),
        ``keep_sources`` (add), ``percentage`` (resamplers), ``protect_minority`` (ml-rus).

    Returns
    -------
    MultilabelBalancer or a resampler
        Parameters stored as given; they are checked when it is fitted (or by `check_balance_options`).

    Raises
    ------
    InputError
        For an unknown method, or a setting the method does not take (the message names it).
    """
    if method not in METHODS:
        raise InputError(f"unknown balance method {method!r}; use one of {list(METHODS)}")
    unknown = sorted(set(options) - _OPTIONS[method])
    if unknown:
        raise InputError(
            f"balance option {unknown[0]!r} does not apply to method {method!r}; it takes "
            f"{sorted(_OPTIONS[method] | _DATASET_OPTIONS)} (and sampling_strategy, source_priority, "
            "source_caps for select/add)"
        )
    if method in RESAMPLERS:
        given = {
            "sampling_strategy": sampling_strategy,
            "source_priority": source_priority,
            "source_caps": source_caps,
        }
        for name, value in given.items():
            if value is not None:
                raise InputError(
                    f"{name} does not apply to method {method!r}, which adds or deletes `percentage` % of the "
                    "rows; leave it out"
                )
        return RESAMPLERS[method](random_state=seed, label_names=label_names, **options)
    balancer_settings = {
        "sampling_strategy": sampling_strategy,
        "source_priority": source_priority,
        "source_caps": source_caps,
    }
    return MultilabelBalancer(
        mode=method,
        random_state=seed,
        label_names=label_names,
        **{name: value for name, value in balancer_settings.items() if value is not None},
        **options,
    )


def check_balance_options(
    method: str = "select",
    sampling_strategy: SamplingStrategy | None = None,
    source_priority: Sequence[str] | None = None,
    source_caps: Mapping[str, int] | None = None,
    *,
    label_names: Sequence[str] | None = None,
    **options: Any,
) -> None:
    """Check balance settings before any stage runs (a recipe loader calls this).

    Parameters
    ----------
    method, sampling_strategy, source_priority, source_caps, **options
        As `balance_dataset` takes them (``seed`` included).
    label_names : sequence of str, optional
        When given, dict targets are checked against these names.

    Raises
    ------
    InputError
        Naming the first bad field: an unknown method or option, a setting the method does not
        take, or a bad value.
    """
    sampler, _ = _sampler_and_source_column(
        method, sampling_strategy, source_priority, source_caps, label_names=label_names, **options
    )
    sampler._check_params()


def _sampler_and_source_column(
    method: str,
    sampling_strategy: SamplingStrategy | None,
    source_priority: Sequence[str] | None,
    source_caps: Mapping[str, int] | None,
    *,
    seed: Any = 0,
    label_names: Sequence[str] | None = None,
    source_column: Any = "label_origin",
    **options: Any,
) -> tuple[_MultilabelSampler, str]:
    """`make_sampler` plus the dataset-level option ``source_column`` (checked here)."""
    if not isinstance(source_column, str) or not source_column:
        raise InputError(f"source_column must be a column name, got {source_column!r}")
    sampler = make_sampler(
        method,
        sampling_strategy=sampling_strategy,
        source_priority=source_priority,
        source_caps=source_caps,
        seed=seed,
        label_names=label_names,
        **options,
    )
    return sampler, source_column


def balance_dataset(
    pool: datasets.Dataset,
    *,
    method: str = "select",
    sampling_strategy: SamplingStrategy | None = None,
    source_priority: Sequence[str] | None = None,
    source_caps: Mapping[str, int] | None = None,
    seed: int = 0,
    **options: Any,
) -> BalanceResult:
    """Balance a schema Dataset with any method, by name.

    Parameters
    ----------
    pool : datasets.Dataset
        Rows in the record schema; ``label_origin`` (or ``source_column``) gives each row's source.
    method : str, default="select"
        ``"select"``: choose rows from the pool towards per-label targets; ``"add"``: keep every human
        row and add pool rows (pseudo, then llm) towards the targets; ``"ml-ros"``, ``"lp-ros"``,
        ``"ml-rus"``, ``"lp-rus"``: Charte et al.'s random resamplers (clones get the id ``<id>#dupN``
        and ``meta.duplicate_of``).
    sampling_strategy : str, int, dict or callable, optional
        Targets for select/add (`resolve_targets`); default ``"equal"`` (select), ``"median"`` (add).
    source_priority : sequence of str, optional
        Preferred sources first (select/add); default `DEFAULT_SOURCE_PRIORITY`.
    source_caps : dict of str to int, optional
        Most rows taken from a source (select/add).
    seed : int, default=0
        Seed of every random choice.
    **options
        ``source_column`` (default ``"label_origin"``) and the method's own settings (`make_sampler`).

    Returns
    -------
    BalanceResult
        ``.dataset`` (schema unchanged; select/add keep pool order) and ``.report`` (`BalanceReport`).
    """
    from goemobalance.schema import label_space_of

    sampler, source_column = _sampler_and_source_column(
        method,
        sampling_strategy,
        source_priority,
        source_caps,
        seed=seed,
        label_names=label_space_of(pool).names,
        **options,
    )
    if source_column not in pool.column_names:
        raise InputError(f"source_column {source_column!r} is not a column of the pool {pool.column_names}")
    sources = pool.select_columns([source_column]).with_format("arrow")[:][source_column]
    sampler.fit(None, pool, sources=sources.to_numpy(zero_copy_only=False))
    indices = sampler.sample_indices_
    dataset = _select_marking_clones(pool, indices, method) if method in RESAMPLERS else pool.select(indices)
    return BalanceResult(dataset, sampler.report_)


def _select_marking_clones(dataset: datasets.Dataset, indices: np.ndarray, method: str) -> datasets.Dataset:
    """``dataset.select(indices)`` where the n-th repeat of a row gets the id ``<id>#dupN`` and
    ``meta.duplicate_of``/``meta.resampler``, so provenance shows it is a copy."""
    order = np.argsort(indices, kind="stable")
    ranked = indices[order]
    copy = np.empty(len(indices), dtype=np.int64)
    copy[order] = np.arange(len(indices)) - np.searchsorted(ranked, ranked, side="left")
    result = dataset.select(indices)
    clones = np.flatnonzero(copy > 0)
    if not len(clones):
        return result
    table = result.select_columns(["id", "meta"]).with_format("arrow")[:]
    ids, metas = table["id"].to_pylist(), table["meta"].to_pylist()
    for position in clones:
        original = ids[position]
        meta = json.loads(metas[position]) if metas[position] else {}
        meta.update(duplicate_of=original, resampler=method)
        ids[position] = f"{original}#dup{copy[position]}"
        metas[position] = json.dumps(meta, ensure_ascii=False, sort_keys=True)
    return (
        result.remove_columns(["id", "meta"])
        .add_column("id", ids)
        .add_column("meta", metas)
        .select_columns(dataset.column_names)
        .cast(dataset.features)
    )


# --------------------------------------------------------------------------------------------------
# Deficits: the request list for the LLM generator
# --------------------------------------------------------------------------------------------------


def deficits(
    dataset_or_y: datasets.Dataset | Any, target: SamplingStrategy, label_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """How many more examples each label needs to reach ``target``, and which labelsets to ask for.

    Returns ``{"labels": {name: missing, ...}, "labelsets": [{"labels": [names], "count": n}, ...]}``.
    Labelsets follow MLSMOTE's rule: minority labels (IRLbl > MeanIR) are filled from the labelsets
    that contain them, in proportion to how often each labelset occurs; the most imbalanced label goes
    first and a requested labelset also counts towards the other labels it carries. Labelsets are
    ranked by requested count.

    Parameters
    ----------
    dataset_or_y : datasets.Dataset, array-like or scipy.sparse matrix
        A schema Dataset, or the (n_rows, n_labels) 0/1 label matrix.
    target : str, int, dict or callable
        The sampling strategy, read by `resolve_targets`.
    label_names : sequence of str, optional
        Label names (default: the Dataset's, else ``"0"``, ``"1"``, ...).

    Returns
    -------
    dict
        ``labels`` (name -> missing rows, for labels with a target) and ``labelsets`` (requested
        combinations with their counts, largest first).
    """
    labels = sparse_label_matrix(dataset_or_y)
    names = _names_for(dataset_or_y, label_names, labels.shape[1])
    counts = column_counts(labels)
    targets = resolve_targets(counts, target, names)
    missing = np.where(np.isnan(targets), 0, np.maximum(np.nan_to_num(targets) - counts, 0)).astype(np.int64)
    ratios, mean_ir = imbalance_ratios(labels)
    minority = np.flatnonzero((ratios > mean_ir) & (missing > 0))
    minority = minority[np.argsort(-ratios[minority], kind="stable")]
    requests = _labelset_requests(labels, minority, missing.copy())
    ranked = sorted(requests.items(), key=lambda item: (-item[1], item[0]))
    return {
        "labels": {names[i]: int(missing[i]) for i in range(len(names)) if not np.isnan(targets[i])},
        "labelsets": [{"labels": [names[i] for i in key], "count": int(n)} for key, n in ranked if n > 0],
    }


def _names_for(dataset_or_y: Any, label_names: Sequence[str] | None, n_labels: int) -> list[str]:
    if label_names is not None:
        names = list(label_names)
    elif isinstance(dataset_or_y, datasets.Dataset):
        from goemobalance.schema import label_space_of

        names = list(label_space_of(dataset_or_y).names)
    else:
        names = [str(i) for i in range(n_labels)]
    if len(names) != n_labels:
        raise InputError(f"{len(names)} label names for {n_labels} label columns")
    return names


def _labelset_requests(
    labels: sp.csr_matrix, minority: np.ndarray, still_missing: np.ndarray
) -> dict[tuple[int, ...], int]:
    """Spread each minority label's deficit over its labelsets by frequency (largest remainder)."""
    codes, first_row = labelset_codes(labels)
    labelset_of = [tuple(labels.indices[labels.indptr[r] : labels.indptr[r + 1]].tolist()) for r in first_row]
    frequency = np.bincount(codes)
    requests: dict[tuple[int, ...], int] = {}
    by_column = labels.tocsc()
    for label in minority:
        need = int(still_missing[label])
        if need <= 0:
            continue
        rows = by_column.indices[by_column.indptr[label] : by_column.indptr[label + 1]]
        sets = np.unique(codes[rows])
        if not len(sets):
            share, keys = np.array([need]), [(int(label),)]
        else:
            weights = frequency[sets] / frequency[sets].sum()
            exact = need * weights
            share = np.floor(exact).astype(np.int64)
            share[np.argsort(-(exact - share), kind="stable")[: need - int(share.sum())]] += 1
            keys = [labelset_of[s] for s in sets]
        for key, n in zip(keys, share):
            if n > 0:
                requests[key] = requests.get(key, 0) + int(n)
                still_missing[list(key)] -= int(n)
    return requests
