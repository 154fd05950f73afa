"""`audit(dataset_or_dict, ...)`: label issues, duplicates, leakage and text checks in one `AuditReport`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd

from goemobalance.audit.defaults import DEFAULT_MAX_FLAG_FRACTION, DEFAULT_MIN_WORDS
from goemobalance.audit.duplicates import find_duplicates, word_counts
from goemobalance.audit.issues import LabelIssues, find_label_issues
from goemobalance.audit.probs import cross_val_probs
from goemobalance.audit.report import AuditReport
from goemobalance.errors import InputError
from goemobalance.schema import label_space_of, multi_hot
from goemobalance.text import NEAR_DUPLICATE_THRESHOLD

BREAKDOWN_COLUMNS: tuple[str, ...] = ("source", "label_origin", "split")
REQUIRED_COLUMNS: tuple[str, ...] = ("id", "text", "labels")


def audit(
    data: datasets.Dataset | datasets.DatasetDict | Mapping[str, datasets.Dataset],
    *,
    eval_dataset: datasets.Dataset | Mapping[str, datasets.Dataset] | None = None,
    model: str | Any | np.ndarray = "tfidf",
    folds: int = 5,
    seed: int = 0,
    calibration: str | None = None,
    max_flag_fraction: float | None = DEFAULT_MAX_FLAG_FRACTION,
    near_threshold: float | None = NEAR_DUPLICATE_THRESHOLD,
    min_words: int = DEFAULT_MIN_WORDS,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    n_jobs: int | None = None,
) -> AuditReport:
    """Audit every split of a dataset: label issues on their union, duplicates and leaks across all of them.

    Parameters
    ----------
    data : Dataset, DatasetDict or Mapping[str, Dataset]
        The rows to audit, in the record schema; a lone Dataset is split ``train``.
    eval_dataset : Dataset or Mapping[str, Dataset], optional
        Evaluation data checked for duplicates and leaks only (never label-audited): a Dataset is named
        ``eval``, a mapping gives the names (``{"goemotions_test": test}``). Each counts as an
        evaluation split.
    model : str, estimator or np.ndarray
        Out-of-sample probability model (``"tfidf"``, ``"tfidf-char"``, ``"minilm"``, ``"tfidf+minilm"``,
        an estimator with fit/predict_proba, or a precomputed (n_labeled, L) matrix in split order).
    folds, seed, calibration, cache_dir, progress, n_jobs
        Passed to `cross_val_probs` (`n_jobs`: worker processes for a built-in model's heads).
    max_flag_fraction : float or None
        Flag at most this share of labeled rows (None: cleanlab's filter as is).
    near_threshold : float or None
        Near-duplicate Jaccard threshold (`goemobalance.text`); None: exact duplicates only.
    min_words : int
        Texts with fewer words are reported as very short.

    Returns
    -------
    AuditReport
        Its `coverage` says which splits and rows each part of the audit covers. Label issues are ranked
        on the union of the splits (the ``split`` column and the per-split breakdown tell them apart); a
        duplicate group is a leak when it joins an evaluation split (`is_eval_split`: validation, test,
        the evaluation sets) with another split.
    """
    if folds < 2:
        raise InputError(f"folds must be at least 2, got {folds}")
    splits = _as_splits(data)
    eval_sets = _as_eval_sets(eval_dataset, splits)
    combined, split_names = _concatenate(splits)
    columns = _columns(combined)
    names = list(label_space_of(combined).names)
    labeled = np.flatnonzero([len(row) > 0 for row in columns["labels"]])
    if len(labeled) < folds:
        raise InputError(f"only {len(labeled)} labeled rows; the label audit needs at least folds={folds}")
    subset = combined.select(labeled)
    probs = cross_val_probs(
        subset, model, folds=folds, seed=seed, calibration=calibration, cache_dir=cache_dir, progress=progress,
        n_jobs=n_jobs,
    )  # fmt: skip
    found = find_label_issues(
        [columns["labels"][i] for i in labeled], probs, class_names=names, max_flag_fraction=max_flag_fraction
    )
    frame = pd.DataFrame({"id": columns["id"], "split": split_names, **_breakdown(columns, len(combined))})
    duplicates, words = _duplicates(columns, frame, eval_sets, near_threshold, min_words)
    settings = {
        "model": model if isinstance(model, str) else type(model).__name__,
        "folds": folds, "seed": seed, "calibration": calibration, "max_flag_fraction": max_flag_fraction,
        "near_threshold": near_threshold, "min_words": min_words,
    }  # fmt: skip
    y = multi_hot(subset).astype(np.int64)
    labeled_frame = frame.iloc[labeled].reset_index(drop=True)
    ids = np.asarray(columns["id"], dtype=object)
    return AuditReport(
        settings=settings,
        rows=len(combined),
        splits={name: len(ds) for name, ds in splits.items()},
        label_names=names,
        health_score=found.health_score,
        issues=_issue_table(found, labeled_frame, columns["text"], labeled, names),
        per_label=_per_label(found, y, names),
        per_source=_per_source(found, labeled_frame),
        common_issues=found.common_issues,
        duplicates=duplicates,
        texts={
            "empty": ids[words == 0].tolist(),
            "short": ids[(words > 0) & (words < min_words)].tolist(),
        },
        cooccurrence=y.T @ y,
        cleanlab_flagged=int(found.cleanlab_flagged.sum()),
        unlabeled_rows=len(combined) - len(labeled),
        eval_splits={name: len(ds) for name, ds in eval_sets.items()},
        labeled_per_split=frame["split"]
        .iloc[labeled]
        .value_counts()
        .reindex(list(splits), fill_value=0)
        .to_dict(),
    )


def _as_splits(data) -> dict[str, datasets.Dataset]:
    if isinstance(data, datasets.Dataset):
        splits = {"train": data}
    elif isinstance(data, Mapping):
        splits = dict(data)
    else:
        raise TypeError(f"expected a datasets.Dataset or DatasetDict, got {type(data).__name__}")
    if not splits or not any(len(ds) for ds in splits.values()):
        raise InputError("nothing to audit: the dataset is empty")
    return splits


def _as_eval_sets(eval_dataset, splits: dict[str, datasets.Dataset]) -> dict[str, datasets.Dataset]:
    if eval_dataset is None:
        return {}
    eval_sets = {"eval": eval_dataset} if isinstance(eval_dataset, datasets.Dataset) else dict(eval_dataset)
    clashes = sorted(set(eval_sets) & set(splits))
    if clashes:
        raise InputError(
            f"evaluation set name(s) {clashes} are also split names of the audited data; rename them"
        )
    for name, ds in eval_sets.items():
        if "text" not in ds.column_names:
            raise InputError(f"evaluation set {name!r} has no 'text' column (columns: {ds.column_names})")
    return eval_sets


def _concatenate(splits: dict[str, datasets.Dataset]) -> tuple[datasets.Dataset, list[str]]:
    first = next(iter(splits.values()))
    parts = []
    for name, ds in splits.items():
        missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
        if missing:
            raise InputError(
                f"split {name!r} lacks column(s) {missing}; audit needs datasets in the record schema"
            )
        parts.append(ds.cast(first.features) if ds.features != first.features else ds)
    split_names = [name for name, ds in splits.items() for _ in range(len(ds))]
    return datasets.concatenate_datasets(parts), split_names


def _columns(dataset: datasets.Dataset) -> dict[str, list]:
    """Whole columns as Python lists, read once through Arrow (no per-row access to lazy columns)."""
    table = dataset.with_format("arrow")[:]
    wanted = (*REQUIRED_COLUMNS, *(c for c in ("source", "label_origin") if c in table.column_names))
    return {name: table.column(name).to_pylist() for name in wanted}


def _breakdown(columns: dict[str, list], n_rows: int) -> dict[str, list]:
    return {name: columns.get(name) or ["unknown"] * n_rows for name in ("source", "label_origin")}


def _duplicates(
    columns: dict[str, list],
    frame: pd.DataFrame,
    eval_sets: dict[str, datasets.Dataset],
    threshold: float | None,
    min_words: int,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Duplicate groups over the audited rows followed by the evaluation rows, and each audited row's word count."""
    texts, ids = list(columns["text"]), list(columns["id"])
    splits, sources = frame["split"].tolist(), frame["source"].tolist()
    for name, ds in eval_sets.items():
        table = ds.with_format("arrow")[:]
        eval_texts = table.column("text").to_pylist()
        texts += eval_texts
        ids += (
            table.column("id").to_pylist()
            if "id" in table.column_names
            else [f"{name}:{i + 1}" for i in range(len(ds))]
        )
        splits += [name] * len(ds)
        sources += table.column("source").to_pylist() if "source" in table.column_names else [name] * len(ds)
    groups = find_duplicates(texts, splits=splits, sources=sources, threshold=threshold)
    words = word_counts(texts)
    groups.insert(1, "ids", [[ids[r] for r in rows] for rows in groups["rows"]])
    groups["short"] = [bool(words[rows[0]] < min_words) for rows in groups["rows"]]
    groups["text"] = [texts[rows[0]] for rows in groups["rows"]]
    return groups, words[: len(frame)]


def _issue_table(
    found: LabelIssues, frame: pd.DataFrame, texts: list[str], labeled: np.ndarray, names: list[str]
) -> pd.DataFrame:
    rows = found.flagged_rows
    return pd.DataFrame(
        {
            "id": frame["id"].to_numpy()[rows],
            "split": frame["split"].to_numpy()[rows],
            "source": frame["source"].to_numpy()[rows],
            "label_origin": frame["label_origin"].to_numpy()[rows],
            "quality": found.quality[rows],
            "doubtful_labels": [[names[c] for c in found.suspect_given[r]] for r in rows],
            "missing_labels": [[names[c] for c in found.suspect_missing[r]] for r in rows],
            "text": [texts[labeled[r]] for r in rows],
        }
    )


def _per_label(found: LabelIssues, y: np.ndarray, names: list[str]) -> pd.DataFrame:
    cleanlab_rank = found.per_label.set_index("Class Index")
    counts = y.sum(axis=0)
    flagged_with = (y[found.flagged] > 0).sum(axis=0)
    frame = pd.DataFrame(
        {
            "label": names,
            "count": counts,
            "share": counts / max(len(y), 1),
            "flagged": flagged_with,
            "issue_rate": np.divide(flagged_with, counts, out=np.zeros(len(names)), where=counts > 0),
            "quality": cleanlab_rank.reindex(range(len(names)))["Label Quality Score"].to_numpy(),
            "label_issues": cleanlab_rank.reindex(range(len(names)))["Label Issues"].to_numpy(),
            "missing_issues": cleanlab_rank.reindex(range(len(names)))["Inverse Label Issues"].to_numpy(),
        }
    )
    frame["noise_rate"] = np.divide(
        frame["label_issues"].to_numpy(dtype=float), counts, out=np.zeros(len(names)), where=counts > 0
    )
    return frame


def _per_source(found: LabelIssues, frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for by in BREAKDOWN_COLUMNS:
        for value, index in frame.groupby(by).indices.items():
            rows.append(
                {
                    "by": by, "value": value, "rows": len(index),
                    "flagged": int(found.flagged[index].sum()),
                    "issue_rate": float(found.flagged[index].mean()),
                    "cleanlab_rate": float(found.cleanlab_flagged[index].mean()),
                    "mean_quality": float(found.quality[index].mean()),
                }
            )  # fmt: skip
    return pd.DataFrame(
        rows, columns=["by", "value", "rows", "flagged", "issue_rate", "cleanlab_rate", "mean_quality"]
    )


__all__ = ["audit"]
