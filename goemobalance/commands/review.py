"""`goemobalance review export|import`: human review of LLM rows through a CSV with one 0/1 column per label."""

from __future__ import annotations

import argparse
import json


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
    export.add_argument(
        "--out",
        required=True,
        metavar="FILE.csv",
        help="the CSV to write: one row per text, a 0/1 column per label",
    )
    export.add_argument("--jsonl", default=None, metavar="FILE.jsonl", help="default: next to the CSV")
    export.set_defaults(func=run_export)
    imp = actions.add_parser("import", help="read a reviewed CSV back into a dataset")
    imp.add_argument(
        "csv", metavar="FILE.csv", help="the reviewed CSV (written by `review export`, then edited)"
    )
    imp.add_argument(
        "--dataset",
        default=None,
        metavar="DATASET",
        help="the dataset the CSV was exported from (default: the JSONL next to the CSV)",
    )
    imp.add_argument(
        "--jsonl",
        default=None,
        metavar="FILE.jsonl",
        help="the full rows written by `review export` (default: next to the CSV)",
    )
    imp.add_argument("--out", required=True, metavar="DIR", help="save_to_disk folder for the reviewed rows")
    imp.set_defaults(func=run_import)


def run_export(args: argparse.Namespace) -> int:
    from goemobalance.llm.review import empty_saved_dataset, export_review
    from goemobalance.sources import load_dataset_any

    dataset = empty_saved_dataset(args.dataset)
    if dataset is None:
        dataset = load_dataset_any(args.dataset)
    csv_path, jsonl_path = export_review(dataset, args.out, args.jsonl)
    if not len(dataset):
        print(
            f"nothing to review: {args.dataset} has no rows; wrote {csv_path} (header only) and {jsonl_path}"
        )
        return 0
    print(f"wrote {len(dataset)} row(s) to {csv_path} and {jsonl_path}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from goemobalance.llm.review import import_review, save_rows
    from goemobalance.redact import redact_data
    from goemobalance.sources import load_dataset_any

    dataset = load_dataset_any(args.dataset) if args.dataset else None
    reviewed, report = import_review(args.csv, dataset, jsonl_path=args.jsonl)
    save_rows(reviewed, args.out)
    print(json.dumps(redact_data({k: v for k, v in report.items() if k != "rejected_ids"})))
    return 0
