"""The one markdown table writer, and the reports that use it."""

from __future__ import annotations

import numpy as np
import pytest

from goemobalance.balance.stats import distribution_stats, render_markdown
from goemobalance.labels import LabelSpace
from goemobalance.markdown import format_cell, markdown_table


def _cells(line: str) -> list[str]:
    """The cells of a table line, splitting on unescaped pipes only (as GitHub does)."""
    inner = line.strip()[1:-1].replace("\\|", "\x00")
    return [cell.strip().replace("\x00", "\\|") for cell in inner.split("|")]


def test_table_escapes_pipes_and_newlines_and_aligns_columns():
    table = markdown_table(["name", "n"], [["a|b\nc", 1234], ["plain", 2.5]], align="lr")
    lines = table.splitlines()
    assert lines[1] == "|---|---:|"
    assert _cells(lines[2]) == ["a\\|b c", "1,234"] and _cells(lines[3]) == ["plain", "2.5"]
    assert [format_cell(v) for v in (True, np.float32("nan"), 123456.7)] == ["yes", "nan", "123,457"]
    with pytest.raises(ValueError, match="align"):
        markdown_table(["a", "b"], [], align="l")


def test_stats_markdown_keeps_a_label_name_with_a_pipe_in_one_cell():
    space = LabelSpace(("joy|happy", "anger"))
    stats = distribution_stats(np.array([[1, 0], [1, 1], [0, 1]]), space)
    label_lines = [line for line in render_markdown(stats).splitlines() if line.startswith("| joy")]
    assert len(label_lines) == 1 and len(_cells(label_lines[0])) == 5, label_lines
