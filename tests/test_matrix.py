"""The shared label-matrix helpers (`balance.matrix`) and the library's one coefficient of variation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from goemobalance.balance import (
    check_multi_hot,
    coefficient_of_variation,
    column_counts,
    labelset_codes,
    labelset_counts,
    sparse_label_matrix,
)
from goemobalance.errors import InputError
from goemobalance.schema import multi_hot


@settings(max_examples=80, deadline=None)
@given(
    n_rows=st.integers(0, 60),
    n_labels=st.sampled_from([1, 3, 28, 62, 63, 130]),
    density=st.floats(0.0, 0.6),
    seed=st.integers(0, 2**32 - 1),
)
def test_labelset_codes_group_exactly_the_equal_rows(n_rows, n_labels, density, seed):
    """Also past 62 labels (several packed words per row) and for rows without labels."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n_rows, n_labels)) < density).astype(np.int8)
    y[rng.random(n_rows) < 0.2] = 0
    if n_rows > 1:
        y[-1] = y[0]
    codes, representatives = labelset_codes(y)
    reference = np.unique(y, axis=0, return_inverse=True)[1].ravel() if n_rows else np.zeros(0, int)
    assert len(representatives) == len(np.unique(reference))
    assert len(set(zip(codes.tolist(), reference.tolist()))) == len(representatives)
    assert np.array_equal(y[representatives[codes]], y)
    assert np.array_equal(representatives, np.sort(representatives))
    assert np.array_equal(codes[representatives], np.arange(len(representatives)))


def test_labelset_counts_and_column_counts():
    y = np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1], [0, 1, 0]], dtype=np.int8)
    labelsets, counts = labelset_counts(y)
    assert labelsets.tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0]] and counts.tolist() == [2, 1, 1]
    assert column_counts(sparse_label_matrix(y)).tolist() == [2, 1, 2]
    weighted = sp.csr_matrix(np.array([[2.0, 0.0], [1.5, 1.0]]))
    assert column_counts(weighted).tolist() == [3.5, 1.0]


def test_sparse_label_matrix_reads_every_form(goemotions_train):
    small = goemotions_train.select(range(500))
    dense = multi_hot(small)
    from_dataset = sparse_label_matrix(small)
    assert from_dataset.dtype == np.int32 and from_dataset.has_canonical_format
    assert np.array_equal(from_dataset.toarray(), dense)
    for form in (dense.astype(bool), dense.astype(np.float32), dense.tolist(), sp.csc_matrix(dense)):
        assert np.array_equal(sparse_label_matrix(form).toarray(), dense)
    canonical = sparse_label_matrix(dense)
    assert sparse_label_matrix(canonical) is canonical


def test_label_matrices_hold_only_zero_and_one():
    for bad in (np.array([[2, 0]]), np.array([[0.5, 1.0]]), sp.csr_matrix(np.array([[0, -1]]))):
        with pytest.raises(InputError, match="only 0 and 1"):
            sparse_label_matrix(bad)
    with pytest.raises(InputError, match="2-D"):
        sparse_label_matrix(np.array([1, 0]))
    check_multi_hot(np.array([[True, False]]))
    check_multi_hot(np.zeros((0, 3)))


def test_coefficient_of_variation_has_one_definition():
    """Population std over mean; NaN (undefined) for no values or a zero mean, never 0.0."""
    assert coefficient_of_variation([5, 5, 5]) == 0.0
    assert coefficient_of_variation([1, 3]) == pytest.approx(0.5)
    assert coefficient_of_variation(np.array([[2, 4], [6, 8]])) == pytest.approx(np.std([2, 4, 6, 8]) / 5)
    assert math.isnan(coefficient_of_variation([]))
    assert math.isnan(coefficient_of_variation([0, 0, 0]))
