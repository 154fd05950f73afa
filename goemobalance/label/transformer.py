"""`TransformerLabeler`: pseudo-labels with any `transformers` sequence-classification model.

Fast: texts are tokenized once per shard, sorted by token length and cut into batches under a token
budget (little padding), run under `torch.inference_mode` (bf16/fp16 autocast, pinned memory and
non-blocking copies on CUDA), and results stay on the device until a shard is done.
Resumable: each finished shard's probabilities are written as parquet under a cache folder keyed by
model, revision and input hash; a rerun after an interruption only computes the missing shards.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm.auto import tqdm

from goemobalance.atomic import replacing
from goemobalance.device import autocast_dtype, resolve_device
from goemobalance.errors import InputError
from goemobalance.label.base import ProbaLabeler
from goemobalance.label.batching import (
    budget_batches,
    chunks,
    clean_texts,
    pad_batch,
    to_device,
    tokenize,
)
from goemobalance.label.models import DEFAULT_MODEL
from goemobalance.label.selection import SelectionRule
from goemobalance.labels import GOEMOTIONS, LabelSpace, UnknownLabelError

ACTIVATIONS = ("auto", "sigmoid", "softmax")


class LabelMappingError(InputError):
    """The model's ``id2label`` does not map one-to-one onto the label space."""


def label_order(
    id2label: Mapping[int, str], space: LabelSpace, label_map: Mapping[str, str] | None = None
) -> np.ndarray:
    """For each label of `space`, the model output index holding it; raise `LabelMappingError` otherwise.

    `label_map` renames model labels first (e.g. ``{"LABEL_0": "admiration"}``); names compare
    case-insensitively.
    """
    label_map = dict(label_map or {})
    model_names = [label_map.get(id2label[i], id2label[i]) for i in range(len(id2label))]
    unknown, position = [], {}
    for index, name in enumerate(model_names):
        try:
            space_id = space.id(name)
        except UnknownLabelError:
            unknown.append(name)
            continue
        if space_id in position:
            raise LabelMappingError(
                f"model labels {position[space_id]} and {index} both map to {space.name(space_id)!r}"
            )
        position[space_id] = index
    missing = [space.name(i) for i in range(len(space)) if i not in position]
    if unknown or missing:
        hint = (" The model has generic LABEL_k names: pass label_map={'LABEL_0': '<name>', ...}."
                if any(str(n).upper().startswith("LABEL_") for n in unknown) else "")  # fmt: skip
        raise LabelMappingError(
            f"model id2label does not match the label space ({len(id2label)} model labels, {len(space)} in the space): "
            f"not in the space: {unknown or 'none'}; missing from the model: {missing or 'none'}.{hint}"
        )
    return np.asarray([position[i] for i in range(len(space))], dtype=np.int64)


def activation_for(config: Any, function_to_apply: str = "auto") -> str:
    """``sigmoid`` for multi-label (or one-logit) models, ``softmax`` for single-label ones, as transformers does."""
    if function_to_apply not in ACTIVATIONS:
        raise ValueError(f"function_to_apply must be one of {ACTIVATIONS}, got {function_to_apply!r}")
    if function_to_apply != "auto":
        return function_to_apply
    if config.problem_type == "multi_label_classification" or config.num_labels == 1:
        return "sigmoid"
    return "softmax"


def texts_digest(texts: Sequence[str]) -> str:
    """A hash of the input texts, in order (part of the resume cache key)."""
    digest = hashlib.sha256()
    for text in texts:
        encoded = text.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


def weights_digest(model: torch.nn.Module) -> str:
    """A hash of a model's parameters, for models without a Hub commit (local folders, in-memory models)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return "weights-" + digest.hexdigest()[:16]


class TransformerLabeler(ProbaLabeler):
    """Pseudo-labels texts with a `transformers` sequence-classification model (Hub id, local folder or object).

    ``predict_proba(texts)`` -> (n, L) probabilities in `space` order; ``label(dataset)`` writes
    ``labels``, ``scores``, ``label_origin="pseudo"`` and provenance; ``labeler(batch)`` labels one
    batch for ``datasets.Dataset.map(batched=True)`` or Ray Data ``map_batches``.

    Parameters
    ----------
    model : str, Path or torch.nn.Module, default DEFAULT_MODEL
        A Hub id, a local model folder, or an already built model (then `tokenizer` is required).
    revision : str, optional
        The Hub revision to load.
    space : LabelSpace, default GOEMOTIONS
        The output labels; every one must be among the model's ``id2label`` names (after `label_map`).
    device : str, default "auto"
        ``"auto"`` (CUDA when available) or anything `torch.device` accepts.
    max_tokens_per_batch : int, default 8192
        Token budget of one batch (texts are sorted by length and packed).
    max_batch_size : int, default 256
        Most texts per batch.
    max_length : int, default 128
        Tokens kept per text.
    amp : str, default "auto"
        Autocast mode (``"auto"``, ``"bf16"``, ``"fp16"``, ``"off"``; see `goemobalance.device`).
    function_to_apply : str, default "auto"
        ``"sigmoid"``, ``"softmax"`` or ``"auto"`` (chosen from the model config, see `activation_for`).
    label_map : mapping of str to str, optional
        Renames model labels before matching (e.g. ``{"LABEL_0": "admiration"}``).
    rule : SelectionRule, optional
        The selection rule (`SelectionRule()` when None).
    cache_dir : str or Path, optional
        Folder where finished shards are written, so an interrupted run resumes; None: no cache.
    shard_size : int, default 8192
        Texts per cached shard.
    tokenizer : object, optional
        A tokenizer to use instead of loading the model's.
    show_progress : bool, default True
        Show a tqdm bar while labelling.
    model_kwargs : mapping, optional
        Extra keyword arguments of ``AutoModelForSequenceClassification.from_pretrained``.

    Attributes
    ----------
    model, tokenizer : object
        The loaded model (on `device`, in eval mode) and tokenizer.
    model_id : str
        The Hub id, absolute folder path, or in-memory model's name.
    activation : str
        ``"sigmoid"`` or ``"softmax"``.
    order : np.ndarray
        For each label of `space`, the model output index holding it.

    Raises
    ------
    LabelMappingError
        If the model's labels do not match `space`.
    OSError
        If the model cannot be loaded.
    """

    def __init__(
        self,
        model: str | Path | torch.nn.Module = DEFAULT_MODEL,
        revision: str | None = None,
        space: LabelSpace = GOEMOTIONS,
        device: str = "auto",
        max_tokens_per_batch: int = 8192,
        max_batch_size: int = 256,
        max_length: int = 128,
        amp: str = "auto",
        function_to_apply: str = "auto",
        label_map: Mapping[str, str] | None = None,
        rule: SelectionRule | None = None,
        cache_dir: str | Path | None = None,
        shard_size: int = 8192,
        tokenizer: Any = None,
        show_progress: bool = True,
        model_kwargs: Mapping[str, Any] | None = None,
    ):
        self.space = space
        self.rule = rule or SelectionRule()
        self.device = resolve_device(device)
        self.autocast_dtype = autocast_dtype(self.device, amp)
        self.max_tokens_per_batch = int(max_tokens_per_batch)
        self.max_batch_size = int(max_batch_size)
        self.max_length = int(max_length)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.shard_size = int(shard_size)
        self.show_progress = show_progress
        self.model, self.tokenizer, self.model_id = _load_model(
            model, revision, tokenizer, dict(model_kwargs or {})
        )
        self.model = self.model.to(self.device).eval()
        self.revision = revision or getattr(self.model.config, "_commit_hash", None)
        self.activation = activation_for(self.model.config, function_to_apply)
        self.order = label_order(self.model.config.id2label, space, label_map)
        self._order_on_device = torch.as_tensor(self.order, device=self.device)
        self._identity: str | None = None

    def identity(self) -> str:
        """The model's revision: the Hub commit hash when known, else a hash of its weights.

        Returns
        -------
        str
            Computed once and remembered.
        """
        if self._identity is None:
            self._identity = self.revision or weights_digest(self.model)
        return self._identity

    def provenance(self) -> dict[str, Any]:
        """What produced the labels, stored in each pseudo-labelled row's meta.

        Returns
        -------
        dict
            ``labeler`` (``"transformer"``), ``model``, ``revision`` (`identity`), ``activation`` and
            ``max_length``.
        """
        return {"labeler": "transformer", "model": self.model_id, "revision": self.identity(),
                "activation": self.activation, "max_length": self.max_length}  # fmt: skip

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Per-label probabilities (n, L) float32 in `space` order; cached shards are reused, not recomputed.

        Parameters
        ----------
        texts : sequence of str
            The texts to score (None is scored as an empty string).

        Returns
        -------
        np.ndarray
            ``float32`` array of shape ``(len(texts), len(space))``, rows in input order.
        """
        texts = clean_texts(texts)
        out = np.zeros((len(texts), len(self.space)), dtype=np.float32)
        cache = self._shard_folder(texts) if self.cache_dir is not None and texts else None
        with tqdm(
            total=len(texts), unit="text", desc="label", disable=not self.show_progress, smoothing=0.1
        ) as bar:
            for shard, rows in enumerate(chunks(len(texts), self.shard_size)):
                path = cache / f"shard-{shard:06d}.parquet" if cache else None
                cached = _read_shard(path, len(self.space)) if path is not None and path.is_file() else None
                if cached is not None and len(cached) == rows.stop - rows.start:
                    out[rows] = cached
                    bar.update(len(cached))
                    continue
                out[rows] = self._predict_shard(texts[rows], bar)
                if path is not None:
                    _write_shard(path, out[rows])
        return out

    def _shard_folder(self, texts: list[str]) -> Path:
        """``cache_dir/<model>-<revision>-<input hash>``, with a manifest describing the run."""
        key = {"model": self.model_id, "revision": self.identity(), "activation": self.activation,
               "max_length": self.max_length, "shard_size": self.shard_size, "labels": list(self.space.names),
               "inputs": texts_digest(texts), "n_texts": len(texts)}  # fmt: skip
        run_hash = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        safe_model = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.model_id)[-60:]
        folder = self.cache_dir / f"{safe_model}-{self.identity()[:16]}-{run_hash}"
        folder.mkdir(parents=True, exist_ok=True)
        manifest = folder / "manifest.json"
        if not manifest.is_file():
            manifest.write_text(json.dumps(key, indent=2) + "\n", encoding="utf-8")
        return folder

    def _predict_shard(self, texts: list[str], bar: tqdm) -> np.ndarray:
        """Probabilities for one shard: tokenize once, length-sorted budget batches, one copy back at the end."""
        ids = tokenize(self.tokenizer, texts, self.max_length)
        batches = budget_batches([len(x) for x in ids], self.max_tokens_per_batch, self.max_batch_size)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        pin = self.device.type == "cuda"
        results = []
        for index in batches:
            batch = to_device(pad_batch([ids[i] for i in index], pad_id, self.tokenizer.model_input_names, pin),
                              self.device)  # fmt: skip
            results.append(self._forward(batch))
            bar.update(len(index))
        probs = torch.cat(results).cpu().numpy() if results else np.zeros((0, len(self.space)), np.float32)
        out = np.empty_like(probs)
        out[np.concatenate(batches) if batches else []] = probs
        return out

    @torch.inference_mode()
    def _forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Label-space probabilities (float32, on the device) of one padded batch."""
        enabled = self.autocast_dtype is not None
        with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=enabled):
            logits = self.model(**batch).logits
        logits = logits.float().index_select(1, self._order_on_device)
        return torch.sigmoid(logits) if self.activation == "sigmoid" else torch.softmax(logits, dim=-1)


def _load_model(model: Any, revision: str | None, tokenizer: Any, model_kwargs: dict) -> tuple[Any, Any, str]:
    """(model, tokenizer, model id) from a Hub id, a local folder, or an already built model."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if isinstance(model, torch.nn.Module):
        if tokenizer is None:
            raise ValueError("pass tokenizer= together with an in-memory model")
        name = getattr(model.config, "_name_or_path", "") or type(model).__name__
        return model, tokenizer, str(name)
    model_id = str(model)
    if Path(model_id).expanduser().is_dir():
        model_id = str(Path(model_id).expanduser().resolve())
    try:
        loaded = AutoModelForSequenceClassification.from_pretrained(
            model_id, revision=revision, **model_kwargs
        )
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_id, revision=revision)
    except OSError as exc:
        raise OSError(
            f"could not load the classification model {model_id!r} ({exc}). Without network, pass a local "
            "model folder, or use the offline labeler (goemobalance label --offline DIR)."
        ) from exc
    return loaded, tokenizer, model_id


def _write_shard(path: Path, probs: np.ndarray) -> None:
    """Write one shard's probabilities as parquet, atomically (`goemobalance.atomic`)."""
    flat = pa.array(np.ascontiguousarray(probs, dtype=np.float32).reshape(-1))
    table = pa.table({"scores": pa.FixedSizeListArray.from_arrays(flat, probs.shape[1])})
    with replacing(path) as tmp:
        pq.write_table(table, tmp)


def _read_shard(path: Path, n_labels: int) -> np.ndarray:
    column = pq.read_table(path).column("scores").combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, n_labels)
