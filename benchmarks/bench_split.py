"""Benchmark: goemobalance iterative stratification vs iterstrat and scikit-multilearn, and the balancer.

Same inputs, same run: the real GoEmotions train label matrix (43,410 x 28) and GoEmotions-like
matrices of 100k and 1M rows (rows drawn with replacement from GoEmotions train, so label
frequencies and co-occurrences match). Every splitter gets the same dense int8 matrix and the same
number of timed runs (``--repeats``, default 3, seeds 0, 1, 2, ...). Reported per task: best and
median seconds over those runs, and averaged over them: LD and ED (Sechidis et al. 2011),
label-pair distribution, folds missing a label. The balancer gets the same number of runs per setting.
A peer whose run is estimated above ``--peer-limit`` seconds (power law fitted on its smaller runs,
the steepest of its tasks) is skipped and reported as skipped; a peer run that still goes past the
limit is stopped (it runs in a forked child) and reported as stopped, and skipped on larger inputs.

    python benchmarks/bench_split.py              # Markdown tables
    python benchmarks/bench_split.py --json       # one JSON object
    python benchmarks/bench_split.py --repeats 5  # five timed runs of every method
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import queue as queue_module
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from goemobalance.balance import (
    IterativeStratifier,
    MultilabelBalancer,
    MultilabelStratifiedShuffleSplit,
    sparse_label_matrix,
    split_quality,
)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("GOEMOBALANCE_SHARED_DATA", REPO.parent / "shared" / "data")) / "goemotions"
TASKS = {"2-way 90/10": (0.9, 0.1), "3-way 80/10/10": (0.8, 0.1, 0.1)}


def goemotions_train_labels() -> np.ndarray:
    """The GoEmotions train label matrix (dense int8)."""
    from goemobalance.sources import load_goemotions

    return sparse_label_matrix(load_goemotions(DATA, split="train")).toarray().astype(np.int8)


def goemotions_like(base: np.ndarray, n_rows: int, seed: int) -> np.ndarray:
    """``n_rows`` rows drawn with replacement from ``base``: same label frequencies and co-occurrence."""
    return base[np.random.default_rng(seed).integers(0, len(base), n_rows)]


# ---------------------------------------------------------------------------------- splitters


def ours(y: np.ndarray, proportions: tuple[float, ...], seed: int, order: int = 1) -> list[np.ndarray]:
    if len(proportions) == 2:
        train, test = next(
            MultilabelStratifiedShuffleSplit(test_size=proportions[1], order=order, random_state=seed).split(
                y, y
            )
        )
        return [train, test]
    fold = IterativeStratifier(proportions, order=order, random_state=seed).assign(y)
    return [np.flatnonzero(fold == k) for k in range(len(proportions))]


def iterstrat(y: np.ndarray, proportions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """iterstrat is two-way only: a 3-way split is two successive stratified shuffle splits."""
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit as IterstratSplit

    rest = np.arange(len(y))
    parts = []
    remaining_share = 1.0
    for share in proportions[1:]:
        train, test = next(
            IterstratSplit(n_splits=1, test_size=share / remaining_share, random_state=seed).split(
                y[rest], y[rest]
            )
        )
        parts.append(rest[test])
        rest = rest[train]
        remaining_share -= share
    return [rest, *parts]


def skmultilearn(y: np.ndarray, proportions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    from skmultilearn.model_selection import IterativeStratification

    np.random.seed(seed)
    splitter = IterativeStratification(
        n_splits=len(proportions), order=1, sample_distribution_per_fold=list(proportions)
    )
    return [test for _, test in splitter.split(np.zeros((len(y), 1)), y)]


PEERS: dict[str, Callable] = {"iterstrat": iterstrat, "skmultilearn": skmultilearn}


# ---------------------------------------------------------------------------------- runner


def timed(function: Callable, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def measure(
    name: str,
    function: Callable,
    y: np.ndarray,
    proportions: tuple[float, ...],
    seed: int,
    repeats: int,
    *extra,
) -> dict:
    """Exactly ``repeats`` timed runs with seeds ``seed, seed+1, ...`` (the same number for every
    method): best and median seconds, split measures averaged over the runs."""
    runs, qualities = [], []
    for run in range(repeats):
        seconds, parts = timed(function, y, proportions, seed + run, *extra)
        runs.append(seconds)
        qualities.append(split_quality(y, parts, proportions).to_dict())
    quality = {key: float(np.mean([q[key] for q in qualities])) for key in qualities[0]}
    return {
        "method": name,
        "seconds": round(min(runs), 4),
        "median_seconds": round(float(np.median(runs)), 4),
        "runs": len(runs),
        **{k: _round(v) for k, v in quality.items()},
    }


def measure_with_limit(limit: float, *args) -> dict | None:
    """`measure` in a forked child process that is stopped after ``limit`` seconds (None then): the
    power-law estimate can be too optimistic for a peer that is worse than polynomial-looking."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=lambda: queue.put(measure(*args)), daemon=True)
    child.start()
    try:
        return queue.get(timeout=limit)
    except queue_module.Empty:
        return None
    finally:
        child.terminate()
        child.join()


def _round(value: float) -> float:
    return float(f"{value:.4g}") if isinstance(value, float) else value


def growth(history: list[tuple[int, float]]) -> float:
    """Power-law exponent through the last two runs of one task (at least 1: no peer is sublinear)."""
    if len(history) < 2:
        return 1.0
    (n_prev, t_prev), (n_last, t_last) = history[-2], history[-1]
    if n_last == n_prev or t_prev <= 0:
        return 1.0
    return max(1.0, math.log(t_last / t_prev) / math.log(n_last / n_prev))


def estimate(history: list[tuple[int, float]], n_rows: int, exponent: float) -> float | None:
    """Seconds at ``n_rows`` extrapolated from the last run with the given exponent."""
    if not history:
        return None
    n_last, t_last = history[-1]
    return t_last * (n_rows / n_last) ** exponent


def warm_up(y: np.ndarray, seed: int) -> None:
    """One small run of every method first, so imports and first-call costs stay out of the timings."""
    small = y[:2000]
    for proportions in TASKS.values():
        ours(small, proportions, seed)
        ours(small, proportions, seed, 2)
        for function in PEERS.values():
            function(small, proportions, seed)


def bench_splits(
    datasets_: dict[str, np.ndarray], seed: int, repeats: int, peer_limit: float, log
) -> list[dict]:
    warm_up(next(iter(datasets_.values())), seed)
    rows = []
    history: dict[tuple[str, str], list[tuple[int, float]]] = {}
    stopped_at: dict[str, int] = {}
    for data_name, y in datasets_.items():
        for task, proportions in TASKS.items():
            log(f"{data_name} {task}: ours")
            results = [
                measure("goemobalance order=1", ours, y, proportions, seed, repeats),
                measure("goemobalance order=2", ours, y, proportions, seed, repeats, 2),
            ]
            for peer, function in PEERS.items():
                exponent = (
                    max(growth(runs) for (name, _), runs in history.items() if name == peer)
                    if any(name == peer for name, _ in history)
                    else 1.0
                )
                guess = estimate(history.get((peer, task), []), len(y), exponent)
                guess = None if guess is None else guess * repeats
                if peer in stopped_at and len(y) >= stopped_at[peer]:
                    skipped = f"stopped after {peer_limit:.0f} s on a smaller or equal task"
                elif guess is not None and guess > peer_limit:
                    skipped = f"estimated {guess:.0f} s > {peer_limit:.0f} s"
                else:
                    log(f"{data_name} {task}: {peer}")
                    result = measure_with_limit(peer_limit, peer, function, y, proportions, seed, repeats)
                    skipped = None if result is not None else f"stopped after {peer_limit:.0f} s"
                    if result is None:
                        stopped_at[peer] = len(y)
                if skipped:
                    results.append({"method": peer, "skipped": skipped})
                    log(f"{data_name} {task}: {peer} skipped ({skipped})")
                    continue
                history.setdefault((peer, task), []).append((len(y), result["seconds"]))
                results.append(result)
            base = results[0]["seconds"]
            for result in results:
                if "seconds" in result:
                    result["times_ours"] = round(result["seconds"] / base, 1)
            rows.extend({"data": data_name, "rows": len(y), "task": task, **r} for r in results)
    return rows


def bench_balancer(base: np.ndarray, n_rows: int, seed: int, repeats: int) -> list[dict]:
    """Balance a GoEmotions-like pool of three sources by selection and by adding to the human rows
    (every setting timed ``repeats`` times, best kept)."""
    rng = np.random.default_rng(seed)
    pool = goemotions_like(base, n_rows, seed + 1)
    sources = rng.choice(np.array(["human", "pseudo", "llm"]), size=n_rows, p=[0.05, 0.8, 0.15])
    rows = []
    for mode, strategy in (("select", "equal"), ("select", 5000), ("select", "median"), ("add", "median")):
        runs = []
        for _ in range(repeats):
            balancer = MultilabelBalancer(strategy, mode=mode, random_state=seed)
            seconds, _ = timed(lambda b: b.fit(None, pool, sources=sources), balancer)
            runs.append(seconds)
        report = balancer.report_
        frame = report.labels
        reachable = np.maximum(
            np.minimum(frame["target"].to_numpy(dtype=float), frame["available"].to_numpy()), frame["kept"]
        )
        rows.append(
            {
                "pool_rows": n_rows,
                "mode": mode,
                "strategy": str(strategy),
                "seconds": round(min(runs), 3),
                "runs": len(runs),
                "rows_out": report.rows_out,
                "cv": round(report.cv, 4),
                "max_overshoot": round(report.max_overshoot, 4),
                "max_abs_gap_to_reachable": int(np.abs(frame["achieved"].to_numpy() - reachable).max()),
                "sources": report.sources,
            }
        )
    return rows


def markdown(result: dict) -> str:
    lines = [
        f"Machine: {result['machine']}; load average {', '.join(f'{x:.2f}' for x in result['load_average'])}",
        f"Command: `{result['command']}`",
        "",
        (
            "| data | rows | task | method | seconds (best) | median | runs | x ours | LD | label-pair LD | ED "
            "| folds missing a label |"
        ),
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["splits"]:
        if "skipped" in r:
            lines.append(
                f"| {r['data']} | {r['rows']} | {r['task']} | {r['method']} | skipped: {r['skipped']} "
                "| | | | | | | |"
            )
            continue
        lines.append(
            f"| {r['data']} | {r['rows']} | {r['task']} | {r['method']} | {r['seconds']} | "
            f"{r['median_seconds']} | {r['runs']} | "
            f"{r['times_ours']} | {r['label_distribution']} | {r['label_pair_distribution']} | "
            f"{r['example_distribution']} | {r['folds_missing_a_label']} |"
        )
    lines += [
        "",
        (
            "| pool rows | mode | strategy | seconds | runs | rows out | CV of achieved | max overshoot "
            "| max gap to reachable target |"
        ),
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["balancer"]:
        lines.append(
            f"| {r['pool_rows']} | {r['mode']} | {r['strategy']} | {r['seconds']} | {r['runs']} | "
            f"{r['rows_out']} | {r['cv']} | {r['max_overshoot']} | {r['max_abs_gap_to_reachable']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of Markdown")
    parser.add_argument("--sizes", default="100000,1000000", help="synthetic GoEmotions-like sizes")
    parser.add_argument("--balancer-rows", type=int, default=1_000_000)
    parser.add_argument("--peer-limit", type=float, default=600.0, help="skip a peer estimated above this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs of every method (the same for all)"
    )
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"[bench_split] {message}", file=sys.stderr, flush=True)

    base = goemotions_train_labels()
    data = {"GoEmotions train": base}
    for size in (int(s) for s in args.sizes.split(",") if s):
        data[f"GoEmotions-like {size // 1000}k"] = goemotions_like(base, size, args.seed)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "command": " ".join(["python benchmarks/bench_split.py", *(sys.argv[1:] if argv is None else argv)]),
        "load_average": os.getloadavg(),
        "splits": bench_splits(data, args.seed, args.repeats, args.peer_limit, log),
        "balancer": bench_balancer(base, args.balancer_rows, args.seed, args.repeats),
    }
    print(json.dumps(result) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
