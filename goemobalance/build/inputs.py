"""Where a recipe's data lives: source files, the GoEmotions evaluation copy, their fingerprints, and what
to say when one is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets

from goemobalance.data import packaged_file
from goemobalance.errors import InputError
from goemobalance.hashing import file_sha256
from goemobalance.recipe import Recipe, SourceSpec, looks_like_hub_id

#: Where to get each kind of source, named in the error when a recipe's file is missing.
DOWNLOAD_HINTS: dict[str, str] = {
    "sentiment140": "download trainingandtestdata.zip from the Sentiment140 site "
    "(http://help.sentiment140.com/for-students, or https://cs.stanford.edu/people/alecmgo/trainingandtestdata.zip) "
    "and unzip training.1600000.processed.noemoticon.csv to that path",
    "goemotions": "get train.tsv, dev.tsv and test.tsv from https://github.com/google-research/google-research "
    "(folder goemotions/data), or use path: packaged for the copy shipped with goemobalance",
}


def source_file(recipe: Recipe, spec: SourceSpec) -> str | None:
    """The concrete path (or Hub id) a source reads: ``packaged`` means the copy shipped in the package."""
    if spec.path == "packaged":
        name = f"goemotions/{spec.split}" if spec.type == "goemotions" else "sentiment140/sample"
        return str(packaged_file(name))
    return recipe.resolve(spec.path)


def goemotions_file(recipe: Recipe, location: str, split: str) -> str:
    """The file or folder (or Hub id) holding GoEmotions `split` for a ``packaged``/path/Hub-id `location`."""
    if location == "packaged":
        return str(packaged_file(f"goemotions/{split}"))
    return recipe.resolve(location) or location


def load_goemotions_split(recipe: Recipe, location: str, split: str) -> datasets.Dataset:
    """GoEmotions `split` (train, dev, test) from `location`, as the recipe resolves it."""
    from goemobalance.sources import load_goemotions

    return load_goemotions(goemotions_file(recipe, location, split), split=split)


def evaluation_split(recipe: Recipe, split: str) -> datasets.Dataset:
    """GoEmotions dev or test from the recipe's ``evaluation.goemotions`` copy."""
    return load_goemotions_split(recipe, recipe.evaluation.goemotions, split)


def goemotions_fingerprint(recipe: Recipe, location: str, split: str) -> dict[str, Any]:
    """What identifies a GoEmotions split: the sha256 of its local file (of every file of a folder), or the
    Hub id by name."""
    entry: dict[str, Any] = {"goemotions": location, "split": split}
    return {**entry, **content_sha256(goemotions_file(recipe, location, split))}


def source_fingerprints(recipe: Recipe) -> list[dict[str, Any]]:
    """One fingerprint per source (type, path, split, sha256 of the local file), for keys and the manifest."""
    return [
        {
            "type": spec.type,
            "path": spec.path,
            "split": spec.split,
            **content_sha256(source_file(recipe, spec)),
        }
        for spec in recipe.sources
    ]


def content_sha256(location: str | None) -> dict[str, Any]:
    """``{"sha256": ...}`` for a local file, ``{"sha256": {name: ...}}`` for the files of a local folder,
    ``{}`` for a Hub id (recorded by name only)."""
    path = Path(location) if location else None
    if path is not None and path.is_file():
        return {"sha256": file_sha256(path)}
    if path is not None and path.is_dir():
        return {"sha256": {p.name: file_sha256(p) for p in sorted(path.iterdir()) if p.is_file()}}
    return {}


def evaluation_fingerprint(recipe: Recipe) -> list[dict[str, Any]]:
    """sha256 of the GoEmotions dev and test files the build is evaluated on."""
    return [goemotions_fingerprint(recipe, recipe.evaluation.goemotions, split) for split in ("dev", "test")]


def missing_inputs(recipe: Recipe) -> None:
    """Raise `InputError` for the first local input that does not exist, naming the field, the path and
    where to download it. Hub ids are not checked here (they need the network)."""
    where = recipe.where
    for i, spec in enumerate(recipe.sources):
        _require(recipe, spec.path, f"{where}: sources[{i}].path", spec.type)
    _require(recipe, recipe.evaluation.goemotions, f"{where}: evaluation.goemotions", "goemotions")
    if recipe.labeler.type == "offline":
        _require(recipe, recipe.labeler.train_path, f"{where}: labeler.train_path", "goemotions")


def _require(recipe: Recipe, location: str | None, field: str, kind: str) -> None:
    if location is None or location == "packaged" or looks_like_hub_id(location, recipe.base_dir):
        return
    resolved = recipe.resolve(location)
    if resolved and not Path(resolved).exists():
        hint = DOWNLOAD_HINTS.get(kind)
        raise InputError(f"{field}: {resolved} not found" + (f"; {hint}" if hint else ""))


__all__ = [
    "DOWNLOAD_HINTS",
    "content_sha256",
    "evaluation_fingerprint",
    "evaluation_split",
    "goemotions_file",
    "goemotions_fingerprint",
    "load_goemotions_split",
    "missing_inputs",
    "source_file",
    "source_fingerprints",
]
