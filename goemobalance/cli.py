"""The `goemobalance` command line: a thin layer over the Python API.

Each subcommand lives in `goemobalance/commands/<name>.py` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to a callable taking the parsed args and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES: tuple[str, ...] = (
    "goemobalance.commands.build",
    "goemobalance.commands.stats",
    "goemobalance.commands.label",
    "goemobalance.commands.generate",
    "goemobalance.commands.review",
    "goemobalance.commands.audit",
    "goemobalance.commands.train",
    "goemobalance.commands.compare",
    "goemobalance.commands.publish",
)


def build_parser() -> argparse.ArgumentParser:
    from goemobalance import __version__

    parser = argparse.ArgumentParser(
        prog="goemobalance", description="Build, audit and publish balanced multi-label emotion datasets."
    )
    parser.add_argument("--version", action="version", version=f"goemobalance {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
