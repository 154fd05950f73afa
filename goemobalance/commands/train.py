"""`goemobalance train DATASET --out DIR`: train the hybrid model (or a transformer or the proxy), evaluate it."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from goemobalance.balance.weights import WEIGHTINGS

DEFAULT_GOEMOTIONS = "packaged"


def load_split(source: str, split: str):
    """The `split` (train / validation / test) of `source`; ``packaged`` is the GoEmotions copy shipped in
    the package. A folder with several splits gives the one asked for (``dev`` and ``validation`` are the
    same split); a single file is its own split."""
    if source == "packaged":
        from goemobalance.sources import load_goemotions
        from goemobalance.sources.goemotions import packaged_goemotions

        name = "dev" if split in ("dev", "validation") else split
        return load_goemotions(packaged_goemotions(name), split=name)
    from goemobalance.sources import load_dataset_any

    return load_dataset_any(source, split=split)


def add_training_args(parser: argparse.ArgumentParser) -> None:
    """Options shared by `train` and `compare`."""
    parser.add_argument(
        "--config", metavar="YAML", help="training settings (see docs/train.md); flags below override it"
    )
    parser.add_argument(
        "--model",
        choices=("hybrid", "transformer", "proxy"),
        help="model kind (default: hybrid; proxy = TF-IDF + logistic regression, seconds per fit)",
    )
    parser.add_argument("--epochs", type=int, help="maximum epochs")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--max-train-rows", type=int, help="train on a seeded random subset of this size")
    parser.add_argument(
        "--embeddings", metavar="SOURCE", help="fasttext-train, glove-kumo, minilm, or a .bin/.vec/.kv file"
    )
    parser.add_argument(
        "--transformer-model", metavar="ID_OR_DIR", help="transformers checkpoint for --model transformer"
    )
    parser.add_argument(
        "--sample-weighting",
        choices=WEIGHTINGS,
        help="per-row training weights from label frequencies (effective = Cui et al.; default none)",
    )
    parser.add_argument(
        "--class-weight", choices=("none", "balanced"), help="proxy model: logistic regression class_weight"
    )
    parser.add_argument(
        "--on-leak",
        choices=("drop", "error"),
        default="drop",
        help="training rows found in the validation or test data: remove with a warning (default) or stop",
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the hybrid CNN-BiLSTM-attention model (or a transformer, or the proxy) and evaluate it",
        description="Train on DATASET (any dataset path), early-stop and tune thresholds on the validation "
        "split (default: GoEmotions dev), evaluate on the GoEmotions test split, and write the model, "
        "metrics (JSON + PNG) and training history to --out. Training rows whose text or comment id "
        "occurs in the validation or test data are removed first (--on-leak).",
    )
    parser.add_argument("dataset", metavar="DATASET", help="training data: any path load_dataset_any accepts")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--split", default="train", help="split of DATASET to train on (default: train)")
    parser.add_argument(
        "--goemotions",
        default=DEFAULT_GOEMOTIONS,
        metavar="DIR",
        help="GoEmotions source of the default validation/test splits: a folder, or 'packaged' (default: "
        "the copy shipped in the package)",
    )
    parser.add_argument(
        "--val", metavar="DS", help="validation data; of a folder with splits, its validation split"
    )
    parser.add_argument(
        "--test",
        metavar="DS",
        help="test data (default: GoEmotions test; 'none' to skip); of a folder, its test split",
    )
    parser.add_argument("--resume", action="store_true", help="continue from DIR/checkpoints/last.pt")
    add_training_args(parser)
    parser.set_defaults(func=run)


def load_config(args: argparse.Namespace, path: str | None = None):
    """The YAML config `path` (default ``--config``; or defaults) with command-line overrides applied."""
    from dataclasses import replace

    from goemobalance.train.config import TrainConfig

    path = path or args.config
    config = TrainConfig.from_yaml(path) if path else TrainConfig()
    changes = {
        k: v
        for k, v in (
            ("model", args.model),
            ("epochs", args.epochs),
            ("seed", args.seed),
            ("max_train_rows", args.max_train_rows),
            ("num_threads", args.threads),
            ("sample_weighting", args.sample_weighting),
        )
        if v is not None
    }
    if args.no_progress:
        changes["progress"] = False
    if args.embeddings:
        changes["embeddings"] = replace(config.embeddings, source=args.embeddings)
    if args.transformer_model:
        changes["transformer"] = replace(config.transformer, model_name=args.transformer_model)
    if args.class_weight:
        class_weight = None if args.class_weight == "none" else args.class_weight
        changes["proxy"] = replace(config.proxy, class_weight=class_weight)
    return config.replace(**changes) if changes else config


def run(args: argparse.Namespace) -> int:
    from goemobalance.train.compare import remove_leaks
    from goemobalance.train.loop import fit
    from goemobalance.train.metrics import save_report

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = load_config(args)
    train_ds = load_split(args.dataset, args.split)
    val_ds = load_split(args.val or args.goemotions, "validation")
    test_ds = None
    if (args.test or "").lower() != "none":
        test_ds = load_split(args.test or args.goemotions, "test")
    eval_sets = [val_ds] if test_ds is None else [val_ds, test_ds]
    train_ds, leaks = remove_leaks(train_ds, eval_sets, on_leak=args.on_leak, name="training")
    out = Path(args.out)
    model = fit(train_ds, val_ds, config, checkpoint_dir=out / "checkpoints", resume=args.resume)
    model.save(out / "model")
    save_report(model.evaluate(val_ds), out, prefix="val_metrics")
    (out / "history.json").write_text(json.dumps(model.history, indent=2), encoding="utf-8")
    best = [h for h in model.history if h["epoch"] == model.info.get("best_epoch")]
    summary = {
        "val_macro_f1_tuned": best[0]["macro_f1_tuned"] if best else None,
        "leaking_rows_removed": len(leaks.leaking_rows),
        **model.info,
    }
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
