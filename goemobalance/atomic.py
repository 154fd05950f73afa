"""Atomic writes: a file or folder is written into a temporary sibling and renamed into place.

A reader (or a build resumed after ``kill -9``) therefore sees either the old complete file or the new
complete file, never half of one. Temporary siblings are named ``.<name>.goemobalance-tmp-<hex>`` so that
`remove_temporaries` can clear what an interrupted writer left without touching anyone else's files.
This is the one place in the package that writes files this way; JSON written here is redacted with
`goemobalance.redact` unless the caller says the content is data (stage outputs).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from goemobalance.redact import redact_data, redact_text

TEMP_MARK = ".goemobalance-tmp-"


def temporary_sibling(path: str | Path) -> Path:
    """A fresh path next to `path` (same folder, so a rename is atomic) that nobody else uses."""
    path = Path(path)
    return path.with_name(f".{path.name}{TEMP_MARK}{secrets.token_hex(4)}")


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path` to write; when the block ends without error it becomes `path`.

    For writers that need a file name or a handle of their own (parquet, numpy, a streamed CSV). On error
    the temporary file is removed and `path` is left as it was. Parent folders are created.

    Parameters
    ----------
    path : str or Path
        The file to write.

    Returns
    -------
    Iterator[Path]
        The temporary path to write (the writer must close its handle before the block ends).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically (parent folders are created)."""
    with replacing(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)


def write_text(path: str | Path, text: str, *, redact: bool = True) -> Path:
    """Write UTF-8 `text` atomically; secrets are redacted first unless `redact` is False."""
    return write_bytes(path, (redact_text(text) if redact else text).encode("utf-8"))


def write_json(
    path: str | Path, value: Any, *, redact: bool = True, indent: int | None = 2, sort_keys: bool = True
) -> Path:
    """Write `value` as JSON atomically; secrets are redacted first unless `redact` is False."""
    if redact:
        value = redact_data(value)
    text = json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=False, default=_json_default)
    return write_bytes(path, (text + "\n").encode("utf-8"))


@contextmanager
def staged_folder(target: str | Path) -> Iterator[Path]:
    """Yield an empty temporary sibling of `target`; when the block ends without error it replaces `target`.

    The old `target` (if any) is renamed aside and removed only after the new one is in place, so an
    interruption leaves either the old or the new folder. On error the temporary folder is removed.
    Use it only for folders whose whole content the caller owns.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = temporary_sibling(target)
    staged.mkdir()
    try:
        yield staged
        replace_folder(staged, target)
    finally:
        if staged.exists():
            shutil.rmtree(staged)


def replace_folder(staged: str | Path, target: str | Path) -> None:
    """Put the finished folder `staged` at `target`, removing the old `target` after the swap."""
    staged, target = Path(staged), Path(target)
    old = temporary_sibling(target) if target.exists() else None
    if old is not None:
        os.replace(target, old)
    os.replace(staged, target)
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()


def remove_temporaries(folder: str | Path) -> list[Path]:
    """Remove what interrupted atomic writers left directly in `folder` (only names this module makes)."""
    folder = Path(folder)
    removed = []
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith(".") and TEMP_MARK in path.name:
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
                removed.append(path)
    return removed


def _json_default(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if hasattr(value, "tolist") and callable(value.tolist):
        return value.tolist()
    if isinstance(value, set):
        return sorted(value)
    return str(value)


__all__ = [
    "TEMP_MARK",
    "remove_temporaries",
    "replace_folder",
    "replacing",
    "staged_folder",
    "temporary_sibling",
    "write_bytes",
    "write_json",
    "write_text",
]
