"""Recipes and the build: validation before any stage, outputs kept inside --out, checksummed stage cache,
drop counts, secrets, dry run, split modes, resuming and the console.

Builds here run on a tiny GoEmotions copy (2,000 train, 300 dev, 300 test rows) and a hand-made
Sentiment140 file, so each takes seconds; only `test_quickstart_recipe_end_to_end` runs the shipped
quickstart.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import datasets
import numpy as np
import pytest
import yaml

from goemobalance.balance.stats import distribution_stats
from goemobalance.build.cache import StageCache, StageOutput
from goemobalance.cli import main
from goemobalance.data import packaged_file
from goemobalance.errors import InputError
from goemobalance.outputs import RECORD_NAME
from goemobalance.pipeline import run_recipe
from goemobalance.recipe import RecipeError, load_recipe
from goemobalance.schema import column, multi_hot
from goemobalance.sources import load_goemotions
from goemobalance.text import normalize_text

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "recipes" / "quickstart.yaml"
SECRETS = (
    "sk-proj-Abcdefghijklmnopqrstuvwxyz0123456789",
    "gsk_Abcdefghijklmnopqrstuvwxyz0123456789",
    "hf_Abcdefghijklmnopqrstuvwxyz0123456789",
)
TWEETS = [
    '"0","1000000001","Mon Apr 06 22:19:45 PDT 2009","NO_QUERY","a","I am so scared of tomorrow, I cannot sleep"',
    '"4","1000000002","Mon Apr 06 22:19:49 PDT 2009","NO_QUERY","b","thank you so much, this made my day!"',
    '"0","1000000003","Mon Apr 06 22:19:53 PDT 2009","NO_QUERY","c","@someone"',
    '"4","1000000004","Mon Apr 06 22:19:57 PDT 2009","NO_QUERY","d","what a wonderful surprise, I love it"',
    '"0","1000000005","Mon Apr 06 22:20:00 PDT 2009","NO_QUERY","e","ugh this is disgusting and I am angry"',
    '"9","1000000006","Mon Apr 06 22:20:03 PDT 2009","NO_QUERY","f","a line with a bad polarity"',
    '"4","1000000007","Mon Apr 06 22:20:05 PDT 2009","NO_QUERY","g","so proud of my sister today"',
    '"0","1000000008","Mon Apr 06 22:20:09 PDT 2009","NO_QUERY","h","I miss her so much, so sad"',
]


# --- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_goemotions(tmp_path_factory) -> Path:
    """The first rows of the shipped GoEmotions splits, as a GoEmotions folder."""
    folder = tmp_path_factory.mktemp("goemotions")
    for split, rows in (("train", 2000), ("dev", 300), ("test", 300)):
        lines = gzip.decompress(packaged_file(f"goemotions/{split}").read_bytes()).decode().splitlines()
        (folder / f"{split}.tsv").write_text("\n".join(lines[:rows]) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def tweets_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tweets") / "tweets.csv"
    path.write_text("\n".join(TWEETS) + "\n", encoding="latin-1")
    return path


def recipe_data(goemotions: Path, tweets: Path, **changes) -> dict:
    """A recipe on the tiny data; `changes` replace (mapping: update) sections."""
    recipe = {
        "name": "tiny",
        "seed": 0,
        "sources": [
            {"type": "goemotions", "path": str(goemotions), "split": "train"},
            {"type": "sentiment140", "path": str(tweets), "options": {"on_error": "skip", "clean": True}},
        ],
        "evaluation": {"goemotions": str(goemotions)},
        "labeler": {"type": "offline", "model": "tfidf", "train_path": str(goemotions), "max_labels": 3},
        "balance": {"sampling_strategy": "equal", "target": 60},
        "audit": {"enabled": False, "folds": 3},
        "publish": {"folder": "dataset"},
    }
    for section, values in changes.items():
        recipe[section] = {**recipe.get(section, {}), **values} if isinstance(values, dict) else values
    return recipe


def write_recipe(path: Path, data: dict, comment: str = "") -> Path:
    path.write_text(comment + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def built(tiny_goemotions, tweets_file, tmp_path_factory):
    """One build with the audit on, made once per module; tests that change it work on a copy."""
    root = tmp_path_factory.mktemp("built")
    recipe = write_recipe(
        root / "recipe.yaml", recipe_data(tiny_goemotions, tweets_file, audit={"enabled": True})
    )
    result = run_recipe(recipe, root / "out")
    return recipe, root / "out", result


def copy_of(built, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(built[1], out)
    return out


def all_file_bytes(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


# --- recipes: checked whole, before anything runs ----------------------------------------------------------


def test_unknown_and_missing_fields_name_the_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsources: [{type: goemotions, path: packaged}]\nbalance: {targt: 5}\n")
    with pytest.raises(
        RecipeError, match=r"bad\.yaml: balance: unknown field 'targt' \(did you mean 'target'\?\)"
    ):
        load_recipe(bad)
    bad.write_text("sources: [{type: goemotions}]\n")
    with pytest.raises(RecipeError, match="field 'name' is required"):
        load_recipe(bad)
    bad.write_text(
        "name: x\nsources: [{type: goemotions, path: packaged}]\nsplit: {mode: stratified, sizes: [0.8, 0.1]}\n"
    )
    with pytest.raises(RecipeError, match=r"split\.sizes"):
        load_recipe(bad)
    bad.write_text("name: x\nsources: [{type: tweets}]\n")
    with pytest.raises(RecipeError, match=r"sources\[0\]\.type: 'tweets' is not one of"):
        load_recipe(bad)


BAD_VALUES = [
    ({"balance": {"target": "many"}}, "balance.target: expected an integer or null, got 'many'"),
    ({"balance": {"method": "selct"}}, "balance.method: 'selct' is not one of select"),
    ({"balance": {"sampling_strategy": "equl"}}, "balance.sampling_strategy: 'equl' is not one of"),
    ({"balance": {"source_priority": ["human", "robot"]}}, r"balance.source_priority\[1\]: 'robot'"),
    (
        {"balance": {"options": {"prefer": "best"}}},
        "balance.*prefer must be one of",
    ),
    ({"split": {"mode": "stratifed"}}, "split.mode: 'stratifed' is not one of 'goemotions', 'stratified'"),
    ({"split": {"sizes": [0.8, 0.1, 0.1]}}, "split.sizes: applies to mode: stratified"),
    ({"audit": {"folds": 1}}, "audit.folds: must be >= 2, got 1"),
    ({"audit": {"model": "bert"}}, "audit.model: 'bert' is not one of"),
    ({"labeler": {"model": "tfidf2"}}, "labeler.model: 'tfidf2' is not one of tfidf, minilm, tfidf\\+minilm"),
    ({"labeler": {"threshold": 1.5}}, r"labeler.threshold: must be in \[0, 1\], got 1.5"),
    ({"labeler": {"max_labels": 0}}, "labeler.max_labels: must be >= 1, got 0"),
    ({"publish": {"folder": ".."}}, "publish.folder: '..' leads outside the output folder"),
    ({"publish": {"folder": "/tmp/elsewhere"}}, "publish.folder: '/tmp/elsewhere' is absolute"),
    ({"publish": {"repo_id": "no-slash"}}, "publish.repo_id: must look like ORG/NAME"),
    ({"llm": {"api_key_env": SECRETS[0]}}, "llm.api_key_env: must be the name of an environment variable"),
    ({"audit": {"eval_path": "packaged"}}, "audit.eval_path: was replaced by evaluation.goemotions"),
    ({"train": {"enabled": True, "config": {"epochz": 1}}}, "train.config: .*epochz"),
]


@pytest.mark.parametrize(("change", "message"), BAD_VALUES, ids=[m.split(":")[0] for _, m in BAD_VALUES])
def test_a_recipe_mistake_is_one_line_before_any_stage_runs(
    tiny_goemotions, tweets_file, tmp_path, capsys, change, message
):
    recipe = write_recipe(tmp_path / "typo.yaml", recipe_data(tiny_goemotions, tweets_file, **change))
    code = main(["build", str(recipe), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == InputError.exit_code
    assert len(err.strip().splitlines()) == 1, err
    assert "typo.yaml" in err and __import__("re").search(message, err), err
    assert not (tmp_path / "out").exists(), "nothing is written before the recipe is valid"


def test_shipped_recipes_parse():
    for path in sorted((REPO / "recipes").glob("*.yaml")):
        recipe = load_recipe(path)
        assert recipe.sources and recipe.name


def test_recipe_value_lists_match_the_modules_that_implement_them():
    from goemobalance import recipe
    from goemobalance.audit.probs import MODELS
    from goemobalance.balance.sampling import METHODS, NAMED_STRATEGIES
    from goemobalance.label import OFFLINE_LABELERS
    from goemobalance.llm.annotator import AGREEMENT_RULES
    from goemobalance.schema import LABEL_ORIGINS

    assert recipe.AUDIT_MODELS == MODELS
    assert recipe.BALANCE_METHODS == tuple(METHODS)
    assert recipe.NAMED_STRATEGIES == tuple(NAMED_STRATEGIES)
    assert recipe.LABEL_ORIGINS == tuple(LABEL_ORIGINS)
    assert recipe.OFFLINE_LABELERS == tuple(OFFLINE_LABELERS)
    assert recipe.AGREEMENT_RULES == AGREEMENT_RULES


def test_a_missing_input_names_the_path_and_where_to_download_it(tmp_path, capsys):
    code = main(["build", str(REPO / "recipes" / "paper.yaml"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "sources[1].path" in err and "training.1600000.processed.noemoticon.csv not found" in err
    assert "sentiment140" in err and "trainingandtestdata.zip" in err
    assert not (tmp_path / "out").exists()


def test_a_model_that_cannot_be_downloaded_fails_in_one_line(
    tiny_goemotions, tweets_file, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    labeler = {
        "type": "transformer",
        "model": "no-such-org/no-such-model",
        "train_path": str(tiny_goemotions),
    }
    recipe = write_recipe(tmp_path / "r.yaml", recipe_data(tiny_goemotions, tweets_file, labeler=labeler))
    code = main(["build", str(recipe), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "labeler.model" in err and "no-such-org/no-such-model" in err


# --- outputs stay inside --out, and foreign files are kept ---------------------------------------------------


@pytest.mark.parametrize("folder", ["..", "../victim", "/tmp/goemobalance-victim", "a/../../victim"])
def test_a_publish_folder_outside_out_is_refused_and_nothing_outside_is_touched(
    tiny_goemotions, tweets_file, tmp_path, folder
):
    victim = tmp_path / "victim"
    (victim / "data").mkdir(parents=True)
    (victim / "README.md").write_text("mine")
    (victim / "data" / "mine.parquet").write_bytes(b"mine")
    recipe = write_recipe(
        tmp_path / "r.yaml", recipe_data(tiny_goemotions, tweets_file, publish={"folder": folder})
    )
    before = all_file_bytes(tmp_path)
    with pytest.raises(InputError, match="publish.folder"):
        run_recipe(recipe, victim / "out")
    assert all_file_bytes(tmp_path) == before
    assert not Path("/tmp/goemobalance-victim").exists()


def test_an_out_folder_with_foreign_files_needs_overwrite_and_keeps_them(
    tiny_goemotions, tweets_file, tmp_path, capsys
):
    out = tmp_path / "out"
    (out / "dataset" / "data").mkdir(parents=True)
    (out / "notes.txt").write_text("my notes")
    (out / "dataset" / "data" / "mine-00000-of-00001.parquet").write_bytes(b"not goemobalance's")
    recipe = write_recipe(tmp_path / "r.yaml", recipe_data(tiny_goemotions, tweets_file))
    assert main(["build", str(recipe), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "goemobalance did not write" in err and "notes.txt" in err and "--overwrite" in err
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == [
        "mine-00000-of-00001.parquet",
        "notes.txt",
    ]

    assert main(["build", str(recipe), "--out", str(out), "--overwrite", "--quiet"]) == 0
    assert (out / "notes.txt").read_text() == "my notes"
    assert (out / "dataset" / "data" / "mine-00000-of-00001.parquet").read_bytes() == b"not goemobalance's"
    assert (out / "dataset" / "README.md").is_file()
    assert "notes.txt" not in json.loads((out / RECORD_NAME).read_text())["written"]


def test_a_rebuild_into_its_own_folder_needs_no_overwrite_and_removes_only_its_stale_files(built, tmp_path):
    recipe, _, first = built
    out = copy_of(built, tmp_path)
    (out / "dataset" / "data" / "train-00007-of-00009.parquet").write_bytes(b"user's")
    stale = out / "dataset" / "plots" / "old.png"
    record = json.loads((out / "dataset" / RECORD_NAME).read_text())
    stale.write_bytes(b"written by an earlier save")
    (out / "dataset" / RECORD_NAME).write_text(json.dumps({"written": [*record["written"], "plots/old.png"]}))
    with pytest.raises(InputError, match="train-00007-of-00009.parquet"):
        run_recipe(recipe, out)
    (out / "dataset" / "data" / "train-00007-of-00009.parquet").unlink()
    again = run_recipe(recipe, out)
    assert again.output_hash == first.output_hash
    assert not stale.exists(), "a file goemobalance wrote earlier and not now is removed"


# --- the stage cache trusts only intact files ---------------------------------------------------------------


def test_a_changed_or_truncated_stage_file_is_recomputed_with_a_warning(built, tmp_path, capsys):
    recipe, _, first = built
    out = copy_of(built, tmp_path)
    arrow = min((out / "stages" / "split").rglob("*.arrow"))
    data = bytearray(arrow.read_bytes())
    data[len(data) // 2] ^= 0x01
    arrow.write_bytes(bytes(data))
    audit_json = out / "stages" / "audit" / "data.json"
    audit_json.write_text(audit_json.read_text()[:100])
    capsys.readouterr()
    result = run_recipe(recipe, out)
    err = capsys.readouterr().err
    assert "warning: stage split" in err and "changed" in err
    assert "warning: stage audit" in err
    stages = result.manifest["stages"]
    assert stages["split"]["status"] == "ran" and stages["audit"]["status"] == "ran"
    assert stages["balanced"]["status"] == "reused"
    assert result.output_hash == first.output_hash, "what is published was produced by a stage"
    assert json.loads(audit_json.read_text())["rows"] == first.context.audit["rows"]


def test_an_unreadable_saved_output_is_recomputed(tmp_path):
    warnings = []
    cache = StageCache(tmp_path, warn=warnings.append)
    cache.save("stage", "k1", lambda artifacts: StageOutput({"value": 1}, {}))
    (tmp_path / "stage" / "checksums.json").write_text("{not json")
    assert cache.load("stage", "k1") is None and "unreadable" in warnings[-1]
    cache.save("stage", "k1", lambda artifacts: StageOutput({"value": 2}, {}))
    (tmp_path / "stage" / "report.json").unlink()
    assert cache.load("stage", "k1") is None and "missing" in warnings[-1]
    assert cache.load("other", "k1") is None and cache.load("stage", "k2") is None


# --- what the build reports -----------------------------------------------------------------------------------


def test_every_dropped_row_is_counted_by_reason_in_summary_manifest_and_card(
    tiny_goemotions, tweets_file, tmp_path, capsys
):
    recipe = write_recipe(tmp_path / "r.yaml", recipe_data(tiny_goemotions, tweets_file))
    assert main(["build", str(recipe), "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    dropped = manifest["dropped"]
    assert dropped["sources"] == {"empty text after cleaning": 1, "polarity must be 0, 2 or 4": 1}
    assert (
        sum(dropped["pool"].values())
        == manifest["pseudo_labels"]["pseudo_labelled"] - manifest["pseudo_labels"]["accepted"]
    )
    assert sum(n for reason, n in dropped["balanced"].items() if reason.startswith("balancer: ")) > 0
    card = (tmp_path / "out" / "dataset" / "README.md").read_text()
    for stage, reasons in dropped.items():
        for reason, count in reasons.items():
            assert f"| {stage} | {reason} | {count:,} |" in card
            assert reason in captured.out
    read = manifest["sources"][1]
    assert read["rows_read"] == len(TWEETS) and read["rows_loaded"] == len(TWEETS) - 2
    assert (
        "left out" in captured.out
        and "short of target" in captured.out
        and "next: goemobalance" in captured.out
    )
    for stage in ("sources", "pool", "screened", "balanced", "split", "publish"):
        assert any(
            line.startswith(f"  {stage} ") and " ran " in line for line in captured.err.splitlines()
        ), stage
    assert "training the offline tfidf labeler on 2,000 GoEmotions rows" in captured.err
    assert "  llm       skipped (llm.enabled: false)" in captured.err


def test_secrets_in_a_recipe_are_never_written(tiny_goemotions, tweets_file, tmp_path):
    data = recipe_data(tiny_goemotions, tweets_file, publish={"pretty_name": f"set {SECRETS[1]}"})
    data["llm"] = {"enabled": False, "base_url": f"http://127.0.0.1:9/v1?token={SECRETS[2]}"}
    comment = f"# keys I must not lose: {SECRETS[0]}\n# api_key: {SECRETS[2]}\n"
    recipe = write_recipe(tmp_path / "r.yaml", data, comment=comment)
    run_recipe(recipe, tmp_path / "out")
    written = all_file_bytes(tmp_path / "out")
    assert any(name.endswith("README.md") for name in written)
    for name, content in written.items():
        for secret in SECRETS:
            assert secret.encode() not in content, f"{secret[:4]}... written to {name}"


def test_dry_run_writes_nothing_and_tells_what_would_run(
    built, tiny_goemotions, tweets_file, tmp_path, capsys
):
    recipe = write_recipe(tmp_path / "r.yaml", recipe_data(tiny_goemotions, tweets_file))
    before = all_file_bytes(tmp_path)
    assert main(["build", str(recipe), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert all_file_bytes(tmp_path) == before and not (tmp_path / "out").exists()
    assert "  sources   runs" in text and "  llm       skipped (llm.enabled: false)" in text
    assert (
        "deficits (labelled source rows before pseudo-labels; an upper bound): " in text
        and "LLM: off" in text
    )

    built_recipe, built_out, _ = built
    snapshot = all_file_bytes(built_out)
    assert main(["build", str(built_recipe), "--out", str(built_out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert all_file_bytes(built_out) == snapshot
    for stage in ("sources", "pool", "screened", "balanced", "split", "audit"):
        assert f"  {stage:<9} reused from cache" in text
    assert "  publish   runs" in text and "deficits (saved screened pool)" in text


# --- split modes ------------------------------------------------------------------------------------------------


def test_balance_prefer_confidence_reads_the_labelers_scores_in_a_build(
    tiny_goemotions, tweets_file, tmp_path
):
    """The pool reaching the balancer still carries the labeler's scores (without them the balancer
    stops: prefer='confidence' needs scores), and the published tweets keep them."""
    balance = {"method": "add", "sampling_strategy": "max", "options": {"prefer": "confidence"}}
    data = recipe_data(tiny_goemotions, tweets_file, balance=balance, labeler={"threshold": 0.0})
    del data["balance"]["target"]
    result = run_recipe(write_recipe(tmp_path / "r.yaml", data), tmp_path / "out")
    assert result.manifest["stages"]["balanced"]["status"] == "ran"
    train = datasets.load_from_disk(str(tmp_path / "out" / "stages" / "split" / "data"))["train"]
    origins, scores = column(train, "label_origin"), column(train, "scores")
    assert "pseudo" in origins
    assert all(len(s) == 28 for s, o in zip(scores, origins) if o == "pseudo")


def test_split_mode_goemotions_publishes_goemotions_dev_and_test_unchanged(built, tiny_goemotions):
    _, out, result = built
    loaded = datasets.load_dataset(str(out / "dataset"))
    for split, name in (("validation", "dev"), ("test", "test")):
        original = load_goemotions(tiny_goemotions, split=name)
        for field in ("id", "text", "labels", "label_origin"):
            assert loaded[split][field] == original[field], (split, field)
    balanced = datasets.load_from_disk(str(out / "stages" / "balanced" / "data"))
    assert loaded["train"]["id"] == balanced["id"], "every balanced row is in train"
    assert result.manifest["rows"] == {"train": len(balanced), "validation": 300, "test": 300}


def test_split_mode_stratified_draws_evaluation_rows_from_rows_the_balancer_did_not_keep(built, tmp_path):
    recipe_path, _, first = built
    data = yaml.safe_load(recipe_path.read_text())
    data["split"] = {"mode": "stratified", "sizes": [0.8, 0.1, 0.1]}
    data["audit"] = {"enabled": False}
    result = run_recipe(write_recipe(tmp_path / "r.yaml", data), tmp_path / "out")
    balanced_ids = list(first.context.balanced["id"])
    candidate_ids = set(first.context.llm["id"])
    assert list(result.dataset["train"]["id"]) == balanced_ids, "no balanced row leaves training"
    evaluation = list(result.dataset["validation"]["id"]) + list(result.dataset["test"]["id"])
    assert set(evaluation) <= candidate_ids - set(balanced_ids)
    wanted = round(len(balanced_ids) * 0.1 / 0.8)
    for name in ("validation", "test"):
        assert abs(len(result.dataset[name]) - wanted) <= 3, "sizes as close as duplicate groups allow"
    train_keys = {normalize_text(text) for text in result.dataset["train"]["text"]}
    for name in ("validation", "test"):
        assert not {normalize_text(text) for text in result.dataset[name]["text"]} & train_keys, (
            "a duplicate of a training text is never drawn into an evaluation split"
        )


# --- determinism, resuming, Ctrl-C ------------------------------------------------------------------------------


def test_the_same_recipe_gives_the_same_hash_and_a_rerun_reuses_every_stage(built, tmp_path):
    recipe, out, first = built
    again = run_recipe(recipe, tmp_path / "fresh")
    assert again.output_hash == first.output_hash
    assert not any(stage["cached"] for stage in again.manifest["stages"].values())
    rerun = run_recipe(recipe, copy_of(built, tmp_path / "copy"))
    statuses = {name: stage["status"] for name, stage in rerun.manifest["stages"].items()}
    assert statuses == {
        "sources": "reused", "pool": "reused", "screened": "reused", "llm": "skipped", "balanced": "reused",
        "split": "reused", "audit": "reused", "train": "skipped",
    }, "the manifest records every stage before publish"  # fmt: skip
    assert rerun.context.records["publish"].status == "ran", "publish always writes from the verified stages"
    assert rerun.output_hash == first.output_hash
    manifest = json.loads((out / "manifest.json").read_text())
    assert all("sha256" in entry for entry in manifest["inputs"])
    labeler = manifest["models"]["labeler"]
    assert (
        labeler["kind"] == "offline" and labeler["model"] == "tfidf" and labeler["thresholds"]["max"] == 0.5
    )
    assert (out / "audit" / "audit.json").is_file() and (out / "dataset" / "audit" / "audit.json").is_file()


def test_per_text_stage_outputs_are_released_once_read_and_their_map_caches_removed(built):
    _, out, result = built
    assert result.context.sources is None and result.context.pool is None, "no later stage reads them"
    assert len(result.context.llm) and len(result.context.balanced), "outputs read to the end are kept"
    assert not list((out / "stages").rglob("cache-*.arrow")), "pseudo-labelling's map caches are removed"
    assert list((out / "stages" / "sources" / "data").glob("data-*.arrow")), "the stage's own files stay"


def test_ctrl_c_keeps_finished_stages_and_says_how_to_resume(
    tiny_goemotions, tweets_file, tmp_path, capsys, monkeypatch
):
    from goemobalance.build import stages

    recipe = write_recipe(tmp_path / "r.yaml", recipe_data(tiny_goemotions, tweets_file))

    def interrupted(self, ctx, artifacts):
        raise KeyboardInterrupt

    monkeypatch.setattr(stages.BalanceStage, "run", interrupted)
    assert main(["build", str(recipe), "--out", str(tmp_path / "out")]) == 130
    err = capsys.readouterr().err
    assert "interrupted: stopped during stage balanced; finished stages (sources, pool, screened)" in err
    assert "run the same command again to resume" in err and "Traceback" not in err
    monkeypatch.undo()
    result = run_recipe(recipe, tmp_path / "out")
    assert [n for n, s in result.manifest["stages"].items() if s["status"] == "reused"] == [
        "sources",
        "pool",
        "screened",
    ]
    assert not list((tmp_path / "out" / "stages").glob(".*")), "no half-written stage folder is left"


# --- slow: the shipped quickstart and the train stage -----------------------------------------------------------


def _label_cv(dataset: datasets.Dataset) -> float:
    counts = np.array(list(distribution_stats(dataset).to_dict()["label_counts"].values()), dtype=float)
    counts = counts[counts > 0]
    return float(counts.std() / counts.mean())


@pytest.mark.slow
def test_quickstart_recipe_end_to_end(tmp_path, capsys):
    """The shipped recipe on the real packaged data, less its audit (100 s of the suite's 8 minutes on the
    AVX2 machine; the audit stage is checked on the module's build and in test_audit.py)."""
    data = yaml.safe_load(QUICKSTART.read_text())
    data["audit"]["enabled"] = False
    recipe = write_recipe(tmp_path / "quickstart.yaml", data)
    assert main(["build", str(recipe), "--out", str(tmp_path / "qs")]) == 0
    printed = capsys.readouterr().out
    assert "output hash:" in printed and "coefficient of variation" in printed
    dataset_dir = tmp_path / "qs" / "dataset"
    loaded = datasets.load_dataset(str(dataset_dir))
    goemotions_train = load_goemotions(packaged_file("goemotions/train"), split="train")
    train = loaded["train"]
    assert set(column(train, "label_origin")) == {"human", "pseudo"}
    screened = datasets.load_from_disk(str(tmp_path / "qs" / "stages" / "screened" / "data"))
    human_ids = {i for i, o in zip(column(screened, "id"), column(screened, "label_origin")) if o == "human"}
    published_human = {i for i, o in zip(column(train, "id"), column(train, "label_origin")) if o == "human"}
    assert published_human == human_ids, "add mode keeps every human row the leak guard kept"
    assert len(human_ids) > 42_000
    before, after = multi_hot(goemotions_train).sum(axis=0), multi_hot(train).sum(axis=0)
    grief = goemotions_train.features["labels"].feature.str2int("grief")
    assert after[grief] > before[grief], "the rarest label gains pseudo-labelled rows"
    assert _label_cv(train) < _label_cv(goemotions_train)
    assert len(loaded["validation"]) == 5426 and len(loaded["test"]) == 5427
    manifest = json.loads((tmp_path / "qs" / "manifest.json").read_text())
    assert manifest["stages"]["audit"]["status"] == "skipped"
    assert manifest["output_hash"] in (dataset_dir / "README.md").read_text()


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_train_stage_compares_on_the_untouched_test_split(built, tmp_path):
    """On a copy of the module's build (the stages before train are reused), with a tiny hybrid model on one
    torch thread (tiny models run fastest on one: 8-10 s here, 20 s on two threads of the loaded 2-core machine)."""
    tiny_training = {
        "epochs": 1,
        "max_train_rows": 800,
        "embeddings": {"source": "glove-kumo"},
        "hybrid": {"kernel_sizes": [2, 3], "conv_channels": 16, "lstm_hidden": 16, "attention_dim": 16},
    }
    data = yaml.safe_load(built[0].read_text())
    data["train"] = {"enabled": True, "config": tiny_training}
    out = copy_of(built, tmp_path)
    result = run_recipe(write_recipe(tmp_path / "r.yaml", data), out)
    assert result.manifest["stages"]["train"]["status"] == "ran"
    comparison = json.loads((out / "compare" / "comparison.json").read_text())
    assert {"imbalanced", "balanced", "delta"} <= set(comparison["summary"]["f1_macro"])
    delta = comparison["summary"]["f1_macro"]
    assert delta["delta"] == pytest.approx(delta["balanced"] - delta["imbalanced"])
    assert comparison["leaks"]["imbalanced"]["id_overlap"] == 0, (
        "GoEmotions train and test share no comment id"
    )


# --- leak guard ------------------------------------------------------------------------------------------


def test_pool_rows_that_copy_evaluation_texts_are_dropped_and_counted_or_stop_the_build(
    tiny_goemotions, tmp_path, capsys
):
    test_text = (tiny_goemotions / "test.tsv").read_text(encoding="utf-8").splitlines()[0].split("\t")[0]
    copies = [
        f'"4","20000000{i}","Mon Apr 06 22:19:45 PDT 2009","NO_QUERY","x","{text}"'
        for i, text in enumerate([test_text, test_text.upper() + "!!", "an unrelated tweet about lunch"])
    ]
    tweets = tmp_path / "leaky.csv"
    tweets.write_text("\n".join(TWEETS + copies) + "\n", encoding="utf-8")
    data = recipe_data(tiny_goemotions, tweets, labeler={"threshold": 0.0, "max_labels": 1})
    assert main(["build", str(write_recipe(tmp_path / "r.yaml", data)), "--out", str(tmp_path / "out")]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    leaks = manifest["dropped"]["screened"]
    assert sum(leaks.values()) >= 2, "the copy and its case/punctuation variant are both dropped"
    published = datasets.load_from_disk(str(tmp_path / "out" / "stages" / "split" / "data"))["train"]
    assert normalize_text(test_text) not in {normalize_text(t) for t in published["text"]}

    data["evaluation"] = {**data["evaluation"], "on_leak": "error"}
    code = main(["build", str(write_recipe(tmp_path / "e.yaml", data)), "--out", str(tmp_path / "out2")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and "goemotions_test" in err[-1], err


def test_a_target_precision_is_tuned_on_dev_recorded_and_labels_that_miss_it_accept_nothing(
    tiny_goemotions, tweets_file, tmp_path
):
    data = recipe_data(
        tiny_goemotions, tweets_file, labeler={"threshold": "tuned", "target_precision": 0.7, "max_labels": 3}
    )
    result = run_recipe(write_recipe(tmp_path / "r.yaml", data), tmp_path / "out")
    labeler = result.manifest["models"]["labeler"]
    acceptance = labeler["acceptance"]
    assert acceptance["target_precision"] == 0.7 and acceptance["tuned_on"] == "goemotions dev"
    closed = {name for name, entry in acceptance["labels"].items() if entry["threshold"] is None}
    assert closed and labeler["thresholds"]["labels_accepting_nothing"] == len(closed)
    for name, entry in acceptance["labels"].items():
        if entry["threshold"] is not None and entry["accepted"]:
            assert entry["precision_lower"] >= 0.7, name
    pseudo = result.dataset["train"].filter(lambda row: row["label_origin"] == "pseudo")
    names = result.dataset["train"].features["labels"].feature.names
    assert not {names[i] for labels in pseudo["labels"] for i in labels} & closed
