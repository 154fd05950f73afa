"""Every third-party module the package imports is declared in pyproject.toml (core or an extra)."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _imported_top_levels() -> dict[str, str]:
    """Top-level module name -> the first file importing it, over every module of the package."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "goemobalance").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(REPO)))
    return found


def _declared() -> set[str]:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    names = set()
    for requirement in requirements:  # "openai[aiohttp]>=1.90": openai, and aiohttp through its extra
        name, extras = re.match(r"([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?", requirement).groups()
        names |= {name, *(extras.split(",") if extras else [])}
    return {name.strip().lower().replace("_", "-") for name in names}


def test_every_third_party_import_is_declared():
    distributions = packages_distributions()
    declared = _declared()
    missing = []
    for module, where in _imported_top_levels().items():
        if module in sys.stdlib_module_names or module in {"goemobalance", "__future__"}:
            continue
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not names & declared:
            missing.append(f"{module} (imported by {where}; distribution {sorted(names)})")
    assert not missing, "declare in pyproject.toml: " + "; ".join(missing)
