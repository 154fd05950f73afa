"""Declarative recipes: one YAML file describes a whole build, run as resumable stages with a manifest.

A recipe names its sources, the pseudo-labeler, the optional LLM stage, balancing targets, the split, the
audit, publishing and optional training. `run_recipe` runs the stages in order; each stage's output is
saved under ``OUT/stages/<stage>`` with a key made of its settings and its inputs' keys, so a rerun (or a
run resumed after an interruption) loads finished stages instead of recomputing them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import datasets
import yaml

from goemobalance.errors import InputError

RECIPE_VERSION = 1


class RecipeError(InputError):
    """A recipe that cannot be run; the message names the file and the field."""


@dataclass
class SourceSpec:
    """One input: ``type`` is goemotions, sentiment140, table (CSV/TSV/JSONL/Parquet) or dataset."""

    type: str
    path: str | None = None
    split: str = "train"
    limit: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class LabelerSpec:
    """The pseudo-labeler for unlabeled sources: ``offline`` (trained here) or ``transformer`` (a model id)."""

    type: str = "offline"
    model: str = "tfidf"
    train_path: str | None = "packaged"
    revision: str | None = None
    threshold: float | dict[str, float] = 0.5
    min_confidence: float | None = None
    max_labels: int | None = 3
    top1_fallback: bool = False
    batch_tokens: int | None = None


@dataclass
class LLMSpec:
    """Generation + annotation of texts for labels still short after balancing (off unless enabled)."""

    enabled: bool = False
    model: str = "gpt-4o-mini"
    annotator_model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    prompts: str | None = None
    max_new_per_label: int = 200
    concurrency: int = 16
    temperature: float = 0.9
    agreement: str = "subset"


@dataclass
class BalanceSpec:
    """Target-count selection: ``sampling_strategy`` is "equal", an int, or a dict label -> count."""

    sampling_strategy: Any = "equal"
    target: int | None = None
    source_priority: list[str] = field(default_factory=lambda: ["human", "pseudo", "llm"])
    source_caps: dict[str, Any] | None = None


@dataclass
class SplitSpec:
    """Iterative-stratified train/validation/test split of the balanced set."""

    sizes: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    order: int = 1


@dataclass
class AuditSpec:
    """Label-noise, duplicate and leakage audit of the split dataset."""

    enabled: bool = True
    model: str = "tfidf"
    folds: int = 5
    eval_path: str | None = "packaged"


@dataclass
class PublishSpec:
    """Hub-layout export (always written under OUT/``folder``) and optional upload."""

    folder: str = "dataset"
    repo_id: str | None = None
    private: bool = False
    license: str | None = None
    pretty_name: str | None = None


@dataclass
class TrainSpec:
    """Optional balanced-vs-imbalanced comparison with the hybrid model (off by default: it is slow)."""

    enabled: bool = False
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recipe:
    """A whole build, as read from a YAML file."""

    name: str
    seed: int = 0
    sources: list[SourceSpec] = field(default_factory=list)
    labeler: LabelerSpec = field(default_factory=LabelerSpec)
    llm: LLMSpec = field(default_factory=LLMSpec)
    balance: BalanceSpec = field(default_factory=BalanceSpec)
    split: SplitSpec = field(default_factory=SplitSpec)
    audit: AuditSpec = field(default_factory=AuditSpec)
    publish: PublishSpec = field(default_factory=PublishSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    version: int = RECIPE_VERSION
    base_dir: Path = field(default=Path("."), repr=False, compare=False)
    text: str = field(default="", repr=False, compare=False)

    def resolve(self, path: str | None) -> str | None:
        """A recipe path: ``packaged`` and Hub ids stay as they are, relative files are relative to the recipe."""
        if path is None or path == "packaged" or _looks_like_hub_id(path):
            return path
        candidate = Path(path).expanduser()
        return str(candidate if candidate.is_absolute() else (self.base_dir / candidate).resolve())

    def settings(self) -> dict[str, Any]:
        """The recipe as plain data (no file location), for keys and the manifest."""
        data = dataclasses.asdict(self)
        data.pop("base_dir")
        data.pop("text")
        return data


_SECTIONS: dict[str, type] = {
    "labeler": LabelerSpec,
    "llm": LLMSpec,
    "balance": BalanceSpec,
    "split": SplitSpec,
    "audit": AuditSpec,
    "publish": PublishSpec,
    "train": TrainSpec,
}


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a YAML recipe; errors name the file and the offending field."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping of sections, got {type(data).__name__}")
    recipe = recipe_from_dict(data, where=str(path))
    recipe.base_dir = path.resolve().parent
    recipe.text = text
    return recipe


def recipe_from_dict(data: dict[str, Any], where: str = "recipe") -> Recipe:
    """Build a `Recipe` from plain data, naming any unknown or missing field."""
    top = _known_fields(Recipe) - {"base_dir", "text"}
    _reject_unknown(data, top, where)
    if "name" not in data:
        raise RecipeError(f"{where}: field 'name' is required")
    kwargs: dict[str, Any] = {k: v for k, v in data.items() if k not in _SECTIONS and k != "sources"}
    for section, spec_type in _SECTIONS.items():
        kwargs[section] = _section(spec_type, data.get(section) or {}, f"{where}: {section}")
    sources = data.get("sources") or []
    if not isinstance(sources, list) or not sources:
        raise RecipeError(f"{where}: 'sources' must be a non-empty list")
    kwargs["sources"] = [_section(SourceSpec, s, f"{where}: sources[{i}]") for i, s in enumerate(sources)]
    for i, source in enumerate(kwargs["sources"]):
        if source.type not in SOURCE_TYPES:
            raise RecipeError(
                f"{where}: sources[{i}].type {source.type!r} is not one of {sorted(SOURCE_TYPES)}"
            )
    if not isinstance(kwargs.get("seed", 0), int):
        raise RecipeError(f"{where}: 'seed' must be an integer")
    _check_split(kwargs["split"], where)
    return Recipe(**kwargs)


def _check_split(split: SplitSpec, where: str) -> None:
    sizes = split.sizes
    if len(sizes) != 3 or any(s < 0 for s in sizes) or abs(sum(sizes) - 1.0) > 1e-6:
        raise RecipeError(
            f"{where}: split.sizes must be three non-negative fractions summing to 1, got {sizes}"
        )
    if split.order not in (1, 2):
        raise RecipeError(f"{where}: split.order must be 1 or 2, got {split.order}")


def _section(spec_type: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise RecipeError(f"{where}: expected a mapping, got {type(data).__name__}")
    _reject_unknown(data, _known_fields(spec_type), where)
    try:
        return spec_type(**data)
    except TypeError as exc:
        raise RecipeError(f"{where}: {exc}") from exc


def _known_fields(spec_type: type) -> set[str]:
    return {f.name for f in dataclasses.fields(spec_type)}


def _reject_unknown(data: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise RecipeError(f"{where}: unknown field(s) {unknown}; known fields: {sorted(known)}")


def _looks_like_hub_id(path: str) -> bool:
    return path.count("/") == 1 and not Path(path).exists() and not path.startswith((".", "/", "~"))


SOURCE_TYPES = {"goemotions", "sentiment140", "table", "dataset"}


def stable_hash(value: Any) -> str:
    """sha256 of a JSON-serialisable value with sorted keys: the key of stage settings."""
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class StageCache:
    """Finished stage outputs under ``root/<stage>``; a stage is finished once its ``key`` file is written."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def run(self, stage: str, key: str, compute: Callable[[], Any]) -> tuple[Any, bool]:
        """Load the stage's saved output when its key matches, else compute and save it; returns (output, hit)."""
        folder = self.root / stage
        if (folder / "key").is_file() and (folder / "key").read_text() == key:
            return _load_stage(folder / "data"), True
        output = compute()
        _save_stage(output, folder)
        (folder / "key").write_text(key)
        if isinstance(output, (datasets.Dataset, datasets.DatasetDict)):
            output = _load_stage(folder / "data")  # memory-mapped: later stages do not hold it in RAM
        return output, False


def _save_stage(output: Any, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "key"
    if key_file.exists():
        key_file.unlink()
    if isinstance(output, (datasets.Dataset, datasets.DatasetDict)):
        tmp = folder / "data.tmp"
        output.save_to_disk(str(tmp))
        target = folder / "data"
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    else:
        (folder / "data.json").write_text(json.dumps(output, sort_keys=True, default=str))


def _load_stage(data_path: Path) -> Any:
    if data_path.exists():
        return datasets.load_from_disk(str(data_path))
    return json.loads((data_path.parent / "data.json").read_text())


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide the output, for the manifest."""
    names = ["goemobalance", "datasets", "pyarrow", "numpy", "pandas", "scikit-learn", "torch",
             "transformers", "cleanlab", "gensim", "openai", "huggingface_hub"]  # fmt: skip
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


__all__ = [
    "AuditSpec",
    "BalanceSpec",
    "LLMSpec",
    "LabelerSpec",
    "PublishSpec",
    "Recipe",
    "RecipeError",
    "SourceSpec",
    "SplitSpec",
    "StageCache",
    "TrainSpec",
    "file_sha256",
    "load_recipe",
    "package_versions",
    "recipe_from_dict",
    "stable_hash",
]  # fmt: skip
