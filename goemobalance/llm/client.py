"""An asynchronous chat-completion client over `openai.AsyncOpenAI` that is cheap to rerun and hard to break.

- works with OpenAI and any OpenAI-compatible server (vLLM, Ollama, llama.cpp) through `base_url`;
- reads the API key from an environment variable only; the key is never stored, cached or logged;
- bounds concurrency with an `asyncio.Semaphore`;
- retries 408/409/429/5xx, timeouts, connection errors and malformed bodies with exponential backoff and
  full jitter, honouring ``Retry-After`` / ``retry-after-ms`` up to ``max_wait`` seconds (a server asking
  for a longer wait fails that request at once: nothing ever sleeps for an hour); the openai client's own
  retries are disabled (``max_retries=0``), so there is one retry policy and it is ours;
- says what it is doing: every retry and final failure goes to a ``notify`` callback (one line each, at
  most one line per `NOTICE_INTERVAL` seconds with a count of the ones folded in);
- stops sending after ``max_consecutive_failures`` requests in a row failed for good (an unreachable or
  broken server), and never sends more than a shared `RequestBudget` allows;
- counts requests, cache hits, retries, tokens and cost (configurable prices per million tokens);
- looks every request up in an on-disk `ResponseCache` first (keyed by server URL, model, messages and
  parameters), so a rerun sends nothing twice; failed requests and answers the caller's ``parse`` rejects
  are never cached, so a rerun asks them again;
- falls back to prompt-only JSON when a server rejects ``response_format`` (``structured_output="auto"``);
- sends over the openai client's aiohttp transport (``openai.DefaultAioHttpClient``, the ``openai[aiohttp]``
  extra) when it is installed, its default httpx transport otherwise (``http_transport``).

Requests go through the client's documented custom-request method (``client.post("/chat/completions",
body=..., cast_to=str)``): same HTTP stack, authentication, timeouts and error classes as
``chat.completions.create``, without its recursive typed-parameter transform and pydantic response
models, which were most of the client-side CPU per request (``docs/llm.md``, ``docs/benchmarks.md``).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import openai
from tqdm.auto import tqdm
from typing_extensions import Self

from goemobalance.errors import InputError, ServiceError
from goemobalance.llm.cache import ResponseCache, request_key
from goemobalance.redact import redact_text

CHAT_COMPLETIONS = "/chat/completions"
OPENAI_BASE_URL = "https://api.openai.com/v1"
NOTICE_INTERVAL = 2.0
RETRYABLE_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))
STRUCTURED_MODES = ("auto", "json_schema", "off")
HTTP_TRANSPORTS = ("auto", "aiohttp", "httpx")
_UNSUPPORTED_FORMAT = "unsupported_response_format"
_FORMAT_WORDS = ("response_format", "json_schema", "schema", "structured", "grammar", "guided")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Notify = Callable[[str], None]


class LLMConfigError(InputError):
    """A client configuration that cannot work (e.g. no API key for the OpenAI API)."""


class LLMRequestError(ServiceError):
    """A request that failed for good: not retryable, still failing after every retry, a server asking
    to wait longer than ``max_wait``, or a client that stopped sending (see `RequestCapReached`)."""

    def __init__(
        self, message: str, *, key: str, attempts: int, status: int | None = None, retryable: bool = True
    ):
        super().__init__(message)
        self.key = key
        self.attempts = attempts
        self.status = status
        self.retryable = retryable


class RequestCapReached(LLMRequestError):
    """A request refused, unsent, because the run's `RequestBudget` (``max_requests``) is spent."""


class RequestBudget:
    """A cap on the requests several clients may send together (``--max-requests``); None: no cap.

    Every attempt counts, retries included, so the cap bounds what is sent (and billed) whatever happens.

    Parameters
    ----------
    limit : int, optional
        Most requests (>= 0); None: no cap.

    Attributes
    ----------
    used : int
        Requests counted so far.
    refused : int
        Requests refused because the cap was reached.

    Raises
    ------
    InputError
        If `limit` is negative.
    """

    def __init__(self, limit: int | None = None):
        if limit is not None and limit < 0:
            raise InputError(f"max_requests must be >= 0, got {limit}")
        self.limit = limit
        self.used = 0
        self.refused = 0

    def take(self) -> bool:
        """Count one request; False (counted in `refused`) when the cap is reached.

        Returns
        -------
        bool
            True when the request may be sent.
        """
        if self.limit is not None and self.used >= self.limit:
            self.refused += 1
            return False
        self.used += 1
        return True


def check_env_name(value: Any, field_name: str = "api_key_env") -> str:
    """`value` when it can be an environment variable's name; an `LLMConfigError` (never echoing it) if not.

    A name is letters, digits and ``_``, not starting with a digit. A value with a key's shape (``sk-...``,
    ``gsk_...``: anything `goemobalance.redact` would hide) or a long mixed-case token is refused even when
    it would be a valid name: it is almost certainly a key pasted where its variable's name belongs.
    """
    text = value if isinstance(value, str) else ""
    looks_like_key = redact_text(text) != text or (len(text) >= 32 and not text.isupper())
    if _ENV_NAME.fullmatch(text) and not looks_like_key:
        return text
    what = "looks like an API key" if looks_like_key else f"is not a variable name ({len(text)} characters)"
    raise LLMConfigError(
        f"{field_name} must be the NAME of an environment variable holding the key (such as OPENAI_API_KEY), "
        f"but the value given {what}; put the key in a variable and pass its name"
    )


@dataclass
class LLMConfig:
    """Everything the client needs; safe to log (it holds the key's variable name, never the key).

    `max_wait` bounds every wait before a retry (seconds): a ``Retry-After`` longer than that fails the
    request at once instead of sleeping. After `max_consecutive_failures` requests in a row failed for good
    the client sends nothing more (0: never stop), so an unreachable server ends the run in seconds.

    Parameters
    ----------
    model : str, default "gpt-4o-mini"
        The model name sent with every request.
    base_url : str, optional
        An OpenAI-compatible server (default: ``OPENAI_BASE_URL`` or the OpenAI API).
    api_key_env : str, default "OPENAI_API_KEY"
        The *name* of the environment variable holding the key (a key-shaped value is refused).
    concurrency : int, default 8
        Requests in flight (>= 1).
    timeout : float, default 60.0
        Seconds per HTTP request.
    max_retries : int, default 6
        Retries of a retryable failure (>= 0).
    backoff_base, backoff_max : float, default 0.5, 30.0
        Full-jitter exponential backoff: the ceiling of attempt ``k`` is ``min(backoff_max, backoff_base
        * 2**k, max_wait)`` seconds.
    max_wait : float, default 60.0
        Longest wait before a retry, in seconds (> 0).
    max_consecutive_failures : int, default 8
        Failed requests in a row after which the client stops sending (>= 0; 0: never stop).
    price_input_per_1m, price_output_per_1m : float, default 0.0
        Dollars per million prompt / completion tokens, for `cost`.
    structured_output : {"auto", "json_schema", "off"}, default "auto"
        Send the JSON schema as ``response_format`` (``auto``: until the server rejects it), or never.
    jitter_seed : int, default 0
        Seed of the backoff jitter.
    http_transport : {"auto", "aiohttp", "httpx"}, default "auto"
        The HTTP library (``auto``: aiohttp when installed).

    Raises
    ------
    LLMConfigError
        If a value is out of range or `api_key_env` is not a variable name.
    """

    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    timeout: float = 60.0
    max_retries: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_wait: float = 60.0
    max_consecutive_failures: int = 8
    price_input_per_1m: float = 0.0
    price_output_per_1m: float = 0.0
    structured_output: str = "auto"
    jitter_seed: int = 0
    http_transport: str = "auto"

    def __post_init__(self) -> None:
        check_env_name(self.api_key_env)
        if self.concurrency < 1:
            raise LLMConfigError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.max_retries < 0:
            raise LLMConfigError(f"max_retries must be >= 0, got {self.max_retries}")
        if not self.max_wait > 0:
            raise LLMConfigError(f"max_wait must be > 0 seconds, got {self.max_wait}")
        if not self.timeout > 0:
            raise LLMConfigError(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.max_consecutive_failures < 0:
            raise LLMConfigError(
                f"max_consecutive_failures must be >= 0, got {self.max_consecutive_failures}"
            )
        if self.structured_output not in STRUCTURED_MODES:
            raise LLMConfigError(
                f"structured_output must be one of {STRUCTURED_MODES}, got {self.structured_output!r}"
            )
        if self.http_transport not in HTTP_TRANSPORTS:
            raise LLMConfigError(
                f"http_transport must be one of {HTTP_TRANSPORTS}, got {self.http_transport!r}"
            )

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Price in dollars of one request's tokens.

        Parameters
        ----------
        prompt_tokens, completion_tokens : int
            The request's token counts.

        Returns
        -------
        float
        """
        return (prompt_tokens * self.price_input_per_1m + completion_tokens * self.price_output_per_1m) / 1e6

    @property
    def endpoint(self) -> str:
        """The server URL requests go to (what the openai client resolves), part of every cache key."""
        return (self.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL).rstrip("/")

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (it holds the key's variable name, never the key).

        Returns
        -------
        dict
            Field name -> value.
        """
        return asdict(self)


@dataclass
class Usage:
    """What the client sent and spent: requests, cache hits, retries, failures, tokens, dollars.

    Attributes
    ----------
    requests : int
        Requests sent (retries included).
    cache_hits : int
        Completions answered from the cache.
    retries : int
        Retries after a retryable failure.
    failures : int
        Requests that failed for good.
    prompt_tokens, completion_tokens : int
        Tokens billed.
    cost_usd : float
        Their price (`LLMConfig.cost`).
    retry_delays : list of float
        Seconds waited before each retry.
    """

    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    retry_delays: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The counts as a JSON-ready dict.

        Returns
        -------
        dict
            The fields, ``cost_usd`` to 6 decimals and the first 50 ``retry_delays`` to 3.
        """
        summary = asdict(self)
        summary["retry_delays"] = [round(d, 3) for d in self.retry_delays[:50]]
        summary["cost_usd"] = round(self.cost_usd, 6)
        return summary


@dataclass(frozen=True)
class Completion:
    """One chat completion's text and token counts; `cached` when it came from the on-disk cache;
    `parsed` is what the caller's ``parse`` function made of the text (None without one).

    Attributes
    ----------
    content : str
        The answer's text.
    prompt_tokens, completion_tokens : int
        Token counts reported by the server.
    finish_reason : str or None
        The server's finish reason.
    key : str
        The request's cache key (`request_key`).
    cached : bool
        Read from the cache rather than sent.
    structured : bool
        Sent with a ``response_format``.
    parsed : object
        The ``parse`` function's value.
    """

    content: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    key: str
    cached: bool
    structured: bool
    parsed: Any = None


def stderr_notice(message: str) -> None:
    """Write one notice line to stderr without breaking progress bars (the command line's `notify`)."""
    tqdm.write(message, file=sys.stderr)


class Notices:
    """Throttled one-line notices: the first at once, then at most one per `interval` seconds, each saying
    how many were folded into it, so a thousand failing requests give a readable trickle, not a flood.
    Every line passes through `goemobalance.redact.redact_text`."""

    def __init__(self, notify: Notify | None, interval: float = NOTICE_INTERVAL):
        self.notify = notify
        self.interval = interval
        self.folded = 0
        self._last: float | None = None

    def say(self, message: str, *, force: bool = False) -> None:
        """Pass `message` on now, or count it when one was passed on less than `interval` seconds ago."""
        if self.notify is None:
            return
        now = time.monotonic()
        if not force and self._last is not None and now - self._last < self.interval:
            self.folded += 1
            return
        if self.folded:
            message += f" (and {self.folded} similar notice(s) since the last one)"
        self.folded, self._last = 0, now
        self.notify(redact_text(message))


class LLMClient:
    """Async chat completions with bounded concurrency, retries, accounting and an on-disk cache.

    `notify` receives one line per retry and per final failure (throttled, see `Notices`); `budget` caps
    the requests this client (and any client sharing the budget) may send. Once `max_consecutive_failures`
    requests in a row failed for good, `stopped` says why and every later request fails unsent; a new
    client starts afresh.

    Parameters
    ----------
    config : LLMConfig
        The client's settings.
    cache : ResponseCache, str or Path, optional
        The response cache (a path opens one); None: no cache.
    http_client : object, optional
        An HTTP client for the openai client (default: from ``config.http_transport``).
    notify : callable, optional
        Receives the one-line notices (e.g. `stderr_notice`); None: silent.
    budget : RequestBudget, optional
        A request cap shared with other clients.

    Attributes
    ----------
    usage : Usage
        What was sent and spent.
    stopped : str or None
        Why the client stopped sending, None while it sends.
    """

    def __init__(
        self,
        config: LLMConfig,
        cache: ResponseCache | str | Path | None = None,
        *,
        http_client: Any | None = None,
        notify: Notify | None = None,
        budget: RequestBudget | None = None,
    ):
        self.config = config
        self.cache = ResponseCache(cache) if isinstance(cache, (str, Path)) else cache
        self.usage = Usage()
        self.budget = budget
        self.notices = Notices(notify)
        self.stopped: str | None = None
        self._http_client = http_client
        self._openai: openai.AsyncOpenAI | None = None
        self._semaphore = asyncio.Semaphore(config.concurrency)
        self._rng = random.Random(config.jitter_seed)
        self._structured_ok = config.structured_output != "off"
        self._failures_in_a_row = 0

    async def complete(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        temperature: float | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        parse: Callable[[str], Any] | None = None,
    ) -> Completion:
        """One chat completion, from the cache when possible.

        Parameters
        ----------
        messages : sequence of mappings
            Chat messages (``role``, ``content``).
        temperature, seed, max_tokens : optional
            Sampling parameters, sent when given (and part of the cache key).
        response_format : mapping, optional
            Structured-output schema; dropped for servers that reject it (``structured_output="auto"``).
        parse : callable, optional
            Reads the answer's text; its value is `Completion.parsed`. An answer it raises on is returned
            to nobody and never cached (the exception propagates), so a rerun asks again; a cached answer
            it raises on is asked again at once.

        Returns
        -------
        Completion
            The answer. Raises `LLMRequestError` when the request failed for good.
        """
        params = _drop_none({"temperature": temperature, "seed": seed, "max_tokens": max_tokens})
        messages = [dict(m) for m in messages]
        if response_format is not None and self._structured_ok:
            completion = await self._cached_or_sent(
                messages, {**params, "response_format": dict(response_format)}, parse
            )
            if completion is not None:
                return completion
        completion = await self._cached_or_sent(messages, params, parse)
        assert completion is not None
        return completion

    async def _cached_or_sent(
        self, messages: list[dict], params: dict[str, Any], parse: Callable[[str], Any] | None
    ) -> Completion | None:
        """The completion for this exact request; None when the server rejected `response_format`."""
        key = request_key(self.config.model, messages, params, self.config.endpoint)
        hit = self._from_cache(key, parse)
        if hit is not None:
            self.usage.cache_hits += 1
            stored, parsed = hit
        else:
            stored = await self._send(key, messages, params)
            unsupported = stored.get(_UNSUPPORTED_FORMAT)
            parsed = parse(stored["content"]) if parse is not None and not unsupported else None
            if self.cache is not None:
                self.cache.put(key, stored)
        if stored.get(_UNSUPPORTED_FORMAT):
            self._structured_ok = False
            return None
        return Completion(
            content=stored["content"],
            prompt_tokens=stored["prompt_tokens"],
            completion_tokens=stored["completion_tokens"],
            finish_reason=stored.get("finish_reason"),
            key=key,
            cached=hit is not None,
            structured="response_format" in params,
            parsed=parsed,
        )

    def _from_cache(self, key: str, parse: Callable[[str], Any] | None) -> tuple[dict[str, Any], Any] | None:
        """The cached answer and its parsed value; None on a miss or an answer `parse` rejects."""
        stored = self.cache.get(key) if self.cache is not None else None
        if stored is None or stored.get(_UNSUPPORTED_FORMAT) or parse is None:
            return None if stored is None else (stored, None)
        try:
            return stored, parse(stored["content"])
        except Exception:  # noqa: BLE001 - an answer the caller cannot use is asked again
            return None

    async def _send(self, key: str, messages: list[dict], params: dict[str, Any]) -> dict[str, Any]:
        """Send one request, retrying what is worth retrying; the stored form of its response."""
        client = self._client()
        last_error = "no attempt made"
        status: int | None = None
        for attempt in range(self.config.max_retries + 1):
            retry_after: float | None = None
            try:
                async with self._semaphore:
                    self._may_send(key)
                    self.usage.requests += 1
                    body = await client.post(
                        CHAT_COMPLETIONS,
                        body={"model": self.config.model, "messages": messages, **params},
                        cast_to=str,
                    )
                stored = self._stored_form(json.loads(body))
                self._failures_in_a_row = 0
                return stored
            except openai.APIStatusError as exc:
                status, last_error = exc.status_code, f"HTTP {exc.status_code}: {_short(exc)}"
                if (
                    "response_format" in params
                    and self.config.structured_output == "auto"
                    and _rejects_format(exc)
                ):
                    return {_UNSUPPORTED_FORMAT: True, "status": status}
                if status not in RETRYABLE_STATUS:
                    raise self._failed(last_error, key, attempt + 1, status, retryable=False) from exc
                retry_after = _retry_after_seconds(exc.response.headers)
            except openai.APIConnectionError as exc:  # APITimeoutError included
                status, last_error = None, self._connection_error(exc)
            except (
                openai.APIResponseValidationError,
                ValueError,
                TypeError,
                AttributeError,
                IndexError,
            ) as exc:
                status, last_error = None, f"malformed response: {_short(exc)}"
            if retry_after is not None and retry_after > self.config.max_wait:
                raise self._failed(
                    f"{last_error}; the server asks to wait {retry_after:.0f} s before retrying "
                    f"(Retry-After), longer than max_wait {self.config.max_wait:g} s",
                    key,
                    attempt + 1,
                    status,
                )
            if attempt < self.config.max_retries:
                delay = self._backoff(attempt, retry_after)
                self.usage.retries += 1
                self.usage.retry_delays.append(delay)
                self.notices.say(
                    f"{self._where()}: {last_error}; retry {attempt + 1}/{self.config.max_retries} "
                    f"in {delay:.1f} s"
                )
                await asyncio.sleep(delay)
        raise self._failed(
            f"gave up after {self.config.max_retries + 1} attempt(s): {last_error}",
            key,
            self.config.max_retries + 1,
            status,
        )

    def _may_send(self, key: str) -> None:
        """Raise instead of sending when this client stopped or the shared request budget is spent."""
        if self.stopped is not None:
            raise LLMRequestError(f"not sent: {self.stopped}", key=key, attempts=0, retryable=False)
        if self.budget is not None and not self.budget.take():
            raise RequestCapReached(
                f"not sent: the cap of {self.budget.limit} requests (max_requests) is reached",
                key=key,
                attempts=0,
                retryable=False,
            )

    def _failed(
        self, message: str, key: str, attempts: int, status: int | None, *, retryable: bool = True
    ) -> LLMRequestError:
        """Count a request that failed for good, say so, and stop the client after too many in a row."""
        self.usage.failures += 1
        self._failures_in_a_row += 1
        self.notices.say(f"{self._where()}: request failed for good: {message}")
        limit = self.config.max_consecutive_failures
        if limit and self._failures_in_a_row >= limit and self.stopped is None:
            self.stopped = f"{self._failures_in_a_row} requests in a row failed for good (last: {message})"
            self.notices.say(f"{self._where()}: {self.stopped}; sending nothing more in this run", force=True)
        return LLMRequestError(message, key=key, attempts=attempts, status=status, retryable=retryable)

    def _connection_error(self, exc: openai.APIConnectionError) -> str:
        """What went wrong on the way: a refused or failed connection, or a timeout.

        The aiohttp transport reports a refused connection as a connect *timeout*; the cause chain says
        what really happened, so an offline server reads "cannot connect", not "timed out after 60 s".
        """
        refused = _connection_refusal(exc)
        if refused is not None:
            return f"cannot connect: {_short(refused)}"
        if isinstance(exc, openai.APITimeoutError):
            return f"timed out after {self.config.timeout:g} s"
        return f"cannot connect: {_short(exc)}"

    def _where(self) -> str:
        return f"LLM {self.config.model} at {self.config.endpoint}"

    def _stored_form(self, response: Any) -> dict[str, Any]:
        """Content and usage of a chat-completion body; raises ValueError on a body without a message."""
        choices = response.get("choices") if isinstance(response, dict) else None
        if not choices or not isinstance(choices[0], dict):
            raise ValueError("response has no choices")
        message = choices[0].get("message") or {}
        content = message.get("content")
        if not isinstance(content, str):
            raise ValueError("response message has no text content")  # noqa: TRY004
        usage = response.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
        self.usage.prompt_tokens += prompt_tokens
        self.usage.completion_tokens += completion_tokens
        self.usage.cost_usd += self.config.cost(prompt_tokens, completion_tokens)
        return {
            "content": content,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "finish_reason": choices[0].get("finish_reason"),
            "model": response.get("model"),
        }

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff, never shorter than the server's Retry-After (which the caller
        has checked against `max_wait`), never longer than `max_wait`."""
        ceiling = min(self.config.backoff_max, self.config.backoff_base * 2**attempt, self.config.max_wait)
        delay = self._rng.uniform(0.5 * ceiling, ceiling)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def _client(self) -> openai.AsyncOpenAI:
        """The openai client, made on the first request that misses the cache (cached reruns need no key)."""
        if self._openai is None:
            self._openai = openai.AsyncOpenAI(
                api_key=_api_key(self.config),
                base_url=self.config.base_url,
                max_retries=0,
                timeout=self.config.timeout,
                http_client=self._http_client or _http_client_for(self.config.http_transport),
            )
        return self._openai

    async def close(self) -> None:
        """Write pending cache entries and close the HTTP connections."""
        if self.cache is not None:
            self.cache.flush()
        if self._openai is not None:
            await self._openai.close()
            self._openai = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class SyncLLMClient:
    """A blocking facade over `LLMClient` for code that is not in asyncio (runs its own event loop thread).

    Parameters
    ----------
    config : LLMConfig
        The client's settings.
    cache : ResponseCache, str or Path, optional
        The response cache (a path opens one); None: no cache.

    Attributes
    ----------
    client : LLMClient
        The async client, running on this object's loop.
    """

    def __init__(self, config: LLMConfig, cache: ResponseCache | str | Path | None = None):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="goemobalance-llm", daemon=True)
        self._thread.start()
        self.client: LLMClient = self._run(_make_client(config, cache))

    @property
    def usage(self) -> Usage:
        """The async client's `Usage`."""
        return self.client.usage

    def complete(self, messages: Sequence[Mapping[str, str]], **params: Any) -> Completion:
        """One completion, blocking; same arguments as `LLMClient.complete`.

        Parameters
        ----------
        messages : sequence of mappings
            Chat messages (``role``, ``content``).
        **params
            Keyword arguments of `LLMClient.complete`.

        Returns
        -------
        Completion

        Raises
        ------
        LLMRequestError
            If the request failed for good.
        """
        return self._run(self.client.complete(messages, **params))

    def complete_many(self, requests: Sequence[Mapping[str, Any]]) -> list[Completion | LLMRequestError]:
        """Many completions concurrently (each a dict with ``messages`` and optional parameters).

        Parameters
        ----------
        requests : sequence of mappings
            Keyword arguments of `LLMClient.complete`, one mapping per request.

        Returns
        -------
        list of Completion or LLMRequestError
            One result per request, in order; a request that failed for good gives its error (any
            other exception is raised).
        """

        async def gather() -> list[Completion | LLMRequestError]:
            tasks = [self.client.complete(**request) for request in requests]
            results = await asyncio.gather(*tasks, return_exceptions=True)
            return [_reraise_unexpected(r) for r in results]

        return self._run(gather())

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run any coroutine (e.g. a pipeline using `self.client`) on this client's loop.

        Parameters
        ----------
        coroutine : coroutine
            The work to run.

        Returns
        -------
        object
            The coroutine's result (its exception is raised here).
        """
        return self._run(coroutine)

    def close(self) -> None:
        """Close the async client (flushing the cache) and stop the loop thread; safe to call twice."""
        if self._loop.is_running():
            self._run(self.client.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()


async def _make_client(config: LLMConfig, cache: ResponseCache | str | Path | None) -> LLMClient:
    return LLMClient(config, cache)


def _http_client_for(transport: str) -> Any | None:
    """The openai client's aiohttp transport when asked for (or "auto" and installed); None means httpx.

    aiohttp needs about half the client CPU per request of httpx (``docs/benchmarks.md``), which is what
    bounds throughput against a fast server at high concurrency.
    """
    if transport == "httpx":
        return None
    try:
        import aiohttp  # noqa: F401
    except ImportError as exc:
        if transport == "aiohttp":
            raise LLMConfigError(
                "http_transport='aiohttp' needs the aiohttp extra: pip install 'openai[aiohttp]'"
            ) from exc
        return None
    return openai.DefaultAioHttpClient()


def _reraise_unexpected(result: Any) -> Any:
    if isinstance(result, BaseException) and not isinstance(result, LLMRequestError):
        raise result
    return result


def _api_key(config: LLMConfig) -> str:
    """The key from the environment; local servers (a `base_url`) work without one."""
    key = os.environ.get(config.api_key_env)
    if key:
        return key
    if config.base_url:
        return "not-needed"
    raise LLMConfigError(
        f"no API key: set the environment variable {config.api_key_env} (or pass base_url for a local server)"
    )


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())


def _connection_refusal(exc: BaseException) -> OSError | None:
    """The operating system's connection error under `exc` (refused, unreachable, unknown host), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and not isinstance(current, TimeoutError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _rejects_format(exc: openai.APIStatusError) -> bool:
    """A 400/422 whose message is about structured output (the server does not support it)."""
    message = str(exc).lower()
    return exc.status_code in (400, 422) and any(word in message for word in _FORMAT_WORDS)


def _drop_none(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _short(exc: BaseException) -> str:
    return str(exc).replace("\n", " ")[:200]
