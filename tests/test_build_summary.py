"""The build summary's rows line says where the training rows came from, not only how many there are."""

from __future__ import annotations

from goemobalance.build.summary import _rows_line, origin_counts
from goemobalance.schema import from_records, make_record


def _rows(origins: list[str]):
    return from_records(
        [
            make_record(id=str(i), text=f"text {i}", labels=[0], source="s", label_origin=origin)
            for i, origin in enumerate(origins)
        ]
    )


def test_rows_line_gives_the_train_split_by_label_origin():
    train = _rows(["pseudo", "human", "human", "llm", "human"])
    line = _rows_line({"train": 5, "validation": 2, "test": 2}, train)
    assert line == "rows: train 5 (human 3, pseudo 1, llm 1), validation 2, test 2"


def test_origin_counts_follow_the_schema_order_and_skip_absent_origins():
    assert list(origin_counts(_rows(["llm", "human-reviewed", "human"]))) == [
        "human",
        "llm",
        "human-reviewed",
    ]
    assert origin_counts(_rows(["human", "human"])) == {"human": 2}
