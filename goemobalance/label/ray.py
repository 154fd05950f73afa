"""Pseudo-labelling on Ray Data: the labeler as a callable class in an actor pool, one actor per CPU or GPU.

The same code runs on a laptop (``ray.init(num_cpus=2)``) and on a cluster (``ray.init(address="auto")``)::

    import ray
    from goemobalance.label.ray import accepted_rows, label_with_ray, to_dataset

    ray.init(address="auto")
    labelled = label_with_ray("s3://bucket/unlabeled/", labeler)    # or a datasets.Dataset
    accepted_rows(labelled).write_parquet("s3://bucket/labelled/")  # read back by a `dataset` source
    # or, when it fits in memory: to_dataset(labelled, labeler.space)

Every actor holds one copy of the labeler (sent once through the object store) and labels Arrow batches
with its ``predict_proba`` and the same `prediction_columns` as `ProbaLabeler.label`, so the labels,
scores and meta are identical to the single-process path. Row order is preserved. See docs/scale.md.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import datasets
import pyarrow as pa
import pyarrow.compute as pc

from goemobalance.label.base import ProbaLabeler, prediction_columns
from goemobalance.label.selection import SelectionRule
from goemobalance.labels import LabelSpace
from goemobalance.schema import COLUMNS, features

if TYPE_CHECKING:
    import ray.data

RAY_BATCH_SIZE = 4096
BLOCK_BATCHES = 4


def label_with_ray(
    data: Any,
    labeler: ProbaLabeler,
    *,
    rule: SelectionRule | None = None,
    batch_size: int = RAY_BATCH_SIZE,
    concurrency: int | None = None,
    num_gpus: float | None = None,
) -> ray.data.Dataset:
    """Pseudo-label `data` with `labeler` on Ray Data (`map_batches` over an actor pool).

    Parameters
    ----------
    data : ray.data.Dataset, datasets.Dataset, str or list of str
        Rows in the record schema (at least ``text``; ``meta`` is kept and stamped): a Ray dataset, a
        `datasets.Dataset`, or parquet path(s) / folder(s) that every node can read.
    labeler : ProbaLabeler
        A fitted labeler; it is pickled once into the object store and loaded by each actor.
    rule : SelectionRule, optional
        How probabilities become labels (default: the labeler's rule).
    batch_size : int
        Rows per batch given to an actor.
    concurrency : int, optional
        Actors in the pool; default one per GPU when `num_gpus` is set, else one per CPU of the cluster.
    num_gpus : float, optional
        GPUs per actor (e.g. 1 for a transformer labeler on a GPU cluster); default none.

    Returns
    -------
    ray.data.Dataset
        The rows with ``labels``, ``scores``, ``label_origin="pseudo"`` and provenance in ``meta``, in input
        order (lazy: nothing runs until it is consumed, e.g. by ``write_parquet`` or `to_dataset`).
    """
    import ray

    if not ray.is_initialized():
        ray.init()
    rows = _as_ray_dataset(data, block_rows=batch_size * BLOCK_BATCHES)
    size = concurrency or _pool_size(num_gpus)
    labelled = rows.map_batches(
        RayLabeler,
        fn_constructor_args=(ray.put(labeler), rule or labeler.rule or SelectionRule()),
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=size),
        num_cpus=0 if num_gpus else _actor_cpus(size),
        num_gpus=num_gpus or None,
    )
    labelled.context.execution_options.preserve_order = True
    return labelled


class RayLabeler:
    """The callable class each Ray actor runs: labels one Arrow batch, as `ProbaLabeler.label` does."""

    def __init__(self, labeler: Any, rule: SelectionRule):
        import ray

        self.labeler: ProbaLabeler = ray.get(labeler) if isinstance(labeler, ray.ObjectRef) else labeler
        self.rule = rule
        self.provenance = self.labeler.provenance()

    def __call__(self, batch: pa.Table) -> pa.Table:
        return label_table(batch, self.labeler, self.rule, self.provenance)


def label_table(
    batch: pa.Table, labeler: ProbaLabeler, rule: SelectionRule, provenance: dict[str, Any] | None = None
) -> pa.Table:
    """One Arrow batch in the record schema with the labeler's labels, scores and provenance.

    Parameters
    ----------
    batch : pyarrow.Table
        Rows with a ``text`` column (and usually the other schema columns).
    labeler : ProbaLabeler
        Gives ``predict_proba`` and the label space.
    rule : SelectionRule
        How probabilities become labels.
    provenance : dict, optional
        The labeler's provenance (computed once per actor by `RayLabeler`).

    Returns
    -------
    pyarrow.Table
        `batch` with ``labels``, ``scores``, ``label_origin`` and ``meta`` replaced or added.
    """
    texts = batch.column("text").to_pylist()
    metas = batch.column("meta").to_pylist() if "meta" in batch.column_names else ["{}"] * len(texts)
    probs = labeler.predict_proba(texts)
    columns = prediction_columns(probs, labeler.space, rule, provenance or labeler.provenance(), metas)
    types = {"labels": pa.list_(pa.int64()), "scores": pa.list_(pa.float32()), "label_origin": pa.string(),
             "meta": pa.string()}  # fmt: skip
    for name, values in columns.items():
        array = pa.array(values, types[name])
        if name in batch.column_names:
            batch = batch.set_column(batch.schema.get_field_index(name), name, array)
        else:
            batch = batch.append_column(name, array)
    return batch


def accepted_rows(labelled: ray.data.Dataset) -> ray.data.Dataset:
    """The rows that kept labels, as `accept` would accept them (a row the rule leaves without labels,
    for its top probability under ``min_confidence`` or no label over its threshold, is dropped).

    Write these for a recipe to read back: a row without labels would be taken as still unlabeled and
    pseudo-labelled again by the build.
    """
    return labelled.map_batches(_with_labels, batch_format="pyarrow")


def _with_labels(batch: pa.Table) -> pa.Table:
    return batch.filter(pc.greater(pc.list_value_length(batch.column("labels")), 0))


def to_dataset(labelled: ray.data.Dataset, space: LabelSpace) -> datasets.Dataset:
    """Collect a labelled Ray dataset into a `datasets.Dataset` with the record features of `space`.

    For outputs that fit in the driver's memory (tests, a few million rows); larger ones are written with
    ``labelled.write_parquet(folder)`` and read back by a recipe source (docs/scale.md).
    """
    import ray

    tables = [ray.get(ref) for ref in labelled.to_arrow_refs()]
    table = pa.concat_tables([t for t in tables if t.num_rows] or tables[:1])
    dataset = datasets.Dataset(table)
    target = features(space)
    updated = dataset.features.copy()
    for name in COLUMNS:
        if name in updated:
            updated[name] = target[name]
    return dataset.cast(updated)


def _as_ray_dataset(data: Any, block_rows: int) -> ray.data.Dataset:
    """`data` as a Ray dataset of blocks of `block_rows` rows for the actors.

    A memory-mapped `datasets.Dataset` (saved or loaded from disk) is read block by block by Ray tasks, so
    memory stays flat whatever its size (its files must be readable by every node); an in-memory one is
    copied into the object store.
    """
    import ray.data

    if isinstance(data, ray.data.Dataset):
        return data
    if isinstance(data, datasets.Dataset) and data.cache_files:
        n_blocks = max(1, math.ceil(len(data) / block_rows))
        return ray.data.range(n_blocks, override_num_blocks=n_blocks).map_batches(
            _read_blocks, fn_kwargs={"dataset": data, "block_rows": block_rows}, batch_size=1
        )
    if isinstance(data, datasets.Dataset):
        table = data.with_format("arrow")[:]
        return ray.data.from_arrow(
            [table.slice(start, block_rows) for start in range(0, len(table), block_rows)] or [table]
        )
    if isinstance(data, (str, Path, list, tuple)):
        paths = [os.fspath(p) for p in data] if isinstance(data, (list, tuple)) else os.fspath(data)
        return ray.data.read_parquet(paths)
    raise TypeError(f"expected a ray.data.Dataset, a datasets.Dataset or parquet path(s), got {type(data)}")


def _read_blocks(batch: dict[str, Any], dataset: datasets.Dataset, block_rows: int) -> pa.Table:
    """Blocks of a memory-mapped `datasets.Dataset`, read by number in the worker: only the file paths
    travel, so no process holds more than the blocks it works on."""
    rows = dataset.with_format("arrow")
    return pa.concat_tables([rows[int(i) * block_rows : (int(i) + 1) * block_rows] for i in batch["id"]])


def _actor_cpus(pool_size: int) -> float:
    """Logical CPUs per CPU actor: one each, but one CPU of the cluster is left to Ray Data's read and
    write tasks, which would otherwise wait for the actors forever (2 actors on 2 CPUs: 0.5 each)."""
    import ray

    total = ray.cluster_resources().get("CPU", 1)
    return max(0.0, min(1.0, (total - 1) / pool_size))


def _pool_size(num_gpus: float | None) -> int:
    """Actors for the pool: one per GPU (or per `num_gpus` share) when GPUs are asked for, else one per CPU."""
    import ray

    resources = ray.cluster_resources()
    if num_gpus:
        return max(1, math.floor(resources.get("GPU", 0) / num_gpus))
    return max(1, int(resources.get("CPU", 1)))


__all__ = ["RAY_BATCH_SIZE", "RayLabeler", "accepted_rows", "label_table", "label_with_ray", "to_dataset"]
