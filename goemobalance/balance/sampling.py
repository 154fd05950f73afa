"""Multi-label resampling: select rows from a multi-source pool to reach per-label target counts, the
classic random resamplers of Charte et al. (ML-ROS, ML-RUS, LP-ROS, LP-RUS), and the per-label
deficits the LLM generator is asked to fill.

Conventions follow imbalanced-learn: ``sampling_strategy``, ``random_state``, ``fit_resample(X, y)``
returning the resampled ``(X, y)``, and ``sample_indices_`` (rows of the input, repeated for clones).
imbalanced-learn itself only handles single-label targets, hence this module.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import datasets
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.utils import _safe_indexing
from tqdm.auto import tqdm

from goemobalance.balance.split import sparse_label_matrix
from goemobalance.balance.stats import imbalance_ratio_per_label

__all__ = [
    "DEFAULT_SOURCE_PRIORITY",
    "LPROS",
    "LPRUS",
    "MLROS",
    "MLRUS",
    "MultilabelBalancer",
    "SamplingStrategy",
    "balance_dataset",
    "deficits",
    "imbalance_ratios",
    "resample_dataset",
    "resolve_targets",
]

DEFAULT_SOURCE_PRIORITY: tuple[str, ...] = ("human", "human-reviewed", "pseudo", "llm")
NAMED_STRATEGIES: tuple[str, ...] = ("equal", "min", "median", "mean", "max")

SamplingStrategy = str | int | Mapping[Any, int] | Callable[[np.ndarray], Any]


# --------------------------------------------------------------------------------------------------
# Targets and imbalance measures
# --------------------------------------------------------------------------------------------------


def imbalance_ratios(y: Any) -> tuple[np.ndarray, float]:
    """IRLbl per label (`stats.imbalance_ratio_per_label`, with inf for absent labels so they rank as the
    most imbalanced) and MeanIR over the present ones (Charte et al. 2015)."""
    irlbl = imbalance_ratio_per_label(_counts(sparse_label_matrix(y)))
    present = ~np.isnan(irlbl)
    mean_ir = float(irlbl[present].mean()) if present.any() else 0.0
    return np.where(present, irlbl, np.inf), mean_ir


def resolve_targets(
    counts: np.ndarray, strategy: SamplingStrategy, names: Sequence[str] | None = None
) -> np.ndarray:
    """Per-label target counts (NaN = no target for that label) from a sampling strategy.

    ``"equal"``/``"min"``: every label to the rarest present label's count; ``"median"``, ``"mean"``,
    ``"max"``: every label to that statistic of the counts; an int: every label to it; a dict keyed by
    label name or id: those labels only; a callable: called with the counts, returns one of the above
    or an array of targets.
    """
    counts = np.asarray(counts, dtype=float)
    present = counts[counts > 0]
    if callable(strategy) and not isinstance(strategy, str):
        result = strategy(counts.copy())
        if isinstance(result, (np.ndarray, list, tuple)):
            targets = np.asarray(result, dtype=float)
            if targets.shape != counts.shape:
                raise ValueError(
                    f"sampling_strategy callable returned {targets.shape}, expected {counts.shape}"
                )
            return targets
        return resolve_targets(counts, result, names)
    if isinstance(strategy, str):
        if strategy not in NAMED_STRATEGIES:
            raise ValueError(
                f"unknown sampling_strategy {strategy!r}; use one of {NAMED_STRATEGIES}, an int, "
                "a dict per label or a callable"
            )
        if not len(present):
            return np.zeros_like(counts)
        value = {
            "equal": present.min(),
            "min": present.min(),
            "median": np.median(present),
            "mean": present.mean(),
            "max": present.max(),
        }[strategy]
        return np.full_like(counts, float(math.floor(value)))
    if isinstance(strategy, (int, np.integer)):
        if strategy < 0:
            raise ValueError(f"target count must be >= 0, got {strategy}")
        return np.full_like(counts, float(strategy))
    if isinstance(strategy, Mapping):
        targets = np.full_like(counts, np.nan)
        for key, value in strategy.items():
            targets[_label_index(key, names, len(counts))] = float(value)
        return targets
    raise TypeError(f"sampling_strategy must be a name, an int, a dict or a callable, got {type(strategy)}")


def _label_index(key: Any, names: Sequence[str] | None, n_labels: int) -> int:
    if isinstance(key, str):
        if names is None or key not in names:
            raise ValueError(f"unknown label {key!r} in sampling_strategy; known: {list(names or [])}")
        return list(names).index(key)
    if not 0 <= int(key) < n_labels:
        raise ValueError(f"label id {key} outside 0..{n_labels - 1}")
    return int(key)


def _counts(matrix: sp.csr_matrix) -> np.ndarray:
    return np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.int64)


# --------------------------------------------------------------------------------------------------
# Target-count balancer
# --------------------------------------------------------------------------------------------------


class MultilabelBalancer:
    """Select rows from a pool so every label's count gets as close as possible to its target.

    Greedy, most constrained label first (fewest selectable rows per missing row). Among the rows
    carrying that label it prefers rows that push no other label past its target, then rows from
    higher-priority sources (``source_priority``, human first by default), then rows that also carry
    other labels still under target; ties at random. Rows are taken in halving batches with the
    scores refreshed between batches, so co-occurring labels are tracked as they fill up.
    ``source_caps`` bounds the rows taken from a source.
    """

    def __init__(
        self,
        sampling_strategy: SamplingStrategy = "equal",
        source_priority: Sequence[str] = DEFAULT_SOURCE_PRIORITY,
        source_caps: Mapping[str, int] | None = None,
        random_state: int | None = 0,
        label_names: Sequence[str] | None = None,
        progress: bool = False,
    ) -> None:
        self.sampling_strategy = sampling_strategy
        self.source_priority = tuple(source_priority)
        self.source_caps = dict(source_caps or {})
        self.random_state = random_state
        self.label_names = label_names
        self.progress = progress

    def fit(self, y: Any, sources: Sequence[str] | None = None) -> MultilabelBalancer:
        """Choose the rows (``sample_indices_``) and build the target-vs-achieved report (``report_``)."""
        labels = sparse_label_matrix(y)
        n_rows, n_labels = labels.shape
        names = _names_for(y, self.label_names, n_labels)
        source_codes, source_names = self._source_codes(sources, n_rows)
        available = _counts(labels)
        targets = resolve_targets(available, self.sampling_strategy, names)
        selected = _GreedySelection(
            labels,
            targets,
            source_codes,
            self._ranks(source_names),
            self._caps(source_names),
            np.random.default_rng(self.random_state),
            self.progress,
        ).run()
        self.sample_indices_ = np.flatnonzero(selected)
        self.targets_ = targets
        achieved = _counts(labels[self.sample_indices_])
        self.report_ = _report(names, available, targets, achieved)
        self.source_counts_ = {
            source_names[code]: int(count)
            for code, count in enumerate(
                np.bincount(source_codes[self.sample_indices_], minlength=len(source_names))
            )
        }
        with_target = ~np.isnan(targets)
        self.cv_ = _coefficient_of_variation(achieved[with_target])
        return self

    def fit_resample(self, X: Any, y: Any, sources: Sequence[str] | None = None) -> tuple[Any, Any]:
        """The selected rows of ``X`` and ``y`` (imbalanced-learn convention)."""
        self.fit(y, sources)
        return _safe_indexing(X, self.sample_indices_), _safe_indexing(y, self.sample_indices_)

    def report_markdown(self) -> str:
        """The target-vs-achieved table as Markdown, with the coefficient of variation."""
        table = _markdown_table(self.report_)
        return f"{table}\n\nCoefficient of variation of achieved counts: {self.cv_:.4f}"

    def _source_codes(self, sources: Sequence[str] | None, n_rows: int) -> tuple[np.ndarray, list[str]]:
        if sources is None:
            return np.zeros(n_rows, dtype=np.int64), [
                self.source_priority[0] if self.source_priority else "pool"
            ]
        keys = np.asarray(sources, dtype=str)
        if keys.shape != (n_rows,):
            raise ValueError(f"sources must have one entry per row ({n_rows}), got shape {keys.shape}")
        names, codes = np.unique(keys, return_inverse=True)
        unknown_caps = set(self.source_caps) - set(names)
        if unknown_caps:
            raise ValueError(f"source_caps names sources absent from the pool: {sorted(unknown_caps)}")
        return codes.ravel().astype(np.int64), [str(n) for n in names]

    def _ranks(self, source_names: list[str]) -> np.ndarray:
        order = {name: rank for rank, name in enumerate(self.source_priority)}
        return np.array([order.get(name, len(order)) for name in source_names], dtype=np.int64)

    def _caps(self, source_names: list[str]) -> np.ndarray:
        caps = np.full(len(source_names), np.iinfo(np.int64).max, dtype=np.int64)
        for code, name in enumerate(source_names):
            if name in self.source_caps:
                if int(self.source_caps[name]) < 0:
                    raise ValueError(f"source cap for {name!r} must be >= 0, got {self.source_caps[name]}")
                caps[code] = int(self.source_caps[name])
        return caps


class _GreedySelection:
    """State of one balancing run (kept in one object so the steps stay small functions)."""

    def __init__(
        self,
        labels: sp.csr_matrix,
        targets: np.ndarray,
        source_codes: np.ndarray,
        source_ranks: np.ndarray,
        caps: np.ndarray,
        rng: np.random.Generator,
        progress: bool,
    ) -> None:
        self.labels = labels
        self.by_column = labels.tocsc()
        self.by_column.sort_indices()
        self.targets = targets
        self.has_target = ~np.isnan(targets)
        self.codes = source_codes
        self.row_rank = source_ranks[source_codes]
        self.caps_left = caps.copy()
        self.rng = rng
        self.progress = progress
        n_rows, n_labels = labels.shape
        self.selected = np.zeros(n_rows, dtype=bool)
        self.eligible = np.ones(n_rows, dtype=bool)
        self.achieved = np.zeros(n_labels, dtype=np.int64)
        self.available = _counts(labels).astype(np.float64)
        self.closed = ~self.has_target | (targets <= 0)
        self.rank_span = float(source_ranks.max() + 1) if len(source_ranks) else 1.0

    def run(self) -> np.ndarray:
        for code in np.flatnonzero(self.caps_left <= 0):
            self._exhaust_source(int(code))
        total = int(np.nansum(np.maximum(self.targets, 0)))
        with tqdm(total=total, desc="balancing", unit="row", disable=not self.progress) as bar:
            while True:
                label = self._most_constrained_label()
                if label is None:
                    break
                before = int(self.selected.sum())
                self._take_for(label)
                bar.update(int(self.selected.sum()) - before)
        return self.selected

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
        rows = rows[self.eligible[rows]]
        deficit = int(self.targets[label] - self.achieved[label])
        if not len(rows):
            self.closed[label] = True
            return
        batch = deficit if deficit <= 8 else (deficit + 1) // 2
        picked = self._best_rows(rows, label, batch)
        self._select(picked)
        if len(picked) == 0 or len(picked) == len(rows):
            self.closed[label] = True

    def _best_rows(self, rows: np.ndarray, label: int, batch: int) -> np.ndarray:
        """Top ``batch`` rows by (no overshoot, source priority, other labels helped, random), within caps."""
        sub = self.labels[rows]
        deficit = self._deficits()
        full = self.has_target & (np.nan_to_num(deficit, nan=1.0) <= 0)
        helps = self.has_target & (np.nan_to_num(deficit) > 0)
        helps[label] = False
        overshoot = np.asarray(sub @ full.astype(np.float64)).ravel()
        gain = np.asarray(sub @ helps.astype(np.float64)).ravel()
        n_labels = self.labels.shape[1]
        score = -(overshoot * self.rank_span + self.row_rank[rows]) * (n_labels + 2) + gain
        score = score + self.rng.random(len(rows)) * 0.5
        keep = min(len(rows), batch)
        if keep < len(rows):
            top = np.argpartition(-score, keep - 1)[: min(len(rows), keep * 2)]
        else:
            top = np.arange(len(rows))
        ordered = self._within_caps(rows[top[np.argsort(-score[top], kind="stable")]])
        return self._without_batch_overshoot(ordered, label, deficit)[:batch]

    def _without_batch_overshoot(self, ordered: np.ndarray, label: int, deficit: np.ndarray) -> np.ndarray:
        """Drop rows that, counting the better-ranked rows of the same batch, would push another label
        past its target (the next batch sees fresh deficits and decides again)."""
        if len(ordered) <= 1:
            return ordered
        room = np.where(self.has_target, np.nan_to_num(deficit), np.inf)
        room[label] = np.inf
        carried = self.labels[ordered].toarray()
        exceeds = ((np.cumsum(carried, axis=0) > room[None, :]) & (carried > 0) & (room[None, :] > 0)).any(
            axis=1
        )
        exceeds[0] = False
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
        gained = _counts(self.labels[rows])
        self.achieved += gained
        self.available -= gained
        used = np.bincount(self.codes[rows], minlength=len(self.caps_left))
        self.caps_left -= used
        for code in np.flatnonzero((used > 0) & (self.caps_left <= 0)):
            self._exhaust_source(int(code))

    def _exhaust_source(self, code: int) -> None:
        """A source at its cap: its remaining rows stop counting as available."""
        rows = np.flatnonzero(self.eligible & (self.codes == code))
        self.eligible[rows] = False
        self.available -= _counts(self.labels[rows])


def _coefficient_of_variation(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.std() / values.mean()) if len(values) and values.mean() > 0 else 0.0


def _report(
    names: Sequence[str], available: np.ndarray, targets: np.ndarray, achieved: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "label": list(names),
            "available": available.astype(np.int64),
            "target": pd.array([None if np.isnan(t) else int(t) for t in targets], dtype="Int64"),
            "achieved": achieved.astype(np.int64),
            "gap": pd.array(
                [None if np.isnan(t) else int(a - t) for a, t in zip(achieved, targets)], dtype="Int64"
            ),
        }
    )


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" if c == "label" else "---:" for c in frame.columns) + "|"
    rows = [
        "| " + " | ".join("" if pd.isna(v) else str(v) for v in record) + " |"
        for record in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])


def balance_dataset(
    dataset: datasets.Dataset,
    sampling_strategy: SamplingStrategy = "equal",
    source_priority: Sequence[str] = DEFAULT_SOURCE_PRIORITY,
    source_caps: Mapping[str, int] | None = None,
    source_column: str = "label_origin",
    seed: int = 0,
) -> datasets.Dataset:
    """The rows of a schema Dataset chosen by `MultilabelBalancer` (sources from ``source_column``)."""
    from goemobalance.schema import label_space_of

    if source_column not in dataset.column_names:
        raise ValueError(f"source column {source_column!r} not in dataset columns {dataset.column_names}")
    balancer = MultilabelBalancer(
        sampling_strategy, source_priority, source_caps, seed, label_names=label_space_of(dataset).names
    )
    sources = dataset.select_columns([source_column]).with_format("arrow")[:].column(source_column)
    balancer.fit(dataset, sources.to_numpy(zero_copy_only=False))
    return dataset.select(balancer.sample_indices_)


# --------------------------------------------------------------------------------------------------
# Charte et al. random resamplers
# --------------------------------------------------------------------------------------------------


class _PercentageResampler:
    """Shared parameters and ``fit_resample`` of the four random resamplers."""

    def __init__(self, percentage: float = 10.0, random_state: int | None = 0) -> None:
        if not 0 < percentage < 100:
            raise ValueError(f"percentage must lie in (0, 100), got {percentage}")
        self.percentage = percentage
        self.random_state = random_state

    def fit_resample(self, X: Any, y: Any) -> tuple[Any, Any]:
        """The resampled ``X`` and ``y``; ``sample_indices_`` gives the rows used (repeated for clones)."""
        labels = sparse_label_matrix(y)
        rng = np.random.default_rng(self.random_state)
        amount = int(labels.shape[0] * self.percentage / 100)
        self.sample_indices_ = self._indices(labels, amount, rng)
        return _safe_indexing(X, self.sample_indices_), _safe_indexing(y, self.sample_indices_)

    def _indices(self, labels: sp.csr_matrix, amount: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


class MLROS(_PercentageResampler):
    """ML-ROS: clone random rows of minority labels (IRLbl > MeanIR) until ``percentage`` % more rows."""

    def _indices(self, labels, amount, rng):
        counts = _counts(labels).astype(np.float64)
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
    """

    def __init__(
        self, percentage: float = 10.0, random_state: int | None = 0, protect_minority: bool = True
    ) -> None:
        super().__init__(percentage, random_state)
        self.protect_minority = protect_minority

    def _indices(self, labels, amount, rng):
        counts = _counts(labels).astype(np.float64)
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


def _labelsets(labels: sp.csr_matrix) -> np.ndarray:
    """An integer code per row identifying its exact set of labels."""
    dense = labels.toarray().astype(bool)
    packed = np.packbits(dense, axis=1)
    _, codes = np.unique(packed, axis=0, return_inverse=True)
    return codes.ravel()


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
    """LP-ROS: clone random rows of labelsets rarer than the mean labelset size."""

    def _indices(self, labels, amount, rng):
        codes = _labelsets(labels)
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
    """LP-RUS: delete random rows of labelsets more frequent than the mean labelset size."""

    def _indices(self, labels, amount, rng):
        codes = _labelsets(labels)
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


def resample_dataset(dataset: datasets.Dataset, resampler: _PercentageResampler) -> datasets.Dataset:
    """Apply ML-ROS/ML-RUS/LP-ROS/LP-RUS to a schema Dataset; clones get ids ``<id>#dupN`` and
    ``meta.duplicate_of`` so provenance shows they are copies."""
    resampler.fit_resample(np.zeros((len(dataset), 1)), sparse_label_matrix(dataset))
    indices = resampler.sample_indices_
    first_use = np.zeros(len(dataset), dtype=bool)
    copy_number = np.zeros(len(dataset), dtype=np.int64)
    duplicate_rows = []
    for position, row in enumerate(indices):
        if first_use[row]:
            copy_number[row] += 1
            duplicate_rows.append((position, int(row), int(copy_number[row])))
        first_use[row] = True
    result = dataset.select(indices)
    if not duplicate_rows:
        return result
    ids, metas = list(result["id"]), list(result["meta"])
    method = type(resampler).__name__
    for position, _row, copy in duplicate_rows:
        original = ids[position]
        meta = json.loads(metas[position]) if metas[position] else {}
        meta.update(duplicate_of=original, resampler=method)
        ids[position] = f"{original}#dup{copy}"
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
    """
    labels = sparse_label_matrix(dataset_or_y)
    names = _names_for(dataset_or_y, label_names, labels.shape[1])
    counts = _counts(labels)
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
        raise ValueError(f"{len(names)} label names for {n_labels} label columns")
    return names


def _labelset_requests(
    labels: sp.csr_matrix, minority: np.ndarray, still_missing: np.ndarray
) -> dict[tuple[int, ...], int]:
    """Spread each minority label's deficit over its labelsets by frequency (largest remainder)."""
    codes = _labelsets(labels)
    first_row = np.unique(codes, return_index=True)[1]
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
