"""`goemobalance build RECIPE [--out DIR]`: run a recipe end to end (resuming finished stages)."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build",
        help="run a recipe: load, pseudo-label, generate, balance, split, audit, publish",
        description="Run a YAML recipe end to end. Finished stages under OUT/stages are reused, so an "
        "interrupted build resumes where it stopped.",
    )
    parser.add_argument("recipe", help="path to a recipe YAML file, e.g. recipes/quickstart.yaml")
    parser.add_argument("--out", default=None, help="output folder (default: out/<recipe name>)")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON instead of a summary")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goemobalance.pipeline import run_recipe, summarize

    result = run_recipe(args.recipe, args.out)
    if args.json:
        print(json.dumps(result.manifest, indent=2, sort_keys=True))
    else:
        print(summarize(result))
    return 0
