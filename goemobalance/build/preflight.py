"""Checks that look at the machine before any stage runs: input files present, source options known, the
output folder safe to write, API keys set, models reachable, training settings valid.

Together with `goemobalance.recipe.load_recipe` (the file itself) this makes a build fail in seconds, with
one line naming the file and field, instead of minutes into a stage.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

from goemobalance.build import inputs
from goemobalance.errors import InputError
from goemobalance.outputs import OwnedFolder
from goemobalance.recipe import Recipe

#: Loader arguments the build sets itself (not recipe options).
_SET_BY_BUILD = ("path", "path_or_dataset", "path_or_id", "split", "report")


def preflight(recipe: Recipe, out: OwnedFolder, *, check_output: bool = True) -> Path:
    """Check everything a build of `recipe` into `out` needs; return the dataset folder's path.

    Parameters
    ----------
    recipe : Recipe
        A recipe read by `load_recipe` (its fields are already checked).
    out : OwnedFolder
        The build's output folder.
    check_output : bool
        Also refuse an output or dataset folder holding files goemobalance did not write (unless
        ``out.overwrite``).

    Returns
    -------
    Path
        Where the Hub-layout dataset folder will be written.

    Raises
    ------
    InputError
        Naming the recipe field (or the folder) and the problem.
    """
    dataset_dir = out.resolve(recipe.publish.folder, f"{recipe.where}: publish.folder")
    inputs.missing_inputs(recipe)
    check_source_options(recipe)
    check_balance(recipe)
    check_llm_key(recipe)
    check_labeler(recipe)
    check_train_config(recipe)
    if check_output:
        out.check("output folder")
        OwnedFolder(dataset_dir, overwrite=out.overwrite).check("dataset folder")
    return dataset_dir


def check_source_options(recipe: Recipe) -> None:
    """Every ``sources[i].options`` key must be an argument of that source's loader."""
    from goemobalance import sources

    loaders = {
        "goemotions": sources.load_goemotions, "sentiment140": sources.load_sentiment140,
        "table": sources.load_table, "dataset": sources.load_dataset_any,
    }  # fmt: skip
    for i, spec in enumerate(recipe.sources):
        known = sorted(set(inspect.signature(loaders[spec.type]).parameters) - set(_SET_BY_BUILD))
        for name in spec.options:
            if name not in known:
                raise InputError(
                    f"{recipe.where}: sources[{i}].options.{name}: not an option of {spec.type} sources; "
                    f"known: {', '.join(known)}"
                )


def check_balance(recipe: Recipe) -> None:
    """The balancer's own check of the method and its options (`check_balance_options`)."""
    from goemobalance.balance.sampling import check_balance_options
    from goemobalance.build.stages import balance_arguments
    from goemobalance.labels import GOEMOTIONS

    try:
        check_balance_options(**balance_arguments(recipe.balance), label_names=GOEMOTIONS.names)
    except InputError as exc:
        raise InputError(f"{recipe.where}: balance: {exc}") from exc


def check_llm_key(recipe: Recipe) -> None:
    """An enabled LLM stage talking to the OpenAI API needs its key in the named environment variable."""
    spec = recipe.llm
    if spec.enabled and spec.base_url is None and not os.environ.get(spec.api_key_env):
        raise InputError(
            f"{recipe.where}: llm.api_key_env: the environment variable {spec.api_key_env} is not set "
            "(export it, or set llm.base_url for a local OpenAI-compatible server)"
        )


def check_labeler(recipe: Recipe) -> None:
    """A transformer labeler must be a local folder or reachable; target precision needs `tune_acceptance`."""
    spec = recipe.labeler
    where = recipe.where
    if spec.type == "transformer" and not model_available(spec.model, spec.revision, recipe.base_dir):
        raise InputError(
            f"{where}: labeler.model: {spec.model!r} is not a local folder nor in the Hugging Face cache, and "
            "downloads are off (HF_HUB_OFFLINE); download it on a machine with network access or give a folder"
        )
    if spec.type == "offline" and spec.target_precision is not None:
        from goemobalance.label import offline_labeler

        if not hasattr(offline_labeler(spec.model), "tune_acceptance"):
            raise InputError(
                f"{where}: labeler.target_precision: the {spec.model} labeler cannot tune for a precision"
            )


def model_available(model: str, revision: str | None, base_dir: Path) -> bool:
    """False only when the model is surely unreachable: not a folder, not cached, and the Hub is offline."""
    if (base_dir / model).is_dir() or Path(model).is_dir():
        return True
    if os.environ.get("HF_HUB_OFFLINE", "").lower() not in ("1", "true", "yes", "on"):
        return True
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(model, "config.json", revision=revision), str)


def check_train_config(recipe: Recipe) -> None:
    """``train.config`` must be a valid `TrainConfig` when the train stage is on."""
    if not recipe.train.enabled:
        return
    from goemobalance.train import TrainConfig

    TrainConfig.from_dict({"seed": recipe.seed, **recipe.train.config}, where=f"{recipe.where}: train.config")


__all__ = ["check_balance", "check_source_options", "model_available", "preflight"]
