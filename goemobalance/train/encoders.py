"""Text -> tensor encoders for both model kinds, both giving ``input_ids`` and ``attention_mask``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from goemobalance.train.tokenize import Vocabulary, tokenize


class HybridEncoder:
    """Tokenize with `tokenize`, map to vocabulary ids, cut/pad to `max_len` (right padding with id 0)."""

    kind = "hybrid"

    def __init__(self, vocab: Vocabulary, max_len: int):
        self.vocab = vocab
        self.max_len = int(max_len)

    def encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        ids = torch.zeros((len(texts), self.max_len), dtype=torch.long)
        for row, text in enumerate(texts):
            token_ids = self.vocab.encode(tokenize(text))[: self.max_len] or [self.vocab.unk_id]
            ids[row, : len(token_ids)] = torch.tensor(token_ids, dtype=torch.long)
        return {"input_ids": ids, "attention_mask": (ids != self.vocab.pad_id).long()}

    def save(self, folder: str | Path) -> None:
        self.vocab.save(Path(folder) / "vocab.json")

    @classmethod
    def load(cls, folder: str | Path, max_len: int) -> HybridEncoder:
        return cls(Vocabulary.load(Path(folder) / "vocab.json"), max_len)


class TransformerEncoder:
    """A `transformers` tokenizer, truncating and padding to `max_length`."""

    kind = "transformer"

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = int(max_length)

    def encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.max_length,
            padding="max_length",
            return_tensors="pt",
        )
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def save(self, folder: str | Path) -> None:
        self.tokenizer.save_pretrained(Path(folder) / "hf")

    @classmethod
    def load(cls, folder: str | Path, max_length: int) -> TransformerEncoder:
        from transformers import AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(Path(folder) / "hf"), max_length)


def trim_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the padding columns no row of the batch needs (right padding), to save compute."""
    longest = int(batch["attention_mask"].sum(dim=1).max().clamp(min=1))
    return {key: value[:, :longest] for key, value in batch.items()}


__all__ = ["HybridEncoder", "TransformerEncoder", "trim_batch"]
