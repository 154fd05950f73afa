"""What a build says while it runs: one line per stage and a note before a long silent step (stderr).

The final summary goes to stdout (`goemobalance.build.summary`); warnings are shown even when quiet. Every
line is redacted (`goemobalance.redact`): a key pasted into a recipe name or path never reaches a log.
"""

from __future__ import annotations

import sys
from typing import TextIO

from goemobalance.redact import redact_text


class Console:
    """Progress lines for a person watching a build.

    Parameters
    ----------
    stream : file, optional
        Where lines go (default: ``sys.stderr`` at the time of each write).
    quiet : bool
        Show warnings only (for scripts).
    """

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet

    def line(self, text: str) -> None:
        """A progress line (hidden when quiet)."""
        if not self.quiet:
            self._write(text)

    def note(self, stage: str, text: str) -> None:
        """Announce a long step inside `stage` before it starts, so silence never looks like a hang."""
        self.line(f"  {stage:<9} {text}")

    def warn(self, text: str) -> None:
        """A warning, shown even when quiet."""
        self._write(f"warning: {text}")

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stderr
        print(redact_text(text), file=stream, flush=True)


__all__ = ["Console"]
