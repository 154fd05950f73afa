"""Cost of `MultilabelBalancer(prefer="confidence")` against the default random order, on a real pool.

The pool is the ablation's (``benchmarks/ablation.py``: GoEmotions train + the accepted tweets with their
labeler scores, after the leak guard); its tweets are repeated ``--repeat`` times to reach a larger pool.
Both settings run on the same labels, sources and Arrow scores column, in the same process:

    python benchmarks/bench_prefer.py --pool runs/ablation/pools/pool_f1/data --repeat 20
"""

from __future__ import annotations

import argparse
import subprocess
import time

import datasets
import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from goemobalance.balance import HUMAN_ORIGINS, MultilabelBalancer, sparse_label_matrix


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pool", required=True, help="a saved schema Dataset with label_origin and scores")
    parser.add_argument("--repeat", type=int, default=20, help="copies of the non-human rows")
    args = parser.parse_args()
    pool = datasets.load_from_disk(args.pool)
    columns = pool.select_columns(["label_origin", "scores"]).with_format("arrow")[:]
    sources = columns["label_origin"].to_numpy(zero_copy_only=False)
    machine = ~np.isin(sources, HUMAN_ORIGINS)
    labels = sparse_label_matrix(pool)
    y = sp.vstack([labels] + [labels[machine]] * args.repeat).tocsr()
    sources = np.concatenate([sources] + [sources[machine]] * args.repeat)
    extra = columns["scores"].filter(pa.array(machine))
    scores = pa.chunked_array(
        columns["scores"].chunks + [c for _ in range(args.repeat) for c in extra.chunks]
    )
    load = subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip()
    print(f"{y.shape[0]:,} rows; {load}")
    for strategy in ("mean", "max"):
        for prefer in ("random", "confidence"):
            started = time.perf_counter()
            balancer = MultilabelBalancer(
                strategy, mode="add", prefer=prefer, source_priority=("human", "pseudo")
            )
            balancer.fit(None, y, sources=sources, scores=scores if prefer == "confidence" else None)
            print(
                f"add {strategy:4s} {prefer:10s} {time.perf_counter() - started:6.2f} s, {balancer.report_.added:,} added"
            )


if __name__ == "__main__":
    main()
