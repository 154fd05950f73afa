"""Card figures (matplotlib PNG): per-label counts before vs after balancing, and the source mix per split."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from goemobalance.figures import new_figure, save_figure


def plot_label_counts(
    names: tuple[str, ...],
    after: np.ndarray,
    path: Path,
    *,
    before: np.ndarray | None = None,
    before_name: str = "input pool",
) -> Path:
    """Horizontal bars of rows per label, the published set next to the input pool when given."""
    positions = np.arange(len(names))
    fig = new_figure((8, 0.28 * len(names) + 1.5))
    ax = fig.subplots()
    height = 0.4 if before is not None else 0.8
    if before is not None:
        ax.barh(positions - height / 2, before, height=height, label=before_name, color="#bbbbbb")
        ax.barh(positions + height / 2, after, height=height, label="published", color="#1f77b4")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    else:
        ax.barh(positions, after, height=height, color="#1f77b4")
    ax.set_yticks(positions, labels=list(names))
    ax.invert_yaxis()
    ax.set_xscale("log" if before is not None and _spread(before) > 20 else "linear")
    ax.set_xlabel("rows carrying the label")
    ax.set_title("Rows per label", pad=24 if before is not None else 6)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def plot_source_mix(mix: Mapping[str, Mapping[str, int]], path: Path) -> Path:
    """Stacked bars: rows per split, by ``source/label_origin``."""
    splits = list(mix)
    kinds = sorted({kind for counts in mix.values() for kind in counts})
    fig = new_figure((7, 3.5))
    ax = fig.subplots()
    bottom = np.zeros(len(splits))
    for kind in kinds:
        values = np.array([mix[split].get(kind, 0) for split in splits], dtype=float)
        ax.bar(splits, values, bottom=bottom, label=kind)
        bottom += values
    ax.set_ylabel("rows")
    ax.set_title("Source mix (source/label_origin)")
    ax.legend(fontsize="small", loc="upper right")
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def _spread(counts: np.ndarray) -> float:
    positive = np.asarray(counts)[np.asarray(counts) > 0]
    return float(positive.max() / positive.min()) if positive.size else 1.0
