"""Runs a recipe: load sources, pseudo-label, generate with an LLM, balance, split, audit, publish.

Each stage is a function from datasets to datasets; `run_recipe` chains them through a `StageCache`
so that finished stages are loaded instead of recomputed, and writes ``manifest.json`` at the end.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import datasets

from goemobalance.data import packaged_file
from goemobalance.label import (
    EmbeddingLogRegLabeler,
    ProbaLabeler,
    SelectionRule,
    TfidfLogRegLabeler,
    TransformerLabeler,
    accept,
)
from goemobalance.recipe import (
    LabelerSpec,
    Recipe,
    RecipeError,
    SourceSpec,
    StageCache,
    file_sha256,
    load_recipe,
    package_versions,
    stable_hash,
)
from goemobalance.schema import COLUMNS, multi_hot, split_labeled

log = logging.getLogger(__name__)


@dataclass
class BuildResult:
    """What `run_recipe` made: the published folder, the split dataset, the manifest and stage timings."""

    out_dir: Path
    dataset_dir: Path
    dataset: datasets.DatasetDict
    manifest: dict[str, Any]

    @property
    def output_hash(self) -> str:
        return self.manifest["output_hash"]


def _timed(log: dict[str, Any], stage: str, cache: StageCache, key: str, compute: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    output, hit = cache.run(stage, key, compute)
    rows = output.num_rows if isinstance(output, (datasets.Dataset, datasets.DatasetDict)) else None
    log[stage] = {"key": key, "cached": hit, "seconds": round(time.perf_counter() - start, 3), "rows": rows}
    return output


def source_file(recipe: Recipe, spec: SourceSpec) -> str | None:
    """The concrete path (or Hub id) a source reads: ``packaged`` means the copy shipped in the package."""
    if spec.path == "packaged":
        name = f"goemotions/{spec.split}" if spec.type == "goemotions" else "sentiment140/sample"
        return str(packaged_file(name))
    return recipe.resolve(spec.path)


def load_source(recipe: Recipe, spec: SourceSpec) -> datasets.Dataset:
    """One source of the recipe as a Dataset in the record schema."""
    from goemobalance import sources

    path = source_file(recipe, spec)
    options = dict(spec.options)
    if spec.type == "goemotions":
        dataset = sources.load_goemotions(path, split=spec.split, **options)
    elif spec.type == "sentiment140":
        dataset = sources.load_sentiment140(path, **options)
    elif spec.type == "table":
        dataset = sources.load_table(path, **options)
    else:
        dataset = sources.load_dataset_any(path, split=spec.split)
    if spec.limit is not None:
        dataset = dataset.select(range(min(spec.limit, len(dataset))))
    return dataset


def input_fingerprints(recipe: Recipe) -> list[dict[str, Any]]:
    """sha256 of every local input file (Hub ids are recorded by name), for stage keys and the manifest."""
    prints = []
    for spec in recipe.sources:
        path = source_file(recipe, spec)
        entry: dict[str, Any] = {"type": spec.type, "path": spec.path, "split": spec.split}
        if path and Path(path).is_file():
            entry["sha256"] = file_sha256(path)
        prints.append(entry)
    return prints


def concatenate(parts: list[datasets.Dataset]) -> datasets.Dataset:
    """Concatenate datasets in the record schema (same features, columns in schema order)."""
    parts = [p.select_columns(list(COLUMNS)) for p in parts if len(p)]
    if not parts:
        raise RecipeError("the recipe's sources gave no rows")
    return datasets.concatenate_datasets(parts)


def selection_rule(spec: LabelerSpec) -> SelectionRule:
    """The labeler's selection rule from the recipe (``threshold: tuned`` means per-label, tuned on dev)."""
    threshold = 0.5 if spec.threshold == "tuned" else spec.threshold
    return SelectionRule(
        threshold=threshold,
        min_confidence=spec.min_confidence or 0.0,
        max_labels=spec.max_labels,
        top1_fallback=spec.top1_fallback,
    )


def make_labeler(recipe: Recipe, out: Path) -> ProbaLabeler:
    """The recipe's pseudo-labeler: a `transformers` model, or an offline labeler trained on GoEmotions."""
    spec = recipe.labeler
    rule = selection_rule(spec)
    if spec.type == "transformer":
        return TransformerLabeler(
            spec.model, revision=spec.revision, rule=rule, cache_dir=out / "cache" / "label"
        )
    if spec.type != "offline":
        raise RecipeError(f"labeler.type must be 'offline' or 'transformer', got {spec.type!r}")
    kinds = {"tfidf": TfidfLogRegLabeler, "minilm": EmbeddingLogRegLabeler}
    if spec.model not in kinds:
        raise RecipeError(
            f"labeler.model for an offline labeler must be one of {sorted(kinds)}, got {spec.model!r}"
        )
    train = _goemotions_split(recipe, spec.train_path, "train")
    labeler = kinds[spec.model](rule=rule).fit(train["text"], multi_hot(train))
    if spec.threshold == "tuned":
        dev = _goemotions_split(recipe, spec.train_path, "dev")
        labeler.tune_thresholds(dev["text"], multi_hot(dev))
    labeler.save(out / "models" / "labeler")
    return labeler


def _goemotions_split(recipe: Recipe, path: str | None, split: str) -> datasets.Dataset:
    from goemobalance.sources import load_goemotions

    return load_goemotions(source_file(recipe, SourceSpec("goemotions", path, split)), split=split)


def pseudo_label(unlabeled: datasets.Dataset, context: dict[str, Any]) -> datasets.Dataset:
    """Label the unlabeled rows and keep those the selection rule accepts (rejections are counted)."""
    recipe: Recipe = context["recipe"]
    labeler = make_labeler(recipe, context["out"])
    labeled = labeler.label(unlabeled)
    accepted, rejected = accept(labeled, labeler.rule)
    log.info(
        "pseudo-labeler accepted %d of %d rows (%d rejected)", len(accepted), len(labeled), len(rejected)
    )
    return accepted


@dataclass(frozen=True)
class Stage:
    """One step of a build: its settings (None = skipped) decide its cache key; `run` makes its output."""

    name: str
    settings: Callable[[Recipe], Any]
    run: Callable[[dict[str, Any]], Any]


def _sources_stage(context: dict[str, Any]) -> datasets.Dataset:
    recipe: Recipe = context["recipe"]
    return concatenate([load_source(recipe, spec) for spec in recipe.sources])


def _pseudo_label_stage(context: dict[str, Any]) -> datasets.Dataset:
    labeled, unlabeled = split_labeled(context["sources"])
    if not len(unlabeled):
        return labeled
    return concatenate([labeled, pseudo_label(unlabeled, context)])


def _llm_stage(context: dict[str, Any]) -> datasets.Dataset:
    return concatenate([context["pool"], llm_fill(context["pool"], context)])


def llm_fill(pool: datasets.Dataset, context: dict[str, Any]) -> datasets.Dataset:
    """Generate and annotate texts for what the pool still lacks; disagreements go to a review file."""
    from goemobalance.llm import export_review, fill_pool

    recipe: Recipe = context["recipe"]
    out: Path = context["out"]
    result = fill_pool(
        pool,
        dataclasses.asdict(recipe.llm),
        target=_balance_target(recipe),
        cache_path=str(out / "cache" / "llm_cache.sqlite"),
        seed=recipe.seed,
        base_dir=str(recipe.base_dir),
        test_texts=_goemotions_split(recipe, recipe.audit.eval_path or "packaged", "test"),
    )
    if len(result.review):
        export_review(result.review, out / "review" / "llm_review.csv")
    (out / "llm_report.json").write_text(json.dumps(result.report, indent=2, sort_keys=True, default=str))
    return result.accepted


def _balance_target(recipe: Recipe) -> Any:
    """The balancer's sampling strategy: ``equal`` with a ``target`` means that count for every label."""
    spec = recipe.balance
    return spec.target if spec.sampling_strategy == "equal" and spec.target else spec.sampling_strategy


def _balance_stage(context: dict[str, Any]) -> datasets.Dataset:
    from goemobalance.balance.sampling import balance_dataset

    recipe: Recipe = context["recipe"]
    spec = recipe.balance
    pool = context.get("llm") or context["pool"]
    return balance_dataset(
        pool,
        sampling_strategy=_balance_target(recipe),
        source_priority=tuple(spec.source_priority),
        source_caps=spec.source_caps,
        seed=recipe.seed,
    )


def _split_stage(context: dict[str, Any]) -> datasets.DatasetDict:
    from goemobalance.balance.split import train_val_test_split

    recipe: Recipe = context["recipe"]
    return train_val_test_split(
        context["balanced"], sizes=tuple(recipe.split.sizes), order=recipe.split.order, seed=recipe.seed
    )


def _train_stage(context: dict[str, Any]) -> dict[str, Any]:
    """Balanced vs imbalanced: the hybrid model trained on the build and on GoEmotions train, same config and
    seed, both evaluated on the untouched GoEmotions test split (validation: GoEmotions dev)."""
    from goemobalance.train import TrainConfig
    from goemobalance.train.compare import compare

    recipe: Recipe = context["recipe"]
    goemotions = recipe.sources[0].path if recipe.sources[0].type == "goemotions" else "packaged"
    config = TrainConfig.from_dict({"seed": recipe.seed, **recipe.train.config})
    return compare(
        context["split"]["train"],
        _goemotions_split(recipe, goemotions, "train"),
        _goemotions_split(recipe, recipe.audit.eval_path or "packaged", "test"),
        _goemotions_split(recipe, goemotions, "dev"),
        config,
        context["out"] / "compare",
    )


def _audit_stage(context: dict[str, Any]) -> dict[str, Any]:
    """Audit every split, plus the GoEmotions test split so any leak into the build is found."""
    from goemobalance.audit import audit

    recipe: Recipe = context["recipe"]
    spec = recipe.audit
    splits = dict(context["split"])
    if spec.eval_path:
        splits["goemotions_test"] = _goemotions_split(recipe, spec.eval_path, "test")
    report = audit(
        splits, model=spec.model, folds=spec.folds, seed=recipe.seed, cache_dir=context["out"] / "cache"
    )
    report.save(context["out"] / "audit")
    return report.to_dict()


STAGES: tuple[Stage, ...] = (
    Stage("sources", lambda r: [dataclasses.asdict(s) for s in r.sources], _sources_stage),
    Stage("pool", lambda r: dataclasses.asdict(r.labeler), _pseudo_label_stage),
    Stage("llm", lambda r: _llm_settings(r) if r.llm.enabled else None, _llm_stage),
    Stage("balanced", lambda r: dataclasses.asdict(r.balance), _balance_stage),
    Stage("split", lambda r: dataclasses.asdict(r.split), _split_stage),
    Stage("audit", lambda r: dataclasses.asdict(r.audit) if r.audit.enabled else None, _audit_stage),
    Stage("train", lambda r: dataclasses.asdict(r.train) if r.train.enabled else None, _train_stage),
)


def _llm_settings(recipe: Recipe) -> dict[str, Any]:
    """LLM settings for the cache key: everything but where the key comes from."""
    settings = dataclasses.asdict(recipe.llm)
    settings.pop("api_key_env")
    return settings


def run_recipe(recipe: Recipe | str | Path, out_dir: str | Path | None = None) -> BuildResult:
    """Run every stage of `recipe`, resuming finished stages found under `out_dir`; return the result."""
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    out = Path(out_dir or Path("out") / recipe.name)
    out.mkdir(parents=True, exist_ok=True)
    cache = StageCache(out / "stages")
    timings: dict[str, Any] = {}
    context: dict[str, Any] = {"recipe": recipe, "out": out, "inputs": input_fingerprints(recipe)}
    key = stable_hash({"inputs": context["inputs"], "seed": recipe.seed, "version": _code_version()})
    for stage in STAGES:
        settings = stage.settings(recipe)
        if settings is None:
            continue
        key = stable_hash({"previous": key, "stage": stage.name, "settings": settings})
        context[stage.name] = _timed(timings, stage.name, cache, key, partial(stage.run, context))
    return _finish(recipe, out, context, timings)


def _code_version() -> str:
    from goemobalance import __version__

    return __version__


def _finish(recipe: Recipe, out: Path, context: dict[str, Any], timings: dict[str, Any]) -> BuildResult:
    from goemobalance import publish

    dataset_dict: datasets.DatasetDict = context["split"]
    manifest = {
        "recipe": recipe.name,
        "recipe_sha256": stable_hash(recipe.settings()),
        "seed": recipe.seed,
        "inputs": context["inputs"],
        "models": context.get("models", {}),
        "packages": package_versions(),
        "stages": timings,
        "rows": {name: split.num_rows for name, split in dataset_dict.items()},
        "output_hash": publish.dataset_hash(dataset_dict),
    }
    dataset_dir = out / recipe.publish.folder
    publish.save(
        dataset_dict,
        dataset_dir,
        before=context.get("pool"),
        audit=context.get("audit"),
        recipe_text=recipe.text,
        manifest=manifest,
        license=recipe.publish.license,
        pretty_name=recipe.publish.pretty_name or recipe.name,
    )
    if (out / "audit").is_dir():
        shutil.copytree(out / "audit", dataset_dir / "audit", dirs_exist_ok=True)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return BuildResult(out_dir=out, dataset_dir=dataset_dir, dataset=dataset_dict, manifest=manifest)


def summarize(result: BuildResult) -> str:
    """A short human summary of a build: rows per split, per-label counts and their spread, the hash."""
    from goemobalance.balance.stats import distribution_stats

    dataset = datasets.concatenate_datasets(list(result.dataset.values()))
    stats = distribution_stats(dataset).as_dict()
    counts = stats["label_counts"]
    lines = [
        f"built {result.manifest['recipe']} -> {result.dataset_dir}",
        "rows: " + ", ".join(f"{name} {rows}" for name, rows in result.manifest["rows"].items()),
        (
            f"per-label counts: min {min(counts.values())}, max {max(counts.values())}, "
            f"coefficient of variation {_cv(list(counts.values())):.3f}, MeanIR {stats['mean_ir']:.2f}"
        ),
        "  " + ", ".join(f"{name} {count}" for name, count in counts.items()),
        f"output hash: {result.output_hash}",
    ]
    return "\n".join(lines)


def _cv(values: list[int]) -> float:
    import numpy as np

    array = np.asarray(values, dtype=float)
    return float(array.std(ddof=0) / array.mean()) if array.mean() else float("nan")
