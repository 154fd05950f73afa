"""Benchmark the LLM adapter: 2,000 generate+annotate requests against a loopback server with 50 ms latency.

Runs, in one process against one loopback server (started as a subprocess so it does not share the GIL):
- the peer: the bare `openai.AsyncOpenAI` client sending as many requests of the same shape (same
  prompts and JSON schemas) behind an `asyncio.Semaphore` (no cache, no retries, no validation);
- the full pipeline (`generate_and_annotate`: 400 generation requests of 4 texts + 1,600 annotations),
  cold cache;
- the same pipeline again, every answer from the on-disk cache.

Targets: pipeline wall time within 1.25x of the ideal (2000 x 50 ms / 32 = 3.125 s); cached rerun < 1 s.

It also times the near-duplicate screen on a ~50k-text pool (GoEmotions train + test when the data is
found, ``--data``): our MinHash-LSH `DuplicateIndex` against the scikit-learn peer (hashed character
4-gram vectors, cosine by one sparse product per batch), 1,600 GoEmotions dev texts in batches of 4.

    python benchmarks/bench_llm.py [--json] [--requests 2000] [--concurrency 32] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openai
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from goemobalance.labels import GOEMOTIONS
from goemobalance.llm import (
    AgreementPolicy,
    DuplicateIndex,
    GenerationConfig,
    LLMClient,
    LLMConfig,
    generate_and_annotate,
    load_template,
    normalize_text,
)
from goemobalance.llm.annotator import annotation_response_format
from goemobalance.llm.generator import generation_response_format

BATCH_SIZE = 4


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    """The demo loopback server in a child process; returns it and its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "goemobalance.llm.testing", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    base_url = process.stdout.readline().strip()
    if not base_url.startswith("http"):
        process.kill()
        raise RuntimeError(f"loopback server did not start (got {base_url!r})")
    return process, base_url


def deficits_for(total_requests: int) -> dict:
    """Deficits whose generation (batches of 4) + annotation requests add up to `total_requests`."""
    batches = total_requests // (BATCH_SIZE + 1)
    labels = [name for name in GOEMOTIONS.names if name != "neutral"][:20]
    per_label, extra = divmod(batches, len(labels))
    return {"labels": {name: BATCH_SIZE * (per_label + (i < extra)) for i, name in enumerate(labels)}}


def peer_payloads(requests: int) -> list[dict]:
    """Requests shaped like the pipeline's: 1 generation prompt per 4 annotation prompts, same schemas."""
    template = load_template()
    rng = random.Random(0)
    payloads = []
    for i in range(requests):
        if i % (BATCH_SIZE + 1) == 0:
            axes = template.sample_axes(rng)
            messages = template.generation_messages(["grief"], BATCH_SIZE, axes)
            response_format = generation_response_format()
        else:
            messages = template.annotation_messages(f"synthetic text {i} about grief", GOEMOTIONS.names)
            response_format = annotation_response_format(GOEMOTIONS)
        payloads.append({"messages": messages, "extra_body": {"response_format": response_format}, "seed": i})
    return payloads


async def bare_openai(base_url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """The peer: bare AsyncOpenAI sending the same kind of requests behind a semaphore; wall and CPU seconds."""
    client = openai.AsyncOpenAI(api_key="not-needed", base_url=base_url, max_retries=0)
    semaphore = asyncio.Semaphore(concurrency)
    payloads = peer_payloads(requests)

    async def one(payload: dict) -> str:
        async with semaphore:
            response = await client.chat.completions.create(model="loopback-model", **payload)
        return response.choices[0].message.content

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(p) for p in payloads))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await client.close()
    return elapsed, cpu


async def pipeline(base_url: str, cache: Path, deficits: dict, concurrency: int) -> tuple[float, float, dict]:
    """The full generate+annotate pipeline; wall and CPU seconds and the client's usage."""
    client = LLMClient(LLMConfig(model="loopback-model", base_url=base_url, concurrency=concurrency), cache)
    start, cpu = time.perf_counter(), time.process_time()
    result = await generate_and_annotate(
        deficits,
        client,
        config=GenerationConfig(batch_size=BATCH_SIZE, max_rounds=1),
        policy=AgreementPolicy(),
        progress=False,
    )
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await client.close()
    usage = client.usage.as_dict()
    usage["accepted"] = len(result.accepted)
    client.cache.close()
    return elapsed, cpu, usage


def dedup_texts(data: Path) -> tuple[list[str], list[str]]:
    """A ~50k-text pool (GoEmotions train + test) and 1,600 dev texts to screen, or synthetic stand-ins."""
    files = [data / name for name in ("train.tsv", "test.tsv", "dev.tsv")]
    if all(f.is_file() for f in files):
        read = [[line.split("\t")[0] for line in f.read_text(encoding="utf-8").splitlines()] for f in files]
        return read[0] + read[1], read[2][:1600]
    rng = random.Random(0)
    words = [
        "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3)) for _ in range(3000)
    ]
    make = lambda: " ".join(rng.choice(words) for _ in range(rng.randint(5, 25)))
    return [make() for _ in range(49000)], [make() for _ in range(1600)]


def dedup_ours(pool: list[str], queries: list[str]) -> tuple[float, float, int]:
    """Build seconds, screening seconds and number flagged, for `DuplicateIndex`."""
    start = time.perf_counter()
    index = DuplicateIndex()
    index.add(pool, "pool")
    built = time.perf_counter()
    flagged = 0
    for offset in range(0, len(queries), BATCH_SIZE):
        flagged += sum(r is not None for r in index.admit(queries[offset : offset + BATCH_SIZE]))
    return built - start, time.perf_counter() - built, flagged


def dedup_sklearn(pool: list[str], queries: list[str], threshold: float = 0.85) -> tuple[float, float, int]:
    """The peer: HashingVectorizer char 4-grams, cosine against pool and earlier batches by sparse products."""
    start = time.perf_counter()
    vectorizer = HashingVectorizer(
        analyzer="char_wb", ngram_range=(4, 4), n_features=2**20, alternate_sign=False
    )
    pool_t = vectorizer.transform([normalize_text(t) for t in pool]).T.tocsr()
    built = time.perf_counter()
    kept: list = []
    flagged = 0
    for offset in range(0, len(queries), BATCH_SIZE):
        batch = vectorizer.transform([normalize_text(t) for t in queries[offset : offset + BATCH_SIZE]])
        best = (batch @ pool_t).max(axis=1).toarray().ravel()
        if kept:
            best = np.maximum(best, (batch @ sp.vstack(kept).T).max(axis=1).toarray().ravel())
        within = (batch @ batch.T).toarray()
        for row in range(batch.shape[0]):
            if best[row] >= threshold or (row and within[row, :row].max() >= threshold):
                flagged += 1
            else:
                kept.append(batch[row])
    return built - start, time.perf_counter() - built, flagged


def measure_once(base_url: str, deficits: dict, args: argparse.Namespace) -> tuple:
    """One peer run, then the pipeline cold and cached on a fresh cache, back to back."""
    peer = asyncio.run(bare_openai(base_url, args.requests, args.concurrency))
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder) / "cache.sqlite"
        cold = asyncio.run(pipeline(base_url, cache, deficits, args.concurrency))
        warm = asyncio.run(pipeline(base_url, cache, deficits, args.concurrency))
    return peer, cold, warm


def median_run(runs: list[tuple]) -> tuple:
    """The repeat whose pipeline/peer wall-time ratio is the median (so its numbers belong together)."""
    ordered = sorted(runs, key=lambda run: run[1][0] / run[0][0])
    return ordered[len(ordered) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/goemotions"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="peer/pipeline repeats; the median is reported"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    server, base_url = start_server(args.latency)
    try:
        deficits = deficits_for(args.requests)
        ideal = args.requests * args.latency / args.concurrency
        load_before = os.getloadavg()[0]
        runs = [measure_once(base_url, deficits, args) for _ in range(args.repeats)]
        (peer, peer_cpu), (cold, cold_cpu, cold_usage), (warm, warm_cpu, warm_usage) = median_run(runs)
    finally:
        server.terminate()
        server.wait(timeout=10)
    pool, queries = dedup_texts(args.data)
    ours_build, ours_screen, ours_flagged = dedup_ours(pool, queries)
    peer_build, peer_screen, peer_flagged = dedup_sklearn(pool, queries)
    results = {
        "requests": cold_usage["requests"],
        "concurrency": args.concurrency,
        "latency_s": args.latency,
        "ideal_s": round(ideal, 3),
        "load_average_1min": round(load_before, 2),
        "repeats": args.repeats,
        "pipeline_vs_peer_all_repeats": sorted(round(run[1][0] / run[0][0], 3) for run in runs),
        "cpu_cores": os.cpu_count(),
        "bare_openai_s": round(peer, 3),
        "bare_openai_client_cpu_s": round(peer_cpu, 3),
        "pipeline_cold_s": round(cold, 3),
        "pipeline_cold_client_cpu_s": round(cold_cpu, 3),
        "pipeline_cold_vs_ideal": round(cold / ideal, 3),
        "pipeline_cold_vs_bare_openai": round(cold / peer, 3),
        "cached_rerun_s": round(warm, 3),
        "cached_rerun_client_cpu_s": round(warm_cpu, 3),
        "cached_rerun_requests": warm_usage["requests"],
        "cached_rerun_cache_hits": warm_usage["cache_hits"],
        "rows_accepted": cold_usage["accepted"],
        "dedup_pool_texts": len(pool),
        "dedup_screened_texts": len(queries),
        "dedup_minhash_build_s": round(ours_build, 3),
        "dedup_minhash_screen_s": round(ours_screen, 3),
        "dedup_minhash_flagged": ours_flagged,
        "dedup_sklearn_build_s": round(peer_build, 3),
        "dedup_sklearn_screen_s": round(peer_screen, 3),
        "dedup_sklearn_flagged": peer_flagged,
        "dedup_screen_speedup_vs_sklearn": round(peer_screen / ours_screen, 2),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for key, value in results.items():
        print(f"{key:>30}: {value}")


if __name__ == "__main__":
    main()
