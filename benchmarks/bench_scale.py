"""Benchmark: time and peak memory of every stage after a Sentiment140 file of N tweets, at growing N.

For each N (default 0.1M and 1.6M; add 10M with ``--rows``) a synthetic Sentiment140 file is written
from the real 38,915-tweet sample with fresh ids (`synthetic_sentiment140.write_sentiment140`), then each
step runs in a fresh Python process, reading the previous step's output from disk (memory-mapped):

- ``load``: ``load_sentiment140(path, clean=True, on_error="skip")`` (as the quickstart recipe);
- ``label``: the offline TF-IDF labeler (trained once on GoEmotions train) over every tweet;
- ``accept``: `accept` with the labeler's rule (threshold 0.5, at most 3 labels, as the quickstart);
- ``balance``: GoEmotions train + accepted tweets, `balance_dataset` to 1,000 rows per label;
- ``split``: `train_val_test_split` (80/10/10, order 1) of the whole pool of N + 43k rows (the recipe
  splits only the balanced rows; this is the splitter at the pool's size);
- ``audit``: the recipe's audit (TF-IDF, 5 folds) of the balanced split plus GoEmotions test; its input
  size is set by the balance target, not by N.

Each step reports seconds (the work itself, without imports and saving), rows, the process's peak RSS
(``getrusage``, which counts the pages of memory-mapped files it touched) and its peak anonymous memory
(RssAnon sampled from /proc every 50 ms: what the step really allocates), both also after the imports,
and the load average. ``--ray-rows`` also labels with Ray Data on a local 2-CPU Ray instance and checks
that its labels, scores and meta are identical to the single-process step; ``--recipe-rows`` times the
whole quickstart recipe (``python -m goemobalance.cli build``) with the synthetic file as its
Sentiment140 source. A step whose input does not fit (``--max-rss-gb``, estimated from the measured growth
of smaller runs) is skipped with the estimate as the reason.

    python benchmarks/bench_scale.py --rows 100000,1600000 --ray-rows 100000 --recipe-rows 1600000 \\
        --work /tmp/goemobalance-scale --json-out docs/bench_scale.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory_probes import PeakSampler, status_kb

REPO = Path(__file__).resolve().parents[1]
STEPS = ("load", "label", "accept", "balance", "split", "audit")
BALANCE_TARGET = 1000
SEED = 0


# ------------------------------------------------------------------------------------ memory probes
# (status_kb and PeakSampler: benchmarks/memory_probes.py)


class ProcessTree:
    """A process and its descendants (Ray's raylet and workers): RSS now, and CPU seconds so far, counting
    workers that have exited since a sample saw them (Ray Data stops its actors when a dataset is done)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.cpu_by_pid: dict[int, float] = {}

    def rss_kb(self) -> int:
        import psutil

        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for process in processes:
            try:
                with process.oneshot():
                    total += process.memory_info().rss // 1024
                    times = process.cpu_times()
                    self.cpu_by_pid[process.pid] = times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def cpu_seconds(self) -> float:
        self.rss_kb()
        return sum(self.cpu_by_pid.values())


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children: on a busy machine, the step's
    time on a quiet one (for a single-threaded step)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _gb(kb: float) -> float:
    return round(kb / 1024**2, 3)


# ------------------------------------------------------------------------------------ the steps (child side)


class Step:
    """Paths of one N's chain of steps under the work folder."""

    def __init__(self, work: Path, n_rows: int):
        self.work = work
        self.n_rows = n_rows
        self.folder = work / f"n{n_rows}"
        self.csv = work / f"sentiment140_{n_rows}.csv"
        self.labeler = work / "labeler"

    def data(self, name: str) -> Path:
        return self.folder / name


def _load_from_disk(path: Path):
    import datasets

    return datasets.load_from_disk(str(path))


def _goemotions(split: str):
    from goemobalance.data import packaged_file
    from goemobalance.sources import load_goemotions

    return load_goemotions(str(packaged_file(f"goemotions/{split}")), split=split)


def prepare_fit(step: Step):
    from goemobalance.label import SelectionRule, TfidfLogRegLabeler
    from goemobalance.schema import column, multi_hot

    train = _goemotions("train")
    rule = SelectionRule(threshold=0.5, max_labels=3)

    def run():
        labeler = TfidfLogRegLabeler(rule=rule).fit(column(train, "text"), multi_hot(train))
        return labeler, {"rows": len(train)}

    return run, lambda labeler: labeler.save(step.labeler)


def prepare_load(step: Step):
    from goemobalance.sources.sentiment140 import load_sentiment140

    def run():
        dataset = load_sentiment140(step.csv, clean=True, on_error="skip")
        return dataset, {"rows": step.n_rows, "rows_out": len(dataset)}

    return run, lambda dataset: dataset.save_to_disk(str(step.data("loaded")))


def prepare_label(step: Step):
    from goemobalance.label import OfflineLabeler

    loaded = _load_from_disk(step.data("loaded"))
    labeler = OfflineLabeler.load(step.labeler)

    def run():
        labelled = labeler.label(loaded)
        return labelled, {"rows": len(loaded)}

    return run, lambda labelled: labelled.save_to_disk(str(step.data("labelled")))


def prepare_label_ray(step: Step):
    """Ray Data on a local 2-CPU instance; output written as parquet, then compared with ``label``."""
    import ray

    from goemobalance.label import OfflineLabeler
    from goemobalance.label.ray import label_with_ray

    loaded = _load_from_disk(step.data("loaded"))
    labeler = OfflineLabeler.load(step.labeler)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    out = step.data("ray_labelled")
    shutil.rmtree(out, ignore_errors=True)

    def run():
        label_with_ray(loaded, labeler).write_parquet(str(out))
        return None, {"rows": len(loaded), "identical_to_single_process": _same_as_single(step, out)}

    return run, lambda _: ray.shutdown()


def _same_as_single(step: Step, ray_folder: Path) -> bool:
    """Ray's parquet output equals the single-process ``label`` output, column by column, in row order."""
    import pyarrow.parquet as pq

    single_path = step.data("labelled")
    if not single_path.exists():
        return False
    single = _load_from_disk(single_path).with_format("arrow")
    files = sorted(ray_folder.glob("*.parquet"))
    ray_table = pq.ParquetDataset(files).read() if files else None
    if ray_table is None or ray_table.num_rows != len(single):
        return False
    for start in range(0, len(single), 100_000):
        expected = single[start : start + 100_000]
        got = ray_table.slice(start, 100_000)
        for name in ("id", "labels", "scores", "label_origin", "meta"):
            if got.column(name).to_pylist() != expected.column(name).to_pylist():
                return False
    return True


def prepare_tile(step: Step):
    """The input of ``accept`` at N when ``load``/``label`` were skipped: the largest smaller N's labelled
    rows repeated to N rows with fresh ids (the sample's texts repeat anyway)."""
    import datasets

    smaller = sorted(
        int(folder.name[1:])
        for folder in step.work.glob("n*")
        if (folder / "labelled" / "state.json").is_file()
    )
    smaller = [n for n in smaller if n < step.n_rows]
    if not smaller:
        raise SystemExit(f"no labelled output of a smaller N under {step.work} to tile from")
    source = _load_from_disk(Step(step.work, smaller[-1]).data("labelled"))

    def fresh_ids(batch: dict, indices: list[int]) -> dict:
        return {"id": [f"sentiment140:{5_000_000_000 + i}" for i in indices]}

    def run():
        repeats = -(-step.n_rows // len(source))
        tiled = datasets.concatenate_datasets([source] * repeats).select(range(step.n_rows))
        tiled = tiled.map(
            fresh_ids, batched=True, batch_size=100_000, with_indices=True, input_columns=["id"]
        )
        return tiled, {"rows": step.n_rows, "tiled_from": len(source)}

    def save(tiled):
        tiled.save_to_disk(str(step.data("labelled")))
        source.cleanup_cache_files()

    return run, save


def prepare_accept(step: Step):
    from goemobalance.label import OfflineLabeler, accept

    labelled = _load_from_disk(step.data("labelled"))
    rule = OfflineLabeler.load(step.labeler).rule

    def run():
        accepted, rejected = accept(labelled, rule)
        return accepted, {"rows": len(labelled), "accepted": len(accepted), "rejected": len(rejected)}

    def save(accepted):
        accepted.save_to_disk(str(step.data("accepted")))
        labelled.cleanup_cache_files()

    return run, save


def prepare_balance(step: Step):
    import datasets

    from goemobalance.balance.sampling import balance_dataset

    accepted = _load_from_disk(step.data("accepted")).remove_columns("reject_reason")
    human = _goemotions("train").cast(accepted.features)

    def run():
        pool = datasets.concatenate_datasets([human, accepted])
        balanced = balance_dataset(
            pool, BALANCE_TARGET, source_priority=("human", "pseudo", "llm"), source_caps=None, seed=SEED
        )
        return (pool, balanced), {"rows": len(pool), "balanced": len(balanced)}

    def save(outputs):
        pool, balanced = outputs
        pool.save_to_disk(str(step.data("pool")))
        balanced.save_to_disk(str(step.data("balanced")))
        accepted.cleanup_cache_files()

    return run, save


def prepare_split(step: Step):
    from goemobalance.balance.split import train_val_test_split

    pool = _load_from_disk(step.data("pool"))

    def run():
        splits = train_val_test_split(pool, sizes=(0.8, 0.1, 0.1), order=1, seed=SEED)
        return splits, {"rows": len(pool), "splits": {name: len(ds) for name, ds in splits.items()}}

    return run, None


def prepare_audit(step: Step):
    from goemobalance.audit import audit
    from goemobalance.balance.split import train_val_test_split

    balanced = _load_from_disk(step.data("balanced"))
    test = _goemotions("test")

    def run():
        splits = dict(train_val_test_split(balanced, sizes=(0.8, 0.1, 0.1), order=1, seed=SEED))
        splits["goemotions_test"] = test.cast(balanced.features)
        report = audit(splits, model="tfidf", folds=5, seed=SEED, progress=False)
        return report, {"rows": report.rows, "health_score": round(float(report.health_score), 4)}

    return run, None


PREPARE = {
    "fit": prepare_fit,
    "load": prepare_load,
    "label": prepare_label,
    "label_ray": prepare_label_ray,
    "tile": prepare_tile,
    "accept": prepare_accept,
    "balance": prepare_balance,
    "split": prepare_split,
    "audit": prepare_audit,
}


def child(step_name: str, n_rows: int, work: Path) -> dict:
    """Run one step in this (fresh) process; returns its measurements."""
    import datasets

    datasets.disable_caching()  # a map result cached by an earlier run must not stand in for the work
    step = Step(work, n_rows)
    step.folder.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    ray_tree = step_name == "label_ray"
    tree = ProcessTree(pid)
    read = tree.rss_kb if ray_tree else (lambda: status_kb(pid, "RssAnon"))
    cpu = tree.cpu_seconds if ray_tree else _cpu_seconds
    run, save = PREPARE[step_name](step)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    base_anon = read()
    load_before = os.getloadavg()
    sampler = PeakSampler(read)
    with sampler:
        start, cpu_start = time.perf_counter(), cpu()
        output, info = run()
        seconds, cpu_seconds = time.perf_counter() - start, cpu() - cpu_start
        save_start = time.perf_counter()
        if save is not None:
            save(output)
        save_seconds = time.perf_counter() - save_start
    return {
        "step": step_name,
        "n": n_rows,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "save_seconds": round(save_seconds, 2),
        **info,
        "peak_rss_gb": _gb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "rss_after_imports_gb": _gb(base_rss),
        ("peak_tree_rss_gb" if ray_tree else "peak_anon_gb"): _gb(sampler.peak_kb),
        ("tree_rss_after_imports_gb" if ray_tree else "anon_after_imports_gb"): _gb(base_anon),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


# ------------------------------------------------------------------------------------ the driver (parent side)


def run_child(step_name: str, n_rows: int, work: Path, log) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", step_name, "--n", str(n_rows),
               "--work", str(work)]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.perf_counter()
    process = subprocess.run(command, check=False, capture_output=True, text=True, env=env)
    log.write(process.stderr[-20_000:])
    log.flush()
    if process.returncode != 0:
        tail = process.stderr.strip().splitlines()[-1:] or ["(no output)"]
        return {"step": step_name, "n": n_rows, "failed": f"exit {process.returncode}: {tail[0][:300]}"}
    result = json.loads(process.stdout.strip().splitlines()[-1])
    result["process_seconds"] = round(time.perf_counter() - started, 2)
    return result


def run_recipe(n_rows: int, work: Path, log) -> dict:
    """The whole quickstart recipe with the synthetic file as its Sentiment140 source, in a child process."""
    import yaml

    recipe = yaml.safe_load((REPO / "recipes" / "quickstart.yaml").read_text())
    for source in recipe["sources"]:
        if source["type"] == "sentiment140":
            source["path"] = str(Step(work, n_rows).csv)
    recipe_path = work / f"quickstart_{n_rows}.yaml"
    recipe_path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    out = work / f"build_{n_rows}"
    command = [sys.executable, "-m", "goemobalance.cli", "build", str(recipe_path), "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    load_before = os.getloadavg()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=log, stderr=log, env=env, cwd=str(REPO))
    sampler = PeakSampler(lambda: status_kb(process.pid, "RssAnon"), interval=0.2)
    mapped = PeakSampler(lambda: status_kb(process.pid, "RssFile"), interval=0.2)
    with sampler, mapped:
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    manifest = out / "manifest.json"
    stages = json.loads(manifest.read_text())["stages"] if manifest.is_file() else {}
    return {
        "step": "quickstart recipe",
        "n": n_rows,
        "command": " ".join(command),
        "exit": os.waitstatus_to_exitcode(status),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_gb": _gb(usage.ru_maxrss),
        "peak_anon_gb": _gb(sampler.peak_kb),
        "peak_file_gb": _gb(mapped.peak_kb),
        "stages": {
            name: {"seconds": s["seconds"], "rows_in": s.get("rows_in"), "rows_out": s.get("rows_out")}
            for name, s in stages.items()
        },
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def estimated_peak_gb(results: list[dict], step_name: str, n_rows: int) -> float | None:
    """Peak anonymous memory (what can run out; RSS also counts memory-mapped file pages, which the kernel
    can drop) at `n_rows`, extrapolated linearly from the two largest measured runs of the step."""
    runs = sorted(
        (r["n"], r["peak_anon_gb"]) for r in results if r.get("step") == step_name and "peak_anon_gb" in r
    )
    if len(runs) < 2:
        return None
    (n1, m1), (n2, m2) = runs[-2:]
    slope = (m2 - m1) / (n2 - n1) if n2 != n1 else 0.0
    return m2 + slope * (n_rows - n2)


def estimated_hours(results: list[dict], step_name: str, n_rows: int) -> float | None:
    """CPU hours of the step at `n_rows` from the CPU seconds per row of its largest measured run."""
    runs = sorted(
        (r["n"], r["cpu_seconds"]) for r in results if r.get("step") == step_name and r.get("cpu_seconds")
    )
    if not runs or not runs[-1][0]:
        return None
    n, cpu = runs[-1]
    return cpu / n * n_rows / 3600


def skip_reason(history: list[dict], step_name: str, n_rows: int, args: argparse.Namespace) -> str | None:
    """Why the step cannot run at `n_rows` on this machine (from the growth measured at smaller N), or None."""
    gb = estimated_peak_gb(history, step_name, n_rows)
    if gb is not None and gb > args.max_rss_gb:
        return f"estimated peak anonymous memory {gb:.1f} GB > --max-rss-gb {args.max_rss_gb}"
    hours = estimated_hours(history, step_name, n_rows)
    if hours is not None and hours > args.max_step_hours:
        return f"estimated {hours:.1f} CPU hours > --max-step-hours {args.max_step_hours}"
    return None


def per_million(results: list[dict]) -> list[dict]:
    """Seconds and peak GB per million input rows for each step, with the growth between sizes."""
    rows = []
    for step_name in dict.fromkeys(
        r["step"] for r in results if "seconds" in r and r["step"] in STEPS + ("label_ray",)
    ):
        runs = sorted((r for r in results if r["step"] == step_name and "seconds" in r), key=lambda r: r["n"])
        for before, after in itertools.pairwise(runs):
            rows.append({
                "step": step_name, "from_n": before["n"], "to_n": after["n"],
                "seconds_per_million": round(after["seconds"] / after["n"] * 1e6, 2),
                "cpu_seconds_per_million": round(after.get("cpu_seconds", float("nan")) / after["n"] * 1e6, 2),
                "time_growth_exponent": _exponent(before["n"], after["n"], before["seconds"], after["seconds"]),
                "anon_gb_growth_per_million": round(
                    (after.get("peak_anon_gb", 0) - before.get("peak_anon_gb", 0)) / (after["n"] - before["n"]) * 1e6, 3
                ),
            })  # fmt: skip
    return rows


def _exponent(n1: int, n2: int, t1: float, t2: float) -> float | None:
    """The b of t ~ n^b between two runs (1.0 = linear)."""
    import math

    if min(n1, n2, t1, t2) <= 0 or n1 == n2:
        return None
    return round(math.log(t2 / t1) / math.log(n2 / n1), 2)


def markdown(result: dict) -> str:
    lines = [
        f"machine: {result['machine']}; load average at start {result['loadavg_start']}, end {result['loadavg_end']}",
        "",
        "| step | rows | seconds | CPU seconds | CPU s / M rows | peak RSS GB | peak anon GB (after imports) | load |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]  # fmt: skip
    for r in result["steps"]:
        if "skipped" in r or "failed" in r:
            lines.append(f"| {r['step']} | {r['n']:,} | {r.get('skipped') or r.get('failed')} | | | | | |")
            continue
        anon = r.get("peak_anon_gb", r.get("peak_tree_rss_gb"))
        base = r.get("anon_after_imports_gb", r.get("tree_rss_after_imports_gb"))
        cpu = r.get("cpu_seconds", float("nan"))
        per_million = f"{cpu / r['n'] * 1e6:.1f}" if r["n"] else ""
        after_imports = f" ({base:.2f})" if base is not None else ""
        lines.append(
            f"| {r['step']} | {r['n']:,} | {r['seconds']:.1f} | {cpu:.1f} | {per_million} | "
            f"{r['peak_rss_gb']:.2f} | {anon:.2f}{after_imports} | {r['loadavg_before'][0]:.1f} |"
        )
    return "\n".join(lines)


def report(result: dict, outcome: dict) -> dict:
    """Record one step's outcome and print it as a JSON line."""
    result["steps"].append(outcome)
    print(json.dumps(outcome), flush=True)
    return outcome


def missing_input(result: dict, skipped: set[str], step_name: str, n_rows: int, work: Path, log, tile: bool):
    """Why a step lacks its input when earlier steps did not run (None once ``tile`` has made it)."""
    if tile and step_name == "accept" and skipped <= {"load", "label"}:
        reason = report(result, run_child("tile", n_rows, work, log)).get("failed")
        if reason is None:
            skipped.clear()
        return reason
    return f"no input ({', '.join(sorted(skipped))} did not run)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1600000", help="comma-separated N values")
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--ray-rows", default="", help="N values at which to also label with Ray Data")
    parser.add_argument("--recipe-rows", default="", help="N values at which to time the quickstart recipe")
    parser.add_argument("--work", default="/tmp/goemobalance-scale")
    parser.add_argument("--max-rss-gb", type=float, default=20.0, help="skip steps estimated above this")
    parser.add_argument("--max-step-hours", type=float, default=2.0, help="skip steps estimated above this")
    parser.add_argument("--previous", nargs="*", default=[], help="earlier result JSONs, for the estimates")
    parser.add_argument(
        "--tile", action="store_true", help="when load/label are skipped, tile a smaller N's labelled rows"
    )
    parser.add_argument("--json-out", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = Path(args.work)
    if args.child:
        print(json.dumps(child(args.child, args.n, work)))
        return
    from synthetic_sentiment140 import write_sentiment140

    work.mkdir(parents=True, exist_ok=True)
    sizes = [int(float(n)) for n in args.rows.split(",") if n]
    ray_sizes = {int(float(n)) for n in args.ray_rows.split(",") if n}
    recipe_sizes = [int(float(n)) for n in args.recipe_rows.split(",") if n]
    steps = [s for s in args.steps.split(",") if s]
    result = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}",
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "steps": [],
    }
    previous = [step for path in args.previous for step in json.loads(Path(path).read_text())["steps"]]
    log_path = work / "bench_scale.log"
    with open(log_path, "a") as log:
        if not (work / "labeler" / "labeler.json").is_file():
            report(result, run_child("fit", 0, work, log))
        for n_rows in sorted(set(sizes) | ray_sizes | set(recipe_sizes)):
            csv = Step(work, n_rows).csv
            if not csv.is_file():
                write_sentiment140(csv, n_rows, seed=SEED)
            if n_rows not in sizes:
                continue
            skipped: set[str] = set()
            for step_name in steps:
                reason = skip_reason(previous + result["steps"], step_name, n_rows, args)
                if reason is None and skipped:
                    reason = missing_input(result, skipped, step_name, n_rows, work, log, args.tile)
                if reason is not None:
                    skipped.add(step_name)
                    report(result, {"step": step_name, "n": n_rows, "skipped": reason})
                    continue
                outcome = report(result, run_child(step_name, n_rows, work, log))
                if "failed" in outcome:
                    skipped.add(step_name)
                elif step_name == "label" and n_rows in ray_sizes:
                    report(result, run_child("label_ray", n_rows, work, log))
        for n_rows in recipe_sizes:
            report(result, run_recipe(n_rows, work, log))
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["growth"] = per_million(result["steps"])
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))


if __name__ == "__main__":
    main()
