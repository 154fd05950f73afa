"""Package attributes imported on first use (PEP 562), so a light import never pays for a heavy sibling.

``import goemobalance``, ``goemobalance.audit.defaults`` and ``goemobalance.label.models`` must not load
torch, cleanlab or scikit-learn (the command line's ``--help`` and recipe checks start fast); their
packages' ``__init__`` therefore name where each export lives and let `lazy_exports` import it when asked.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, homes: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of a package whose exports load on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    homes : mapping of str to str
        Exported name -> the submodule (relative to `package`) that defines it.
    namespace : dict
        The package's ``globals()``: a loaded name is stored there, so it is imported only once.

    Returns
    -------
    (__getattr__, __dir__)
        Functions to assign to the package's module-level ``__getattr__`` and ``__dir__``.
    """

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{homes[name]}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(homes))

    return __getattr__, __dir__


__all__ = ["lazy_exports"]
