"""`goemobalance compare --balanced DS --imbalanced DS --out DIR`: both trainings on GoEmotions test."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from goemobalance.commands.train import DEFAULT_GOEMOTIONS, add_training_args, load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="train on balanced and imbalanced data, compare per-label F1 on GoEmotions test",
        description="Train the same model with the same config and seed on both training sets, early-stop on "
        "GoEmotions dev, evaluate both on the untouched GoEmotions test split and write a per-label delta "
        "table (comparison.md/.json/_delta.png). Training rows that leak into dev/test (same normalized "
        "text or comment id) are removed with a warning, or stop the run with --on-leak error.",
    )
    parser.add_argument(
        "--balanced", required=True, metavar="DS", help="balanced training data (any dataset path)"
    )
    parser.add_argument(
        "--imbalanced", required=True, metavar="DS", help="imbalanced training data, e.g. GoEmotions train"
    )
    parser.add_argument(
        "--test",
        default=DEFAULT_GOEMOTIONS,
        metavar="DIR",
        help=f"GoEmotions folder or test.tsv (default: {DEFAULT_GOEMOTIONS})",
    )
    parser.add_argument(
        "--val", metavar="DS", help="validation data (default: dev.tsv next to the test split)"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--on-leak",
        choices=("drop", "error"),
        default="drop",
        help="training rows found in the evaluation data: remove with a warning (default) or stop",
    )
    parser.add_argument(
        "--rare-k", type=int, default=8, help="how many of the rarest labels count as rare (default 8)"
    )
    parser.add_argument("--save-models", action="store_true", help="also save both trained models")
    add_training_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goemobalance.sources import SourceError, load_dataset_any
    from goemobalance.train.compare import LeakError, compare

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args)
        balanced = load_dataset_any(args.balanced)
        imbalanced = load_dataset_any(args.imbalanced)
        test = load_dataset_any(args.test, "test")
        val_source = args.val or (args.test if Path(args.test).is_dir() else str(Path(args.test).parent))
        val = load_dataset_any(val_source, None if args.val else "dev")
        result = compare(
            balanced,
            imbalanced,
            test,
            val,
            config,
            args.out,
            on_leak=args.on_leak,
            rare_k=args.rare_k,
            save_models=args.save_models,
        )
    except LeakError as exc:
        print(f"goemobalance compare: leak: {exc}", file=sys.stderr)
        return 3
    except (SourceError, FileNotFoundError, ValueError, ConnectionError, OSError) as exc:
        print(f"goemobalance compare: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result["summary"], indent=2))
    return 0
