"""Generation side: the balancer's deficits -> seeded, diverse prompts -> validated candidate texts.

Deficit contract (from the balancer, JSON-serializable)::

    {"labels": {"grief": 120, "pride": 40}, "labelsets": [{"labels": ["grief", "sadness"], "count": 30}]}

A plain ``{"grief": 120}`` mapping is accepted too. Labelsets are generated first and count toward each
of their labels; what is left of a label's deficit is generated as single-label texts.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goemobalance.errors import InputError
from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.llm.client import LLMClient, LLMRequestError, RequestCapReached
from goemobalance.llm.parsing import ResponseParseError, parse_json_lenient
from goemobalance.llm.prompts import AxisValue, PromptTemplate
from goemobalance.text import NEAR_DUPLICATE_THRESHOLD

GENERATION_SCHEMA_NAME = "generated_texts"


class DeficitError(InputError):
    """A deficits file or mapping that does not follow the contract; the message names the field."""


@dataclass(frozen=True)
class Target:
    """A label combination to generate and how many texts it still needs.

    Parameters
    ----------
    labels : tuple of str
        The label names every text should express.
    count : int
        Texts still needed.
    """

    labels: tuple[str, ...]
    count: int


#: Default cap on the texts one run may ask for: deficits above it are refused before anything is planned.
DEFAULT_MAX_TEXTS = 10_000


@dataclass
class GenerationConfig:
    """How texts are asked for: batch size, sampling, rounds, length and near-duplicate limits.

    `max_texts` caps the texts one run may ask for (deficits summed; None: no cap) and `max_requests` the
    requests it may send, retries and refills included (None: no cap); both are checked before anything is
    planned, and `max_requests` also while the run sends.

    Parameters
    ----------
    batch_size : int, default 5
        Texts asked for per request (>= 1).
    temperature : float, default 0.9
        Sampling temperature of the generator.
    seed : int, default 0
        Seed of the request seeds and prompt axes.
    max_rounds : int, default 3
        Rounds of requests; targets still short after a round are asked again (>= 1).
    max_tokens : int or None, default 1024
        Completion-token limit per request.
    min_chars : int, default 3
        Shorter texts are rejected.
    near_duplicate_threshold : float, default NEAR_DUPLICATE_THRESHOLD
        Jaccard at which a text counts as a near duplicate of a test, pool or earlier text.
    max_texts : int or None, default DEFAULT_MAX_TEXTS
        Most texts one run may ask for.
    max_requests : int or None, default None
        Most requests one run may send.

    Raises
    ------
    InputError
        If a count is out of range.
    """

    batch_size: int = 5
    temperature: float = 0.9
    seed: int = 0
    max_rounds: int = 3
    max_tokens: int | None = 1024
    min_chars: int = 3
    near_duplicate_threshold: float = NEAR_DUPLICATE_THRESHOLD
    max_texts: int | None = DEFAULT_MAX_TEXTS
    max_requests: int | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_rounds < 1:
            raise InputError("batch_size and max_rounds must be >= 1")
        for name in ("max_texts", "max_requests"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise InputError(f"{name} must be a non-negative integer or None, got {value!r}")


@dataclass
class BatchRequest:
    """One generation request: target labels, how many texts, and everything needed to reproduce it."""

    index: int
    round: int
    labels: tuple[str, ...]
    n: int
    seed: int
    axes: dict[str, AxisValue]
    max_chars: int
    messages: list[dict[str, str]]

    def provenance(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "batch": self.index,
            "seed": self.seed,
            "axes": {axis: value.name for axis, value in self.axes.items()},
            "intended_labels": list(self.labels),
        }


@dataclass
class BatchOutcome:
    """What one generation request gave: candidate texts, rejections by reason, or the final error."""

    request: BatchRequest
    texts: list[str] = field(default_factory=list)
    rejections: Counter = field(default_factory=Counter)
    error: str | None = None
    capped: bool = False


def load_deficits(path: str | Path) -> dict[str, Any]:
    """Read a deficits JSON file (errors name the file).

    Parameters
    ----------
    path : str or Path
        The JSON file (as `goemobalance.balance.deficits` writes it, or ``{name: count}``).

    Returns
    -------
    dict
        The parsed JSON (checked by `parse_deficits`).

    Raises
    ------
    DeficitError
        If the file is missing or not valid JSON.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeficitError(f"deficits file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise DeficitError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None


def parse_deficits(deficits: Mapping[str, Any], space: LabelSpace = GOEMOTIONS) -> list[Target]:
    """The contract (or a plain name -> count mapping) as generation targets, labelsets first.

    Requested labelsets count toward each of their labels, so a label's own target is what is left.

    Parameters
    ----------
    deficits : mapping
        ``{"labels": {name: count}, "labelsets": [{"labels": [...], "count": n}]}`` or ``{name: count}``.
    space : LabelSpace, default GOEMOTIONS
        The known label names.

    Returns
    -------
    list of Target
        Labelset targets in the given order, then single-label targets; none with a zero count.

    Raises
    ------
    DeficitError
        Naming the field that breaks the contract (unknown label, bad count, wrong shape).
    """
    if not isinstance(deficits, Mapping):
        raise DeficitError(f"deficits must be a mapping, got {type(deficits).__name__}")
    if "labels" in deficits or "labelsets" in deficits:
        label_counts = deficits.get("labels") or {}
        labelsets = deficits.get("labelsets") or []
    else:
        label_counts, labelsets = deficits, []
    if not isinstance(label_counts, Mapping):
        raise DeficitError("deficits 'labels' must map label names to counts")
    targets: list[Target] = []
    covered: Counter = Counter()
    for position, entry in enumerate(labelsets):
        names, count = _labelset_entry(entry, position, space)
        if count:
            targets.append(Target(names, count))
            covered.update({name: count for name in names})
    for name, count in label_counts.items():
        canonical = _known_name(name, space, f"labels.{name}")
        left = _count(count, f"labels.{name}") - covered[canonical]
        if left > 0:
            targets.append(Target((canonical,), left))
    return targets


def generation_response_format() -> dict[str, Any]:
    """JSON-schema ``response_format`` for ``{"items": [{"text": ...}]}``."""
    item = {
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
        "additionalProperties": False,
    }
    schema = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": item}},
        "required": ["items"],
        "additionalProperties": False,
    }
    return {
        "type": "json_schema",
        "json_schema": {"name": GENERATION_SCHEMA_NAME, "strict": True, "schema": schema},
    }


def plan_batches(
    remaining: Mapping[tuple[str, ...], int], template: PromptTemplate, config: GenerationConfig, round_: int
) -> list[BatchRequest]:
    """Requests covering what is still missing; axes and seeds depend only on (seed, round, labels, batch)."""
    batches: list[BatchRequest] = []
    for labels, missing in remaining.items():
        for start in range(0, max(0, missing), config.batch_size):
            n = min(config.batch_size, missing - start)
            rng = random.Random(f"{config.seed}|{round_}|{'+'.join(labels)}|{start}")
            axes = template.sample_axes(rng)
            batches.append(
                BatchRequest(
                    index=len(batches),
                    round=round_,
                    labels=labels,
                    n=n,
                    seed=rng.randrange(2**31),
                    axes=axes,
                    max_chars=template.max_chars_for(axes),
                    messages=template.generation_messages(labels, n, axes),
                )
            )
    return batches


async def request_batch(client: LLMClient, batch: BatchRequest, config: GenerationConfig) -> BatchOutcome:
    """Send one generation request and validate its items; errors are kept on the outcome, never raised.

    An answer without a readable item list is counted as ``unparseable_response`` and not cached, so a
    rerun asks for it again.
    """
    outcome = BatchOutcome(batch)
    try:
        completion = await client.complete(
            batch.messages,
            temperature=config.temperature,
            seed=batch.seed,
            max_tokens=config.max_tokens,
            response_format=generation_response_format(),
            parse=generation_items,
        )
    except LLMRequestError as exc:
        outcome.error = str(exc)
        outcome.capped = isinstance(exc, RequestCapReached)
        outcome.rejections["request_failed"] += batch.n
        return outcome
    except ResponseParseError:
        outcome.rejections["unparseable_response"] += batch.n
        return outcome
    outcome.texts, outcome.rejections = check_items(
        completion.parsed, batch.n, batch.max_chars, config.min_chars
    )
    return outcome


def generation_items(content: str) -> list[Any]:
    """The item list of a generation answer; raises `ResponseParseError` when there is none."""
    return _items_of(parse_json_lenient(content))


def validate_items(
    content: str, expected: int, max_chars: int, min_chars: int = 3
) -> tuple[list[str], Counter]:
    """Texts from a generation answer; each item that is not a usable text is counted with its reason.

    Parameters
    ----------
    content : str
        The generator's reply.
    expected : int
        Texts the request asked for.
    max_chars : int
        Longer texts are rejected.
    min_chars : int, default 3
        Shorter texts are rejected.

    Returns
    -------
    texts : list of str
        The usable texts, whitespace collapsed, at most `expected`.
    rejections : collections.Counter
        Reason -> items (``unparseable_response``, ``invalid_item``, ``empty``, ``too_short``,
        ``too_long``, ``surplus_item``, ``missing_item``).
    """
    try:
        items = generation_items(content)
    except ResponseParseError:
        return [], Counter({"unparseable_response": expected})
    return check_items(items, expected, max_chars, min_chars)


def check_items(
    items: list[Any], expected: int, max_chars: int, min_chars: int = 3
) -> tuple[list[str], Counter]:
    """The usable texts among parsed generation items, and the others counted by reason."""
    rejections: Counter = Counter()
    texts: list[str] = []
    for item in items:
        text = item.get("text") if isinstance(item, Mapping) else item
        if not isinstance(text, str):
            rejections["invalid_item"] += 1
        elif not text.strip():
            rejections["empty"] += 1
        elif len(text.strip()) < min_chars:
            rejections["too_short"] += 1
        elif len(text.strip()) > max_chars:
            rejections["too_long"] += 1
        elif len(texts) >= expected:
            rejections["surplus_item"] += 1
        else:
            texts.append(" ".join(text.split()))
    valid_or_rejected = len(texts) + sum(rejections.values()) - rejections["surplus_item"]
    if valid_or_rejected < expected:
        rejections["missing_item"] += expected - valid_or_rejected
    return texts, rejections


def _items_of(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        for key in ("items", "texts", "posts", "data"):
            if isinstance(value.get(key), list):
                return value[key]
        if isinstance(value.get("text"), str):
            return [value]
        raise ResponseParseError("JSON object without an 'items' list")
    return list(value)


def _labelset_entry(entry: Any, position: int, space: LabelSpace) -> tuple[tuple[str, ...], int]:
    where = f"labelsets[{position}]"
    if not isinstance(entry, Mapping) or "labels" not in entry or "count" not in entry:
        raise DeficitError(f"{where}: expected {{'labels': [names], 'count': int}}, got {entry!r}")
    labels = entry["labels"]
    if isinstance(labels, str) or not labels:
        raise DeficitError(f"{where}.labels: expected a non-empty list of label names")
    names = tuple(sorted({_known_name(n, space, f"{where}.labels") for n in labels}, key=space.id))
    return names, _count(entry["count"], f"{where}.count")


def _known_name(name: Any, space: LabelSpace, where: str) -> str:
    if not isinstance(name, str) or name.strip().lower() not in space:
        raise DeficitError(f"{where}: unknown label {name!r}; known: {', '.join(space.names)}")
    return name.strip().lower()


def _count(value: Any, where: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DeficitError(f"{where}: count must be a non-negative integer, got {value!r}")
    return value
