"""Issue 13's adversarial re-check: bad files, recipes, flags and servers, kills and corrupted caches.

Every case runs the command line (``python -m goemobalance.cli``) as a user would, in a fresh temporary
folder, and is classified by what happened:

- ``clean error``: a non-zero exit whose last stderr line starts with ``goemobalance`` and names the
  problem (the file, field, flag or server the case broke), with no traceback;
- ``ok``: a case that must succeed did, and the data checks hold (same hash after a kill, counts shown...);
- ``traceback``: a Python traceback, or the CLI's ``internal error`` line (a bug, not a user error);
- ``unclear error``: non-zero, but the last line does not name the problem;
- ``silent loss``: a file outside the command's output folder touched, data changed or rows dropped without
  a word, or a user error accepted with exit 0;
- ``secret written``: one of the fake keys planted in the environment and in recipe fields found in a file
  the case wrote (or on the console);
- ``hang``: the command ran past its time limit;
- ``harness error``: the case itself failed (a bug of this script, not of goemobalance).

Every subprocess gets fake keys in its environment (``OPENAI_API_KEY=sk-proj-...``, ``GROQ_API_KEY=gsk_...``,
``HF_TOKEN=hf_...``, ``SERVICE_API_KEY=<64 hex>``); after each case every file written under the case's
folder (parquet read back as text) and everything printed is searched for them. Files outside the folders
the case names as outputs are hashed before and after: any change is a silent loss.

The machine is shared, so cases run one at a time on tiny data (the trial recipe and a 2,000-row GoEmotions
copy)::

    nice -n 10 python benchmarks/adversarial.py              # every case, the table on stdout
    nice -n 10 python benchmarks/adversarial.py -k cache     # cases whose name contains 'cache'
    nice -n 10 python benchmarks/adversarial.py --json r.json --markdown

Exit code: 0 when every case is ``clean error`` or ``ok``, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml

from goemobalance.data import packaged_file
from goemobalance.llm.testing import DemoResponder, Fault, OpenAICompatibleServer

GOOD = ("clean error", "ok")
SECRETS = {
    "OPENAI_API_KEY": "sk-proj-" + secrets.token_urlsafe(30).replace("-", "x").replace("_", "y"),
    "GROQ_API_KEY": "gsk_" + secrets.token_hex(20),
    "HF_TOKEN": "hf_" + secrets.token_hex(17),
    "SERVICE_API_KEY": secrets.token_hex(32),
}
RECIPE_SECRETS = {
    "sk": "sk-" + secrets.token_hex(24),
    "gsk": "gsk_" + secrets.token_hex(24),
    "hf": "hf_" + secrets.token_hex(20),
    "hex": secrets.token_hex(20),
}
ALL_SECRETS = tuple(SECRETS.values()) + tuple(RECIPE_SECRETS.values())
TWEETS = [
    '"0","1000000001","Mon Apr 06 22:19:45 PDT 2009","NO_QUERY","a","I am so scared of tomorrow, I cannot sleep"',
    '"4","1000000002","Mon Apr 06 22:19:49 PDT 2009","NO_QUERY","b","thank you so much, this made my day!"',
    '"4","1000000004","Mon Apr 06 22:19:57 PDT 2009","NO_QUERY","d","what a wonderful surprise, I love it"',
    '"0","1000000005","Mon Apr 06 22:20:00 PDT 2009","NO_QUERY","e","ugh this is disgusting and I am angry"',
    '"4","1000000007","Mon Apr 06 22:20:05 PDT 2009","NO_QUERY","g","so proud of my sister today"',
    '"0","1000000008","Mon Apr 06 22:20:09 PDT 2009","NO_QUERY","h","I miss her so much, so sad"',
]
HASH_LINE = re.compile(r"output hash: ([0-9a-f]{64})")


# --- running the CLI in a sandbox ----------------------------------------------------------------------------


@dataclass
class Proc:
    """One finished command: its arguments, exit code, output and wall time."""

    args: list[str]
    rc: int | None
    out: str
    err: str
    seconds: float

    @property
    def last_line(self) -> str:
        lines = [line for line in self.err.splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""


@dataclass
class Outcome:
    verdict: str
    got: str


@dataclass
class Row:
    case: str
    expected: str
    got: str
    verdict: str
    seconds: float


def _digest(path: Path) -> str:
    if path.is_symlink():
        return "link:" + os.readlink(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Sandbox:
    """A fresh folder for one case: inputs anywhere in it, outputs only under the folders named `outputs`.

    `run` starts the CLI with the fake keys in its environment and the `datasets` cache inside the sandbox;
    `violations` lists files outside the outputs that changed since `seal` (or since the case's own edits,
    made with `edit`), and `leaked_secrets` the keys found in files written since `seal` or on the console.
    """

    def __init__(self, root: Path, data: DataKit) -> None:
        self.root = root
        self.data = data
        self.outputs: list[Path] = [root / "hf_home"]
        self.console: list[str] = []
        self._before: dict[str, str] = {}
        self._planted: set[str] = set()
        self._sealed = False
        self._found: list[str] = []

    # paths
    def path(self, relative: str) -> Path:
        return self.root / relative

    def output(self, relative: str) -> Path:
        """Declare `relative` an output folder of the case (changes there are expected) and return it."""
        path = self.root / relative
        self.outputs.append(path)
        return path

    def _is_output(self, path: Path) -> bool:
        return any(path == out or out in path.parents for out in self.outputs)

    def _files(self) -> Iterable[Path]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
                yield Path(dirpath) / name

    # snapshots
    def seal(self) -> None:
        """Record every file as it is now: later changes outside the outputs are violations (those found
        since the previous seal are kept)."""
        if self._sealed:
            self._found += self.violations()
        self._before = {str(p): _digest(p) for p in self._files()}
        self._planted = set(self._before)
        self._sealed = True

    def edit(self, path: Path, change: Callable[[Path], None]) -> None:
        """Make a deliberate change to `path` (an input or an output) and keep it out of the violations."""
        change(path)
        self._note(path)

    def write(self, relative: str, content: str | bytes) -> Path:
        """Write an input file of the case (not a violation)."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        self._note(path)
        return path

    def _note(self, path: Path) -> None:
        for p in [path, *path.rglob("*")] if path.is_dir() and not path.is_symlink() else [path]:
            if p.is_symlink() or p.is_file():
                self._before[str(p)] = _digest(p)
                self._planted.add(str(p))

    def all_violations(self) -> list[str]:
        return self._found + (self.violations() if self._sealed else [])

    def violations(self) -> list[str]:
        now = {str(p): p for p in self._files()}
        changed = []
        for name, digest in self._before.items():
            path = Path(name)
            if self._is_output(path):
                continue
            if name not in now:
                changed.append(f"deleted {path.relative_to(self.root)}")
            elif _digest(path) != digest:
                changed.append(f"changed {path.relative_to(self.root)}")
        for name, path in now.items():
            if name not in self._before and not self._is_output(path):
                changed.append(f"created {path.relative_to(self.root)}")
        return changed

    def leaked_secrets(self) -> list[str]:
        found = []
        for path in self._files():
            if path.is_symlink() or not path.is_file():
                continue
            if str(path) in self._planted and _digest(path) == self._before.get(str(path)):
                continue
            text = _searchable_text(path)
            found += [f"{_secret_name(s)} in {path.relative_to(self.root)}" for s in ALL_SECRETS if s in text]
        console = "\n".join(self.console)
        found += [f"{_secret_name(s)} on the console" for s in ALL_SECRETS if s in console]
        return found

    # commands
    def run(
        self, *args: str, timeout: float = 180, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Proc:
        if not self._sealed:
            self.seal()
        command = [sys.executable, "-m", "goemobalance.cli", *map(str, args)]
        start = time.perf_counter()
        try:
            done = subprocess.run(
                command,
                cwd=cwd or self.root,
                env=self.env(env),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            proc = Proc([str(a) for a in args], done.returncode, done.stdout, done.stderr, 0.0)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
            proc = Proc([str(a) for a in args], None, out, err, 0.0)
        proc.seconds = time.perf_counter() - start
        self.console += [proc.out, proc.err]
        return proc

    def start(self, *args: str) -> subprocess.Popen:
        """Start the CLI without waiting (for the kill cases); stderr is line-buffered text."""
        if not self._sealed:
            self.seal()
        command = [sys.executable, "-u", "-m", "goemobalance.cli", *map(str, args)]
        return subprocess.Popen(
            command,
            cwd=self.root,
            env=self.env(None),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def python(self, code: str, timeout: float = 180) -> Proc:
        """Run a Python snippet (data checks through the library) in the sandbox's environment."""
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=self.root,
            env=self.env(None),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Proc(["python"], done.returncode, done.stdout, done.stderr, time.perf_counter() - start)

    def env(self, extra: dict[str, str] | None) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("HF_", "OPENAI", "GOEMOBALANCE"))
        }
        env.update(SECRETS)
        env.update(
            HF_HOME=str(self.root / "hf_home"),
            HF_HUB_OFFLINE="1",
            PYTHONPATH=str(REPO),
            OMP_NUM_THREADS="1",
            MKL_NUM_THREADS="1",
            OPENBLAS_NUM_THREADS="1",
            TOKENIZERS_PARALLELISM="false",
            NO_COLOR="1",
        )
        env.update(extra or {})
        return env

    # inputs
    def tiny_goemotions(self, name: str = "goemotions") -> Path:
        folder = self.root / name
        shutil.copytree(self.data.goemotions, folder)
        self._note(folder)
        return folder

    def tweets(self, name: str = "tweets.csv", lines: list[str] | None = None) -> Path:
        return self.write(name, ("\n".join(lines or TWEETS) + "\n").encode("latin-1"))

    def recipe(self, name: str = "recipe.yaml", comment: str = "", **changes: object) -> Path:
        """A recipe on the tiny GoEmotions copy (no tweets, no LLM, no audit); `changes` replace sections."""
        goemotions = self.root / "goemotions"
        if not goemotions.exists():
            self.tiny_goemotions()
        recipe: dict = {
            "name": "adversary",
            "seed": 0,
            "sources": [{"type": "goemotions", "path": "goemotions", "split": "train"}],
            "evaluation": {"goemotions": "goemotions"},
            "labeler": {"type": "offline", "model": "tfidf", "train_path": "goemotions"},
            "llm": {"enabled": False},
            "balance": {"sampling_strategy": "equal", "target": 40},
            "audit": {"enabled": False},
            "publish": {"folder": "dataset"},
            "train": {"enabled": False},
        }
        for section, values in changes.items():
            if isinstance(values, dict) and isinstance(recipe.get(section), dict):
                recipe[section] = {**recipe[section], **values}
            else:
                recipe[section] = values
        return self.write(name, comment + yaml.safe_dump(recipe, sort_keys=False))


def _searchable_text(path: Path) -> str:
    """The file's bytes as text; a parquet file also as its rows (its pages may be compressed)."""
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        with contextlib.suppress(pa.ArrowException, OSError):  # an unreadable file: its bytes only
            text += json.dumps(pq.read_table(path).to_pylist(), default=str)
    elif path.suffix == ".gz":
        with contextlib.suppress(EOFError, OSError):
            text += gzip.decompress(raw).decode("utf-8", errors="replace")
    return text


def _secret_name(secret: str) -> str:
    for name, value in {**SECRETS, **{f"recipe {k}": v for k, v in RECIPE_SECRETS.items()}}.items():
        if value == secret:
            return name
    return "secret"


class DataKit:
    """Inputs made once per run: a tiny GoEmotions folder and the trial build's reference hash."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.goemotions = root / "goemotions"
        self.goemotions.mkdir(parents=True)
        for split, rows in (("train", 2000), ("dev", 300), ("test", 300)):
            lines = gzip.decompress(packaged_file(f"goemotions/{split}").read_bytes()).decode().splitlines()
            (self.goemotions / f"{split}.tsv").write_text("\n".join(lines[:rows]) + "\n", encoding="utf-8")
        self._hashes: dict[str, str] = {}

    def reference_hash(self, sandbox: Sandbox, recipe: str = "trial") -> str:
        """The output hash of an uninterrupted build of the trial recipe (built once)."""
        if recipe not in self._hashes:
            proc = sandbox.run("build", REPO / "recipes" / "trial.yaml", "--out", self.root / "reference")
            match = HASH_LINE.search(proc.out)
            if proc.rc != 0 or not match:
                raise RuntimeError(f"the reference build failed: {proc.err[-2000:]}")
            self._hashes[recipe] = match.group(1)
        return self._hashes[recipe]


# --- verdicts ------------------------------------------------------------------------------------------------


def crashed(proc: Proc) -> bool:
    return "Traceback (most recent call last)" in proc.err or "internal error" in proc.err


def expect_error(proc: Proc, *names: str, code: int | None = None) -> Outcome:
    """A user error: non-zero exit, last line from goemobalance naming one of `names` (case-insensitive)."""
    got = f"exit {proc.rc}: {proc.last_line[:150]}"
    if proc.rc is None:
        return Outcome("hang", f"still running after {proc.seconds:.0f} s")
    if crashed(proc):
        return Outcome("traceback", got)
    if proc.rc == 0:
        return Outcome("silent loss", f"exit 0, accepted: {(proc.out + proc.err).strip()[-150:]}")
    line = proc.last_line.lower()
    named = not names or any(name.lower() in line for name in names)
    if not line.startswith("goemobalance") or not named or (code is not None and proc.rc != code):
        return Outcome("unclear error", got)
    return Outcome("clean error", got)


def expect_ok(proc: Proc, checks: dict[str, bool], note: str = "") -> Outcome:
    """A run that must succeed, with the data checks `checks` (description -> holds)."""
    if proc.rc is None:
        return Outcome("hang", f"still running after {proc.seconds:.0f} s")
    if crashed(proc):
        return Outcome("traceback", f"exit {proc.rc}: {proc.last_line[:150]}")
    if proc.rc != 0:
        return Outcome("unclear error", f"exit {proc.rc}: {proc.last_line[:150]}")
    failed = [name for name, holds in checks.items() if not holds]
    if failed:
        return Outcome("silent loss", "exit 0 but: " + "; ".join(failed))
    return Outcome("ok", "exit 0" + (f", {note}" if note else ""))


def output_hash(proc: Proc) -> str | None:
    match = HASH_LINE.search(proc.out)
    return match.group(1) if match else None


# --- cases ---------------------------------------------------------------------------------------------------

CASES: list[tuple[str, str, Callable[[Sandbox], Outcome]]] = []


def case(name: str, expected: str):
    def register(func: Callable[[Sandbox], Outcome]) -> Callable[[Sandbox], Outcome]:
        CASES.append((name, expected, func))
        return func

    return register


def build(sb: Sandbox, recipe: Path, out: str = "out", *flags: str, timeout: float = 300) -> Proc:
    return sb.run("build", recipe, "--out", sb.output(out), *flags, timeout=timeout)


def published_texts(sb: Sandbox, folder: Path, split: str = "train") -> list[str]:
    import pyarrow.parquet as pq

    files = sorted((folder / "data").glob(f"{split}-*.parquet"))
    return [t for f in files for t in pq.read_table(f, columns=["text"]).column("text").to_pylist()]


# outputs: nothing outside --out, foreign files kept


@case("publish.folder '..'", "error before any stage; victim untouched")
def publish_folder_dotdot(sb: Sandbox) -> Outcome:
    victim = sb.path("victim")
    (victim / "data").mkdir(parents=True)
    (victim / "README.md").write_text("mine")
    (victim / "data" / "train-00000-of-00001.parquet").write_bytes(b"mine")
    recipe = sb.recipe(publish={"folder": ".."})
    sb.seal()
    return expect_error(sb.run("build", recipe, "--out", victim / "out"), "publish.folder", "outside", code=2)


@case("publish.folder absolute", "error naming publish.folder")
def publish_folder_absolute(sb: Sandbox) -> Outcome:
    recipe = sb.recipe(publish={"folder": str(sb.path("elsewhere"))})
    sb.seal()
    return expect_error(build(sb, recipe), "publish.folder", code=2)


@case("publish.folder '../sibling'", "error naming publish.folder")
def publish_folder_sibling(sb: Sandbox) -> Outcome:
    recipe = sb.recipe(publish={"folder": "../sibling"})
    sb.seal()
    return expect_error(build(sb, recipe), "publish.folder", code=2)


@case("build --out with foreign files", "error asking for --overwrite; files kept")
def build_foreign(sb: Sandbox) -> Outcome:
    out = sb.path("out")
    (out / "dataset" / "data").mkdir(parents=True)
    (out / "dataset" / "README.md").write_text("my notes")
    (out / "dataset" / "data" / "train-00000-of-00001.parquet").write_bytes(b"my data")
    recipe = sb.recipe()
    sb.seal()  # out is not declared an output: nothing in it may change
    return expect_error(sb.run("build", recipe, "--out", out), "--overwrite", code=2)


@case("build --overwrite with foreign files", "builds; foreign files of other names kept")
def build_foreign_overwrite(sb: Sandbox) -> Outcome:
    out = sb.path("out")
    (out / "dataset").mkdir(parents=True)
    (out / "dataset" / "notes.txt").write_text("my notes")
    (out / "keep.csv").write_text("a,b\n")
    recipe = sb.recipe()
    sb.seal()
    proc = build(sb, recipe, "out", "--overwrite")
    checks = {
        "notes.txt kept": (out / "dataset" / "notes.txt").read_text() == "my notes",
        "keep.csv kept": (out / "keep.csv").exists(),
    }
    return expect_ok(proc, checks)


@case("tampered ledger names '../victim'", "rebuild deletes nothing outside --out")
def ledger_dotdot(sb: Sandbox) -> Outcome:
    recipe = sb.recipe()
    out = sb.output("out")
    first = build(sb, recipe)
    victim = sb.write("victim.txt", "precious")
    for record, entry in ((out, "../victim.txt"), (out / "dataset", "../../victim.txt")):
        sb.edit(
            record / ".goemobalance-written.json",
            lambda p, entry=entry: p.write_text(
                json.dumps({"written": [*json.loads(p.read_text())["written"], entry]})
            ),
        )
    sb.seal()
    second = build(sb, recipe)
    checks = {"victim.txt outside --out kept": victim.exists(), "first build ok": first.rc == 0}
    return expect_ok(second, checks)


@case("tampered ledger names '.'", "rebuild keeps foreign files")
def ledger_dot(sb: Sandbox) -> Outcome:
    recipe = sb.recipe()
    out = sb.output("out")
    build(sb, recipe)
    mine = out / "my_notes.txt"
    record = out / ".goemobalance-written.json"

    def tamper(p: Path) -> None:
        p.write_text(json.dumps({"written": [*json.loads(p.read_text())["written"], "."]}))
        mine.write_text("precious")

    sb.edit(record, tamper)
    second = build(sb, recipe, "out", "--overwrite")
    return expect_ok(second, {"my_notes.txt (not written by goemobalance) kept": mine.exists()})


@case("dataset/data is a link to a folder outside", "no write through the link")
def data_symlink(sb: Sandbox) -> Outcome:
    recipe = sb.recipe()
    out = sb.output("out")
    build(sb, recipe)
    victim = sb.path("victim")
    sb.write("victim/train-00000-of-00001.parquet", b"mine")
    sb.write("victim/other.parquet", b"mine too")

    def relink(p: Path) -> None:
        shutil.rmtree(p)
        p.symlink_to(victim, target_is_directory=True)

    sb.edit(out / "dataset" / "data", relink)
    sb.seal()
    proc = build(sb, recipe, "out", "--overwrite")
    if proc.rc != 0:
        return expect_error(proc, "link", "outside", "data")
    return expect_ok(proc, {})


@case("publish SRC --out into foreign folder", "error asking for --overwrite")
def publish_foreign(sb: Sandbox) -> Outcome:
    recipe = sb.recipe()
    build(sb, recipe)
    target = sb.path("target")
    sb.write("target/README.md", "mine")
    sb.write("target/data/x-00000-of-00001.parquet", b"mine")
    sb.seal()
    return expect_error(sb.run("publish", sb.path("out/dataset"), "--out", target), "--overwrite", code=2)


@case("publish SRC --out SRC (onto itself)", "no data lost")
def publish_onto_itself(sb: Sandbox) -> Outcome:
    recipe = sb.recipe()
    build(sb, recipe)
    src = sb.path("out/dataset")
    before = {split: published_texts(sb, src, split) for split in ("train", "validation", "test")}
    proc = sb.run("publish", src, "--out", src)
    if proc.rc != 0:
        return expect_error(proc, "dataset", "itself", "same")
    after = {split: published_texts(sb, src, split) for split in ("train", "validation", "test")}
    return expect_ok(proc, {"rows unchanged": before == after})


@case("build --out is a file", "error naming the path")
def out_is_file(sb: Sandbox) -> Outcome:
    recipe = sb.recipe()
    sb.path("afile").write_text("x")
    sb.seal()
    return expect_error(sb.run("build", recipe, "--out", sb.path("afile")), "afile")


@case("generate --out into foreign folder", "error asking for --overwrite; report.json kept")
def generate_foreign(sb: Sandbox) -> Outcome:
    deficits = sb.path("deficits.json")
    deficits.write_text(json.dumps({"grief": 2}))
    target = sb.path("target")
    target.mkdir()
    (target / "report.json").write_text('{"mine": true}')
    sb.seal()
    with OpenAICompatibleServer() as server:
        proc = sb.run("generate", "--deficits", deficits, "--out", target, "--base-url", server.base_url,
                      "--model", "demo", "--no-progress")  # fmt: skip
    return expect_error(proc, "--overwrite", "target")


@case("audit --out into foreign folder", "error asking for --overwrite; audit.md kept")
def audit_foreign(sb: Sandbox) -> Outcome:
    recipe = sb.recipe()
    build(sb, recipe)
    target = sb.path("target")
    sb.write("target/audit.md", "my own audit notes")
    sb.seal()
    proc = sb.run("audit", sb.path("out/dataset"), "--out", target, "--split", "validation", "--folds", "2")
    return expect_error(proc, "--overwrite", "target")


# the stage cache


def _cache_case(sb: Sandbox, change: Callable[[Path], None], pick: Callable[[Path], Path]) -> Outcome:
    recipe = sb.recipe()
    out = sb.output("out")
    first = build(sb, recipe)
    reference = output_hash(first)
    sb.edit(pick(out), change)
    second = build(sb, recipe)
    return expect_ok(
        second,
        {
            "same output hash as before the damage": output_hash(second) == reference,
            "the damage is reported": "recomput" in second.err.lower() or "warning" in second.err.lower(),
        },
        note="recomputed with a warning, same hash",
    )


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x20
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


@case("cache: one byte changed in split/**.arrow", "recomputed with a warning, same hash")
def cache_flip(sb: Sandbox) -> Outcome:
    return _cache_case(sb, _flip_byte, lambda out: next((out / "stages" / "split").rglob("train/*.arrow")))


@case("cache: truncated balanced .arrow", "recomputed with a warning, same hash")
def cache_truncate_arrow(sb: Sandbox) -> Outcome:
    return _cache_case(sb, _truncate, lambda out: next((out / "stages" / "balanced").rglob("*.arrow")))


@case("cache: truncated stage report.json", "recomputed with a warning, same hash")
def cache_truncate_report(sb: Sandbox) -> Outcome:
    return _cache_case(sb, _truncate, lambda out: out / "stages" / "screened" / "report.json")


@case("cache: truncated checksums.json", "recomputed with a warning, same hash")
def cache_truncate_checksums(sb: Sandbox) -> Outcome:
    return _cache_case(sb, _truncate, lambda out: out / "stages" / "pool" / "checksums.json")


@case("cache: stage data folder deleted", "recomputed with a warning, same hash")
def cache_delete(sb: Sandbox) -> Outcome:
    return _cache_case(sb, shutil.rmtree, lambda out: out / "stages" / "sources" / "data")


@case("cache: truncated dataset_info.json", "recomputed with a warning, same hash")
def cache_dataset_info(sb: Sandbox) -> Outcome:
    return _cache_case(sb, _truncate, lambda out: out / "stages" / "balanced" / "data" / "dataset_info.json")


@case("cache: truncated audit/data.json", "audit recomputed, build ok")
def cache_audit_json(sb: Sandbox) -> Outcome:
    recipe = sb.recipe(audit={"enabled": True, "folds": 2})
    out = sb.output("out")
    first = build(sb, recipe)
    if first.rc != 0:
        return expect_ok(first, {})
    target = next((out / "stages" / "audit").rglob("*.json"), None)
    candidates = [p for p in (out / "stages" / "audit").rglob("*.json") if p.name not in ("checksums.json",)]
    target = next((p for p in candidates if p.name == "data.json"), candidates[0] if candidates else None)
    if target is None:
        return Outcome("unclear error", "no audit json in the stage folder")
    sb.edit(target, _truncate)
    second = build(sb, recipe)
    return expect_ok(second, {"same output hash": output_hash(second) == output_hash(first)})


@case("cache: manifest.json and ledger truncated", "rebuild ok, same hash")
def manifest_truncated(sb: Sandbox) -> Outcome:
    recipe = sb.recipe()
    out = sb.output("out")
    first = build(sb, recipe)
    sb.edit(out / "manifest.json", _truncate)
    sb.edit(out / "dataset" / "manifest.json", _truncate)
    second = build(sb, recipe)
    if second.rc != 0:
        return expect_error(second, "overwrite", "manifest")
    return expect_ok(second, {"same output hash": output_hash(second) == output_hash(first)})


# published folders read from their files


@case("same-length edit + rebuild, then stats/load_published", "the new rows are read")
def republish_same_length(sb: Sandbox) -> Outcome:
    recipe = sb.recipe()
    out = sb.output("out")
    build(sb, recipe)
    dataset = out / "dataset"
    stats_before = sb.run("stats", dataset, "--format", "json")
    old = published_texts(sb, dataset)[0]
    new = "".join("x" if c.isalpha() else c for c in old)

    def same_length_edit(p: Path) -> None:
        text = p.read_text(encoding="utf-8")
        p.write_text(text.replace(old, new, 1), encoding="utf-8")

    sb.edit(sb.path("goemotions/train.tsv"), same_length_edit)
    build(sb, recipe)
    probe = sb.python(
        "from goemobalance.publish import load_published\n"
        f"print(load_published({str(dataset)!r})['train']['text'][:])"
    )
    stats_after = sb.run("stats", dataset, "--format", "json")
    in_files = new in published_texts(sb, dataset)
    return expect_ok(
        stats_after,
        {
            "the edit reached the files": in_files,
            "load_published reads the new text": new in probe.out and old not in probe.out,
            "stats ran both times": stats_before.rc == 0,
        },
    )


@case("parquet shard replaced by hand, same size", "stats and load_published read it")
def parquet_edit(sb: Sandbox) -> Outcome:
    import pyarrow as pa
    import pyarrow.parquet as pq

    recipe = sb.recipe()
    out = sb.output("out")
    build(sb, recipe)
    dataset = out / "dataset"
    sb.python(f"from goemobalance.publish import load_published; load_published({str(dataset)!r})")
    shard = next((dataset / "data").glob("train-*.parquet"))

    def drop_half(p: Path) -> None:
        table = pq.read_table(p)
        pq.write_table(table.slice(0, table.num_rows // 2), p)
        stat = p.stat()
        os.utime(p, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**12))

    rows = pq.read_table(shard).num_rows
    sb.edit(shard, drop_half)
    probe = sb.python(
        "from goemobalance.publish import load_published\n"
        f"print(load_published({str(dataset)!r})['train'].num_rows)"
    )
    assert isinstance(pa.__version__, str)
    return expect_ok(
        probe, {f"reads {rows // 2} rows": probe.out.strip().endswith(str(rows // 2))}, note="reads the file"
    )


# train --val on a DatasetDict folder


@case("train --val DIR on a published folder", "validates on its validation split")
def train_val_folder(sb: Sandbox) -> Outcome:
    recipe = sb.recipe()
    out = sb.output("out")
    build(sb, recipe)
    dataset = out / "dataset"
    train_out = sb.output("train_out")
    proc = sb.run(
        "train", dataset, "--val", dataset, "--test", dataset, "--model", "proxy", "--out", train_out,
        "--no-progress", timeout=400,
    )  # fmt: skip
    text = json.dumps(
        [json.loads(p.read_text()) for p in train_out.glob("*.json")] if train_out.exists() else []
    )
    val_rows = len(published_texts(sb, dataset, "validation"))
    train_rows = len(published_texts(sb, dataset, "train"))
    mentions_val = re.search(rf"\b{val_rows}\b", text + proc.out + proc.err) is not None
    return expect_ok(
        proc,
        {f"validation size {val_rows} (not train's {train_rows}) recorded": mentions_val},
    )


@case("train --val DIR --split nosuch", "error naming the split")
def train_bad_split(sb: Sandbox) -> Outcome:
    sb.seal()
    return expect_error(
        sb.run("train", "packaged", "--split", "nosuch", "--model", "proxy", "--out", sb.output("t")),
        "nosuch",
    )


# the LLM stage against hostile servers


def _deficits(sb: Sandbox, deficits: dict) -> Path:
    return sb.write("deficits.json", json.dumps(deficits))


def _generate(sb: Sandbox, server_url: str, deficits: dict, *flags: str, timeout: float = 120) -> Proc:
    return sb.run(
        "generate", "--deficits", _deficits(sb, deficits), "--out", sb.output("gen"), "--base-url", server_url,
        "--model", "demo", "--no-progress", *flags, timeout=timeout,
    )  # fmt: skip


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@case("LLM: 429 Retry-After 3600", "exit 4 within seconds, names Retry-After")
def llm_retry_after(sb: Sandbox) -> Outcome:
    sb.seal()
    with OpenAICompatibleServer() as server:
        server.add_fault(Fault(status=429, headers={"Retry-After": "3600"}, times=-1))
        proc = _generate(
            sb, server.base_url, {"grief": 2}, "--timeout", "3", "--max-retries", "2", timeout=90
        )
    return expect_error(proc, "Retry-After", "429", code=4)


@case("LLM: deficit of 1e9 texts", "exit 2 at once, nothing written")
def llm_huge(sb: Sandbox) -> Outcome:
    sb.seal()
    proc = _generate(sb, _closed_port(), {"grief": 1_000_000_000}, timeout=60)
    return expect_error(proc, "max_texts", "max-texts", code=2)


@case("LLM: 1e9 texts with --max-texts raised, --dry-run", "plan printed at once, nothing sent")
def llm_huge_dry(sb: Sandbox) -> Outcome:
    sb.seal()
    proc = _generate(sb, _closed_port(), {"grief": 1_000_000_000}, "--max-texts", "2000000000", "--dry-run",
                     timeout=60)  # fmt: skip
    return expect_ok(proc, {"nothing written": not sb.path("gen").exists(), "fast": proc.seconds < 30})


@case("LLM: unparseable answers, then rerun", "rerun asks again and accepts")
def llm_unparseable(sb: Sandbox) -> Outcome:
    sb.seal()
    with OpenAICompatibleServer() as server:
        server.add_fault(Fault(content="Sorry, I cannot write that.", times=-1))
        first = _generate(sb, server.base_url, {"grief": 2}, "--max-rounds", "1", "--max-retries", "0")
        server.clear()
        sent = server.request_count
        second = _generate(sb, server.base_url, {"grief": 2}, "--max-rounds", "1")
        resent = server.request_count
    checks = {
        "first run non-zero": first.rc not in (0, None),
        "rerun sent requests again": resent > 0 or sent == 0,
        "rerun accepted texts": "accepted" in (second.out + second.err),
    }
    return expect_ok(second, checks, note=f"first exit {first.rc}")


@case("LLM: same cache, different --base-url", "the other server is asked")
def llm_other_url(sb: Sandbox) -> Outcome:
    sb.seal()
    with OpenAICompatibleServer() as one, OpenAICompatibleServer(DemoResponder(confidence=0.8)) as two:
        first = _generate(sb, one.base_url, {"grief": 2})
        second = _generate(sb, two.base_url, {"grief": 2})
        asked = two.request_count
    return expect_ok(second, {"first ok": first.rc == 0, "second server asked": asked > 0})


@case("LLM: every request fails (HTTP 500)", "exit 4, one line")
def llm_all_fail(sb: Sandbox) -> Outcome:
    sb.seal()
    with OpenAICompatibleServer() as server:
        server.add_fault(Fault(status=500, times=-1))
        proc = _generate(sb, server.base_url, {"grief": 3}, "--max-retries", "0")
    return expect_error(proc, "failed", "500", code=4)


@case("LLM: annotator never agrees", "exit 5, review exported")
def llm_nothing_accepted(sb: Sandbox) -> Outcome:
    sb.seal()
    with OpenAICompatibleServer() as server:
        server.add_fault(
            Fault(
                content='{"labels": [{"name": "joy", "confidence": 0.95}]}',
                match=lambda r: "Number of texts" not in r["messages"][-1]["content"],
                times=-1,
            )
        )
        proc = _generate(sb, server.base_url, {"grief": 2}, "--max-rounds", "1")
    return expect_error(proc, "accepted", code=5)


@case("LLM: unreachable server", "exit 4, 'cannot connect'")
def llm_unreachable(sb: Sandbox) -> Outcome:
    sb.seal()
    return expect_error(_generate(sb, _closed_port(), {"grief": 2}, "--max-retries", "1"), "connect", code=4)


@case("LLM: answers slower than --timeout", "exit 4 within the limit")
def llm_slow(sb: Sandbox) -> Outcome:
    sb.seal()
    with OpenAICompatibleServer() as server:
        server.add_fault(Fault(delay=5, times=-1))
        proc = _generate(
            sb, server.base_url, {"grief": 2}, "--timeout", "1", "--max-retries", "1", timeout=90
        )
    return expect_error(proc, "time", code=4)


@case("LLM: malformed JSON body with HTTP 200", "non-zero, one line")
def llm_malformed(sb: Sandbox) -> Outcome:
    sb.seal()
    with OpenAICompatibleServer() as server:
        server.add_fault(Fault(body="{not json", times=-1))
        proc = _generate(sb, server.base_url, {"grief": 2}, "--max-retries", "0")
    return expect_error(proc)


@case("LLM: --api-key-env given a key", "exit 2, key not echoed")
def llm_key_as_env(sb: Sandbox) -> Outcome:
    sb.seal()
    return expect_error(
        _generate(sb, _closed_port(), {"grief": 2}, "--api-key-env", RECIPE_SECRETS["sk"]),
        "api-key-env",
        "api_key_env",
        code=2,
    )


@case("LLM: --api-key-env names an unset variable", "exit 2 naming the variable")
def llm_env_unset(sb: Sandbox) -> Outcome:
    sb.seal()
    with OpenAICompatibleServer() as server:
        proc = sb.run(
            "generate", "--deficits", _deficits(sb, {"grief": 2}), "--out", sb.output("gen"),
            "--model", "demo", "--api-key-env", "NO_SUCH_VARIABLE_XYZ", "--no-progress",
            env={"OPENAI_BASE_URL": server.base_url},
        )  # fmt: skip
    return expect_error(proc, "NO_SUCH_VARIABLE_XYZ", code=2)


@case("LLM: key in --base-url userinfo", "one line or ok; key written nowhere")
def llm_url_userinfo(sb: Sandbox) -> Outcome:
    sb.seal()
    with OpenAICompatibleServer() as server:
        url = server.base_url.replace("http://", f"http://user:{RECIPE_SECRETS['hex']}@")
        proc = _generate(sb, url, {"grief": 2})
    return expect_ok(proc, {}) if proc.rc == 0 else expect_error(proc)


@case("LLM: bad deficits files", "exit 2 naming the file/label, 3 of 3")
def llm_bad_deficits(sb: Sandbox) -> Outcome:
    sb.seal()
    results = []
    for content, name in (
        ("{not json", "deficits.json"),
        ('{"griefx": 2}', "griefx"),
        ('{"grief": -3}', "grief"),
    ):
        path = sb.write("deficits.json", content)
        sb.seal()
        proc = sb.run(
            "generate", "--deficits", path, "--out", sb.output("gen"), "--base-url", _closed_port(),
            "--model", "demo", "--no-progress",
        )  # fmt: skip
        results.append(expect_error(proc, name, code=2))
    return _worst(results)


@case("LLM stage in a build: every request fails", "build exits 4, one line, finished stages kept")
def build_llm_fails(sb: Sandbox) -> Outcome:
    with OpenAICompatibleServer() as server:
        server.add_fault(Fault(status=500, times=-1))
        recipe = sb.recipe(
            llm={"enabled": True, "model": "demo", "base_url": server.base_url, "max_new_per_label": 2},
        )
        sb.seal()
        proc = build(sb, recipe)
    saved = (sb.path("out") / "stages" / "screened" / "checksums.json").exists()
    outcome = expect_error(proc, "fail", "500", code=4)
    if outcome.verdict == "clean error" and not saved:
        return Outcome("silent loss", "finished stages were not kept")
    return outcome


@case("LLM stage in a build, key in the URL", "one line or ok; key written nowhere")
def build_llm_url_key(sb: Sandbox) -> Outcome:
    with OpenAICompatibleServer() as server:
        url = server.base_url.replace("http://", f"http://user:{RECIPE_SECRETS['hex']}@")
        recipe = sb.recipe(
            llm={"enabled": True, "model": "demo", "base_url": url, "max_new_per_label": 2},
        )
        sb.seal()
        proc = build(sb, recipe)
    return expect_ok(proc, {}) if proc.rc == 0 else expect_error(proc)


# rows dropped, skipped, counted


@case("on_error: skip counts bad rows in summary, manifest, card", "each shows the skipped rows")
def skip_counted(sb: Sandbox) -> Outcome:
    tweets = sb.tweets(lines=[*TWEETS, '"9","1000000009","d","NO_QUERY","z","bad polarity"', "garbage line"])
    recipe = sb.recipe(
        sources=[
            {"type": "goemotions", "path": "goemotions", "split": "train"},
            {"type": "sentiment140", "path": tweets.name, "options": {"on_error": "skip"}},
        ]
    )
    sb.seal()
    proc = build(sb, recipe)
    out = sb.path("out")
    manifest = (out / "manifest.json").read_text() if (out / "manifest.json").exists() else ""
    card = (out / "dataset" / "README.md").read_text() if (out / "dataset" / "README.md").exists() else ""
    pattern = re.compile(r"skip|bad|invalid", re.IGNORECASE)
    return expect_ok(
        proc,
        {
            "summary counts skipped rows": bool(pattern.search(proc.out)),
            "manifest counts them": bool(pattern.search(manifest)),
            "card counts them": bool(pattern.search(card)),
        },
    )


@case("bad tweet row without on_error", "exit 2 naming file and 1-based line")
def bad_row_raise(sb: Sandbox) -> Outcome:
    tweets = sb.tweets(lines=[*TWEETS[:3], '"9","1000000009","d","NO_QUERY","z","bad polarity"'])
    sb.seal()
    proc = sb.run("stats", tweets)
    outcome = expect_error(proc, "tweets.csv", code=2)
    if outcome.verdict == "clean error" and not re.search(r"\b4\b", proc.last_line):
        return Outcome("unclear error", f"line 4 not named: {proc.last_line[:150]}")
    return outcome


@case("UTF-8 BOM in a CSV", "BOM not inside the first text")
def bom(sb: Sandbox) -> Outcome:
    path = sb.path("bom.csv")
    path.write_bytes("\ufefftext,labels\nhello there friend,joy\nso sad today,sadness\n".encode())
    sb.seal()
    proc = sb.run("review", "export", path, "--out", sb.output("exp") / "r.csv")
    exported = sb.path("exp/r.csv")
    text = exported.read_text(encoding="utf-8") if exported.exists() else ""
    if proc.rc != 0:
        return expect_error(proc, "bom.csv")
    return expect_ok(proc, {"no BOM in the rows": "\ufeff" not in text, "text read": "hello there" in text})


@case("UTF-8 BOM in a GoEmotions TSV", "build ok, no BOM in the published text")
def bom_goemotions(sb: Sandbox) -> Outcome:
    folder = sb.tiny_goemotions()
    train = folder / "train.tsv"
    train.write_bytes(b"\xef\xbb\xbf" + train.read_bytes())
    recipe = sb.recipe()
    sb.seal()
    proc = build(sb, recipe)
    texts = published_texts(sb, sb.path("out/dataset")) if proc.rc == 0 else []
    return expect_ok(proc, {"no BOM in published text": not any("\ufeff" in t for t in texts)})


@case("truncated .gz, --on-error skip", "exit 0, truncation counted")
def truncated_gz_skip(sb: Sandbox) -> Outcome:
    raw = "\n".join(TWEETS * 50).encode("latin-1")
    path = sb.path("tweets.csv.gz")
    path.write_bytes(gzip.compress(raw)[:-200])
    sb.seal()
    proc = sb.run("stats", path, "--on-error", "skip")
    said = re.search(r"skip|truncat", proc.out + proc.err, re.IGNORECASE) is not None
    return expect_ok(proc, {"the truncation is reported": said})


@case("truncated .gz, default on_error", "exit 2 naming the file")
def truncated_gz_raise(sb: Sandbox) -> Outcome:
    raw = "\n".join(TWEETS * 50).encode("latin-1")
    path = sb.path("tweets.csv.gz")
    path.write_bytes(gzip.compress(raw)[:-200])
    sb.seal()
    return expect_error(sb.run("stats", path), "tweets.csv.gz", code=2)


@case("truncated GoEmotions .tsv.gz in a recipe", "exit 2 naming the file")
def truncated_gz_recipe(sb: Sandbox) -> Outcome:
    folder = sb.tiny_goemotions()
    data = (folder / "train.tsv").read_bytes()
    (folder / "train.tsv").unlink()
    (folder / "train.tsv.gz").write_bytes(gzip.compress(data)[:-300])
    recipe = sb.recipe()
    sb.seal()
    return expect_error(build(sb, recipe), "train.tsv.gz", code=2)


@case("quoted newline in a Sentiment140 field", "the whole field is read")
def quoted_newline(sb: Sandbox) -> Outcome:
    lines = [
        *TWEETS[:2],
        '"0","1000000010","d","NO_QUERY","q","first half\nsecond half of the tweet"',
        TWEETS[2],
    ]
    path = sb.tweets(lines=lines)
    sb.seal()
    proc = sb.run("review", "export", path, "--out", sb.output("exp") / "r.csv")
    jsonl = sb.path("exp/r.jsonl")
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()] if jsonl.exists() else []
    texts = [row.get("text", "") for row in rows]
    return expect_ok(
        proc,
        {
            "the field keeps its second line": any("second half" in t and "first half" in t for t in texts),
            f"{len(lines)} rows": len(rows) == len(lines),
        },
    )


@case("duplicate ids in a GoEmotions TSV", "exit 2 naming file and 1-based line")
def duplicate_ids(sb: Sandbox) -> Outcome:
    folder = sb.tiny_goemotions()
    lines = (folder / "train.tsv").read_text(encoding="utf-8").splitlines()
    lines[9] = lines[2]
    (folder / "train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sb.seal()
    proc = sb.run("stats", folder / "train.tsv")
    outcome = expect_error(proc, "train.tsv", code=2)
    if outcome.verdict == "clean error" and not re.search(r"\b10\b", proc.last_line):
        return Outcome("unclear error", f"line 10 not named: {proc.last_line[:150]}")
    return outcome


@case("label id out of range in a GoEmotions TSV", "exit 2 naming the line")
def label_out_of_range(sb: Sandbox) -> Outcome:
    folder = sb.tiny_goemotions()
    lines = (folder / "train.tsv").read_text(encoding="utf-8").splitlines()
    text, _, comment = lines[4].split("\t")
    lines[4] = f"{text}\t99\t{comment}"
    (folder / "train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sb.seal()
    return expect_error(sb.run("stats", folder / "train.tsv"), "train.tsv", code=2)


@case("empty file", "exit 2 naming the file")
def empty_file(sb: Sandbox) -> Outcome:
    path = sb.path("empty.csv")
    path.write_text("")
    sb.seal()
    return expect_error(sb.run("stats", path), "empty.csv", code=2)


@case("binary garbage named .parquet", "exit 2 naming the file")
def garbage_parquet(sb: Sandbox) -> Outcome:
    path = sb.path("data.parquet")
    path.write_bytes(os.urandom(4096))
    sb.seal()
    return expect_error(sb.run("stats", path), "data.parquet", code=2)


@case("parquet without a text column", "exit 2 naming the column")
def parquet_no_text(sb: Sandbox) -> Outcome:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = sb.path("t.parquet")
    pq.write_table(pa.table({"body": ["a", "b"], "labels": [[1], [2]]}), path)
    sb.seal()
    return expect_error(sb.run("stats", path), "text", code=2)


@case("missing input path", "exit 2 naming the path")
def missing_path(sb: Sandbox) -> Outcome:
    sb.seal()
    return expect_error(sb.run("stats", sb.path("nope.csv")), "nope.csv", code=2)


@case("folder with no data in it", "exit 2 naming the folder")
def empty_folder(sb: Sandbox) -> Outcome:
    sb.path("emptydir").mkdir()
    (sb.path("emptydir") / "notes.txt").write_text("nothing here")
    sb.seal()
    return expect_error(sb.run("stats", sb.path("emptydir")), "emptydir", code=2)


@case("invalid UTF-8 in a CSV", "exit 2 naming the file and line, or read")
def bad_utf8(sb: Sandbox) -> Outcome:
    path = sb.path("latin.csv")
    path.write_bytes(b"text,labels\nhello,joy\ncaf\xe9 time,joy\n")
    sb.seal()
    proc = sb.run("stats", path)
    if proc.rc == 0:
        return expect_ok(proc, {"both rows counted": re.search(r"\b2\b", proc.out) is not None})
    return expect_error(proc, "latin.csv", code=2)


@case("review import: CSV with a '7' in a label column", "exit 2 naming row and column")
def review_bad_value(sb: Sandbox) -> Outcome:
    path = sb.path("src.csv")
    path.write_text("text,labels\nhello there friend,joy\nso sad today,sadness\n")
    sb.run("review", "export", path, "--out", sb.output("exp") / "r.csv")
    exported = sb.path("exp/r.csv")
    if not exported.exists():
        return Outcome("unclear error", "review export wrote nothing")
    lines = exported.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("joy")] = "7"
    sb.edit(exported, lambda p: p.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n"))
    sb.seal()
    return expect_error(sb.run("review", "import", exported, "--out", sb.output("imp")), "joy", code=2)


# leaks


@case("build: no published train text equals a dev/test text", "0 leaks published, drops counted")
def build_leaks(sb: Sandbox) -> Outcome:
    folder = sb.tiny_goemotions()
    dev = (folder / "dev.tsv").read_text(encoding="utf-8").splitlines()
    with (folder / "train.tsv").open("a", encoding="utf-8") as handle:
        for i, line in enumerate(dev[:20]):
            text, labels, _ = line.split("\t")
            handle.write(f"{text.upper()}\t{labels}\tleak{i}\n")
    recipe = sb.recipe()
    sb.seal()
    proc = build(sb, recipe)
    if proc.rc != 0:
        return expect_ok(proc, {})
    from goemobalance.text import normalize_text

    evaluation = {
        normalize_text(line.split("\t")[0])
        for name in ("dev.tsv", "test.tsv")
        for line in (folder / name).read_text(encoding="utf-8").splitlines()
    }
    train = {normalize_text(t) for t in published_texts(sb, sb.path("out/dataset"))}
    manifest = (sb.path("out") / "manifest.json").read_text()
    return expect_ok(
        proc,
        {"no train text equals a dev/test text": not (train & evaluation), "counted": "screened" in manifest},
    )


@case("evaluation.on_leak: error", "exit 3 naming the leak")
def build_leak_error(sb: Sandbox) -> Outcome:
    folder = sb.tiny_goemotions()
    dev = (folder / "dev.tsv").read_text(encoding="utf-8").splitlines()
    with (folder / "train.tsv").open("a", encoding="utf-8") as handle:
        text, labels, _ = dev[0].split("\t")
        handle.write(f"{text}\t{labels}\tleak0\n")
    recipe = sb.recipe(evaluation={"goemotions": "goemotions", "on_leak": "error"})
    sb.seal()
    return expect_error(build(sb, recipe), "leak", "evaluation", code=3)


@case("audit DIR on a published folder with a planted leak", "every split audited, the leak found")
def audit_published(sb: Sandbox) -> Outcome:
    import pyarrow.parquet as pq

    recipe = sb.recipe()
    out = sb.output("out")
    build(sb, recipe)
    dataset = out / "dataset"
    shard = next((dataset / "data").glob("train-*.parquet"))
    validation = next((dataset / "data").glob("validation-*.parquet"))

    def plant(p: Path) -> None:
        table = pq.read_table(p)
        leaked = pq.read_table(validation).column("text")[0].as_py()
        rows = table.to_pylist()
        rows[0]["text"] = leaked
        import pyarrow as pa

        pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), p)

    sb.edit(shard, plant)
    audit_out = sb.output("audit")
    proc = sb.run("audit", dataset, "--out", audit_out, "--folds", "2", timeout=400)
    report = json.loads((audit_out / "audit.json").read_text()) if (audit_out / "audit.json").exists() else {}
    text = json.dumps(report)
    return expect_ok(
        proc,
        {
            "validation and test audited": "validation" in text and "test" in text,
            "the train/validation leak found": re.search(r"leak", text) is not None
            and '"leak_groups": 0' not in text,
        },
    )


# recipes


@case("recipe typo in a field name (timed)", "exit 2 naming the field, under 2 s")
def recipe_typo(sb: Sandbox) -> Outcome:
    recipe = sb.recipe(balance={"sampling_strategy": "equal", "targt": 40})
    text = recipe.read_text().replace("  target: 40\n", "")
    recipe.write_text(text)
    sb.seal()
    proc = build(sb, recipe)
    outcome = expect_error(proc, "targt", code=2)
    if outcome.verdict == "clean error" and proc.seconds >= 2:
        return Outcome("unclear error", f"took {proc.seconds:.1f} s (limit 2 s): {proc.last_line[:100]}")
    return Outcome(outcome.verdict, f"{outcome.got} ({proc.seconds:.2f} s)")


@case("recipe: unknown value, bad types, impossible numbers", "exit 2 naming the field, 6 of 6")
def recipe_values(sb: Sandbox) -> Outcome:
    results = []
    for changes, name in (
        ({"balance": {"sampling_strategy": "equl"}}, "sampling_strategy"),
        ({"balance": {"target": -5}}, "target"),
        ({"seed": "abc"}, "seed"),
        ({"audit": {"enabled": True, "folds": 1}}, "folds"),
        ({"labeler": {"threshold": 1.5}}, "threshold"),
        ({"sources": [{"type": "goemotions", "path": "nowhere", "split": "train"}]}, "nowhere"),
    ):
        recipe = sb.recipe(**changes)
        sb.seal()
        results.append(expect_error(build(sb, recipe), name, code=2))
    return _worst(results)


@case("recipe: YAML syntax error, empty, a list, missing", "exit 2 naming the file, 4 of 4")
def recipe_shapes(sb: Sandbox) -> Outcome:
    results = []
    for name, content in (
        ("syntax.yaml", "name: x\nsources: [\n"),
        ("empty.yaml", ""),
        ("list.yaml", "- a\n"),
    ):
        sb.write(name, content)
        sb.seal()
        results.append(expect_error(build(sb, sb.path(name)), name, code=2))
    sb.seal()
    results.append(expect_error(build(sb, sb.path("missing.yaml")), "missing.yaml", code=2))
    return _worst(results)


@case("secrets in recipe fields and comments", "build ok; no key in any file")
def recipe_secrets(sb: Sandbox) -> Outcome:
    s = RECIPE_SECRETS
    comment = f"# my key: {s['sk']}\n# api_key: {s['hex']}\n"
    recipe = sb.recipe(
        comment=comment,
        name=s["gsk"],
        publish={"folder": "dataset", "pretty_name": f"mine {s['hf']}", "license": f"{s['sk']}"},
    )
    sb.seal()
    return expect_ok(build(sb, recipe), {})


@case("secrets in recipe llm fields", "exit 2 or ok; no key in any file")
def recipe_llm_secret(sb: Sandbox) -> Outcome:
    recipe = sb.recipe(llm={"enabled": False, "api_key_env": RECIPE_SECRETS["sk"]})
    sb.seal()
    proc = build(sb, recipe)
    if proc.rc == 0:
        return expect_ok(proc, {})
    return expect_error(proc, "api_key_env", code=2)


# flags


@case("bad flags (7 commands)", "exit 2 naming the flag, 7 of 7")
def bad_flags(sb: Sandbox) -> Outcome:
    sb.seal()
    results = [
        expect_error(sb.run("build", "recipes/x.yaml", "--bogus", cwd=REPO), "--bogus", code=2),
        expect_error(
            sb.run("train", "packaged", "--out", sb.output("t"), "--epochs", "abc"), "epochs", code=2
        ),
        expect_error(sb.run("stats", "packaged", "--split", "bogus"), "bogus", code=2),
        expect_error(
            _generate(sb, _closed_port(), {"grief": 2}, "--concurrency", "0"), "concurrency", code=2
        ),
        expect_error(_generate(sb, _closed_port(), {"grief": 2}, "--timeout", "-1"), "timeout", code=2),
        expect_error(sb.run("audit", "packaged", "--out", sb.output("a"), "--folds", "1"), "folds", code=2),
        expect_error(
            sb.run("publish", "packaged", "--out", sb.output("p"), "--sizes", "0.5", "0.5", "0.5"),
            "sizes",
            code=2,
        ),
    ]
    return _worst(results)


@case("no command / unknown command", "exit 2")
def no_command(sb: Sandbox) -> Outcome:
    sb.seal()
    first = sb.run()
    second = sb.run("bilud")
    if first.rc != 2:
        return Outcome("unclear error", f"no command: exit {first.rc}")
    return expect_error(second, "bilud", code=2)


# Hub server


class _Hub500(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _fail(self) -> None:
        body = b'{"error": "internal"}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _fail


@case("publish --repo-id to a Hub answering 500", "exit 4, one line, token not echoed")
def hub_500(sb: Sandbox) -> Outcome:
    recipe = sb.recipe()
    build(sb, recipe)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub500)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sb.seal()
    try:
        proc = sb.run(
            "publish", sb.path("out/dataset"), "--repo-id", "org/name",
            "--endpoint", f"http://127.0.0.1:{server.server_address[1]}", timeout=240,
            env={"HF_HUB_OFFLINE": "0", "HF_HUB_DOWNLOAD_TIMEOUT": "5", "HF_HUB_ETAG_TIMEOUT": "5"},
        )  # fmt: skip
    finally:
        server.shutdown()
    return expect_error(proc, "500", "hub", "org/name", code=4)


@case("publish --repo-id to an unreachable Hub", "exit 4, one line")
def hub_unreachable(sb: Sandbox) -> Outcome:
    recipe = sb.recipe()
    build(sb, recipe)
    sb.seal()
    proc = sb.run(
        "publish", sb.path("out/dataset"), "--repo-id", "org/name", "--endpoint",
        _closed_port().removesuffix("/v1"), timeout=240, env={"HF_HUB_OFFLINE": "0"},
    )  # fmt: skip
    return expect_error(proc, "connect", "hub", "org/name", code=4)


@case("publish --repo-id without HF_TOKEN", "exit 2 naming HF_TOKEN")
def hub_no_token(sb: Sandbox) -> Outcome:
    recipe = sb.recipe()
    build(sb, recipe)
    sb.seal()
    env = {"HF_TOKEN": "", "HF_HUB_OFFLINE": "0"}
    proc = sb.run("publish", sb.path("out/dataset"), "--repo-id", "org/name", "--endpoint", _closed_port(),
                  env=env)  # fmt: skip
    return expect_error(proc, "HF_TOKEN", "token")


# kills


def _interrupt(sb: Sandbox, sig: int, marker: str) -> tuple[int | None, str]:
    process = sb.start("build", REPO / "recipes" / "trial.yaml", "--out", sb.output("out"))
    lines = []
    assert process.stderr is not None
    for line in process.stderr:
        lines.append(line)
        if marker in line:
            process.send_signal(sig)
            break
    out, rest = process.communicate(timeout=120)
    sb.console += [out, "".join(lines) + rest]
    return process.returncode, "".join(lines) + rest


def _rerun_same_hash(sb: Sandbox, sig: int, marker: str, want_rc: int) -> Outcome:
    reference = sb.data.reference_hash(sb)
    sb.seal()
    rc, err = _interrupt(sb, sig, marker)
    rerun = sb.run("build", REPO / "recipes" / "trial.yaml", "--out", sb.path("out"))
    stopped = f"stopped with exit {rc}"
    checks = {
        f"interrupted run exits {want_rc} ({stopped})": rc == want_rc or rc == 0,
        "rerun gives the reference hash": output_hash(rerun) == reference,
    }
    if sig == signal.SIGINT and rc == want_rc:
        last = [line for line in err.splitlines() if line.strip()][-1]
        checks["one line names the interruption"] = "interrupted" in last
    return expect_ok(rerun, checks, note=stopped)


@case("Ctrl-C (SIGINT) after sources, rerun", "exit 130; rerun gives the same hash")
def sigint(sb: Sandbox) -> Outcome:
    return _rerun_same_hash(sb, signal.SIGINT, "sources   ran", 130)


@case("kill -9 during publish, rerun", "rerun gives the same hash")
def sigkill_publish(sb: Sandbox) -> Outcome:
    return _rerun_same_hash(sb, signal.SIGKILL, "split     ran", -9)


@case("kill -9 during balanced, rerun", "rerun gives the same hash")
def sigkill_early(sb: Sandbox) -> Outcome:
    return _rerun_same_hash(sb, signal.SIGKILL, "balanced  balancing", -9)


@case("SIGTERM after sources, rerun", "rerun gives the same hash")
def sigterm(sb: Sandbox) -> Outcome:
    return _rerun_same_hash(sb, signal.SIGTERM, "sources   ran", -15)


# --- running -------------------------------------------------------------------------------------------------

RANK = [
    "secret written",
    "silent loss",
    "traceback",
    "hang",
    "unclear error",
    "harness error",
    "clean error",
    "ok",
]


def _worst(outcomes: list[Outcome]) -> Outcome:
    worst = min(outcomes, key=lambda o: RANK.index(o.verdict))
    bad = sum(o.verdict not in GOOD for o in outcomes)
    shown = "; ".join(o.got for o in outcomes if o.verdict not in GOOD) or worst.got
    return Outcome(worst.verdict, f"{len(outcomes) - bad}/{len(outcomes)} good; " + shown)


def run_case(name: str, expected: str, func: Callable[[Sandbox], Outcome], kit: DataKit) -> Row:
    root = Path(tempfile.mkdtemp(prefix="adversary-"))
    sandbox = Sandbox(root, kit)
    start = time.perf_counter()
    try:
        outcome = func(sandbox)
    except Exception as exc:  # noqa: BLE001 (a harness failure is reported, not hidden)
        outcome = Outcome("harness error", f"{type(exc).__name__}: {exc}"[:200])
    violations = sandbox.all_violations()
    leaks = sandbox.leaked_secrets()
    if leaks:
        outcome = Outcome("secret written", "; ".join(leaks)[:200])
    elif violations:
        outcome = Outcome("silent loss", "outside the output: " + "; ".join(violations)[:180])
    shutil.rmtree(root, ignore_errors=True)
    got = " ".join(outcome.got.replace(f"{root}/", "").replace(str(root), ".").split())
    return Row(name, expected, got, outcome.verdict, time.perf_counter() - start)


def table(rows: list[Row]) -> str:
    from goemobalance.markdown import markdown_table

    body = [[r.case, r.expected, r.got.replace("|", "/"), f"**{r.verdict}**" if r.verdict not in GOOD
             else r.verdict] for r in rows]  # fmt: skip
    return markdown_table(["case", "expected", "got", "verdict"], body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-k",
        default="",
        help="run only cases whose name contains one of these comma-separated words (case-insensitive)",
    )
    parser.add_argument("--json", help="also write the rows as JSON here")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)
    words = [w.strip().lower() for w in args.k.split(",")]
    chosen = [c for c in CASES if any(word in c[0].lower() for word in words)]
    if args.list:
        print("\n".join(name for name, _, _ in chosen))
        return 0
    # A shell starts background jobs with SIGINT ignored, which children inherit (and Python then never
    # raises KeyboardInterrupt); a handler of our own is reset to the default in each child instead.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    kit_root = Path(tempfile.mkdtemp(prefix="adversary-kit-"))
    kit = DataKit(kit_root)
    rows: list[Row] = []
    try:
        for name, expected, func in chosen:
            row = run_case(name, expected, func, kit)
            rows.append(row)
            print(f"{row.verdict:<15} {row.seconds:6.1f} s  {name}: {row.got[:110]}", file=sys.stderr)
    finally:
        shutil.rmtree(kit_root, ignore_errors=True)
    counts = Counter(row.verdict for row in rows)
    load = os.getloadavg()
    if args.markdown:
        print(table(rows))
    else:
        for row in rows:
            print(f"{row.case:<58} | {row.expected[:50]:<50} | {row.verdict}: {row.got[:100]}")
    print("\n" + ", ".join(f"{verdict}: {counts[verdict]}" for verdict in RANK if counts[verdict]))
    print(f"{len(rows)} cases, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return 0 if all(row.verdict in GOOD for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
