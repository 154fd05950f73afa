"""`goemobalance stats SOURCE_OR_PATH`: label distribution and imbalance measures of any dataset."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="label counts and imbalance measures (IRLbl, MeanIR, MaxIR, CVIR, SCUMBLE) of a dataset",
        description="Print per-label counts, cardinality, density, distinct labelsets and the Charte et al. "
        "imbalance measures of a dataset: a GoEmotions TSV file or folder, a Sentiment140 CSV, a parquet/"
        "jsonl/csv file, a save_to_disk or Hub-layout folder, or the GoEmotions Hub id.",
    )
    parser.add_argument("source", metavar="SOURCE_OR_PATH", help="dataset path or Hub id")
    parser.add_argument(
        "--split", default=None, help="split to read from a folder or DatasetDict (default: train)"
    )
    parser.add_argument(
        "--format", choices=("table", "json", "markdown"), default="table", help="output format"
    )
    parser.add_argument(
        "--plot", metavar="OUT.png", default=None, help="write label counts and co-occurrence plot"
    )
    parser.add_argument(
        "--compare",
        metavar="OTHER",
        default=None,
        help="a second dataset: print before (SOURCE) / after (OTHER)",
    )
    parser.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="bad input rows: stop (default) or skip",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goemobalance.balance.stats import compare_distributions, distribution_stats, plot_distribution
    from goemobalance.sources import LoadReport, SourceError, load_dataset_any

    report = LoadReport()
    try:
        stats = distribution_stats(
            load_dataset_any(args.source, args.split, on_error=args.on_error, report=report)
        )
        other = None
        if args.compare:
            other = distribution_stats(
                load_dataset_any(args.compare, args.split, on_error=args.on_error, report=report)
            )
    except (SourceError, FileNotFoundError, ValueError, ConnectionError) as exc:
        print(f"goemobalance stats: {exc}", file=sys.stderr)
        return 1
    if report.rows_skipped:
        print(
            f"goemobalance stats: skipped {report.rows_skipped} bad row(s): {dict(report.reasons())}",
            file=sys.stderr,
        )
    if args.plot:
        plot_distribution(stats, args.plot)
    result = compare_distributions(stats, other) if other is not None else stats
    print(_render(result, args.format, args))
    return 0


def _render(result, output_format: str, args: argparse.Namespace) -> str:
    if output_format == "json":
        payload = {"source": str(args.source), "split": args.split, **result.as_dict()}
        return json.dumps(payload, ensure_ascii=False)
    if output_format == "markdown" or not hasattr(result, "to_text"):
        return result.to_markdown()
    return result.to_text()
