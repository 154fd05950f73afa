"""`goemobalance compare --balanced DS --out DIR`: both trainings, several seeds, deltas with CIs."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from goemobalance.commands.train import DEFAULT_GOEMOTIONS, add_training_args, load_config, load_split

SEED_FIELD = "{seed}"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="train on balanced and imbalanced data (several seeds), compare F1 on GoEmotions test with CIs",
        description="Train the same model with the same config and seeds on both training sets, early-stop "
        "and tune thresholds on the validation split (GoEmotions dev), evaluate every model on the "
        "untouched GoEmotions test split, and write mean/std over seeds, paired per-seed deltas, paired "
        "bootstrap 95%% CIs of the macro-F1 and rare-F1 deltas and a per-label delta table "
        "(comparison.md/.json/_delta.png). Training rows that leak into validation/test data (same "
        "normalized text or comment id) are removed with a warning, or stop the run with --on-leak error.",
    )
    parser.add_argument(
        "--balanced",
        metavar="DS",
        help="balanced training data (any dataset path; its train split); '{seed}' in the path is replaced "
        "by each seed, for a set rebuilt per seed. Without it only the imbalanced side (a baseline) is "
        "trained and reported",
    )
    parser.add_argument(
        "--imbalanced",
        default=DEFAULT_GOEMOTIONS,
        metavar="DS",
        help="imbalanced training data (default: 'packaged', GoEmotions train shipped in the package); "
        "'{seed}' allowed as for --balanced",
    )
    parser.add_argument(
        "--test",
        default=DEFAULT_GOEMOTIONS,
        metavar="DS",
        help="test data: its test split (default: 'packaged', GoEmotions test)",
    )
    parser.add_argument(
        "--val",
        metavar="DS",
        help="validation data: its validation split (default: the validation split of --test's source)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--seeds", type=int, nargs="+", metavar="N", help="training seeds (default: --seed or the config's)"
    )
    parser.add_argument(
        "--equal-steps",
        action="store_true",
        help="same number of optimizer steps for both sets (epochs counted on the imbalanced set)",
    )
    parser.add_argument(
        "--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples for the CIs (0: none)"
    )
    parser.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    parser.add_argument(
        "--rare-k", type=int, default=8, help="how many of the rarest labels count as rare (default 8)"
    )
    parser.add_argument(
        "--balanced-config",
        metavar="YAML",
        help="other training settings for the balanced side (e.g. sample_weighting); flags apply to both",
    )
    parser.add_argument(
        "--screen",
        nargs="?",
        const="half",
        choices=("half", "cross"),
        help="screen without the test split: early-stop and tune thresholds on one label-stratified half "
        "of the validation split, score on the other half; 'cross': also the other way round, scoring "
        "every validation row (twice the training); --test is not loaded",
    )
    parser.add_argument("--save-models", action="store_true", help="also save every trained model")
    parser.add_argument(
        "--reuse",
        nargs="+",
        default=(),
        metavar="DIR",
        help="earlier compare output folders: runs with the same settings, seed and data are not trained "
        "again (--out itself is always searched, so a rerun resumes)",
    )
    add_training_args(parser)
    parser.set_defaults(func=run)


def training_sets(source: str, seeds: list[int]):
    """One Dataset, or ``{seed: Dataset}`` when the path holds ``{seed}``."""
    if SEED_FIELD not in source:
        return load_split(source, "train")
    return {seed: load_split(source.replace(SEED_FIELD, str(seed)), "train") for seed in seeds}


def validation_source(args: argparse.Namespace) -> str:
    """--val, else the source of --test (its folder, when --test is a single file)."""
    if args.val:
        return args.val
    test = Path(args.test)
    return str(test.parent) if test.is_file() else args.test


def screen_halves(args: argparse.Namespace):
    """(validation data, tuning half, scoring half) of a screen; a split too small to halve fails in one
    line naming it."""
    from goemobalance.errors import InputError
    from goemobalance.train.compare import screening_split

    source = validation_source(args)
    val = load_split(source, "validation")
    try:
        return val, *screening_split(val)
    except InputError as error:
        raise InputError(f"validation data {source}: {error}") from error


def evaluation_data(args: argparse.Namespace):
    """(scoring data, tuning data, what the scoring data is): GoEmotions test and dev, or with --screen
    the two halves of the validation split (the test split is not loaded)."""
    from goemobalance.train.compare import SCORED_ON_SCREEN, SCORED_ON_TEST

    if args.screen:
        _, tune, score = screen_halves(args)
        return score, tune, SCORED_ON_SCREEN
    val = load_split(validation_source(args), "validation")
    return load_split(args.test, "test"), val, SCORED_ON_TEST


def run(args: argparse.Namespace) -> int:
    from goemobalance.train.compare import compare, cross_fit_compare

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = load_config(args)
    balanced_config = load_config(args, args.balanced_config) if args.balanced_config else None
    seeds = args.seeds or [config.seed]
    training = (
        training_sets(args.balanced, seeds) if args.balanced else None,
        training_sets(args.imbalanced, seeds),
    )
    options = {
        "seeds": seeds,
        "equal_steps": args.equal_steps,
        "n_bootstrap": args.bootstrap,
        "bootstrap_seed": args.bootstrap_seed,
        "on_leak": args.on_leak,
        "rare_k": args.rare_k,
        "save_models": args.save_models,
        "reuse": args.reuse,
        "balanced_config": balanced_config,
    }
    if args.screen == "cross":
        cross_fit_compare(*training, screen_halves(args)[0], config, args.out, **options)
    else:
        scored, tuning, scored_on = evaluation_data(args)
        compare(*training, scored, tuning, config, args.out, scored_on=scored_on, **options)
    print(Path(args.out, "comparison.md").read_text(encoding="utf-8").split("\n\nRare labels")[0])
    print(
        f"\nfull tables: {Path(args.out, 'comparison.md')}; everything: {Path(args.out, 'comparison.json')}"
    )
    return 0
