"""``build --dry-run``: what a build would do, without writing anything.

It checks the recipe and the machine as a build does, then tells which stages would run and which would
be reused from ``OUT/stages`` (their keys depend only on settings and input files, so this is exact),
how many rows each label lacks in the candidate pool, and what the LLM stage would request.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from goemobalance.build.cache import StageCache
from goemobalance.build.preflight import preflight
from goemobalance.build.stages import STAGES, balance_target, concatenate, load_source
from goemobalance.outputs import OwnedFolder
from goemobalance.recipe import LLMSpec, Recipe, load_recipe
from goemobalance.schema import split_labeled

SHOWN_DEFICITS = 28


@dataclass
class BuildPlan:
    """The outcome of a dry run: stage by stage what would happen, the pool's deficits and the LLM plan."""

    recipe: str
    out_dir: Path
    dataset_dir: Path
    stages: list[tuple[str, str]] = field(default_factory=list)
    deficits: dict[str, int] = field(default_factory=dict)
    deficits_from: str = ""
    llm: str = ""

    def to_text(self) -> str:
        """The plan as lines for a person."""
        lines = [f"dry run of {self.recipe} into {self.out_dir} (nothing is written)"]
        lines += [f"  {name:<9} {what}" for name, what in self.stages]
        missing = {name: n for name, n in self.deficits.items() if n > 0}
        if missing:
            ranked = sorted(missing.items(), key=lambda item: -item[1])[:SHOWN_DEFICITS]
            lines.append(f"deficits ({self.deficits_from}): " + ", ".join(f"{n} {c:,}" for n, c in ranked))
        else:
            lines.append(f"deficits ({self.deficits_from}): none, every label reaches its target")
        lines.append(f"LLM: {self.llm}")
        lines.append(f"dataset folder: {self.dataset_dir}")
        return "\n".join(lines)


def plan_build(
    recipe: Recipe | str | Path, out_dir: str | Path | None = None, *, overwrite: bool = False
) -> BuildPlan:
    """What `run_recipe(recipe, out_dir)` would do; reads files, writes none.

    Parameters
    ----------
    recipe : Recipe, str or Path
        A recipe or the path of its YAML file.
    out_dir : str or Path, optional
        The output folder (default ``out/<recipe name>``).
    overwrite : bool
        As for `run_recipe` (a folder with files goemobalance did not write is otherwise an error).

    Returns
    -------
    BuildPlan
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    out = OwnedFolder(out_dir or Path("out") / recipe.name, overwrite=overwrite)
    dataset_dir = preflight(recipe, out)
    plan = BuildPlan(recipe.name, out.root, dataset_dir)
    cache = StageCache(out.root / "stages")
    keys: dict[str, str] = {}
    for stage in STAGES:
        reason = stage.skip_reason(recipe)
        if reason:
            stage.skip(keys)
            plan.stages.append((stage.name, f"skipped ({reason})"))
            continue
        keys[stage.name] = stage.key(recipe, keys)
        reuse = stage.cached and cache.is_valid(stage.name, keys[stage.name])
        plan.stages.append((stage.name, "reused from cache" if reuse else "runs"))
    candidates, plan.deficits_from = _candidates(recipe, cache, keys)
    deficits = pool_deficits(candidates, recipe)
    plan.deficits = deficits["labels"]
    plan.llm = _llm_text(recipe.llm, deficits, recipe.base_dir)
    return plan


def pool_deficits(candidates: datasets.Dataset, recipe: Recipe) -> dict[str, Any]:
    """The balancer's deficits of `candidates` for the recipe's target (``{"labels": ..., "labelsets": ...}``)."""
    from goemobalance.balance.sampling import deficits

    return deficits(candidates, balance_target(recipe.balance))


def plan_llm_requests(deficits: dict[str, Any], settings: LLMSpec, base_dir: Path) -> dict[str, Any]:
    """What the LLM stage would send and cost for `deficits` (`goemobalance.llm.plan_requests`)."""
    from goemobalance.llm import plan_requests
    from goemobalance.llm.settings import settings_from_mapping

    plan = plan_requests(deficits, settings_from_mapping(dataclasses.asdict(settings), base_dir))
    return {**plan.to_dict(), "problems": plan.problems()}


def _llm_text(spec: LLMSpec, deficits: dict[str, Any], base_dir: Path) -> str:
    if not spec.enabled:
        return "off (llm.enabled: false)"
    plan = plan_llm_requests(deficits, spec, base_dir)
    return (
        f"on ({spec.model}): {plan['requests']:,} requests for {plan['texts']:,} texts, about "
        f"{plan['prompt_tokens']:,} prompt + {plan['completion_tokens']:,} completion tokens, "
        f"estimated cost ${plan['cost_usd']:.2f}"
        + "".join(f"; refused: {problem}" for problem in plan["problems"])
    )


def _candidates(recipe: Recipe, cache: StageCache, keys: dict[str, str]) -> tuple[datasets.Dataset, str]:
    """The best pool available without running anything: a saved screened or pool stage, else the labelled
    rows of the sources (an upper bound on the deficits, before pseudo-labels)."""
    for name, words in (("screened", "saved screened pool"), ("pool", "saved pool")):
        if name in keys and cache.is_valid(name, keys[name]):
            saved = cache.load(name, keys[name])
            if saved is not None:
                return saved.data, words
    labeled = [
        split_labeled(load_source(recipe, spec, i)[0])[0]
        for i, spec in enumerate(recipe.sources)
        if spec.type != "sentiment140"
    ]
    return concatenate(labeled), "labelled source rows before pseudo-labels; an upper bound"


__all__ = ["BuildPlan", "plan_build", "plan_llm_requests", "pool_deficits"]
