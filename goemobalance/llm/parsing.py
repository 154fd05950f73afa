"""Tolerant JSON parsing of model output, for servers without structured output (`response_format`).

Models wrap JSON in code fences, add prose before or after it, use single quotes, Python literals or
trailing commas. `parse_json_lenient` tries strict JSON first, then progressively more forgiving
readings, and raises `ResponseParseError` (with a short excerpt) when nothing works.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from typing import Any

from goemobalance.errors import GoemobalanceError

_FENCE = re.compile(r"```(?:json|JSON|javascript|js)?\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_JSON_LITERAL = re.compile(r"(?<=[:\[,\s])(null|true|false)(?=\s*[,}\]])")
_PY_LITERALS = {"null": "None", "true": "True", "false": "False"}


class ResponseParseError(GoemobalanceError, ValueError):
    """Model output that is not a JSON object or array, even read leniently."""


def parse_json_lenient(content: str) -> Any:
    """The JSON value in `content`: strict first, then fences, embedded spans, trailing commas, quotes.

    Parameters
    ----------
    content : str
        A model's reply.

    Returns
    -------
    object
        The first JSON object or array found.

    Raises
    ------
    ResponseParseError
        If the reply is empty or holds no JSON object or array.
    """
    if not isinstance(content, str) or not content.strip():
        raise ResponseParseError("empty response content")
    for candidate in _candidates(content):
        value = _try_parse(candidate)
        if value is not None:
            return value
    excerpt = content.strip().replace("\n", " ")[:120]
    raise ResponseParseError(f"no JSON object or array found in response: {excerpt!r}")


def _candidates(content: str) -> Iterator[str]:
    """Readings of `content` from strictest to loosest, produced lazily (valid JSON costs one parse)."""
    text = content.strip()
    yield text
    for match in _FENCE.findall(text):
        yield match.strip()
    for opener in sorted("{[", key=lambda o: text.find(o) if o in text else len(text)):
        span = _balanced_span(text, opener)
        if span:
            yield span


def _try_parse(candidate: str) -> Any:
    for variant in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
        try:
            value = json.loads(variant)
        except (json.JSONDecodeError, ValueError):
            value = _python_literal(variant)
        if isinstance(value, (dict, list)):
            return value
    return None


def _python_literal(candidate: str) -> Any:
    """Single-quoted keys, True/False/None: read as a Python literal (never evaluated as code)."""
    for variant in (candidate, _JSON_LITERAL.sub(lambda m: _PY_LITERALS[m.group(0)], candidate)):
        try:
            return ast.literal_eval(variant)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
    return None


def _balanced_span(text: str, opener: str) -> str | None:
    """The first bracket-balanced span starting at `opener`, skipping brackets inside strings."""
    closer = "}" if opener == "{" else "]"
    start = text.find(opener)
    while start != -1:
        depth, quote, escaped = 0, "", False
        for pos in range(start, len(text)):
            char = text[pos]
            if quote:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == quote:
                    quote = ""
            elif char in "\"'":
                quote = char if _opens_string(text, pos) else ""
            elif char == opener:
                depth += 1
            elif char == closer:
                depth -= 1
                if depth == 0:
                    return text[start : pos + 1]
        start = text.find(opener, start + 1)
    return None


def _opens_string(text: str, pos: int) -> bool:
    """An apostrophe inside a word (``don't``) does not open a string; a quote after , : [ { does."""
    if text[pos] == '"':
        return True
    before = text[:pos].rstrip()
    return not before or before[-1] in ",:[{("
