"""`audit(dataset_or_dict, ...)`: label issues, duplicates, leakage and text checks in one `AuditReport`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd

from goemobalance.audit.duplicates import find_duplicates, short_texts
from goemobalance.audit.issues import DEFAULT_MAX_FLAG_FRACTION, LabelIssues, find_label_issues
from goemobalance.audit.probs import cross_val_probs
from goemobalance.audit.report import AuditReport
from goemobalance.schema import column_list, label_space_of, multi_hot

BREAKDOWN_COLUMNS: tuple[str, ...] = ("source", "label_origin", "split")


def audit(
    data: datasets.Dataset | datasets.DatasetDict | Mapping[str, datasets.Dataset],
    *,
    eval_dataset: datasets.Dataset | None = None,
    model: str | Any | np.ndarray = "tfidf",
    folds: int = 5,
    seed: int = 0,
    calibration: str | None = None,
    max_flag_fraction: float | None = DEFAULT_MAX_FLAG_FRACTION,
    near_threshold: float = 0.9,
    min_words: int = 3,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> AuditReport:
    """Audit a dataset (or every split of a DatasetDict, plus an optional evaluation set) in the record schema.

    Labels of every labeled row are checked with out-of-sample probabilities (`model`: ``"tfidf"``,
    ``"minilm"``, an estimator with fit/predict_proba, or a precomputed (n_labeled, L) matrix);
    duplicates and leaks are searched across all splits; `eval_dataset` is added as split ``test``.
    """
    splits = _as_splits(data, eval_dataset)
    combined, split_names = _concatenate(splits)
    names = list(label_space_of(combined).names)
    texts = column_list(combined, "text")
    labels = column_list(combined, "labels")
    labeled = np.flatnonzero([len(row) > 0 for row in labels])
    if len(labeled) < folds:
        raise ValueError(f"only {len(labeled)} labeled rows; the label audit needs at least folds={folds}")
    subset = combined.select(labeled)
    probs = cross_val_probs(
        subset, model, folds=folds, seed=seed, calibration=calibration, cache_dir=cache_dir, progress=progress
    )
    found = find_label_issues(
        [labels[i] for i in labeled], probs, class_names=names, max_flag_fraction=max_flag_fraction
    )
    frame = _row_frame(combined, split_names)
    duplicates = find_duplicates(
        texts, splits=split_names, sources=frame["source"].tolist(), threshold=near_threshold
    )
    duplicates = _with_ids(duplicates, frame["id"].tolist(), texts, min_words)
    lengths = short_texts(texts, min_words=min_words)
    ids = frame["id"].tolist()
    settings = {
        "model": model if isinstance(model, str) else type(model).__name__,
        "folds": folds, "seed": seed, "calibration": calibration, "max_flag_fraction": max_flag_fraction,
        "near_threshold": near_threshold, "min_words": min_words,
    }  # fmt: skip
    y = multi_hot(subset).astype(np.int64)
    return AuditReport(
        settings=settings,
        rows=len(combined),
        splits={name: len(ds) for name, ds in splits.items()},
        label_names=names,
        health_score=found.health_score,
        issues=_issue_table(found, frame.iloc[labeled].reset_index(drop=True), texts, labeled, names),
        per_label=_per_label(found, y, names),
        per_source=_per_source(found, frame.iloc[labeled].reset_index(drop=True)),
        common_issues=found.common_issues,
        duplicates=duplicates,
        texts={kind: [ids[i] for i in rows] for kind, rows in lengths.items()},
        cooccurrence=y.T @ y,
        cleanlab_flagged=int(found.cleanlab_flagged.sum()),
        unlabeled_rows=len(combined) - len(labeled),
    )


def _as_splits(data, eval_dataset: datasets.Dataset | None) -> dict[str, datasets.Dataset]:
    if isinstance(data, datasets.Dataset):
        splits = {"train": data}
    elif isinstance(data, Mapping):
        splits = dict(data)
    else:
        raise TypeError(f"expected a datasets.Dataset or DatasetDict, got {type(data).__name__}")
    if eval_dataset is not None:
        if "test" in splits:
            raise ValueError(
                "data already has a 'test' split; pass the evaluation set inside the DatasetDict instead"
            )
        splits["test"] = eval_dataset
    if not splits or not any(len(ds) for ds in splits.values()):
        raise ValueError("nothing to audit: the dataset is empty")
    return splits


def _concatenate(splits: dict[str, datasets.Dataset]) -> tuple[datasets.Dataset, list[str]]:
    first = next(iter(splits.values()))
    parts = []
    for name, ds in splits.items():
        missing = [c for c in ("id", "text", "labels") if c not in ds.column_names]
        if missing:
            raise ValueError(
                f"split {name!r} lacks column(s) {missing}; audit needs datasets in the record schema"
            )
        parts.append(ds.cast(first.features) if ds.features != first.features else ds)
    split_names = [name for name, ds in splits.items() for _ in range(len(ds))]
    return datasets.concatenate_datasets(parts), split_names


def _row_frame(dataset: datasets.Dataset, split_names: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({"id": column_list(dataset, "id"), "split": split_names})
    for name in ("source", "label_origin"):
        frame[name] = column_list(dataset, name) if name in dataset.column_names else "unknown"
    return frame


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


def _with_ids(groups: pd.DataFrame, ids: list[str], texts: list[str], min_words: int) -> pd.DataFrame:
    groups = groups.copy()
    groups.insert(1, "ids", [[ids[r] for r in rows] for rows in groups["rows"]])
    groups["short"] = [
        len(short_texts([texts[rows[0]]], min_words=min_words)["short"]) > 0 for rows in groups["rows"]
    ]
    groups["text"] = [texts[rows[0]] for rows in groups["rows"]]
    return groups
