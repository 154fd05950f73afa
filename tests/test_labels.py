import numpy as np
import pytest

from goemobalance.labels import (
    GOEMOTIONS,
    NEUTRAL_ID,
    LabelSpace,
    UnknownLabelError,
    ekman_space,
    sentiment_space,
)


def test_goemotions_space_matches_upstream_emotions_file(shared_goemotions_dir):
    upstream = (shared_goemotions_dir / "emotions.txt").read_text().split()
    assert GOEMOTIONS.names == tuple(upstream)
    assert NEUTRAL_ID == 27 and len(GOEMOTIONS) == 28


def test_names_ids_multi_hot_round_trip():
    rows = [[0, 27], [], [16]]
    matrix = GOEMOTIONS.to_multi_hot(rows)
    assert matrix.shape == (3, 28) and matrix.sum() == 3
    assert GOEMOTIONS.from_multi_hot(matrix) == rows
    assert GOEMOTIONS.ids(["grief", " Neutral "]) == [16, 27]
    assert GOEMOTIONS.to_names([16, 27]) == ["grief", "neutral"]


def test_unknown_names_and_ids_are_named_in_the_error():
    with pytest.raises(UnknownLabelError, match="'griefs'"):
        GOEMOTIONS.id("griefs")
    with pytest.raises(UnknownLabelError, match="28"):
        GOEMOTIONS.to_multi_hot([[28]])


def test_groupings_cover_every_emotion_once(shared_goemotions_dir):
    import json

    for make, file in ((ekman_space, "ekman_mapping.json"), (sentiment_space, "sentiment_mapping.json")):
        space, mapping = make()
        assert mapping.sum(axis=1).tolist() == [1] * 28, "each fine label maps to exactly one group"
        upstream = json.loads((shared_goemotions_dir / file).read_text())
        for group, members in upstream.items():
            column = mapping[:, space.id(group)]
            assert sorted(GOEMOTIONS.to_names(np.flatnonzero(column))) == sorted(members)


def test_custom_label_space_rejects_duplicates():
    with pytest.raises(ValueError, match="unique"):
        LabelSpace(("a", "b", "a"))
    space = LabelSpace(("pos", "neg"))
    assert space.to_multi_hot([[1]]).tolist() == [[0, 1]]
