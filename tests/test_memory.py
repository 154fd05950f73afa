"""Peak memory of a large build (issue 15): memory-mapped pages handed back during passes, the leak guard
streaming the pool in batches against the evaluation texts, and stage outputs released once read.

These tests check structure and results, never timings or absolute memory: a released mapping holds
(almost) no resident pages afterwards, the data read through it is unchanged, in-memory tables are never
touched, and the leak guard's result does not depend on its batch size."""

from __future__ import annotations

import sys

import datasets
import numpy as np
import pytest

from goemobalance import leaks
from goemobalance.build.stages import concatenate
from goemobalance.leaks import drop_eval_leaks
from goemobalance.mapped import mapped_files, pages_released, release
from goemobalance.text import ReferenceForms, near_duplicate_pairs, normalize_text

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise and /proc are Linux's")


def resident_kb(ranges: list[tuple[int, int]]) -> int:
    """Resident kB of this process inside `ranges` (from /proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps", encoding="utf-8") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                start, end = (int(x, 16) for x in head.split("-"))
                inside = any(start >= a and end <= b for a, b in ranges)
            elif head == "Rss:" and inside:
                total += int(line.split()[1])
    return total


@pytest.fixture(scope="module")
def on_disk(tmp_path_factory):
    """About 24 MB of Arrow data saved with `save_to_disk` and loaded back memory-mapped."""
    rng = np.random.default_rng(0)
    n = 200_000
    table = {
        "id": [f"row:{i}" for i in range(n)],
        "text": [f"text {i} " + "x" * int(k) for i, k in enumerate(rng.integers(20, 160, n))],
        "scores": rng.random((n, 8), dtype=np.float32).tolist(),
    }
    folder = tmp_path_factory.mktemp("mapped") / "data"
    datasets.Dataset.from_dict(table).save_to_disk(str(folder))
    return folder, table


@linux
def test_released_pages_leave_the_process_and_the_data_reads_back_unchanged(on_disk):
    folder, table = on_disk
    dataset = datasets.load_from_disk(str(folder))
    ranges = mapped_files([dataset])
    assert ranges, "a dataset loaded from disk reads memory-mapped files"
    whole = dataset.with_format("arrow")[:]
    assert whole.column("text").to_pylist() == table["text"]
    touched = resident_kb(ranges)
    assert touched > 10_000, "reading every column maps the file's pages into the process"
    release(ranges)
    assert resident_kb(ranges) < touched / 10
    assert whole.column("text").to_pylist() == table["text"], "pages read again come back from the file"
    assert np.allclose(np.asarray(whole.column("scores").to_pylist()), table["scores"])


@linux
def test_pages_released_during_a_save_gives_the_same_files(on_disk, tmp_path):
    folder, _ = on_disk
    dataset = datasets.load_from_disk(str(folder)).select(range(0, 200_000, 3))
    ranges = mapped_files([dataset])
    dataset.save_to_disk(str(tmp_path / "plain"))
    with pages_released(dataset, every=0.001):
        dataset.save_to_disk(str(tmp_path / "released"))
    assert resident_kb(ranges) < 2_000, "the block ends with the mapped pages handed back"
    plain, released = (
        sorted((tmp_path / "plain").glob("*.arrow")),
        sorted((tmp_path / "released").glob("*.arrow")),
    )
    assert [p.read_bytes() for p in plain] == [p.read_bytes() for p in released]


def test_in_memory_tables_are_never_released():
    in_memory = datasets.Dataset.from_dict({"text": ["a" * 10_000] * 1_000})
    assert mapped_files([in_memory, in_memory.data.table, datasets.DatasetDict(train=in_memory)]) == []
    with pages_released(in_memory):
        assert in_memory[0]["text"] == "a" * 10_000


# --- the leak guard, batch by batch ---------------------------------------------------------------------------


def test_reference_forms_find_what_near_duplicate_pairs_finds_across_sides(goemotions_test, goemotions_dev):
    references = sorted({normalize_text(t) for t in goemotions_test["text"]} - {""})
    reference_set = set(references)
    forms = sorted({normalize_text(t) for t in goemotions_dev["text"]} - {""} - reference_set)
    sides = np.r_[np.zeros(len(forms), dtype=np.int8), np.ones(len(references), dtype=np.int8)]
    expected_pairs, expected_scores = near_duplicate_pairs(forms + references, sides=sides)
    expected = np.stack([expected_pairs[:, 0], expected_pairs[:, 1] - len(forms)], axis=1)
    index = ReferenceForms(references)
    pairs, scores = index.pairs(forms)
    assert len(pairs) >= 10, "GoEmotions dev has near copies of test texts"
    assert np.array_equal(pairs, expected) and np.array_equal(scores, expected_scores)
    halves = [index.pairs(forms[:1000]), index.pairs(forms[1000:])]
    joined = np.concatenate([halves[0][0], halves[1][0] + [1000, 0]])
    assert np.array_equal(joined, expected), "a form's matches do not depend on the batch it comes in"


def test_leak_guard_gives_the_same_result_for_any_batch_size(
    goemotions_train, goemotions_dev, goemotions_test
):
    rows = concatenate([goemotions_train.select(range(6000)), goemotions_dev.select(range(1500))])
    rows = rows.select(np.random.default_rng(1).permutation(len(rows)))  # an indices mapping
    eval_sets = {"goemotions_dev": goemotions_dev, "goemotions_test": goemotions_test}
    kept, report = drop_eval_leaks(rows, eval_sets, batch_size=len(rows))
    assert (
        report.per_eval["goemotions_test"]["near"] > 0 and report.per_eval["goemotions_dev"]["exact"] > 1000
    )
    for batch_size in (997, 4096):
        other_kept, other = drop_eval_leaks(rows, eval_sets, batch_size=batch_size)
        assert other.to_dict() == report.to_dict()
        assert np.array_equal(other.dropped_rows, report.dropped_rows)
        assert other_kept["id"] == kept["id"]
    for examples in report.to_dict()["examples"].values():
        for example in examples:
            assert rows[example["row"]]["id"] == example["id"], "example rows index the checked dataset"


def test_leak_guard_reads_the_checked_rows_in_batches_never_as_whole_columns(
    goemotions_train, goemotions_test, monkeypatch
):
    rows = goemotions_train.select(range(5000))
    whole_columns, batches = [], []
    text_column, text_batches = leaks.text_column, leaks._text_batches
    monkeypatch.setattr(
        leaks, "text_column", lambda ds, col="text": whole_columns.append(len(ds)) or text_column(ds, col)
    )

    def counted(dataset, column, batch_size):
        for start, texts, ids in text_batches(dataset, column, batch_size):
            batches.append(len(texts))
            yield start, texts, ids

    monkeypatch.setattr(leaks, "_text_batches", counted)
    drop_eval_leaks(rows, {"goemotions_test": goemotions_test}, batch_size=1024)
    assert whole_columns == [len(goemotions_test)], "only the evaluation set is read whole"
    assert batches == [1024] * 4 + [904]


def test_arrow_batches_of_a_selection_follow_its_indices(goemotions_test):
    rows = goemotions_test.select([5, 3, 1])
    [(start, texts, ids)] = list(leaks._text_batches(rows, "text", 10))
    assert start == 0 and ids == [goemotions_test[i]["id"] for i in (5, 3, 1)]
    assert texts == [goemotions_test[i]["text"] for i in (5, 3, 1)]


# --- the build: intermediates deleted once read ----------------------------------------------------------------


def test_label_and_accept_deletes_the_labelled_copy_once_accept_has_read_it(
    goemotions_train, sentiment140_sample, tmp_path
):
    from goemobalance.build.stages import label_and_accept
    from goemobalance.label import TfidfLogRegLabeler, accept
    from goemobalance.schema import column, multi_hot
    from goemobalance.sources.sentiment140 import load_sentiment140

    train = goemotions_train.select(range(2000))
    labeler = TfidfLogRegLabeler(max_features=5_000).fit(column(train, "text"), multi_hot(train))
    load_sentiment140(sentiment140_sample, clean=True, on_error="skip", limit=400).save_to_disk(
        tmp_path / "s"
    )
    tweets = datasets.load_from_disk(str(tmp_path / "s"))
    expected, _ = accept(labeler.label(tweets, n_jobs=1), labeler.active_rule)
    before = set((tmp_path / "s").glob("cache-*.arrow"))
    accepted, rejected = label_and_accept(labeler, tweets)
    left = set((tmp_path / "s").glob("cache-*.arrow"))
    assert {e["filename"] for e in accepted.cache_files} <= {str(p) for p in left}, "accept's output stays"
    assert len(left) == 1 and len(before) == 2, "the labelled copy is deleted, accept's own file kept"
    assert accepted.to_list() == expected.to_list() and len(accepted) + len(rejected) == len(tweets)
    assert {p.name for p in (tmp_path / "s").glob("data-*.arrow")}, "the input's files are never deleted"


@linux
def test_a_stage_runs_with_the_pages_of_its_inputs_handed_back(on_disk, tmp_path):
    import io
    import time
    from pathlib import Path

    from goemobalance.build.cache import StageCache, StageOutput
    from goemobalance.build.console import Console
    from goemobalance.build.context import BuildContext
    from goemobalance.build.stages import Stage
    from goemobalance.outputs import OwnedFolder
    from goemobalance.pipeline import run_stage
    from goemobalance.recipe import load_recipe

    folder, table = on_disk
    seen = {}

    class ReadsEverything(Stage):
        name = "pool"
        inputs = ("sources",)
        cached = False

        def settings(self, recipe):
            return {}

        def run(self, ctx, artifacts):
            ranges = mapped_files([ctx.sources])
            assert ctx.sources.with_format("arrow")[:].column("text").to_pylist() == table["text"]
            time.sleep(0.3)
            seen["resident_kb"] = resident_kb(ranges)
            return StageOutput(None)

    recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "quickstart.yaml")
    ctx = BuildContext(recipe=recipe, out=OwnedFolder(tmp_path), console=Console(io.StringIO()))
    ctx.sources = datasets.load_from_disk(str(folder))
    assert run_stage(ReadsEverything(), ctx, StageCache(tmp_path / "stages")).status == "ran"
    assert seen["resident_kb"] < 2_000, "the pages the stage read were handed back while it ran"


def test_write_predictions_never_pickles_the_probability_matrix_to_fingerprint(
    goemotions_train, sentiment140_sample, monkeypatch
):
    import datasets.fingerprint

    from goemobalance.label import TfidfLogRegLabeler
    from goemobalance.label.base import predictions_fingerprint, write_predictions
    from goemobalance.schema import column, multi_hot
    from goemobalance.sources.sentiment140 import load_sentiment140

    train = goemotions_train.select(range(2000))
    labeler = TfidfLogRegLabeler(max_features=5_000).fit(column(train, "text"), multi_hot(train))
    tweets = load_sentiment140(sentiment140_sample, clean=True, on_error="skip", limit=300)
    probs = labeler.predict_proba(column(tweets, "text"))
    hashed = []
    real = datasets.fingerprint.update_fingerprint
    monkeypatch.setattr(
        datasets.fingerprint, "update_fingerprint", lambda *a, **k: hashed.append(a) or real(*a, **k)
    )
    args = (labeler.space, labeler.active_rule, labeler.provenance())
    labelled = write_predictions(tweets, probs, *args)
    maps = [call for call in hashed if call[1].endswith(".map")]
    assert not maps, "datasets hashed the map function, and with it the whole probability matrix"
    assert labelled._fingerprint == predictions_fingerprint(tweets, probs, *args)
    changed = probs.copy()
    changed[7, 3] += 0.01
    assert predictions_fingerprint(tweets, changed, *args) != labelled._fingerprint
    assert column(labelled, "scores") == probs.tolist()


def test_map_caches_are_removed_only_inside_the_output_folder(tmp_path):
    """Bug caught: the build called `Dataset.cleanup_cache_files` on any released output, which deletes every
    other ``cache-*.arrow`` beside the dataset's files: a dataset read from a user's folder lost its caches."""
    import datasets

    from goemobalance.pipeline import _remove_map_caches

    for where in ("user", "out"):
        datasets.Dataset.from_dict({"x": [1, 2, 3]}).save_to_disk(str(tmp_path / where / "data"))
    for where in ("user", "out"):
        dataset = datasets.load_from_disk(str(tmp_path / where / "data"))
        stray = tmp_path / where / "data" / "cache-0123456789abcdef.arrow"
        stray.write_bytes(b"not ours")
        _remove_map_caches(dataset, tmp_path / "out")
        assert stray.exists() == (where == "user")
