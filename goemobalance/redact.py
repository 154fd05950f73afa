"""Secret redaction for everything goemobalance writes (cards, manifests, reports, logs).

API keys and tokens must never reach a file. Users paste them into recipes, flags and environment
variables by mistake, so every writer passes its text or data through `redact_text` / `redact_data`, which
replace the common key shapes by ``[REDACTED]``:

- prefixed keys anywhere in a string: Hugging Face ``hf_...``, OpenAI ``sk-...`` (also ``sk-proj-``),
  Groq ``gsk_...``, xAI ``xai-...``, Anthropic ``sk-ant-...``, GitHub ``ghp_``/``github_pat_``, Google
  ``AIza...``, AWS ``AKIA...``, Slack ``xox?-...``, ``Bearer <token>`` headers, and the password of a URL
  (``https://user:PASSWORD@host``);
- the value of any field whose name looks secret (``api_key``, ``token``, ``secret``, ``password``,
  ``authorization``...), in mappings and in ``name: value`` / ``name=value`` text.

Long hexadecimal strings are only redacted as such a field's value: elsewhere they are checksums and model
revisions, which a manifest must keep.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"

_KEY_SHAPES = re.compile(
    r"""
    (?<![A-Za-z0-9])
    (?:
        hf_[A-Za-z0-9]{20,}
      | sk-(?:proj-|ant-|or-)?[A-Za-z0-9_-]{16,}
      | gsk_[A-Za-z0-9]{20,}
      | xai-[A-Za-z0-9]{20,}
      | ghp_[A-Za-z0-9]{20,}
      | github_pat_[A-Za-z0-9_]{20,}
      | AIza[A-Za-z0-9_-]{30,}
      | AKIA[A-Z0-9]{16}
      | xox[abposr]-[A-Za-z0-9-]{10,}
    )
    """,
    re.VERBOSE,
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
# The password of a URL's user information (``https://user:PASSWORD@host/v1``).
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+@")
_SECRET_NAME = re.compile(
    r"(?i)(api[_-]?key|access[_-]?key|secret|password|passwd|authorization|credential|(^|[_-])token$)"
)
# `name: value` or `name=value`; the callback keeps it unless the name looks secret.
_ASSIGNMENT = re.compile(
    r"""(?P<name>[A-Za-z][A-Za-z0-9_.-]*)(?P<sep>["']?[ \t]*[:=][ \t]*["']?)(?P<value>[^\s"',}]+)"""
)
# A secret-named field whose value is a variable *name* (``api_key_env: OPENAI_API_KEY``), a number, a
# boolean or empty is safe and useful to keep.
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_PLAIN_VALUE = re.compile(r"^(-?\d+(\.\d+)?|true|false|null|none|~|)$", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """True when a field or flag name looks like it holds a secret (``api_key``, ``hf_token``...)."""
    return bool(_SECRET_NAME.search(name))


def _keep_value(name: str, value: str) -> bool:
    names_a_variable = name.lower().endswith(("_env", "-env", "_var")) and bool(_ENV_NAME.match(value))
    return names_a_variable or value == REDACTED or bool(_PLAIN_VALUE.match(value))


def redact_text(text: str) -> str:
    """`text` with every key-shaped string and every secret-looking ``name: value`` value replaced.

    Parameters
    ----------
    text : str
        Any text about to be written (a recipe, a card, a log line, a JSON document).

    Returns
    -------
    str
        The same text with secrets replaced by ``[REDACTED]``; everything else is unchanged.
    """
    text = _KEY_SHAPES.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + "@", text)

    def assignment(match: re.Match[str]) -> str:
        name, value = match.group("name"), match.group("value")
        if not is_secret_name(name) or _keep_value(name, value):
            return match.group(0)
        return f"{name}{match.group('sep')}{REDACTED}"

    return _ASSIGNMENT.sub(assignment, text)


def redact_data(value: Any, name: str = "") -> Any:
    """A copy of JSON-like `value` (dicts, lists, strings) with secrets redacted; other values unchanged.

    Parameters
    ----------
    value : Any
        A mapping, sequence or scalar about to be serialised.
    name : str
        The field name `value` was found under; a secret-looking name redacts a string value whole.

    Returns
    -------
    Any
        The redacted copy (mappings stay dicts, sequences become lists).
    """
    if isinstance(value, Mapping):
        return {key: redact_data(item, str(key)) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(item, name) for item in value]
    if isinstance(value, str):
        if name and is_secret_name(name) and not _keep_value(name, value):
            return REDACTED
        return redact_text(value)
    return value


__all__ = ["REDACTED", "is_secret_name", "redact_data", "redact_text"]
