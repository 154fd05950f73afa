"""The TF-IDF heads on GoEmotions train in one process vs in worker processes: the labeler's fit, the audit.

The build fits `TfidfLogRegLabeler` (word 1-2-grams + char 2-5-grams, 28 one-vs-rest liblinear heads) on
the 43,410 GoEmotions train rows before it labels a single tweet; the heads are most of that time. Peers,
each in a fresh process, same data, same machine, back to back:

- ``sklearn, n_jobs=1``: a plain scikit-learn ``Pipeline(features, OneVsRestClassifier(n_jobs=1))``, what
  the build ran before 2026-12-02;
- ``sklearn, n_jobs=N``: the same with N worker processes: fails on this data (joblib memory-maps the TF-IDF
  matrix read-only, and its unsorted indices cannot be sorted there; scikit-learn issues 6614, 12102);
- ``ours, n_jobs=N``: `TfidfLogRegLabeler(n_jobs=N)`, which sorts the indices once before the heads
  (what the build runs now, with N = the CPUs it may use).

And the build's audit step, its 3-fold out-of-fold probabilities (word TF-IDF, `cross_val_probs(...,
"tfidf", folds=3)`) on the same rows: ``audit, n_jobs=1`` (the build before) against ``audit, n_jobs=N``
(the build now).

Reports the wall time, the peak RSS of the process tree (the process and its joblib workers, summed,
sampled every 50 ms from /proc: `memory_probes.tree_rss_kb`) and whether the dev-split probabilities equal
the single-process ones.

    PYTHONPATH=. python benchmarks/bench_offline_fit.py [--jobs 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory_probes import PeakSampler, tree_rss_kb

PEERS = ("sklearn-1", "sklearn-N", "ours-N", "audit-1", "audit-N")


def reference_of(peer: str) -> str:
    """The single-process peer that `peer` is compared with."""
    return "audit-1" if peer.startswith("audit") else "sklearn-1"


def run_one(peer: str, jobs: int, probs_out: Path) -> dict:
    """Fit one peer in this process; the caller runs each in a fresh process."""
    from sklearn.pipeline import Pipeline

    from goemobalance.audit import cross_val_probs
    from goemobalance.commands.train import load_split
    from goemobalance.label import TfidfLogRegLabeler
    from goemobalance.schema import column, multi_hot

    train, dev = load_split("packaged", "train"), load_split("packaged", "validation")
    texts, y = column(train, "text"), multi_hot(train)
    n_jobs = 1 if peer.endswith("-1") else jobs
    labeler = TfidfLogRegLabeler(n_jobs=n_jobs)
    sampler = PeakSampler(lambda: tree_rss_kb(os.getpid()))
    error = None
    with sampler:
        started = time.perf_counter()
        try:
            if peer.startswith("audit"):
                probs = cross_val_probs(train, "tfidf", folds=3, seed=0, progress=False, n_jobs=n_jobs)
            elif peer.startswith("sklearn"):
                model = Pipeline(
                    [("features", labeler.make_features(len(texts))), ("heads", labeler.make_heads())]
                )
                model.fit(texts, y)
                probs = model.predict_proba(column(dev, "text"))
            else:
                probs = labeler.fit(texts, y).predict_proba(column(dev, "text"))
            np.save(probs_out, np.asarray(probs, dtype=np.float32))
        except ValueError as exc:
            error = str(exc).splitlines()[0]
        seconds = time.perf_counter() - started
    return {"peer": peer, "n_jobs": n_jobs, "seconds": round(seconds, 1),
            "peak_rss_gb": round(sampler.peak_kb / 1024**2, 2), "error": error}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="worker processes of the parallel peers")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", choices=PEERS, help=argparse.SUPPRESS)
    parser.add_argument("--probs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.jobs, args.probs)))
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_offline_fit_") as tmp:
        for peer in PEERS:
            probs = Path(tmp) / f"{peer}.npy"
            command = [
                sys.executable,
                __file__,
                "--one",
                peer,
                "--jobs",
                str(args.jobs),
                "--probs",
                str(probs),
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            reference = Path(tmp) / f"{reference_of(peer)}.npy"
            if result["error"] is None and not peer.endswith("-1"):
                result["max_abs_diff_vs_one_process"] = float(
                    np.abs(np.load(probs) - np.load(reference)).max()
                )
            results.append(result)
    one_process = {reference_of(r["peer"]): r["seconds"] for r in results if r["n_jobs"] == 1}
    for result in results:
        base = one_process[reference_of(result["peer"])]
        result["speedup"] = None if result["error"] else round(base / result["seconds"], 2)
    if args.json:
        print(json.dumps({"load": os.getloadavg(), "results": results}, indent=1))
        return
    for result in results:
        print(result)


if __name__ == "__main__":
    main()
