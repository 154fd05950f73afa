"""Training speed of the hybrid model on real rows, AMP vs fp32, against a TF-IDF + logistic-regression peer.

    python benchmarks/bench_train.py [--rows 50000] [--amp-batches 40] [--threads 1] [--device auto] [--json]
    python benchmarks/bench_train.py --only bootstrap [--resamples 1000] [--naive-resamples 30] [--json]
    python benchmarks/bench_train.py --only amp [--amp-batches 40] [--threads 1]    # bf16 vs fp32 alone

Measures (same process, same rows):
- seconds for one full training epoch of `HybridClassifier` (default `HybridConfig`, 300-d embeddings) on
  `--rows` real GoEmotions texts (train + dev + test, so 50k real rows exist) in fp32;
- time per batch with `torch.autocast` (bf16 on CPU or CUDA) vs fp32 over `--amp-batches` batches each,
  alternating, reported as a ratio (skipped with a reason where autocast fails);
- the peer: fitting TF-IDF (word 1-2-grams) + one-vs-rest logistic regression (scikit-learn) on the same rows;
- the paired bootstrap of `compare` (`goemobalance.train.stats.paired_bootstrap`: F1 of every resample from
  label counts, all replicates of a batch in one sparse product) against the plain way, the same
  `scipy.stats.bootstrap` resampling with a statistic that calls scikit-learn's `f1_score` per resample,
  on the GoEmotions test labels (5,427 x 28) with 3 seeds x 2 training sets of noisy predictions; seconds
  per resample, and a check that both give the same interval on the naive run's resamples.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import datasets
import numpy as np
import torch

from goemobalance.data import packaged_file
from goemobalance.device import cpu_runs_bf16_natively, resolve_device
from goemobalance.schema import column, multi_hot
from goemobalance.sources import load_goemotions
from goemobalance.train.config import TrainConfig
from goemobalance.train.encoders import HybridEncoder
from goemobalance.train.loop import _train_one_epoch, _TrainState, seed_everything
from goemobalance.train.model import HybridClassifier, HybridConfig
from goemobalance.train.tokenize import Vocabulary, tokenize

GOEMOTIONS_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "goemotions"
if not GOEMOTIONS_DIR.is_dir():
    GOEMOTIONS_DIR = None


def goemotions_split(split: str) -> datasets.Dataset:
    """A GoEmotions split from ../shared/data, else the copy shipped in the package."""
    if GOEMOTIONS_DIR is None:
        return load_goemotions(packaged_file(f"goemotions/{split}"), split=split)
    return load_goemotions(GOEMOTIONS_DIR, split=split)


def real_rows(n: int) -> datasets.Dataset:
    splits = [goemotions_split(s) for s in ("train", "dev", "test")]
    rows = datasets.concatenate_datasets(splits)
    if n > len(rows):
        raise SystemExit(f"only {len(rows)} real rows available, asked for {n}")
    return rows.shuffle(seed=0).select(range(n))


def build(rows: datasets.Dataset, config: TrainConfig, device):
    texts = column(rows, "text")
    vocab = Vocabulary.build((tokenize(t) for t in texts), max_size=config.embeddings.max_size)
    hybrid = HybridConfig(vocab_size=len(vocab))
    seed_everything(config.seed)
    model = HybridClassifier(hybrid).to(device)
    encoder = HybridEncoder(vocab, hybrid.max_len)
    return model, encoder.encode(texts), torch.as_tensor(multi_hot(rows, dtype=np.float32))


def time_epoch(model, x, y, config: TrainConfig, device) -> float:
    state = _TrainState.create(model, config, len(y), y.numpy(), device)
    started = time.perf_counter()
    _train_one_epoch(model, state, (x, y, None), config, device)
    return time.perf_counter() - started


def time_amp(model, x, y, config: TrainConfig, device, batches: int) -> dict:
    """Alternate fp32 and autocast epochs over the same `batches` batches; seconds per batch for each."""
    n = batches * config.batch_size
    x_small = {k: v[:n] for k, v in x.items()}
    results = {}
    for amp in ("off", "bf16", "off", "bf16"):
        cfg = config.replace(amp=amp, epochs=1)
        try:
            seconds = time_epoch(model, x_small, y[:n], cfg, device)
        except RuntimeError as exc:
            return {"amp_error": f"{type(exc).__name__}: {exc}"[:300]}
        results.setdefault(amp, []).append(seconds / batches)
    fp32, bf16 = min(results["off"]), min(results["bf16"])
    return {
        "fp32_s_per_batch": round(fp32, 4),
        "bf16_s_per_batch": round(bf16, 4),
        "bf16_speedup": round(fp32 / bf16, 3),
    }


def time_peer(rows: datasets.Dataset) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    peer = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        OneVsRestClassifier(LogisticRegression(C=4.0, solver="liblinear")),
    )
    started = time.perf_counter()
    peer.fit(column(rows, "text"), multi_hot(rows))
    return time.perf_counter() - started


def time_bootstrap(resamples: int, naive_resamples: int) -> dict:
    """Ours vs scikit-learn per resample, same scipy resampling; seconds per resample and the CI check."""
    from scipy import stats
    from sklearn.metrics import f1_score

    from goemobalance.train.stats import paired_bootstrap

    y = multi_hot(goemotions_split("test"))
    rng = np.random.default_rng(0)

    def noisy(keep: float) -> np.ndarray:
        return np.where(rng.random(y.shape) < keep, y, rng.random(y.shape) < 0.03).astype(np.int8)

    first, second = [noisy(0.55) for _ in range(3)], [noisy(0.6) for _ in range(3)]
    groups = {"f1_macro": range(y.shape[1])}
    started = time.perf_counter()
    paired_bootstrap(y, first, second, groups, n_resamples=resamples, seed=1)
    ours = (time.perf_counter() - started) / resamples

    def naive(idx: np.ndarray) -> float:
        idx = idx.astype(int)
        return np.mean(
            [
                f1_score(y[idx], b[idx], average="macro", zero_division=0)
                - f1_score(y[idx], a[idx], average="macro", zero_division=0)
                for a, b in zip(first, second)
            ]
        )

    started = time.perf_counter()
    reference = stats.bootstrap(
        (np.arange(len(y)),),
        naive,
        n_resamples=naive_resamples,
        batch=100,
        vectorized=False,
        method="percentile",
        rng=np.random.default_rng(1),
    )
    plain = (time.perf_counter() - started) / naive_resamples
    same = paired_bootstrap(y, first, second, groups, n_resamples=naive_resamples, seed=1)
    low, high = reference.confidence_interval
    return {
        "bootstrap_rows": len(y),
        "bootstrap_resamples": resamples,
        "ours_s_per_resample": round(ours, 5),
        "sklearn_s_per_resample": round(plain, 5),
        "bootstrap_speedup": round(plain / ours, 1),
        "same_interval": bool(np.allclose(same["groups"]["f1_macro"]["ci"], [low, high], atol=1e-12)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--amp-batches", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", choices=("all", "bootstrap", "amp"), default="all")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--naive-resamples", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.only == "bootstrap":
        report(time_bootstrap(args.resamples, args.naive_resamples), args.json)
        return
    device = resolve_device(args.device)
    config = TrainConfig(progress=False, amp="off", epochs=1)
    rows = real_rows(args.rows)
    model, x, y = build(rows, config, device)
    result = {
        "device": str(device),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_runs_bf16_natively": cpu_runs_bf16_natively(),
        "threads": args.threads,
        "rows": args.rows,
        "batch_size": config.batch_size,
        "hybrid_config": model.config.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if args.only == "amp":
        report({**result, **time_amp(model, x, y, config, device, args.amp_batches)}, args.json)
        return
    epoch_s = time_epoch(model, x, y, config, device)
    result.update(hybrid_epoch_fp32_s=round(epoch_s, 1), hybrid_rows_per_s=round(args.rows / epoch_s, 1))
    result.update(time_amp(model, x, y, config, device, args.amp_batches))
    peer_s = time_peer(rows)
    result.update(peer_tfidf_logreg_fit_s=round(peer_s, 1), epoch_vs_peer_fit=round(epoch_s / peer_s, 2))
    result.update(time_bootstrap(args.resamples, args.naive_resamples))
    report(result, args.json)


def report(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        if key != "hybrid_config":
            print(f"{key:28s} {value}")


if __name__ == "__main__":
    main()
