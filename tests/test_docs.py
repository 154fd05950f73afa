"""The documentation runs as written: every code block of README.md and docs/tutorial.md, in order.

Each file's fenced blocks run in the order they appear, in a fresh folder that holds a link to the
repository's `recipes/` (so `recipes/quickstart.yaml` and `out/...` mean what they mean in a checkout):
``python`` blocks in one shared namespace, ``bash`` blocks as bash scripts (``set -e``; ``goemobalance``
and ``python`` are this interpreter, background jobs are stopped when the block ends). A block that is an
illustration rather than a step (it needs a GPU, an API key, the Hub, or minutes) carries the line
``<!-- not-run: REASON -->`` right above its fence, and is skipped here with that reason. Blocks in other
languages (``text``, ``yaml``, ``json``) are output or excerpts and are never run.

The blocks use only the data shipped in the package, never ../shared/data.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
RUN_LANGUAGES = {"python", "bash"}
FENCE = re.compile(r"^(```+)\s*([\w+-]*)\s*$")
NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(.+?)\s*-->$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    not_run: str | None  # the reason, when marked <!-- not-run: ... -->

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}:{self.language or 'plain'}"


def code_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, with their language and `not-run` reason."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, language = opening.groups()
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == fence), None)
        if end is None:
            raise AssertionError(f"{path.name}:{i + 1}: code block never closed")
        marker = NOT_RUN.match(lines[i - 1].strip()) if i > 0 else None
        code = "\n".join(lines[i + 1 : end]) + "\n"
        blocks.append(Block(path, i + 1, language.lower(), code, marker.group(1) if marker else None))
        i = end + 1
    return blocks


DOC_FILES = [REPO / "README.md", REPO / "docs" / "tutorial.md"]
BLOCKS = [block for path in DOC_FILES for block in code_blocks(path) if block.language in RUN_LANGUAGES]


class DocRun:
    """The shared state of one file's walk: its folder, its Python namespace, whether a step failed."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.namespace: dict[str, object] = {"__name__": "__doc__"}
        self.failed: str | None = None


@pytest.fixture(scope="module")
def doc_runs(tmp_path_factory):
    """One working folder per documentation file, as a user's checkout would be: `recipes/` is there."""
    runs: dict[Path, DocRun] = {}

    def run_for(path: Path) -> DocRun:
        if path not in runs:
            folder = tmp_path_factory.mktemp(path.stem.lower())
            (folder / "recipes").symlink_to(REPO / "recipes", target_is_directory=True)
            runs[path] = DocRun(folder)
        return runs[path]

    return run_for


@pytest.fixture(scope="module")
def shell_env(tmp_path_factory) -> dict[str, str]:
    """The environment of bash blocks: `goemobalance` and `python` run this checkout with this interpreter,
    and nothing can reach the network by accident (the Hub and datasets are offline)."""
    bin_dir = tmp_path_factory.mktemp("bin")
    for name, command in (
        ("goemobalance", f'"{sys.executable}" -m goemobalance.cli'),
        ("python", f'"{sys.executable}"'),
    ):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        script.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg")
    return env


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_doc_block_runs_as_written(block: Block, doc_runs, shell_env, monkeypatch):
    if block.not_run:
        pytest.skip(f"not run ({block.path.name}:{block.line}): {block.not_run}")
    state = doc_runs(block.path)
    if state.failed:
        pytest.skip(f"an earlier block of {block.path.name} failed ({state.failed})")
    state.failed = block.id  # cleared below when the block succeeds
    if block.language == "python":
        monkeypatch.chdir(state.folder)
        for key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
            monkeypatch.setenv(key, "1")
        exec(compile(block.code, str(block.path), "exec"), state.namespace)  # noqa: S102 (running the docs is the test)
    else:
        run_bash(block, state.folder, shell_env)
    state.failed = None


def run_bash(block: Block, folder: Path, env: dict[str, str]) -> None:
    """Run a bash block as one script; background jobs it starts are stopped when it ends."""
    script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + block.code
    done = subprocess.run(
        ["bash", "-c", script], check=False, cwd=folder, env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{block.id} exited with {done.returncode}\n--- stdout\n{done.stdout[-3000:]}"
            f"\n--- stderr\n{done.stderr[-3000:]}"
        )


# --------------------------------------------------------------------------------------------------
# The harness itself, and the rules the Markdown follows
# --------------------------------------------------------------------------------------------------


def test_code_blocks_reads_fences_languages_and_not_run_reasons(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        textwrap.dedent(
            """\
            Text.

            ```python
            x = 1
            ```

            <!-- not-run: needs a GPU -->
            ```bash
            goemobalance train --device cuda
            ```

            ```text
            output
            ```
            """
        )
    )
    blocks = code_blocks(page)
    assert [(b.line, b.language, b.not_run) for b in blocks] == [
        (3, "python", None),
        (8, "bash", "needs a GPU"),
        (12, "text", None),
    ]
    assert blocks[0].code == "x = 1\n"


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.name)
def test_every_block_says_its_language(path):
    unlabeled = [b.line for b in code_blocks(path) if not b.language]
    assert not unlabeled, f"{path.name}: code blocks without a language at lines {unlabeled}"


def test_the_tutorial_runs_most_of_its_blocks():
    """`not-run` is for the few illustrations (a key, the Hub, minutes of training), not for steps."""
    runnable = [b for b in code_blocks(REPO / "docs" / "tutorial.md") if b.language in RUN_LANGUAGES]
    not_run = [b.id for b in runnable if b.not_run]
    assert len(not_run) <= len(runnable) // 2, f"most tutorial blocks are not run: {not_run}"


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.name)
def test_no_block_needs_the_shared_data_folder(path):
    """The documented steps work on a fresh clone: they read the packaged data, not ../shared."""
    offenders = [b.id for b in code_blocks(path) if b.not_run is None and "../shared" in b.code]
    assert not offenders, f"run blocks that read ../shared: {offenders}"


def test_not_run_marker_must_sit_right_above_a_fence():
    """A marker separated from its fence (or with no reason) would silently not apply."""
    for path in DOC_FILES + sorted((REPO / "docs").glob("*.md")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if "not-run" in line and line.strip().startswith("<!--"):
                assert NOT_RUN.match(line.strip()), f"{path.name}:{i + 1}: write <!-- not-run: REASON -->"
                assert i + 1 < len(lines) and FENCE.match(lines[i + 1]), (
                    f"{path.name}:{i + 1}: the not-run marker must be the line right above a code fence"
                )


# --------------------------------------------------------------------------------------------------
# CITATION.cff and the docs index
# --------------------------------------------------------------------------------------------------


def test_citation_file_parses_and_names_this_version():
    import goemobalance

    citation = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["cff-version"] == "1.2.0"
    assert citation["version"] == goemobalance.__version__
    assert citation["license"] == "Apache-2.0"
    titles = " ".join(ref["title"] for ref in citation["references"])
    for work in ("GoEmotions", "Twitter Sentiment Classification", "Multi-Label Sentiment Classification"):
        assert work in titles


def test_citation_version_matches_pyproject():
    tomllib = pytest.importorskip("tomllib")

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["version"] == project["version"]


def test_docs_index_links_every_page_and_every_link_resolves():
    index = REPO / "docs" / "index.md"
    links = set(re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", index.read_text(encoding="utf-8")))
    local = {link for link in links if "://" not in link}
    missing = sorted(link for link in local if not (index.parent / link).exists())
    assert not missing, f"docs/index.md links to files that do not exist: {missing}"
    pages = {p.name for p in (REPO / "docs").glob("*.md")} - {"index.md"}
    unlinked = sorted(pages - {Path(link).name for link in local})
    assert not unlinked, f"docs/index.md does not link these pages: {unlinked}"


def test_docs_index_exit_codes_match_the_errors_module():
    """The exit-code table users read is the one the CLI uses."""
    from goemobalance import errors

    text = (REPO / "docs" / "index.md").read_text(encoding="utf-8")
    expected = {
        "InputError": errors.InputError.exit_code,
        "LeakError": errors.LeakError.exit_code,
        "ServiceError": errors.ServiceError.exit_code,
        "NothingAcceptedError": errors.NothingAcceptedError.exit_code,
    }
    for name, code in expected.items():
        assert re.search(rf"\|\s*{code}\s*\|[^\n]*`{name}`", text), (
            f"docs/index.md: no row '| {code} | ... `{name}`'"
        )
    assert re.search(rf"\|\s*{errors.EXIT_INTERRUPTED}\s*\|", text), "docs/index.md: no row for Ctrl-C"
