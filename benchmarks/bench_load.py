"""Load a Sentiment140-format file: goemobalance vs `pandas.read_csv` vs `datasets.Dataset.from_csv`.

Each load runs in a fresh Python process (so peak RSS is that load's own, imports included), the methods
interleaved round by round so they share the machine's load; the report gives medians of wall time, CPU
time (all threads) and peak RSS, the ratios to pandas within each round, and the load average.

    python benchmarks/bench_load.py --sizes 100000 1600000 --repeats 3 --clean --out bench_load.json

``--clean`` adds ``goemobalance_clean``: the recipes' path (``clean=True``: URLs, mentions, HTML entities
and whitespace cleaned, the raw text kept in meta), which the issue-15 targets are about.

``--baseline DIR`` also times the goemobalance methods of another checkout (e.g. ``git worktree add
/tmp/main main``) in the same rounds, as ``<method>@baseline``: before/after under the same load.

Target (issue 15): 1.6M rows in at most 2x the time of `pandas.read_csv` and at most 1.5x its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from synthetic_sentiment140 import SAMPLE, write_sentiment140

COLUMNS = ["polarity", "id", "date", "query", "user", "text"]
#: The code each method runs in its own process; ``PATH`` and ``CACHE`` are filled in.
METHODS = {
    "goemobalance": (
        "from goemobalance.sources import load_sentiment140",
        "data = load_sentiment140(PATH, on_error='skip'); rows = len(data)",
    ),
    "goemobalance_clean": (
        "from goemobalance.sources import load_sentiment140",
        "data = load_sentiment140(PATH, clean=True, on_error='skip'); rows = len(data)",
    ),
    "pandas": (
        "import pandas",
        f"data = pandas.read_csv(PATH, header=None, names={COLUMNS!r}, encoding='latin-1'); rows = len(data)",
    ),
    "datasets": (
        "import datasets; datasets.disable_progress_bars()",
        (
            f"data = datasets.Dataset.from_csv(PATH, column_names={COLUMNS!r}, encoding='latin-1', "
            "cache_dir=CACHE); rows = len(data)"
        ),
    ),
}
_CHILD = """
import json, resource, sys, time
PATH, CACHE = sys.argv[1], sys.argv[2]
{imports}
imported_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cpu_start = time.process_time()
start = time.perf_counter()
{call}
seconds = time.perf_counter() - start
cpu = time.process_time() - cpu_start
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak_kb / 1024,
                  "import_rss_mb": imported_kb / 1024, "rows": rows}}))
"""


BASELINE = "@baseline"


def run_method(method: str, path: Path, baseline: Path | None = None) -> dict:
    """One load in a fresh interpreter: seconds, peak RSS (MB) and RSS after imports.

    ``<method>@baseline`` runs the method with the `baseline` checkout's goemobalance.
    """
    name, _, _ = method.partition(BASELINE)
    imports, call = METHODS[name]
    repo = baseline if method.endswith(BASELINE) else REPO
    with tempfile.TemporaryDirectory(prefix="bench-load-cache-") as cache:
        result = subprocess.run(
            [sys.executable, "-c", _CHILD.format(imports=imports, call=call), str(path), cache],
            capture_output=True,
            text=True,
            check=False,
            cwd=str(repo),  # `python -c` imports from the working folder first
            env={**os.environ, "PYTHONPATH": str(repo)},
        )
    if result.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_size(
    n_rows: int, methods: list[str], repeats: int, folder: Path, baseline: Path | None = None
) -> dict:
    path = folder / f"sentiment140_{n_rows}.csv"
    if not path.is_file():
        write_sentiment140(path, n_rows)
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    for _ in range(repeats):
        for method in methods:
            runs[method].append(run_method(method, path, baseline))
    summary = {}
    for method, items in runs.items():
        summary[method] = {
            "seconds_median": statistics.median(r["seconds"] for r in items),
            "cpu_seconds_median": statistics.median(r["cpu_seconds"] for r in items),
            "peak_rss_mb_median": statistics.median(r["peak_rss_mb"] for r in items),
            "import_rss_mb_median": statistics.median(r["import_rss_mb"] for r in items),
            "rows": items[0]["rows"],
            "runs": items,
        }
    if "pandas" in runs:
        for method, items in runs.items():
            summary[method]["time_ratio_to_pandas"] = statistics.median(
                r["seconds"] / p["seconds"] for r, p in zip(items, runs["pandas"])
            )
            summary[method]["cpu_ratio_to_pandas"] = statistics.median(
                r["cpu_seconds"] / p["cpu_seconds"] for r, p in zip(items, runs["pandas"])
            )
            summary[method]["rss_ratio_to_pandas"] = statistics.median(
                r["peak_rss_mb"] / p["peak_rss_mb"] for r, p in zip(items, runs["pandas"])
            )
    return {"rows": n_rows, "file_mb": path.stat().st_size / 2**20, "methods": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_600_000])
    parser.add_argument(
        "--methods", nargs="+", default=["goemobalance", "pandas", "datasets"], choices=list(METHODS)
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--clean", action="store_true", help="also time load_sentiment140(..., clean=True), as recipes load"
    )
    parser.add_argument(
        "--folder", default=None, help="where the synthetic files go (default: a temp folder)"
    )
    parser.add_argument("--out", default=None, help="write the JSON report here too")
    parser.add_argument(
        "--baseline",
        default=None,
        help="another checkout whose goemobalance methods run in the same rounds, as <method>@baseline",
    )
    args = parser.parse_args()
    methods = list(args.methods)
    if args.clean and "goemobalance_clean" not in methods:
        methods.insert(
            methods.index("goemobalance") + 1 if "goemobalance" in methods else 0, "goemobalance_clean"
        )
    baseline = Path(args.baseline).resolve() if args.baseline else None
    if baseline is not None:
        methods += [m + BASELINE for m in methods if m.startswith("goemobalance")]
    folder = Path(args.folder or tempfile.mkdtemp(prefix="bench-load-"))
    folder.mkdir(parents=True, exist_ok=True)
    report = {
        "sample": str(SAMPLE),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "baseline": str(baseline) if baseline else None,
        "sizes": [bench_size(n, methods, args.repeats, folder, baseline) for n in args.sizes],
        "load_average_after": os.getloadavg(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
