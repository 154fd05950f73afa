"""`goemobalance audit DATASET --out DIR`: audit every split of a dataset; write audit.md, audit.json and plots."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from goemobalance.audit.defaults import CALIBRATIONS, DEFAULT_MAX_FLAG_FRACTION, DEFAULT_MIN_WORDS, MODELS


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "audit", help="find likely label errors, duplicates and train-test leaks; write a report",
        description="Audit every split of a dataset (a published Hub-layout folder, a save_to_disk folder, "
        "GoEmotions, or one table): cleanlab label issues on out-of-sample probabilities, exact and near "
        "duplicates, leaks into validation/test and into --eval, empty and very short texts. "
        "Writes DIR/audit.md, DIR/audit.json, DIR/*.png.",
    )  # fmt: skip
    parser.add_argument(
        "dataset",
        help="a published folder (data/*.parquet), a save_to_disk folder, a GoEmotions folder or TSV, "
        "or any table goemobalance reads",
    )
    parser.add_argument("--out", required=True, help="folder for audit.md, audit.json and the plots")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into an --out folder holding files goemobalance did not write (other names are kept)",
    )
    parser.add_argument(
        "--split",
        default=None,
        help="audit only these splits, comma-separated (default: every split of DATASET)",
    )
    parser.add_argument(
        "--eval", dest="eval_path", default=None,
        help="evaluation set checked for duplicates and leaks (e.g. 'packaged': the GoEmotions copy "
        "shipped in the package, its --eval-split)",
    )  # fmt: skip
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
        "--near-threshold", type=float, default=None,
        help="Jaccard of character 4-grams for near duplicates (default: 0.7, the generator's and the leak guard's)",
    )  # fmt: skip
    parser.add_argument(
        "--min-words",
        type=int,
        default=DEFAULT_MIN_WORDS,
        help=f"texts with fewer words are reported as very short (default: {DEFAULT_MIN_WORDS})",
    )
    parser.add_argument("--cache-dir", default=None, help="folder for cached MiniLM embeddings")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goemobalance.outputs import writing_into

    with writing_into(args.out, overwrite=args.overwrite, what="audit folder") as out:
        return _audit_into(out, args)


def _audit_into(out: Path, args: argparse.Namespace) -> int:
    from goemobalance.audit import audit, load_splits
    from goemobalance.label.batching import available_cpus
    from goemobalance.sources import load_dataset_any
    from goemobalance.text import NEAR_DUPLICATE_THRESHOLD

    splits = load_splits(args.dataset, [s.strip() for s in args.split.split(",")] if args.split else None)
    eval_sets = (
        {f"eval_{args.eval_split}": load_dataset_any(args.eval_path, split=args.eval_split)}
        if args.eval_path
        else None
    )
    near = NEAR_DUPLICATE_THRESHOLD if args.near_threshold is None else args.near_threshold
    report = audit(
        splits, eval_dataset=eval_sets, model=args.model, folds=args.folds, seed=args.seed,
        calibration=args.calibration, max_flag_fraction=args.max_flag_fraction, near_threshold=near,
        min_words=args.min_words, cache_dir=args.cache_dir, n_jobs=available_cpus(),
    )  # fmt: skip
    report.save(out)
    print(report.summary())
    print(json.dumps({"out": str(out), "splits": report.splits, "rows": report.rows,
                      "eval_sets": report.eval_splits, "issues": len(report.issues),
                      "health_score": round(report.health_score, 4), "leak_groups": len(report.leaks)}))  # fmt: skip
    return 0
