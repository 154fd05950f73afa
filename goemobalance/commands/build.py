"""`goemobalance build RECIPE [--out DIR]`: run a recipe end to end (resuming finished stages)."""

from __future__ import annotations

import argparse
import json

EPILOG = """\
Progress goes to stderr, one line per stage; the summary goes to stdout. The whole recipe is checked
before any stage runs. Ctrl-C keeps the finished stages: run the same command again to resume.

examples:
  goemobalance build recipes/quickstart.yaml --out out/quickstart
  goemobalance build recipes/quickstart.yaml --out out/quickstart --dry-run
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build",
        help="run a recipe: load, pseudo-label, generate, balance, split, audit, publish",
        description="Run a YAML recipe end to end. Finished stages under OUT/stages are reused, so an "
        "interrupted build resumes where it stopped.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("recipe", help="path to a recipe YAML file, e.g. recipes/quickstart.yaml")
    parser.add_argument("--out", default=None, help="output folder (default: out/<recipe name>)")
    parser.add_argument("--dry-run", action="store_true",
                        help="say which stages would run or be reused, the deficits and the LLM plan; write nothing")  # fmt: skip
    parser.add_argument("--overwrite", action="store_true",
                        help="write into an output folder that holds files goemobalance did not write (they are kept)")  # fmt: skip
    parser.add_argument(
        "--quiet", action="store_true", help="no progress lines (warnings and errors still show)"
    )
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON instead of a summary")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goemobalance.recipe import load_recipe
    from goemobalance.redact import redact_text

    recipe = load_recipe(args.recipe)  # a mistake in the file fails here, before any data library loads
    if args.dry_run:
        from goemobalance.build.plan import plan_build

        print(redact_text(plan_build(recipe, args.out, overwrite=args.overwrite).to_text()))
        return 0
    from goemobalance.build.console import Console
    from goemobalance.pipeline import run_recipe, summarize

    result = run_recipe(recipe, args.out, overwrite=args.overwrite, console=Console(quiet=args.quiet))
    print(
        redact_text(json.dumps(result.manifest, indent=2, sort_keys=True) if args.json else summarize(result))
    )
    return 0
