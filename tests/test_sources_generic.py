"""Generic table loader: CSV / TSV / JSONL / Parquet / Dataset inputs, label formats, bad rows."""

from __future__ import annotations

import json

import datasets
import pandas as pd
import pytest

from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.sources import LoadReport, SourceError, load_table


def _ids(*names: str) -> list[int]:
    return sorted(GOEMOTIONS.ids(names))


FRAME = pd.DataFrame(
    {
        "comment": ["I love this so much", "meh, whatever", "Why would you do that?"],
        "emotions": ["love,joy", "neutral", "confusion, curiosity"],
        "ids": ["18,17", "27", "6,7"],
        "key": ["c1", "c2", "c3"],
        "subreddit": ["r/aww", "r/all", "r/nba"],
    }
)
EXPECTED = [_ids("love", "joy"), _ids("neutral"), _ids("confusion", "curiosity")]


@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl", "parquet", "dataset"])
@pytest.mark.parametrize("column", ["emotions", "ids"])
def test_every_format_and_label_column_kind(tmp_path, kind, column):
    frame = FRAME
    if kind == "csv":
        source = tmp_path / "t.csv"
        frame.to_csv(source, index=False)
    elif kind == "tsv":
        source = tmp_path / "t.tsv"
        frame.to_csv(source, index=False, sep="\t")
    elif kind == "jsonl":
        source = tmp_path / "t.jsonl"
        frame.to_json(source, orient="records", lines=True)
    elif kind == "parquet":
        source = tmp_path / "t.parquet"
        frame.to_parquet(source)
    else:
        source = datasets.Dataset.from_pandas(frame)
    dataset = load_table(
        source, text_column="comment", labels_column=column, id_column="key", source="reddit"
    )
    assert dataset["labels"] == EXPECTED
    assert dataset["id"] == ["reddit:c1", "reddit:c2", "reddit:c3"]
    assert set(dataset["source"]) == {"reddit"} and set(dataset["label_origin"]) == {"human"}
    assert json.loads(dataset[0]["meta"])["subreddit"] == "r/aww"


def test_label_lists_and_multi_hot_columns(tmp_path):
    names = datasets.Dataset.from_dict({"text": ["a", "b"], "labels": [["anger", "fear"], ["Neutral "]]})
    assert load_table(names)["labels"] == [_ids("anger", "fear"), [27]]
    ids = datasets.Dataset.from_dict({"text": ["a", "b"], "labels": [[14, 2], [27]]})
    assert load_table(ids, label_format="ids")["labels"] == [_ids("anger", "fear"), [27]]
    with pytest.raises(SourceError, match="row 1: label ids must be integers, got 'anger'"):
        load_table(names, label_format="ids")
    frame = pd.DataFrame(
        {"text": ["x", "y", "z"], "joy": [1, 0, 1], "fear": [0, 1, 1], "extra": ["e1", "e2", "e3"]}
    )
    frame.to_csv(tmp_path / "m.csv", index=False)
    explicit = load_table(tmp_path / "m.csv", label_columns=["joy", "fear"])
    assert explicit["labels"] == [_ids("joy"), _ids("fear"), _ids("joy", "fear")]
    detected = load_table(tmp_path / "m.csv", label_format="multi_hot")
    assert detected["labels"] == explicit["labels"]
    renamed = frame.rename(columns={"joy": "is_happy"})
    renamed.to_parquet(tmp_path / "m.parquet")
    mapped = load_table(tmp_path / "m.parquet", label_columns={"is_happy": "joy", "fear": "fear"})
    assert mapped["labels"] == explicit["labels"]
    assert json.loads(mapped[0]["meta"]) == {"extra": "e1"}
    assert mapped["id"] == ["custom:0", "custom:1", "custom:2"]


def test_custom_label_space_and_names_format():
    space = LabelSpace(("pos", "neg"))
    data = datasets.Dataset.from_dict({"text": ["good", "bad"], "labels": ["pos", "neg"]})
    dataset = load_table(data, space=space, label_format="names")
    assert dataset["labels"] == [[0], [1]]
    assert dataset.features["labels"].feature.names == ["pos", "neg"]


def test_dataset_with_other_class_label_order_is_translated_by_name():
    names = ["sadness", "joy"]
    features = datasets.Features({"text": datasets.Value("string"),
                                  "labels": datasets.Sequence(datasets.ClassLabel(names=names))})  # fmt: skip
    data = datasets.Dataset.from_dict({"text": ["sad", "happy"], "labels": [[0], [1]]}, features=features)
    assert load_table(data)["labels"] == [_ids("sadness"), _ids("joy")]


def test_no_label_column_gives_unlabeled_rows_marked_for_the_labeler():
    data = datasets.Dataset.from_dict({"text": ["to be labeled"]})
    (row,) = load_table(data).to_list()
    assert row["labels"] == [] and row["label_origin"] == "pseudo"
    assert json.loads(row["meta"]) == {"labeled": False}


BAD_CSV_ROWS = [
    ('x,"unknown",3', "unknown label name 'unknown'"),
    ("x,31,3", "unknown label id 31"),
    (",joy,3", "empty text in column 'text'"),
    ("x,joy", "malformed row: expected 3 fields, got 2"),
    ("x,,3", "no labels"),
    ("x,joy,", "empty id in column 'id'"),
]


@pytest.mark.parametrize("bad, message", BAD_CSV_ROWS)
def test_bad_csv_row_raises_with_file_and_line(tmp_path, bad, message):
    file = tmp_path / "bad.csv"
    file.write_text(f"text,labels,id\nfine,joy,1\n{bad}\nfine,love,2\n", encoding="utf-8")
    with pytest.raises(SourceError, match=rf"bad\.csv, line 3: {message}"):
        load_table(file)


def test_skip_mode_counts_every_bad_row_including_undecodable_bytes(tmp_path):
    file = tmp_path / "bad.csv"
    lines = [b"text,labels,id", b"fine,joy,1"] + [bad.encode() for bad, _ in BAD_CSV_ROWS]
    lines += [b"caf\xe9,joy,9", b"fine,love,2"]
    file.write_bytes(b"\n".join(lines) + b"\n")
    report = LoadReport()
    dataset = load_table(file, on_error="skip", report=report)
    assert dataset["id"] == ["custom:1", "custom:2"]
    assert report.rows_read == 9 and report.rows_loaded == 2 and report.rows_skipped == 7
    assert [s["line"] for s in report.skipped] == [3, 4, 5, 6, 7, 8, 9]
    assert "undecodable bytes" in report.skipped[-1]["reason"]


def test_bad_jsonl_and_parquet_rows_name_their_position(tmp_path):
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text(
        '{"text": "ok", "labels": [1]}\n{"text": "broken", \n["not", "an object"]\n', encoding="utf-8"
    )
    with pytest.raises(SourceError, match=r"bad\.jsonl, line 2: malformed JSON"):
        load_table(jsonl)
    report = LoadReport()
    assert len(load_table(jsonl, on_error="skip", report=report)) == 1
    assert [s["line"] for s in report.skipped] == [2, 3]
    assert "expected a JSON object" in report.skipped[1]["reason"]
    parquet = tmp_path / "bad.parquet"
    pd.DataFrame({"text": ["ok", "bad"], "labels": ["joy", "jolly"]}).to_parquet(parquet)
    with pytest.raises(SourceError, match=r"bad\.parquet, row 2: unknown label name 'jolly'"):
        load_table(parquet)


def test_mapping_errors_name_the_missing_column(tmp_path):
    file = tmp_path / "t.csv"
    file.write_text("body,labels\nhello,joy\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no text column 'text'; columns are \\['body', 'labels'\\]"):
        load_table(file)
    with pytest.raises(ValueError, match="no labels column 'emotion'"):
        load_table(file, text_column="body", labels_column="emotion")
    with pytest.raises(ValueError, match="label_format must be one of"):
        load_table(file, text_column="body", label_format="bits")
