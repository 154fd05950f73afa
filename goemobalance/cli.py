"""The `goemobalance` command line: a thin layer over the Python API.

Each subcommand lives in `goemobalance/commands/<name>.py` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to a callable taking the parsed args and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from goemobalance.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, GoemobalanceError, InputError, ServiceError

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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand, or only `command`'s (so running one command does not
    import the modules of all the others, which keeps a failing recipe check fast)."""
    from goemobalance import __version__

    parser = argparse.ArgumentParser(
        prog="goemobalance", description="Build, audit and publish balanced multi-label emotion datasets."
    )
    parser.add_argument("--version", action="version", version=f"goemobalance {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback when a command fails")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        if command is None or module_name.rsplit(".", 1)[1] == command:
            importlib.import_module(module_name).register(subparsers)
    for subparser in subparsers.choices.values():
        subparser.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand and return its exit code; errors end in one line on stderr (see `errors`)."""
    parser = build_parser(_command_of(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    name = f"goemobalance {args.command}"
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return _quiet_closed_pipe()
    except Exception as exc:  # the one place that turns errors into messages and exit codes
        if args.debug:
            raise
        message, code = describe_error(exc)
        print(f"{name}: {message}", file=sys.stderr)
        return code
    except KeyboardInterrupt as exc:
        detail = f": {_one_line(str(exc))}" if str(exc) else ""
        print(f"\n{name}: interrupted{detail}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in `argv` (its first word that is not an option), if it is one we have."""
    names = {module_name.rsplit(".", 1)[1] for module_name in COMMAND_MODULES}
    word = next((arg for arg in argv if not arg.startswith("-")), None)
    return word if word in names else None


def describe_error(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for an error that ended a command.

    Library errors carry their exit code; a missing or unreadable file is the user's to fix (2); a network
    failure is a service error (4); anything else is a bug, reported in one line that asks for ``--debug``.
    """
    if isinstance(exc, GoemobalanceError):
        return _one_line(str(exc)), exc.exit_code
    if isinstance(exc, ConnectionError):
        return _one_line(f"cannot connect: {exc}"), ServiceError.exit_code
    if isinstance(exc, OSError):
        return _one_line(_os_error_text(exc)), InputError.exit_code
    text = f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
    return _one_line(text), EXIT_INTERNAL


def _quiet_closed_pipe() -> int:
    """stdout was closed by the reader (``| head``): stop quietly, and keep Python's exit flush quiet too."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


def _os_error_text(exc: OSError) -> str:
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


def _one_line(text: str) -> str:
    """`text` on one line, with any key or token in it redacted (a message may quote a recipe value)."""
    from goemobalance.redact import redact_text

    return redact_text(" ".join(text.split()))


if __name__ == "__main__":
    sys.exit(main())
