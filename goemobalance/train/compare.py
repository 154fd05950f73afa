"""Balanced vs imbalanced training, judged on the untouched GoEmotions test split.

Both models get the same config, seed and validation split; before training, every training row that
also appears in the evaluation data (same normalized text, or same GoEmotions comment id) is removed
with a warning (``on_leak="drop"``, the default) or stops the run (``on_leak="error"``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from goemobalance.errors import LeakError
from goemobalance.schema import label_space_of, multi_hot
from goemobalance.text import normalize_text
from goemobalance.train.config import TrainConfig
from goemobalance.train.loop import fit
from goemobalance.train.metrics import mean_f1, rarest_labels, save_report

log = logging.getLogger(__name__)
SUMMARY_METRICS = (
    "f1_macro",
    "f1_micro",
    "f1_weighted",
    "f1_samples",
    "roc_auc_macro",
    "roc_auc_micro",
    "subset_accuracy",
    "hamming_loss",
)


def leak_key(text: str) -> str:
    """Text for exact-overlap checks: the one exact-identity key, `goemobalance.text.normalize_text`."""
    return normalize_text(text)


def comment_ids(dataset: datasets.Dataset) -> list[str]:
    """The GoEmotions comment id of each row (``meta.comment_id``, else the id without its source prefix)."""
    out = []
    for row_id, meta in zip(dataset["id"], dataset["meta"]):
        try:
            value = json.loads(meta).get("comment_id") if meta else None
        except json.JSONDecodeError:
            value = None
        out.append(str(value) if value else row_id.split(":", 1)[-1].split("#", 1)[0])
    return out


@dataclass
class LeakReport:
    """Which training rows overlap the evaluation data, and why."""

    train_rows: int
    text_overlap: list[int] = field(default_factory=list)
    id_overlap: list[int] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    @property
    def leaking_rows(self) -> list[int]:
        return sorted(set(self.text_overlap) | set(self.id_overlap))

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "text_overlap": len(self.text_overlap),
            "id_overlap": len(self.id_overlap),
            "leaking_rows": len(self.leaking_rows),
        }


def find_leaks(train_ds: datasets.Dataset, eval_sets: Sequence[datasets.Dataset]) -> LeakReport:
    """Training rows whose normalized text or comment id occurs in any evaluation set."""
    eval_texts = {leak_key(t) for ds in eval_sets for t in ds["text"]} - {""}
    eval_ids = {cid for ds in eval_sets for cid in comment_ids(ds)}
    report = LeakReport(len(train_ds))
    for row, (text, cid) in enumerate(zip(train_ds["text"], comment_ids(train_ds))):
        if leak_key(text) in eval_texts:
            report.text_overlap.append(row)
            if len(report.examples) < 10:
                report.examples.append(text)
        if cid in eval_ids:
            report.id_overlap.append(row)
    return report


def remove_leaks(
    train_ds: datasets.Dataset,
    eval_sets: Sequence[datasets.Dataset],
    *,
    on_leak: str = "drop",
    name: str = "training",
) -> tuple[datasets.Dataset, LeakReport]:
    """Drop leaking training rows with a warning (``drop``), raise `LeakError` (``error``) or keep them."""
    if on_leak not in ("drop", "error", "ignore"):
        raise ValueError(f"on_leak must be 'drop', 'error' or 'ignore', got {on_leak!r}")
    report = find_leaks(train_ds, eval_sets)
    leaking = report.leaking_rows
    if not leaking or on_leak == "ignore":
        return train_ds, report
    message = (
        f"{name} data: {len(leaking)} of {len(train_ds)} rows overlap the evaluation data "
        f"({len(report.text_overlap)} same normalized text, {len(report.id_overlap)} same comment id); "
        f"e.g. {report.examples[:3]}"
    )
    if on_leak == "error":
        raise LeakError(message)
    log.warning("%s; removing them", message)
    keep = np.setdiff1d(np.arange(len(train_ds)), leaking)
    return train_ds.select(keep), report


def check_untouched_test(test_ds: datasets.Dataset) -> None:
    """Refuse evaluation data that is not plain human-labelled GoEmotions (e.g. a balanced test split)."""
    bad = [
        i
        for i, (s, o) in enumerate(zip(test_ds["source"], test_ds["label_origin"]))
        if s != "goemotions" or o != "human"
    ]
    if bad:
        raise ValueError(
            "evaluation data must be the untouched GoEmotions test split; "
            f"row {bad[0]} (id={test_ds['id'][bad[0]]!r}) "
            f"has source={test_ds['source'][bad[0]]!r}, label_origin={test_ds['label_origin'][bad[0]]!r}"
        )


def compare(
    balanced: datasets.Dataset,
    imbalanced: datasets.Dataset,
    test: datasets.Dataset,
    val: datasets.Dataset,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    on_leak: str = "drop",
    rare_k: int = 8,
    save_models: bool = False,
) -> dict[str, Any]:
    """Train on both sets (same config, seed, validation split), evaluate on GoEmotions test, write deltas."""
    check_untouched_test(test)
    names = list(label_space_of(imbalanced).names)
    for what, ds in (("balanced", balanced), ("test", test), ("validation", val)):
        if list(label_space_of(ds).names) != names:
            raise ValueError(f"{what} data does not use the imbalanced data's label space")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_sets = {"imbalanced": imbalanced, "balanced": balanced}
    reports, leaks, infos = {}, {}, {}
    for name, train_ds in train_sets.items():
        clean, leak = remove_leaks(train_ds, [test, val], on_leak=on_leak, name=name)
        leaks[name] = leak.to_dict()
        model = fit(clean, val, config)
        reports[name] = model.evaluate(test)
        infos[name] = {**model.info, "history": model.history, "train_rows_after_leak_check": len(clean)}
        save_report(reports[name], out_dir / name, prefix="test_metrics")
        if save_models:
            model.save(out_dir / name / "model")
    rare = rarest_labels(multi_hot(imbalanced), names, rare_k)
    result = comparison_table(reports, names, rare, train_sets)
    result.update(config=config.to_dict(), leaks=leaks, runs=infos)
    write_comparison(result, out_dir)
    return result


def comparison_table(
    reports: Mapping[str, dict],
    names: Sequence[str],
    rare: Sequence[str],
    train_sets: Mapping[str, datasets.Dataset],
) -> dict[str, Any]:
    """Per-label F1 of both models on the test split and their difference (balanced - imbalanced)."""
    imb, bal = reports["imbalanced"], reports["balanced"]
    counts = {k: multi_hot(ds).sum(axis=0) for k, ds in train_sets.items()}
    rows = []
    for i, name in enumerate(names):
        f_imb, f_bal = imb["per_label"][name]["f1"], bal["per_label"][name]["f1"]
        rows.append(
            {
                "label": name,
                "rare": name in rare,
                "test_support": imb["per_label"][name]["support"],
                "train_imbalanced": int(counts["imbalanced"][i]),
                "train_balanced": int(counts["balanced"][i]),
                "f1_imbalanced": f_imb,
                "f1_balanced": f_bal,
                "delta": f_bal - f_imb,
            }
        )
    summary = {
        m: {
            "imbalanced": imb[m],
            "balanced": bal[m],
            "delta": None if imb[m] is None or bal[m] is None else bal[m] - imb[m],
        }
        for m in SUMMARY_METRICS
    }
    rare_imb, rare_bal = mean_f1(imb, rare), mean_f1(bal, rare)
    summary["rare_f1"] = {"imbalanced": rare_imb, "balanced": rare_bal, "delta": rare_bal - rare_imb}
    return {"rare_labels": list(rare), "summary": summary, "per_label": rows, "reports": dict(reports)}


def write_comparison(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """comparison.json, comparison.md (markdown delta table) and comparison_delta.png."""
    paths = [out_dir / "comparison.json", out_dir / "comparison.md", out_dir / "comparison_delta.png"]
    paths[0].write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    paths[1].write_text(comparison_markdown(result), encoding="utf-8")
    _plot_delta(result, paths[2])
    return paths


def comparison_markdown(result: dict[str, Any]) -> str:
    """The summary and per-label delta tables as markdown."""
    lines = ["| metric | imbalanced | balanced | delta |", "|---|---:|---:|---:|"]
    for metric, row in result["summary"].items():
        cells = ["n/a" if row[k] is None else f"{row[k]:.4f}" for k in ("imbalanced", "balanced", "delta")]
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Rare labels (the {len(result['rare_labels'])} rarest in the imbalanced training set, marked *): "
        + ", ".join(result["rare_labels"]),
        "",
        (
            "| label | test support | train rows (imb.) | train rows (bal.) | F1 imbalanced | F1 balanced "
            "| delta |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["per_label"]:
        label = f"{row['label']}*" if row["rare"] else row["label"]
        lines.append(
            f"| {label} | {row['test_support']} | {row['train_imbalanced']} | {row['train_balanced']} | "
            f"{row['f1_imbalanced']:.3f} | {row['f1_balanced']:.3f} | {row['delta']:+.3f} |"
        )
    return "\n".join(lines) + "\n"


def _plot_delta(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(result["per_label"], key=lambda r: r["train_imbalanced"])
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(8, 0.4 * len(rows)), 4.5))
    colors = ["tab:green" if r["delta"] >= 0 else "tab:red" for r in rows]
    ax.bar(x, [r["delta"] for r in rows], color=colors)
    ax.axhline(0, color="black", lw=0.8)
    ax.set(
        xticks=x,
        ylabel="F1 balanced - F1 imbalanced",
        title="Per-label F1 change on GoEmotions test (rarest first)",
    )
    ax.set_xticklabels([f"{r['label']}*" if r["rare"] else r["label"] for r in rows], rotation=70, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = [
    "LeakError",
    "LeakReport",
    "check_untouched_test",
    "comment_ids",
    "compare",
    "comparison_markdown",
    "comparison_table",
    "find_leaks",
    "leak_key",
    "remove_leaks",
    "write_comparison",
]
