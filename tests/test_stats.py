"""Distribution statistics against values computed by hand, and the `goemobalance stats` CLI."""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from goemobalance.balance.stats import (
    compare_distributions,
    distribution_stats,
    imbalance_ratio_per_label,
    label_matrix,
    plot_comparison,
    plot_distribution,
    scumble_per_row,
)
from goemobalance.cli import main
from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.schema import from_records, make_record

REPO = Path(__file__).resolve().parents[1]
SPACE = LabelSpace(("a", "b", "c", "d"))
# rows: {a,b} {a} {a} {a,c} {b} {}  -> counts a=4 b=2 c=1 d=0 (missing)
MATRIX = np.array(
    [[1, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=np.int8
)
# By hand: IRLbl a = 4/4 = 1, b = 4/2 = 2, c = 4/1 = 4; d has no examples -> missing, no IRLbl.
# MeanIR = 7/3; MaxIR = 4; sample variance of (1, 2, 4) = ((4/3)^2 + (1/3)^2 + (5/3)^2) / 2 = 7/3,
# CVIR = sqrt(7/3) / (7/3).
# SCUMBLE row {a,b} = 1 - sqrt(1*2) / 1.5; row {a,c} = 1 - sqrt(1*4) / 2.5 = 0.2; other rows 0.
SCUMBLE_AB = 1 - math.sqrt(2) / 1.5
SCUMBLE_AC = 0.2


def test_hand_computed_measures():
    stats = distribution_stats(MATRIX, SPACE)
    assert stats.rows == 6 and stats.unlabeled_rows == 1
    assert stats.label_counts.tolist() == [4, 2, 1, 0]
    assert stats.missing_labels == ["d"]
    assert stats.cardinality == pytest.approx(7 / 6)
    assert stats.density == pytest.approx(7 / 24)
    assert stats.distinct_labelsets == 5
    np.testing.assert_allclose(stats.irlbl[:3], [1.0, 2.0, 4.0])
    assert math.isnan(stats.irlbl[3])
    assert stats.mean_ir == pytest.approx(7 / 3)
    assert stats.max_ir == pytest.approx(4.0)
    assert stats.cvir == pytest.approx(math.sqrt(7 / 3) / (7 / 3))
    assert stats.scumble == pytest.approx((SCUMBLE_AB + SCUMBLE_AC) / 6)
    np.testing.assert_allclose(
        stats.scumble_per_label[:3], [(SCUMBLE_AB + SCUMBLE_AC) / 4, SCUMBLE_AB / 2, SCUMBLE_AC]
    )
    assert math.isnan(stats.scumble_per_label[3])
    assert stats.cooccurrence.tolist() == [[4, 1, 1, 0], [1, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]


def test_scumble_per_row_and_irlbl_helpers():
    irlbl = imbalance_ratio_per_label(np.array([4, 2, 1, 0]))
    np.testing.assert_allclose(scumble_per_row(MATRIX, irlbl), [SCUMBLE_AB, 0, 0, SCUMBLE_AC, 0, 0])
    assert np.isnan(imbalance_ratio_per_label(np.array([0, 0]))).all()


def test_balanced_and_degenerate_matrices():
    balanced = distribution_stats(np.eye(3, dtype=np.int8), LabelSpace(("x", "y", "z")))
    assert (balanced.mean_ir, balanced.max_ir, balanced.cvir, balanced.scumble) == (1.0, 1.0, 0.0, 0.0)
    single = distribution_stats(np.array([[1, 0], [1, 0]]), LabelSpace(("x", "y")))
    assert single.cvir == 0.0 and single.missing_labels == ["y"]
    empty = distribution_stats(np.zeros((0, 2), dtype=np.int8), LabelSpace(("x", "y")))
    summary = empty.summary()
    assert summary["rows"] == 0 and summary["mean_ir"] is None and summary["cvir"] is None
    assert json.loads(json.dumps(empty.to_dict()))["missing_labels"] == ["x", "y"]


def test_matrix_input_is_checked():
    with pytest.raises(ValueError, match="only 0 and 1"):
        distribution_stats(np.array([[2, 0]]), LabelSpace(("x", "y")))
    with pytest.raises(ValueError, match="only 0 and 1"):
        distribution_stats(np.array([[0.5, 0.0]]), LabelSpace(("x", "y")))
    with pytest.raises(ValueError, match="matrix has 3 columns but the label space has 2"):
        distribution_stats(np.zeros((1, 3)), LabelSpace(("x", "y")))


def test_dataset_and_matrix_give_the_same_result():
    records = [
        make_record(id=f"t:{i}", text=f"text {i}", labels=[j for j in range(4) if MATRIX[i, j]], source="t")
        for i in range(5)
    ]
    dataset = from_records(records, SPACE)
    from_dataset = distribution_stats(dataset).to_dict()
    from_matrix = distribution_stats(MATRIX[:5], SPACE).to_dict()
    assert from_dataset == from_matrix
    matrix, space = label_matrix(dataset.select([4, 0]))
    assert space == SPACE and matrix.tolist() == [[0, 1, 0, 0], [1, 1, 0, 0]]


def test_goemotions_train_statistics(goemotions_train):
    stats = distribution_stats(goemotions_train)
    counts = stats.to_dict()["label_counts"]
    assert counts["neutral"] == 14219 and counts["grief"] == 77
    assert stats.max_ir == pytest.approx(14219 / 77)
    assert stats.cardinality == pytest.approx(51103 / 43410)
    assert stats.missing_labels == []
    assert stats.cooccurrence[GOEMOTIONS.id("grief"), GOEMOTIONS.id("grief")] == 77


def test_compare_distributions_reports_changes():
    after = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.int8)
    result = compare_distributions(MATRIX, after, SPACE).to_dict()
    assert result["label_counts"]["a"] == {"before": 4, "after": 1, "delta": -3}
    assert result["summary"]["mean_ir"]["after"] == 1.0
    assert result["summary"]["mean_ir"]["delta"] == pytest.approx(1.0 - 7 / 3)
    assert result["missing_labels"] == {"before": ["d"], "after": []}
    with pytest.raises(ValueError, match="different label spaces"):
        compare_distributions(MATRIX, np.eye(2), None)


def test_markdown_and_text_tables():
    stats = distribution_stats(MATRIX, SPACE)
    markdown = stats.to_markdown()
    assert "| mean_ir | 2.3333 |" in markdown and "| missing_labels | d |" in markdown
    assert "| d | 0 | 0.00 | n/a | n/a |" in markdown
    text = stats.to_text()
    assert text.splitlines()[0].split() == ["rows", "6"]


def test_plot_writes_a_png(tmp_path):
    out = plot_distribution(distribution_stats(MATRIX, SPACE), tmp_path / "plots" / "dist.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


# ---------------------------------------------------------------- CLI


def test_cli_json_on_goemotions_train(goemotions_dir, capsys):
    assert main(["stats", str(goemotions_dir / "train.tsv"), "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    for key in ("rows", "label_counts", "cardinality", "density", "mean_ir", "max_ir", "cvir", "scumble",
                "missing_labels"):  # fmt: skip
        assert key in payload
    assert payload["rows"] == 43410
    assert payload["label_counts"]["neutral"] == 14219 and payload["label_counts"]["pride"] == 111
    assert payload["max_ir"] == pytest.approx(14219 / 77)
    assert payload["missing_labels"] == []


def test_cli_table_markdown_plot_and_compare(goemotions_dir, tmp_path, capsys):
    plot = tmp_path / "dist.png"
    assert main(["stats", str(goemotions_dir), "--split", "test", "--plot", str(plot)]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0] == "split: test"
    assert table.splitlines()[1].split() == ["rows", "5427"]
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert main(["stats", str(goemotions_dir / "test.tsv"), "--compare", str(goemotions_dir / "dev.tsv"),
                 "--format", "markdown"]) == 0  # fmt: skip
    assert "| rows | 5427 | 5426 | -1 |" in capsys.readouterr().out


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "train.tsv"
    bad.write_text("fine\t27\ta\nbroken line\n", encoding="utf-8")
    assert main(["stats", str(bad)]) == 2
    assert "train.tsv, line 2: expected 3 tab-separated fields" in capsys.readouterr().err
    assert main(["stats", str(bad), "--on-error", "skip", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["rows"] == 1 and "skipped 1 bad row" in captured.err
    assert "field_count" in captured.err
    assert main(["stats", str(tmp_path / "missing")]) == 2
    assert "is not an existing file or folder" in capsys.readouterr().err


# ---------------------------------------------------------------- issue 16: splits, both sides, closed pipe


def test_cli_split_all_describes_every_split_and_names_it(capsys):
    """Bug: `--split all` was rejected and no output said which split it described."""
    assert main(["stats", "packaged", "--split", "all"]) == 0
    table = capsys.readouterr().out
    assert [line for line in table.splitlines() if line.startswith("split: ")] == [
        "split: train", "split: dev", "split: test"
    ]  # fmt: skip
    assert main(["stats", "packaged", "--split", "all", "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["split"] == "all"
    assert {name: part["rows"] for name, part in payload["splits"].items()} == {
        "train": 43410, "dev": 5426, "test": 5427
    }  # fmt: skip
    assert all(part["split"] == name for name, part in payload["splits"].items())
    assert main(["stats", "packaged", "--split", "all", "--format", "markdown"]) == 0
    assert "**split: dev**" in capsys.readouterr().out
    assert main(["stats", "packaged", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["split"] == "train"


def test_cli_unknown_split_is_one_line_naming_the_splits(capsys):
    assert main(["stats", "packaged", "--split", "holdout"]) == 2
    assert capsys.readouterr().err.strip() == (
        "goemobalance stats: packaged: no split 'holdout'; the splits there are ['train', 'dev', 'test']"
    )


def _orange_pixels(png) -> int:
    from matplotlib.image import imread

    image = imread(str(png))[..., :3]
    orange = np.array([1.0, 0x7F / 255, 0x0E / 255])
    return int((np.abs(image - orange).max(axis=2) < 0.02).sum())


def test_cli_compare_plot_draws_both_sides(goemotions_dir, tmp_path, capsys):
    """Bug: `--compare OTHER --plot P` drew only the first dataset."""
    plot = tmp_path / "compare.png"
    args = ["stats", str(goemotions_dir), "--split", "test", "--compare", "packaged", "--plot", str(plot)]
    assert main(args) == 0
    assert "split: test (compared with split: test)" in capsys.readouterr().out
    assert _orange_pixels(plot) > 1000
    single = tmp_path / "single.png"
    assert main(["stats", "packaged", "--split", "test", "--plot", str(single)]) == 0
    assert _orange_pixels(single) == 0


def test_plot_comparison_of_two_matrices(tmp_path):
    after = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.int8)
    out = plot_comparison(
        compare_distributions(MATRIX, after, SPACE), tmp_path / "c.png", names=("pool", "set")
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and _orange_pixels(out) > 100


def _stats_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "goemobalance.cli", "stats", *args]


def test_cli_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """Guard: output into a closed pipe (``| head -1``) ends quietly with exit 0, for the per-split outputs
    (each flushed while cli.main can still catch the BrokenPipeError) and with a plot written."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        _stats_command("packaged", "--split", "test", "--plot", str(tmp_path / "p.png")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=300) == 0, stderr
    assert "BrokenPipe" not in stderr and "Traceback" not in stderr and "Exception ignored" not in stderr
    assert (tmp_path / "p.png").is_file()
    command = " ".join(shlex.quote(part) for part in _stats_command("packaged", "--split", "all"))
    piped = subprocess.run(
        ["bash", "-c", f"{command} | head -1; exit ${{PIPESTATUS[0]}}"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == "split: train\n"
    assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr


def test_comparison_prints_as_an_aligned_table():
    """print(compare_distributions(...)) shows before/after/change tables, not a dataclass dump."""
    after = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.int8)
    comparison = compare_distributions(MATRIX, after, SPACE)
    lines = str(comparison).splitlines()
    assert lines[0].split() == ["measure", "before", "after", "change"]
    assert ["a", "4", "1", "-3"] in [line.split() for line in lines]
    assert "DistributionStats(" not in str(comparison)
    assert str(distribution_stats(MATRIX, SPACE)) == distribution_stats(MATRIX, SPACE).to_text()
    markdown = comparison.to_markdown()
    assert "| a | 4 | 1 | -3 |" in markdown and "| mean_ir | 2.3333 | 1.0000 | -1.3333 |" in markdown
