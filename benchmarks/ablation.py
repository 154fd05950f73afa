"""Issue 12 ablation: which balanced training set makes emotion classifiers better on GoEmotions test.

Every training set is built with the library's own API, the way `goemobalance build` builds one:

1. the pool: GoEmotions train (human rows) + the 38,915 shared Sentiment140 tweets, cleaned, labelled by
   the offline TF-IDF labeler fitted on GoEmotions train, acceptance thresholds tuned on GoEmotions dev
   (`tune_acceptance`: F1-optimal, or a target precision), accepted with `accept(labelled, rule)`;
2. the leak guard: `drop_eval_leaks(pool, {dev, test})` (exact and near-duplicate texts);
3. the balancer: `balance_dataset(pool, method=..., seed=seed)`, one set per seed.

Each set is then compared with GoEmotions train by `goemobalance.train.compare.compare` (the harness of
`goemobalance compare`): same model and seed on both sides, early stopping and thresholds on GoEmotions
dev, scores on the untouched GoEmotions test split, paired per-seed deltas and paired bootstrap 95% CIs.
Seeds change the balancer's choices and the model's seed. Finished runs are reused (the harness keys a
run by its settings, seed and data), so an interrupted command resumes when run again.

Commands (WORK holds pools, sets and runs; nothing is written elsewhere):

    python benchmarks/ablation.py --work WORK run select_equal1000 select_median add_median add_mean \\
        add_max add_max+w mlros25 all --seeds 0 1 2 3 4                # proxy screen
    python benchmarks/ablation.py --work WORK run add_max@p50 add_max@p60 add_max@p70 add_max@p80
    python benchmarks/ablation.py --work WORK run add_mean+conf --against add_mean   # arm vs arm
    python benchmarks/ablation.py --work WORK holdout --fractions 25 50 100 --seeds 0 1 2 3 4
    python benchmarks/ablation.py --work WORK holdout --fractions 100 --model hybrid --config cpu.yaml \\
        --seeds 0 1 2 --equal-steps                                      # the same, hybrid model
    python benchmarks/ablation.py --work WORK quickstart --recipe recipes/quickstart.yaml --seeds 0 1 2 3 4
    python benchmarks/ablation.py --work WORK run add_max --model hybrid --config cpu.yaml \\
        --seeds 13 14 15 --equal-steps                                   # hybrid confirmation
    python benchmarks/ablation.py --work WORK run add_mean --model hybrid --config plain_bce.yaml \\
        --seeds 13 14 15 --equal-steps --tag _plain_bce                  # a config variant, own folder
    python benchmarks/ablation.py --work WORK run add_mean add_mean@f1pol --score-on dev   # dev-only screen
    python benchmarks/ablation.py --work WORK table                      # markdown of every finished run

``--score-on dev`` screens without the test split (as ``goemobalance compare --screen``): GoEmotions dev
is cut into two label-stratified halves (`screening_split`, seed 0); the first half early-stops and tunes
thresholds, the second is scored (runs under ``runs/<kind>_dev``). A mode chosen there was chosen without
test rows.

Arm names: ``<mode>[@<level>]``; modes in `MODES`, pseudo-label levels (labeler, acceptance thresholds,
labels kept per tweet, the labeler's class weights, polarity check) in `LEVELS` (default ``f1``: `tfidf`,
F1-optimal thresholds, up to 3 labels; ``f1top1`` is the quickstart's rule since 2026-12-02: 1 label).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import yaml

from goemobalance.balance import balance_dataset
from goemobalance.commands.train import load_split
from goemobalance.label import OfflineLabeler, SelectionRule, accept, offline_labeler, tune_acceptance
from goemobalance.labels import SENTIMENT_GROUPS
from goemobalance.leaks import drop_eval_leaks
from goemobalance.markdown import markdown_table as render_markdown_table
from goemobalance.schema import COLUMNS, column, features, multi_hot
from goemobalance.sources import load_dataset_any
from goemobalance.sources.sentiment140 import load_sentiment140
from goemobalance.train.compare import (
    SCORED_ON_SCREEN,
    SCORED_ON_TEST,
    compare,
    cross_fit_compare,
    screening_split,
)
from goemobalance.train.config import TrainConfig
from goemobalance.train.metrics import rarest_labels

log = logging.getLogger("ablation")
TWEETS = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sentiment140" / "training_sample.csv"
)
RARE_K = 8


@dataclass(frozen=True)
class Level:
    """How the tweets of a pool are pseudo-labelled and accepted."""

    # None: F1-optimal thresholds (the build's `threshold: tuned`), else the target precision of
    # `tune_acceptance` (Wilson lower bound on GoEmotions dev; unreachable labels accept nothing)
    precision: float | None = None
    beta: float = 1.0  # without a precision target: F-beta-optimal thresholds (2: recall counts twice)
    max_labels: int = 3  # most pseudo-labels a tweet keeps (the build's rule: 3)
    labeler: str = "tfidf"  # an offline labeler name (`goemobalance.label.OFFLINE_LABELERS`)
    class_weight: str | None = None  # the labeler's heads' class_weight ("balanced": rare labels count more)
    # drop every pseudo-label of the GoEmotions sentiment group (positive or negative) opposite to the
    # tweet's Sentiment140 polarity; a tweet left without labels is not accepted
    polarity_checked: bool = False


LEVELS: dict[str, Level] = {
    "f1": Level(),
    **{f"p{round(p * 100)}": Level(precision=p) for p in (0.5, 0.6, 0.7, 0.8)},
    "f2": Level(beta=2.0),
    "f1top1": Level(max_labels=1),
    "f1top1bal": Level(max_labels=1, class_weight="balanced"),
    "f1pol": Level(polarity_checked=True),
    "f1ens": Level(labeler="tfidf+minilm"),
}
PRIORITY = ("human", "pseudo", "llm")


@dataclass(frozen=True)
class Mode:
    """How a training set is made from the screened pool: which rows, which balancer call, which weights."""

    rows: str  # "pool": human + accepted tweets; "human": GoEmotions train only
    method: str | None  # balance_dataset method; None: every row of `rows`
    options: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None  # sample_weighting on the balanced side (`--balanced-config`)
    note: str = ""


MODES: dict[str, Mode] = {
    "select_equal1000": Mode("pool", "select", {"sampling_strategy": 1000}, note="today's quickstart"),
    "select_median": Mode("pool", "select", {"sampling_strategy": "median"}),
    "add_median": Mode("pool", "add", {"sampling_strategy": "median"}),
    "add_mean": Mode("pool", "add", {"sampling_strategy": "mean"}),
    "add_max": Mode("pool", "add", {"sampling_strategy": "max"}),
    "add_median+w": Mode("pool", "add", {"sampling_strategy": "median"}, weights="effective"),
    "add_mean+w": Mode("pool", "add", {"sampling_strategy": "mean"}, weights="effective"),
    "add_max+w": Mode("pool", "add", {"sampling_strategy": "max"}, weights="effective"),
    "add_mean+conf": Mode(
        "pool",
        "add",
        {"sampling_strategy": "mean", "prefer": "confidence"},
        note="most confident tweets first",
    ),
    "add_max+conf": Mode(
        "pool",
        "add",
        {"sampling_strategy": "max", "prefer": "confidence"},
        note="most confident tweets first",
    ),
    "mlros25": Mode("human", "ml-ros", {"percentage": 25}, note="GoEmotions train only"),
    "all": Mode("pool", None, note="every human row + every accepted tweet"),
}


def parse_arm(name: str) -> tuple[str, Mode, str]:
    """``mode@level`` -> (mode name, Mode, level name)."""
    mode, _, level = name.partition("@")
    level = level or "f1"
    if mode not in MODES or level not in LEVELS:
        raise SystemExit(f"unknown arm {name!r}: modes {sorted(MODES)}, levels {sorted(LEVELS)}")
    return mode, MODES[mode], level


# --------------------------------------------------------------------------------------------------
# data: GoEmotions, the labelled tweets, the screened pools
# --------------------------------------------------------------------------------------------------


class Data:
    """GoEmotions splits (the packaged copy), the labelled tweets and the screened pools, cached under WORK."""

    def __init__(self, work: Path, tweets: Path = TWEETS):
        self.work, self.tweets_path = work, tweets
        self.train, self.dev, self.test = (load_split("packaged", s) for s in ("train", "validation", "test"))
        self._labelers: dict[str, OfflineLabeler] = {}
        self._pools: dict[str, datasets.Dataset] = {}

    @property
    def eval_sets(self) -> dict[str, datasets.Dataset]:
        return {"goemotions_dev": self.dev, "goemotions_test": self.test}

    def labeler(self, name: str = "tfidf", class_weight: str | None = None) -> OfflineLabeler:
        """The offline labeler `name` fitted on GoEmotions train (the build's rule: <= 3 labels, no
        top-1 fallback); thresholds are tuned per level in `accepted`. MiniLM embeddings are cached
        under WORK/pools/minilm-cache."""
        key = labeler_key(name, class_weight)
        path = self.work / "pools" / ("labeler" if key == "tfidf" else f"labeler_{key}")
        if key not in self._labelers and (path / "labeler.json").exists():
            self._labelers[key] = OfflineLabeler.load(path)
        if key not in self._labelers:
            rule = SelectionRule(threshold=0.5, min_confidence=0.0, max_labels=3, top1_fallback=False)
            options = {} if name == "tfidf" else {"cache_dir": str(self.work / "pools" / "minilm-cache")}
            if class_weight is not None:
                options["class_weight"] = class_weight
            started = time.perf_counter()
            labeler = offline_labeler(name, rule=rule, **options).fit(
                texts(self.train), multi_hot(self.train)
            )
            log.info("%s labeler fitted in %.0f s", key, time.perf_counter() - started)
            labeler.save(path)
            self._labelers[key] = labeler
        return self._labelers[key]

    def labelled_tweets(self, name: str = "tfidf", class_weight: str | None = None) -> datasets.Dataset:
        """Every tweet with its 28 scores by labeler `name` (labelled once; `accept` re-derives labels for
        each rule)."""
        key = labeler_key(name, class_weight)
        path = self.work / "pools" / ("tweets_labelled" if key == "tfidf" else f"tweets_labelled_{key}")
        if not path.exists():
            tweets = load_sentiment140(self.tweets_path, clean=True, on_error="skip")
            self.labeler(name, class_weight).label(tweets).save_to_disk(str(path))
        return datasets.load_from_disk(str(path))

    def accepted(self, level: str) -> tuple[datasets.Dataset, dict[str, Any]]:
        """The tweets the level's rule (tuned on GoEmotions dev) accepts, and the acceptance report."""
        how = LEVELS[level]
        labeler = self.labeler(how.labeler, how.class_weight)
        acceptance = tune_acceptance(
            multi_hot(self.dev),
            labeler.predict_proba(texts(self.dev)),
            labeler.space,
            target_precision=how.precision,
            rule=dataclasses.replace(labeler.rule, max_labels=how.max_labels),
            tuned_on="goemotions dev",
            beta=how.beta,
        )
        kept, _ = accept(self.labelled_tweets(how.labeler, how.class_weight), acceptance.rule)
        kept = kept.remove_columns("reject_reason").select_columns(list(COLUMNS)).cast(features())
        report = {"labeler": labeler_key(how.labeler, how.class_weight), **acceptance.to_dict()}
        if how.polarity_checked:
            kept, report["polarity_check"] = polarity_checked(kept)
        return kept, report

    def pool(self, rows: str, level: str) -> datasets.Dataset:
        """GoEmotions train (+ the level's accepted tweets) after the build's leak guard, cached."""
        name = "human" if rows == "human" else f"pool_{level}"
        if name in self._pools:
            return self._pools[name]
        path = self.work / "pools" / name
        if not (path / "info.json").exists():
            parts, info = [self.train], {}
            if rows == "pool":
                tweets, acceptance = self.accepted(level)
                parts.append(tweets)
                info["tweets_accepted"] = len(tweets)
                info["acceptance"] = acceptance
            pool = datasets.concatenate_datasets(parts)
            screened, leaks = drop_eval_leaks(pool, self.eval_sets)
            screened.flatten_indices().save_to_disk(str(path / "data"))
            info.update(
                rows_in=len(pool), rows=len(screened), leaks=leaks.to_dict(), origins=origins(screened)
            )
            write_json(path / "info.json", info)
        self._pools[name] = datasets.load_from_disk(str(path / "data"))
        return self._pools[name]


def labeler_key(name: str, class_weight: str | None) -> str:
    """The cache name of a labeler: its registry name, with its class_weight when it has one."""
    return name if class_weight is None else f"{name}_{class_weight}"


def polarity_checked(tweets: datasets.Dataset) -> tuple[datasets.Dataset, dict[str, int]]:
    """`tweets` without the pseudo-labels whose sentiment group contradicts the Sentiment140 polarity
    (0: negative tweet, no positive label; 4: positive tweet, no negative label), and the counts removed."""
    names = tweets.features["labels"].feature.names
    group = {name: g for g, members in SENTIMENT_GROUPS.items() for name in members}
    banned = {0: "positive", 4: "negative"}
    before = column(tweets, "labels")
    labels = [
        [i for i in row if group.get(names[i]) != banned.get(json.loads(meta).get("polarity"))]
        for row, meta in zip(before, column(tweets, "meta"))
    ]
    kept = [i for i, row in enumerate(labels) if row]
    removed = sum(map(len, before)) - sum(map(len, labels))
    checked = tweets.remove_columns("labels").add_column("labels", labels, feature=tweets.features["labels"])
    checked = checked.select(kept).select_columns(tweets.column_names)
    return checked, {"labels_removed": removed, "tweets_dropped": len(tweets) - len(kept)}


def texts(dataset: datasets.Dataset) -> list[str]:
    return column(dataset, "text")


def origins(dataset: datasets.Dataset) -> dict[str, int]:
    """Rows per label origin (human, pseudo, llm)."""
    values, counts = np.unique(column(dataset, "label_origin"), return_counts=True)
    return {str(v): int(c) for v, c in zip(values, counts)}


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")


def save_set(dataset: datasets.Dataset, path: Path, report: dict[str, Any]) -> datasets.Dataset:
    """Save a training set as a one-split DatasetDict (readable by `goemobalance compare`) with its report."""
    dataset = dataset.flatten_indices()
    datasets.DatasetDict({"train": dataset}).save_to_disk(str(path / "data"))
    y = multi_hot(dataset)
    report = {
        **report,
        "rows": len(dataset),
        "origins": origins(dataset),
        "label_counts": y.sum(axis=0).tolist(),
    }
    write_json(path / "set.json", report)
    return dataset


def load_set(path: Path) -> datasets.Dataset | None:
    if not (path / "set.json").exists():
        return None
    return load_dataset_any(str(path / "data"), split="train")


# --------------------------------------------------------------------------------------------------
# building one arm's sets
# --------------------------------------------------------------------------------------------------


def build_set(data: Data, arm: str, seed: int) -> datasets.Dataset:
    """The arm's training set for `seed` (cached under WORK/sets/<mode>@<level>_<seed>)."""
    mode_name, mode, level = parse_arm(arm)
    folder = mode_name.removesuffix("+w") if mode.weights else mode_name
    path = data.work / "sets" / f"{folder}@{level if mode.rows == 'pool' else 'none'}_{seed}"
    found = load_set(path)
    if found is not None:
        return found
    pool = data.pool(mode.rows, level)
    if mode.method is None:
        return save_set(pool, path, {"arm": arm, "method": None, "seed": seed})
    result = (
        balance_dataset(pool, method=mode.method, source_priority=PRIORITY, seed=seed, **mode.options)
        if mode.method in ("select", "add")
        else balance_dataset(pool, method=mode.method, seed=seed, **mode.options)
    )
    report = {"arm": arm, "method": mode.method, "seed": seed, "balance": result.report.to_dict()}
    return save_set(result.dataset, path, report)


def proxy_config(weights: str | None = None) -> TrainConfig:
    return TrainConfig(model="proxy", sample_weighting=weights or "none")


def train_config(args: argparse.Namespace) -> TrainConfig:
    if args.model == "proxy":
        return proxy_config()
    return TrainConfig.from_yaml(args.config) if args.config else TrainConfig()


def run_compare(
    data: Data,
    out: Path,
    balanced: dict[int, datasets.Dataset],
    imbalanced: datasets.Dataset | dict[int, datasets.Dataset],
    config: TrainConfig,
    seeds: list[int],
    *,
    balanced_config: TrainConfig | None = None,
    equal_steps: bool = False,
    reuse: list[Path] = (),
    score_on: str = "test",
    fold: int = 0,
) -> dict[str, Any]:
    """One `compare` call; every folder of the same model kind is searched for finished runs.

    ``score_on="dev"``: the dev halves of `fold` stand in for (validation, test); ``"dev-cross"``: both
    folds, pooled (`cross_fit_compare`); the test split is not used by either."""
    started = time.perf_counter()
    options = {
        "seeds": seeds, "equal_steps": equal_steps, "balanced_config": balanced_config, "rare_k": RARE_K,
        "reuse": [p for p in reuse if p.exists() and p.resolve() != out.resolve()],
    }  # fmt: skip
    if score_on == "dev-cross":
        result = cross_fit_compare(balanced, imbalanced, data.dev, config, out, **options)
    else:
        val, test, scored_on = (
            (*screening_split(data.dev, fold=fold), SCORED_ON_SCREEN)
            if score_on == "dev"
            else (data.dev, data.test, SCORED_ON_TEST)
        )
        result = compare(balanced, imbalanced, test, val, config, out, scored_on=scored_on, **options)
    write_json(out / "ablation.json", {"seconds": round(time.perf_counter() - started), "uptime": uptime()})
    return result


def uptime() -> str:
    return subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip()


def sibling_runs(work: Path, kind: str) -> list[Path]:
    return sorted(p for p in (work / "runs" / kind).glob("*") if p.is_dir())


def screen_suffix(args: argparse.Namespace) -> str:
    """Run-folder suffix of a dev screen: ``_fold1`` for the second fold, ``_cross`` for both pooled."""
    if args.score_on == "dev-cross":
        return "_cross"
    return "_fold1" if args.score_on == "dev" and args.fold == 1 else ""


def cmd_run(args: argparse.Namespace, data: Data) -> None:
    """Each arm against GoEmotions train, or against another arm's sets of the same seeds (`--against`)."""
    config = train_config(args)
    kind = ("proxy" if args.model == "proxy" else "hybrid") + ("" if args.score_on == "test" else "_dev")
    baseline = data.train
    if args.against:
        baseline = {seed: build_set(data, args.against, seed) for seed in args.seeds}
    for arm in args.arms:
        _, mode, _ = parse_arm(arm)
        sets = {seed: build_set(data, arm, seed) for seed in args.seeds}
        balanced_config = config.replace(sample_weighting=mode.weights) if mode.weights else None
        name = (f"{arm}_vs_{args.against}" if args.against else arm) + args.tag + screen_suffix(args)
        out = args.work / "runs" / kind / name.replace("@", "_at_")
        log.info("%s: %s", arm, {s: len(d) for s, d in sets.items()})
        reuse = [*sibling_runs(args.work, kind), *map(Path, args.reuse)]
        run_compare(data, out, sets, baseline, config, args.seeds, balanced_config=balanced_config,
                    equal_steps=args.equal_steps, reuse=reuse, score_on=args.score_on,
                    fold=args.fold)  # fmt: skip
        print_summary(arm, out)


# --------------------------------------------------------------------------------------------------
# the controlled experiment: an ideal generator's rare-label rows, added back in steps
# --------------------------------------------------------------------------------------------------


def holdout_split(
    human: datasets.Dataset, seed: int, share: float
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(reduced, held out): `share` of the rows carrying one of the 8 rarest labels, chosen with `seed`,
    held out and marked as an ideal generator's output (``source``/``label_origin`` ``llm``), in random
    order (a step of k% takes the first k% of them)."""
    y = multi_hot(human)
    rare = [
        human.features["labels"].feature.str2int(n)
        for n in rarest_labels(y, human.features["labels"].feature.names, RARE_K)
    ]
    carriers = np.flatnonzero(y[:, rare].any(axis=1))
    rng = np.random.default_rng(seed)
    held = rng.permutation(carriers)[: round(share * len(carriers))]
    reduced = human.select(np.setdiff1d(np.arange(len(human)), held))
    generated = human.select(held).map(
        lambda _: {"source": "llm", "label_origin": "llm"}, desc="mark as generated"
    )
    return reduced, generated


def cmd_holdout(args: argparse.Namespace, data: Data) -> None:
    """Reduced GoEmotions train vs reduced + k% of the held-out rare-label rows through `add`."""
    human = data.pool("human", "f1")
    reduced, steps = {}, {f: {} for f in args.fractions}
    for seed in args.seeds:
        base = data.work / "sets" / f"holdout_reduced_{seed}"
        cut, generated = holdout_split(human, seed, args.share)
        reduced[seed] = load_set(base) or save_set(cut, base, {"seed": seed, "held_out": len(generated)})
        for fraction in args.fractions:
            path = data.work / "sets" / f"holdout_add{fraction}_{seed}"
            found = load_set(path)
            if found is None:
                n = round(len(generated) * fraction / 100)
                pool = datasets.concatenate_datasets([cut, generated.select(range(n))])
                result = balance_dataset(pool, method="add", sampling_strategy=args.target,
                                         source_priority=PRIORITY, seed=seed)  # fmt: skip
                report = {"seed": seed, "fraction": fraction, "offered": n, "held_out": len(generated),
                          "balance": result.report.to_dict()}  # fmt: skip
                found = save_set(result.dataset, path, report)
            steps[fraction][seed] = found
    config = train_config(args)
    kind = "holdout" if args.model == "proxy" else "holdout_hybrid"
    for fraction in args.fractions:
        out = args.work / "runs" / kind / f"add{fraction}"
        run_compare(data, out, steps[fraction], reduced, config, args.seeds, equal_steps=args.equal_steps,
                    reuse=sibling_runs(args.work, kind))  # fmt: skip
        print_summary(f"holdout add {fraction}%", out)


# --------------------------------------------------------------------------------------------------
# the default build: its published train split vs GoEmotions train
# --------------------------------------------------------------------------------------------------


def cmd_quickstart(args: argparse.Namespace, data: Data) -> None:
    """Build the recipe once per seed (``seed: N``), then compare each published train split with the proxy."""
    recipe = yaml.safe_load(Path(args.recipe).read_text(encoding="utf-8"))
    base = args.work / "quickstart" / args.name
    sets, builds = {}, {}
    for seed in args.seeds:
        out = base / f"build_{seed}"
        if not (out / "manifest.json").exists():
            variant = {**recipe, "seed": seed}
            if args.sentiment140:
                variant["sources"] = [
                    {**s, "path": str(Path(args.sentiment140).resolve())}
                    if s["type"] == "sentiment140"
                    else s
                    for s in recipe["sources"]
                ]
            path = base / f"recipe_{seed}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(variant, sort_keys=False), encoding="utf-8")
            before, started = uptime(), time.perf_counter()
            subprocess.run([sys.executable, "-m", "goemobalance.cli", "build", str(path), "--out", str(out),
                            "--quiet"], check=True)  # fmt: skip
            write_json(base / f"build_{seed}.json",
                       {"seconds": round(time.perf_counter() - started, 1), "uptime_before": before,
                        "uptime_after": uptime()})  # fmt: skip
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        builds[seed] = {"hash": manifest.get("output_hash") or manifest.get("hash"),
                        **json.loads((base / f"build_{seed}.json").read_text(encoding="utf-8"))}  # fmt: skip
        sets[seed] = load_dataset_any(str(out / "dataset"), split="train")
        log.info("seed %s: %s train rows, %s", seed, len(sets[seed]), origins(sets[seed]))
    write_json(base / "builds.json", builds)
    out = args.work / "runs" / "proxy" / f"quickstart_{args.name}"
    run_compare(
        data, out, sets, data.train, proxy_config(), args.seeds, reuse=sibling_runs(args.work, "proxy")
    )
    print_summary(f"quickstart {args.name}", out)


# --------------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------------


def summary_row(arm: str, folder: Path) -> dict[str, Any] | None:
    path = folder / "comparison.json"
    if not path.exists():
        return None
    result = json.loads(path.read_text(encoding="utf-8"))
    summary = result["summary"]
    rows = [r["train_rows_after_leak_check"] for r in result["runs"].get("balanced", [])]
    return {
        "arm": arm,
        "seeds": result["seeds"],
        "rows": float(np.mean(rows)) if rows else None,
        "imbalanced_rows": float(np.mean([r["train_rows_after_leak_check"] for r in result["runs"]["imbalanced"]])),
        **{f"{m}_{k}": summary[m].get(k) for m in ("f1_macro", "rare_f1")
           for k in ("imbalanced", "imbalanced_std", "balanced", "balanced_std", "delta", "delta_std", "ci")},
        "rare_labels": result["rare_labels"],
    }  # fmt: skip


def _cell(mean, std) -> str:
    return "n/a" if mean is None else f"{mean:.4f} ± {std:.4f}" if std is not None else f"{mean:.4f}"


def _delta(delta, ci) -> str:
    return "n/a" if delta is None else f"{delta:+.4f} [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else f"{delta:+.4f}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    headers = ["arm", "rows (bal.)", "macro-F1 imb.", "macro-F1 bal.", "delta [95% CI]", "rare-8 imb.",
               "rare-8 bal.", "delta [95% CI]"]  # fmt: skip

    def metric_cells(r: dict[str, Any], metric: str) -> list[str]:
        return [
            _cell(r[f"{metric}_imbalanced"], r[f"{metric}_imbalanced_std"]),
            _cell(r[f"{metric}_balanced"], r[f"{metric}_balanced_std"]),
            _delta(r[f"{metric}_delta"], r[f"{metric}_ci"]),
        ]

    cells = [
        [r["arm"], f"{r['rows']:,.0f}", *metric_cells(r, "f1_macro"), *metric_cells(r, "rare_f1")]
        for r in rows
    ]
    return render_markdown_table(headers, cells, align="lrrrrrrr")


def print_summary(arm: str, folder: Path) -> None:
    row = summary_row(arm, folder)
    if row:
        print(markdown_table([row]).splitlines()[-1], flush=True)


def cmd_table(args: argparse.Namespace, data: Data | None) -> None:
    for kind in ("proxy", "proxy_dev", "holdout", "hybrid", "hybrid_dev", "holdout_hybrid"):
        rows = [r for p in sibling_runs(args.work, kind) if (r := summary_row(p.name, p))]
        if rows:
            print(f"\n### {kind}\n\n{markdown_table(rows)}")
    for path in sorted((args.work / "sets").glob("*/set.json")):
        info = json.loads(path.read_text(encoding="utf-8"))
        print(path.parent.name, info["rows"], info["origins"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, required=True, help="folder for pools, sets and runs")
    parser.add_argument("--tweets", type=Path, default=TWEETS, help="Sentiment140 CSV for the pools")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="build each arm's sets and compare them with GoEmotions train")
    run.add_argument("arms", nargs="+")
    run.add_argument("--reuse", nargs="*", default=[], help="other compare folders with finished runs")
    run.add_argument("--against", help="compare with this arm's sets instead of GoEmotions train")
    run.add_argument("--tag", default="", help="suffix of the arm's run folder (a config variant)")
    run.add_argument("--score-on", choices=("test", "dev", "dev-cross"), default="test",
                     help="dev: tune on one half of GoEmotions dev, score the other; dev-cross: both "
                     "ways, pooled; test split unused")  # fmt: skip
    run.add_argument("--fold", type=int, choices=(0, 1), default=0,
                     help="with --score-on dev: which half is scored (1: the halves swapped)")  # fmt: skip
    holdout = sub.add_parser("holdout", help="held-out rare-label rows added back through `add` in steps")
    holdout.add_argument("--fractions", type=int, nargs="+", default=[25, 50, 100])
    holdout.add_argument("--share", type=float, default=0.5, help="share of rare-label rows held out")
    holdout.add_argument("--target", default="median", help="add mode's sampling_strategy")
    quick = sub.add_parser("quickstart", help="build a recipe per seed, compare its published train split")
    quick.add_argument("--recipe", default="recipes/quickstart.yaml")
    quick.add_argument("--name", default="shipped")
    quick.add_argument("--sentiment140", help="tweets CSV replacing the recipe's")
    sub.add_parser("table", help="markdown tables of every finished comparison")
    for p in (run, holdout, quick):
        p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    for p in (run, holdout):
        p.add_argument("--model", choices=("proxy", "hybrid"), default="proxy")
        p.add_argument("--config", help="TrainConfig YAML (hybrid)")
        p.add_argument("--equal-steps", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    datasets.disable_progress_bars()
    args.work.mkdir(parents=True, exist_ok=True)
    commands = {"run": cmd_run, "holdout": cmd_holdout, "quickstart": cmd_quickstart, "table": cmd_table}
    commands[args.command](args, None if args.command == "table" else Data(args.work, args.tweets))


if __name__ == "__main__":
    main()
