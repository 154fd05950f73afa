"""Balanced vs imbalanced training, judged on the untouched GoEmotions test split.

Both models get the same config, seed and validation split; before training, every training row that
also appears in the evaluation data (same normalized text, or same GoEmotions comment id) is removed
with a warning (``on_leak="drop"``, the default) or stops the run (``on_leak="error"``).

To choose between many training sets without looking at the test split, screen them first:
`screening_split` cuts the validation split into a tuning half and a scoring half, which stand in for
(validation, test) (``goemobalance compare --screen``); the test split then scores only what was chosen.
`cross_fit_compare` (``--screen cross``) runs the screen both ways and pools the two scored halves, so
every validation row is scored once, by a model that did not tune on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from goemobalance.balance.split import MultilabelStratifiedKFold
from goemobalance.errors import InputError, LeakError
from goemobalance.markdown import markdown_table
from goemobalance.schema import column, label_space_of, multi_hot
from goemobalance.text import normalize_text
from goemobalance.train.config import TrainConfig
from goemobalance.train.loop import capped_rows, fit, planned_steps, steps_per_epoch
from goemobalance.train.metrics import mean_f1, multilabel_report, rarest_labels
from goemobalance.train.stats import DEFAULT_RESAMPLES, paired_bootstrap, seed_summary
from goemobalance.train.thresholds import Thresholds

log = logging.getLogger(__name__)
SUMMARY_METRICS = (
    "f1_macro",
    "f1_micro",
    "f1_weighted",
    "f1_samples",
    "roc_auc_macro",
    "roc_auc_micro",
    "subset_accuracy",
    "hamming_loss",
)


def leak_key(text: str) -> str:
    """Text for exact-overlap checks: the one exact-identity key, `goemobalance.text.normalize_text`."""
    return normalize_text(text)


def comment_ids(dataset: datasets.Dataset) -> list[str]:
    """The GoEmotions comment id of each row (``meta.comment_id``, else the id without its source prefix)."""
    out = []
    for row_id, meta in zip(column(dataset, "id"), column(dataset, "meta")):
        try:
            value = json.loads(meta).get("comment_id") if meta else None
        except json.JSONDecodeError:
            value = None
        out.append(str(value) if value else row_id.split(":", 1)[-1].split("#", 1)[0])
    return out


@dataclass
class LeakReport:
    """Which training rows overlap the evaluation data, and why."""

    train_rows: int
    text_overlap: list[int] = field(default_factory=list)
    id_overlap: list[int] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    @property
    def leaking_rows(self) -> list[int]:
        return sorted(set(self.text_overlap) | set(self.id_overlap))

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "text_overlap": len(self.text_overlap),
            "id_overlap": len(self.id_overlap),
            "leaking_rows": len(self.leaking_rows),
        }


def find_leaks(train_ds: datasets.Dataset, eval_sets: Sequence[datasets.Dataset]) -> LeakReport:
    """Training rows whose normalized text or comment id occurs in any evaluation set."""
    eval_texts = {leak_key(t) for ds in eval_sets for t in column(ds, "text")} - {""}
    eval_ids = {cid for ds in eval_sets for cid in comment_ids(ds)}
    report = LeakReport(len(train_ds))
    for row, (text, cid) in enumerate(zip(column(train_ds, "text"), comment_ids(train_ds))):
        if leak_key(text) in eval_texts:
            report.text_overlap.append(row)
            if len(report.examples) < 10:
                report.examples.append(text)
        if cid in eval_ids:
            report.id_overlap.append(row)
    return report


def remove_leaks(
    train_ds: datasets.Dataset,
    eval_sets: Sequence[datasets.Dataset],
    *,
    on_leak: str = "drop",
    name: str = "training",
) -> tuple[datasets.Dataset, LeakReport]:
    """Drop leaking training rows with a warning (``drop``), raise `LeakError` (``error``) or keep them."""
    if on_leak not in ("drop", "error", "ignore"):
        raise InputError(f"on_leak must be 'drop', 'error' or 'ignore', got {on_leak!r}")
    report = find_leaks(train_ds, eval_sets)
    leaking = report.leaking_rows
    if not leaking or on_leak == "ignore":
        return train_ds, report
    message = (
        f"{name} data: {len(leaking)} of {len(train_ds)} rows overlap the evaluation data "
        f"({len(report.text_overlap)} same normalized text, {len(report.id_overlap)} same comment id); "
        f"e.g. {report.examples[:3]}"
    )
    if on_leak == "error":
        raise LeakError(message)
    log.warning("%s; removing them", message)
    keep = np.setdiff1d(np.arange(len(train_ds)), leaking)
    return train_ds.select(keep), report


def check_untouched_test(test_ds: datasets.Dataset) -> None:
    """Refuse evaluation data that is not plain human-labelled GoEmotions (e.g. a balanced test split)."""
    sources, origins = column(test_ds, "source"), column(test_ds, "label_origin")
    bad = [i for i, (s, o) in enumerate(zip(sources, origins)) if s != "goemotions" or o != "human"]
    if bad:
        row = bad[0]
        raise InputError(
            "evaluation data must be the untouched GoEmotions test split; "
            f"row {row + 1} (id={column(test_ds, 'id')[row]!r}) "
            f"has source={sources[row]!r}, label_origin={origins[row]!r}"
        )


def check_separate(val: datasets.Dataset, test: datasets.Dataset) -> None:
    """Refuse validation data that shares rows (ids) with the test data: tuning would see test rows."""
    shared = set(column(val, "id")) & set(column(test, "id"))
    if shared:
        raise InputError(
            f"validation and test data share {len(shared)} row id(s), e.g. {sorted(shared)[:3]}; "
            "thresholds and early stopping must not see test rows: pass the validation split as --val"
        )


def screening_split(
    val: datasets.Dataset, seed: int = 0, fold: int = 0
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Two label-stratified halves of the validation data: (tuning half, scoring half).

    A screen of many training sets passes them to `compare` as ``val`` and ``test``: early stopping and
    thresholds on the first half, scores on the second, and the test split is not used at all, so the
    training set it picks was picked without test rows. ``fold=1`` swaps the halves' roles; the two folds
    together score every validation row once (`cross_fit_compare`).

    Parameters
    ----------
    val : datasets.Dataset
        The validation data (GoEmotions dev).
    seed : int, default 0
        Seed of the stratified split (`MultilabelStratifiedKFold`, 2 folds, shuffled).
    fold : {0, 1}, default 0
        Which half is scored: fold 1's scoring half is fold 0's tuning half.

    Returns
    -------
    tuple of datasets.Dataset
        (tuning half, scoring half), each in the validation data's row order.

    Raises
    ------
    InputError
        If the validation data has fewer than 2 rows.
    """
    if fold not in (0, 1):
        raise ValueError(f"fold must be 0 or 1, got {fold!r}")
    if len(val) < 2:
        raise InputError(
            f"a screen splits the validation data in two halves: it needs 2 rows or more, got {len(val)}"
        )
    folds = MultilabelStratifiedKFold(n_splits=2, shuffle=True, random_state=seed)
    tune, score = list(folds.split(np.zeros((len(val), 1)), multi_hot(val)))[fold]
    return val.select(np.sort(tune)), val.select(np.sort(score))


#: What `compare` scores by default, and what a `screening_split` screen scores, in reports.
SCORED_ON_TEST = "GoEmotions test"
SCORED_ON_SCREEN = "half of the validation split (screen; test split not used)"
SCORED_ON_CROSS_FIT = (
    "all of the validation split, cross-fitted over its two halves (screen; test split not used)"
)
RUN_FILE = "run.json"
PROBABILITIES_FILE = "test_probabilities.npy"


@dataclass
class Run:
    """One trained model of a comparison: which training set, which seed, its test predictions (0/1) and
    probabilities."""

    name: str
    seed: int
    report: dict[str, Any]
    predictions: np.ndarray
    info: dict[str, Any]
    probabilities: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, **self.info}


def data_digest(dataset: datasets.Dataset) -> str:
    """SHA-256 of a dataset's texts and labels, in row order (what a training run depends on)."""
    payload = json.dumps([column(dataset, "text"), column(dataset, "labels")])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def run_key(
    config: TrainConfig, train_ds: datasets.Dataset, val: datasets.Dataset, test: datasets.Dataset
) -> str:
    """What identifies a run's result: its settings (seed included) and the training, validation and
    test data. Two runs with the same key give the same model and test predictions."""
    settings = {k: v for k, v in config.to_dict().items() if k != "progress"}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode("utf-8"))
    for dataset in (train_ds, val, test):
        digest.update(data_digest(dataset).encode("ascii"))
    return digest.hexdigest()


def _per_seed(data: datasets.Dataset | Mapping[int, datasets.Dataset], seeds: Sequence[int], what: str):
    if isinstance(data, datasets.Dataset):
        return dict.fromkeys(seeds, data)
    missing = [s for s in seeds if s not in data]
    if missing:
        raise InputError(f"{what} training data has no dataset for seed(s) {missing}")
    return {s: data[s] for s in seeds}


def compare(
    balanced: datasets.Dataset | Mapping[int, datasets.Dataset] | None,
    imbalanced: datasets.Dataset | Mapping[int, datasets.Dataset],
    test: datasets.Dataset,
    val: datasets.Dataset,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    seeds: Sequence[int] | None = None,
    equal_steps: bool = False,
    n_bootstrap: int = DEFAULT_RESAMPLES,
    bootstrap_seed: int = 0,
    on_leak: str = "drop",
    rare_k: int = 8,
    save_models: bool = False,
    reuse: Sequence[str | Path] = (),
    balanced_config: TrainConfig | None = None,
    scored_on: str = SCORED_ON_TEST,
) -> dict[str, Any]:
    """Train on both sets with each seed, evaluate on the untouched test split, report deltas with CIs.

    Parameters
    ----------
    balanced, imbalanced
        Training data: one Dataset, or one per seed (``{seed: Dataset}``, e.g. a balanced set rebuilt with
        each seed). `balanced` may be None: then only the imbalanced (baseline) side is trained and
        reported (mean, std and CIs, no deltas).
    test
        The untouched GoEmotions test split (refused if any row is not human-labelled GoEmotions). Used
        only to score the finished models.
    val
        Validation data (GoEmotions dev): early stopping and thresholds. Must share no row id with `test`.
    config
        Training settings for both sides (``config.seed`` is replaced by each seed).
    balanced_config
        Other settings for the balanced side (e.g. row weights: "adding + weights"); default `config`.
        With `equal_steps`, both sides get the step count `config` (epochs, batch size) gives.
    out_dir
        Output folder: ``comparison.json``, ``comparison.md``, ``comparison_delta.png`` and per run
        ``<side>/seed_<seed>/`` with ``run.json``, ``test_probabilities.npy``, ``test_metrics.json``
        (+ ``model/`` with `save_models`).
    seeds
        Training seeds (default: ``[config.seed]``).
    equal_steps
        Give both sides the same number of optimizer steps: the imbalanced side's budget, ``config.epochs``
        passes over its training set. A smaller balanced set gets more epochs, a larger one fewer (the
        last one cut short), so the baseline's runs are the same runs as without `equal_steps` and can be
        reused. No effect on the proxy.
    n_bootstrap, bootstrap_seed
        Paired bootstrap over test rows (`goemobalance.train.stats.paired_bootstrap`); 0 skips it.
    on_leak
        Training rows whose text or comment id occurs in the test or validation data: ``drop`` (with a
        warning), ``error`` (`LeakError`) or ``ignore``.
    rare_k
        How many of the rarest labels (in the imbalanced training data) count as rare.
    save_models
        Also save every trained model.
    reuse
        Earlier output folders of `compare`: a run whose key (`run_key`: settings, seed, training,
        validation and test data) matches one there is not trained again; `out_dir` itself is always
        searched, so an interrupted comparison resumes with the runs it finished.
    scored_on
        What `test` is, for the reports (`SCORED_ON_SCREEN` with `screening_split`).

    Returns
    -------
    dict
        ``summary`` (per metric: means, stds, per-seed values and deltas, CIs for macro- and rare-F1),
        ``per_label``, ``rare_labels``, ``bootstrap``, ``leaks``, ``runs``, ``config``, ``seeds``,
        ``scored_on``.
    """
    result, _ = _compare(
        balanced, imbalanced, test, val, config, Path(out_dir), seeds=seeds, equal_steps=equal_steps,
        n_bootstrap=n_bootstrap, bootstrap_seed=bootstrap_seed, on_leak=on_leak, rare_k=rare_k,
        save_models=save_models, reuse=reuse, balanced_config=balanced_config, scored_on=scored_on,
    )  # fmt: skip
    return result


@dataclass
class _Scored:
    """What a comparison trained, for pooling folds: runs per side (in seed order), the leak-checked
    training sets, the rare labels and the scored rows' labels."""

    runs: dict[str, list[Run]]
    clean: dict[str, dict[int, datasets.Dataset]]
    rare: list[str]
    y_test: np.ndarray


def _compare(
    balanced, imbalanced, test, val, config, out_dir: Path, *, seeds, equal_steps, n_bootstrap,
    bootstrap_seed, on_leak, rare_k, save_models, reuse, balanced_config, scored_on,
) -> tuple[dict[str, Any], _Scored]:  # fmt: skip
    """`compare`, also returning its runs."""
    check_untouched_test(test)
    check_separate(val, test)
    seeds = [int(s) for s in (seeds if seeds else [config.seed])]
    sides = {"imbalanced": _per_seed(imbalanced, seeds, "imbalanced")}
    if balanced is not None:
        sides["balanced"] = _per_seed(balanced, seeds, "balanced")
    names = list(label_space_of(sides["imbalanced"][seeds[0]]).names)
    for what, ds in [("test", test), ("validation", val), *((k, v[seeds[0]]) for k, v in sides.items())]:
        if list(label_space_of(ds).names) != names:
            raise InputError(f"{what} data does not use the imbalanced data's label space")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clean, leaks = _remove_leaks_per_seed(sides, [test, val], on_leak)
    scorer = _TestScorer(test, out_dir, [out_dir, *map(Path, reuse)], save_models)
    configs = {"imbalanced": config, "balanced": balanced_config or config}
    runs: dict[str, list[Run]] = {side: [] for side in sides}
    for seed in seeds:
        seeded = {side: configs[side].replace(seed=seed) for side in sides}
        if equal_steps and config.model != "proxy":
            seeded = _equal_steps(seeded, {side: clean[side][seed] for side in sides}, config)
        for side in sides:
            runs[side].append(scorer.run(side, clean[side][seed], val, seeded[side]))
    rare = rarest_labels(multi_hot(sides["imbalanced"][seeds[0]]), names, rare_k)
    result = comparison_table(runs, names, rare, clean, scorer.y_test, n_bootstrap, bootstrap_seed)
    result.update(
        config=config.to_dict(),
        balanced_config=None if balanced_config is None else balanced_config.to_dict(),
        seeds=seeds,
        equal_steps=equal_steps,
        scored_on=scored_on,
        leaks=leaks,
        runs={side: [run.to_dict() for run in side_runs] for side, side_runs in runs.items()},
    )
    write_comparison(result, out_dir)
    return result, _Scored(runs, clean, rare, scorer.y_test)


def cross_fit_compare(
    balanced: datasets.Dataset | Mapping[int, datasets.Dataset] | None,
    imbalanced: datasets.Dataset | Mapping[int, datasets.Dataset],
    val: datasets.Dataset,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    seeds: Sequence[int] | None = None,
    split_seed: int = 0,
    n_bootstrap: int = DEFAULT_RESAMPLES,
    bootstrap_seed: int = 0,
    rare_k: int = 8,
    equal_steps: bool = False,
    on_leak: str = "drop",
    save_models: bool = False,
    reuse: Sequence[str | Path] = (),
    balanced_config: TrainConfig | None = None,
) -> dict[str, Any]:
    """A screen that scores every validation row without the test split: both folds of
    `screening_split`, pooled.

    Fold 0 tunes (early stopping, thresholds) on one half and scores the other; fold 1 swaps them. Each
    row's prediction comes from the model of the fold that did not tune on it, so pooling the two scored
    halves gives a screen on all of the validation data (twice the scored rows of `compare` on
    `screening_split`, at twice its training cost). Each fold is also a comparison of its own.

    Parameters
    ----------
    balanced, imbalanced, config, seeds, n_bootstrap, bootstrap_seed, rare_k, equal_steps, on_leak, \
    save_models, reuse, balanced_config
        As in `compare`.
    val : datasets.Dataset
        The validation data (GoEmotions dev); the test split is not used.
    out_dir : str or Path
        Output folder: the pooled ``comparison.json``/``.md``/``_delta.png``, and each fold's `compare`
        output under ``fold_0/`` and ``fold_1/``.
    split_seed : int, default 0
        Seed of `screening_split`.

    Returns
    -------
    dict
        As `compare`'s, over the pooled rows, with ``folds``: each fold's summary.
    """
    out_dir = Path(out_dir)
    folds = []
    for fold in (0, 1):
        tune, score = screening_split(val, split_seed, fold)
        folds.append(
            _compare(
                balanced, imbalanced, score, tune, config, out_dir / f"fold_{fold}", seeds=seeds,
                n_bootstrap=n_bootstrap, bootstrap_seed=bootstrap_seed, rare_k=rare_k,
                equal_steps=equal_steps, on_leak=on_leak, save_models=save_models, reuse=reuse,
                balanced_config=balanced_config,
                scored_on=f"fold {fold} of a cross-fitted screen: {SCORED_ON_SCREEN}",
            )
        )  # fmt: skip
    scored = [fold_scored for _, fold_scored in folds]
    first_result, first = folds[0]
    names = list(label_space_of(val).names)
    y_pooled = np.vstack([fold_scored.y_test for fold_scored in scored])
    runs = {
        side: [_pooled_run(fold_runs, y_pooled, names) for fold_runs in zip(*(f.runs[side] for f in scored))]
        for side in first.runs
    }
    result = comparison_table(runs, names, first.rare, first.clean, y_pooled, n_bootstrap, bootstrap_seed)
    result.update(
        {k: first_result[k] for k in ("config", "balanced_config", "seeds", "equal_steps", "leaks")},
        scored_on=SCORED_ON_CROSS_FIT,
        runs={side: [run.to_dict() for run in side_runs] for side, side_runs in runs.items()},
        folds=[{"folder": f"fold_{i}", "summary": r["summary"]} for i, (r, _) in enumerate(folds)],
    )
    write_comparison(result, out_dir)
    return result


def _pooled_run(fold_runs: Sequence[Run], y_pooled: np.ndarray, names: Sequence[str]) -> Run:
    """One seed's runs of the two folds as one run over the pooled rows, each row predicted with the
    thresholds of the fold that scored it."""
    predictions = np.vstack([run.predictions for run in fold_runs])
    probabilities = np.vstack([run.probabilities for run in fold_runs])
    report = multilabel_report(y_pooled, probabilities, names, y_pred=predictions)
    info = {
        "train_rows_after_leak_check": fold_runs[0].info.get("train_rows_after_leak_check"),
        "folds": [run.to_dict() for run in fold_runs],
    }
    return Run(fold_runs[0].name, fold_runs[0].seed, report, predictions, info, probabilities)


def _equal_steps(
    configs: Mapping[str, TrainConfig], train_sets: Mapping[str, datasets.Dataset], reference: TrainConfig
) -> dict[str, TrainConfig]:
    """Each side's config with ``max_steps`` set to the imbalanced side's budget: `reference`'s epochs
    over the imbalanced training set.

    A side that already takes that many steps keeps ``max_steps`` unset, so the imbalanced side's run is
    the same run (same `run_key`) as without equal steps and can be reused from a baseline comparison.
    """
    baseline = len(capped_rows(train_sets["imbalanced"], configs["imbalanced"]))
    target = reference.epochs * steps_per_epoch(baseline, reference.batch_size)
    out = {}
    for side, side_config in configs.items():
        natural = planned_steps(side_config, len(capped_rows(train_sets[side], side_config)))
        out[side] = side_config if natural == target else side_config.replace(max_steps=target)
    return out


def _remove_leaks_per_seed(sides, eval_sets, on_leak):
    """Leak-checked training sets per side and seed (each distinct dataset checked once), and the reports."""
    clean: dict[str, dict[int, datasets.Dataset]] = {}
    leaks: dict[str, Any] = {}
    for side, per_seed in sides.items():
        done: dict[int, tuple[datasets.Dataset, dict]] = {}
        clean[side] = {}
        for seed, ds in per_seed.items():
            if id(ds) not in done:
                kept, report = remove_leaks(ds, eval_sets, on_leak=on_leak, name=side)
                done[id(ds)] = (kept, report.to_dict())
            clean[side][seed] = done[id(ds)][0]
        reports = [report for _, report in done.values()]
        leaks[side] = reports[0] if len(reports) == 1 else reports
    return clean, leaks


class _TestScorer:
    """Trains (or reuses) one run and scores it on the test rows, writing its files under `out_dir`."""

    def __init__(self, test: datasets.Dataset, out_dir: Path, search: Sequence[Path], save_models: bool):
        self.test, self.out_dir, self.search, self.save_models = test, out_dir, search, save_models
        self.y_test, self.texts = multi_hot(test), column(test, "text")

    def run(self, side: str, train_ds: datasets.Dataset, val: datasets.Dataset, config: TrainConfig) -> Run:
        """Fit on `train_ds` (validation: `val`), then, and only then, predict the test rows."""
        key = run_key(config, train_ds, val, self.test)
        folder = self.out_dir / side / f"seed_{config.seed}"
        found = self._find(key)
        if found is not None:
            log.info("%s, seed %s: reusing the finished run in %s", side, config.seed, found)
            meta = json.loads((found / RUN_FILE).read_text(encoding="utf-8"))
            probabilities = np.load(found / PROBABILITIES_FILE)
            info, label_names = meta["info"], meta["label_names"]
            if found.resolve() != folder.resolve():
                folder.mkdir(parents=True, exist_ok=True)
                for name in (RUN_FILE, PROBABILITIES_FILE):
                    shutil.copy2(found / name, folder / name)
        else:
            model = fit(train_ds, val, config)
            probabilities = model.predict_proba(self.texts)
            label_names = model.label_names
            info = {
                **model.info,
                "history": model.history,
                "thresholds": model.thresholds.to_dict()["per_label"],
                "train_rows_after_leak_check": len(train_ds),
            }
            folder.mkdir(parents=True, exist_ok=True)
            if self.save_models:
                model.save(folder / "model")
            np.save(folder / PROBABILITIES_FILE, probabilities)
            meta = {"key": key, "side": side, "seed": config.seed, "label_names": label_names, "info": info}
            (folder / RUN_FILE).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
        thresholds = Thresholds(np.asarray(info["thresholds"], dtype=np.float64), "per_label")
        report = multilabel_report(self.y_test, probabilities, label_names, thresholds)
        (folder / "test_metrics.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        info = {**info, "test_metrics": str(folder / "test_metrics.json"), "reused": found is not None}
        return Run(side, config.seed, report, thresholds.apply(probabilities), info, probabilities)

    def _find(self, key: str) -> Path | None:
        for folder in self.search:
            for path in sorted(Path(folder).glob(f"*/seed_*/{RUN_FILE}")):
                try:
                    meta = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, json.JSONDecodeError):
                    continue
                if meta.get("key") == key and (path.parent / PROBABILITIES_FILE).is_file():
                    return path.parent
        return None


def comparison_table(
    runs: Mapping[str, Sequence[Run]],
    names: Sequence[str],
    rare: Sequence[str],
    train_sets: Mapping[str, Mapping[int, datasets.Dataset]],
    y_test: np.ndarray,
    n_bootstrap: int = DEFAULT_RESAMPLES,
    bootstrap_seed: int = 0,
) -> dict[str, Any]:
    """Summary and per-label tables: seed means, stds, paired per-seed deltas (balanced - imbalanced), CIs.

    With only an ``imbalanced`` side, the tables hold its scores (mean, std, CI) and no deltas.
    """
    sides = [side for side in ("imbalanced", "balanced") if side in runs]
    summary = {}
    for metric in SUMMARY_METRICS:
        values = {side: [r.report[metric] for r in runs[side]] for side in sides}
        summary[metric] = _seed_row(values) if all(None not in v for v in values.values()) else None
    summary["rare_f1"] = _seed_row({side: [mean_f1(r.report, rare) for r in runs[side]] for side in sides})
    boot = None
    if n_bootstrap:
        boot = paired_bootstrap(
            y_test,
            [r.predictions for r in runs["imbalanced"]],
            [r.predictions for r in runs["balanced"]] if "balanced" in runs else None,
            {"f1_macro": range(len(names)), "rare_f1": [list(names).index(name) for name in rare]},
            n_resamples=n_bootstrap,
            seed=bootstrap_seed,
        )
        for metric in ("f1_macro", "rare_f1"):
            for side, key in zip(sides, ("first", "second")):
                summary[metric][f"{side}_ci"] = boot["scores"][key][metric]["ci"]
            if "groups" in boot:
                summary[metric]["ci"] = boot["groups"][metric]["ci"]
    counts = {
        side: np.mean([multi_hot(ds).sum(axis=0) for ds in per_seed.values()], axis=0)
        for side, per_seed in train_sets.items()
    }
    rows = []
    for i, name in enumerate(names):
        row = _seed_row({side: [r.report["per_label"][name]["f1"] for r in runs[side]] for side in sides})
        rows.append(
            {
                "label": name,
                "rare": name in rare,
                "test_support": runs["imbalanced"][0].report["per_label"][name]["support"],
                **{f"train_{side}": round(float(counts[side][i])) for side in sides},
                **{f"f1_{side}": row[side] for side in sides},
                "delta": row.get("delta"),
                "delta_std": row.get("delta_std"),
                "ci": boot["per_label"]["ci"][i] if boot and "per_label" in boot else None,
            }
        )
    bootstrap = None
    if boot is not None:
        bootstrap = {k: v for k, v in boot.items() if k not in ("groups", "per_label", "scores")}
    return {"rare_labels": list(rare), "summary": summary, "per_label": rows, "bootstrap": bootstrap}


def _seed_row(values: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """Mean and std over seeds per side; with both sides, the paired deltas (balanced - imbalanced)."""
    row: dict[str, Any] = {"per_seed": {side: [float(v) for v in vals] for side, vals in values.items()}}
    for side, vals in values.items():
        row[side] = float(np.mean(vals))
        row[f"{side}_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
    if "balanced" in values:
        stats = seed_summary(values["imbalanced"], values["balanced"])
        row.update(delta=stats["delta"], delta_std=stats["delta_std"])
        row["per_seed"]["delta"] = stats["deltas"]
    return row


def write_comparison(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """comparison.json, comparison.md (markdown delta tables) and comparison_delta.png."""
    paths = [out_dir / "comparison.json", out_dir / "comparison.md", out_dir / "comparison_delta.png"]
    paths[0].write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    paths[1].write_text(comparison_markdown(result), encoding="utf-8")
    _plot_delta(result, paths[2])
    return paths


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "n/a" if value is None else format(value, spec)


def _ci(ci: Sequence[float] | None, spec: str = "+.4f") -> str:
    return "" if not ci else f"[{ci[0]:{spec}}, {ci[1]:{spec}}]"


def _score_cell(row: dict[str, Any], side: str) -> str:
    """``mean ± std [CI]`` of one side (std with several seeds, CI where the bootstrap gave one)."""
    std, ci = row.get(f"{side}_std"), row.get(f"{side}_ci")
    return " ".join(
        [_fmt(row[side]), *([f"± {std:.4f}"] if std is not None else []), *([_ci(ci, ".4f")] if ci else [])]
    )


def _folds_line(folds: Sequence[dict[str, Any]], paired: bool) -> str:
    """A cross-fitted screen's folds, each on its own: mean delta (or the baseline's mean) per fold."""
    key, spec = ("delta", "+.4f") if paired else ("imbalanced", ".4f")
    parts = [
        f"{fold['folder']} macro-F1 {_fmt(fold['summary']['f1_macro'][key], spec)}, "
        f"rare-F1 {_fmt(fold['summary']['rare_f1'][key], spec)}"
        for fold in folds
    ]
    return f"Each fold alone ({'mean delta' if paired else 'mean'}; `<fold>/comparison.md`): " + "; ".join(
        parts
    )


def comparison_markdown(result: dict[str, Any]) -> str:
    """The summary table (mean ± std over seeds [95% CI], mean paired delta, its CI, per-seed deltas) and
    the per-label table, as Markdown; one side only (a baseline) gives its scores without deltas."""
    seeds = result.get("seeds", [])
    boot = result.get("bootstrap")
    sides = [side for side in ("imbalanced", "balanced") if f"train_{side}" in result["per_label"][0]]
    paired = len(sides) == 2
    header = f"Scored on {result.get('scored_on', SCORED_ON_TEST)} · seeds: {', '.join(map(str, seeds))}"
    if result.get("equal_steps"):
        header += " · equal optimizer steps"
    if boot:
        header += (
            f" · CIs: {boot['confidence']:.0%} {boot['method']}, {boot['n_resamples']} resamples, "
            f"seed {boot['seed']}"
        )
    columns = [*sides, *(["delta", "95% CI of delta", "per-seed deltas"] if paired else ["per-seed values"])]
    metric_rows = []
    for metric, row in result["summary"].items():
        if row is None:
            metric_rows.append([metric, *("n/a" for _ in columns)])
            continue
        cells = [_score_cell(row, side) for side in sides]
        if paired:
            deltas = ", ".join(f"{d:+.4f}" for d in row["per_seed"]["delta"])
            cells += [_fmt(row["delta"], "+.4f"), _ci(row.get("ci")), deltas]
        else:
            cells.append(", ".join(f"{v:.4f}" for v in row["per_seed"][sides[0]]))
        metric_rows.append([metric, *cells])
    lines = [
        header,
        "",
        *([_folds_line(result["folds"], paired), ""] if result.get("folds") else []),
        markdown_table(["metric", *columns], metric_rows, align="l" + "r" * (len(columns) - 1) + "l"),
        "",
        f"Rare labels (the {len(result['rare_labels'])} rarest in the imbalanced training set, marked *): "
        + ", ".join(result["rare_labels"]),
        "",
    ]
    short = {"imbalanced": "imb.", "balanced": "bal."}
    label_columns = [
        "test support",
        *(f"train rows ({short[s]})" for s in sides),
        *(f"F1 {s}" for s in sides),
    ]
    if paired:
        label_columns += ["delta", "95% CI"]
    label_rows = []
    for row in result["per_label"]:
        cells = [
            str(row["test_support"]),
            *(str(row[f"train_{s}"]) for s in sides),
            *(f"{row[f'f1_{s}']:.3f}" for s in sides),
        ]
        if paired:
            cells += [f"{row['delta']:+.3f}", _ci(row.get("ci"), "+.3f")]
        label_rows.append([f"{row['label']}*" if row["rare"] else row["label"], *cells])
    lines.append(markdown_table(["label", *label_columns], label_rows, align="l" + "r" * len(label_columns)))
    return "\n".join(lines) + "\n"


def _plot_delta(result: dict[str, Any], path: Path) -> None:
    """Per-label deltas with CI bars (two sides), or per-label F1 of the one side."""
    from goemobalance.figures import new_figure, save_figure

    rows = sorted(result["per_label"], key=lambda r: r["train_imbalanced"])
    paired = rows[0].get("delta") is not None
    x = np.arange(len(rows))
    values = np.array([r["delta"] if paired else r["f1_imbalanced"] for r in rows])
    fig = new_figure((max(8, 0.4 * len(rows)), 4.5))
    ax = fig.subplots()
    colors = ["tab:green" if v >= 0 else "tab:red" for v in values] if paired else "tab:blue"
    errors = None
    if paired and all(r.get("ci") for r in rows):
        cis = np.array([r["ci"] for r in rows])
        errors = np.clip(np.stack([values - cis[:, 0], cis[:, 1] - values]), 0, None)
    ax.bar(x, values, color=colors, yerr=errors, capsize=2, ecolor="gray")
    ax.axhline(0, color="black", lw=0.8)
    scored_on = result.get("scored_on", SCORED_ON_TEST)
    title = (
        f"Per-label F1 change on {scored_on} (rarest first; bars: 95% bootstrap CI)"
        if paired
        else f"Per-label F1 on {scored_on} (rarest first; mean over seeds)"
    )
    ax.set(xticks=x, ylabel="F1 balanced - F1 imbalanced" if paired else "F1", title=title)
    ax.set_xticklabels([f"{r['label']}*" if r["rare"] else r["label"] for r in rows], rotation=70, ha="right")
    fig.tight_layout()
    save_figure(fig, path)


__all__ = [
    "SCORED_ON_CROSS_FIT",
    "SCORED_ON_SCREEN",
    "SCORED_ON_TEST",
    "LeakError",
    "LeakReport",
    "Run",
    "check_separate",
    "check_untouched_test",
    "comment_ids",
    "compare",
    "comparison_markdown",
    "comparison_table",
    "cross_fit_compare",
    "data_digest",
    "find_leaks",
    "leak_key",
    "remove_leaks",
    "run_key",
    "screening_split",
    "write_comparison",
]
