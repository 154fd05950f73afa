"""Label matrices as the balance stage reads them: the one place that turns any label input into a
0/1 CSR matrix, counts its columns, and groups its rows by labelset.

Schema Datasets are read through `goemobalance.schema.multi_hot` (the home of "Arrow labels to a label
matrix"); dense arrays, lists of lists and scipy.sparse matrices are checked to hold only 0 and 1.
"""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np
import pandas as pd
import scipy.sparse as sp

from goemobalance.errors import InputError

__all__ = ["check_multi_hot", "column_counts", "labelset_codes", "sparse_label_matrix"]

#: Labels packed into one int64 key per row and word (62 bits keep every sum positive and exact).
_BITS_PER_WORD = 62


def sparse_label_matrix(y: Any) -> sp.csr_matrix:
    """Any 0/1 label matrix as an int32 CSR matrix with sorted indices.

    Parameters
    ----------
    y : datasets.Dataset, array-like or scipy.sparse matrix
        A schema Dataset (its ``labels`` column), or an (n_rows, n_labels) multi-hot matrix.

    Returns
    -------
    scipy.sparse.csr_matrix
        The (n_rows, n_labels) matrix; a canonical int32 CSR input is returned as is, not copied.

    Raises
    ------
    InputError
        When the matrix is not 2-D or holds values other than 0 and 1.
    """
    if isinstance(y, datasets.Dataset):
        from goemobalance.schema import multi_hot

        return _dense_to_csr(multi_hot(y))
    if not sp.issparse(y):
        return _dense_to_csr(np.asarray(y))
    if (
        isinstance(y, sp.csr_matrix)
        and y.dtype == np.int32
        and y.has_canonical_format
        and (not y.nnz or (y.data.min() == 1 and y.data.max() == 1))
    ):
        return y
    matrix = sp.csr_matrix(y).astype(np.int32)
    matrix.eliminate_zeros()
    check_multi_hot(matrix.data)
    matrix.sort_indices()
    return matrix


def check_multi_hot(values: np.ndarray) -> None:
    """Raise `InputError` unless every value is 0 or 1 (booleans pass).

    Parameters
    ----------
    values : numpy.ndarray
        A label matrix, or the stored values of a sparse one.
    """
    values = np.asarray(values)
    if values.size == 0 or values.dtype.kind == "b":
        return
    if values.dtype.kind in "iu":
        valid = values.min() >= 0 and values.max() <= 1
    else:
        valid = ((values == 0) | (values == 1)).all()
    if not valid:
        raise InputError("a label matrix holds only 0 and 1 (a multi-hot indicator matrix)")


def _dense_to_csr(array: np.ndarray) -> sp.csr_matrix:
    """A dense 0/1 matrix as CSR via one flat scan of a boolean view (several times faster than scipy's
    constructor on int8 input)."""
    if array.ndim != 2:
        raise InputError(f"a label matrix must be 2-D (n_samples, n_labels), got shape {array.shape}")
    n_rows, n_cols = array.shape
    array = np.ascontiguousarray(array)
    check_multi_hot(array)
    if array.dtype == bool or (array.dtype.itemsize == 1 and array.dtype.kind in "iu"):
        flags = array.view(bool)
    else:
        flags = array != 0
    flat = np.flatnonzero(flags)
    rows, indices = np.divmod(flat, max(n_cols, 1))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))])
    return sp.csr_matrix(
        (np.ones(len(flat), dtype=np.int32), indices.astype(np.int32), indptr), shape=(n_rows, n_cols)
    )


def column_counts(matrix: sp.csr_matrix) -> np.ndarray:
    """Sum of every column of a CSR matrix: rows per label for a 0/1 matrix, weighted sums otherwise.

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix
        A label matrix (or a matrix of per-group label counts).

    Returns
    -------
    numpy.ndarray
        One sum per column; int64 for a 0/1 matrix, float64 otherwise.
    """
    if not matrix.nnz or (matrix.data.dtype.kind in "iu" and matrix.data.min() == 1 == matrix.data.max()):
        return np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.int64)
    return np.bincount(matrix.indices, weights=matrix.data, minlength=matrix.shape[1])


def labelset_codes(y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Group rows by labelset (their exact set of labels): a code per row and one row per code.

    Each row's labels are packed into 62-bit integer keys (one per 62 labels) and the keys hashed with
    `pandas.factorize`: exact, and linear in the number of rows.

    Parameters
    ----------
    y : datasets.Dataset, array-like or scipy.sparse matrix
        Anything `sparse_label_matrix` reads.

    Returns
    -------
    codes : numpy.ndarray
        int64 code of every row, 0..n_codes-1, numbered in order of first occurrence; rows share a code
        exactly when they carry the same labels (rows without labels share one too).
    representatives : numpy.ndarray
        The first row carrying each code.
    """
    labels = sparse_label_matrix(y)
    n_rows, n_labels = labels.shape
    nonempty = np.diff(labels.indptr) > 0
    starts = labels.indptr[:-1][nonempty]
    codes = np.zeros(n_rows, dtype=np.int64)
    for word in range(max(1, -(-n_labels // _BITS_PER_WORD))):
        in_word = labels.indices // _BITS_PER_WORD == word
        bits = np.where(in_word, np.left_shift(1, labels.indices % _BITS_PER_WORD, dtype=np.int64), 0)
        keys = np.zeros(n_rows, dtype=np.int64)
        if len(starts):
            keys[nonempty] = np.add.reduceat(bits, starts)
        word_codes = pd.factorize(keys)[0].astype(np.int64)
        combined = codes * (int(word_codes.max(initial=0)) + 1) + word_codes
        codes = pd.factorize(combined)[0].astype(np.int64)
    n_codes = int(codes.max(initial=-1)) + 1
    representatives = np.zeros(n_codes, dtype=np.int64)
    representatives[codes[::-1]] = np.arange(n_rows - 1, -1, -1)
    return codes, representatives
