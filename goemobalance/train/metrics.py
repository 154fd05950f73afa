"""Multi-label metrics from scikit-learn, a per-label report, and the JSON + PNG files that keep them."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import metrics as skm

from goemobalance.train.thresholds import Thresholds

AVERAGES = ("micro", "macro", "weighted", "samples")


def multilabel_report(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    label_names: Sequence[str],
    thresholds: Thresholds | None = None,
    *,
    y_pred: np.ndarray | None = None,
) -> dict[str, Any]:
    """Subset accuracy, Hamming loss, P/R/F1 (micro/macro/weighted/samples), ROC-AUC, per-label scores.

    Parameters
    ----------
    y_true : ndarray of shape (n, L)
        0/1 labels.
    y_prob : ndarray of shape (n, L)
        Predicted probabilities.
    label_names : sequence of str
        The L label names, in column order.
    thresholds : Thresholds, optional
        Decision thresholds (default 0.5 for every label).
    y_pred : ndarray of shape (n, L), optional
        0/1 predictions made elsewhere, scored instead of thresholding `y_prob` (which then gives only
        ROC-AUC): rows pooled from models with thresholds of their own, as in a cross-fitted screen. Not
        with `thresholds`; the report's thresholds are then None.

    Returns
    -------
    dict
        ``subset_accuracy``, ``hamming_loss``, ``{precision,recall,f1}_{micro,macro,weighted,samples}``,
        ROC-AUC (``roc_auc_macro``, ``roc_auc_micro``, skipped labels), ``thresholds`` and ``per_label``.
    """
    y_true = np.asarray(y_true).astype(np.int8)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    if y_true.shape != y_prob.shape or y_true.shape[1] != len(label_names):
        raise ValueError(
            f"shapes differ: y_true {y_true.shape}, y_prob {y_prob.shape}, {len(label_names)} names"
        )
    if y_pred is None:
        thresholds = thresholds or Thresholds.constant(len(label_names))
        y_pred = thresholds.apply(y_prob)
    elif thresholds is not None:
        raise ValueError("pass thresholds or y_pred, not both")
    elif np.shape(y_pred) != y_true.shape:
        raise ValueError(f"shapes differ: y_true {y_true.shape}, y_pred {np.shape(y_pred)}")
    report: dict[str, Any] = {
        "n_rows": len(y_true),
        "subset_accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "hamming_loss": float(skm.hamming_loss(y_true, y_pred)),
        "thresholds": None if thresholds is None else thresholds.to_dict(),
    }
    for average in AVERAGES:
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        report[f"precision_{average}"], report[f"recall_{average}"], report[f"f1_{average}"] = (
            float(p),
            float(r),
            float(f),
        )
    report.update(_roc_auc(y_true, y_prob))
    report["per_label"] = _per_label(y_true, y_pred, y_prob, label_names, thresholds)
    return report


def _roc_auc(y_true: np.ndarray, y_prob: np.ndarray) -> dict[str, Any]:
    """ROC-AUC macro (over labels with both classes present) and micro; labels left out are listed."""
    scorable = (y_true.min(axis=0) == 0) & (y_true.max(axis=0) == 1)
    if not scorable.any():
        return {
            "roc_auc_macro": None,
            "roc_auc_micro": None,
            "roc_auc_skipped_labels": list(range(y_true.shape[1])),
        }
    return {
        "roc_auc_macro": float(skm.roc_auc_score(y_true[:, scorable], y_prob[:, scorable], average="macro")),
        "roc_auc_micro": float(skm.roc_auc_score(y_true, y_prob, average="micro")),
        "roc_auc_skipped_labels": [int(i) for i in np.flatnonzero(~scorable)],
    }


def _per_label(y_true, y_pred, y_prob, label_names, thresholds) -> dict[str, dict[str, Any]]:
    p, r, f, support = skm.precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    rows = {}
    for i, name in enumerate(label_names):
        has_both = 0 < y_true[:, i].sum() < len(y_true)
        rows[name] = {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(support[i]),
            "predicted": int(y_pred[:, i].sum()),
            "threshold": None if thresholds is None else float(thresholds.per_label[i]),
            "roc_auc": float(skm.roc_auc_score(y_true[:, i], y_prob[:, i])) if has_both else None,
        }
    return rows


def rarest_labels(y_train: np.ndarray, label_names: Sequence[str], k: int = 8) -> list[str]:
    """The `k` labels with the fewest positive training rows (ties broken by label order).

    Parameters
    ----------
    y_train : array-like of shape (n_rows, n_labels)
        Training labels, 0/1.
    label_names : sequence of str
        Names of the columns.
    k : int, default 8
        How many labels.

    Returns
    -------
    list of str
        The rarest first.
    """
    counts = np.asarray(y_train).sum(axis=0)
    order = np.argsort(counts, kind="stable")[:k]
    return [label_names[i] for i in order]


def mean_f1(report: dict[str, Any], labels: Sequence[str]) -> float:
    """Mean per-label F1 over a subset of labels (e.g. the rare ones)."""
    return float(np.mean([report["per_label"][name]["f1"] for name in labels]))


def save_report(report: dict[str, Any], out_dir: str | Path, prefix: str = "metrics") -> list[Path]:
    """Write ``<prefix>.json`` and the plots ``<prefix>_per_label_f1.png``, ``<prefix>_per_label_pr.png``.

    Parameters
    ----------
    report : dict
        A `multilabel_report`.
    out_dir : str or Path
        The folder to write (created if missing).
    prefix : str, default "metrics"
        The files' name stem.

    Returns
    -------
    list of Path
        The JSON file, then the plots.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{prefix}.json"
    json_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return [json_path, *plot_per_label(report, out_dir, prefix)]


def plot_per_label(report: dict[str, Any], out_dir: Path, prefix: str) -> list[Path]:
    """Bar charts of per-label F1 (sorted by support) and of precision vs recall."""
    from goemobalance.figures import new_figure, save_figure

    rows = sorted(report["per_label"].items(), key=lambda kv: -kv[1]["support"])
    names = [name for name, _ in rows]
    x = np.arange(len(names))
    paths = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = new_figure((max(8, 0.4 * len(names)), 4.5))
        ax = fig.subplots()
        ax.bar(x, [r["f1"] for _, r in rows], color="tab:blue")
        ax.axhline(report["f1_macro"], color="tab:red", ls="--", label=f"macro-F1 {report['f1_macro']:.3f}")
        ax.set(xticks=x, ylabel="F1", ylim=(0, 1), title="Per-label F1 (labels sorted by support)")
        ax.set_xticklabels(names, rotation=70, ha="right")
        ax.legend()
        fig.tight_layout()
        paths.append(save_figure(fig, out_dir / f"{prefix}_per_label_f1.png"))
        fig = new_figure((max(8, 0.4 * len(names)), 4.5))
        ax = fig.subplots()
        ax.bar(x - 0.2, [r["precision"] for _, r in rows], 0.4, label="precision")
        ax.bar(x + 0.2, [r["recall"] for _, r in rows], 0.4, label="recall")
        ax.set(xticks=x, ylim=(0, 1), title="Per-label precision and recall")
        ax.set_xticklabels(names, rotation=70, ha="right")
        ax.legend()
        fig.tight_layout()
        paths.append(save_figure(fig, out_dir / f"{prefix}_per_label_pr.png"))
    return paths


__all__ = ["AVERAGES", "mean_f1", "multilabel_report", "plot_per_label", "rarest_labels", "save_report"]
