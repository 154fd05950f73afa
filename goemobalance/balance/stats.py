"""Label-distribution statistics of a multi-label dataset: how imbalanced it is, and how that changed.

Measures follow Charte et al. (2015), "Addressing imbalance in multilabel classification":

- IRLbl(l) = max_l' count(l') / count(l), for every label with at least one example;
- MeanIR = mean IRLbl, MaxIR = max IRLbl, CVIR = sample std of IRLbl / MeanIR;
- SCUMBLE_i = 1 - (prod_{l in Y_i} IRLbl(l))^(1/|Y_i|) / mean_{l in Y_i} IRLbl(l), 0 for a row without
  labels; SCUMBLE = mean over rows; SCUMBLE(l) = mean SCUMBLE_i over the rows carrying l.

A label with no examples is reported in ``missing_labels`` and left out of every ratio (it gets no
IRLbl, rather than a misleading 0 or infinity). Everything is computed with numpy on the (n, L) 0/1
matrix, so a million rows take well under a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from goemobalance.balance.matrix import check_multi_hot, labelset_codes
from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.markdown import markdown_table
from goemobalance.schema import label_space_of, multi_hot

SUMMARY_KEYS: tuple[str, ...] = (
    "rows", "unlabeled_rows", "cardinality", "density", "distinct_labelsets",
    "mean_ir", "max_ir", "cvir", "scumble",
)  # fmt: skip


@dataclass
class DistributionStats:
    """Per-label counts, imbalance measures and co-occurrence of one dataset.

    Made by `distribution_stats`; undefined measures (no labelled rows) are NaN.

    Attributes
    ----------
    label_names : tuple of str
        The label space, in id order; per-label arrays follow it.
    rows : int
        Rows counted.
    unlabeled_rows : int
        Rows with no label.
    label_counts : np.ndarray
        Rows carrying each label (``int64``).
    cardinality : float
        Mean labels per row.
    density : float
        Cardinality over the number of labels.
    distinct_labelsets : int
        Distinct label combinations (the empty one included).
    irlbl : np.ndarray
        Imbalance ratio per label, max count / count (NaN for an absent label).
    mean_ir, max_ir : float
        Mean and maximum IRLbl over the labels present.
    cvir : float
        Coefficient of variation of IRLbl over the labels present.
    scumble : float
        Mean per-row SCUMBLE (concurrence of rare and frequent labels), in [0, 1].
    scumble_per_label : np.ndarray
        Mean SCUMBLE of the rows carrying each label (NaN for an absent label).
    cooccurrence : np.ndarray
        ``(L, L)`` rows carrying both labels; the diagonal is `label_counts`.
    """

    label_names: tuple[str, ...]
    rows: int
    unlabeled_rows: int
    label_counts: np.ndarray
    cardinality: float
    density: float
    distinct_labelsets: int
    irlbl: np.ndarray
    mean_ir: float
    max_ir: float
    cvir: float
    scumble: float
    scumble_per_label: np.ndarray
    cooccurrence: np.ndarray = field(repr=False)

    @property
    def missing_labels(self) -> list[str]:
        """Names of the labels no row carries, in id order."""
        return [name for name, count in zip(self.label_names, self.label_counts) if count == 0]

    def summary(self) -> dict[str, Any]:
        """The scalar measures (undefined ones as None).

        Returns
        -------
        dict
            `SUMMARY_KEYS` -> value, JSON-ready.
        """
        return {key: _clean(getattr(self, key)) for key in SUMMARY_KEYS}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the scalar measures, then per-label maps (name -> value) and co-occurrence.

        Returns
        -------
        dict
            The `summary` keys, ``label_counts``, ``missing_labels``, ``irlbl`` and ``scumble_per_label``
            (present labels only), ``label_names`` and ``cooccurrence`` (nested lists).
        """
        names = self.label_names
        return {
            **self.summary(),
            "label_counts": {n: int(c) for n, c in zip(names, self.label_counts)},
            "missing_labels": self.missing_labels,
            "irlbl": {n: _clean(v) for n, v in zip(names, self.irlbl) if not math.isnan(v)},
            "scumble_per_label": {
                n: _clean(v) for n, v in zip(names, self.scumble_per_label) if not math.isnan(v)
            },
            "label_names": list(names),
            "cooccurrence": self.cooccurrence.tolist(),
        }

    def to_markdown(self) -> str:
        """Summary table and per-label table in GitHub markdown.

        Returns
        -------
        str
            See `render_markdown`.
        """
        return render_markdown(self)

    def to_text(self) -> str:
        """Summary and per-label table as aligned plain text for the terminal.

        Returns
        -------
        str
            See `render_text`.
        """
        return render_text(self)

    def __str__(self) -> str:
        return self.to_text()


@dataclass
class DistributionComparison:
    """Before/after statistics of two datasets over the same label space (e.g. pool vs balanced set).

    Made by `compare_distributions`.

    Attributes
    ----------
    before, after : DistributionStats
        The statistics of the first and the second dataset.
    """

    before: DistributionStats
    after: DistributionStats

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the measures and label counts before, after and their change.

        Returns
        -------
        dict
            ``summary`` (measure -> ``before``/``after``/``delta``, delta None when either is undefined),
            ``label_counts`` (label -> ``before``/``after``/``delta``) and ``missing_labels``
            (``before``/``after`` lists).
        """
        names = self.before.label_names
        return {
            "summary": {
                key: {"before": b, "after": a, "delta": _delta(b, a)}
                for key, b, a in zip(
                    SUMMARY_KEYS, self.before.summary().values(), self.after.summary().values()
                )
            },
            "label_counts": {
                name: {"before": int(b), "after": int(a), "delta": int(a) - int(b)}
                for name, b, a in zip(names, self.before.label_counts, self.after.label_counts)
            },
            "missing_labels": {"before": self.before.missing_labels, "after": self.after.missing_labels},
        }

    def to_markdown(self) -> str:
        """The measures and the per-label counts before / after / change, in GitHub markdown.

        Returns
        -------
        str
            Two markdown tables separated by a blank line.
        """
        summary, labels = self._tables()
        tables = [markdown_table(table[0], table[1:], align="lrrr") for table in (summary, labels)]
        return "\n\n".join(tables) + "\n"

    def to_text(self) -> str:
        """The same two tables as `to_markdown`, aligned for a terminal.

        Returns
        -------
        str
            Plain-text lines, the label column left-aligned and the numbers right-aligned.
        """
        summary, labels = self._tables()
        return "\n".join([*_aligned(summary), "", *_aligned(labels)]) + "\n"

    def __str__(self) -> str:
        return self.to_text()

    def _tables(self) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
        """(measure, before, after, change) and (label, before, after, change) rows, headers first."""
        data = self.to_dict()
        summary = [("measure", "before", "after", "change")] + [
            (k, _fmt(v["before"]), _fmt(v["after"]), _fmt(v["delta"])) for k, v in data["summary"].items()
        ]
        labels = [("label", "before", "after", "change")] + [
            (n, str(v["before"]), str(v["after"]), f"{v['delta']:+d}")
            for n, v in data["label_counts"].items()
        ]
        return summary, labels


def label_matrix(
    data: datasets.Dataset | np.ndarray, space: LabelSpace | None = None
) -> tuple[np.ndarray, LabelSpace]:
    """The (n, L) int8 0/1 label matrix and its label space, from a Dataset in the schema or a matrix.

    Parameters
    ----------
    data : datasets.Dataset or array-like of shape (n, L)
        Rows in the record schema, or a 0/1 label matrix.
    space : LabelSpace, optional
        The label space (default: the dataset's; for a matrix GoEmotions when it has 28 columns, else
        ``label_0``, ``label_1``, ...).

    Returns
    -------
    matrix : np.ndarray
        ``int8`` 0/1 matrix of shape (n, L).
    space : LabelSpace
        Its label space.

    Raises
    ------
    ValueError
        If a matrix is not 2-D, not 0/1, or its width differs from the space's size.
    """
    if isinstance(data, datasets.Dataset):
        return multi_hot(data), space or label_space_of(data)
    matrix = np.asarray(data)
    if matrix.ndim != 2:
        raise ValueError(f"expected a 2-D multi-hot matrix, got shape {matrix.shape}")
    if space is None:
        space = GOEMOTIONS if matrix.shape[1] == len(GOEMOTIONS) else LabelSpace(
            tuple(f"label_{i}" for i in range(matrix.shape[1]))
        )  # fmt: skip
    if matrix.shape[1] != len(space):
        raise ValueError(f"matrix has {matrix.shape[1]} columns but the label space has {len(space)} labels")
    check_multi_hot(matrix)
    return matrix.astype(np.int8, copy=False), space


def coefficient_of_variation(values: np.ndarray) -> float:
    """Population standard deviation over mean (e.g. of per-label counts): 0.0 for perfectly even values.

    The one definition used across the library: NaN (undefined) for no values or a zero mean, so an
    empty or all-zero input never reads as "perfectly balanced". JSON writers turn NaN into null.

    Parameters
    ----------
    values : array-like
        The values, e.g. the rows carrying each label.

    Returns
    -------
    float
        ``std(values, ddof=0) / mean(values)``, or NaN when that is undefined.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    mean = values.mean() if values.size else 0.0
    return float(values.std() / mean) if mean > 0 else math.nan


def imbalance_ratio_per_label(counts: np.ndarray) -> np.ndarray:
    """IRLbl(l) = max count / count(l); NaN for labels with no examples (they are left out of ratios).

    Parameters
    ----------
    counts : array-like of shape (L,)
        Rows per label.

    Returns
    -------
    np.ndarray
        ``float64`` IRLbl per label (1.0 for the most frequent label).
    """
    counts = np.asarray(counts, dtype=np.float64)
    irlbl = np.full(counts.shape, np.nan)
    present = counts > 0
    if present.any():
        irlbl[present] = counts.max() / counts[present]
    return irlbl


def scumble_per_row(matrix: np.ndarray, irlbl: np.ndarray) -> np.ndarray:
    """SCUMBLE_i = 1 - geometric mean / arithmetic mean of IRLbl over row i's labels (0 for no labels).

    Parameters
    ----------
    matrix : np.ndarray of shape (n, L)
        0/1 label matrix.
    irlbl : np.ndarray of shape (L,)
        IRLbl per label (`imbalance_ratio_per_label`); NaN entries count as 1.

    Returns
    -------
    np.ndarray
        SCUMBLE per row, clipped to [0, 1].
    """
    weights = np.nan_to_num(irlbl, nan=1.0)
    m = matrix.astype(np.float64)
    k = m.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        geometric = np.exp((m @ np.log(weights)) / k)
        arithmetic = (m @ weights) / k
        scores = 1.0 - geometric / arithmetic
    return np.where(k > 0, np.clip(scores, 0.0, 1.0), 0.0)


def distribution_stats(
    data: datasets.Dataset | np.ndarray, space: LabelSpace | None = None
) -> DistributionStats:
    """All distribution measures of a Dataset in the schema, or of an (n, L) 0/1 matrix (+ label space).

    Rows are first collapsed to their distinct labelsets (a few hundred for GoEmotions), and every
    measure is computed on those weighted by their frequency: exact, and fast on millions of rows.

    Parameters
    ----------
    data : datasets.Dataset or ndarray of shape (n, L)
        Rows in the record schema, or a 0/1 label matrix.
    space : LabelSpace, optional
        The label space (default: the dataset's; for a matrix GoEmotions when it has 28 columns, else
        ``label_0``, ``label_1``, ...).

    Returns
    -------
    DistributionStats
    """
    matrix, space = label_matrix(data, space)
    n_rows, n_labels = matrix.shape
    labelsets, weights = labelset_counts(matrix)
    set_sizes = labelsets.sum(axis=1)
    counts = np.rint(weights @ labelsets).astype(np.int64)
    irlbl = imbalance_ratio_per_label(counts)
    present = ~np.isnan(irlbl)
    set_scumble = scumble_per_row(labelsets, irlbl)
    with np.errstate(divide="ignore", invalid="ignore"):
        label_scumble = np.where(counts > 0, (labelsets.T @ (weights * set_scumble)) / counts, np.nan)
    mean_ir = float(irlbl[present].mean()) if present.any() else math.nan
    cardinality = float(weights @ set_sizes / n_rows) if n_rows else 0.0
    return DistributionStats(
        label_names=tuple(space.names),
        rows=n_rows,
        unlabeled_rows=int(weights[set_sizes == 0].sum()),
        label_counts=counts,
        cardinality=cardinality,
        density=cardinality / n_labels if n_labels else 0.0,
        distinct_labelsets=len(labelsets),
        irlbl=irlbl,
        mean_ir=mean_ir,
        max_ir=float(irlbl[present].max()) if present.any() else math.nan,
        cvir=_cvir(irlbl[present], mean_ir),
        scumble=float(weights @ set_scumble / n_rows) if n_rows else 0.0,
        scumble_per_label=label_scumble,
        cooccurrence=np.rint(labelsets.T @ (labelsets * weights[:, None])).astype(np.int64),
    )


def labelset_counts(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows (labelsets) of a 0/1 matrix as float64, and how many rows carry each.

    Parameters
    ----------
    matrix : numpy.ndarray
        An (n_rows, n_labels) 0/1 matrix.

    Returns
    -------
    labelsets : numpy.ndarray
        (n_labelsets, n_labels) float64, in order of first occurrence (`matrix.labelset_codes`).
    counts : numpy.ndarray
        Rows carrying each labelset, as float64 weights.
    """
    codes, representatives = labelset_codes(matrix)
    labelsets = np.asarray(matrix)[representatives].astype(np.float64)
    return labelsets, np.bincount(codes, minlength=len(representatives)).astype(np.float64)


def compare_distributions(
    before: datasets.Dataset | np.ndarray | DistributionStats,
    after: datasets.Dataset | np.ndarray | DistributionStats,
    space: LabelSpace | None = None,
) -> DistributionComparison:
    """Statistics of two datasets side by side (same label space), with the change in every measure.

    Parameters
    ----------
    before, after : Dataset, ndarray or DistributionStats
        The two datasets (or their statistics), in the same label space.
    space : LabelSpace, optional
        The label space of matrices.

    Returns
    -------
    DistributionComparison
    """
    first = before if isinstance(before, DistributionStats) else distribution_stats(before, space)
    second = after if isinstance(after, DistributionStats) else distribution_stats(after, space)
    if first.label_names != second.label_names:
        raise ValueError("the two datasets use different label spaces; compare like with like")
    return DistributionComparison(first, second)


def render_markdown(stats: DistributionStats) -> str:
    """A summary table and a per-label table (count, share of rows, IRLbl, SCUMBLE) in markdown.

    Parameters
    ----------
    stats : DistributionStats
        The statistics to show.

    Returns
    -------
    str
        Two GitHub markdown tables (the summary ends with ``missing_labels``), newline-terminated.
    """
    summary = [(key, _fmt(value)) for key, value in stats.summary().items()]
    summary.append(("missing_labels", ", ".join(stats.missing_labels) or "-"))
    header = ("label", "count", "% rows", "IRLbl", "SCUMBLE")
    tables = [
        markdown_table(("measure", "value"), summary, align="lr"),
        markdown_table(header, _label_rows(stats), align="lrrrr"),
    ]
    return "\n\n".join(tables) + "\n"


def render_text(stats: DistributionStats) -> str:
    """The same tables as `render_markdown`, aligned for a terminal.

    Parameters
    ----------
    stats : DistributionStats
        The statistics to show.

    Returns
    -------
    str
        ``measure value`` lines, a blank line, then the aligned per-label table.
    """
    summary = [(key, _fmt(value)) for key, value in stats.summary().items()]
    summary.append(("missing_labels", ", ".join(stats.missing_labels) or "-"))
    width = max(len(k) for k, _ in summary)
    lines = [f"{k.ljust(width)}  {v}" for k, v in summary]
    header = ("label", "count", "% rows", "IRLbl", "SCUMBLE")
    return "\n".join([*lines, "", *_aligned([header, *_label_rows(stats)])]) + "\n"


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells as terminal lines: the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in rows
    ]


def plot_distribution(stats: DistributionStats, out_png: str | Path) -> Path:
    """Write per-label counts (log scale, most frequent first) and a co-occurrence heatmap to a PNG.

    Parameters
    ----------
    stats : DistributionStats
        The statistics to plot.
    out_png : str or Path
        The image file to write.

    Returns
    -------
    Path
        The file written.
    """
    from matplotlib.colors import LogNorm

    from goemobalance.figures import new_figure, save_figure

    out = Path(out_png)
    names = np.array(stats.label_names)
    order = np.argsort(-stats.label_counts, kind="stable")
    figure = new_figure((16, 7), layout="constrained")
    counts_axis, heat_axis = figure.subplots(1, 2, width_ratios=(1.1, 1))
    counts_axis.bar(range(len(order)), np.maximum(stats.label_counts[order], 0.5), color="tab:blue")
    counts_axis.set_yscale("log")
    counts_axis.set_xticks(range(len(order)), names[order], rotation=90, fontsize=8)
    counts_axis.set_ylabel("rows with label (log)")
    counts_axis.set_title(f"Label counts ({stats.rows} rows, MeanIR {_fmt(_clean(stats.mean_ir))})")
    image = heat_axis.imshow(stats.cooccurrence + 1, norm=LogNorm(), cmap="viridis")
    heat_axis.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    heat_axis.set_yticks(range(len(names)), names, fontsize=7)
    heat_axis.set_title("Label co-occurrence (rows, log; diagonal = counts)")
    figure.colorbar(image, ax=heat_axis, label="rows + 1")
    return save_figure(figure, out)


def plot_comparison(
    comparison: DistributionComparison, out_png: str | Path, names: tuple[str, str] = ("before", "after")
) -> Path:
    """Write both sides of a comparison to one PNG: label counts side by side, and each co-occurrence.

    Parameters
    ----------
    comparison : DistributionComparison
        From `compare_distributions`.
    out_png : str or Path
        The PNG to write (its folder is created).
    names : tuple of str
        How the two sides are named in the legend and titles.

    Returns
    -------
    Path
        `out_png`.
    """
    from matplotlib.colors import LogNorm

    from goemobalance.figures import new_figure, save_figure

    out = Path(out_png)
    sides = (comparison.before, comparison.after)
    labels = np.array(comparison.before.label_names)
    order = np.argsort(-comparison.before.label_counts, kind="stable")
    figure = new_figure((16, 12), layout="constrained")
    grid = figure.add_gridspec(2, 2, height_ratios=(1, 1.2))
    counts_axis = figure.add_subplot(grid[0, :])
    width = 0.42
    positions = np.arange(len(order))
    for offset, side, name, color in zip((-width / 2, width / 2), sides, names, ("tab:blue", "tab:orange")):
        counts_axis.bar(positions + offset, np.maximum(side.label_counts[order], 0.5), width, label=
                        f"{name}: {side.rows} rows, MeanIR {_fmt(_clean(side.mean_ir))}", color=color)  # fmt: skip
    counts_axis.set_yscale("log")
    counts_axis.set_xticks(positions, labels[order], rotation=90, fontsize=8)
    counts_axis.set_ylabel("rows with label (log)")
    counts_axis.set_title(f"Label counts: {names[0]} vs {names[1]}")
    counts_axis.legend()
    peak = max(int(side.cooccurrence.max()) for side in sides) + 1
    for column, side, name in zip((0, 1), sides, names):
        axis = figure.add_subplot(grid[1, column])
        image = axis.imshow(side.cooccurrence + 1, norm=LogNorm(vmin=1, vmax=peak), cmap="viridis")
        axis.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
        axis.set_yticks(range(len(labels)), labels, fontsize=6)
        axis.set_title(f"Co-occurrence, {name} (rows, log)")
    figure.colorbar(image, ax=figure.axes[1:], label="rows + 1", shrink=0.8)
    return save_figure(figure, out, dpi=100)


def _label_rows(stats: DistributionStats) -> list[tuple[str, ...]]:
    rows = []
    for i, name in enumerate(stats.label_names):
        share = 100.0 * stats.label_counts[i] / stats.rows if stats.rows else 0.0
        rows.append(
            (name, str(int(stats.label_counts[i])), f"{share:.2f}", _fmt(_clean(stats.irlbl[i])),
             _fmt(_clean(stats.scumble_per_label[i])))
        )  # fmt: skip
    return rows


def _cvir(present_irlbl: np.ndarray, mean_ir: float) -> float:
    """Sample std of IRLbl over MeanIR; 0 with a single present label, undefined (NaN) with none."""
    if present_irlbl.size > 1:
        return float(present_irlbl.std(ddof=1) / mean_ir)
    return 0.0 if present_irlbl.size else math.nan


def _clean(value: Any) -> Any:
    """Plain Python numbers; NaN (undefined) becomes None so JSON stays valid."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def _delta(before: Any, after: Any) -> Any:
    if before is None or after is None:
        return None
    return after - before


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}"


__all__ = [
    "DistributionComparison",
    "DistributionStats",
    "coefficient_of_variation",
    "compare_distributions",
    "distribution_stats",
    "imbalance_ratio_per_label",
    "label_matrix",
    "labelset_counts",
    "plot_comparison",
    "plot_distribution",
    "render_markdown",
    "render_text",
    "scumble_per_row",
]
