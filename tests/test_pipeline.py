"""Recipes and the end-to-end build: parsing errors, determinism, resuming, and the shipped quickstart."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest
import yaml

from goemobalance.balance.stats import distribution_stats
from goemobalance.cli import main
from goemobalance.pipeline import run_recipe
from goemobalance.recipe import RecipeError, load_recipe

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "recipes" / "quickstart.yaml"


def _small_recipe(tmp_path: Path, **changes) -> Path:
    """The quickstart recipe on a slice of the shipped data, so a build takes seconds."""
    recipe = yaml.safe_load(QUICKSTART.read_text())
    recipe["sources"][0]["limit"] = 3000
    recipe["sources"][1]["limit"] = 600
    recipe["balance"]["target"] = 150
    recipe["audit"]["folds"] = 3
    for section, values in changes.items():
        recipe[section] = {**recipe.get(section, {}), **values} if isinstance(values, dict) else values
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _label_cv(dataset: datasets.Dataset) -> float:
    counts = np.array(list(distribution_stats(dataset).as_dict()["label_counts"].values()), dtype=float)
    counts = counts[counts > 0]
    return float(counts.std() / counts.mean())


def test_unknown_and_missing_fields_name_the_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsources: [{type: goemotions, path: packaged}]\nbalance: {targt: 5}\n")
    with pytest.raises(RecipeError, match=r"bad\.yaml: balance: unknown field\(s\) \['targt'\]"):
        load_recipe(bad)
    bad.write_text("sources: [{type: goemotions}]\n")
    with pytest.raises(RecipeError, match="field 'name' is required"):
        load_recipe(bad)
    bad.write_text("name: x\nsources: [{type: goemotions}]\nsplit: {sizes: [0.8, 0.1]}\n")
    with pytest.raises(RecipeError, match=r"split\.sizes"):
        load_recipe(bad)
    bad.write_text("name: x\nsources: [{type: tweets}]\n")
    with pytest.raises(RecipeError, match=r"sources\[0\]\.type 'tweets'"):
        load_recipe(bad)


def test_shipped_recipes_parse():
    for path in sorted((REPO / "recipes").glob("*.yaml")):
        recipe = load_recipe(path)
        assert recipe.sources and recipe.name


@pytest.mark.slow
def test_small_build_is_deterministic_resumable_and_loads_back(tmp_path):
    recipe = _small_recipe(tmp_path)
    first = run_recipe(recipe, tmp_path / "a")
    second = run_recipe(recipe, tmp_path / "b")
    assert first.output_hash == second.output_hash, "same recipe and seed must give the same dataset"
    assert not any(stage["cached"] for stage in second.manifest["stages"].values())

    again = run_recipe(recipe, tmp_path / "a")
    assert all(stage["cached"] for stage in again.manifest["stages"].values())
    assert again.output_hash == first.output_hash

    loaded = datasets.load_dataset(str(first.dataset_dir))
    assert set(loaded) == {"train", "validation", "test"}
    for split, data in first.dataset.items():
        assert loaded[split]["id"] == data["id"]
        assert loaded[split]["labels"] == data["labels"]
    assert loaded["train"].features["labels"].feature.names[27] == "neutral"

    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["output_hash"] == first.output_hash
    assert all("sha256" in entry for entry in manifest["inputs"])
    assert (tmp_path / "a" / "audit" / "audit.json").is_file()


@pytest.mark.slow
def test_a_failed_build_resumes_from_its_finished_stages(tmp_path):
    broken = _small_recipe(tmp_path, audit={"eval_path": str(tmp_path / "missing")})
    with pytest.raises(FileNotFoundError, match="missing"):
        run_recipe(broken, tmp_path / "out")
    assert (tmp_path / "out" / "stages" / "split" / "key").is_file(), "stages before the failure are kept"
    fixed = _small_recipe(tmp_path)
    result = run_recipe(fixed, tmp_path / "out")
    stages = result.manifest["stages"]
    assert all(stages[name]["cached"] for name in ("sources", "pool", "balanced", "split"))
    assert not stages["audit"]["cached"]
    assert result.output_hash == run_recipe(fixed, tmp_path / "fresh").output_hash


@pytest.mark.slow
def test_quickstart_recipe_end_to_end(tmp_path, capsys, goemotions_train):
    assert main(["build", str(QUICKSTART), "--out", str(tmp_path / "qs")]) == 0
    printed = capsys.readouterr().out
    assert "output hash:" in printed and "coefficient of variation" in printed
    dataset_dir = tmp_path / "qs" / "dataset"
    loaded = datasets.load_dataset(str(dataset_dir))
    balanced = datasets.concatenate_datasets(list(loaded.values()))
    assert len(balanced) > 10_000
    assert _label_cv(balanced) < 0.5 * _label_cv(goemotions_train)
    assert set(balanced["label_origin"]) <= {"human", "pseudo"}
    manifest = json.loads((tmp_path / "qs" / "manifest.json").read_text())
    audit = json.loads((tmp_path / "qs" / "audit" / "audit.json").read_text())
    assert audit["rows"] >= len(balanced) and "health_score" in audit
    assert manifest["output_hash"] in (dataset_dir / "README.md").read_text()


@pytest.mark.slow
def test_train_stage_compares_on_the_untouched_test_split(tmp_path):
    tiny_training = {"epochs": 1, "max_train_rows": 800, "embeddings": {"source": "glove-kumo"}}
    recipe = _small_recipe(
        tmp_path, audit={"enabled": False}, train={"enabled": True, "config": tiny_training}
    )
    result = run_recipe(recipe, tmp_path / "out")
    assert "train" in result.manifest["stages"]
    comparison = json.loads((tmp_path / "out" / "compare" / "comparison.json").read_text())
    assert {"imbalanced", "balanced", "delta"} <= set(comparison["summary"]["f1_macro"])
    delta = comparison["summary"]["f1_macro"]
    assert delta["delta"] == pytest.approx(delta["balanced"] - delta["imbalanced"])
    assert comparison["leaks"]["imbalanced"]["id_overlap"] == 0, (
        "GoEmotions train and test share no comment id"
    )
