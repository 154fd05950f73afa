"""Benchmark the LLM adapter: 2,000 generate+annotate requests against a loopback server with 50 ms latency.

Runs, in one process against one loopback server (started as a subprocess so it does not share the GIL):
- the peer: the bare `openai.AsyncOpenAI` client sending the same number of requests behind an
  `asyncio.Semaphore` (no cache, no retries, no validation);
- the full pipeline (`generate_and_annotate`: 400 generation requests of 4 texts + 1,600 annotations),
  cold cache;
- the same pipeline again, every answer from the on-disk cache.

Targets: pipeline wall time within 1.25x of the ideal (2000 x 50 ms / 32 = 3.125 s); cached rerun < 1 s.

    python benchmarks/bench_llm.py [--json] [--requests 2000] [--concurrency 32] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openai

from goemobalance.labels import GOEMOTIONS
from goemobalance.llm import AgreementPolicy, GenerationConfig, LLMClient, LLMConfig, generate_and_annotate

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


async def bare_openai(base_url: str, requests: int, concurrency: int) -> float:
    """The peer: bare AsyncOpenAI, `requests` chat completions behind a semaphore; seconds taken."""
    client = openai.AsyncOpenAI(api_key="not-needed", base_url=base_url, max_retries=0)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> str:
        async with semaphore:
            response = await client.chat.completions.create(
                model="loopback-model", messages=[{"role": "user", "content": f"Number of texts: 1\nEmotions: joy {i}"}]
            )
        return response.choices[0].message.content

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(requests)))
    elapsed = time.perf_counter() - start
    await client.close()
    return elapsed


async def pipeline(base_url: str, cache: Path, deficits: dict, concurrency: int) -> tuple[float, dict]:
    """The full generate+annotate pipeline; seconds taken and the client's usage."""
    client = LLMClient(LLMConfig(model="loopback-model", base_url=base_url, concurrency=concurrency), cache)
    start = time.perf_counter()
    result = await generate_and_annotate(
        deficits,
        client,
        config=GenerationConfig(batch_size=BATCH_SIZE, max_rounds=1),
        policy=AgreementPolicy(),
        progress=False,
    )
    elapsed = time.perf_counter() - start
    await client.close()
    usage = client.usage.as_dict()
    usage["accepted"] = len(result.accepted)
    client.cache.close()
    return elapsed, usage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    server, base_url = start_server(args.latency)
    try:
        deficits = deficits_for(args.requests)
        ideal = args.requests * args.latency / args.concurrency
        peer = asyncio.run(bare_openai(base_url, args.requests, args.concurrency))
        with tempfile.TemporaryDirectory() as folder:
            cache = Path(folder) / "cache.sqlite"
            cold, cold_usage = asyncio.run(pipeline(base_url, cache, deficits, args.concurrency))
            warm, warm_usage = asyncio.run(pipeline(base_url, cache, deficits, args.concurrency))
    finally:
        server.terminate()
        server.wait(timeout=10)
    results = {
        "requests": cold_usage["requests"],
        "concurrency": args.concurrency,
        "latency_s": args.latency,
        "ideal_s": round(ideal, 3),
        "bare_openai_s": round(peer, 3),
        "pipeline_cold_s": round(cold, 3),
        "pipeline_cold_vs_ideal": round(cold / ideal, 3),
        "pipeline_cold_vs_bare_openai": round(cold / peer, 3),
        "cached_rerun_s": round(warm, 3),
        "cached_rerun_requests": warm_usage["requests"],
        "cached_rerun_cache_hits": warm_usage["cache_hits"],
        "rows_accepted": cold_usage["accepted"],
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for key, value in results.items():
        print(f"{key:>30}: {value}")


if __name__ == "__main__":
    main()
