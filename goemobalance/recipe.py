"""Declarative recipes: the schema of the YAML file that describes a whole build, and its validation.

A recipe names its sources, the GoEmotions copy used for evaluation, the pseudo-labeler, the optional LLM
stage, balancing, the split, the audit, publishing and optional training. `load_recipe` checks the whole
file before anything runs: unknown fields (with the closest known name), wrong types, unknown values and
impossible numbers are a `RecipeError` whose one-line message names the file and the field. Running a
recipe is `goemobalance.pipeline.run_recipe`; checks that look at the machine (files present, API keys
set) are `goemobalance.build.preflight`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from goemobalance.errors import InputError
from goemobalance.label.registry import OFFLINE_LABELERS as _LABELER_REGISTRY
from goemobalance.labels import GOEMOTIONS
from goemobalance.outputs import check_relative
from goemobalance.strict import describe, from_mapping

RECIPE_VERSION = 1

# Values a recipe may name. They mirror the modules that implement them (kept here so that checking a
# recipe does not import those modules); tests/test_pipeline.py asserts that they stay equal.
SOURCE_TYPES: tuple[str, ...] = ("goemotions", "sentiment140", "table", "dataset")
GOEMOTIONS_SPLITS: tuple[str, ...] = ("train", "dev", "test")
OFFLINE_LABELERS: tuple[str, ...] = tuple(_LABELER_REGISTRY)
NAMED_STRATEGIES: tuple[str, ...] = ("equal", "min", "median", "mean", "max")
LABEL_ORIGINS: tuple[str, ...] = ("human", "pseudo", "llm", "human-reviewed")
BALANCE_METHODS: tuple[str, ...] = ("select", "add", "ml-ros", "lp-ros", "ml-rus", "lp-rus")
AUDIT_MODELS: tuple[str, ...] = ("tfidf", "tfidf-char", "minilm", "tfidf+minilm")
AGREEMENT_RULES: tuple[str, ...] = ("subset", "jaccard", "exact")
SPLIT_MODES: tuple[str, ...] = ("goemotions", "stratified")
#: Entries of the output folder that the build writes itself; ``publish.folder`` may not be one of them.
RESERVED_OUTPUTS: tuple[str, ...] = ("stages", "cache", "audit", "compare", "llm", "manifest.json")

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MOVED_FIELDS: dict[tuple[str, str], str] = {
    (
        "audit",
        "eval_path",
    ): "evaluation.goemotions (the GoEmotions copy whose dev/test splits evaluate the build)",
}


class RecipeError(InputError):
    """A recipe that cannot be run; the message names the file and the field."""


@dataclass
class SourceSpec:
    """One input: ``type`` is goemotions, sentiment140, table (CSV/TSV/JSONL/Parquet) or dataset.

    ``options`` are passed to the loader (``on_error: skip`` skips and counts bad rows); ``limit`` keeps the
    first rows only (for quick trials).

    Parameters
    ----------
    type : {"goemotions", "sentiment140", "table", "dataset"}
        Which loader reads the source.
    path : str, optional
        A file or folder (relative to the recipe), ``packaged`` (goemotions and sentiment140 only) or a
        Hub id; required for every type except ``dataset``.
    split : str, default "train"
        The split to read; GoEmotions sources may only use ``train``.
    limit : int, optional
        Keep only the first `limit` rows (>= 0).
    options : dict
        Keyword arguments of the loader; ``on_error`` is ``raise`` (default) or ``skip``.
    """

    type: Literal["goemotions", "sentiment140", "table", "dataset"]
    path: str | None = None
    split: str = "train"
    limit: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvaluationSpec:
    """The GoEmotions copy whose dev and test splits evaluate the build (``packaged``, a folder or a Hub id).

    Used by ``split.mode: goemotions`` (validation and test), the leak guard, the audit, the train stage
    and the LLM stage's check that generated texts do not copy evaluation texts. ``on_leak``: pool rows whose
    text is the same or a near duplicate of a dev/test text are dropped and counted (``drop``), or stop the
    build with exit code 3 (``error``).

    Parameters
    ----------
    goemotions : str, default "packaged"
        ``packaged``, a GoEmotions folder (relative to the recipe) or the Hub id.
    on_leak : {"drop", "error"}, default "drop"
        What the leak guard does with pool rows that repeat an evaluation text.
    """

    goemotions: str = "packaged"
    on_leak: Literal["drop", "error"] = "drop"


@dataclass
class LabelerSpec:
    """The pseudo-labeler for unlabeled sources: ``offline`` (trained here) or ``transformer`` (a model id).

    ``threshold`` is one number, a mapping label -> number, or ``tuned`` (per-label thresholds chosen on
    GoEmotions dev: best F1, or the lowest threshold reaching ``target_precision`` when that is set).

    Parameters
    ----------
    type : {"offline", "transformer"}, default "offline"
        Train a scikit-learn labeler here, or run a transformers model.
    model : str, default "tfidf"
        An offline labeler name (`OFFLINE_LABELERS`) or a transformers model id or folder.
    train_path : str, default "packaged"
        The GoEmotions copy an offline labeler is trained on.
    revision : str, optional
        Model revision (transformer labelers only).
    threshold : float, dict of str to float, or "tuned", default 0.5
        Acceptance threshold(s) in [0, 1].
    min_confidence : float, optional
        Rows whose highest probability is below this get no label.
    max_labels : int or None, default 3
        Most labels kept per row (>= 1); None keeps all above threshold.
    top1_fallback : bool, default False
        Give a row with nothing above threshold its most probable label.
    batch_tokens : int, optional
        Tokens per batch (transformer labelers only; >= 1).
    target_precision : float, optional
        With ``threshold: tuned``: the dev precision each label's threshold must reach, in (0, 1].
    """

    type: Literal["offline", "transformer"] = "offline"
    model: str = "tfidf"
    train_path: str = "packaged"
    revision: str | None = None
    threshold: float | dict[str, float] | str = 0.5
    min_confidence: float | None = None
    max_labels: int | None = 3
    top1_fallback: bool = False
    batch_tokens: int | None = None
    target_precision: float | None = None


@dataclass
class LLMSpec:
    """Generation + annotation of texts for labels still short after balancing (off unless enabled).

    ``max_texts`` caps the texts one run may ask for (checked before anything is sent), ``max_requests``
    caps the requests (retries included), ``max_wait`` is the longest wait in seconds before a retry (a
    longer ``Retry-After`` fails the request).

    Parameters
    ----------
    enabled : bool, default False
        Run the stage.
    model : str, default "gpt-4o-mini"
        The generator's model.
    annotator_model : str, optional
        The annotator's model (the generator's when None).
    base_url : str, optional
        An OpenAI-compatible server (the OpenAI API when None).
    api_key_env : str, default "OPENAI_API_KEY"
        The *name* of the environment variable holding the key (never the key itself).
    prompts : str, optional
        A prompt template name or file (relative to the recipe); the packaged default when None.
    max_new_per_label : int, default 200
        Most generated texts asked for per label (>= 0).
    concurrency : int, default 16
        Requests in flight (>= 1).
    temperature : float, default 0.9
        Generation temperature, in [0, 2].
    agreement : {"subset", "jaccard", "exact"}, default "subset"
        How the annotator's labels must agree with the intended ones for a text to be kept.
    max_texts : int, default 10000
        Most texts one run may ask for (>= 1).
    max_requests : int, optional
        Most requests one run may send, retries included (>= 1).
    max_wait : float, default 60.0
        Longest wait in seconds before a retry (> 0).
    """

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
    max_texts: int = 10_000
    max_requests: int | None = None
    max_wait: float = 60.0


@dataclass
class BalanceSpec:
    """Balancing: ``method`` (``select``: choose rows towards the targets) with its ``options``, and the
    targets: ``sampling_strategy`` is a name (equal, min, median, mean, max), an int, or label -> count;
    ``target`` is the count for ``equal``.

    Parameters
    ----------
    method : str, default "select"
        One of `BALANCE_METHODS`.
    options : dict
        The method's own options (checked by `goemobalance.balance.sampling.check_balance_options`).
    sampling_strategy : str, int or dict of str to int, default "equal"
        The per-label targets.
    target : int, optional
        The count for ``equal`` (>= 1).
    source_priority : list of str, default ["human", "pseudo", "llm"]
        Label origins preferred first when choosing rows.
    source_caps : dict of str to int, optional
        Most rows taken per label origin.
    """

    method: str = "select"
    options: dict[str, Any] = field(default_factory=dict)
    sampling_strategy: str | int | dict[str, int] = "equal"
    target: int | None = None
    source_priority: list[str] = field(default_factory=lambda: ["human", "pseudo", "llm"])
    source_caps: dict[str, int] | None = None


@dataclass
class SplitSpec:
    """How the published splits are made.

    ``goemotions`` (default, as the paper): train = the balanced rows, validation and test = GoEmotions dev
    and test from ``evaluation.goemotions``, unchanged. ``stratified``: train = the balanced rows,
    validation and test drawn by iterative stratification (``order``) from the rows the balancer did not
    select, sized by ``sizes`` relative to train; no balanced row leaves training.

    Parameters
    ----------
    mode : {"goemotions", "stratified"}, default "goemotions"
        Where validation and test come from.
    sizes : list of float, default [0.8, 0.1, 0.1]
        Train, validation and test fractions summing to 1 (``stratified`` only).
    order : {1, 2}, default 1
        Stratify on labels (1) or on label pairs too (2) (``stratified`` only).
    """

    mode: Literal["goemotions", "stratified"] = "goemotions"
    sizes: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    order: int = 1


@dataclass
class AuditSpec:
    """Label-noise, duplicate and leakage audit of every published split.

    Parameters
    ----------
    enabled : bool, default True
        Run the audit.
    model : str, default "tfidf"
        One of `AUDIT_MODELS`: the model whose out-of-fold probabilities cleanlab reads.
    folds : int, default 5
        Cross-validation folds (>= 2).
    """

    enabled: bool = True
    model: str = "tfidf"
    folds: int = 5


@dataclass
class PublishSpec:
    """The Hub-layout folder (``folder``, inside the output folder) and where `goemobalance publish` uploads
    it by default (``repo_id``, ``private``).

    Parameters
    ----------
    folder : str, default "dataset"
        Relative folder inside the output folder; not one of `RESERVED_OUTPUTS`.
    repo_id : str, optional
        ``ORG/NAME``: named in the card's usage snippet and the default upload target.
    private : bool, default False
        The repository's visibility for that upload.
    license : str, optional
        The card's license.
    pretty_name : str, optional
        The card's title.
    """

    folder: str = "dataset"
    repo_id: str | None = None
    private: bool = False
    license: str | None = None
    pretty_name: str | None = None


@dataclass
class TrainSpec:
    """Optional balanced-vs-imbalanced comparison with the hybrid model (off by default: it is slow).

    Parameters
    ----------
    enabled : bool, default False
        Run the comparison.
    config : dict
        A `goemobalance.train.TrainConfig` as a mapping.
    """

    enabled: bool = False
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recipe:
    """A whole build, as read from a YAML file.

    Parameters
    ----------
    name : str
        The build's name (not empty).
    sources : list of SourceSpec
        The inputs (at least one).
    seed : int, default 0
        Seed of every random choice of the build.
    evaluation, labeler, llm, balance, split, audit, publish, train
        The sections (`EvaluationSpec`, `LabelerSpec`, `LLMSpec`, `BalanceSpec`, `SplitSpec`, `AuditSpec`,
        `PublishSpec`, `TrainSpec`), each with its defaults.
    version : int, default RECIPE_VERSION
        The recipe format version; must equal `RECIPE_VERSION`.
    base_dir : Path, default Path(".")
        The folder relative paths resolve against (set by `load_recipe`, not read from the file).
    text : str, default ""
        The recipe file's text, shown (redacted) on the dataset card (not read from the file).
    where : str, default "recipe"
        The file name used in error messages (not read from the file).
    """

    name: str
    sources: list[SourceSpec]
    seed: int = 0
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)
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
    where: str = field(default="recipe", repr=False, compare=False)

    def resolve(self, path: str | None) -> str | None:
        """A recipe path: ``packaged`` and Hub ids stay as they are, relative files are relative to the recipe.

        Parameters
        ----------
        path : str or None
            A path as written in the recipe.

        Returns
        -------
        str or None
            None, ``packaged`` or a Hub id unchanged; otherwise an absolute path (``~`` expanded).
        """
        if path is None or path == "packaged" or looks_like_hub_id(path, self.base_dir):
            return path
        candidate = Path(path).expanduser()
        return str(candidate if candidate.is_absolute() else (self.base_dir / candidate).resolve())

    def settings(self) -> dict[str, Any]:
        """The recipe as plain data (no file location), for keys and the manifest.

        Returns
        -------
        dict
            `dataclasses.asdict` of the recipe without ``base_dir``, ``text`` and ``where``.
        """
        data = dataclasses.asdict(self)
        for name in ("base_dir", "text", "where"):
            data.pop(name)
        return data


_LOCAL_FIELDS = ("base_dir", "text", "where")


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a YAML recipe; errors name the file and the offending field.

    Parameters
    ----------
    path : str or Path
        The recipe file.

    Returns
    -------
    Recipe

    Raises
    ------
    RecipeError
        A missing file, invalid YAML, or any field that is unknown, missing, of the wrong type or value.
    """
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML: {exc}") from exc
    return recipe_from_dict(data, where=str(path), base_dir=path.resolve().parent, text=text)


def recipe_from_dict(
    data: Any, where: str = "recipe", *, base_dir: str | Path = ".", text: str = ""
) -> Recipe:
    """Build and check a `Recipe` from plain data.

    Parameters
    ----------
    data : Any
        The parsed YAML (a mapping).
    where : str
        The file name used in error messages.
    base_dir : str or Path
        The folder relative paths are resolved against.
    text : str
        The recipe's text, shown (redacted) on the dataset card.

    Returns
    -------
    Recipe

    Raises
    ------
    RecipeError
        Naming the file and the field.
    """
    if not isinstance(data, dict):
        raise RecipeError(f"{where}: a recipe is a mapping of sections, got {describe(data)}")
    _reject_moved_fields(data, where)
    recipe = from_mapping(Recipe, data, where, error=RecipeError, exclude=_LOCAL_FIELDS)
    recipe.base_dir, recipe.text, recipe.where = Path(base_dir), text, where
    check_recipe(recipe, data)
    return recipe


def check_recipe(recipe: Recipe, data: dict[str, Any] | None = None) -> None:
    """Check values and their combinations (types were checked when the recipe was read).

    Parameters
    ----------
    recipe : Recipe
        The recipe to check.
    data : dict, optional
        The raw mapping it was read from, to tell a field that was set from one left at its default.

    Raises
    ------
    RecipeError
        Naming the file and the field.
    """
    raw = data or {}
    where = recipe.where
    if recipe.version != RECIPE_VERSION:
        _fail(
            where, "version", f"this goemobalance reads recipe version {RECIPE_VERSION}, got {recipe.version}"
        )
    if not recipe.name.strip():
        _fail(where, "name", "must not be empty")
    if not recipe.sources:
        _fail(where, "sources", "must list at least one source")
    for i, source in enumerate(recipe.sources):
        _check_source(source, f"sources[{i}]", where, recipe.split.mode)
    _check_labeler(recipe.labeler, where)
    _check_llm(recipe.llm, where)
    _check_balance(recipe.balance, raw.get("balance") or {}, where)
    _check_split(recipe.split, raw.get("split") or {}, where)
    _check_audit(recipe.audit, where)
    _check_publish(recipe.publish, where)


def looks_like_hub_id(path: str, base_dir: str | Path = ".") -> bool:
    """``ORG/NAME`` that is not an existing local path (relative to `base_dir`) is a Hub id.

    Parameters
    ----------
    path : str
        A path as written in a recipe or on the command line.
    base_dir : str or Path, default "."
        The folder a relative path is resolved against.

    Returns
    -------
    bool
        True when `path` has exactly one ``/``, does not start with ``.``, ``/`` or ``~``, and exists
        neither under `base_dir` nor relative to the working directory.
    """
    if path.count("/") != 1 or path.startswith((".", "/", "~")):
        return False
    return not (Path(base_dir) / path).exists() and not Path(path).exists()


def _fail(where: str, field_name: str, problem: str) -> None:
    raise RecipeError(f"{where}: {field_name}: {problem}")


def _reject_moved_fields(data: dict[str, Any], where: str) -> None:
    for (section, name), replacement in _MOVED_FIELDS.items():
        if isinstance(data.get(section), dict) and name in data[section]:
            _fail(where, f"{section}.{name}", f"was replaced by {replacement}")


def _one_of(value: Any, allowed: tuple[str, ...], where: str, field_name: str) -> None:
    if value not in allowed:
        _fail(where, field_name, f"{describe(value)} is not one of {', '.join(allowed)}")


def _at_least(value: float | None, low: float, where: str, field_name: str) -> None:
    if value is not None and value < low:
        _fail(where, field_name, f"must be >= {low:g}, got {value:g}")


def _fraction(value: float | None, where: str, field_name: str, *, open_low: bool = False) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value > 1 or value < 0 or (open_low and value == 0):
        low = "(0" if open_low else "[0"
        _fail(where, field_name, f"must be in {low}, 1], got {value:g}")


def _check_source(source: SourceSpec, name: str, where: str, split_mode: str) -> None:
    _at_least(source.limit, 0, where, f"{name}.limit")
    if source.type == "goemotions":
        _one_of(source.split, GOEMOTIONS_SPLITS, where, f"{name}.split")
        if split_mode == "goemotions" and source.split != "train":
            _fail(
                where,
                f"{name}.split",
                f"GoEmotions {source.split} is the published {'validation' if source.split == 'dev' else 'test'} "
                "split in split.mode goemotions and cannot also be training data",
            )
        if source.split == "test":
            _fail(where, f"{name}.split", "the GoEmotions test split never enters a build")
    if source.type != "dataset" and not source.path:
        _fail(where, f"{name}.path", "is required (a file, a folder, or packaged for the shipped copy)")
    if source.path == "packaged" and source.type not in ("goemotions", "sentiment140"):
        _fail(where, f"{name}.path", "packaged data exists for goemotions and sentiment140 sources only")
    on_error = source.options.get("on_error", "raise")
    _one_of(on_error, ("raise", "skip"), where, f"{name}.options.on_error")


def _check_labeler(spec: LabelerSpec, where: str) -> None:
    if spec.type == "offline":
        _one_of(spec.model, OFFLINE_LABELERS, where, "labeler.model")
        for name in ("revision", "batch_tokens"):
            if getattr(spec, name) is not None:
                _fail(where, f"labeler.{name}", "applies to transformer labelers only")
    elif not spec.model.strip():
        _fail(where, "labeler.model", "name a transformers model id or folder")
    threshold = spec.threshold
    if isinstance(threshold, str):
        if threshold != "tuned":
            _fail(
                where,
                "labeler.threshold",
                f"a number, a mapping label -> number, or tuned; got {threshold!r}",
            )
    elif isinstance(threshold, dict):
        for label, value in threshold.items():
            if label not in GOEMOTIONS.names:
                _fail(where, f"labeler.threshold.{label}", "is not a GoEmotions label")
            _fraction(value, where, f"labeler.threshold.{label}")
    else:
        _fraction(threshold, where, "labeler.threshold")
    _fraction(spec.min_confidence, where, "labeler.min_confidence")
    _fraction(spec.target_precision, where, "labeler.target_precision", open_low=True)
    if spec.target_precision is not None and threshold != "tuned":
        _fail(
            where,
            "labeler.target_precision",
            "needs threshold: tuned (thresholds are chosen on GoEmotions dev)",
        )
    _at_least(spec.max_labels, 1, where, "labeler.max_labels")
    _at_least(spec.batch_tokens, 1, where, "labeler.batch_tokens")


def _check_llm(spec: LLMSpec, where: str) -> None:
    if not _ENV_NAME.match(spec.api_key_env):
        _fail(where, "llm.api_key_env", "must be the name of an environment variable (never the key itself)")
    if not spec.enabled:
        return
    _one_of(spec.agreement, AGREEMENT_RULES, where, "llm.agreement")
    _at_least(spec.concurrency, 1, where, "llm.concurrency")
    _at_least(spec.max_new_per_label, 0, where, "llm.max_new_per_label")
    _at_least(spec.max_texts, 1, where, "llm.max_texts")
    if spec.max_requests is not None:
        _at_least(spec.max_requests, 1, where, "llm.max_requests")
    if spec.max_wait <= 0:
        _fail(where, "llm.max_wait", f"must be > 0 seconds, got {spec.max_wait:g}")
    if not 0 <= spec.temperature <= 2:
        _fail(where, "llm.temperature", f"must be in [0, 2], got {spec.temperature:g}")


def _check_balance(spec: BalanceSpec, raw: dict[str, Any], where: str) -> None:
    """Names and numbers of the balance section (fast, no data library imported); the balancer's own
    option check (`goemobalance.balance.sampling.check_balance_options`) runs in the build's preflight."""
    _one_of(spec.method, BALANCE_METHODS, where, "balance.method")
    strategy = spec.sampling_strategy
    if isinstance(strategy, str):
        _one_of(strategy, NAMED_STRATEGIES, where, "balance.sampling_strategy")
    elif isinstance(strategy, int):
        _at_least(strategy, 0, where, "balance.sampling_strategy")
    else:
        for label, count in strategy.items():
            if label not in GOEMOTIONS.names:
                _fail(where, f"balance.sampling_strategy.{label}", "is not a GoEmotions label")
            _at_least(count, 0, where, f"balance.sampling_strategy.{label}")
    for i, origin in enumerate(spec.source_priority):
        _one_of(origin, LABEL_ORIGINS, where, f"balance.source_priority[{i}]")
    for origin, cap in (spec.source_caps or {}).items():
        _one_of(origin, LABEL_ORIGINS, where, f"balance.source_caps.{origin}")
        _at_least(cap, 0, where, f"balance.source_caps.{origin}")
    if spec.target is not None:
        _at_least(spec.target, 1, where, "balance.target")
    if "target" in raw and spec.target is not None and strategy != "equal":
        _fail(
            where,
            "balance.target",
            "applies to sampling_strategy: equal (give the count as sampling_strategy)",
        )


def _check_split(spec: SplitSpec, raw: dict[str, Any], where: str) -> None:
    if spec.mode == "goemotions":
        for name in ("sizes", "order"):
            if name in raw:
                _fail(
                    where,
                    f"split.{name}",
                    "applies to mode: stratified (mode goemotions keeps GoEmotions dev/test)",
                )
        return
    from goemobalance.balance.split import check_split_sizes

    try:
        check_split_sizes(spec.sizes)
    except ValueError as problem:
        _fail(where, "split.sizes", str(problem))
    _one_of(spec.order, (1, 2), where, "split.order")


def _check_audit(spec: AuditSpec, where: str) -> None:
    _one_of(spec.model, AUDIT_MODELS, where, "audit.model")
    _at_least(spec.folds, 2, where, "audit.folds")


def _check_publish(spec: PublishSpec, where: str) -> None:
    field_name = f"{where}: publish.folder"
    check_relative(spec.folder, field_name)
    if Path(spec.folder).parts[0] in RESERVED_OUTPUTS:
        _fail(
            where,
            "publish.folder",
            f"{spec.folder!r} is where the build keeps its {Path(spec.folder).parts[0]}",
        )
    if spec.repo_id is not None and not _REPO_ID.match(spec.repo_id):
        _fail(where, "publish.repo_id", f"must look like ORG/NAME, got {spec.repo_id!r}")


__all__ = [
    "AUDIT_MODELS",
    "BALANCE_METHODS",
    "AuditSpec",
    "BalanceSpec",
    "EvaluationSpec",
    "LLMSpec",
    "LabelerSpec",
    "PublishSpec",
    "Recipe",
    "RecipeError",
    "SourceSpec",
    "SplitSpec",
    "TrainSpec",
    "check_recipe",
    "load_recipe",
    "looks_like_hub_id",
    "recipe_from_dict",
]  # fmt: skip
