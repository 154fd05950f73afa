"""`goemobalance stats SOURCE_OR_PATH`: label distribution and imbalance measures of any dataset.

Every output names the split it describes; ``--split all`` describes each split of a multi-split input
(GoEmotions, a built or published dataset) in turn. Errors are raised, not printed: `cli.main` turns them
into one line and an exit code, and a reader that closes the pipe (``| head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from goemobalance.errors import InputError

ALL = "all"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="label counts and imbalance measures (IRLbl, MeanIR, MaxIR, CVIR, SCUMBLE) of a dataset",
        description="Print per-label counts, cardinality, density, distinct labelsets and the Charte et al. "
        "imbalance measures of a dataset: 'packaged' (GoEmotions shipped in the package), a GoEmotions TSV "
        "file or folder, a Sentiment140 CSV, a parquet/jsonl/csv file, a save_to_disk or Hub-layout folder, "
        "or the GoEmotions Hub id. Every output names its split.",
    )
    parser.add_argument("source", metavar="SOURCE_OR_PATH", help="dataset path, 'packaged' or Hub id")
    parser.add_argument(
        "--split",
        default=None,
        help="split of a multi-split input: train, validation (alias dev), test, or 'all' for each split "
        "in turn (default: train, or the only split)",
    )
    parser.add_argument(
        "--format", choices=("table", "json", "markdown"), default="table", help="output format"
    )
    parser.add_argument(
        "--plot",
        metavar="OUT.png",
        default=None,
        help="write label counts and co-occurrence (both sides with --compare; one file per split with "
        "--split all, named OUT_<split>.png)",
    )
    parser.add_argument(
        "--compare",
        metavar="OTHER",
        default=None,
        help="a second dataset (same split): print before (SOURCE) / after (OTHER)",
    )
    parser.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="bad input rows: stop (default) or skip and count them",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goemobalance.sources import LoadReport, split_names

    if args.split == ALL and args.compare:
        raise InputError("--split all cannot be combined with --compare; compare one split at a time")
    splits = split_names(args.source) if args.split == ALL else [args.split]
    report = LoadReport()
    results = []
    for split in splits:
        result = _describe(args, split, report, plot=_plot_path(args.plot, split, many=len(splits) > 1))
        results.append(result)
        if args.format != "json":
            _write(_render_text(result, args.format))
    if args.format == "json":
        _write(json.dumps(_json_payload(args, results), ensure_ascii=False))
    if report.rows_skipped:
        print(
            f"goemobalance stats: skipped {report.rows_skipped} bad row(s) by reason: {dict(report.reasons())}",
            file=sys.stderr,
        )
    return 0


def _describe(args: argparse.Namespace, split: str | None, report, plot: Path | None) -> dict:
    """Statistics of one split (and of the same split of ``--compare``), with its name; the plot if asked."""
    from goemobalance.balance.stats import (
        compare_distributions,
        distribution_stats,
        plot_comparison,
        plot_distribution,
    )
    from goemobalance.sources import load_dataset_any, split_label

    stats = distribution_stats(load_dataset_any(args.source, split, on_error=args.on_error, report=report))
    result = {"split": split_label(args.source, split), "stats": stats}
    if args.compare:
        other = distribution_stats(
            load_dataset_any(args.compare, split, on_error=args.on_error, report=report)
        )
        result["compare_split"] = split_label(args.compare, split)
        result["stats"] = compare_distributions(stats, other)
        if plot is not None:
            names = (
                f"{Path(args.source).name} [{result['split']}]",
                f"{Path(args.compare).name} [{result['compare_split']}]",
            )
            plot_comparison(result["stats"], plot, names=names)
    elif plot is not None:
        plot_distribution(stats, plot)
    return result


def _plot_path(plot: str | None, split: str | None, many: bool) -> Path | None:
    """``--plot`` as given, or ``OUT_<split>.png`` when several splits are described."""
    if plot is None:
        return None
    path = Path(plot)
    if not many:
        return path
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(split))
    return path.with_name(f"{path.stem}_{safe}{path.suffix or '.png'}")


def _render_text(result: dict, output_format: str) -> str:
    heading = f"split: {result['split']}"
    if "compare_split" in result:
        heading += f" (compared with split: {result['compare_split']})"
    stats = result["stats"]
    if output_format == "markdown" or not hasattr(stats, "to_text"):
        return f"**{heading}**\n\n{stats.to_markdown()}"
    return f"{heading}\n{stats.to_text()}"


def _json_payload(args: argparse.Namespace, results: list[dict]) -> dict:
    def one(result: dict) -> dict:
        payload = {"split": result["split"]}
        if "compare_split" in result:
            payload["compare"] = str(args.compare)
            payload["compare_split"] = result["compare_split"]
        return {**payload, **result["stats"].to_dict()}

    if args.split == ALL:
        return {"source": str(args.source), "split": ALL, "splits": {r["split"]: one(r) for r in results}}
    return {"source": str(args.source), **one(results[0])}


def _write(text: str) -> None:
    """Print and flush now, so a closed pipe shows up here (inside `cli.main`), not at interpreter exit."""
    print(text)
    sys.stdout.flush()
