"""GitHub-flavoured markdown tables: the one table writer of the package (card, reports, stats, compare).

Cells that are already strings are written as they are (a ``|`` escaped, newlines turned into spaces);
numbers and booleans get one readable format (`format_cell`), so a caller that wants its own precision
formats the value first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def format_cell(value: Any) -> str:
    """One table cell: yes/no for booleans, 4 significant digits (thousands separated) for floats, thousands
    separated integers, and text with ``|`` escaped and newlines as spaces."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return "nan" if np.isnan(value) else f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, align: str | None = None) -> str:
    """A GitHub-flavoured markdown table (no trailing newline).

    Parameters
    ----------
    headers : sequence of str
        The column names.
    rows : iterable of sequences
        The rows, one cell per column, formatted by `format_cell`.
    align : str, optional
        One letter per column, ``l`` (left) or ``r`` (right); default all left.

    Returns
    -------
    str
        The header line, the rule line and one line per row.
    """
    align = align or "l" * len(headers)
    if len(align) != len(headers) or set(align) - {"l", "r"}:
        raise ValueError(f"align must give 'l' or 'r' for each of the {len(headers)} columns, got {align!r}")
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    lines = ["| " + " | ".join(format_cell(h) for h in headers) + " |", rule]
    lines += ["| " + " | ".join(format_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


__all__ = ["format_cell", "markdown_table"]
