"""`goemobalance audit DATASET --out DIR`: write audit.md, audit.json and plots for a dataset."""

from __future__ import annotations

import argparse
import json
import sys

from goemobalance.audit.issues import DEFAULT_MAX_FLAG_FRACTION
from goemobalance.audit.probs import CALIBRATIONS, MODELS


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "audit", help="find likely label errors, duplicates and train-test leaks; write a report",
        description="Audit a dataset: cleanlab label issues on out-of-sample probabilities, exact and near "
        "duplicates, train-test leakage, empty and very short texts. Writes DIR/audit.md, DIR/audit.json, DIR/*.png.",
    )  # fmt: skip
    parser.add_argument(
        "dataset",
        help="any input goemobalance reads (GoEmotions folder/TSV, parquet, save_to_disk folder, ...)",
    )
    parser.add_argument("--out", required=True, help="folder for audit.md, audit.json and the plots")
    parser.add_argument(
        "--split", default=None, help="split to read from DATASET (default: train, or its only split)"
    )
    parser.add_argument(
        "--eval", dest="eval_path", default=None, help="evaluation set to check for train-test leakage"
    )
    parser.add_argument("--eval-split", default="test", help="split to read from --eval (default: test)")
    parser.add_argument("--model", default="tfidf", choices=MODELS, help="probability model (default: tfidf)")
    parser.add_argument(
        "--calibration", default=None, choices=[c for c in CALIBRATIONS if c], help="per-label calibration"
    )
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default: 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-flag-fraction",
        type=float,
        default=DEFAULT_MAX_FLAG_FRACTION,
        help=f"flag at most this share of rows (default: {DEFAULT_MAX_FLAG_FRACTION}); 1 keeps cleanlab's filter as is",
    )
    parser.add_argument(
        "--near-threshold", type=float, default=0.9, help="TF-IDF cosine for near duplicates (default: 0.9)"
    )
    parser.add_argument(
        "--min-words", type=int, default=3, help="texts with fewer words are reported as very short"
    )
    parser.add_argument("--cache-dir", default=None, help="folder for cached MiniLM embeddings")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goemobalance.audit import audit
    from goemobalance.sources import load_dataset_any

    try:
        dataset = load_dataset_any(args.dataset, split=args.split)
        eval_dataset = load_dataset_any(args.eval_path, split=args.eval_split) if args.eval_path else None
    except (FileNotFoundError, ValueError) as exc:
        print(f"goemobalance audit: {exc}", file=sys.stderr)
        return 2
    report = audit(
        dataset, eval_dataset=eval_dataset, model=args.model, folds=args.folds, seed=args.seed,
        calibration=args.calibration, max_flag_fraction=args.max_flag_fraction, near_threshold=args.near_threshold,
        min_words=args.min_words, cache_dir=args.cache_dir,
    )  # fmt: skip
    out = report.save(args.out)
    print(report.summary())
    print(json.dumps({"out": str(out), "rows": report.rows, "issues": len(report.issues),
                      "health_score": round(report.health_score, 4), "leak_groups": len(report.leaks)}))  # fmt: skip
    return 0
