"""Benchmark: goemobalance iterative stratification vs iterstrat and scikit-multilearn, and the balancer.

Same inputs, same run: the real GoEmotions train label matrix (43,410 x 28) and GoEmotions-like
matrices of 100k and 1M rows (rows drawn with replacement from GoEmotions train, so label
frequencies and co-occurrences match). Every splitter gets the same dense int8 matrix. Reported per
task: seconds (best of 3 runs with seeds 0, 1, 2, ..., or of up to 15 while they take under 1 s
together; one run when a run takes over 10 s), and averaged over those runs: LD and ED (Sechidis
et al. 2011), label-pair distribution, folds missing a label.
A peer whose run is estimated above ``--peer-limit`` seconds (power law fitted on its smaller runs,
the steepest of its tasks) is skipped and reported as skipped; a peer run that still goes past the
limit is stopped (it runs in a forked child) and reported as stopped, and skipped on larger inputs.

    python benchmarks/bench_split.py            # Markdown tables
    python benchmarks/bench_split.py --json     # one JSON object
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
                None, y
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
    *extra,
    repeats: int = 3,
    max_repeats: int = 15,
) -> dict:
    """Best of ``repeats`` timings, seeds ``seed, seed+1, ...`` (one run when the first takes over
    10 s; up to ``max_repeats`` while all runs together take under 1 s, as timeit does for fast
    code, so a millisecond timing is not one scheduler hiccup); split measures averaged over the runs."""
    runs, qualities = [], []
    while (len(runs) < repeats and (not runs or runs[0] < 10)) or (
        len(runs) < max_repeats and sum(runs) < 1.0
    ):
        seconds, parts = timed(function, y, proportions, seed + len(runs), *extra)
        runs.append(seconds)
        qualities.append(split_quality(y, parts, proportions).as_dict())
    quality = {key: float(np.mean([q[key] for q in qualities])) for key in qualities[0]}
    return {
        "method": name,
        "seconds": round(min(runs), 4),
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


def bench_splits(datasets_: dict[str, np.ndarray], seed: int, peer_limit: float, log) -> list[dict]:
    warm_up(next(iter(datasets_.values())), seed)
    rows = []
    history: dict[tuple[str, str], list[tuple[int, float]]] = {}
    stopped_at: dict[str, int] = {}
    for data_name, y in datasets_.items():
        for task, proportions in TASKS.items():
            log(f"{data_name} {task}: ours")
            results = [
                measure("goemobalance order=1", ours, y, proportions, seed),
                measure("goemobalance order=2", ours, y, proportions, seed, 2),
            ]
            for peer, function in PEERS.items():
                exponent = (
                    max(growth(runs) for (name, _), runs in history.items() if name == peer)
                    if any(name == peer for name, _ in history)
                    else 1.0
                )
                guess = estimate(history.get((peer, task), []), len(y), exponent)
                if peer in stopped_at and len(y) >= stopped_at[peer]:
                    skipped = f"stopped after {peer_limit:.0f} s on a smaller or equal task"
                elif guess is not None and guess > peer_limit:
                    skipped = f"estimated {guess:.0f} s > {peer_limit:.0f} s"
                else:
                    log(f"{data_name} {task}: {peer}")
                    result = measure_with_limit(peer_limit, peer, function, y, proportions, seed)
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


def bench_balancer(base: np.ndarray, n_rows: int, seed: int) -> list[dict]:
    """Select from a GoEmotions-like pool of three sources to per-label targets."""
    rng = np.random.default_rng(seed)
    pool = goemotions_like(base, n_rows, seed + 1)
    sources = rng.choice(np.array(["human", "pseudo", "llm"]), size=n_rows, p=[0.05, 0.8, 0.15])
    rows = []
    for strategy in ("equal", 5000, "median"):
        seconds, balancer = timed(
            lambda s: MultilabelBalancer(s, random_state=seed).fit(pool, sources), strategy
        )
        report = balancer.report_
        reachable = np.minimum(
            report["target"].to_numpy(dtype=float), report["available"].to_numpy(dtype=float)
        )
        rows.append(
            {
                "pool_rows": n_rows,
                "strategy": str(strategy),
                "seconds": round(seconds, 3),
                "selected": len(balancer.sample_indices_),
                "cv": round(balancer.cv_, 4),
                "max_abs_gap_to_reachable": int(np.abs(report["achieved"].to_numpy() - reachable).max()),
                "sources": balancer.source_counts_,
            }
        )
    return rows


def markdown(result: dict) -> str:
    lines = [
        f"Machine: {result['machine']}",
        "",
        "| data | rows | task | method | seconds | runs | x ours | LD | label-pair LD | ED | folds missing a label |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["splits"]:
        if "skipped" in r:
            lines.append(
                f"| {r['data']} | {r['rows']} | {r['task']} | {r['method']} | skipped: {r['skipped']} "
                "| | | | | | |"
            )
            continue
        lines.append(
            f"| {r['data']} | {r['rows']} | {r['task']} | {r['method']} | {r['seconds']} | {r['runs']} | "
            f"{r['times_ours']} | {r['label_distribution']} | {r['label_pair_distribution']} | "
            f"{r['example_distribution']} | {r['folds_missing_a_label']} |"
        )
    lines += [
        "",
        "| pool rows | strategy | seconds | selected | CV of achieved | max gap to reachable target |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in result["balancer"]:
        lines.append(
            f"| {r['pool_rows']} | {r['strategy']} | {r['seconds']} | {r['selected']} | {r['cv']} | "
            f"{r['max_abs_gap_to_reachable']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of Markdown")
    parser.add_argument("--sizes", default="100000,1000000", help="synthetic GoEmotions-like sizes")
    parser.add_argument("--balancer-rows", type=int, default=1_000_000)
    parser.add_argument("--peer-limit", type=float, default=600.0, help="skip a peer estimated above this")
    parser.add_argument("--seed", type=int, default=0)
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
        "command": "python benchmarks/bench_split.py" + (" --json" if args.json else ""),
        "splits": bench_splits(data, args.seed, args.peer_limit, log),
        "balancer": bench_balancer(base, args.balancer_rows, args.seed),
    }
    print(json.dumps(result) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
