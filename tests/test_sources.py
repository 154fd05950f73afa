"""GoEmotions loaders (TSV release, raw rater CSVs), `load_dataset_any`, and the vectorized schema check."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys

import datasets
import pyarrow as pa
import pytest

from goemobalance.labels import GOEMOTIONS
from goemobalance.schema import SchemaError, validate
from goemobalance.sources import (
    LoadReport,
    SourceError,
    load_dataset_any,
    load_goemotions,
    load_goemotions_raw,
)

UPSTREAM_TRAIN_COUNTS = {"neutral": 14219, "admiration": 4130, "grief": 77, "pride": 111, "relief": 153,
                         "nervousness": 164}  # fmt: skip
RAW_HEADER = ["text", "id", "author", "subreddit", "link_id", "parent_id", "created_utc", "rater_id",
              "example_very_unclear", *GOEMOTIONS.names]  # fmt: skip


# ---------------------------------------------------------------- TSV release (real data)


@pytest.mark.parametrize("split, rows", [("train", 43410), ("dev", 5426), ("test", 5427)])
def test_goemotions_tsv_split_sizes(goemotions_dir, split, rows):
    assert len(load_goemotions(goemotions_dir, split=split)) == rows


def test_goemotions_train_label_counts_match_upstream(goemotions_train):
    matrix = GOEMOTIONS.to_multi_hot(goemotions_train["labels"])
    counts = dict(zip(GOEMOTIONS.names, matrix.sum(axis=0).tolist()))
    assert {name: counts[name] for name in UPSTREAM_TRAIN_COUNTS} == UPSTREAM_TRAIN_COUNTS


def test_goemotions_records_are_in_the_schema(goemotions_train):
    first = goemotions_train[0]
    assert first["id"] == "goemotions:eebbqej"
    assert first["labels"] == [27] and first["label_origin"] == "human" and first["source"] == "goemotions"
    assert json.loads(first["meta"]) == {"comment_id": "eebbqej", "split": "train"}
    validate(goemotions_train.select(range(2000)))


def _write(path, text: str | bytes):
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


BAD_TSV_LINES = [
    ("only two fields\t27\n", "expected 3 tab-separated fields"),
    ("unknown id\t31\tabc\n", "unknown label id 31"),
    ("not a number\tjoy\tabc\n", "label ids must be integers"),
    ("\t27\tabc\n", "empty text"),
    ("no labels\t\tabc\n", "no label ids"),
    (b"caf\xe9 in latin-1\t27\tabc\n", "undecodable bytes"),
]


@pytest.mark.parametrize("bad_line, message", BAD_TSV_LINES)
def test_goemotions_tsv_bad_line_raises_with_file_and_line(tmp_path, bad_line, message):
    good = "fine text\t27\tok1\n"
    bad = bad_line if isinstance(bad_line, bytes) else bad_line.encode()
    file = _write(tmp_path / "train.tsv", good.encode() + bad + good.replace("ok1", "ok2").encode())
    with pytest.raises(SourceError, match=rf"train\.tsv, line 2: .*{message}"):
        load_goemotions(file)


def test_goemotions_tsv_skip_mode_counts_every_bad_line(tmp_path):
    lines = [b"good one\t1,2\tg1\n"] + [
        (bad if isinstance(bad, bytes) else bad.encode()) for bad, _ in BAD_TSV_LINES
    ] + [b"good two\t27\tg2\n"]  # fmt: skip
    file = _write(tmp_path / "dev.tsv", b"".join(lines))
    report = LoadReport()
    dataset = load_goemotions(tmp_path, split="dev", on_error="skip", report=report)
    assert dataset["id"] == ["goemotions:g1", "goemotions:g2"]
    assert report.rows_read == 8 and report.rows_loaded == 2 and report.rows_skipped == 6
    assert [item["line"] for item in report.skipped] == [2, 3, 4, 5, 6, 7]
    assert all(item["file"] == str(file) for item in report.skipped)


# ---------------------------------------------------------------- raw rater-level CSVs


def _rating(text, comment_id, rater, labels=(), unclear=False):
    flags = [1 if name in labels else 0 for name in GOEMOTIONS.names]
    return [text, comment_id, "some_author", "nba", "t3_ahulml", "t1_eew4yli", "1548381039.0", rater,
            str(unclear), *flags]  # fmt: skip


@pytest.fixture()
def raw_dir(tmp_path):
    """Two raw files shaped like upstream goemotions_1.csv / goemotions_2.csv (a comment's raters span files)."""
    first = [
        _rating("That game hurt.", "eew5j0j", 1, ["sadness"]),
        _rating("That game hurt.", "eew5j0j", 2, ["sadness", "anger"]),
        _rating("That game hurt.", "eew5j0j", 3, unclear=True),
        _rating("Man I love reddit.", "eemcysk", 4, ["love"]),
        _rating("Man I love reddit.", "eemcysk", 5, ["love", "admiration"]),
    ]
    second = [
        _rating("Man I love reddit.", "eemcysk", 6, ["admiration"]),
        _rating("[NAME] was nowhere near them, he was by the Falcon.", "ed2mah1", 7, ["neutral"]),
        _rating("[NAME] was nowhere near them, he was by the Falcon.", "ed2mah1", 8, ["curiosity"]),
        _rating("[NAME] was nowhere near them, he was by the Falcon.", "ed2mah1", 9, unclear=True),
    ]
    for name, rows in (("goemotions_1.csv", first), ("goemotions_2.csv", second)):
        with open(tmp_path / name, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(RAW_HEADER)
            writer.writerows(rows)
    return tmp_path


def test_raw_loader_keeps_labels_chosen_by_two_raters(raw_dir):
    report = LoadReport()
    dataset = load_goemotions_raw(raw_dir, report=report)
    by_id = {row["id"]: row for row in dataset}
    assert set(by_id) == {"goemotions:eew5j0j", "goemotions:eemcysk"}
    assert GOEMOTIONS.to_names(by_id["goemotions:eew5j0j"]["labels"]) == ["sadness"]
    assert GOEMOTIONS.to_names(by_id["goemotions:eemcysk"]["labels"]) == ["admiration", "love"]
    meta = json.loads(by_id["goemotions:eew5j0j"]["meta"])
    assert meta["n_raters"] == 3 and meta["n_unclear"] == 1 and meta["votes"] == {"anger": 1, "sadness": 2}
    assert meta["subreddit"] == "nba" and meta["comment_id"] == "eew5j0j"
    assert report.counts["unclear_ratings"] == 2
    assert report.counts["examples_without_agreement"] == 1
    (dropped,) = report.skipped
    assert dropped["comment_id"] == "ed2mah1" and dropped["line"] == 3
    assert dropped["file"].endswith("goemotions_2.csv")
    assert "no label chosen by at least 2 raters" in dropped["reason"]


def test_raw_loader_min_raters_is_configurable(raw_dir):
    dataset = load_goemotions_raw(sorted(raw_dir.glob("*.csv")), min_raters=1)
    labels = {row["id"]: GOEMOTIONS.to_names(row["labels"]) for row in dataset}
    assert labels["goemotions:ed2mah1"] == ["curiosity", "neutral"]
    assert labels["goemotions:eew5j0j"] == ["anger", "sadness"]
    assert len(load_goemotions_raw(raw_dir, min_raters=3)) == 0


def test_raw_loader_bad_rows(raw_dir):
    bad = raw_dir / "goemotions_3.csv"
    rows = [_rating("ok", "x1", 1, ["joy"]), _rating("ok", "x1", 2, ["joy"])]
    rows.append(_rating("bad flag", "x2", 3, ["joy"])[:-1] + ["7"])
    rows.append(_rating("bad unclear", "x3", 4, ["joy"])[:8] + ["maybe"] + rows[0][9:])
    rows.append(_rating("", "x4", 5, ["joy"]))
    with open(bad, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(RAW_HEADER)
        writer.writerows(rows)
    with pytest.raises(SourceError, match=r"goemotions_3\.csv, line 4: emotion columns must be 0 or 1"):
        load_goemotions_raw(bad)
    report = LoadReport()
    dataset = load_goemotions_raw(bad, on_error="skip", report=report)
    assert dataset["id"] == ["goemotions:x1"]
    assert [s["line"] for s in report.skipped] == [4, 5, 6]
    assert "example_very_unclear must be True/False" in report.skipped[1]["reason"]
    assert report.skipped[2]["reason"] == "empty text"


def test_raw_loader_rejects_a_file_without_the_emotion_columns(tmp_path):
    file = _write(tmp_path / "goemotions_1.csv", "text,id,rater_id,example_very_unclear\nhi,a,1,False\n")
    with pytest.raises(SourceError, match=r"line 1: header lacks column\(s\) \['admiration'"):
        load_goemotions_raw(file)


# ---------------------------------------------------------------- load_dataset_any


def test_load_dataset_any_reads_goemotions_folder_and_file(goemotions_dir):
    assert len(load_dataset_any(goemotions_dir, "test")) == 5427
    assert len(load_dataset_any(goemotions_dir / "dev.tsv")) == 5426


def test_load_dataset_any_round_trips_saved_formats(goemotions_dir, tmp_path):
    dataset = load_goemotions(goemotions_dir, split="dev").select(range(300))
    expected = dataset.to_list()
    dataset.save_to_disk(str(tmp_path / "disk"))
    datasets.DatasetDict({"train": dataset, "validation": dataset.select(range(5))}).save_to_disk(
        str(tmp_path / "dict")
    )
    dataset.to_parquet(str(tmp_path / "set.parquet"))
    dataset.to_json(str(tmp_path / "set.jsonl"))
    dataset.to_csv(str(tmp_path / "set.csv"), index=False)
    hub = tmp_path / "hub" / "data"
    hub.mkdir(parents=True)
    dataset.to_parquet(str(hub / "train-00000-of-00001.parquet"))
    dataset.select(range(7)).to_parquet(str(hub / "test-00000-of-00001.parquet"))
    for name in ("disk", "dict", "set.parquet", "set.jsonl", "set.csv", "hub"):
        loaded = load_dataset_any(tmp_path / name)
        assert loaded.to_list() == expected, name
        assert loaded.features == dataset.features, name
    assert len(load_dataset_any(tmp_path / "dict", split="dev")) == 5
    assert len(load_dataset_any(tmp_path / "hub", split="test")) == 7


def test_load_dataset_any_detects_sentiment140_and_raw(shared_sentiment140_dir, raw_dir):
    tweets = load_dataset_any(shared_sentiment140_dir / "testdata.manual.2009.06.14.csv")
    assert len(tweets) == 498 and set(tweets["source"]) == {"sentiment140"}
    assert len(load_dataset_any(raw_dir)) == 2


def test_load_dataset_any_accepts_a_hf_goemotions_style_dataset():
    names = datasets.Sequence(datasets.ClassLabel(names=list(GOEMOTIONS.names)))
    hub_like = datasets.Dataset.from_dict(
        {"text": ["I am so happy", "ok"], "labels": [[17], [27]], "id": ["a1", "a2"]},
        features=datasets.Features(
            {"text": datasets.Value("string"), "labels": names, "id": datasets.Value("string")}
        ),
    )
    loaded = load_dataset_any(hub_like)
    assert loaded["labels"] == [[17], [27]] and loaded["id"] == ["custom:a1", "custom:a2"]


def test_load_dataset_any_explains_unknown_inputs(tmp_path):
    with pytest.raises(
        FileNotFoundError,
        match="accepted: .packaged. \\(GoEmotions shipped in the package\\); a GoEmotions TSV",
    ):
        load_dataset_any(tmp_path / "missing.parquet")
    _write(tmp_path / "notes.docx", "x")
    with pytest.raises(ValueError, match="unsupported file type '.docx'"):
        load_dataset_any(tmp_path / "notes.docx")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="folder holds nothing loadable"):
        load_dataset_any(tmp_path / "empty")


def test_hub_id_without_network_says_to_pass_a_local_path():
    code = (
        "from goemobalance.sources import load_dataset_any\n"
        "try:\n    load_dataset_any('google-research-datasets/go_emotions')\n"
        "except ConnectionError as exc:\n    print('ERR', exc)\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env, timeout=120
    )
    assert "ERR could not load 'google-research-datasets/go_emotions'" in result.stdout
    assert "pass a local path" in result.stdout


# ---------------------------------------------------------------- vectorized validation == schema.validate


def _table_dataset(rows, features):
    table = pa.Table.from_pylist(rows, schema=features.arrow_schema)
    return datasets.Dataset(table, info=datasets.DatasetInfo(features=features))


@pytest.mark.parametrize(
    "field, value",
    [("id", ""), ("id", "goemotions:ROW0"), ("text", "   "), ("labels", []), ("labels", [3, 3]), ("labels", [40]),
     ("source", ""), ("label_origin", "robot"), ("scores", [0.5]), ("scores", [2.0] * 28), ("meta", "[1]"),
     ("meta", "{oops")],
)  # fmt: skip
def test_vectorized_validate_names_the_bad_row_and_field(goemotions_test, field, value):
    rows = goemotions_test.select(range(50)).to_list()
    if value == "goemotions:ROW0":
        value = rows[0]["id"]
    rows[17][field] = value
    dataset = _table_dataset(rows, goemotions_test.features)
    with pytest.raises(SchemaError, match=rf"^row 17 \(id='[^']*'\), field '{field}': "):
        validate(dataset)


def test_validate_accepts_good_and_unlabeled_rows(goemotions_test):
    validate(goemotions_test)
    rows = goemotions_test.select(range(5)).to_list()
    rows[2]["labels"] = []
    dataset = _table_dataset(rows, goemotions_test.features)
    validate(dataset, allow_unlabeled=True)
    with pytest.raises(SchemaError, match="row 2 .*'labels': no labels"):
        validate(dataset)


# ---------------------------------------------------------------- gzip copies shipped in the package


def test_packaged_gzip_copies_load_like_the_originals(shared_goemotions_dir, shared_sentiment140_dir):
    from goemobalance.data import packaged_file

    packaged = load_goemotions(packaged_file("goemotions/dev"), split="dev")
    assert packaged.to_list() == load_goemotions(shared_goemotions_dir, split="dev").to_list()
    test = load_dataset_any(packaged_file("goemotions/test"))
    assert len(test) == 5427 and json.loads(test[0]["meta"])["split"] == "test"
    shipped = gzip.decompress(packaged_file("sentiment140/sample").read_bytes())
    assert shipped == (shared_sentiment140_dir / "training_sample.csv").read_bytes()
    tweets = load_dataset_any(packaged_file("sentiment140/sample"))
    assert len(tweets) == 38915 and set(tweets["label_origin"]) == {"pseudo"}


def test_gzipped_tables_and_tsv_folders(tmp_path):
    (tmp_path / "train.tsv.gz").write_bytes(gzip.compress(b"so proud of you\t21\tp1\n"))
    assert load_dataset_any(tmp_path)["labels"] == [[21]]
    table = tmp_path / "t.csv.gz"
    table.write_bytes(gzip.compress(b"text,labels\nrelieved now,relief\n"))
    assert load_dataset_any(table)["labels"] == [[GOEMOTIONS.id("relief")]]


def test_load_dataset_any_keeps_an_unlabeled_pool_saved_as_jsonl(sentiment140_sample, tmp_path):
    from goemobalance.sources import load_sentiment140

    pool = load_sentiment140(sentiment140_sample, limit=20)
    pool.to_json(str(tmp_path / "pool.jsonl"))
    pool.to_csv(str(tmp_path / "pool.csv"), index=False)
    for name in ("pool.jsonl", "pool.csv"):
        loaded = load_dataset_any(tmp_path / name)
        assert loaded.to_list() == pool.to_list(), name
