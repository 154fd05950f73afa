"""Output folders goemobalance writes into: paths kept inside them, and a record of what it wrote.

Two rules protect the user's files:

- every output path is resolved inside the folder the user named (`OwnedFolder.resolve`): an absolute
  path, ``..`` or a symbolic link leading out is an `InputError`;
- goemobalance deletes or replaces only what it wrote. Each folder keeps a record
  (``.goemobalance-written.json``) of the entries written there; an entry that is a folder owns everything
  below it. A folder holding files not in the record is written into only with ``overwrite=True`` (the
  command line's ``--overwrite``), and even then those files are left alone unless goemobalance writes a
  file of the same name.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from goemobalance.atomic import TEMP_MARK, temporary_sibling, write_json
from goemobalance.errors import InputError

RECORD_NAME = ".goemobalance-written.json"
SHOWN_FOREIGN = 3


class OwnedFolder:
    """A folder goemobalance writes into, with the record of the entries it wrote there.

    Parameters
    ----------
    root : str or Path
        The folder (created on the first write, not before).
    overwrite : bool
        Allow writing into a folder that holds files goemobalance did not write.
    """

    def __init__(self, root: str | Path, *, overwrite: bool = False) -> None:
        self.root = Path(root)
        self.overwrite = overwrite

    def resolve(self, relative: str, field: str) -> Path:
        """The path of `relative` inside the folder; `field` names the setting in the error.

        Parameters
        ----------
        relative : str
            A relative path (``dataset``, ``release/v1``).
        field : str
            What set it (``"recipe.yaml: publish.folder"``), for the message.

        Returns
        -------
        Path
            ``root / relative``.

        Raises
        ------
        InputError
            For an empty, absolute or ``..`` path, or one that a symbolic link leads out of the folder.
        """
        check_relative(relative, field)
        path = self.root / relative
        root = self.root.resolve()
        resolved = path.resolve()
        if resolved != root and root not in resolved.parents:
            raise InputError(f"{field}: {relative!r} leads outside the output folder {self.root} (a link?)")
        return path

    def recorded(self) -> set[str]:
        """Entries goemobalance wrote here (relative ``/``-separated paths); empty when there is no record.

        The record is a file in the user's folder, so it is not trusted: an entry that is not a plain path
        inside the folder (absolute, ``..``, ``.``) is ignored, never owned, replaced or deleted.
        """
        try:
            data = json.loads((self.root / RECORD_NAME).read_text(encoding="utf-8"))
            return {str(entry) for entry in data.get("written", []) if _inside(str(entry))}
        except (OSError, ValueError, AttributeError, TypeError):
            return set()

    def foreign_files(self) -> list[str]:
        """Files under the folder that goemobalance did not write (not recorded, not a temporary)."""
        if not self.root.is_dir():
            return []
        owned = self.recorded()
        found = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            here = PurePosixPath(Path(dirpath).relative_to(self.root).as_posix())
            dirnames[:] = [d for d in dirnames if not _owned(here / d, owned) and TEMP_MARK not in d]
            for name in filenames:
                relative = here / name
                if str(relative) != RECORD_NAME and TEMP_MARK not in name and not _owned(relative, owned):
                    found.append(str(relative))
        return sorted(found)

    def check(self, what: str = "output folder", *, error: type[InputError] = InputError) -> None:
        """Raise `error` when the folder holds files goemobalance did not write and overwrite is off."""
        if self.overwrite:
            return
        foreign = self.foreign_files()
        if foreign:
            shown = ", ".join(foreign[:SHOWN_FOREIGN]) + (", ..." if len(foreign) > SHOWN_FOREIGN else "")
            raise error(
                f"{what} {self.root} holds {len(foreign)} file(s) goemobalance did not write ({shown}); "
                "pass --overwrite to write into it anyway (files with other names are kept), or choose "
                "an empty folder"
            )

    def claim(self, entries: Iterable[str]) -> None:
        """Add `entries` to the record; call it before writing them, so an interruption never orphans one."""
        entries = {_posix(entry) for entry in entries}
        recorded = self.recorded()
        if entries <= recorded:
            return
        self._write_record(recorded | entries)

    def install(self, staged: str | Path, files: Iterable[str]) -> list[str]:
        """Move the finished `files` from the folder `staged` into place; remove files written earlier and
        not rewritten now (stale shards); return the removed ones. Files goemobalance did not write stay."""
        staged = Path(staged)
        files = sorted(_posix(f) for f in files)
        targets = [self.resolve(relative, f"writing {relative}") for relative in files]
        previous = self.recorded()
        self._write_record(previous | set(files))
        for relative, target in zip(files, targets):
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged / relative, target)
        stale = sorted(entry for entry in previous - set(files) if self._leads_inside(entry))
        for relative in stale:
            _remove(self.root / relative)
        self._write_record(set(files))
        return stale

    def _leads_inside(self, relative: str) -> bool:
        """True when `relative` resolves inside the folder (no symbolic link along it leads out)."""
        try:
            self.resolve(relative, relative)
        except InputError:
            return False
        return True

    def _write_record(self, entries: set[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(self.root / RECORD_NAME, {"written": sorted(entries)}, redact=False)

    def staging_folder(self) -> Path:
        """A new empty temporary folder inside the folder, for `install` (same file system: atomic renames)."""
        self.root.mkdir(parents=True, exist_ok=True)
        staged = temporary_sibling(self.root / "staging")
        staged.mkdir()
        return staged


@contextmanager
def writing_into(root: str | Path, *, overwrite: bool, what: str = "output folder") -> Iterator[Path]:
    """For a command that writes files of its own into the folder `root` (``audit --out``, ``generate
    --out``): refuse a folder holding files goemobalance did not write unless `overwrite`, then record the
    files the block wrote, even when it fails, so a rerun into the same folder needs no flag.

    Parameters
    ----------
    root : str or Path
        The folder the user named.
    overwrite : bool
        The command's ``--overwrite``: write even though foreign files are there (they are kept unless a
        file of the same name is written).
    what : str
        How the error names the folder.

    Yields
    ------
    Path
        `root` (not created here: a command that fails before writing leaves nothing behind).

    Raises
    ------
    InputError
        When `root` holds foreign files and `overwrite` is off (before anything is written).
    """
    folder = OwnedFolder(root, overwrite=overwrite)
    folder.check(what)
    foreign = set(folder.foreign_files())
    try:
        yield folder.root
    finally:
        folder.claim(set(folder.foreign_files()) - foreign)


def check_relative(relative: str, field: str) -> None:
    """Raise `InputError` unless `relative` is a non-empty relative path with no ``..`` part."""
    if not isinstance(relative, str) or not relative.strip() or relative.strip() in (".", "./"):
        raise InputError(f"{field}: must name a folder inside the output folder, got {relative!r}")
    path = PurePosixPath(relative.replace("\\", "/"))
    if path.is_absolute() or Path(relative).is_absolute() or relative.startswith("~"):
        raise InputError(f"{field}: {relative!r} is absolute; give a folder name inside the output folder")
    if ".." in path.parts:
        raise InputError(f"{field}: {relative!r} leads outside the output folder ('..' is not allowed)")


def _inside(entry: str) -> bool:
    """True for a relative path with no ``..`` that names something below the folder (not the folder)."""
    try:
        check_relative(entry, RECORD_NAME)
    except InputError:
        return False
    return True


def _owned(relative: PurePosixPath, owned: set[str]) -> bool:
    return str(relative) in owned or any(str(parent) in owned for parent in relative.parents)


def _posix(entry: str | Path) -> str:
    return PurePosixPath(Path(entry).as_posix()).as_posix()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


__all__ = ["RECORD_NAME", "OwnedFolder", "check_relative", "writing_into"]
