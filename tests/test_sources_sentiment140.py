"""Sentiment140 loader on the real sample and on malformed files written here."""

from __future__ import annotations

import csv
import json

import pytest

from goemobalance.sources import CleanOptions, LoadReport, SourceError, load_sentiment140


@pytest.fixture(scope="module")
def sample(sentiment140_sample):
    """The 38,915-row sample (shared, or the same file shipped in the package): the tests on it check
    figures of that file (row and polarity counts, particular tweets)."""
    return load_sentiment140(sentiment140_sample)


def _by_tweet(dataset, tweet_id: str) -> dict:
    (row,) = dataset.filter(
        lambda record_id: record_id == f"sentiment140:{tweet_id}", input_columns="id"
    ).to_list()
    return row


def test_sample_has_every_row_unlabeled_with_source_fields_in_meta(sample):
    assert len(sample) == 38915
    first = sample[0]
    assert first["id"] == "sentiment140:1467810369"
    assert first["labels"] == [] and first["label_origin"] == "pseudo" and first["scores"] == []
    assert first["text"].startswith("@switchfoot http://twitpic.com/2y1zl - Awww, that's a bummer.")
    meta = json.loads(first["meta"])
    assert meta == {
        "date": "Mon Apr 06 22:19:45 PDT 2009", "encoding": "ascii", "labeled": False, "line": 1,
        "polarity": 0, "polarity_name": "negative", "query": "NO_QUERY", "tweet_id": "1467810369",
        "user": "_TheSpecialOne_",
    }  # fmt: skip
    polarities = [json.loads(m)["polarity"] for m in sample["meta"]]
    assert polarities.count(0) == 20474 and polarities.count(4) == 18441


def test_sample_non_ascii_text_survives(sample):
    pound = _by_tweet(sample, "1981720296")
    assert "You lost assets totaling £18.10K" in pound["text"]
    assert "I heart Ségolene Royal!" in _by_tweet(sample, "2009997928")["text"]
    assert "öh filica day" in _by_tweet(sample, "2001095716")["text"]
    assert json.loads(pound["meta"])["encoding"] == "utf-8"


def _utf8_non_ascii(line: bytes) -> bool:
    try:
        return not line.isascii() and bool(line.decode("utf-8"))
    except UnicodeDecodeError:
        return False


def test_latin1_mode_is_byte_exact(sentiment140_sample):
    """On the first line of the real sample with UTF-8 bytes (shared or packaged sample alike): latin-1 mode
    keeps every byte as one character (mojibake), auto mode decodes the UTF-8."""
    lines = sentiment140_sample.read_bytes().split(b"\n")
    index = next(i for i, line in enumerate(lines) if _utf8_non_ascii(line))
    fields = next(csv.reader([lines[index].rstrip(b"\r").decode("latin-1")]))
    strict = load_sentiment140(sentiment140_sample, encoding="latin-1", limit=index + 1)
    row = strict[len(strict) - 1]
    assert row["id"] == f"sentiment140:{fields[1]}"
    assert row["text"] == fields[5] and row["text"].encode("latin-1") in lines[index]
    auto = load_sentiment140(sentiment140_sample, limit=index + 1)
    decoded = auto[len(auto) - 1]
    assert decoded["text"] == fields[5].encode("latin-1").decode("utf-8") != row["text"]
    assert json.loads(decoded["meta"])["encoding"] == "utf-8"


def test_genuine_latin1_bytes_are_read_as_latin1(tmp_path):
    file = tmp_path / "tweets.csv"
    file.write_bytes(
        b'"4","11","Mon Apr 06 22:19:45 PDT 2009","NO_QUERY","ana","caf\xe9 con leche, se\xf1or"\n'
        b'"0","12","Mon Apr 06 22:19:46 PDT 2009","NO_QUERY","bo","na\xc3\xafve utf-8"\n'
    )
    dataset = load_sentiment140(file)
    assert dataset["text"] == ["café con leche, señor", "naïve utf-8"]
    assert [json.loads(m)["encoding"] for m in dataset["meta"]] == ["latin-1", "utf-8"]
    with pytest.raises(SourceError, match=r"tweets\.csv, line 1: undecodable bytes for utf-8"):
        load_sentiment140(file, encoding="utf-8")


def test_cleaning_is_applied_and_recorded(tmp_path):
    file = tmp_path / "tweets.csv"
    file.write_text(
        '"4","21","d","NO_QUERY","u","@kim loving it &amp; more   http://bit.ly/x &lt;3 www.example.com "\n'
        '"0","22","d","NO_QUERY","u","plain text"\n',
        encoding="latin-1",
    )
    dataset = load_sentiment140(file, clean=True)
    assert dataset["text"] == ["loving it & more <3", "plain text"]
    meta = json.loads(dataset[0]["meta"])
    assert meta["cleaning"]["urls"] and meta["cleaning"]["mentions"] and meta["cleaning"]["html_entities"]
    assert meta["raw_text"].startswith("@kim loving it &amp; more")
    assert "raw_text" not in json.loads(dataset[1]["meta"])
    tokens = load_sentiment140(
        file, clean=CleanOptions(url_token="<url>", mention_token="@user", keep_raw_text=False)
    )
    assert tokens[0]["text"] == "@user loving it & more <url> <3 <url>"
    assert "raw_text" not in json.loads(tokens[0]["meta"])
    assert load_sentiment140(file, clean={"mentions": False})[0]["text"].startswith("@kim loving it & more")


BAD_LINES = [
    (b'"4","31","d","q","u"', "expected 6 quoted fields"),
    (b'"7","32","d","q","u","bad polarity"', "polarity must be 0, 2 or 4"),
    (b'"4","abc","d","q","u","bad id"', "tweet id must be digits"),
    (b'"4","34","d","q","u","   "', "empty text"),
    (b'"4","1","d","q","u","duplicate of line 1"', "duplicate tweet id 1, first seen on line 1"),
]


@pytest.mark.parametrize("bad, message", BAD_LINES)
def test_bad_line_raises_with_file_and_line(tmp_path, bad, message):
    file = tmp_path / "bad.csv"
    file.write_bytes(b'"0","1","d","q","u","fine"\n' + bad + b'\n"4","99","d","q","u","fine too"\n')
    with pytest.raises(SourceError, match=rf"bad\.csv, line 2: {message}"):
        load_sentiment140(file)


def test_skip_mode_counts_every_bad_line(tmp_path):
    file = tmp_path / "bad.csv"
    body = [b'"0","1","d","q","u","fine"'] + [bad for bad, _ in BAD_LINES] + [b'"4","99","d","q","u","ok"']
    file.write_bytes(b"\r\n".join(body) + b"\r\n")
    report = LoadReport()
    dataset = load_sentiment140(file, on_error="skip", report=report)
    assert dataset["id"] == ["sentiment140:1", "sentiment140:99"]
    assert dataset["text"] == ["fine", "ok"]
    assert report.rows_read == 7 and report.rows_loaded == 2 and report.rows_skipped == 5
    assert [item["line"] for item in report.skipped] == [2, 3, 4, 5, 6]


def test_text_emptied_by_cleaning_is_reported(tmp_path):
    file = tmp_path / "t.csv"
    file.write_text(
        '"0","1","d","q","u","@only_a_mention "\n"4","2","d","q","u","words"\n', encoding="latin-1"
    )
    with pytest.raises(SourceError, match="line 1: empty text after cleaning"):
        load_sentiment140(file, clean=True)
    report = LoadReport()
    assert load_sentiment140(file, clean=True, on_error="skip", report=report)["text"] == ["words"]
    assert report.rows_skipped == 1


def test_limit_and_quoted_quotes(tmp_path):
    file = tmp_path / "q.csv"
    file.write_text(
        '"0","1","d","q","u","she said ""hi"", then left"\n"4","2","d","q","u","b"\n', encoding="latin-1"
    )
    assert load_sentiment140(file)[0]["text"] == 'she said "hi", then left'
    assert len(load_sentiment140(file, limit=1)) == 1


def test_packaged_reads_the_sample_shipped_in_the_package():
    """``load_sentiment140("packaged")`` reads the shipped sample, as ``load_goemotions("packaged")`` does."""
    import gzip

    from goemobalance.data import packaged_file

    tweets = load_sentiment140("packaged", limit=50)
    with gzip.open(packaged_file("sentiment140/sample"), "rt", encoding="latin-1") as file:
        first_id = file.readline().split('","')[1]
    assert len(tweets) == 50
    assert tweets[0]["id"] == f"sentiment140:{first_id}"
    assert tweets[0]["labels"] == []
