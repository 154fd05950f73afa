"""Secret redaction: the common key shapes never reach a written file; hashes and counts survive."""

from __future__ import annotations

import pytest

from goemobalance.redact import REDACTED, redact_data, redact_text

KEYS = [
    "hf_" + "a1B2c3D4e5" * 3 + "zz",
    "sk-" + "abcDEF123_" * 3,
    "sk-proj-" + "Z9y8X7w6V5" * 3,
    "gsk_" + "q" * 40,
    "xai-" + "Kk1" * 10,
    "ghp_" + "A1" * 18,
    "AIza" + "x" * 35,
    "AKIA" + "ABCDEFGHIJKLMNOP",
]


@pytest.mark.parametrize("key", KEYS)
def test_key_shapes_are_redacted_anywhere_in_text(key):
    text = f"description: my key is {key}, please ignore\nurl: http://x/?k={key}"
    out = redact_text(text)
    assert key not in out
    assert out.count(REDACTED) == 2


def test_secret_named_fields_are_redacted_but_variable_names_numbers_and_hashes_kept():
    digest = "0123456789abcdef" * 4
    recipe = (
        "llm:\n  api_key_env: OPENAI_API_KEY\n  api_key: deadbeefdeadbeefdeadbeefdeadbeef\n"
        "  max_tokens: 512\n  hf_token: plainsecretvalue\n"
        f"labeler:\n  revision: {digest[:40]}\noutput_hash: {digest}\n"
    )
    out = redact_text(recipe)
    assert "OPENAI_API_KEY" in out and "max_tokens: 512" in out
    assert digest[:40] in out and f"output_hash: {digest}" in out
    assert "deadbeef" not in out and "plainsecretvalue" not in out


def test_key_given_where_a_variable_name_belongs_is_redacted_in_data():
    data = {"api_key_env": KEYS[1], "settings": {"token": "abc", "prompt_tokens": 12}, "list": [KEYS[0]]}
    out = redact_data(data)
    assert out == {
        "api_key_env": REDACTED,
        "settings": {"token": REDACTED, "prompt_tokens": 12},
        "list": [REDACTED],
    }
    assert redact_data({"api_key_env": "OPENAI_API_KEY"}) == {"api_key_env": "OPENAI_API_KEY"}


def test_a_key_glued_to_text_by_a_dash_or_underscore_is_redacted():
    """Bug caught (issue 13 re-check): ``adv-gsk_...`` and ``x_hf_...`` kept the key, because the key shapes
    required no ``-``/``_`` before the prefix."""
    for glued in ("adv-gsk_" + "A" * 24, "x_hf_" + "b" * 24, "name-sk-proj-" + "c" * 20):
        assert "A" * 24 not in redact_text(glued) and "b" * 24 not in redact_text(glued)
        assert "c" * 20 not in redact_text(glued)
    assert redact_text("task-force desk-lamp risk-free") == "task-force desk-lamp risk-free"
