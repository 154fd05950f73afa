"""Packages whose exports load on first use: every export resolves, light imports stay light."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAZY_PACKAGES = ["goemobalance", "goemobalance.audit", "goemobalance.label"]


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_export_resolves_and_unknown_names_fail(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
        assert name in dir(module)
    with pytest.raises(AttributeError, match=rf"module '{package}' has no attribute 'no_such_name'"):
        module.no_such_name  # noqa: B018


def test_light_imports_load_no_deep_learning_stack():
    code = (
        "import sys, goemobalance, goemobalance.audit, goemobalance.label, goemobalance.label.models\n"
        "print(sorted(m for m in ('torch', 'transformers', 'cleanlab', 'sklearn', 'datasets') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert result.stdout.strip() == "[]"
