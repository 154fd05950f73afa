"""Benchmark the LLM adapter: 2,000 generate+annotate requests against a loopback server with 50 ms latency.

Runs, in one process against one loopback server (started as a subprocess so it does not share the GIL):
- two peers: the bare `openai.AsyncOpenAI` client (``chat.completions.create``) sending as many requests
  of the same shape (same prompts and JSON schemas) behind an `asyncio.Semaphore` (no cache, no retries,
  no validation), once on its default httpx transport and once on the aiohttp transport our client uses
  (``openai.DefaultAioHttpClient``), so the transport is not what the comparison measures;
- the full pipeline (`generate_and_annotate`: 400 generation requests of 4 texts + 1,600 annotations),
  cold cache, then the same pipeline again with every answer from the on-disk cache.

Every method runs `--repeats` times; the order rotates from one repeat to the next (each method goes
first equally often), and each method's median is reported, with every repeat's pipeline/peer ratio.

Targets: pipeline wall time within 1.25x of the ideal (2000 x 50 ms / 32 = 3.125 s); cached rerun < 1 s.

It also times the near-duplicate screen on a ~50k-text pool (GoEmotions train + test when the data is
found, ``--data``): our MinHash-LSH `DuplicateIndex` against the scikit-learn peer (hashed character
4-gram vectors, cosine by sparse products against an inverted index that grows as texts are kept, as a
streaming screen would), 1,600 GoEmotions dev texts in batches of 4; both `--repeats` times, the order
alternating.

    python benchmarks/bench_llm.py [--json] [--requests 2000] [--concurrency 32] [--latency 0.05] [--repeats 5]
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


async def bare_openai(base_url: str, requests: int, concurrency: int, transport: str) -> tuple[float, float]:
    """A peer: bare AsyncOpenAI on `transport` ("httpx" or "aiohttp") sending the same kind of requests
    behind a semaphore; wall and CPU seconds."""
    http_client = openai.DefaultAioHttpClient() if transport == "aiohttp" else None
    client = openai.AsyncOpenAI(
        api_key="not-needed", base_url=base_url, max_retries=0, http_client=http_client
    )
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
    usage = client.usage.to_dict()
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
    """The peer: HashingVectorizer char 4-grams, cosine against the pool and the texts kept so far.

    The pool is one transposed CSR matrix (an inverted index: a batch's product touches only the pool
    rows sharing a feature with it). Kept texts are added incrementally, as a streaming screen would:
    they wait in a small tail matrix and move, `block` at a time, into transposed blocks of their own,
    so each text is copied once, not rebuilt into one matrix per batch.
    """
    start = time.perf_counter()
    vectorizer = HashingVectorizer(
        analyzer="char_wb", ngram_range=(4, 4), n_features=2**20, alternate_sign=False
    )
    index = GrowingInvertedIndex(vectorizer.transform([normalize_text(t) for t in pool]))
    built = time.perf_counter()
    flagged = 0
    for offset in range(0, len(queries), BATCH_SIZE):
        batch = vectorizer.transform([normalize_text(t) for t in queries[offset : offset + BATCH_SIZE]])
        best = index.best_cosine(batch)
        within = (batch @ batch.T).toarray()
        for row in range(batch.shape[0]):
            if best[row] >= threshold or (row and within[row, :row].max() >= threshold):
                flagged += 1
            else:
                index.add(batch[row])
    return built - start, time.perf_counter() - built, flagged


class GrowingInvertedIndex:
    """Row vectors searchable by sparse product, grown in place: transposed CSR blocks plus a short tail."""

    def __init__(self, rows: sp.csr_matrix, block: int = 256):
        self.block = block
        self.blocks = [rows.T.tocsr()]
        self.tail: list[sp.csr_matrix] = []

    def add(self, row: sp.csr_matrix) -> None:
        self.tail.append(row)
        if len(self.tail) == self.block:
            self.blocks.append(sp.vstack(self.tail).T.tocsr())
            self.tail = []

    def best_cosine(self, batch: sp.csr_matrix) -> np.ndarray:
        """Each batch row's highest dot product with any indexed row (rows are L2-normalised)."""
        best = np.zeros(batch.shape[0])
        parts = [batch @ block for block in self.blocks]
        if self.tail:
            parts.append(batch @ sp.vstack(self.tail).T)
        for part in parts:
            if part.shape[1]:
                best = np.maximum(best, part.max(axis=1).toarray().ravel())
        return best


def rotated(methods: list, repeat: int) -> list:
    """`methods` starting at a different one each repeat, so each goes first equally often."""
    shift = repeat % len(methods)
    return methods[shift:] + methods[:shift]


def measure_requests(base_url: str, deficits: dict, args: argparse.Namespace, repeat: int) -> dict:
    """One repeat of every request method, in rotated order: two peers and the pipeline (cold + cached)."""

    def pipeline_cold_and_cached() -> dict:
        with tempfile.TemporaryDirectory() as folder:
            cache = Path(folder) / "cache.sqlite"
            cold = asyncio.run(pipeline(base_url, cache, deficits, args.concurrency))
            warm = asyncio.run(pipeline(base_url, cache, deficits, args.concurrency))
        return {"pipeline_cold": cold, "cached_rerun": warm}

    def peer(transport: str):
        return lambda: {
            f"bare_openai_{transport}": asyncio.run(
                bare_openai(base_url, args.requests, args.concurrency, transport)
            )
        }

    methods = [peer("httpx"), peer("aiohttp"), pipeline_cold_and_cached]
    timings: dict = {"order": []}
    for method in rotated(methods, repeat):
        result = method()
        timings["order"].extend(result)
        timings.update(result)
    return timings


def measure_dedup(pool: list[str], queries: list[str], repeat: int) -> dict:
    """One repeat of both near-duplicate screens, the first alternating."""
    methods = [("dedup_minhash", dedup_ours), ("dedup_sklearn", dedup_sklearn)]
    return {name: method(pool, queries) for name, method in rotated(methods, repeat)}


def median(values: list[float]) -> float:
    return float(np.median(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/goemotions"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="repeats of every method (order rotated); medians reported"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    server, base_url = start_server(args.latency)
    try:
        deficits = deficits_for(args.requests)
        ideal = args.requests * args.latency / args.concurrency
        load_before = os.getloadavg()
        runs = [measure_requests(base_url, deficits, args, repeat) for repeat in range(args.repeats)]
    finally:
        server.terminate()
        server.wait(timeout=10)
    pool, queries = dedup_texts(args.data)
    dedup_runs = [measure_dedup(pool, queries, repeat) for repeat in range(args.repeats)]
    load_after = os.getloadavg()

    def wall(name: str) -> float:
        return median([run[name][0] for run in runs])

    def cpu(name: str) -> float:
        return median([run[name][1] for run in runs])

    def ratios(name: str, peer: str) -> list[float]:
        return sorted(round(run[name][0] / run[peer][0], 3) for run in runs)

    usage = runs[0]["pipeline_cold"][2]
    warm_usage = runs[0]["cached_rerun"][2]
    ours = [run["dedup_minhash"] for run in dedup_runs]
    peer = [run["dedup_sklearn"] for run in dedup_runs]
    results = {
        "requests": usage["requests"],
        "concurrency": args.concurrency,
        "latency_s": args.latency,
        "ideal_s": round(ideal, 3),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "cpu_cores": os.cpu_count(),
        "repeats": args.repeats,
        "orders": [run["order"] for run in runs],
        "bare_openai_httpx_s": round(wall("bare_openai_httpx"), 3),
        "bare_openai_httpx_client_cpu_s": round(cpu("bare_openai_httpx"), 3),
        "bare_openai_aiohttp_s": round(wall("bare_openai_aiohttp"), 3),
        "bare_openai_aiohttp_client_cpu_s": round(cpu("bare_openai_aiohttp"), 3),
        "pipeline_cold_s": round(wall("pipeline_cold"), 3),
        "pipeline_cold_client_cpu_s": round(cpu("pipeline_cold"), 3),
        "pipeline_cold_vs_ideal": round(wall("pipeline_cold") / ideal, 3),
        "pipeline_vs_bare_aiohttp_all_repeats": ratios("pipeline_cold", "bare_openai_aiohttp"),
        "pipeline_vs_bare_httpx_all_repeats": ratios("pipeline_cold", "bare_openai_httpx"),
        "cached_rerun_s": round(wall("cached_rerun"), 3),
        "cached_rerun_client_cpu_s": round(cpu("cached_rerun"), 3),
        "cached_rerun_requests": warm_usage["requests"],
        "cached_rerun_cache_hits": warm_usage["cache_hits"],
        "rows_accepted": usage["accepted"],
        "dedup_pool_texts": len(pool),
        "dedup_screened_texts": len(queries),
        "dedup_minhash_build_s": round(median([r[0] for r in ours]), 3),
        "dedup_minhash_screen_s": round(median([r[1] for r in ours]), 3),
        "dedup_minhash_flagged": ours[0][2],
        "dedup_sklearn_build_s": round(median([r[0] for r in peer]), 3),
        "dedup_sklearn_screen_s": round(median([r[1] for r in peer]), 3),
        "dedup_sklearn_flagged": peer[0][2],
        "dedup_screen_speedup_vs_sklearn_all_repeats": sorted(
            round(p[1] / o[1], 2) for o, p in zip(ours, peer)
        ),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for key, value in results.items():
        print(f"{key:>40}: {value}")


if __name__ == "__main__":
    main()
