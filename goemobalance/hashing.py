"""Content hashes: stable keys for settings, sha256 of files and of every file under a folder.

Stage cache keys, input fingerprints in the manifest and the stage-output checksums that make a rerun
notice a changed or truncated file all come from here. The content hash of a published dataset (rows, not
files) is `goemobalance.publish.dataset_hash`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

CHUNK_BYTES = 1 << 20


def stable_hash(value: Any) -> str:
    """sha256 of a JSON-serialisable value with sorted keys (non-JSON values by their ``str``).

    Parameters
    ----------
    value : Any
        Settings, keys of earlier stages, fingerprints.

    Returns
    -------
    str
        64 hexadecimal digits, the same for equal values on every machine.
    """
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in chunks.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def folder_checksums(folder: str | Path) -> dict[str, str]:
    """sha256 of every file under `folder`, keyed by its path relative to `folder` (``/``-separated).

    Parameters
    ----------
    folder : str or Path
        The folder to checksum (symbolic links are followed as files).

    Returns
    -------
    dict
        ``{relative path: sha256}`` in sorted order.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): file_sha256(p) for p in files}


def changed_files(folder: str | Path, expected: dict[str, str]) -> list[str]:
    """The files of `expected` that are missing, unreadable or differ under `folder`, with the reason.

    Parameters
    ----------
    folder : str or Path
        The folder the checksums were taken in.
    expected : dict
        ``{relative path: sha256}`` as returned by `folder_checksums`.

    Returns
    -------
    list of str
        ``"<path> (missing)"``, ``"<path> (unreadable: ...)"`` or ``"<path> (changed)"``; empty when all match.
    """
    folder = Path(folder)
    problems = []
    for relative, digest in expected.items():
        path = folder / relative
        if not path.is_file():
            problems.append(f"{relative} (missing)")
            continue
        try:
            actual = file_sha256(path)
        except OSError as exc:
            problems.append(f"{relative} (unreadable: {exc.strerror or exc})")
            continue
        if actual != digest:
            problems.append(f"{relative} (changed)")
    return problems


__all__ = ["changed_files", "file_sha256", "folder_checksums", "stable_hash"]
