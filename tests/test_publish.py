"""Publishing: the split DatasetDict, the Hub folder layout, the card, and the load_dataset round trip."""

from __future__ import annotations

import csv
import hashlib
import os
import re
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.publish import (
    CardInfo,
    PublishError,
    dataset_hash,
    imbalance_measures,
    label_counts,
    load_published,
    make_dataset_dict,
    save,
)
from goemobalance.schema import features, from_records, make_record, multi_hot


@pytest.fixture(scope="module")
def pool(goemotions_test, sentiment140_sample) -> datasets.Dataset:
    """1,200 real GoEmotions rows plus 60 real Sentiment140 tweets with pseudo labels and scores."""
    human = goemotions_test.select(range(1200))
    rng = np.random.default_rng(0)
    records = []
    with open(sentiment140_sample, encoding="latin-1", newline="") as handle:
        for row, fields in zip(range(60), csv.reader(handle)):
            scores = rng.random(len(GOEMOTIONS)).astype(np.float32)
            records.append(
                make_record(
                    id=f"sentiment140:{fields[1]}", text=fields[5], labels=np.flatnonzero(scores > 0.8).tolist() or [27],
                    source="sentiment140", label_origin="pseudo", scores=scores.tolist(), meta={"user": fields[4]},
                )
            )  # fmt: skip
    pseudo = from_records(records, GOEMOTIONS)
    return datasets.concatenate_datasets([human, pseudo])


@pytest.fixture(scope="module")
def split_pool(pool) -> datasets.DatasetDict:
    return make_dataset_dict(pool, seed=0)


@pytest.fixture(scope="module")
def audit() -> dict:
    return {
        "rows": 1260,
        "health_score": 0.913,
        "issues": [{"type": "label_issue", "id": "goemotions:eecwqtt", "label": "joy"}],
        "per_label": {"joy": {"issues": 3, "issue_rate": 0.04}, "grief": {"issues": 0, "issue_rate": 0.0}},
        "duplicates": {"exact": 2, "near": 7},
    }


@pytest.fixture(scope="module")
def saved(tmp_path_factory, split_pool, pool, audit):
    folder = tmp_path_factory.mktemp("hub") / "dataset"
    card = CardInfo(
        pretty_name="GoEmotions balanced (test)",
        repo_id="org/goemo-test",
        before=pool,
        audit=audit,
        recipe="name: test\nseed: 0\nllm:\n  api_key: sk-abcdefghijklmnopqrstuvwxyz123456\n",
        manifest={
            "seed": np.int64(0),
            "out": Path("/tmp/x"),
            "inputs": {"goemotions": "ab12"},
            "hf_token": "hf_abcdefghijklmnopqrstuvwxyz",
            "output_hash": "x",
        },
    )
    return save(split_pool, folder, card=card)


def _front_matter(readme: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", readme, re.DOTALL)
    assert match, "README.md must start with a YAML block"
    return yaml.safe_load(match.group(1))


def _table_row(readme: str, first_cell: str, section: str | None = None) -> list[str]:
    if section is not None:
        readme = readme[readme.index(f" {section}\n") :]
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row starting with {first_cell!r}")


def _number(cell: str) -> float:
    return float(cell.replace(",", ""))


# --- the DatasetDict -------------------------------------------------------------------------------------------


def test_dev_split_is_renamed_validation_and_splits_are_ordered(goemotions_test):
    rows = goemotions_test.select(range(300))
    given = datasets.DatasetDict(
        test=rows.select(range(200, 300)), dev=rows.select(range(100, 200)), train=rows.select(range(100))
    )
    result = make_dataset_dict(given)
    assert list(result) == ["train", "validation", "test"]
    assert result["validation"]["id"] == rows.select(range(100, 200))["id"]


def test_an_id_in_two_splits_is_rejected_naming_it(goemotions_test):
    rows = goemotions_test.select(range(30))
    shared = rows[15]["id"]
    given = datasets.DatasetDict(
        train=rows.select(range(20)), validation=rows.select(range(15, 25)), test=rows.select(range(25, 30))
    )
    with pytest.raises(PublishError, match=re.escape(shared)):
        make_dataset_dict(given)


def test_missing_split_and_other_label_names_are_rejected(goemotions_test):
    rows = goemotions_test.select(range(30))
    with pytest.raises(PublishError, match="missing \\['test'\\]"):
        make_dataset_dict(
            datasets.DatasetDict(train=rows.select(range(20)), validation=rows.select(range(20, 30)))
        )
    other = LabelSpace(tuple(f"label_{i}" for i in range(len(GOEMOTIONS))))
    renamed = rows.select(range(20, 25)).cast(features(other))
    given = datasets.DatasetDict(
        train=rows.select(range(20)), validation=renamed, test=rows.select(range(25, 30))
    )
    with pytest.raises(PublishError, match="label names"):
        make_dataset_dict(given)


def test_invalid_rows_are_rejected_with_split_and_row(goemotions_test):
    rows = goemotions_test.select(range(30))
    broken = rows.select(range(20, 25)).map(
        lambda r, i: {"label_origin": "guess" if i == 2 else r["label_origin"]}, with_indices=True
    )
    given = datasets.DatasetDict(
        train=rows.select(range(20)), validation=broken, test=rows.select(range(25, 30))
    )
    with pytest.raises(PublishError, match="split 'validation': row 2 .*label_origin"):
        make_dataset_dict(given)


def test_a_dataset_is_split_with_the_given_function_and_arguments(pool):
    calls = []

    def split_fn(dataset, *, sizes, order, seed):
        calls.append((len(dataset), sizes, order, seed))
        n = len(dataset)
        return datasets.DatasetDict(
            train=dataset.select(range(n - 200)), validation=dataset.select(range(n - 200, n - 100)),
            test=dataset.select(range(n - 100, n)),
        )  # fmt: skip

    result = make_dataset_dict(pool, split_fn=split_fn, sizes=(0.7, 0.2, 0.1), seed=5, order=2)
    assert calls == [(len(pool), (0.7, 0.2, 0.1), 2, 5)]
    assert [len(s) for s in result.values()] == [len(pool) - 200, 100, 100]


def test_default_split_is_a_seeded_stratified_partition(pool, split_pool):
    ids = [i for split in split_pool.values() for i in split["id"]]
    assert sorted(ids) == sorted(pool["id"])
    sizes = np.array([len(s) for s in split_pool.values()]) / len(pool)
    assert np.allclose(sizes, (0.8, 0.1, 0.1), atol=0.04)
    again = make_dataset_dict(pool, seed=0)
    assert all(again[name]["id"] == split_pool[name]["id"] for name in split_pool)
    # every label with at least 10 rows reaches the test split (what stratification is for)
    totals = label_counts(pool)
    test_counts = label_counts(split_pool["test"])
    assert np.all(test_counts[totals >= 10] > 0)


def test_default_split_function_gives_three_disjoint_splits(pool):
    result = make_dataset_dict(pool, seed=1)
    assert list(result) == ["train", "validation", "test"]
    assert sum(len(s) for s in result.values()) == len(pool)


# --- the hash ------------------------------------------------------------------------------------------------


def test_hash_is_stable_and_sensitive_to_content_order_and_names(split_pool):
    copy = datasets.DatasetDict(
        {k: datasets.Dataset.from_list(v.to_list(), features=v.features) for k, v in split_pool.items()}
    )
    assert dataset_hash(copy) == dataset_hash(split_pool)
    relabelled = copy.copy()
    new_labels = [1, 2] if copy["test"][0]["labels"] != [1, 2] else [3]
    relabelled["test"] = copy["test"].map(
        lambda r, i: {"labels": new_labels} if i == 0 else {}, with_indices=True
    )
    assert dataset_hash(relabelled) != dataset_hash(split_pool)
    reordered = copy.copy()
    reordered["train"] = copy["train"].select(list(range(1, len(copy["train"]))) + [0])
    assert dataset_hash(reordered) != dataset_hash(split_pool)
    other_names = LabelSpace(tuple(f"x{i}" for i in range(len(GOEMOTIONS))))
    renamed = datasets.DatasetDict({k: v.cast(features(other_names)) for k, v in copy.items()})
    assert dataset_hash(renamed) != dataset_hash(split_pool)


# --- the folder and the round trip ---------------------------------------------------------------------------


def test_saved_folder_has_the_hub_layout(saved):
    files = sorted(p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file())
    assert files == [
        ".goemobalance-written.json",
        "LICENSE.md",
        "README.md",
        "data/test-00000-of-00001.parquet",
        "data/train-00000-of-00001.parquet",
        "data/validation-00000-of-00001.parquet",
        "manifest.json",
        "plots/label_counts.png",
        "plots/source_mix.png",
    ]
    for png in saved.glob("plots/*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_load_dataset_gives_back_exactly_what_was_saved(saved, split_pool, tmp_path):
    back = datasets.load_dataset(str(saved), cache_dir=str(tmp_path / "cache"))
    assert list(back) == ["train", "validation", "test"]
    for name, split in split_pool.items():
        assert back[name].features == split.features
        assert back[name].features["labels"].feature.names == list(GOEMOTIONS.names)
        assert back[name].to_list() == split.to_list()
    assert dataset_hash(back) == dataset_hash(split_pool)


def test_shards_keep_row_order_and_a_resave_removes_stale_shards(split_pool, tmp_path):
    folder = save(split_pool, tmp_path / "sharded", plots=False, max_shard_bytes=50_000)
    train_files = sorted(p.name for p in (folder / "data").glob("train-*.parquet"))
    assert len(train_files) > 2 and train_files[-1].endswith(f"-of-{len(train_files):05d}.parquet")
    back = load_published(folder)
    assert back["train"]["id"] == split_pool["train"]["id"]
    save(split_pool, folder, plots=False)
    assert sorted(p.name for p in (folder / "data").glob("train-*.parquet")) == [
        "train-00000-of-00001.parquet"
    ]
    assert not (folder / "plots").exists() or not list((folder / "plots").glob("*.png"))
    back = load_published(folder)
    assert back["train"]["id"] == split_pool["train"]["id"]


def test_parquet_files_are_byte_identical_across_saves(split_pool, tmp_path):
    first = save(split_pool, tmp_path / "one", plots=False)
    second = save(split_pool, tmp_path / "two", plots=False)
    for path in first.rglob("*.parquet"):
        twin = second / path.relative_to(first)
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(twin.read_bytes()).digest()
    assert (first / "README.md").read_text() == (second / "README.md").read_text()


# --- the card ------------------------------------------------------------------------------------------------


def test_card_metadata(saved, split_pool):
    meta = _front_matter((saved / "README.md").read_text(encoding="utf-8"))
    assert meta["license"] == "other"  # Sentiment140 rows: mixed terms, spelled out in LICENSE.md
    assert meta["license_link"] == "LICENSE.md" and meta["license_name"] == "goemobalance-mixed-sources"
    assert "Sentiment140" in (saved / "LICENSE.md").read_text(encoding="utf-8")
    assert meta["task_categories"] == ["text-classification"]
    assert meta["task_ids"] == ["multi-label-classification"]
    assert meta["language"] == ["en"]
    assert meta["size_categories"] == ["1K<n<10K"]
    assert meta["pretty_name"] == "GoEmotions balanced (test)"
    assert set(meta["annotations_creators"]) == {"crowdsourced", "machine-generated"}
    (config,) = meta["configs"]
    assert config["config_name"] == "default"
    data_files = {entry["split"]: entry["path"] for entry in config["data_files"]}
    assert list(data_files) == ["train", "validation", "test"]
    assert all((saved / p).is_file() for paths in data_files.values() for p in paths)
    info = meta["dataset_info"]
    labels = next(f for f in info["features"] if f["name"] == "labels")
    names = labels["list"]["class_label"]["names"]
    assert [names[str(i)] for i in range(len(names))] == list(GOEMOTIONS.names)
    assert {s["name"]: s["num_examples"] for s in info["splits"]} == {
        k: len(v) for k, v in split_pool.items()
    }
    assert info["download_size"] == sum(p.stat().st_size for p in saved.glob("data/*.parquet"))


def test_card_per_label_table_matches_numpy_counts(saved, split_pool, pool):
    readme = (saved / "README.md").read_text(encoding="utf-8")
    before = multi_hot(pool).sum(axis=0)
    after = sum(multi_hot(s).sum(axis=0) for s in split_pool.values())
    for name in ("grief", "neutral", "joy"):
        cells = _table_row(readme, name)
        i = GOEMOTIONS.id(name)
        assert [_number(c) for c in cells[1:6]] == [
            before[i],
            after[i],
            *(multi_hot(split_pool[s]).sum(axis=0)[i] for s in ("train", "validation", "test")),
        ]
    assert "![Rows per label](plots/label_counts.png)" in readme


def test_card_source_mix_audit_recipe_manifest_and_citations(saved, split_pool):
    readme = (saved / "README.md").read_text(encoding="utf-8")
    pseudo = _table_row(readme, "sentiment140")
    expected = [
        sum(1 for s in split_pool[n]["source"] if s == "sentiment140")
        for n in ("train", "validation", "test")
    ]
    assert pseudo[1] == "pseudo" and [_number(c) for c in pseudo[2:]] == expected + [60]
    assert _table_row(readme, "health_score")[1] == "0.913"
    assert _number(_table_row(readme, "near")[1]) == 7
    assert _table_row(readme, "joy", section="Per label")[1:3] == ["3", "0.04"]
    assert "goemotions:eecwqtt" not in readme and "audit.json" in readme, "row lists stay in the full report"
    assert (
        "sk-abcdefghijklmnopqrstuvwxyz123456" not in readme and "hf_abcdefghijklmnopqrstuvwxyz" not in readme
    )
    assert "api_key: [REDACTED]" in readme and "hf_token: '[REDACTED]'" in readme
    assert "seed: 0\nout: /tmp/x\ninputs:\n  goemotions: ab12" in readme
    assert f"`{dataset_hash(split_pool)}`" in readme
    assert 'datasets.load_dataset("org/goemo-test")' in readme
    for needle in (
        "Demszky",
        "Go, Alec and Bhayani, Richa and Huang, Lei",
        "eprint = {2511.14073}",
        "```bibtex",
    ):
        assert needle in readme


def test_card_imbalance_measures_before_and_after(saved, split_pool, pool):
    readme = (saved / "README.md").read_text(encoding="utf-8")
    row = _table_row(readme, "coefficient of variation of label counts")
    counts = multi_hot(pool).sum(axis=0)
    assert _number(row[1]) == pytest.approx(counts.std() / counts.mean(), rel=1e-3)


def test_imbalance_measures_are_zero_variation_for_even_labels(goemotions_test):
    picked, seen = [], set()
    for row, labels in enumerate(goemotions_test["labels"]):
        if len(labels) == 1 and labels[0] not in seen:
            picked.append(row)
            seen.add(labels[0])
    even = goemotions_test.select(picked)
    assert len(even) == len(GOEMOTIONS)
    assert imbalance_measures(even)["count_cv"] == 0.0
    assert imbalance_measures(goemotions_test)["count_cv"] > 1.0


def test_size_categories_follow_the_hub_bounds():
    from goemobalance.publish.card import size_category

    assert [size_category(n) for n in (0, 999, 1000, 54_263, 1_600_000, 10**13)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M", "n>1T"
    ]  # fmt: skip


def test_before_counts_may_be_a_mapping(split_pool, tmp_path):
    folder = save(
        split_pool,
        tmp_path / "m",
        card=CardInfo(before={"grief": 77, "neutral": 14219}, before_name="GoEmotions train"),
        plots=False,
    )
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert _table_row(readme, "grief")[1] == "77" and _table_row(readme, "neutral")[1] == "14,219"
    assert _table_row(readme, "joy")[1] == "0"
    with pytest.raises(ValueError, match="unknown labels \\['happiness'\\]"):
        save(split_pool, tmp_path / "bad", card=CardInfo(before={"happiness": 3}), plots=False)


def _charte_measures(dataset: datasets.Dataset) -> dict[str, float]:
    """MeanIR and SCUMBLE (Charte et al.) row by row from their definitions, independent of balance.stats:
    IRLbl(l) = most common label's count / count(l) over labels present; SCUMBLE = mean over rows of
    1 - geometric mean / arithmetic mean of the row's IRLbl (0 for a row with no label)."""
    counts = multi_hot(dataset).sum(axis=0).astype(float)
    irlbl = {label: counts.max() / count for label, count in enumerate(counts) if count > 0}
    per_row = []
    for labels in dataset["labels"]:
        ratios = [irlbl[label] for label in labels]
        per_row.append(1 - float(np.exp(np.mean(np.log(ratios)))) / float(np.mean(ratios)) if ratios else 0.0)
    return {"mean_ir": float(np.mean(list(irlbl.values()))), "scumble": float(np.mean(per_row))}


def test_card_reports_the_multilabel_measures_of_the_stats_stage(saved, split_pool, pool):
    """Checked against the definitions computed here, not against the function the card calls."""
    readme = (saved / "README.md").read_text(encoding="utf-8")
    before = _charte_measures(pool)
    after = _charte_measures(datasets.concatenate_datasets(list(split_pool.values())))
    for label, measure in (
        ("MeanIR (mean imbalance ratio)", "mean_ir"),
        ("SCUMBLE (label concurrence imbalance)", "scumble"),
    ):
        row = _table_row(readme, label)
        assert _number(row[1]) == pytest.approx(before[measure], rel=1e-3, abs=1e-4), (label, "before")
        assert _number(row[2]) == pytest.approx(after[measure], rel=1e-3, abs=1e-4), (label, "after")


def test_card_fields_may_be_given_as_keywords(split_pool, pool, tmp_path):
    class AuditReport:
        def to_dict(self):
            return {"rows": 1260, "health_score": 0.5}

    folder = save(split_pool, tmp_path / "kw", plots=False, before=pool, audit=AuditReport(),
                  recipe_text="name: kw\n", license="apache-2.0", pretty_name="Keyword card")  # fmt: skip
    readme = (folder / "README.md").read_text(encoding="utf-8")
    meta = _front_matter(readme)
    assert meta["license"] == "apache-2.0" and meta["pretty_name"] == "Keyword card"
    assert "license_link" not in meta and not (folder / "LICENSE.md").exists()
    assert _table_row(readme, "health_score")[1] == "0.5" and "```yaml\nname: kw\n```" in readme
    assert _number(_table_row(readme, "grief")[1]) == multi_hot(pool).sum(axis=0)[GOEMOTIONS.id("grief")]
    with pytest.raises(TypeError, match="unknown card field"):
        save(split_pool, tmp_path / "bad", plots=False, licence="mit")


def test_save_keeps_files_it_did_not_write_and_stages_its_own(split_pool, tmp_path):
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "notes.md").write_text("mine")
    with pytest.raises(PublishError, match=r"notes\.md.*--overwrite"):
        save(split_pool, folder, plots=False)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.md"], "nothing written on refusal"
    save(split_pool, folder, plots=False, overwrite=True)
    assert (folder / "notes.md").read_text() == "mine"
    assert not [p for p in folder.iterdir() if ".goemobalance-tmp-" in p.name], "the staging folder is gone"
    save(split_pool, folder, plots=False, overwrite=True, max_shard_bytes=50_000)
    assert (folder / "notes.md").read_text() == "mine"
    assert len(list((folder / "data").glob("train-*.parquet"))) > 1


def test_a_republished_folder_is_read_as_it_is_now(split_pool, tmp_path):
    """Bug: `load_published` went through `datasets.load_dataset`, whose cache is keyed by file name, size
    and time: a same-size shard copied in with its old time (cp -p, rsync -t) read back the old rows."""
    folder = save(split_pool, tmp_path / "same", plots=False)
    shard = next((folder / "data").glob("train-*.parquet"))
    table = pq.read_table(shard)
    pq.write_table(table, shard, compression="none", use_dictionary=False, write_statistics=False)
    assert load_published(folder)["train"]["text"] == split_pool["train"]["text"]
    before = shard.stat()
    texts = table.column("text").to_pylist()
    texts[0] = texts[0].swapcase()
    assert texts[0] != split_pool["train"]["text"][0]
    edited = table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts, pa.string()))
    pq.write_table(edited, shard, compression="none", use_dictionary=False, write_statistics=False)
    os.utime(shard, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert shard.stat().st_size == before.st_size
    assert load_published(folder)["train"]["text"][0] == texts[0], "never the rows of an earlier publish"


def test_read_dataset_packaged_keeps_the_goemotions_splits():
    """`goemobalance publish packaged` publishes GoEmotions' own splits (was: 'dataset path not found')."""
    from goemobalance.publish import make_dataset_dict
    from goemobalance.publish.hub import read_dataset

    dataset_dict = make_dataset_dict(read_dataset("packaged"))
    assert {name: len(split) for name, split in dataset_dict.items()} == {
        "train": 43410,
        "validation": 5426,
        "test": 5427,
    }
    with pytest.raises(FileNotFoundError, match="not an existing file or folder"):
        read_dataset("no/such/folder")
