"""What decided a build's output besides its inputs: the versions of goemobalance and its libraries."""

from __future__ import annotations

import platform
from importlib import metadata

#: The packages whose versions can change a build's output, recorded in every manifest.
OUTPUT_PACKAGES: tuple[str, ...] = (
    "goemobalance", "datasets", "pyarrow", "numpy", "pandas", "scikit-learn", "torch", "transformers",
    "cleanlab", "gensim", "openai", "huggingface_hub",
)  # fmt: skip


def package_versions() -> dict[str, str]:
    """Python's version and the installed version of each of `OUTPUT_PACKAGES` (``"not installed"``).

    Returns
    -------
    dict
        ``{"python": "3.12.3", "datasets": "...", ...}``.
    """
    versions = {"python": platform.python_version()}
    for name in OUTPUT_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def code_version() -> str:
    """goemobalance's own version, part of every stage key (a new release recomputes every stage)."""
    from goemobalance import __version__

    return __version__


__all__ = ["OUTPUT_PACKAGES", "code_version", "package_versions"]
