"""LLM client against a real OpenAI-compatible HTTP server on 127.0.0.1, through the real `openai` client."""

from __future__ import annotations

import asyncio
import email.utils
import time

import openai
import pytest

from goemobalance.llm import (
    LLMClient,
    LLMConfig,
    LLMConfigError,
    LLMRequestError,
    ResponseCache,
    SyncLLMClient,
)
from goemobalance.llm.client import _retry_after_seconds
from goemobalance.llm.parsing import ResponseParseError, parse_json_lenient
from goemobalance.llm.testing import Fault, OpenAICompatibleServer

MESSAGES = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "Number of texts: 2\nEmotions: joy"},
]
SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "generated_texts", "strict": True, "schema": {"type": "object"}},
}


@pytest.fixture
def server():
    with OpenAICompatibleServer() as srv:
        yield srv


def config(server, **overrides) -> LLMConfig:
    settings = {
        "model": "test-model",
        "base_url": server.base_url,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "timeout": 5.0,
    }
    settings.update(overrides)
    return LLMConfig(**settings)


TRANSPORTS = pytest.mark.parametrize("transport", ["aiohttp", "httpx"])


def run(coroutine):
    return asyncio.run(coroutine)


async def complete_once(cfg: LLMConfig, cache=None, **params):
    async with LLMClient(cfg, cache) as client:
        completion = await client.complete(MESSAGES, **params)
    return completion, client.usage


@TRANSPORTS
def test_happy_path_counts_tokens_and_cost(server, transport):
    completion, usage = run(
        complete_once(
            config(server, price_input_per_1m=2.0, price_output_per_1m=8.0, http_transport=transport), seed=1
        )
    )
    assert server.request_count == 1
    assert len(parse_json_lenient(completion.content)["items"]) == 2
    assert completion.prompt_tokens > 0 and completion.completion_tokens > 0
    assert usage.prompt_tokens == completion.prompt_tokens
    expected = (completion.prompt_tokens * 2.0 + completion.completion_tokens * 8.0) / 1e6
    assert usage.cost_usd == pytest.approx(expected)
    assert server.requests[0]["seed"] == 1 and server.requests[0]["model"] == "test-model"


def test_structured_output_is_sent_as_response_format(server):
    completion, _ = run(complete_once(config(server), response_format=SCHEMA))
    assert server.requests[0]["response_format"] == SCHEMA
    assert completion.structured


UNSUPPORTED = '{"error": {"message": "response_format of type json_schema is not supported"}}'


def test_server_without_response_format_falls_back_and_remembers(server, tmp_path):
    server.add_fault(Fault(status=400, body=UNSUPPORTED, match=lambda r: "response_format" in r, times=-1))
    completion, usage = run(complete_once(config(server), tmp_path / "c.sqlite", response_format=SCHEMA))
    assert not completion.structured
    assert "response_format" not in server.requests[-1]
    assert len(parse_json_lenient(completion.content)["items"]) == 2
    sent = server.request_count
    _, usage = run(complete_once(config(server), tmp_path / "c.sqlite", response_format=SCHEMA))
    assert server.request_count == sent and usage.cache_hits == 2


@TRANSPORTS
def test_429_waits_at_least_retry_after(server, transport):
    server.add_fault(Fault(status=429, headers={"Retry-After": "0.3"}))
    completion, usage = run(complete_once(config(server, http_transport=transport)))
    assert server.request_count == 2
    assert server.request_times[1] - server.request_times[0] >= 0.3
    assert usage.retries == 1 and usage.retry_delays[0] >= 0.3
    assert completion.content


@TRANSPORTS
def test_500_is_retried_then_gives_up_with_the_attempt_count(server, transport):
    server.add_fault(Fault(status=500))
    _, usage = run(complete_once(config(server)))
    assert server.request_count == 2 and usage.retries == 1
    server.clear()
    server.add_fault(Fault(status=503, times=-1))
    with pytest.raises(LLMRequestError, match="gave up after 3 attempt") as info:
        run(complete_once(config(server, max_retries=2, http_transport=transport), seed=9))
    assert server.request_count == 3 and info.value.status == 503


@TRANSPORTS
def test_timeout_is_retried(server, transport):
    server.add_fault(Fault(delay=1.0))
    completion, usage = run(complete_once(config(server, timeout=0.25, http_transport=transport)))
    assert server.request_count == 2 and usage.retries == 1
    assert completion.content


@TRANSPORTS
@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '{"choices": []}'])
def test_malformed_body_is_retried(server, body, transport):
    server.add_fault(Fault(body=body))
    completion, usage = run(complete_once(config(server, http_transport=transport)))
    assert server.request_count == 2 and usage.retries == 1
    assert parse_json_lenient(completion.content)["items"]


def test_client_errors_are_not_retried(server):
    server.add_fault(Fault(status=401))
    with pytest.raises(LLMRequestError) as info:
        run(complete_once(config(server)))
    assert server.request_count == 1 and not info.value.retryable and info.value.status == 401


def test_concurrency_is_bounded(server):
    server.latency = 0.1

    async def many():
        async with LLMClient(config(server, concurrency=3)) as client:
            return await asyncio.gather(*(client.complete(MESSAGES, seed=i) for i in range(9)))

    results = run(many())
    assert len(results) == 9 and server.request_count == 9
    assert server.max_in_flight == 3


def test_cache_serves_a_rerun_without_requests_and_never_stores_the_key(server, tmp_path, monkeypatch):
    monkeypatch.setenv("GOEMO_TEST_KEY", "sk-very-secret-123")
    cfg = config(server, api_key_env="GOEMO_TEST_KEY")
    first, _ = run(complete_once(cfg, tmp_path / "c.sqlite", seed=3))
    assert server.authorizations == ["Bearer sk-very-secret-123"]
    second, usage = run(complete_once(cfg, tmp_path / "c.sqlite", seed=3))
    assert server.request_count == 1 and usage.requests == 0 and usage.cache_hits == 1
    assert second.cached and second.content == first.content
    for path in tmp_path.iterdir():
        assert b"sk-very-secret-123" not in path.read_bytes()
    third, _ = run(complete_once(cfg, tmp_path / "c.sqlite", seed=4))
    assert server.request_count == 2 and not third.cached


def test_missing_key_for_the_openai_api_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("GOEMO_ABSENT_KEY", raising=False)
    with pytest.raises(LLMConfigError, match="GOEMO_ABSENT_KEY"):
        run(complete_once(LLMConfig(model="m", api_key_env="GOEMO_ABSENT_KEY")))


def test_sync_client_returns_results_and_errors(server):
    server.add_fault(Fault(status=404, match=lambda r: r.get("seed") == 2))
    with SyncLLMClient(config(server)) as client:
        single = client.complete(MESSAGES, seed=1)
        results = client.complete_many([{"messages": MESSAGES, "seed": s} for s in (1, 2, 3)])
    assert single.content == results[0].content
    assert isinstance(results[1], LLMRequestError) and results[2].content


def test_retry_after_header_forms():
    assert _retry_after_seconds({"retry-after-ms": "250"}) == pytest.approx(0.25)
    assert _retry_after_seconds({"retry-after": "2"}) == 2.0
    in_three = email.utils.formatdate(time.time() + 3, usegmt=True)
    assert 1.0 < _retry_after_seconds({"retry-after": in_three}) <= 3.0
    assert _retry_after_seconds({"retry-after": "soon"}) is None
    assert _retry_after_seconds({}) is None


def test_cache_groups_writes_and_survives_reopen(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite", flush_every=10)
    for i in range(25):
        cache.put(f"k{i}", {"content": str(i)})
    assert cache.get("k24") == {"content": "24"}
    cache.close()
    with ResponseCache(tmp_path / "c.sqlite") as reopened:
        assert len(reopened) == 25 and reopened.get("k7") == {"content": "7"}


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"items": [{"text": "a"}]}', {"items": [{"text": "a"}]}),
        ('Sure!\n```json\n{"items": [{"text": "a"},]}\n```\nEnjoy.', {"items": [{"text": "a"}]}),
        (
            "{'items': [{'text': \"don't\", 'ok': true}]} and more words",
            {"items": [{"text": "don't", "ok": True}]},
        ),
        ('Here: [{"text": "x"}] done', [{"text": "x"}]),
        (
            '{"labels": [{"name": "joy", "confidence": 0.9}]} {"extra": 1}',
            {"labels": [{"name": "joy", "confidence": 0.9}]},
        ),
    ],
)
def test_lenient_parser(content, expected):
    assert parse_json_lenient(content) == expected


@pytest.mark.parametrize("content", ["", "I cannot help with that.", "{broken"])
def test_lenient_parser_rejects_non_json(content):
    with pytest.raises(ResponseParseError):
        parse_json_lenient(content)


def test_fully_cached_rerun_needs_no_key(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("GOEMO_PRESENT_KEY", "sk-test-present-0123456789")
    run(
        complete_once(
            LLMConfig(model="test-model", api_key_env="GOEMO_PRESENT_KEY"), tmp_path / "c.sqlite", seed=7
        )
    )
    monkeypatch.delenv("GOEMO_ABSENT_KEY", raising=False)
    offline = LLMConfig(model="test-model", api_key_env="GOEMO_ABSENT_KEY")
    completion, usage = run(complete_once(offline, tmp_path / "c.sqlite", seed=7))
    assert completion.cached and usage.requests == 0 and usage.cache_hits == 1


@pytest.mark.parametrize(
    ("transport", "aiohttp_expected"), [("auto", True), ("aiohttp", True), ("httpx", False)]
)
def test_http_transport_picks_the_openai_clients_transport(server, transport, aiohttp_expected):
    async def transport_of() -> object:
        async with LLMClient(config(server, http_transport=transport)) as client:
            await client.complete(MESSAGES)
            return client._client()._client

    assert isinstance(run(transport_of()), openai.DefaultAioHttpClient) == aiohttp_expected


def test_unknown_http_transport_is_a_config_error():
    with pytest.raises(LLMConfigError, match="http_transport"):
        LLMConfig(http_transport="curl")


def test_json_schema_mode_does_not_fall_back(server):
    server.add_fault(Fault(status=400, body=UNSUPPORTED, match=lambda r: "response_format" in r, times=-1))
    with pytest.raises(LLMRequestError) as info:
        run(complete_once(config(server, structured_output="json_schema"), response_format=SCHEMA))
    assert info.value.status == 400 and server.request_count == 1


def test_other_bad_requests_do_not_switch_structured_output_off(server):
    server.add_fault(Fault(status=400, body='{"error": {"message": "maximum context length exceeded"}}'))
    with pytest.raises(LLMRequestError, match="context length"):
        run(complete_once(config(server), response_format=SCHEMA))
    assert server.request_count == 1
