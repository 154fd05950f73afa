"""Output folders under adversarial conditions (issue 13's re-check, `benchmarks/adversarial.py`): the record
of written files is the user's file and is not trusted, links never lead writes out, and commands other
than build/publish keep files they did not write.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from goemobalance.cli import main
from goemobalance.errors import InputError
from goemobalance.llm.testing import OpenAICompatibleServer
from goemobalance.outputs import RECORD_NAME, OwnedFolder


def staged_files(folder: OwnedFolder, names: dict[str, str]) -> Path:
    staged = folder.staging_folder()
    for name, content in names.items():
        (staged / name).parent.mkdir(parents=True, exist_ok=True)
        (staged / name).write_text(content)
    return staged


def tamper_record(root: Path, *entries: str) -> None:
    record = root / RECORD_NAME
    written = json.loads(record.read_text())["written"] if record.exists() else []
    record.write_text(json.dumps({"written": [*written, *entries]}))


def test_a_record_naming_paths_outside_the_folder_deletes_nothing_there(tmp_path):
    """Bug caught: `install` removed every recorded entry it did not rewrite, `../victim.txt` included."""
    root = tmp_path / "out"
    folder = OwnedFolder(root)
    folder.install(staged_files(folder, {"a.txt": "1"}), ["a.txt"])
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    absolute = tmp_path / "absolute.txt"
    absolute.write_text("precious too")
    tamper_record(root, "../victim.txt", str(absolute), "sub/../../victim.txt")
    removed = folder.install(staged_files(folder, {"b.txt": "2"}), ["b.txt"])
    assert victim.read_text() == "precious" and absolute.read_text() == "precious too"
    assert removed == ["a.txt"] and not (root / "a.txt").exists()


def test_a_record_naming_the_folder_itself_owns_nothing(tmp_path):
    """Bug caught: a record entry '.' made every file owned (no --overwrite needed) and `install` removed the
    whole folder, the user's files with it."""
    root = tmp_path / "out"
    folder = OwnedFolder(root, overwrite=True)
    folder.install(staged_files(folder, {"a.txt": "1"}), ["a.txt"])
    (root / "mine.txt").write_text("precious")
    tamper_record(root, ".", "./", "")
    assert OwnedFolder(root).foreign_files() == ["mine.txt"]
    with pytest.raises(InputError, match="mine.txt"):
        OwnedFolder(root).check()
    folder.install(staged_files(folder, {"a.txt": "2"}), ["a.txt"])
    assert (root / "mine.txt").read_text() == "precious" and (root / "a.txt").read_text() == "2"


def test_a_link_inside_the_folder_never_leads_a_write_out(tmp_path):
    """Bug caught: a published `data` folder replaced by a link to another folder: the rebuild replaced the
    parquet files there and deleted the stale ones."""
    root = tmp_path / "out"
    folder = OwnedFolder(root, overwrite=True)
    folder.install(staged_files(folder, {"data/x.parquet": "1", "data/old.parquet": "0"}), ["data/x.parquet",
                   "data/old.parquet"])  # fmt: skip
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "x.parquet").write_text("mine")
    (victim / "old.parquet").write_text("mine too")
    for path in (root / "data").iterdir():
        path.unlink()
    (root / "data").rmdir()
    (root / "data").symlink_to(victim, target_is_directory=True)
    with pytest.raises(InputError, match="outside the output folder"):
        folder.install(staged_files(folder, {"data/x.parquet": "2"}), ["data/x.parquet"])
    assert (victim / "x.parquet").read_text() == "mine" and (victim / "old.parquet").read_text() == "mine too"


def test_audit_and_generate_keep_files_they_did_not_write_and_rerun_into_their_own_folder(
    goemotions_train, tmp_path, capsys
):
    """Bug caught: `audit --out DIR` and `generate --out DIR` replaced a user's audit.md / report.json in DIR
    without a word (only build and publish checked their folder)."""
    data = tmp_path / "train.parquet"
    goemotions_train.select(range(300)).to_parquet(str(data))
    (tmp_path / "d.json").write_text(json.dumps({"grief": 2}))
    for name, command in (
        ("audit.md", ["audit", str(data), "--folds", "2", "--out"]),
        (
            "report.json",
            [
                "generate",
                "--deficits",
                str(tmp_path / "d.json"),
                "--model",
                "demo",
                "--no-progress",
                "--base-url",
                "URL",
                "--out",
            ],
        ),
    ):
        folder = tmp_path / name.split(".")[0]
        folder.mkdir()
        (folder / name).write_text("my own notes")
        with OpenAICompatibleServer() as server:
            argv = [arg.replace("URL", server.base_url) for arg in command]
            assert main([*argv, str(folder)]) == 2
            assert server.request_count == 0
            last = capsys.readouterr().err.strip().splitlines()[-1]
            assert "--overwrite" in last and name in last
            assert (folder / name).read_text() == "my own notes" and len(list(folder.iterdir())) == 1
            own = tmp_path / f"{name}-own"
            assert main([*argv, str(own)]) == 0
            assert main([*argv, str(own)]) == 0, "a rerun into its own folder needs no flag"
            (folder / "notes.txt").write_text("kept")
            assert main([*argv, str(folder), "--overwrite"]) == 0
        assert (folder / "notes.txt").read_text() == "kept"
