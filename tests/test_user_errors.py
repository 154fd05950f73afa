"""Regressions found by issue 13's adversarial re-check (`benchmarks/adversarial.py`) that are not about
output folders: a user error ends in one line naming it, and a key in a server URL is never written.
"""

from __future__ import annotations

import pytest

from goemobalance.cli import main
from goemobalance.recipe import RecipeError, load_recipe
from goemobalance.redact import REDACTED, redact_data, redact_text

PASSWORD = "3f9a" * 10


def test_train_with_an_unknown_split_of_the_packaged_copy_is_one_line_naming_it(tmp_path, capsys):
    """Bug caught: `train packaged --split nosuch` ended in 'internal error: KeyError' (exit 1)."""
    code = main(["train", "packaged", "--split", "nosuch", "--model", "proxy", "--out", str(tmp_path / "t")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert lines[-1].startswith("goemobalance train: ") and "'nosuch'" in lines[-1]
    assert "internal error" not in lines[-1]


def test_the_password_of_a_server_url_is_redacted_everywhere_it_is_written():
    """Bug caught: `generate --base-url http://user:KEY@host/v1` (or a recipe's llm.base_url) wrote KEY into
    report.json and printed it in every retry notice."""
    url = f"http://user:{PASSWORD}@127.0.0.1:8000/v1"
    assert (
        redact_text(f"LLM demo at {url}: HTTP 500")
        == f"LLM demo at http://user:{REDACTED}@127.0.0.1:8000/v1: HTTP 500"
    )
    assert PASSWORD not in str(redact_data({"settings": {"base_url": url}, "urls": [url]}))
    for kept in ("http://127.0.0.1:8000/v1", "https://huggingface.co/datasets/org/name", "at 12:30@home"):
        assert redact_text(kept) == kept


def test_an_unreachable_hub_is_a_service_error_not_an_internal_one(tmp_path, monkeypatch, capsys):
    """Bug caught: `publish --repo-id ... --endpoint <closed port>` ended in 'internal error: ConnectError'
    (exit 1): huggingface_hub 2 lets its HTTP client's connection errors through unwrapped."""
    import socket

    folder = tmp_path / "ds"
    (folder / "data").mkdir(parents=True)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# a dataset\n")
    (folder / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_TOKEN", "hf_" + "x" * 34)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    argv = ["publish", str(folder), "--repo-id", "org/name", "--endpoint", f"http://127.0.0.1:{port}"]
    code = main(argv)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 4 and "org/name" in last and "internal error" not in last


def test_a_file_that_is_not_parquet_is_one_line_naming_it(tmp_path, capsys):
    """Bug caught: `stats data.parquet` on a file of other bytes ended in 'internal error: ArrowInvalid'."""
    path = tmp_path / "data.parquet"
    path.write_bytes(b"this is not a parquet file at all" * 50)
    assert main(["stats", str(path)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        last.startswith("goemobalance stats: ")
        and "data.parquet" in last
        and "not a readable parquet" in last
    )


def test_a_key_in_a_recipe_value_never_reaches_the_console():
    """Bug caught: a key pasted into a recipe's `name` was printed by the build's progress line ('building
    NAME ...'), its summary and error lines (files were redacted, the console was not)."""
    import io

    from goemobalance.build.console import Console
    from goemobalance.cli import describe_error
    from goemobalance.errors import InputError

    key = "gsk_" + "a1B2c3D4e5F6g7H8i9J0" * 2
    stream = io.StringIO()
    Console(stream).line(f"building {key} (recipe.yaml) into out/{key}")
    Console(stream, quiet=True).warn(f"something about {key}")
    message, code = describe_error(InputError(f"recipe.yaml: name: bad value {key!r}"))
    assert key not in stream.getvalue() + message and code == 2
    assert stream.getvalue().count(REDACTED) == 3 and REDACTED in message


def test_a_negative_llm_timeout_is_refused_before_anything_is_sent(tmp_path, capsys):
    """Bug caught: `generate --timeout -1` was accepted, then every request failed ('cannot connect', exit 4)
    without naming the flag."""
    deficits = tmp_path / "d.json"
    deficits.write_text('{"grief": 2}')
    argv = ["generate", "--deficits", str(deficits), "--out", str(tmp_path / "g"), "--model", "demo",
            "--base-url", "http://127.0.0.1:9/v1", "--no-progress", "--timeout", "-1"]  # fmt: skip
    assert main(argv) == 2
    assert "timeout must be > 0" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "g").exists()


def test_an_empty_input_file_is_one_line_naming_it(tmp_path, capsys):
    """Bug caught: `stats empty.csv` on a 0-byte file exited 0 with a table of 0 rows."""
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert main(["stats", str(empty)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("goemobalance stats: ") and str(empty) in line and "empty file" in line


def test_publish_sizes_are_checked_and_refused_for_a_split_dataset(tmp_path, capsys):
    """Bug caught: `publish packaged --sizes 0.5 0.5 0.5` exited 0, ignoring --sizes (the packaged copy is
    already split) and never checking that the fractions sum to 1."""
    assert main(["publish", "packaged", "--out", str(tmp_path / "a"), "--sizes", "0.5", "0.5", "0.5"]) == 2
    assert "already split" in capsys.readouterr().err
    unsplit = tmp_path / "rows.jsonl"
    unsplit.write_text('{"text": "so happy", "labels": ["joy"]}\n', encoding="utf-8")
    assert main(["publish", str(unsplit), "--out", str(tmp_path / "b"), "--sizes", "0.5", "0.5", "0.5"]) == 2
    assert "summing to 1" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    ("sizes", "accepted"),
    [((0.8, 0.1, 0.1), True), ((0.9, 0.1, 0.0), True), ((0.0, 0.5, 0.5), False), ((1.1, -0.1, 0.0), False),
     ((0.5, 0.5, 0.5), False)],
)  # fmt: skip
def test_publish_sizes_and_recipe_split_sizes_follow_one_rule(tmp_path, capsys, sizes, accepted):
    """Bug caught: `publish --sizes` refused a test fraction of 0 that a recipe's `split.sizes` accepts
    (two hand-written checks of the same rule); both now call `check_split_sizes`."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: x\nsources: [{type: goemotions, path: packaged}]\n"
        f"split: {{mode: stratified, sizes: [{', '.join(map(str, sizes))}]}}\n"
    )
    try:
        load_recipe(recipe)
        recipe_accepts = True
    except RecipeError as error:
        recipe_accepts = False
        assert "split.sizes: three fractions (train > 0" in str(error)
    assert recipe_accepts is accepted
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(f'{{"text": "so happy {i}", "labels": ["joy"]}}\n' for i in range(20)))
    code = main(["publish", str(rows), "--out", str(tmp_path / "out"), "--sizes", *map(str, sizes)])
    assert (code == 0) is accepted, capsys.readouterr().err
