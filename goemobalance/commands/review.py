"""`goemobalance review export|import`: human review of LLM rows through a CSV with one 0/1 column per label."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "review",
        help="export rows for human review (CSV + JSONL) and import the reviewed CSV back",
        description="Export a dataset (e.g. OUT/review from `goemobalance generate`) as a CSV with one 0/1 "
        "column per label plus a JSONL of the full rows; import the edited CSV back as rows with "
        "label_origin=human-reviewed. A row with no label set is dropped as rejected.",
    )
    actions = parser.add_subparsers(dest="review_action", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="write FILE.csv (+ FILE.jsonl) from a dataset")
    export.add_argument(
        "dataset", metavar="DATASET", help="dataset path (save_to_disk folder, parquet, jsonl...)"
    )
    export.add_argument("--out", required=True, metavar="FILE.csv")
    export.add_argument("--jsonl", default=None, metavar="FILE.jsonl", help="default: next to the CSV")
    export.set_defaults(func=run_export)
    imp = actions.add_parser("import", help="read a reviewed CSV back into a dataset")
    imp.add_argument("csv", metavar="FILE.csv")
    imp.add_argument(
        "--dataset",
        default=None,
        metavar="DATASET",
        help="the dataset the CSV was exported from (default: the JSONL next to the CSV)",
    )
    imp.add_argument("--jsonl", default=None, metavar="FILE.jsonl")
    imp.add_argument("--out", required=True, metavar="DIR", help="save_to_disk folder for the reviewed rows")
    imp.set_defaults(func=run_import)


def run_export(args: argparse.Namespace) -> int:
    from goemobalance.llm.review import ReviewError, export_review
    from goemobalance.sources import load_dataset_any

    try:
        csv_path, jsonl_path = export_review(load_dataset_any(args.dataset), args.out, args.jsonl)
    except (ReviewError, FileNotFoundError, ValueError) as exc:
        print(f"goemobalance review export: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {csv_path} and {jsonl_path}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from goemobalance.llm.review import ReviewError, import_review
    from goemobalance.sources import load_dataset_any

    try:
        dataset = load_dataset_any(args.dataset) if args.dataset else None
        reviewed, report = import_review(args.csv, dataset, jsonl_path=args.jsonl)
    except (ReviewError, FileNotFoundError, ValueError) as exc:
        print(f"goemobalance review import: {exc}", file=sys.stderr)
        return 1
    reviewed.save_to_disk(args.out)
    print(json.dumps({k: v for k, v in report.items() if k != "rejected_ids"}))
    return 0
