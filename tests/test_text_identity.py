"""One definition of "the same text": the generator, the audit, the build's leak guard and compare agree."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from goemobalance.audit import find_duplicates
from goemobalance.data import packaged_file
from goemobalance.errors import InputError, LeakError
from goemobalance.leaks import drop_eval_leaks
from goemobalance.llm.dedup import DuplicateIndex
from goemobalance.schema import from_records, make_record
from goemobalance.sources import load_goemotions
from goemobalance.text import (
    NEAR_DUPLICATE_THRESHOLD,
    cluster_texts,
    duplicate_groups,
    near_duplicate_pairs,
    normalize_text,
    similarity,
)
from goemobalance.train.compare import find_leaks

TEST_TEXTS = [
    "I can't believe they cancelled the show after only one season.",
    "My dog passed away this morning and I miss him so much already.",
    "This is the best pizza I have eaten in my entire life, honestly.",
    "Thank you so much for the kind words, they made my day!",
]
CANDIDATES = [
    ("I CANT believe they cancelled the show after only one season!!", "exact"),
    ("my dog passed away this morning &amp; I miss him so much already", "near"),
    ("This is the best pizza I have eaten in my whole entire life, honestly.", "near"),
    ("Thank you so much for the kind words, they made my week!", "near"),
    ("The weather in Lisbon was lovely this spring afternoon.", None),
    ("Thank you for the words.", None),
    ("!!!", None),
]


def dataset(texts: list[str], prefix: str = "r"):
    records = [
        make_record(id=f"{prefix}{i}", text=t, labels=[27], source="goemotions") for i, t in enumerate(texts)
    ]
    return from_records(records)


@pytest.fixture(scope="module")
def packaged_test():
    return load_goemotions(packaged_file("goemotions/test"), split="test")


@pytest.fixture(scope="module")
def packaged_dev():
    return load_goemotions(packaged_file("goemotions/dev"), split="dev")


def test_normalisation_rules_decide_what_is_the_same_text():
    same = [
        ("Don’t STOP!!", "dont stop"),
        ("see https://t.co/abc @Bob", "see http://bit.ly/x @al"),
        ("fish &amp; chips", "fish & chips"),
        ("ＦＵＬＬ width", "full width"),
        ("Straße", "STRASSE"),
        ("great😍", "great 😍"),
        ("❤️ it", "❤ it"),
        ("  a\tb\n c ", "a b c"),
    ]
    for a, b in same:
        assert normalize_text(a) == normalize_text(b), (a, b)
    assert normalize_text("great 😍") != normalize_text("great 😡")
    assert normalize_text("Hey @bob, see https://x.co NOW! Don't") == "hey user see url now dont"
    assert normalize_text("!!! ...") == "" and normalize_text(None) == ""


def test_generator_audit_and_leak_guard_agree_on_what_copies_a_test_text():
    """A text the generator rejects as a (near) duplicate of a test text is the one the audit flags as a
    leak and the leak guard drops; the texts it accepts are neither flagged nor dropped."""
    index = DuplicateIndex()
    index.add(TEST_TEXTS, "test")
    texts = [text for text, _ in CANDIDATES]
    reasons = [index.find([text])[0] for text in texts]
    rejected = {i for i, reason in enumerate(reasons) if reason and reason.endswith("_test")}
    assert [r.split("_")[0] if r else None for r in reasons] == [kind for _, kind in CANDIDATES]

    groups = find_duplicates(texts + TEST_TEXTS, splits=["train"] * len(texts) + ["test"] * len(TEST_TEXTS))
    flagged = {r for rows in groups.loc[groups["leak"], "rows"] for r in rows if r < len(texts)}
    kept, report = drop_eval_leaks(dataset(texts), {"goemotions_test": dataset(TEST_TEXTS, "t")})
    dropped = set(report.dropped_rows.tolist())

    assert rejected == flagged == dropped == {0, 1, 2, 3}
    assert len(kept) == len(texts) - len(rejected)
    assert report.per_eval["goemotions_test"] == {"rows": 4, "exact": 1, "near": 3, "dropped": 4}
    assert {g: k for g, k in zip(groups["rows"].map(min), groups["kind"])} == {
        0: "exact",
        1: "near",
        2: "near",
        3: "near",
    }


def test_generator_rejections_equal_leak_guard_drops_on_real_goemotions(packaged_test, packaged_dev):
    """GoEmotions dev screened against test by the generator's index and by the batch search of the leak
    guard: the same rows, exact and near (the LSH of both is one seeded hasher)."""
    dev, test = packaged_dev.select(range(3000)), packaged_test
    dev_texts = dev.with_format("arrow")["text"].to_pylist()
    index = DuplicateIndex()
    index.add(test.with_format("arrow")["text"].to_pylist(), "test")
    reasons = [index.find([text])[0] for text in dev_texts]
    rejected = {i for i, reason in enumerate(reasons) if reason and reason.endswith("_test")}
    _, report = drop_eval_leaks(dev, {"test": test})
    assert len(rejected) >= 20
    assert set(report.dropped_rows.tolist()) == rejected
    exact = {i for i in rejected if reasons[i].startswith("exact")}
    assert report.per_eval["test"]["exact"] == len(exact)


def test_near_duplicate_pairs_are_exact_jaccard_with_lsh_recall(packaged_test):
    """Every pair returned has true Jaccard >= threshold, and (almost) every true pair is returned."""
    texts = packaged_test.with_format("arrow")["text"].to_pylist()[:1500]
    rng = np.random.default_rng(0)
    variants = []
    for text in texts[:300]:
        words = text.split()
        if len(words) > 6:
            words.pop(int(rng.integers(len(words))))
        variants.append(" ".join(words))
    forms = list(dict.fromkeys(f for f in map(normalize_text, texts + variants) if f))
    pairs, scores = near_duplicate_pairs(forms)
    true_pairs, true_scores = _brute_force_pairs(forms, NEAR_DUPLICATE_THRESHOLD)
    found = set(map(tuple, pairs.tolist()))
    assert found <= set(true_pairs)
    for (i, j), score in zip(pairs.tolist(), scores):
        assert score == pytest.approx(similarity(forms[i], forms[j]))
    assert len(true_pairs) >= 150
    assert len(found) >= 0.99 * len(true_pairs)
    assert {p for p, s in zip(true_pairs, true_scores) if s >= 0.85} <= found


def _brute_force_pairs(forms: list[str], threshold: float) -> tuple[list[tuple[int, int]], list[float]]:
    from goemobalance.text import shingles

    sets = [shingles(f) for f in forms]
    vocabulary = {g: k for k, g in enumerate(np.unique(np.concatenate(sets)))}
    rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    cols = [vocabulary[g] for s in sets for g in s]
    matrix = sp.csr_matrix((np.ones(len(cols)), (rows, cols)))
    common = (matrix @ matrix.T).tocoo()
    sizes = np.array([len(s) for s in sets])
    score = common.data / (sizes[common.row] + sizes[common.col] - common.data)
    keep = (common.row < common.col) & (score >= threshold)
    return list(zip(common.row[keep].tolist(), common.col[keep].tolist())), score[keep].tolist()


def test_drop_eval_leaks_drops_exactly_the_rows_equal_to_dev_or_test_and_counts_per_eval_set():
    dev = dataset(
        ["The movie was great, I loved every minute", "So proud of my little sister today", "?"], "d"
    )
    test = dataset(["I hate Mondays so much", "So proud of my little sister today", "..."], "t")
    texts = [
        "the movie was GREAT - I loved every minute!",  # dev (exact)
        "I hate mondays so much...",  # test (exact)
        "So proud of my little sister today!!",  # dev and test (exact)
        "A sentence about something else entirely",  # kept
        "!!!",  # empty after normalisation: equals nothing
        "I hate Mondays so much, truly",  # near a test text: kept when only exact matches count
    ]
    rows = dataset(texts).select([5, 4, 3, 2, 1, 0])  # an indices mapping: the guard must honour it
    kept, report = drop_eval_leaks(rows, {"goemotions_dev": dev, "goemotions_test": test}, threshold=None)
    assert kept.with_format("arrow")["id"].to_pylist() == ["r5", "r4", "r3"]
    assert sorted(report.dropped_rows.tolist()) == [3, 4, 5]
    assert report.per_eval == {
        "goemotions_dev": {"rows": 3, "exact": 2, "near": 0, "dropped": 2},
        "goemotions_test": {"rows": 3, "exact": 2, "near": 0, "dropped": 2},
    }
    document = report.to_dict()
    assert (document["rows"], document["dropped"], document["kept"]) == (6, 3, 3)
    assert {e["id"] for e in document["examples"]["goemotions_test"]} == {"r1", "r2"}
    assert {e["eval_text"] for e in document["examples"]["goemotions_dev"]} == {
        "The movie was great, I loved every minute", "So proud of my little sister today",
    }  # fmt: skip

    near_kept, near_report = drop_eval_leaks(rows, {"goemotions_dev": dev, "goemotions_test": test})
    assert near_report.per_eval["goemotions_test"] == {"rows": 3, "exact": 2, "near": 1, "dropped": 3}
    assert len(near_kept) == 2

    with pytest.raises(LeakError, match=r"3 of 6 rows .*goemotions_dev: 2 \(2 exact, 0 near\)"):
        drop_eval_leaks(
            rows, {"goemotions_dev": dev, "goemotions_test": test}, on_leak="error", threshold=None
        )
    unrelated = dataset(["nothing in common here at all"])
    same, clean = drop_eval_leaks(unrelated, {"goemotions_test": test}, on_leak="error")
    assert same is unrelated and clean.dropped == 0
    with pytest.raises(InputError, match="on_leak"):
        drop_eval_leaks(rows, {"goemotions_test": test}, on_leak="warn")


def test_duplicate_groups_put_exact_and_near_duplicates_in_one_group():
    texts = [
        "I can't believe they cancelled the show after only one season.",  # 0: group A
        "The weather in Lisbon was lovely this spring afternoon.",  # 1: alone
        "i CANT believe they cancelled the show after only one season",  # 2: A (exact)
        "!!!",  # 3: empty after normalisation, alone
        "I can't believe they cancelled the whole show after only one season.",  # 4: A (near)
        "...",  # 5: empty after normalisation, alone
        "The weather in Lisbon was lovely this spring afternoon!",  # 6: with 1 (exact)
        "Completely unrelated remark about quantum chromodynamics.",  # 7: alone
    ]
    rows = dataset(texts)
    groups = duplicate_groups(rows)
    assert groups.dtype == np.int64 and len(groups) == len(texts)
    assert groups.tolist() == [0, 1, 0, 2, 0, 3, 1, 4]
    exact_only = duplicate_groups(rows, threshold=None)
    assert exact_only[0] == exact_only[2] != exact_only[4]
    shuffled = rows.select([4, 7, 0, 6])
    assert duplicate_groups(shuffled).tolist() == [0, 1, 0, 2]


def test_compare_leak_key_is_the_shared_exact_key():
    train = dataset(["Don’t stop me now!!", "fish &amp; chips", "?", "something else"])
    test = dataset(["dont stop me now", "Fish & Chips", "!"], "t")
    assert find_leaks(train, [test]).text_overlap == [0, 1]
    clusters = cluster_texts(["Don’t stop me now!!", "dont stop me now"], threshold=None)
    assert clusters.row_form.tolist() == [0, 0]
