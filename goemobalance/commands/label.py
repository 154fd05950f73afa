"""`goemobalance label`: pseudo-label a dataset with a transformer or the offline labeler, or train the latter.

goemobalance label INPUT --out OUT [--model ID_OR_PATH | --offline DIR] [--threshold ...] [--rejected REJ]
goemobalance label --train-offline ../shared/data/goemotions --out DIR [--kind tfidf|minilm|tfidf+minilm]
                   [--target-precision P]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from goemobalance.device import AMP_MODES
from goemobalance.errors import InputError
from goemobalance.label.models import DEFAULT_MODEL
from goemobalance.label.registry import OFFLINE_LABELERS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "label",
        help="pseudo-label texts (transformer or offline labeler), or train the offline labeler",
        description="Pseudo-label every row of INPUT (any dataset goemobalance reads) and write it with "
        "labels, per-label scores, label_origin=pseudo and provenance in meta. With --train-offline, fit "
        "the offline labeler on GoEmotions train (thresholds tuned on dev) and save it to --out.",
    )
    parser.add_argument("input", nargs="?", metavar="INPUT", help="dataset path (or Hub id) to label")
    parser.add_argument("--out", required=True, help="output: .parquet, .jsonl, or a save_to_disk folder")
    parser.add_argument("--split", default=None, help="split to read from a folder or DatasetDict")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--model", default=None, help=f"classifier Hub id or local folder (default {DEFAULT_MODEL})"
    )
    source.add_argument("--offline", metavar="DIR", default=None, help="a labeler saved by --train-offline")
    source.add_argument("--train-offline", metavar="GOEMOTIONS_DIR", default=None,
                        help="train the offline labeler on this GoEmotions TSV folder and save it to --out")  # fmt: skip
    parser.add_argument("--kind", choices=sorted(OFFLINE_LABELERS), default="tfidf",
                        help="offline labeler to train (default tfidf; tfidf+minilm is the most accurate)")  # fmt: skip
    parser.add_argument("--target-precision", type=float, default=None, metavar="P",
                        help="with --train-offline: per-label thresholds whose dev precision (Wilson lower bound) "
                             "reaches P; labels that cannot accept nothing (default: F1-optimal thresholds)")  # fmt: skip
    parser.add_argument("--revision", default=None, help="model revision (branch, tag or commit) on the Hub")
    rules = parser.add_argument_group("selection rule")
    rules.add_argument("--threshold", default=None,
                       help="global threshold (0.5), 'name=value,...' per label, or a JSON file "
                            "(list or {name: value}); default: the offline labeler's tuned thresholds, else 0.5")  # fmt: skip
    rules.add_argument(
        "--min-confidence", type=float, default=None, help="no labels when top probability is below"
    )
    rules.add_argument("--max-labels", type=int, default=None, help="keep at most this many labels per row")
    rules.add_argument(
        "--no-fallback", action="store_true", help="no top-1 label when none passes its threshold"
    )
    rules.add_argument("--rejected", metavar="PATH", default=None,
                       help="also split with the rule: accepted rows to --out, rejected rows (reject_reason) here")  # fmt: skip
    rules.add_argument("--only-unlabeled", action="store_true", help="label only rows without labels")
    perf = parser.add_argument_group("transformer performance")
    perf.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    perf.add_argument(
        "--amp",
        default="auto",
        choices=AMP_MODES,
        help="autocast precision: auto (bf16 on CUDA, off on CPU), bf16, fp16, off",
    )
    perf.add_argument("--max-tokens", type=int, default=8192, help="padded tokens per batch")
    perf.add_argument("--max-length", type=int, default=128, help="truncate texts to this many tokens")
    perf.add_argument("--cache-dir", default=None,
                      help="resume cache: finished shards are reused on rerun (with --train-offline: the "
                           "MiniLM embedding cache)")  # fmt: skip
    perf.add_argument("--shard-size", type=int, default=8192, help="texts per resumable shard")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.train_offline:
        return _train(args)
    if not args.input:
        raise InputError("goemobalance label: INPUT is required (or use --train-offline GOEMOTIONS_DIR)")
    return _label(args)


def _train(args: argparse.Namespace) -> int:
    from goemobalance.label import train_offline

    encodes = args.kind != "tfidf"  # the MiniLM labelers take an embedding cache
    params = {"cache_dir": args.cache_dir} if args.cache_dir and encodes else {}
    labeler = train_offline(args.train_offline, args.kind, target_precision=args.target_precision, **params)
    labeler.save(args.out)
    test = labeler.metrics_["test"]
    print(f"saved {type(labeler).__name__} to {args.out}: GoEmotions test macro-F1 {test['macro_f1']}, "
          f"micro-F1 {test['micro_f1']} (thresholds tuned on dev)")  # fmt: skip
    unreachable = labeler.acceptance_report_.unreachable
    if args.target_precision is not None and unreachable:
        print(f"{len(unreachable)} labels cannot reach dev precision {args.target_precision} and accept nothing: "
              f"{', '.join(unreachable)}")  # fmt: skip
    return 0


def _label(args: argparse.Namespace) -> int:
    import datasets

    from goemobalance.label import accept
    from goemobalance.schema import split_labeled
    from goemobalance.sources import load_dataset_any

    dataset = load_dataset_any(args.input, args.split)
    labeler = _labeler(args)
    rule = _rule(args, labeler)
    if args.only_unlabeled:
        done, todo = split_labeled(dataset)
        labelled = labeler.label(todo, rule)
        result = (
            datasets.concatenate_datasets([done.cast(labelled.features), labelled]) if len(done) else labelled
        )
    else:
        result = labeler.label(dataset, rule)
    if args.rejected:
        accepted, rejected = accept(result, rule)
        _write(accepted, args.out)
        _write(rejected, args.rejected)
        print(f"labelled {len(result)} rows: {len(accepted)} accepted -> {args.out}, "
              f"{len(rejected)} rejected -> {args.rejected}")  # fmt: skip
    else:
        _write(result, args.out)
        print(f"labelled {len(result)} rows -> {args.out}")
    return 0


def _labeler(args: argparse.Namespace):
    from goemobalance.label import OfflineLabeler, TransformerLabeler

    if args.offline:
        return OfflineLabeler.load(args.offline)
    return TransformerLabeler(
        args.model or DEFAULT_MODEL, revision=args.revision, device=args.device, amp=args.amp,
        max_tokens_per_batch=args.max_tokens, max_length=args.max_length, cache_dir=args.cache_dir,
        shard_size=args.shard_size,
    )  # fmt: skip


def _rule(args: argparse.Namespace, labeler):
    """The labeler's own rule (an offline labeler's tuned one), with the flags the user gave applied."""
    base = labeler.active_rule
    changes: dict = {"top1_fallback": base.top1_fallback and not args.no_fallback}
    if args.threshold is not None:
        changes["threshold"] = parse_threshold(args.threshold)
    if args.min_confidence is not None:
        changes["min_confidence"] = args.min_confidence
    if args.max_labels is not None:
        changes["max_labels"] = args.max_labels
    return dataclasses.replace(base, **changes)


def parse_threshold(value: str) -> float | list[float] | dict[str, float]:
    """``0.4`` -> 0.4; ``anger=0.3,joy=0.6`` -> a per-label dict; a JSON file -> its list or dict."""
    if Path(value).is_file():
        return json.loads(Path(value).read_text(encoding="utf-8"))
    if "=" in value:
        pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
        try:
            return {name.strip(): float(number) for name, number in pairs}
        except ValueError:
            raise InputError(f"--threshold: expected name=value pairs, got {value!r}") from None
    try:
        return float(value)
    except ValueError:
        raise InputError(
            f"--threshold: expected a number, name=value pairs or a JSON file, got {value!r}"
        ) from None


def _write(dataset, out: str) -> None:
    """Write to .parquet / .jsonl, or a `save_to_disk` folder for any other path."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        dataset.to_parquet(str(path))
    elif path.suffix in (".jsonl", ".json"):
        dataset.to_json(str(path), lines=True, force_ascii=False)
    else:
        dataset.save_to_disk(str(path))
