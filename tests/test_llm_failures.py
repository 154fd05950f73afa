"""The LLM stage under hostile servers and user mistakes: it never hangs, spins, caches garbage or leaks a key.

Every test runs the real `openai` client against the loopback server of `goemobalance.llm.testing` (or a
closed port), and the command line through `goemobalance.cli.main`, as a user would.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tracemalloc
from pathlib import Path

import datasets
import pytest

from goemobalance.cli import main
from goemobalance.errors import InputError
from goemobalance.llm import (
    AgreementPolicy,
    GenerationConfig,
    LLMClient,
    LLMConfig,
    LLMConfigError,
    LLMRequestError,
    export_review,
    generate_and_annotate,
    plan_requests,
    request_key,
)
from goemobalance.llm.testing import DemoResponder, Fault, OpenAICompatibleServer
from goemobalance.schema import from_records, make_record

REPO = Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "user", "content": "Number of texts: 2\nEmotions: joy"}]
KEY = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5q" * 2
DISAGREE = '{"labels": [{"name": "joy", "confidence": 0.95}]}'


def is_generation(request: dict) -> bool:
    return "Number of texts" in request["messages"][-1]["content"]


def is_annotation(request: dict) -> bool:
    return not is_generation(request)


@pytest.fixture
def server():
    with OpenAICompatibleServer() as srv:
        yield srv


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def deficits_file(tmp_path: Path, deficits: dict) -> str:
    path = tmp_path / "deficits.json"
    path.write_text(json.dumps(deficits))
    return str(path)


def cli(tmp_path: Path, server_url: str, deficits: dict, *flags: str) -> tuple[int, Path]:
    out = tmp_path / "out"
    argv = ["generate", "--deficits", deficits_file(tmp_path, deficits), "--out", str(out),
            "--base-url", server_url, "--model", "demo", "--no-progress", *flags]  # fmt: skip
    return main(argv), out


def generate(server, cache, deficits, *, config=None, policy=None, max_retries=0):
    async def go():
        settings = LLMConfig(
            model="gen", base_url=server.base_url, backoff_base=0.01, max_retries=max_retries
        )
        async with LLMClient(settings, cache) as client:
            result = await generate_and_annotate(
                deficits,
                client,
                config=config or GenerationConfig(batch_size=3, max_rounds=1),
                policy=policy or AgreementPolicy(),
                progress=False,
            )
        client.cache.close()
        return result, client.usage

    return asyncio.run(go())


@pytest.mark.timeout(120)
def test_retry_after_longer_than_max_wait_fails_at_once_and_says_so(server):
    server.add_fault(Fault(status=429, headers={"Retry-After": "3600"}, times=-1))
    notices: list[str] = []

    async def once():
        config = LLMConfig(model="m", base_url=server.base_url, max_retries=2, timeout=3, max_wait=2)
        async with LLMClient(config, notify=notices.append) as client:
            try:
                await client.complete(MESSAGES)
            finally:
                usage = client.usage
        return usage

    with pytest.raises(LLMRequestError, match=r"wait 3600 s .*Retry-After.*max_wait 2 s") as info:
        asyncio.run(asyncio.wait_for(once(), timeout=60))
    assert info.value.status == 429 and server.request_count == 1
    assert any("3600" in line and "Retry-After" in line for line in notices), notices


@pytest.mark.timeout(120)
def test_cli_retry_after_an_hour_ends_with_exit_4_and_a_visible_line(server, tmp_path, capsys):
    server.add_fault(Fault(status=429, headers={"Retry-After": "3600"}, times=-1))
    code, out = cli(
        tmp_path, server.base_url, {"grief": 2}, "--timeout", "3", "--max-retries", "2", "--max-wait", "1"
    )
    err = capsys.readouterr().err
    assert code == 4
    assert "Retry-After" in err and "3600" in err
    assert (out / "report.json").is_file(), "what the run did is written before the error"


def test_retries_are_visible_without_progress_bars(server, tmp_path, capsys):
    server.add_fault(Fault(status=503, match=is_generation, times=1))
    code, _ = cli(tmp_path, server.base_url, {"grief": 2})
    err = capsys.readouterr().err
    assert code == 0
    assert "HTTP 503" in err and "retry 1/6" in err


def test_unparseable_generation_is_not_cached_and_a_rerun_asks_again(server, tmp_path):
    server.add_fault(Fault(content="Sorry, I cannot write that.", match=is_generation, times=1))
    first, _ = generate(server, tmp_path / "c.sqlite", {"grief": 3})
    assert first.report["rejections"] == {"unparseable_response": 3} and len(first.accepted) == 0
    generations_before = sum(map(is_generation, server.requests))
    second, _ = generate(server, tmp_path / "c.sqlite", {"grief": 3})
    assert sum(map(is_generation, server.requests)) == generations_before + 1, "the request was sent again"
    assert len(second.accepted) == 3


def test_unparseable_annotation_is_not_cached_and_a_rerun_asks_again(server, tmp_path):
    server.add_fault(Fault(content="I think it is sad.", match=is_annotation, times=3))
    first, _ = generate(server, tmp_path / "c.sqlite", {"grief": 1})
    assert first.report["annotation_failures"] == 1 and len(first.review) == 1
    second, usage = generate(server, tmp_path / "c.sqlite", {"grief": 1})
    assert usage.requests == 1 and usage.cache_hits == 1, "only the generation answer came from the cache"
    assert len(second.accepted) == 1


def test_cache_key_includes_the_server_url(tmp_path):
    other = DemoResponder(confidence=0.8)
    cache = tmp_path / "c.sqlite"

    async def ask(url: str):
        async with LLMClient(LLMConfig(model="same-model", base_url=url), cache) as client:
            completion = await client.complete(MESSAGES, seed=1)
        client.cache.close()
        return completion

    with OpenAICompatibleServer() as first, OpenAICompatibleServer(other) as second:
        asyncio.run(ask(first.base_url))
        answer = asyncio.run(ask(second.base_url))
        assert second.request_count == 1 and not answer.cached
        assert asyncio.run(ask(first.base_url + "/")).cached, "a trailing slash is the same server"
    assert request_key("m", MESSAGES, {}, "http://a/v1") != request_key("m", MESSAGES, {}, "http://b/v1")


def test_cli_exit_4_when_every_request_failed_for_good(server, tmp_path, capsys):
    server.add_fault(Fault(status=503, times=-1))
    code, out = cli(tmp_path, server.base_url, {"grief": 3}, "--max-retries", "0", "--max-rounds", "1")
    err = capsys.readouterr().err
    assert code == 4
    last = err.strip().splitlines()[-1]
    assert last.startswith("goemobalance generate: ") and "failed for good" in last and "HTTP 503" in last
    report = json.loads((out / "report.json").read_text())
    assert report["service_failures"] == 1 and report["accepted"] == 0


def test_cli_exit_5_when_nothing_was_accepted(server, tmp_path, capsys):
    server.add_fault(Fault(content=DISAGREE, match=is_annotation, times=-1))
    code, out = cli(tmp_path, server.base_url, {"grief": 2}, "--max-rounds", "1")
    assert code == 5
    assert "no generated text was accepted (2 sent to review" in capsys.readouterr().err
    assert (out / "review.csv").is_file() and datasets.load_from_disk(str(out / "accepted")).num_rows == 0


def test_a_failing_server_is_given_up_after_a_few_requests_in_a_row(server, tmp_path, capsys):
    server.add_fault(Fault(status=503, times=-1))
    code, out = cli(tmp_path, server.base_url, {"grief": 200}, "--max-retries", "0", "--concurrency", "4")
    assert code == 4
    assert server.request_count <= 8 + 4, "8 failures in a row stop the run (plus those already in flight)"
    assert "8 requests in a row failed for good" in json.loads((out / "report.json").read_text())["stopped"]
    assert "sending nothing more" in capsys.readouterr().err


def test_unreachable_server_says_so_at_once_and_exits_4(tmp_path, capsys):
    code, _ = cli(tmp_path, closed_port_url(), {"grief": 40}, "--max-retries", "1")
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 4
    first_notice = next(line for line in lines if line.startswith("LLM "))
    assert "cannot connect" in first_notice and "retry 1/1" in first_notice, "the first failure shows at once"
    assert lines[-1].startswith("goemobalance generate: ") and "cannot connect" in lines[-1]


def test_deficit_of_a_billion_fails_fast_without_allocating(tmp_path):
    """In a child process whose address space is capped 1 GiB above what the command needs: the old code
    planned 2e8 batches (2.9 GB) before sending anything, which fails there with a MemoryError."""
    deficits = deficits_file(tmp_path, {"grief": 1_000_000_000})
    out = tmp_path / "out"
    code = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({2_800_000_000}, {2_800_000_000}))\n"
        "from goemobalance.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    argv = [
        "generate",
        "--deficits",
        deficits,
        "--out",
        str(out),
        "--base-url",
        closed_port_url(),
        "--no-progress",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], check=False, capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "1,000,000,000 texts, more than the cap of 10,000 per run (max_texts)" in done.stderr
    assert not out.exists(), "nothing is written"


def test_plan_of_a_billion_texts_is_arithmetic():
    tracemalloc.start()
    try:
        plan = plan_requests({"grief": 1_000_000_000}, {"batch_size": 5, "votes": 1})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000
    assert plan.texts == 10**9 and plan.generation_requests == 2 * 10**8 and plan.requests == 12 * 10**8
    with pytest.raises(InputError, match="max_texts"):
        plan.check()
    assert plan_requests({"grief": 10**9}, {"max_texts": 10**9}).problems() == []


def test_plan_counts_what_the_run_sends(server, tmp_path):
    deficits = {
        "labels": {"grief": 6, "pride": 4},
        "labelsets": [{"labels": ["sadness", "grief"], "count": 3}],
    }
    plan = plan_requests(
        deficits, {"batch_size": 3, "price_input_per_1m": 1.0, "price_output_per_1m": 2.0, "max_rounds": 1}
    )
    result, usage = generate(server, tmp_path / "c.sqlite", deficits)
    assert (plan.requests, plan.generation_requests, plan.texts) == (usage.requests, 4, 10) == (14, 4, 10)
    assert plan.cost_usd == pytest.approx((plan.prompt_tokens * 1.0 + plan.completion_tokens * 2.0) / 1e6)
    assert plan.prompt_tokens > 14 * 50 and plan.completion_tokens > 10 * 20
    assert result.report["plan"]["requests"] == 14
    votes = plan_requests(deficits, {"batch_size": 3, "votes": 3})
    assert votes.annotation_requests == 30 and set(plan.to_dict()) >= {
        "requests", "texts", "prompt_tokens", "completion_tokens", "cost_usd"
    }  # fmt: skip


def test_dry_run_sends_nothing_and_writes_nothing(server, tmp_path, capsys):
    code, out = cli(tmp_path, server.base_url, {"grief": 6, "pride": 4}, "--dry-run", "--batch-size", "3",
                    "--price-input-per-1m", "0.15", "--price-output-per-1m", "0.6")  # fmt: skip
    stdout = capsys.readouterr().out
    assert code == 0 and server.request_count == 0 and not out.exists()
    assert "planned 14 requests (4 generation + 10 annotation) for 10 texts" in stdout
    assert "cost $0.00" in stdout and "prompt" in stdout and "completion tokens" in stdout


def test_max_requests_refuses_a_bigger_plan_before_sending(server, tmp_path, capsys):
    code, out = cli(
        tmp_path, server.base_url, {"grief": 6, "pride": 4}, "--batch-size", "3", "--max-requests", "5"
    )
    assert code == 2 and server.request_count == 0 and not out.exists()
    assert "needs 14 requests, more than --max-requests 5" in capsys.readouterr().err


def test_max_requests_is_a_hard_cap_on_refills_too(server, tmp_path):
    server.add_fault(Fault(content="not json", match=is_generation, times=1))
    config = GenerationConfig(batch_size=3, max_rounds=3, max_requests=4)
    result, usage = generate(server, tmp_path / "c.sqlite", {"grief": 3}, config=config)
    assert server.request_count == 4 == usage.requests, "1 unparseable + 1 refill + 2 of 3 annotations"
    assert "cap of 4 requests" in result.report["stopped"]


@pytest.mark.parametrize(
    "value",
    [KEY, "gsk_" + "a1B2c3D4e5F6g7H8i9J0" * 2, "3f9a" * 10, "d41d8cd98f00b204e9800998ecf8427e", "my key"],
)
def test_api_key_env_accepts_only_variable_names_and_never_echoes(server, tmp_path, capsys, value):
    with pytest.raises(LLMConfigError, match="NAME of an environment variable") as info:
        LLMConfig(api_key_env=value)
    assert value not in str(info.value)
    code, out = cli(tmp_path, server.base_url, {"grief": 2}, "--api-key-env", value)
    captured = capsys.readouterr()
    assert code == 2 and server.request_count == 0 and not out.exists()
    assert value not in captured.out + captured.err
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"llm: {{model: demo, base_url: '{server.base_url}', api_key_env: '{value}'}}\n")
    argv = ["generate", "--recipe", str(recipe), "--pool", str(tmp_path / "pool"), "--out", str(out)]
    assert main(argv) == 2 and not out.exists()
    assert value not in "".join(capsys.readouterr())


def test_variable_names_are_still_accepted():
    for name in ("OPENAI_API_KEY", "GROQ_API_KEY", "my_key", "_K1"):
        assert LLMConfig(api_key_env=name).api_key_env == name


def test_empty_review_set_exports_a_header_and_exits_0(server, tmp_path, capsys):
    code, out = cli(tmp_path, server.base_url, {"grief": 2})
    assert code == 0 and datasets.load_from_disk(str(out / "review")).num_rows == 0
    assert main(["review", "export", str(out / "review"), "--out", str(tmp_path / "r.csv")]) == 0
    assert "nothing to review" in capsys.readouterr().out
    assert (tmp_path / "r.csv").read_text().startswith("id,text,intended,annotated,jaccard,admiration")
    from_records([]).save_to_disk(str(tmp_path / "old-empty"))
    assert main(["review", "export", str(tmp_path / "old-empty"), "--out", str(tmp_path / "o.csv")]) == 0


def test_review_files_are_redacted(tmp_path):
    row = make_record(id="llm:1", text=f"my key is {KEY} lol", labels=[16], source="llm", label_origin="llm")
    csv_path, jsonl_path = export_review(from_records([row]), tmp_path / "r.csv")
    for path in (csv_path, jsonl_path):
        text = path.read_text()
        assert KEY not in text and "[REDACTED]" in text
