"""Runs a recipe: its stages in order (`goemobalance.build.stages.STAGES`), resumably, then the summary.

`run_recipe` checks the whole recipe and the machine first (`preflight`), then runs each stage or reuses
its verified output from ``OUT/stages``, printing one line per stage on stderr. Ctrl-C stops with a message
saying the build can be resumed; the finished stages are kept.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from goemobalance.build.cache import StageCache, StageOutput
from goemobalance.build.console import Console
from goemobalance.build.context import BuildContext, StageRecord
from goemobalance.build.preflight import preflight
from goemobalance.build.stages import STAGES, Stage
from goemobalance.build.summary import stage_line, summarize
from goemobalance.mapped import pages_released
from goemobalance.outputs import OwnedFolder
from goemobalance.recipe import Recipe, load_recipe

#: Entries of the output folder the build writes before its stages run.
WORK_ENTRIES: tuple[str, ...] = ("stages", "cache")
#: Stage outputs with a row per input text (millions with the full Sentiment140), dropped as soon as every
#: stage reading them has run: a pass over a memory-mapped Arrow file keeps the pages it touched in this
#: process's resident memory until the file is unmapped.
RELEASED_WHEN_READ: tuple[str, ...] = ("sources", "pool")


@dataclass
class BuildResult:
    """What `run_recipe` made: the published folder, the split dataset, the manifest and the context."""

    out_dir: Path
    dataset_dir: Path
    dataset: datasets.DatasetDict
    manifest: dict[str, Any]
    context: BuildContext

    @property
    def output_hash(self) -> str:
        """Content hash of the published splits (`goemobalance.publish.dataset_hash`)."""
        return self.manifest["output_hash"]


def run_recipe(
    recipe: Recipe | str | Path,
    out_dir: str | Path | None = None,
    *,
    overwrite: bool = False,
    console: Console | None = None,
) -> BuildResult:
    """Run every stage of `recipe`, reusing finished stages found under `out_dir`.

    Parameters
    ----------
    recipe : Recipe, str or Path
        A recipe or the path of its YAML file.
    out_dir : str or Path, optional
        The output folder (default ``out/<recipe name>``).
    overwrite : bool
        Write into an output folder that holds files goemobalance did not write (they are kept).
    console : Console, optional
        Where progress lines go (default: stderr).

    Returns
    -------
    BuildResult

    Raises
    ------
    InputError
        A bad recipe, a missing input, an unsafe output folder (before any stage runs).
    KeyboardInterrupt
        On Ctrl-C, with a message naming the finished stages and how to resume.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    out = OwnedFolder(out_dir or Path("out") / recipe.name, overwrite=overwrite)
    console = console or Console()
    dataset_dir = preflight(recipe, out)
    ctx = BuildContext(recipe=recipe, out=out, console=console)
    out.claim(WORK_ENTRIES)
    cache = StageCache(out.root / "stages", warn=console.warn)
    cache.clear_temporaries()
    console.line(f"building {recipe.name} ({recipe.where}) into {out.root}")
    current = STAGES[0].name
    try:
        with datasets_bars_hidden():
            for done, stage in enumerate(STAGES, start=1):
                current = stage.name
                run_stage(stage, ctx, cache)
                release_read_outputs(ctx, STAGES[done:])
    except KeyboardInterrupt as exc:
        raise KeyboardInterrupt(resume_message(ctx, current)) from exc
    return BuildResult(out.root, dataset_dir, ctx.split, ctx.publish["manifest"], ctx)


def run_stage(stage: Stage, ctx: BuildContext, cache: StageCache) -> StageRecord:
    """Run one stage (or reuse its verified output, or pass its input on when skipped) and print its line.

    While it runs, the pages of its inputs' memory-mapped files are handed back (`pages_released`), so a
    pass over millions of input rows does not stay in the build's resident memory."""
    reason = stage.skip_reason(ctx.recipe)
    if reason:
        ctx.set_output(stage.name, stage.passthrough(ctx))
        stage.skip(ctx.keys)
        return _record(ctx, StageRecord(stage.name, "skipped", reason=reason))
    key = stage.key(ctx.recipe, ctx.keys)
    start = time.perf_counter()
    with pages_released(*(ctx.output(name) for name in stage.inputs)):
        output, status = _output(stage, ctx, cache, key)
    ctx.set_output(stage.name, output.data)
    ctx.reports[stage.name] = output.report
    if output.artifacts is not None:
        ctx.artifacts[stage.name] = output.artifacts
    ctx.keys[stage.name] = key
    record = StageRecord(
        stage.name, status, key, time.perf_counter() - start, stage.rows_in(ctx), _rows_out(stage, ctx)
    )
    return _record(ctx, record)


def release_read_outputs(ctx: BuildContext, remaining: tuple[Stage, ...]) -> None:
    """Drop the `RELEASED_WHEN_READ` outputs no remaining stage reads, unmapping their Arrow files, and
    delete the `datasets` map caches later stages wrote next to them (pseudo-labelling writes two, each
    larger than the tweets)."""
    needed = {name for stage in remaining for name in stage.inputs}
    done = [name for name in RELEASED_WHEN_READ if name not in needed and ctx.output(name) is not None]
    for name in done:
        _remove_map_caches(ctx.output(name), ctx.out_dir)
        ctx.set_output(name, None)
    if done:
        gc.collect()


def _remove_map_caches(dataset: Any, out_dir: Path) -> None:
    """`Dataset.cleanup_cache_files` deletes every other ``cache-*.arrow`` in the folder of the dataset's
    files: only called on a dataset read from inside the output folder (a stage's saved output)."""
    if not isinstance(dataset, datasets.Dataset) or not dataset.cache_files:
        return
    root = Path(out_dir).resolve()
    if all(Path(f["filename"]).resolve().is_relative_to(root) for f in dataset.cache_files):
        dataset.cleanup_cache_files()


def _output(stage: Stage, ctx: BuildContext, cache: StageCache, key: str) -> tuple[StageOutput, str]:
    if not stage.cached:
        return stage.run(ctx, None), "ran"
    saved = cache.load(stage.name, key)
    if saved is not None:
        return saved, "reused"
    return cache.save(stage.name, key, lambda artifacts: stage.run(ctx, artifacts)), "ran"


def _rows_out(stage: Stage, ctx: BuildContext) -> int | None:
    value = ctx.split if stage.name == "publish" else ctx.output(stage.name)
    if isinstance(value, datasets.Dataset):
        return len(value)
    if isinstance(value, datasets.DatasetDict):
        return sum(len(split) for split in value.values())
    return None


def _record(ctx: BuildContext, record: StageRecord) -> StageRecord:
    ctx.records[record.name] = record
    ctx.console.line(stage_line(record, ctx.reports.get(record.name, {})))
    return record


def resume_message(ctx: BuildContext, current: str) -> str:
    """What to tell a user who pressed Ctrl-C: which stages are saved and how to continue."""
    done = [name for name, record in ctx.records.items() if record.status in ("ran", "reused")]
    saved = f"finished stages ({', '.join(done)}) are saved in {ctx.out_dir / 'stages'}; " if done else ""
    return f"stopped during stage {current}; {saved}run the same command again to resume"


@contextmanager
def datasets_bars_hidden() -> Iterator[None]:
    """Hide the `datasets` library's own progress bars (map, save, load) while the build prints its lines."""
    enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if enabled:
            datasets.enable_progress_bars()


__all__ = ["BuildResult", "release_read_outputs", "resume_message", "run_recipe", "run_stage", "summarize"]
