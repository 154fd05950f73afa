"""Label issues through cleanlab's multi-label API, with a flagging budget so an audit stays actionable.

cleanlab's confident-learning filter on a noisy 28-label set like GoEmotions flags a large share of
all rows (every weak label counts). `find_label_issues` therefore ranks rows by cleanlab's label
quality score and flags only rows that the cleanlab filter also flags *and* that fall inside the
`max_flag_fraction` lowest-quality rows.

The row score is cleanlab's per-class self-confidence aggregated with the *minimum* rather than
cleanlab's default exponential moving average: a single label the model finds implausible is what
marks an error, and the moving average blurs it with the row's many easy "not this label" scores
(see docs/benchmarks.md: precision@k roughly doubles on GoEmotions with planted noise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from cleanlab.multilabel_classification import filter as cl_filter
from cleanlab.multilabel_classification import rank as cl_rank

from goemobalance.audit.defaults import DEFAULT_MAX_FLAG_FRACTION
from goemobalance.errors import InputError
from goemobalance.labels import LabelSpace

DEFAULT_FILTER = "prune_by_noise_rate"
"""cleanlab's default confident-learning filter, which its per-label summaries always use."""


@dataclass
class LabelIssues:
    """Per-row label quality, the flagged rows and cleanlab's dataset-level summaries.

    Made by `find_label_issues`.

    Attributes
    ----------
    quality : np.ndarray
        cleanlab's label quality score per row (the lowest over its labels); lower is more suspicious.
    ranking : np.ndarray
        All row indices, most suspicious first.
    flagged : np.ndarray
        Boolean per row: cleanlab's filter within the flag budget.
    cleanlab_flagged : np.ndarray
        Boolean per row: cleanlab's filter alone.
    health_score : float
        1 - the share of rows cleanlab's filter marks.
    per_label : pandas.DataFrame
        The table of cleanlab's ``rank_classes_by_multilabel_quality``, one row per label, lowest
        "Label Quality Score" first (`per_label_issue_tables`).
    common_issues : pandas.DataFrame
        The table of cleanlab's ``common_multilabel_issues``, two rows per label, most frequent first.
    suspect_given, suspect_missing : list of list of int
        Per row (empty unless flagged): given labels the model doubts, missing labels it expects.
    """

    quality: np.ndarray
    ranking: np.ndarray
    flagged: np.ndarray
    cleanlab_flagged: np.ndarray
    health_score: float
    per_label: pd.DataFrame
    common_issues: pd.DataFrame
    suspect_given: list[list[int]] = field(default_factory=list)
    suspect_missing: list[list[int]] = field(default_factory=list)

    @property
    def flagged_rows(self) -> np.ndarray:
        """Flagged row indices, most suspicious first."""
        return self.ranking[self.flagged[self.ranking]]


def find_label_issues(
    labels: Sequence[Sequence[int]],
    probs: np.ndarray,
    *,
    class_names: Sequence[str] | None = None,
    max_flag_fraction: float | None = DEFAULT_MAX_FLAG_FRACTION,
    filter_by: str = DEFAULT_FILTER,
    quality_method: str = "self_confidence",
    suspect_threshold: float = 0.5,
) -> LabelIssues:
    """Label quality per row, flagged rows, per-label quality and cleanlab's overall health score.

    ``max_flag_fraction=None`` keeps cleanlab's filter as is (no budget).

    Parameters
    ----------
    labels : sequence of sequences of int
        The given label ids of each row.
    probs : ndarray of shape (n, L)
        Out-of-sample probabilities (`cross_val_probs`).
    class_names : sequence of str, optional
        Label names for the per-label tables.
    max_flag_fraction : float or None
        Flag at most this share of rows (the lowest-quality ones); None for no budget.
    filter_by : str
        cleanlab's ``filter_by`` method.
    quality_method : str
        cleanlab's label quality score.
    suspect_threshold : float
        In flagged rows, a given label with probability below ``1 - suspect_threshold`` and a missing one
        at or above ``suspect_threshold`` are named as suspect.

    Returns
    -------
    LabelIssues
    """
    labels = [sorted({int(i) for i in row}) for row in labels]
    probs = np.asarray(probs, dtype=np.float64)
    if len(labels) != len(probs):
        raise InputError(f"labels ({len(labels)} rows) and probs ({len(probs)} rows) differ in length")
    if not labels:
        raise InputError("no rows: the label-issue search needs at least one labeled row")
    if max_flag_fraction is not None and not 0.0 < max_flag_fraction <= 1.0:
        raise InputError(f"max_flag_fraction must lie in (0, 1], got {max_flag_fraction}")
    names = list(class_names) if class_names is not None else None
    # n_jobs=1: cleanlab otherwise forks a process pool for each of the L binary problems (2 classes each),
    # which costs more than the work (2.3x slower on 43k GoEmotions rows, same mask).
    per_class = np.asarray(cl_filter.find_multilabel_issues_per_class(labels, probs, n_jobs=1), dtype=bool)
    if filter_by == DEFAULT_FILTER:
        cleanlab_mask = per_class.any(axis=1)
    else:
        cleanlab_mask = np.asarray(
            cl_filter.find_label_issues(labels, probs, filter_by=filter_by, n_jobs=1), dtype=bool
        )
    quality = cl_rank.get_label_quality_scores(
        labels, probs, method=quality_method, aggregator_kwargs={"method": _minimum}
    )
    ranking = np.argsort(quality, kind="stable")
    flagged = cleanlab_mask.copy()
    if max_flag_fraction is not None:
        budget = np.zeros(len(labels), dtype=bool)
        budget[ranking[: round(max_flag_fraction * len(labels))]] = True
        flagged &= budget
    common, per_label = per_label_issue_tables(labels, per_class, class_names=names)
    health = float(1.0 - cleanlab_mask.mean())
    given, missing = _suspect_labels(labels, probs, flagged, suspect_threshold)
    return LabelIssues(
        quality=quality, ranking=ranking, flagged=flagged, cleanlab_flagged=cleanlab_mask,
        health_score=health, per_label=per_label, common_issues=common,
        suspect_given=given, suspect_missing=missing,
    )  # fmt: skip


def per_label_issue_tables(
    labels: Sequence[Sequence[int]], per_class: np.ndarray, *, class_names: Sequence[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """cleanlab's two per-label summaries, from one pass of its per-class filter instead of two.

    ``cleanlab.multilabel_classification.dataset.common_multilabel_issues`` and
    ``rank_classes_by_multilabel_quality`` each rerun the per-class confident-learning filter, with a
    process pool per label and no ``n_jobs``; `find_label_issues` runs that filter once, single-process,
    and builds the same tables from its mask here (docs/benchmarks.md: 4x faster on GoEmotions train).
    Counts are exact: cleanlab's per-label table truncates ``issue probability * rows`` (14 for 15 of
    22 rows).

    Parameters
    ----------
    labels : sequence of sequences of int
        The given label ids of each row.
    per_class : ndarray of bool, shape (n, L)
        cleanlab's ``find_multilabel_issues_per_class`` mask: row i's label j looks wrong (given but
        unlikely, or missing but likely).
    class_names : sequence of str, optional
        Label names: adds the "Class Name" column, as in cleanlab.

    Returns
    -------
    common : pandas.DataFrame
        Two rows per label ("In Given Label" True: given but likely wrong; False: missing but likely
        right) with "Num Examples" and "Issue Probability", most probable first.
    per_label : pandas.DataFrame
        One row per label: "Label Issues", "Inverse Label Issues", "Label Noise", "Inverse Label Noise"
        and "Label Quality Score" (1 - label noise), lowest quality first.
    """
    n_rows, n_labels = per_class.shape
    space = LabelSpace(tuple(class_names) if class_names is not None else tuple(map(str, range(n_labels))))
    given = space.to_multi_hot(labels, dtype=bool)
    wrong_given = (per_class & given).sum(axis=0)
    missing = (per_class & ~given).sum(axis=0)
    named = {"Class Name": list(class_names)} if class_names is not None else {}
    per_label = pd.DataFrame({
        **named,
        "Class Index": np.arange(n_labels),
        "Label Issues": wrong_given,
        "Inverse Label Issues": missing,
        "Label Noise": wrong_given / max(n_rows, 1),
        "Inverse Label Noise": missing / max(n_rows, 1),
    })  # fmt: skip
    per_label["Label Quality Score"] = 1.0 - per_label["Label Noise"]
    per_label = per_label.sort_values("Label Quality Score", kind="stable").reset_index(drop=True)
    halves = [
        _common_half(named, in_given, counts, n_rows)
        for in_given, counts in ((True, wrong_given), (False, missing))
    ]
    order = ["Issue Probability", "Class Index", "In Suggested Label"]
    common = pd.concat(halves, ignore_index=True).sort_values(
        order, ascending=[False, True, True], kind="stable"
    )
    return common.reset_index(drop=True), per_label


def _common_half(named: dict, in_given: bool, counts: np.ndarray, n_rows: int) -> pd.DataFrame:
    """One row per label of cleanlab's common-issues table: given-but-wrong (``in_given``) or missing-but-right."""
    return pd.DataFrame({
        **named,
        "Class Index": np.arange(len(counts)),
        "In Given Label": in_given,
        "In Suggested Label": not in_given,
        "Num Examples": counts,
        "Issue Probability": counts / max(n_rows, 1),
    })  # fmt: skip


def _minimum(scores: np.ndarray, axis: int = 1, **_) -> np.ndarray:
    """cleanlab aggregator: a row is as doubtful as its most doubtful label."""
    return np.min(scores, axis=axis)


def _suspect_labels(labels, probs: np.ndarray, flagged: np.ndarray, threshold: float):
    """For flagged rows: given labels the model doubts (p < 1 - threshold) and missing ones it expects (p >= threshold)."""
    given, missing = [], []
    for row, row_labels in enumerate(labels):
        if not flagged[row]:
            given.append([])
            missing.append([])
            continue
        row_probs = probs[row]
        given.append([c for c in row_labels if row_probs[c] < 1.0 - threshold])
        present = set(row_labels)
        missing.append([int(c) for c in np.flatnonzero(row_probs >= threshold) if c not in present])
    return given, missing
