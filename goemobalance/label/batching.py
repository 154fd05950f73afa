"""Length-sorted, token-budgeted batching shared by the encoder and the transformer labeler.

Sorting texts by token length before batching keeps padding small, which is where most of the speed
over a plain `transformers.pipeline` comes from; results are scattered back to the input order.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import datasets
import numpy as np
from joblib.externals.loky.process_executor import ProcessPoolExecutor

from goemobalance.mapped import pages_released

if TYPE_CHECKING:
    import torch

PREDICT_BATCH_SIZE = 16_384


def clean_texts(texts: Sequence[str | None]) -> list[str]:
    """Texts as plain strings (None -> empty string) so tokenizers never fail on missing values."""
    return ["" if t is None else str(t) for t in texts]


def tokenize(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids per text, truncated to `max_length`, with special tokens, without padding (never empty)."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)
    fallback = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else (tokenizer.pad_token_id or 0)
    return [ids if ids else [fallback] for ids in encoded["input_ids"]]


def budget_batches(
    lengths: Sequence[int],
    max_tokens: int,
    max_batch_size: int,
    min_fill: float = 0.9,
    min_batch_size: int = 8,
) -> list[np.ndarray]:
    """Index batches of texts sorted longest first; each batch's padded size stays within `max_tokens`.

    A batch also closes when the next text is shorter than `min_fill` times the batch's longest (once it
    holds `min_batch_size` texts), so padding stays under about 10% even for small or skewed inputs.
    The longest batch comes first so an out-of-memory error shows up at once, not at the end of a run.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths[order]
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        longest = max(int(sorted_lengths[start]), 1)
        size = max(1, min(max_batch_size, max_tokens // longest, len(order) - start))
        too_short = np.flatnonzero(sorted_lengths[start + min_batch_size : start + size] < min_fill * longest)
        if len(too_short):
            size = min_batch_size + int(too_short[0])
        batches.append(order[start : start + size])
        start += size
    return batches


def pad_batch(
    ids: Sequence[Sequence[int]], pad_id: int, input_names: Sequence[str], pin: bool = False
) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``/``attention_mask`` (and zero ``token_type_ids`` when the model takes them)."""
    import torch

    width = max(len(x) for x in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
    if "token_type_ids" in input_names:
        batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
    if pin:
        batch = {k: v.pin_memory() for k, v in batch.items()}
    return batch


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Move a batch to `device`, asynchronously from pinned memory on CUDA."""
    return {k: v.to(device, non_blocking=device.type == "cuda") for k, v in batch.items()}


def chunks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``range(n)`` of at most `size` items."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def predict_proba_in_batches(
    predict_proba: Callable[[list[str]], np.ndarray],
    dataset: datasets.Dataset,
    n_labels: int,
    batch_size: int = PREDICT_BATCH_SIZE,
    n_jobs: int = 1,
) -> np.ndarray:
    """`predict_proba` over the ``text`` column, `batch_size` rows at a time, read from Arrow.

    Only a few batches of texts (and their features, e.g. a TF-IDF matrix) are in memory at a time; the
    result is the (n_rows, n_labels) float32 probability matrix. With ``n_jobs > 1`` the batches are
    predicted in that many worker processes (joblib's loky executor, which starts fresh interpreters: safe
    next to Arrow and torch threads); `predict_proba` is sent to each worker once, when it starts, and
    the workers stop when the last batch is back. Each row's probabilities are computed the same way
    wherever they are computed, so the result is identical to ``n_jobs=1``.

    Parameters
    ----------
    predict_proba : callable
        Texts -> (n, n_labels) probabilities, e.g. a labeler's ``predict_proba`` (picklable for
        ``n_jobs > 1``).
    dataset : datasets.Dataset
        Rows with a ``text`` column.
    n_labels : int
        Columns of the result.
    batch_size : int
        Texts per call of `predict_proba`.
    n_jobs : int
        Worker processes, at most one per two batches (a worker's start-up costs about a batch); 1, or
        fewer than four batches, predicts in this process.

    Returns
    -------
    numpy.ndarray
        Probabilities in row order, float32.
    """
    texts = dataset.select_columns(["text"]).with_format("arrow")
    probs = np.empty((len(dataset), n_labels), dtype=np.float32)
    batches = list(chunks(len(dataset), batch_size))
    jobs = min(n_jobs, len(batches) // 2)
    with pages_released(dataset):
        _predict_batches(predict_proba, texts, batches, probs, jobs)
    return probs


def _predict_batches(
    predict_proba: Callable[[list[str]], np.ndarray],
    texts: datasets.Dataset,
    batches: list[slice],
    probs: np.ndarray,
    jobs: int,
) -> None:
    """Fill `probs` batch by batch, in this process (``jobs <= 1``) or in `jobs` worker processes."""
    if jobs <= 1:
        for rows in batches:
            probs[rows] = predict_proba(texts[rows].column("text").to_pylist())
        return
    with ProcessPoolExecutor(max_workers=jobs, initializer=_install, initargs=(predict_proba,)) as pool:
        pending: deque = deque()
        for rows in batches:
            pending.append((rows, pool.submit(_predict_installed, texts[rows].column("text").to_pylist())))
            if len(pending) > 2 * jobs:
                done, future = pending.popleft()
                probs[done] = future.result()
        for done, future in pending:
            probs[done] = future.result()


#: The `predict_proba` a worker process was started with (sent once per worker, not with every batch).
_installed: Callable[[list[str]], np.ndarray] | None = None


def _install(predict_proba: Callable[[list[str]], np.ndarray]) -> None:
    global _installed
    _installed = predict_proba


def _predict_installed(texts: list[str]) -> np.ndarray:
    return _installed(texts)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity where the platform tells, else the CPU count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
