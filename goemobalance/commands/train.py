"""`goemobalance train DATASET --out DIR`: train the hybrid model (or a transformer) and evaluate it."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

DEFAULT_GOEMOTIONS = "../shared/data/goemotions"


def add_training_args(parser: argparse.ArgumentParser) -> None:
    """Options shared by `train` and `compare`."""
    parser.add_argument(
        "--config", metavar="YAML", help="training settings (see docs/train.md); flags below override it"
    )
    parser.add_argument("--model", choices=("hybrid", "transformer"), help="model kind (default: hybrid)")
    parser.add_argument("--epochs", type=int, help="maximum epochs")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--max-train-rows", type=int, help="train on a seeded random subset of this size")
    parser.add_argument(
        "--embeddings", metavar="SOURCE", help="fasttext-train, glove-kumo, or a .bin/.vec/.kv file"
    )
    parser.add_argument(
        "--transformer-model", metavar="ID_OR_DIR", help="transformers checkpoint for --model transformer"
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the hybrid CNN-BiLSTM-attention model (or a transformer) and evaluate it",
        description="Train on DATASET (any dataset path), early-stop and tune thresholds on the validation "
        "split (default: GoEmotions dev), evaluate on the GoEmotions test split, and write the model, "
        "metrics (JSON + PNG) and training history to --out.",
    )
    parser.add_argument("dataset", metavar="DATASET", help="training data: any path load_dataset_any accepts")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--split", default=None, help="split of DATASET to train on (default: train)")
    parser.add_argument(
        "--goemotions",
        default=DEFAULT_GOEMOTIONS,
        metavar="DIR",
        help=f"GoEmotions TSV folder for the default validation/test splits (default: {DEFAULT_GOEMOTIONS})",
    )
    parser.add_argument("--val", metavar="DS", help="validation data (default: GoEmotions dev)")
    parser.add_argument("--test", metavar="DS", help="test data (default: GoEmotions test; 'none' to skip)")
    parser.add_argument("--resume", action="store_true", help="continue from DIR/checkpoints/last.pt")
    add_training_args(parser)
    parser.set_defaults(func=run)


def load_config(args: argparse.Namespace):
    """The YAML config (or defaults) with command-line overrides applied."""
    from dataclasses import replace

    from goemobalance.train.config import TrainConfig

    config = TrainConfig.from_yaml(args.config) if args.config else TrainConfig()
    changes = {
        k: v
        for k, v in (
            ("model", args.model),
            ("epochs", args.epochs),
            ("seed", args.seed),
            ("max_train_rows", args.max_train_rows),
            ("num_threads", args.threads),
        )
        if v is not None
    }
    if args.no_progress:
        changes["progress"] = False
    if args.embeddings:
        changes["embeddings"] = replace(config.embeddings, source=args.embeddings)
    if args.transformer_model:
        changes["transformer"] = replace(config.transformer, model_name=args.transformer_model)
    return config.replace(**changes) if changes else config


def run(args: argparse.Namespace) -> int:
    from goemobalance.sources import SourceError, load_dataset_any
    from goemobalance.train.loop import fit
    from goemobalance.train.metrics import save_report

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args)
        train_ds = load_dataset_any(args.dataset, args.split)
        val_ds = load_dataset_any(args.val) if args.val else load_dataset_any(args.goemotions, "dev")
        test_ds = None
        if (args.test or "").lower() != "none":
            test_ds = load_dataset_any(args.test) if args.test else load_dataset_any(args.goemotions, "test")
    except (SourceError, FileNotFoundError, ValueError, ConnectionError) as exc:
        print(f"goemobalance train: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    try:
        model = fit(train_ds, val_ds, config, checkpoint_dir=out / "checkpoints", resume=args.resume)
    except (ValueError, OSError) as exc:
        print(f"goemobalance train: {exc}", file=sys.stderr)
        return 1
    model.save(out / "model")
    save_report(model.evaluate(val_ds), out, prefix="val_metrics")
    (out / "history.json").write_text(json.dumps(model.history, indent=2), encoding="utf-8")
    best = [h for h in model.history if h["epoch"] == model.info.get("best_epoch")]
    summary = {"val_macro_f1_tuned": best[0]["macro_f1_tuned"] if best else None, **model.info}
    if test_ds is not None:
        report = model.evaluate(test_ds)
        save_report(report, out, prefix="test_metrics")
        summary.update(
            test_macro_f1=report["f1_macro"],
            test_micro_f1=report["f1_micro"],
            test_roc_auc_macro=report["roc_auc_macro"],
        )
    print(json.dumps(summary, indent=2, default=str))
    return 0
