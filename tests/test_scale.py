"""Scale: Arrow-batched accept / split_labeled / validate / labelling, stage outputs memory-mapped, the
synthetic Sentiment140 writer, and Ray Data labelling identical to the single-process path."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pytest

from goemobalance.label import SelectionRule, TfidfLogRegLabeler, accept
from goemobalance.label.batching import predict_proba_in_batches
from goemobalance.label.selection import PROVENANCE_KEY, REJECT_UNSCORED
from goemobalance.metajson import set_flag, top_level_flags, with_flag
from goemobalance.schema import SchemaError, column, multi_hot, split_labeled, validate

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def labeler(goemotions_train):
    train = goemotions_train.select(range(3000))
    return TfidfLogRegLabeler(max_features=20_000).fit(column(train, "text"), multi_hot(train))


@pytest.fixture(scope="module")
def tweets(sentiment140_sample):
    from goemobalance.sources.sentiment140 import load_sentiment140

    return load_sentiment140(sentiment140_sample, clean=True, on_error="skip", limit=700)


@pytest.fixture(scope="module")
def mixed(labeler, tweets, goemotions_test):
    """Human GoEmotions rows, scored tweets and unscored tweets, interleaved by a shuffled selection."""
    scored = labeler.label(tweets.select(range(500)))
    human = goemotions_test.select(range(150)).cast(scored.features)
    unscored = tweets.select(range(500, 650)).cast(scored.features)
    combined = datasets.concatenate_datasets([human, scored, unscored])
    return combined.select(np.random.default_rng(0).permutation(len(combined)))


def accept_row_by_row(dataset: datasets.Dataset, rule: SelectionRule) -> tuple[list[dict], list[dict]]:
    """The reference: the rule applied to one row at a time, as a list of plain rows."""
    space_names = dataset.features["labels"].feature.names
    from goemobalance.labels import LabelSpace

    space = LabelSpace(tuple(space_names))
    accepted, rejected = [], []
    for row in dataset.to_list():
        row = dict(row)
        reason = ""
        if row["label_origin"] == "pseudo":
            if not row["scores"]:
                reason = REJECT_UNSCORED
            else:
                probs = np.asarray([row["scores"]], dtype=np.float64)
                row["labels"] = rule.select(probs, space)[0]
                reason = rule.reject_reasons(probs, space)[0]
            meta = json.loads(row["meta"]) if row["meta"] else {}
            meta["labeled"] = bool(row["labels"])
            row["meta"] = json.dumps(meta, ensure_ascii=False, sort_keys=True)
        row["reject_reason"] = reason
        (rejected if reason else accepted).append(row)
    return accepted, rejected


RULES = [
    SelectionRule(threshold=0.5, max_labels=3),
    SelectionRule(threshold=0.3, min_confidence=0.4, max_labels=2),
    SelectionRule(threshold=0.6, top1_fallback=False),
]


@pytest.mark.parametrize("rule", RULES, ids=["default", "floor-cap", "no-fallback"])
def test_accept_in_batches_equals_the_row_by_row_rule_on_real_tweets(mixed, rule):
    expected_accepted, expected_rejected = accept_row_by_row(mixed, rule)
    accepted, rejected = accept(mixed, rule, batch_size=97)
    assert accepted.to_list() == expected_accepted
    assert rejected.to_list() == expected_rejected
    assert expected_accepted and expected_rejected
    assert accepted.features["reject_reason"] == datasets.Value("string")
    assert accepted.features["labels"] == mixed.features["labels"]


def test_accept_keeps_the_input_format_and_names_a_row_with_wrong_scores(mixed):
    accepted, _ = accept(mixed.with_format("numpy"), SelectionRule())
    assert accepted.format["type"] == "numpy" and "reject_reason" in accepted.column_names
    scored = [len(scores) > 0 for scores in column(mixed, "scores")]
    row = next(i for i in range(200, len(mixed)) if scored[i])
    broken = mixed.map(
        lambda r, i: {"scores": r["scores"][:27] if i == row else r["scores"]}, with_indices=True
    )
    with pytest.raises(SchemaError, match=rf"row {row}, field 'scores': expected 28 probabilities, got 27"):
        accept(broken, SelectionRule(), batch_size=64)


_STAMP = '"pseudo_label": {"labeler": "x"}'
#: Valid rows that are easy to edit wrongly: the key nested, inside a string, after escapes, missing, null.
TRICKY_METAS = [
    None,
    "",
    "{}",
    '{"a": {"labeled": false}, "labeled": true, ' + _STAMP + "}",
    '{"a": {"labeled": true}, "labeled": true, ' + _STAMP + "}",
    '{"a": [{"labeled": true}], "b": 2, ' + _STAMP + "}",
    '{"labeled": false, ' + _STAMP + ', "x": "\\"labeled\\": true"}',
    '{"labeled": true, ' + _STAMP + ', "z": "\\\\"}',
    '{"labeled": true, ' + _STAMP + ', "text": "é 漢 \\"q\\" {[", "u": 1}',
    '{"labeled": null, ' + _STAMP + "}",
    '{"b": ["{", "labeled"], "labeled": false, ' + _STAMP + "}",
    '{"a": 1,\n "labeled": true, ' + _STAMP + "}",
    '{"cleaning": {"urls": true, "html": true}, "labeled": false}',
    '{"a": {"labeled": false}, ' + _STAMP + "}",
]
#: Rows Arrow's JSON reader rejects for the whole batch (a repeated key, a non-boolean flag).
BATCH_BREAKERS = ['{"labeled": true, "labeled": false, ' + _STAMP + "}", '{"labeled": "yes", ' + _STAMP + "}"]


@pytest.mark.parametrize("breaker", [None, *BATCH_BREAKERS])
def test_set_flag_equals_parsing_and_dumping_each_row(mixed, breaker):
    """The in-place edit must give json.dumps(sort_keys=True) of the updated object, byte for byte, on
    labeller output, loader output (nested keys not sorted: must not be edited in place) and tricky rows."""
    real = column(mixed, "meta")
    metas = TRICKY_METAS + real + TRICKY_METAS + ([breaker] if breaker else [])
    rng = np.random.default_rng(7)
    rows = np.flatnonzero(rng.random(len(metas)) < 0.8)
    for values in (rng.random(len(rows)) < 0.5, np.ones(len(rows), bool), np.zeros(len(rows), bool)):
        got = set_flag(pa.array(metas, pa.string()), "labeled", rows, values, proof_key=PROVENANCE_KEY)
        expected = list(metas)
        for row, value in zip(rows.tolist(), values.tolist()):
            expected[row] = with_flag(expected[row], "labeled", value)
        assert got.to_pylist() == expected
    flags = top_level_flags(pa.array(real, pa.string()), "labeled", PROVENANCE_KEY)
    stamped = [PROVENANCE_KEY in json.loads(m) for m in real]
    assert any(stamped) and ((flags >= 0) == np.array(stamped)).all()


@pytest.mark.parametrize("clean", [True, False])
def test_loading_in_small_spilled_batches_equals_one_batch_in_memory(
    sentiment140_sample, tmp_path, monkeypatch, clean
):
    """Streaming must not change the result: the real sample (plus repeated ids across batches and bad
    lines) read in ~100 batches spilled to disk gives the rows, meta, skip counts and messages of one
    batch kept in memory."""
    from goemobalance.sources import reading, records
    from goemobalance.sources.errors import LoadReport
    from goemobalance.sources.sentiment140 import load_sentiment140

    lines = sentiment140_sample.read_bytes().rstrip(b"\n").split(b"\n")
    bad = [b'"1","9","d","q","u","polarity one"', b'"0","x12","d","q","u","bad id"', b'"0","7","d"']
    path = tmp_path / "s140.csv"
    path.write_bytes(b"\n".join(lines[:20] + bad + lines[20:] + lines[5:8] + [b""]))

    def load(block_size: int, spill_bytes: int):
        monkeypatch.setattr(reading, "BLOCK_SIZE", block_size)
        monkeypatch.setattr(records, "SPILL_BYTES", spill_bytes)
        report = LoadReport()
        dataset = load_sentiment140(path, clean=clean, on_error="skip", report=report)
        return dataset, report

    streamed, streamed_report = load(block_size=64 << 10, spill_bytes=0)
    whole, whole_report = load(block_size=1 << 30, spill_bytes=1 << 40)
    assert streamed.cache_files and not whole.cache_files
    assert streamed.data.column("id").num_chunks > 50
    assert streamed.data.to_pydict() == whole.data.to_pydict()
    assert streamed_report.to_dict() == whole_report.to_dict()
    assert streamed_report.reasons()["duplicate_id"] == 3 and streamed_report.rows_skipped >= 6


def test_split_labeled_keeps_order_and_reads_through_a_selection(mixed):
    labeled, unlabeled = split_labeled(mixed)
    rows = mixed.to_list()
    assert labeled.to_list() == [r for r in rows if r["labels"]]
    assert unlabeled.to_list() == [r for r in rows if not r["labels"]]
    assert len(unlabeled) == 150


def test_validate_in_batches_names_the_same_row_as_one_batch(mixed):
    labeled, _ = split_labeled(mixed)
    validate(labeled, batch_size=50)
    late = len(labeled) - 30
    ids = column(labeled, "id")
    cases = [
        (lambda r, i: {"text": "   " if i == late else r["text"]}, "field 'text': empty text"),
        (lambda r, i: {"meta": "[1]" if i == late else r["meta"]}, "field 'meta': must be a JSON object"),
        (
            lambda r, i: {"id": ids[3] if i == late else r["id"]},
            "field 'id': duplicate id, first used by row 3",
        ),
        (lambda r, i: {"labels": [] if i == late else r["labels"]}, "field 'labels': no labels"),
    ]
    for change, message in cases:
        broken = labeled.map(change, with_indices=True)
        for batch_size in (50, 100_000):
            with pytest.raises(SchemaError, match=rf"^row {late} \(id='[^']+'\), {message}"):
                validate(broken, batch_size=batch_size)


def test_predict_in_batches_equals_one_call(labeler, mixed):
    whole = labeler.predict_proba(column(mixed, "text"))
    batched = predict_proba_in_batches(labeler.predict_proba, mixed, 28, batch_size=64)
    assert batched.dtype == np.float32 and np.array_equal(batched, whole)


def test_predict_in_worker_processes_equals_one_process(labeler, mixed):
    """Batches predicted in two loky workers come back in row order with the very same probabilities."""
    assert type(labeler).predicts_in_processes
    one = predict_proba_in_batches(labeler.predict_proba, mixed, 28, batch_size=64)
    two = predict_proba_in_batches(labeler.predict_proba, mixed, 28, batch_size=64, n_jobs=2)
    assert np.array_equal(two, one)


def test_stage_cache_hands_on_the_saved_memory_mapped_copy(mixed, tmp_path):
    from goemobalance.build.cache import StageCache, StageOutput

    saved = StageCache(tmp_path).save("pool", "key", lambda artifacts: StageOutput(mixed.flatten_indices()))
    output = saved.data
    assert output.cache_files and output.to_list() == mixed.to_list()
    assert all(Path(f["filename"]).is_relative_to(tmp_path) for f in output.cache_files)


def test_synthetic_sentiment140_has_fresh_ids_and_the_sample_lines(sentiment140_sample, tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    from synthetic_sentiment140 import write_sentiment140

    from goemobalance.sources.sentiment140 import load_sentiment140

    sample = sentiment140_sample
    n_sample = len(sample.read_bytes().rstrip(b"\n").split(b"\n"))
    path = write_sentiment140(tmp_path / "s140.csv", n_sample + 500, seed=1, sample=sample)
    lines = path.read_bytes().rstrip(b"\n").split(b"\n")
    assert len(lines) == n_sample + 500
    cut = [line.split(b'","', 2) for line in lines]
    assert len({c[1] for c in cut}) == len(lines)
    originals = {tuple(line.split(b'","', 2)[::2]) for line in sample.read_bytes().rstrip(b"\n").split(b"\n")}
    assert {(c[0], c[2]) for c in cut} == originals
    loaded = load_sentiment140(path, on_error="skip", limit=2000)
    assert len(loaded) == 2000


@pytest.mark.slow
def test_ray_data_labels_like_the_single_process_path(labeler, tweets, tmp_path):
    ray = pytest.importorskip("ray", reason="ray[data] is not installed (pip install 'goemobalance[ray]')")
    from goemobalance.label.ray import accepted_rows, label_with_ray, to_dataset
    from goemobalance.sources import load_dataset_any

    rows = tweets.select(range(300))
    rule = SelectionRule(threshold=0.3, min_confidence=0.35, max_labels=2)
    expected = labeler.label(rows, rule)
    expected_accepted, _ = accept(expected, rule)
    rows.save_to_disk(str(tmp_path / "rows"))
    on_disk = datasets.load_from_disk(str(tmp_path / "rows"))
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    try:
        labelled = label_with_ray(rows, labeler, rule=rule, batch_size=32).materialize()
        got = to_dataset(labelled, labeler.space)
        assert got.features == expected.features
        assert got.to_list() == expected.to_list()
        read_in_blocks = to_dataset(label_with_ray(on_disk, labeler, rule=rule, batch_size=32), labeler.space)
        assert read_in_blocks.to_list() == expected.to_list()
        accepted_rows(labelled).write_parquet(str(tmp_path / "labelled"))
    finally:
        ray.shutdown()
    read_back = load_dataset_any(tmp_path / "labelled")
    assert 0 < len(read_back) < len(rows)
    assert read_back.to_list() == expected_accepted.remove_columns("reject_reason").to_list()
