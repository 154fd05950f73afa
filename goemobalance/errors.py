"""The library's error hierarchy and the exit code each kind of error ends a command with.

Every error goemobalance raises on purpose derives from `GoemobalanceError`. The command line
(`goemobalance.cli.main`) is the one place that turns them into a one-line message and an exit code; a
library user catches `GoemobalanceError` (or a narrower class) and never has to parse messages.

Each class also derives from the built-in exception a Python user would expect (`ValueError` for bad
input, `RuntimeError` for a failed service), so ``except ValueError`` keeps working.

| class | meaning | exit code |
|---|---|---:|
| `GoemobalanceError` | base of all of them | 1 |
| `InputError` | a bad file, row, field, recipe, flag or setting: the user can fix it | 2 |
| `LeakError` | training rows found in evaluation data | 3 |
| `ServiceError` | an LLM server or the Hub failed for good | 4 |
| `NothingAcceptedError` | a stage ran but produced nothing usable | 5 |
"""

from __future__ import annotations


class GoemobalanceError(Exception):
    """Base of every error the library raises on purpose; its message is one line that names the problem."""

    exit_code: int = 1


class InputError(GoemobalanceError, ValueError):
    """Input the user can fix: a file, row, field, recipe entry, flag or setting; the message names it."""

    exit_code = 2


class LeakError(GoemobalanceError, ValueError):
    """Training rows that also occur in the evaluation data."""

    exit_code = 3


class ServiceError(GoemobalanceError, RuntimeError):
    """A remote service (an LLM server, the Hugging Face Hub) that failed for good, after retries."""

    exit_code = 4


class NothingAcceptedError(GoemobalanceError, RuntimeError):
    """A stage that ran to the end but produced nothing usable (every request failed, no text accepted)."""

    exit_code = 5


#: Exit code of a command stopped with Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130

#: Exit code of an unexpected error (a bug): the message asks for ``--debug`` and a report.
EXIT_INTERNAL = 1

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "GoemobalanceError",
    "InputError",
    "LeakError",
    "NothingAcceptedError",
    "ServiceError",
]
