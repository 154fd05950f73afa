import json

import datasets
import pytest

from goemobalance.labels import LabelSpace
from goemobalance.schema import (
    SchemaError,
    features,
    from_records,
    label_space_of,
    make_record,
    multi_hot,
    validate,
)


def _record(**overrides):
    base = {"id": "x:1", "text": "so happy today", "labels": [17], "source": "goemotions"}
    base.update(overrides)
    return make_record(**base)


def test_features_use_sequence_of_classlabel():
    feats = features()
    assert feats["labels"].feature.names[27] == "neutral"
    ds = from_records([_record(), _record(id="x:2", labels=[0, 27])])
    assert label_space_of(ds).names[16] == "grief"
    assert multi_hot(ds).sum(axis=1).tolist() == [1, 2]
    assert json.loads(ds[0]["meta"]) == {}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"text": "   "}, "text"),
        ({"labels": []}, "labels"),
        ({"label_origin": "robot"}, "label_origin"),
        ({"scores": [0.5] * 3}, "scores"),
        ({"source": ""}, "source"),
    ],
)
def test_validate_names_row_and_field(overrides, field):
    rows = [_record(id="ok:1"), _record(id="bad:2", **overrides)]
    ds = datasets.Dataset.from_list(rows, features=features())
    with pytest.raises(SchemaError, match=rf"row 1 \(id='bad:2'\), field '{field}'"):
        validate(ds)


def test_duplicate_ids_and_bad_meta_are_errors():
    ds = datasets.Dataset.from_list([_record(), _record()], features=features())
    with pytest.raises(SchemaError, match="duplicate id"):
        validate(ds)
    bad = _record(id="y:1")
    bad["meta"] = "{not json"
    with pytest.raises(SchemaError, match="field 'meta'"):
        validate(datasets.Dataset.from_list([bad], features=features()))


def test_unlabeled_rows_need_the_flag():
    ds = from_records([_record()])
    unlabeled = datasets.Dataset.from_list([_record(labels=[], label_origin="pseudo")], features=features())
    validate(unlabeled, allow_unlabeled=True)
    with pytest.raises(SchemaError, match="no labels"):
        validate(unlabeled)
    assert len(ds) == 1


def test_other_label_spaces_work():
    space = LabelSpace(("pos", "neg"))
    ds = from_records([_record(labels=[1])], space)
    assert label_space_of(ds) == space
