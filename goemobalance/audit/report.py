"""`AuditReport`: the audit's findings as one object, written as Markdown, JSON and PNG plots.

The Markdown opens with a paper-style summary paragraph (what was audited, how, what was found), then
the tables a reviewer needs: weakest labels, issue rates per source and label origin, the most
suspicious rows, duplicate groups and train-test leaks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from goemobalance.markdown import markdown_table

PLOTS: tuple[str, ...] = (
    "label_counts.png",
    "issue_rate_per_label.png",
    "issue_rate_per_source.png",
    "cooccurrence.png",
)


@dataclass
class AuditReport:
    """Everything an audit found; `save(dir)` writes audit.md, audit.json and the plots.

    Made by `goemobalance.audit.audit`.

    Attributes
    ----------
    settings : dict
        The audit's parameters (model, folds, calibration, min_words, flag budget, ...).
    rows : int
        Rows audited, all splits together.
    splits : dict of str to int
        Rows per audited split.
    label_names : list of str
        The label space.
    health_score : float
        cleanlab's health score: 1 - the share of labeled rows its filter marks.
    issues : pandas.DataFrame
        The flagged rows, most suspicious first: ``id``, ``split``, ``source``, ``label_origin``,
        ``quality``, ``doubtful_labels``, ``missing_labels``, ``text``.
    per_label : pandas.DataFrame
        Per label: ``label``, ``count``, ``share``, ``flagged``, ``issue_rate``, cleanlab's ``quality``,
        ``label_issues`` and ``missing_issues``, and ``noise_rate``.
    per_source : pandas.DataFrame
        Flagged share per source, label origin and split (``by``, ``value``, ``issue_rate``, ...).
    common_issues : pandas.DataFrame
        cleanlab's most common multi-label issues.
    duplicates : pandas.DataFrame
        Exact and near duplicate groups (``kind``, ``size``, ``rows``, ``cross_split``, ``cross_source``,
        ``leak``, ``short``, ...).
    texts : dict of str to list of str
        Ids of the ``empty`` texts and the ``short`` ones (under ``min_words`` words).
    cooccurrence : np.ndarray
        ``(L, L)`` rows carrying both labels.
    cleanlab_flagged : int, default 0
        Labeled rows cleanlab's filter marks before the flag budget.
    unlabeled_rows : int, default 0
        Rows without labels (left out of the label audit).
    eval_splits : dict of str to int
        Evaluation sets that duplicates and leaks were also checked against, with their rows.
    labeled_per_split : dict of str to int
        Label-audited rows per split.
    extra : dict
        Further keys appended to `to_dict`.
    """

    settings: dict[str, Any]
    rows: int
    splits: dict[str, int]
    label_names: list[str]
    health_score: float
    issues: pd.DataFrame
    per_label: pd.DataFrame
    per_source: pd.DataFrame
    common_issues: pd.DataFrame
    duplicates: pd.DataFrame
    texts: dict[str, list[str]]
    cooccurrence: np.ndarray
    cleanlab_flagged: int = 0
    unlabeled_rows: int = 0
    eval_splits: dict[str, int] = field(default_factory=dict)
    labeled_per_split: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def issue_ids(self) -> list[str]:
        """Ids of the flagged rows, most suspicious first."""
        return self.issues["id"].tolist()

    @property
    def leaks(self) -> pd.DataFrame:
        """Duplicate groups that join an evaluation split with another split."""
        return self.duplicates[self.duplicates["leak"]] if len(self.duplicates) else self.duplicates

    def coverage(self) -> dict[str, Any]:
        """Which rows each number covers, for a dataset card: audited splits and rows, label-audited rows
        per split, and the evaluation sets that duplicates and leaks were also checked against.

        Returns
        -------
        dict
            ``splits``, ``rows``, ``label_audit`` (``splits``, ``rows``, ``unlabeled_rows_skipped``),
            ``duplicates`` (``splits``, ``rows``) and ``eval_sets``.
        """
        return {
            "splits": dict(self.splits),
            "rows": self.rows,
            "label_audit": {
                "splits": dict(self.labeled_per_split) or dict(self.splits),
                "rows": self.rows - self.unlabeled_rows,
                "unlabeled_rows_skipped": self.unlabeled_rows,
            },
            "duplicates": {
                "splits": [*self.splits, *self.eval_splits],
                "rows": self.rows + sum(self.eval_splits.values()),
            },
            "eval_sets": dict(self.eval_splits),
        }

    def coverage_text(self) -> str:
        """The coverage as one sentence (what a card says under its audit numbers).

        Returns
        -------
        str
        """
        split_text = ", ".join(f"{name} {count:,}" for name, count in self.splits.items())
        text = (
            f"The audit covers all {len(self.splits)} audited split(s) ({split_text}; {self.rows:,} rows); "
            f"label issues were ranked on the {self.rows - self.unlabeled_rows:,} labeled rows"
        )
        if self.eval_splits:
            evals = ", ".join(f"{name} {count:,}" for name, count in self.eval_splits.items())
            text += f"; duplicates and leaks were also checked against {evals} rows of evaluation data"
        return text + "."

    def weakest_labels(self, n: int = 3, min_count: int = 20) -> list[str]:
        """Labels with the highest estimated noise rate (cleanlab's label issues / rows carrying the label).

        Parameters
        ----------
        n : int, default 3
            How many labels.
        min_count : int, default 20
            Only labels carried by at least this many rows.

        Returns
        -------
        list of str
            Highest noise rate first.
        """
        common = self.per_label[self.per_label["count"] >= min_count]
        return common.sort_values("noise_rate", ascending=False).head(n)["label"].tolist()

    def summary(self) -> str:
        """The paper-style paragraph that opens the report.

        Returns
        -------
        str
            Rows, model, flagged rows, noisiest labels, duplicates, leaks, short texts and coverage.
        """
        s = self.settings
        split_text = ", ".join(f"{name} {count:,}" for name, count in self.splits.items())
        labeled = self.rows - self.unlabeled_rows
        weakest = ", ".join(self.weakest_labels())
        leaks = self.leaks
        substantive = int((~leaks["short"]).sum()) if len(leaks) else 0
        near = int((self.duplicates["kind"] == "near").sum()) if len(self.duplicates) else 0
        dup_rows = int(self.duplicates["size"].sum()) if len(self.duplicates) else 0
        origins = ", ".join(f"{o} {n:,}" for o, n in self._origin_counts().items())
        return (
            f"We audited {self.rows:,} rows ({split_text}; label origin: {origins}) over {len(self.label_names)} labels. "
            f"Out-of-sample label probabilities came from {s['folds']}-fold iterative-stratified cross-validation "
            f"with the `{s['model']}` model{' and ' + s['calibration'] + ' calibration' if s.get('calibration') else ''}; "
            f"label issues were scored with cleanlab's multi-label API. cleanlab's confident-learning filter marks "
            f"{self.cleanlab_flagged:,} of {labeled:,} labeled rows (health score {self.health_score:.3f}); ranking by "
            f"label quality score{_budget_text(s)}, the audit flags {len(self.issues):,} rows "
            f"({len(self.issues) / max(labeled, 1):.1%}) as likely label errors. The labels with the highest estimated "
            f"noise rate are {weakest or 'none'}. "
            f"We found {len(self.duplicates) - near:,} exact and {near:,} near-duplicate groups ({dup_rows:,} rows), "
            f"{len(leaks):,} of which cross into an evaluation split ({substantive:,} with at least "
            f"{s['min_words']} words, i.e. not formulaic replies such as 'Thank you!'), "
            f"{len(self.texts['empty']):,} empty texts and {len(self.texts['short']):,} texts under {s['min_words']} words. "
            f"{self.coverage_text()}"
        )

    def to_dict(self, max_groups: int = 200) -> dict[str, Any]:
        """The JSON document: `rows`, `issues` (ids), `health_score`, `per_label`, `duplicates` and more.

        Parameters
        ----------
        max_groups : int, default 200
            Most duplicate groups listed (all are counted).

        Returns
        -------
        dict
            JSON-ready (with ``default=_jsonable`` for numpy values), `extra` merged last.
        """
        dup = self.duplicates
        return {
            "summary": self.summary(),
            "settings": self.settings,
            "rows": self.rows,
            "splits": self.splits,
            "coverage": self.coverage(),
            "unlabeled_rows": self.unlabeled_rows,
            "health_score": self.health_score,
            "cleanlab_flagged": self.cleanlab_flagged,
            "issues": self.issue_ids,
            "issue_details": _records(self.issues),
            "per_label": {
                r["label"]: {k: v for k, v in r.items() if k != "label"} for r in _records(self.per_label)
            },
            "per_source": _records(self.per_source),
            "common_issues": _records(self.common_issues),
            "duplicates": {
                "groups": len(dup),
                "exact_groups": int((dup["kind"] == "exact").sum()) if len(dup) else 0,
                "near_groups": int((dup["kind"] == "near").sum()) if len(dup) else 0,
                "rows": int(dup["size"].sum()) if len(dup) else 0,
                "cross_split_groups": int(dup["cross_split"].sum()) if len(dup) else 0,
                "cross_source_groups": int(dup["cross_source"].sum()) if len(dup) else 0,
                "leak_groups": int(dup["leak"].sum()) if len(dup) else 0,
                "list": _records(dup.drop(columns=["rows"]).head(max_groups)) if len(dup) else [],
            },
            "leaks": _records(self.leaks.drop(columns=["rows"])) if len(self.leaks) else [],
            "texts": self.texts,
            "cooccurrence": self.cooccurrence.tolist(),
            **self.extra,
        }

    def to_markdown(self, max_rows: int = 25) -> str:
        """The human-readable report, summary first.

        Parameters
        ----------
        max_rows : int, default 25
            Most rows shown in the suspicious-rows, leakage and duplicate tables.

        Returns
        -------
        str
            Markdown, linking the plots by file name.
        """
        parts = ["# Dataset audit", "", self.summary(), ""]
        parts += ["## Label quality per label", "", _table(self.per_label), ""]
        parts += ["## Issues per source and label origin", "", _table(self.per_source), ""]
        parts += ["## Most common label issues (cleanlab)", "", _table(self.common_issues.head(10)), ""]
        issues = self.issues.head(max_rows)
        parts += [
            f"## Most suspicious rows (top {len(issues)} of {len(self.issues)})",
            "",
            _table(issues),
            "",
        ]
        parts += [
            "## Train-test leakage",
            "",
            _table(self.leaks.drop(columns=["rows"]).head(max_rows))
            if len(self.leaks)
            else "No leaks found.",
            "",
        ]
        dup = self.duplicates
        parts += [
            "## Duplicate groups",
            "",
            _table(dup.drop(columns=["rows"]).head(max_rows)) if len(dup) else "No duplicates found.",
            "",
        ]
        parts += ["## Plots", ""] + [f"![{name[:-4]}]({name})" for name in PLOTS] + [""]
        return "\n".join(parts)

    def save(self, directory: str | Path) -> Path:
        """Write audit.md, audit.json and the PNG plots into `directory` (created if needed).

        Parameters
        ----------
        directory : str or Path
            The output folder.

        Returns
        -------
        Path
            The folder written.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / "audit.json").write_text(
            json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=_jsonable)
        )
        (out / "audit.md").write_text(self.to_markdown(), encoding="utf-8")
        self.plot(out)
        return out

    def plot(self, directory: str | Path) -> list[Path]:
        """The four PNG plots: label counts, issue rate per label and per source, label co-occurrence.

        Drawn on `matplotlib.figure.Figure` with the Agg canvas, so no global backend is switched.

        Parameters
        ----------
        directory : str or Path
            An existing folder to write the PNGs into.

        Returns
        -------
        list of Path
            The four files written.
        """
        out = Path(directory)
        per_label, per_source = self.per_label, self.per_source
        written = []
        for name, column, title in (
            ("label_counts.png", "count", "Rows per label"),
            ("issue_rate_per_label.png", "issue_rate", "Flagged share of rows carrying each label"),
        ):
            fig, ax = _figure((10, 4))
            ax.bar(per_label["label"], per_label[column], color="tab:blue")
            ax.set_title(title)
            ax.tick_params(axis="x", rotation=75)
            written.append(_save(fig, out / name))
        fig, ax = _figure((7, 3.5))
        ax.barh([f"{a}={b}" for a, b in zip(per_source["by"], per_source["value"])], per_source["issue_rate"],
                color="tab:red")  # fmt: skip
        ax.set_title("Flagged share of rows per source / label origin / split")
        written.append(_save(fig, out / "issue_rate_per_source.png"))
        fig, ax = _figure((8, 7))
        image = ax.imshow(np.log1p(self.cooccurrence), cmap="viridis")
        ax.set_xticks(range(len(self.label_names)), self.label_names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(self.label_names)), self.label_names, fontsize=7)
        ax.set_title("Label co-occurrence (log1p of row counts)")
        fig.colorbar(image, ax=ax, shrink=0.8)
        written.append(_save(fig, out / "cooccurrence.png"))
        return written

    def _origin_counts(self) -> dict[str, int]:
        rows = self.per_source[self.per_source["by"] == "label_origin"]
        return dict(zip(rows["value"], rows["rows"].astype(int)))


def _figure(size: tuple[float, float]):
    from goemobalance.figures import new_figure

    fig = new_figure(size)
    return fig, fig.subplots()


def _save(fig, path: Path) -> Path:
    from goemobalance.figures import save_figure

    fig.tight_layout()
    return save_figure(fig, path)


def _budget_text(settings: dict[str, Any]) -> str:
    budget = settings.get("max_flag_fraction")
    return f" and keeping at most {budget:.0%} of rows that the filter also marks" if budget else ""


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records", force_ascii=False)) if len(frame) else []


def _table(frame: pd.DataFrame) -> str:
    if not len(frame):
        return "_none_"
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            shown[column] = shown[column].map(lambda v: f"{v:.3f}")
        elif shown[column].dtype == object:
            shown[column] = shown[column].map(_cell)
    return markdown_table(
        list(map(str, shown.columns)), [map(str, row) for row in shown.itertuples(index=False)]
    )


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = ", ".join(map(str, value))
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
