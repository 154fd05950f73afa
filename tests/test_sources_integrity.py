"""Issue 13/15/16 regressions for the loaders: nothing lost, nothing stale, every bad row named and counted.

Each test names the bug it guards against; all of them failed on the row-by-row loaders they replace.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import zlib

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from goemobalance.errors import InputError
from goemobalance.labels import GOEMOTIONS
from goemobalance.sources import (
    CleanOptions,
    LoadReport,
    SourceError,
    load_dataset_any,
    load_goemotions,
    load_sentiment140,
    load_table,
    read_hub_folder,
)

BOM = b"\xef\xbb\xbf"


def _tweet(tweet_id: int, text: str, polarity: int = 4) -> bytes:
    return f'"{polarity}","{tweet_id}","Mon Apr 06 22:19:45 PDT 2009","NO_QUERY","user{tweet_id}","{text}"\n'.encode()


def _truncated_gzip(path, data: bytes, keep: float = 0.6) -> None:
    compressed = gzip.compress(data)
    path.write_bytes(compressed[: int(len(compressed) * keep)])


# ---------------------------------------------------------------- byte order mark


def test_bom_is_dropped_in_every_text_format(tmp_path):
    """Bug: the BOM ended up in the first text (TSV) or first field (the CSV header, the tweet polarity)."""
    tsv = tmp_path / "train.tsv"
    tsv.write_bytes(BOM + b"so proud of you\t21\tp1\n")
    assert load_goemotions(tsv)[0]["text"] == "so proud of you"
    tweets = tmp_path / "tweets.csv"
    tweets.write_bytes(BOM + _tweet(1, "first tweet"))
    assert load_sentiment140(tweets)["text"] == ["first tweet"]
    table = tmp_path / "table.csv"
    table.write_bytes(BOM + b"text,labels\nrelieved now,relief\n")
    assert load_table(table)["labels"] == [[GOEMOTIONS.id("relief")]]
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_bytes(BOM + b'{"text": "hi", "labels": [17]}\n')
    assert load_table(jsonl)["text"] == ["hi"]


# ---------------------------------------------------------------- truncated gzip


def test_truncated_gzip_keeps_complete_rows_when_skipping_and_names_the_file_when_raising(tmp_path):
    """Bug: a truncated .gz raised EOFError even with on_error="skip", losing every row."""
    rows = b"".join(_tweet(i, f"tweet number {i} " + "x" * 40) for i in range(1, 3001))
    broken = tmp_path / "tweets.csv.gz"
    _truncated_gzip(broken, rows)
    report = LoadReport()
    loaded = load_sentiment140(broken, on_error="skip", report=report)
    complete = len(zlib.decompressobj(wbits=31).decompress(broken.read_bytes()).split(b"\n")) - 1
    assert len(loaded) == complete > 1000
    assert loaded[len(loaded) - 1]["id"] == f"sentiment140:{complete}"
    (item,) = [s for s in report.skipped if s["kind"] == "truncated_file"]
    assert item["file"] == str(broken) and item["line"] == complete + 1
    assert report.reasons() == {"truncated_file": 1}
    with pytest.raises(
        SourceError, match=rf"tweets\.csv\.gz, line {complete + 1}: the gzip file is truncated"
    ):
        load_sentiment140(broken)


@pytest.mark.parametrize("name", ["train.tsv.gz", "table.csv.gz", "rows.jsonl.gz"])
def test_truncated_gzip_in_the_other_loaders(tmp_path, name):
    """Bug: the GoEmotions TSV and generic loaders raised EOFError on a truncated .gz."""
    n = 4000
    if name.startswith("train"):
        body = "".join(f"text {i} with some words\t{i % 28}\tid{i}\n" for i in range(n))
    elif name.startswith("table"):
        body = "text,labels\n" + "".join(f"text {i} with some words,{i % 28}\n" for i in range(n))
    else:
        body = "".join(
            json.dumps({"text": f"text {i} with some words", "labels": [i % 28]}) + "\n" for i in range(n)
        )
    path = tmp_path / name
    _truncated_gzip(path, body.encode())
    report = LoadReport()
    loaded = load_dataset_any(path, on_error="skip", report=report)
    assert 100 < len(loaded) < n
    assert report.reasons()["truncated_file"] == 1
    with pytest.raises(InputError, match=re.escape(name) + r", line \d+: the gzip file is truncated"):
        load_dataset_any(path)


# ---------------------------------------------------------------- quoted newlines and line numbers


def test_quoted_newline_reads_as_the_csv_module_reads_it_and_later_lines_stay_right(tmp_path):
    """Bug: a tweet with a newline inside quotes was cut at the newline (and the rest became a bad line)."""
    data = _tweet(1, "first line\nsecond line") + _tweet(2, "fine") + b'"9","3","d","q","u","bad polarity"\n'
    path = tmp_path / "tweets.csv"
    path.write_bytes(data)
    expected = next(csv.reader(io.StringIO(data.decode(), newline="")))[5]
    report = LoadReport()
    loaded = load_sentiment140(path, on_error="skip", report=report)
    assert loaded["text"] == [expected, "fine"] and expected == "first line\nsecond line"
    assert [json.loads(m)["line"] for m in loaded["meta"]] == [1, 3]
    assert [(s["line"], s["kind"]) for s in report.skipped] == [(4, "bad_polarity")]
    with pytest.raises(SourceError, match=r"tweets\.csv, line 4: polarity must be 0, 2 or 4, got 9"):
        load_sentiment140(path)


def test_generic_csv_quoted_newline_and_the_line_of_a_later_bad_row(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('text,labels\n"two\nlines",joy\nfine,joy\nbad,jolly\n', encoding="utf-8")
    with pytest.raises(SourceError, match=r"t\.csv, line 5: unknown label name 'jolly'"):
        load_table(path)
    assert load_table(path, on_error="skip")["text"] == ["two\nlines", "fine"]


def test_parquet_and_dataset_rows_are_named_one_based_with_the_file(tmp_path):
    """Bug: Parquet files and Datasets named bad rows 0-based."""
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"text": ["ok", "ok too", "bad"], "labels": ["joy", "love", "jolly"]}), path)
    with pytest.raises(SourceError, match=rf"^{path}, row 3: unknown label name 'jolly'"):
        load_table(path)
    data = datasets.Dataset.from_dict({"text": ["", "fine"], "labels": ["joy", "joy"]})
    with pytest.raises(SourceError, match=r"^<datasets\.Dataset>, row 1: empty text"):
        load_table(data)


# ---------------------------------------------------------------- duplicate ids


def test_duplicate_ids_name_the_file_and_the_line_of_the_second_occurrence(tmp_path):
    """Bug: duplicate ids raised a SchemaError with a 0-based row and no file name."""
    path = tmp_path / "dups.csv"
    path.write_text("id,text,labels\na,one,joy\nb,two,joy\na,three,love\n", encoding="utf-8")
    with pytest.raises(
        SourceError, match=r"dups\.csv, line 4: duplicate id 'custom:a', first seen on line 2"
    ):
        load_table(path)
    report = LoadReport()
    assert load_table(path, on_error="skip", report=report)["text"] == ["one", "two"]
    assert report.reasons() == {"duplicate_id": 1}
    tsv = tmp_path / "dev.tsv"
    tsv.write_text("one\t1\tc1\ntwo\t2\tc2\nthree\t3\tc1\n", encoding="utf-8")
    with pytest.raises(
        SourceError, match=r"dev\.tsv, line 3: duplicate comment id 'c1', first seen on line 1"
    ):
        load_goemotions(tsv)


def test_a_repeated_id_before_another_bad_row_is_the_error_raised(tmp_path):
    """Under "raise" the first bad line of the file is named, even when it is a repeat found across batches."""
    path = tmp_path / "tweets.csv"
    path.write_bytes(_tweet(1, "a") + _tweet(1, "again") + _tweet(3, "   "))
    with pytest.raises(SourceError, match=r"line 2: duplicate tweet id 1, first seen on line 1"):
        load_sentiment140(path)


# ---------------------------------------------------------------- counted by reason


def test_skipped_rows_are_counted_by_reason_kind(tmp_path):
    path = tmp_path / "tweets.csv"
    path.write_bytes(
        _tweet(1, "ok") + b'"4","2","d"\n' + b'"7","3","d","q","u","x"\n' + b'"4","abc","d","q","u","x"\n'
        + _tweet(5, "   ") + _tweet(6, "@only") + _tweet(1, "dup") + b"\n"
    )  # fmt: skip
    report = LoadReport()
    loaded = load_sentiment140(path, clean=True, on_error="skip", report=report)
    assert loaded["id"] == ["sentiment140:1"]
    assert report.reasons() == {
        "field_count": 1, "bad_polarity": 1, "bad_tweet_id": 1, "empty_text": 1, "empty_after_cleaning": 1,
        "duplicate_id": 1,
    }  # fmt: skip
    assert report.rows_read == 7 and report.rows_skipped == 6 and report.counts["blank_lines"] == 1
    assert report.to_dict()["reasons"]["duplicate_id"] == 1


# ---------------------------------------------------------------- published folders, splits, packaged


def _hub_folder(folder, splits: dict[str, datasets.Dataset]) -> None:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text("# a published dataset\n", encoding="utf-8")
    for name, dataset in splits.items():
        _write_shard(dataset, folder / "data" / f"{name}-00000-of-00001.parquet")


def _write_shard(dataset: datasets.Dataset, path) -> None:
    """Uncompressed, no dictionary or statistics: a same-length edit gives a file of the same size."""
    pq.write_table(dataset.data.table, path, compression="none", use_dictionary=False, write_statistics=False)


def test_republished_folder_with_a_same_length_edit_reads_back_the_new_rows(goemotions_test, tmp_path):
    """Bug: reading a Hub-layout folder went through the datasets cache, keyed by folder and mtime, so a
    same-length edit republished with the old mtime (cp -p, rsync -t) returned the previous rows."""
    folder = tmp_path / "published"
    rows = goemotions_test.select(range(50))
    _hub_folder(folder, {"train": rows})
    assert load_dataset_any(folder)["text"] == rows["text"]
    shard = folder / "data" / "train-00000-of-00001.parquet"
    before = os.stat(shard)
    texts = rows.data.column("text").to_pylist()
    texts[0] = texts[0].translate(str.maketrans("aeiouy", "AEIOUY"))
    table = rows.data.table
    edited = table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts, pa.string()))
    pq.write_table(edited, shard, compression="none", use_dictionary=False, write_statistics=False)
    os.utime(shard, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(shard).st_size == before.st_size and texts[0] != rows[0]["text"]
    assert load_dataset_any(folder)[0]["text"] == texts[0]


def test_split_aware_loading_with_the_dev_alias_and_unknown_splits(goemotions_test, tmp_path):
    """Bug: an unknown split was a plain ValueError (an 'internal error' in the CLI), and read_hub_folder did
    not exist; `--val DIR` needs the validation split of a DatasetDict folder."""
    parts = {"train": goemotions_test.select(range(30)), "validation": goemotions_test.select(range(30, 37)),
             "test": goemotions_test.select(range(37, 40))}  # fmt: skip
    datasets.DatasetDict(parts).save_to_disk(str(tmp_path / "disk"))
    _hub_folder(tmp_path / "hub", parts)
    for name in ("disk", "hub"):
        folder = tmp_path / name
        assert load_dataset_any(folder)["id"] == parts["train"]["id"]
        for split in ("validation", "dev"):
            assert load_dataset_any(folder, split=split)["id"] == parts["validation"]["id"], (name, split)
        assert load_dataset_any(folder, split="test")["id"] == parts["test"]["id"]
        with pytest.raises(InputError, match=r"no split 'holdout'; the splits there are \['train', 'validation', 'test'\]|"
                           r"no split 'holdout'; the splits there are \['test', 'train', 'validation'\]"):  # fmt: skip
            load_dataset_any(folder, split="holdout")
    assert sorted(read_hub_folder(tmp_path / "hub")) == ["test", "train", "validation"]


def test_packaged_is_accepted_wherever_a_goemotions_path_is(goemotions_dir):
    """Bug: 'packaged' was only understood by recipes; load_dataset_any and load_goemotions rejected it."""
    test = load_dataset_any("packaged", split="test")
    assert len(test) == 5427 and test["id"] == load_goemotions(goemotions_dir, split="test")["id"]
    assert load_dataset_any("packaged", split="validation")["id"] == load_goemotions("packaged", "dev")["id"]
    assert len(load_dataset_any("packaged")) == 43410
    with pytest.raises(
        InputError, match=r"packaged: no split 'eval'; the splits there are \['train', 'dev', 'test'\]"
    ):
        load_dataset_any("packaged", split="eval")


# ---------------------------------------------------------------- same output as the reference


def _reference_rows(path, clean: CleanOptions | None) -> list[tuple[str, str, str]]:
    """(id, text, meta) per good line, computed row by row with the csv module and json.dumps."""
    rows = []
    raw_lines = path.read_bytes().split(b"\n")
    for line_no, raw in enumerate(raw_lines, start=1):
        if not raw:
            continue
        fields = next(csv.reader([raw.decode("latin-1")]))
        decoded, codecs = [], []
        for value in fields:
            data = value.encode("latin-1")
            try:
                decoded.append(data.decode("utf-8"))
                codecs.append("ascii" if data.isascii() else "utf-8")
            except UnicodeDecodeError:
                decoded.append(data.decode("latin-1"))
                codecs.append("latin-1")
        polarity, tweet_id, date, query, user, text = decoded
        cleaned = clean.apply(text) if clean else text
        if not cleaned:
            continue
        meta = {"date": date, "encoding": codecs[5], "labeled": False, "line": line_no, "polarity": int(polarity),
                "polarity_name": {0: "negative", 2: "neutral", 4: "positive"}[int(polarity)], "query": query,
                "tweet_id": tweet_id, "user": user}  # fmt: skip
        if clean:
            meta["cleaning"] = clean.to_dict()
            if cleaned != text:
                meta["raw_text"] = text
        rows.append(
            (f"sentiment140:{tweet_id}", cleaned, json.dumps(dict(sorted(meta.items())), ensure_ascii=False))
        )
    return rows


@pytest.mark.parametrize("clean", [None, CleanOptions(url_token="<url>", mention_token="@user")])
def test_arrow_loader_matches_the_row_by_row_reference_on_the_real_sample(sentiment140_sample, clean):
    """The vectorised decoding, cleaning (RE2 with Python's Unicode \\s and \\w) and meta JSON must give the
    bytes the row-by-row code gave, or every build hash changes."""
    path = sentiment140_sample
    loaded = load_sentiment140(path, clean=clean or False, on_error="skip")
    table = loaded.data
    got = list(zip(*(table.column(c).to_pylist() for c in ("id", "text", "meta"))))
    assert got == _reference_rows(path, clean)
