"""The stages of a build, as objects with declared inputs, settings (their cache key) and an output.

| stage | inputs | output |
|---|---|---|
| sources | the recipe's sources | all rows, labeled and unlabeled |
| pool | sources | human rows + pseudo-labelled rows the labeler's rule accepts |
| screened | pool | pool without rows whose text is a GoEmotions dev/test text (the leak guard) |
| llm | screened | screened + generated, annotated texts for labels short of target (off: screened) |
| balanced | llm | the rows the balancer keeps |
| split | balanced, llm | train / validation / test (`split.mode`) |
| audit | split | the audit report |
| train | split | balanced vs imbalanced comparison on GoEmotions test |
| publish | split, llm, audit, train | the Hub folder, manifest and exported reports (never cached) |

A stage's key is the sha256 of its name, settings, the seed, the code version and the keys of its inputs,
so a changed setting reruns that stage and the ones that read it, and nothing else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import datasets
import numpy as np

from goemobalance.atomic import staged_folder, write_json
from goemobalance.build import inputs
from goemobalance.build.cache import StageOutput
from goemobalance.build.context import BuildContext
from goemobalance.errors import InputError, NothingAcceptedError
from goemobalance.hashing import stable_hash
from goemobalance.provenance import code_version, package_versions
from goemobalance.recipe import BalanceSpec, LabelerSpec, Recipe, SourceSpec
from goemobalance.schema import COLUMNS, column, split_labeled


class Stage:
    """One step of a build. Subclasses declare `name`, `inputs` and implement `settings` and `run`."""

    name: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]] = ()
    cached: ClassVar[bool] = True

    def skip_reason(self, recipe: Recipe) -> str | None:
        """Why the stage does not run for `recipe` (None: it runs)."""
        return None

    def passthrough(self, ctx: BuildContext) -> Any:
        """The output of a skipped stage (stages that can be skipped and are read by others pass one on)."""
        return None

    def settings(self, recipe: Recipe) -> Any:
        """Everything of the recipe (and its input files) that decides this stage's output."""
        raise NotImplementedError

    def key(self, recipe: Recipe, keys: dict[str, str]) -> str:
        """The stage's cache key: its settings, the seed, the code version and its inputs' keys."""
        return stable_hash(
            {
                "stage": self.name,
                "version": code_version(),
                "seed": recipe.seed,
                "settings": self.settings(recipe),
                "inputs": [keys.get(name) for name in self.inputs],
            }
        )

    def skip(self, keys: dict[str, str]) -> None:
        """Record the key of the skipped stage: its first input's, whose output it passes on, so the
        stages reading it keep their keys."""
        if self.inputs and self.inputs[0] in keys:
            keys[self.name] = keys[self.inputs[0]]

    def rows_in(self, ctx: BuildContext) -> int | None:
        """Rows of the first input (for the progress line)."""
        return _rows(ctx.output(self.inputs[0])) if self.inputs else None

    def run(self, ctx: BuildContext, artifacts: Path) -> StageOutput:
        """Compute the output from the context; files worth keeping go under `artifacts`."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------------------


class SourcesStage(Stage):
    """Load every source into the record schema; rows skipped by a loader are counted by reason."""

    name = "sources"

    def settings(self, recipe: Recipe) -> Any:
        return {
            "sources": [dataclasses.asdict(s) for s in recipe.sources],
            "files": inputs.source_fingerprints(recipe),
        }

    def run(self, ctx: BuildContext, artifacts: Path) -> StageOutput:
        parts, loaded, dropped = [], [], Counter()
        for i, spec in enumerate(ctx.recipe.sources):
            dataset, entry = load_source(ctx.recipe, spec, i)
            parts.append(dataset)
            loaded.append(entry)
            dropped.update(entry["dropped"])
            ctx.console.note(self.name, f"sources[{i}] {spec.type} {spec.path}: {len(dataset):,} rows")
        report = {
            "sources": loaded,
            "dropped": dict(dropped),
            "rows_read": sum(e["rows_read"] for e in loaded),
        }
        return StageOutput(concatenate(parts), report)

    def rows_in(self, ctx: BuildContext) -> int | None:
        return ctx.reports.get(self.name, {}).get("rows_read")


def load_source(recipe: Recipe, spec: SourceSpec, index: int = 0) -> tuple[datasets.Dataset, dict[str, Any]]:
    """One source as a Dataset in the record schema, and what its loader read, kept and skipped."""
    from goemobalance import sources

    path = inputs.source_file(recipe, spec)
    report = sources.LoadReport()
    options = dict(spec.options)
    if spec.type == "goemotions":
        dataset = sources.load_goemotions(path, split=spec.split, report=report, **options)
    elif spec.type == "sentiment140":
        dataset = sources.load_sentiment140(path, report=report, **options)
    elif spec.type == "table":
        dataset = sources.load_table(path, report=report, **options)
    else:
        dataset = sources.load_dataset_any(path, split=spec.split, report=report, **options)
    dropped = Counter(reason_of(item["reason"]) for item in report.skipped)
    rows = len(dataset)
    if spec.limit is not None and spec.limit < rows:
        dataset = dataset.select(range(spec.limit))
        dropped[f"beyond sources[{index}].limit ({spec.limit:,} rows)"] += rows - spec.limit
    entry = {
        "type": spec.type, "path": spec.path, "split": spec.split, "rows_read": report.rows_read or rows,
        "rows_loaded": len(dataset), "dropped": dict(dropped),
    }  # fmt: skip
    return dataset, entry


_DETAIL = re.compile(r"( \(|, got |, first seen |: ).*$")
_LONG_NUMBER = re.compile(r"\d{4,}")


def reason_of(message: str) -> str:
    """A loader's skip message without its row-specific details, so skips group by reason (and no text
    from a row reaches the manifest): ``"empty text after cleaning (raw text '...')"`` -> ``"empty text
    after cleaning"``."""
    return _LONG_NUMBER.sub("N", _DETAIL.sub("", message)).strip() or "unreadable row"


def concatenate(parts: list[datasets.Dataset]) -> datasets.Dataset:
    """Concatenate datasets in the record schema (same features, columns in schema order)."""
    parts = [p.select_columns(list(COLUMNS)) for p in parts if len(p)]
    if not parts:
        raise NothingAcceptedError("the recipe's sources gave no rows")
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


# --------------------------------------------------------------------------------------------------
# pool: pseudo-labelling
# --------------------------------------------------------------------------------------------------


class PoolStage(Stage):
    """Pseudo-label the unlabeled rows and keep those the selection rule accepts (rejections by reason)."""

    name = "pool"
    inputs = ("sources",)

    def settings(self, recipe: Recipe) -> Any:
        spec = recipe.labeler
        training = (
            [inputs.goemotions_fingerprint(recipe, spec.train_path, s) for s in ("train", "dev")]
            if spec.type == "offline"
            else []
        )
        return {"labeler": dataclasses.asdict(spec), "training_data": training}

    def run(self, ctx: BuildContext, artifacts: Path) -> StageOutput:
        labeled, unlabeled = split_labeled(ctx.sources)
        if not len(unlabeled):
            return StageOutput(labeled, {"pseudo_labelled": 0})
        labeler = make_labeler(ctx, artifacts / "labeler")
        ctx.console.note(self.name, f"pseudo-labelling {len(unlabeled):,} texts")
        accepted, rejected = label_and_accept(labeler, unlabeled)
        reasons = Counter(column(rejected, "reject_reason"))
        report = {
            "labeler": labeler_entry(ctx.recipe.labeler, labeler, "stages/pool/artifacts/labeler"),
            "pseudo_labelled": len(unlabeled),
            "accepted": len(accepted),
            "rejected": dict(reasons),
            "dropped": {f"pseudo-label rejected: {reason}": n for reason, n in reasons.items()},
        }
        return StageOutput(concatenate([labeled, accepted]), report)


def label_and_accept(labeler: Any, unlabeled: datasets.Dataset) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Pseudo-label `unlabeled` and split it by the labeler's rule (accepted, rejected). The labelled copy
    of every row, a `datasets` map cache that `accept` rewrites into its own, is deleted as soon as
    `accept` has read it (about 1 KB a tweet: 10 GB of disk at 10M tweets)."""
    from goemobalance.label import accept

    labelled = labeler.label(unlabeled)
    accepted, rejected = accept(labelled, labeler.active_rule)
    kept = {entry["filename"] for entry in accepted.cache_files + unlabeled.cache_files}
    read = [Path(entry["filename"]) for entry in labelled.cache_files if entry["filename"] not in kept]
    del labelled
    for path in read:
        if path.name.startswith("cache-"):
            with contextlib.suppress(OSError):  # still open (Windows): removed with the sources output
                path.unlink()
    return accepted, rejected


def make_labeler(ctx: BuildContext, save_to: Path) -> Any:
    """The recipe's pseudo-labeler: an offline labeler trained on GoEmotions here, or a `transformers` model."""
    from goemobalance.label import SelectionRule

    spec = ctx.recipe.labeler
    rule = SelectionRule(
        threshold=0.5 if spec.threshold == "tuned" else spec.threshold,
        min_confidence=spec.min_confidence or 0.0,
        max_labels=spec.max_labels,
        top1_fallback=spec.top1_fallback,
    )
    if spec.type == "transformer":
        labeler = _transformer_labeler(ctx, spec, rule)
    else:
        labeler = _offline_labeler(ctx, spec, rule)
    if spec.threshold == "tuned":
        dev = inputs.load_goemotions_split(ctx.recipe, spec.train_path, "dev")
        ctx.console.note("pool", f"tuning per-label thresholds on {len(dev):,} GoEmotions dev rows")
        tune_labeler(labeler, dev, spec.target_precision)
    if hasattr(labeler, "save"):
        labeler.save(save_to)
    return labeler


def _offline_labeler(ctx: BuildContext, spec: LabelerSpec, rule: Any) -> Any:
    from goemobalance.label import offline_labeler
    from goemobalance.label.batching import available_cpus
    from goemobalance.schema import multi_hot

    train = inputs.load_goemotions_split(ctx.recipe, spec.train_path, "train")
    ctx.console.note("pool", f"training the offline {spec.model} labeler on {len(train):,} GoEmotions rows")
    options = {} if spec.model == "tfidf" else {"cache_dir": str(ctx.out_dir / "cache" / "minilm")}
    # the one-vs-rest heads fit in parallel, with the same result (1.7x on 2 cores: docs/benchmarks.md)
    labeler = offline_labeler(spec.model, rule=rule, n_jobs=available_cpus(), **options)
    return labeler.fit(column(train, "text"), multi_hot(train))


def _transformer_labeler(ctx: BuildContext, spec: LabelerSpec, rule: Any) -> Any:
    from goemobalance.label import TransformerLabeler

    options: dict[str, Any] = {"max_tokens_per_batch": spec.batch_tokens} if spec.batch_tokens else {}
    ctx.console.note("pool", f"loading the transformer labeler {spec.model}")
    try:
        return TransformerLabeler(
            spec.model, revision=spec.revision, rule=rule, cache_dir=ctx.out_dir / "cache" / "label",
            show_progress=not ctx.quiet, **options,
        )  # fmt: skip
    except OSError as exc:
        raise InputError(
            f"{ctx.recipe.where}: labeler.model: cannot load {spec.model!r} ({_first_line(exc)}); without "
            "network access give a local model folder or a model already in the Hugging Face cache"
        ) from exc


def tune_labeler(labeler: Any, dev: datasets.Dataset, target_precision: float | None) -> None:
    """Per-label acceptance thresholds chosen on GoEmotions dev (never test): best F1, or the lowest
    threshold whose dev precision reaches `target_precision` (labels that cannot reach it accept nothing)."""
    from goemobalance.label import tune_acceptance
    from goemobalance.schema import multi_hot

    texts, y = column(dev, "text"), multi_hot(dev)
    if hasattr(labeler, "tune_acceptance"):
        labeler.tune_acceptance(texts, y, target_precision=target_precision, tuned_on="goemotions dev")
        return
    report = tune_acceptance(
        y, labeler.predict_proba(texts), labeler.space, target_precision=target_precision,
        rule=labeler.active_rule, tuned_on="goemotions dev",
    )  # fmt: skip
    labeler.rule = report.rule
    labeler.acceptance_report_ = report


def labeler_entry(spec: LabelerSpec, labeler: Any, path: str) -> dict[str, Any]:
    """The manifest's ``models.labeler``: kind, model id and revision, and a summary of its thresholds."""
    provenance = labeler.provenance() if hasattr(labeler, "provenance") else {}
    thresholds = labeler.active_rule.thresholds(labeler.space)
    finite = thresholds[np.isfinite(thresholds)]
    spread = (
        {"min": round(float(finite.min()), 4), "median": round(float(np.median(finite)), 4),
         "max": round(float(finite.max()), 4)} if finite.size else {}
    )  # fmt: skip
    entry = {
        "kind": spec.type, "model": spec.model, "implementation": provenance.get("model"),
        "revision": provenance.get("revision"),
        "thresholds": {
            "chosen": "tuned on GoEmotions dev" if spec.threshold == "tuned" else "from the recipe",
            "target_precision": spec.target_precision, **spread,
            "labels_accepting_nothing": int((~np.isfinite(thresholds)).sum()),
        },
        "min_confidence": spec.min_confidence, "max_labels": spec.max_labels, "path": path,
    }  # fmt: skip
    report = getattr(labeler, "acceptance_report_", None)
    if report is not None:
        entry["acceptance"] = report.to_dict() if hasattr(report, "to_dict") else report
    return entry


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# --------------------------------------------------------------------------------------------------
# screened: the leak guard
# --------------------------------------------------------------------------------------------------

LEAK_REASON = "same or near-same text as a GoEmotions dev/test row"


class ScreenStage(Stage):
    """Drop pool rows whose text is the same (or a near duplicate, as `goemobalance.text` defines it) as a
    GoEmotions dev or test text, or stop the build when ``evaluation.on_leak: error``."""

    name = "screened"
    inputs = ("pool",)

    def settings(self, recipe: Recipe) -> Any:
        return {"evaluation": inputs.evaluation_fingerprint(recipe), "on_leak": recipe.evaluation.on_leak}

    def run(self, ctx: BuildContext, artifacts: Path) -> StageOutput:
        from goemobalance.leaks import drop_eval_leaks

        eval_sets = {
            f"goemotions_{split}": inputs.evaluation_split(ctx.recipe, split) for split in ("dev", "test")
        }
        kept, report = drop_eval_leaks(ctx.pool, eval_sets, on_leak=ctx.recipe.evaluation.on_leak)
        dropped = {LEAK_REASON: report.dropped} if report.dropped else {}
        return StageOutput(kept, {"dropped": dropped, "leaks": report.to_dict()})


# --------------------------------------------------------------------------------------------------
# llm
# --------------------------------------------------------------------------------------------------


class LLMStage(Stage):
    """Generate and annotate texts for the labels the screened pool lacks; disagreements go to review."""

    name = "llm"
    inputs = ("screened",)

    def skip_reason(self, recipe: Recipe) -> str | None:
        return None if recipe.llm.enabled else "llm.enabled: false"

    def passthrough(self, ctx: BuildContext) -> Any:
        return ctx.screened

    def settings(self, recipe: Recipe) -> Any:
        settings = dataclasses.asdict(recipe.llm)
        settings.pop("api_key_env")
        return {
            "llm": settings,
            "target": balance_target(recipe.balance),
            "evaluation": inputs.evaluation_fingerprint(recipe),
        }

    def run(self, ctx: BuildContext, artifacts: Path) -> StageOutput:
        from goemobalance.llm import export_review, fill_pool

        recipe = ctx.recipe
        ctx.console.note(
            self.name, f"generating texts with {recipe.llm.model} for the labels short of target"
        )
        evaluation_texts = [
            text
            for split in ("dev", "test")
            for text in column(inputs.evaluation_split(recipe, split), "text")
        ]
        result = fill_pool(
            ctx.screened, dataclasses.asdict(recipe.llm), target=balance_target(recipe.balance),
            cache_path=str(ctx.out_dir / "cache" / "llm_cache.sqlite"), seed=recipe.seed,
            base_dir=str(recipe.base_dir), test_texts=evaluation_texts, progress=not ctx.quiet,
        )  # fmt: skip
        if len(result.review):
            export_review(result.review, artifacts / "llm_review.csv")
        write_json(artifacts / "llm_report.json", result.report)
        result.raise_for_status()
        return StageOutput(concatenate([ctx.screened, result.accepted]), llm_entry(recipe, result.report))


def llm_entry(recipe: Recipe, report: dict[str, Any]) -> dict[str, Any]:
    """Requests, cost, accepted and rejected texts, and the models, from the LLM stage's report."""
    usage = report.get("usage") or {}
    parts = [u for u in usage.values() if isinstance(u, dict)]
    return {
        "models": {"generator": recipe.llm.model, "annotator": recipe.llm.annotator_model or recipe.llm.model,
                   "base_url": recipe.llm.base_url},
        "requests": sum(int(u.get("requests", 0)) for u in parts),
        "cost_usd": round(sum(float(u.get("cost_usd", 0.0)) for u in parts), 4),
        "accepted": report.get("accepted", 0), "to_review": report.get("to_review", 0),
        "rejected": report.get("rejections", {}), "failed_requests": report.get("failed_requests", 0),
    }  # fmt: skip


# --------------------------------------------------------------------------------------------------
# balanced
# --------------------------------------------------------------------------------------------------


class BalanceStage(Stage):
    """Balance the candidates towards the per-label targets; rows not kept are counted."""

    name = "balanced"
    inputs = ("llm",)

    def settings(self, recipe: Recipe) -> Any:
        return dataclasses.asdict(recipe.balance)

    def run(self, ctx: BuildContext, artifacts: Path) -> StageOutput:
        candidates = ctx.llm
        ctx.console.note(self.name, f"balancing {len(candidates):,} rows ({ctx.recipe.balance.method})")
        result = balance_rows(candidates, ctx.recipe.balance, ctx.recipe.seed)
        report = result.report.to_dict()
        report["labels"] = {name: _target_entry(values) for name, values in report["labels"].items()}
        report["dropped"] = {f"balancer: {reason}": n for reason, n in report["rows"]["dropped"].items() if n}
        return StageOutput(result.dataset, report)


def balance_target(spec: BalanceSpec) -> Any:
    """The sampling strategy: ``equal`` with a ``target`` means that count for every label."""
    return spec.target if spec.sampling_strategy == "equal" and spec.target else spec.sampling_strategy


def balance_arguments(spec: BalanceSpec) -> dict[str, Any]:
    """The recipe's balance section as `balance_dataset` keywords: the resamplers take only their options."""
    from goemobalance.balance.sampling import RESAMPLERS

    if spec.method in RESAMPLERS:
        return {"method": spec.method, **spec.options}
    return {
        "method": spec.method,
        "sampling_strategy": balance_target(spec),
        "source_priority": tuple(spec.source_priority),
        "source_caps": spec.source_caps,
        **spec.options,
    }


def balance_rows(candidates: datasets.Dataset, spec: BalanceSpec, seed: int) -> Any:
    """The one call into the balancer; returns its `BalanceResult` (``.dataset``, ``.report``)."""
    from goemobalance.balance.sampling import balance_dataset

    return balance_dataset(candidates, seed=seed, **balance_arguments(spec))


def _target_entry(values: dict[str, Any]) -> dict[str, Any]:
    """One label of the balancer's report as the summary and card read it (``short`` = rows short)."""
    return {
        "target": values.get("target"),
        "available": values.get("available", 0),
        "achieved": values.get("achieved", 0),
        "short": values.get("short_by") or 0,
    }


# --------------------------------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------------------------------


class SplitStage(Stage):
    """train / validation / test: GoEmotions dev and test unchanged (``goemotions``), or drawn from the
    rows the balancer did not keep (``stratified``); every balanced row stays in train."""

    name = "split"
    inputs = ("balanced", "llm")

    def settings(self, recipe: Recipe) -> Any:
        settings: dict[str, Any] = {"split": dataclasses.asdict(recipe.split)}
        if recipe.split.mode == "goemotions":
            settings["evaluation"] = inputs.evaluation_fingerprint(recipe)
        return settings

    def run(self, ctx: BuildContext, artifacts: Path) -> StageOutput:
        from goemobalance.publish import make_dataset_dict

        spec = ctx.recipe.split
        if spec.mode == "goemotions":
            splits = datasets.DatasetDict(
                train=ctx.balanced,
                validation=inputs.evaluation_split(ctx.recipe, "dev"),
                test=inputs.evaluation_split(ctx.recipe, "test"),
            )
            report = {"mode": "goemotions", "evaluation": ctx.recipe.evaluation.goemotions}
        else:
            splits, report = stratified_splits(ctx, spec.sizes, spec.order)
        return StageOutput(make_dataset_dict(splits), report)


def stratified_splits(ctx: BuildContext, sizes: list[float], order: int) -> tuple[datasets.DatasetDict, dict]:
    """train = every balanced row; validation and test drawn by iterative stratification from the candidates
    the balancer did not keep, sized `sizes[1:]` relative to `sizes[0]` (fewer when fewer rows are left).

    Duplicates stay in one split: candidates that duplicate a training row (`goemobalance.text`) are not
    drawn, and the rest are drawn with their duplicate groups as the splitter's ``groups``."""
    from goemobalance.balance.split import IterativeStratifier
    from goemobalance.text import duplicate_groups

    kept = set(_ids(ctx.balanced))
    in_train = np.array([row_id in kept for row_id in _ids(ctx.llm)], dtype=bool)
    groups = duplicate_groups(ctx.llm)
    left = ~np.isin(groups, groups[in_train])
    leftover = ctx.llm.select(np.flatnonzero(left))
    leftover_groups = groups[left]
    wanted = [round(len(ctx.balanced) * share / sizes[0]) for share in sizes[1:]]
    scale = min(1.0, len(leftover) / sum(wanted)) if sum(wanted) else 0.0
    counts = [int(n * scale) for n in wanted]
    if scale < 1.0:
        ctx.console.warn(
            f"split: only {len(leftover):,} rows were not kept by the balancer; validation and test get "
            f"{counts[0]:,} and {counts[1]:,} rows instead of {wanted[0]:,} and {wanted[1]:,}"
        )
    fold = (
        IterativeStratifier((1, 1, 1), order=order, random_state=ctx.recipe.seed).assign_sizes(
            leftover, [counts[0], counts[1], len(leftover) - sum(counts)], groups=leftover_groups
        )
        if len(leftover)
        else np.zeros(0, dtype=np.int64)
    )
    splits = datasets.DatasetDict(
        train=ctx.balanced,
        validation=leftover.select(np.flatnonzero(fold == 0)),
        test=leftover.select(np.flatnonzero(fold == 1)),
    )
    return splits, {"mode": "stratified", "drawn_from_rows_not_kept": len(leftover), "wanted": wanted}


def _ids(dataset: datasets.Dataset) -> list[str]:
    return column(dataset, "id")


def _rows(value: Any) -> int | None:
    if isinstance(value, datasets.Dataset):
        return len(value)
    if isinstance(value, datasets.DatasetDict):
        return sum(len(split) for split in value.values())
    return None


# --------------------------------------------------------------------------------------------------
# audit and train
# --------------------------------------------------------------------------------------------------


class AuditStage(Stage):
    """Label-noise, duplicate and leakage audit of every published split."""

    name = "audit"
    inputs = ("split",)

    def skip_reason(self, recipe: Recipe) -> str | None:
        return None if recipe.audit.enabled else "audit.enabled: false"

    def settings(self, recipe: Recipe) -> Any:
        settings: dict[str, Any] = {"audit": dataclasses.asdict(recipe.audit)}
        if recipe.split.mode == "stratified":
            settings["evaluation"] = inputs.evaluation_fingerprint(recipe)
        return settings

    def run(self, ctx: BuildContext, artifacts: Path) -> StageOutput:
        from goemobalance.audit import audit
        from goemobalance.label.batching import available_cpus

        spec = ctx.recipe.audit
        splits = dict(ctx.split)
        eval_sets = {}
        if ctx.recipe.split.mode == "stratified":
            eval_sets = {f"goemotions_{s}": inputs.evaluation_split(ctx.recipe, s) for s in ("dev", "test")}
        rows = sum(len(s) for s in splits.values())
        ctx.console.note(
            self.name, f"auditing {rows:,} rows ({spec.model}, {spec.folds}-fold out-of-sample probabilities)"
        )
        report = audit(
            splits, eval_dataset=eval_sets or None, model=spec.model, folds=spec.folds, seed=ctx.recipe.seed,
            cache_dir=ctx.out_dir / "cache" / "audit", progress=not ctx.quiet, n_jobs=available_cpus(),
        )  # fmt: skip
        report.save(artifacts / "audit")
        data = report.to_dict()
        data["covers"] = {name: len(split) for name, split in splits.items()}
        return StageOutput(data, {"model": spec.model, "covers": data["covers"]})


class TrainStage(Stage):
    """The hybrid model trained on the build's train split and on GoEmotions train, same config and seed,
    both evaluated on the untouched GoEmotions test split (validation: GoEmotions dev)."""

    name = "train"
    inputs = ("split",)

    def skip_reason(self, recipe: Recipe) -> str | None:
        return None if recipe.train.enabled else "train.enabled: false"

    def settings(self, recipe: Recipe) -> Any:
        return {
            "train": dataclasses.asdict(recipe.train),
            "evaluation": inputs.evaluation_fingerprint(recipe),
            "imbalanced": inputs.goemotions_fingerprint(recipe, recipe.evaluation.goemotions, "train"),
        }

    def run(self, ctx: BuildContext, artifacts: Path) -> StageOutput:
        from goemobalance.train import TrainConfig
        from goemobalance.train.compare import compare

        recipe = ctx.recipe
        config = TrainConfig.from_dict(
            {"seed": recipe.seed, **recipe.train.config}, where=f"{recipe.where}: train.config"
        )
        location = recipe.evaluation.goemotions
        ctx.console.note(
            self.name, "training the hybrid model on the balanced and on the GoEmotions train rows"
        )
        result = compare(
            ctx.split["train"],
            inputs.load_goemotions_split(recipe, location, "train"),
            inputs.evaluation_split(recipe, "test"),
            inputs.evaluation_split(recipe, "dev"),
            config,
            artifacts / "compare",
        )
        return StageOutput(result, {"summary": result.get("summary", {})})


# --------------------------------------------------------------------------------------------------
# publish
# --------------------------------------------------------------------------------------------------


class PublishStage(Stage):
    """Write the Hub folder (parquet, card, plots, audit report, manifest), ``OUT/manifest.json`` and the
    exported reports (``OUT/audit``, ``OUT/compare``, ``OUT/llm``). Never cached: it always writes what
    the verified stage outputs hold."""

    name = "publish"
    inputs = ("split", "llm", "audit", "train")
    cached = False

    def settings(self, recipe: Recipe) -> Any:
        return dataclasses.asdict(recipe.publish)

    def rows_in(self, ctx: BuildContext) -> int | None:
        return _rows(ctx.split)

    def run(self, ctx: BuildContext, artifacts: Path) -> StageOutput:
        from goemobalance import publish

        recipe = ctx.recipe
        folder_name = recipe.publish.folder
        dataset_dir = ctx.out.resolve(folder_name, f"{recipe.where}: publish.folder")
        exports = export_reports(ctx)
        output_hash = publish.dataset_hash(ctx.split)
        manifest = build_manifest(ctx, output_hash)
        ctx.out.claim([folder_name])
        publish.save(
            ctx.split, dataset_dir, overwrite=ctx.out.overwrite, content_hash=output_hash,
            extra_files={**({"audit": ctx.artifacts["audit"] / "audit"} if "audit" in ctx.artifacts else {})},
            manifest=manifest, before=ctx.llm, audit=ctx.audit, recipe_text=recipe.text,
            license=recipe.publish.license, pretty_name=recipe.publish.pretty_name or recipe.name,
            repo_id=recipe.publish.repo_id, dropped=ctx.dropped(),
        )  # fmt: skip
        ctx.out.claim(["manifest.json"])
        write_json(ctx.out_dir / "manifest.json", manifest)
        paths = {
            "dataset": str(dataset_dir), "card": str(dataset_dir / "README.md"),
            "manifest": str(ctx.out_dir / "manifest.json"), **exports,
        }  # fmt: skip
        return StageOutput({"paths": paths, "manifest": manifest})


def export_reports(ctx: BuildContext) -> dict[str, str]:
    """Copy the audit report, the comparison and the LLM report out of the stage cache into ``OUT``."""
    exported = {}
    for stage, source, target in (
        ("audit", "audit", "audit"),
        ("train", "compare", "compare"),
        ("llm", ".", "llm"),
    ):
        folder = ctx.artifacts.get(stage)
        if folder is None or not (folder / source).is_dir() or not any((folder / source).iterdir()):
            continue
        ctx.out.claim([target])
        with staged_folder(ctx.out.resolve(target, "report folder")) as staged:
            shutil.copytree(folder / source, staged, dirs_exist_ok=True)
        exported[target] = str(ctx.out_dir / target)
    return exported


def build_manifest(ctx: BuildContext, output_hash: str) -> dict[str, Any]:
    """The manifest: inputs, models, versions, stage records, rows, drops by reason, targets, hash."""
    recipe = ctx.recipe
    pool, llm = ctx.reports.get("pool", {}), ctx.reports.get("llm", {})
    models: dict[str, Any] = {"labeler": pool.get("labeler")}
    if llm.get("models"):
        models["llm"] = llm["models"]
    if recipe.audit.enabled:
        models["audit"] = {"model": recipe.audit.model, "folds": recipe.audit.folds}
    return {
        "recipe": recipe.name,
        "recipe_sha256": stable_hash(recipe.settings()),
        "seed": recipe.seed,
        "inputs": inputs.source_fingerprints(recipe),
        "evaluation": inputs.evaluation_fingerprint(recipe),
        "models": models,
        "packages": package_versions(),
        "stages": {name: record.to_dict() for name, record in ctx.records.items()},
        "rows": {name: len(split) for name, split in ctx.split.items()},
        "dropped": ctx.dropped(),
        "sources": ctx.reports.get("sources", {}).get("sources", []),
        "pseudo_labels": {k: pool[k] for k in ("pseudo_labelled", "accepted", "rejected") if k in pool},
        "balance": ctx.reports.get("balanced", {}).get("labels", {}),
        "llm": {k: v for k, v in llm.items() if k != "models"} or None,
        "split": ctx.reports.get("split", {}),
        "publish": {
            "folder": recipe.publish.folder,
            "repo_id": recipe.publish.repo_id,
            "private": recipe.publish.private,
        },
        "output_hash": output_hash,
    }


STAGES: tuple[Stage, ...] = (
    SourcesStage(),
    PoolStage(),
    ScreenStage(),
    LLMStage(),
    BalanceStage(),
    SplitStage(),
    AuditStage(),
    TrainStage(),
    PublishStage(),
)

__all__ = [
    "STAGES",
    "AuditStage",
    "BalanceStage",
    "LLMStage",
    "PoolStage",
    "PublishStage",
    "ScreenStage",
    "SourcesStage",
    "SplitStage",
    "Stage",
    "TrainStage",
    "balance_rows",
    "balance_target",
    "label_and_accept",
    "load_source",
    "make_labeler",
    "reason_of",
]
