"""The paper's hybrid classifier: embedding -> Conv1d (several widths) -> BiLSTM -> attention -> linear.

The network returns logits; `torch.sigmoid` of them are the per-label probabilities (multi-label output).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from goemobalance.strict import from_mapping


@dataclass
class HybridConfig:
    """Every hyperparameter of `HybridClassifier`.

    From arXiv 2511.14073: ``embedding_dim=300`` (FastText vectors), ``max_len=30`` tokens, the layer order
    and the sigmoid multi-label head. Ours (not given in the paper): the convolution widths and channels,
    LSTM size, attention size and dropout rates.

    Parameters
    ----------
    vocab_size : int, default 2
        Rows of the embedding table (the vocabulary size, padding and unknown included).
    num_labels : int, default 28
        Output logits.
    embedding_dim : int, default 300
        Word-vector size (set from the loaded vectors when training).
    max_len : int, default 30
        Tokens kept per text.
    kernel_sizes : tuple of int, default (2, 3, 4)
        Widths of the parallel convolutions (positive).
    conv_channels : int, default 128
        Output channels of each convolution.
    lstm_hidden : int, default 128
        Hidden size of each BiLSTM direction.
    lstm_layers : int, default 1
        Stacked BiLSTM layers.
    attention_dim : int, default 128
        Size of the additive attention's projection.
    embedding_dropout : float, default 0.2
        Dropout on the embedded tokens.
    dropout : float, default 0.5
        Dropout before the output layer.
    freeze_embeddings : bool, default False
        Keep the word vectors fixed.
    padding_idx : int, default 0
        Token id of padding (masked out of the LSTM and the attention).

    Raises
    ------
    ValueError
        If a size is below 1 or a kernel size is not positive.
    """

    vocab_size: int = 2
    num_labels: int = 28
    embedding_dim: int = 300
    max_len: int = 30
    kernel_sizes: tuple[int, ...] = (2, 3, 4)
    conv_channels: int = 128
    lstm_hidden: int = 128
    lstm_layers: int = 1
    attention_dim: int = 128
    embedding_dropout: float = 0.2
    dropout: float = 0.5
    freeze_embeddings: bool = False
    padding_idx: int = 0

    def __post_init__(self) -> None:
        self.kernel_sizes = tuple(int(k) for k in self.kernel_sizes)
        if not self.kernel_sizes or min(self.kernel_sizes) < 1:
            raise ValueError(f"kernel_sizes must be positive integers, got {self.kernel_sizes}")
        for name in ("vocab_size", "num_labels", "embedding_dim", "max_len", "conv_channels", "lstm_hidden"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"HybridConfig.{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        """The hyperparameters as plain data (``kernel_sizes`` as a list), for checkpoints and JSON.

        Returns
        -------
        dict
        """
        data = asdict(self)
        data["kernel_sizes"] = list(self.kernel_sizes)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "HybridConfig") -> HybridConfig:
        """Build from a plain mapping (a checkpoint's or a file's); errors name `where` and the field.

        Parameters
        ----------
        data : mapping
            Field name -> value (as `to_dict` writes it).
        where : str, default "HybridConfig"
            Prefix of error messages.

        Returns
        -------
        HybridConfig

        Raises
        ------
        InputError
            An unknown field, a wrong type or an out-of-range value.
        """
        return from_mapping(cls, data, where)


class AdditiveAttention(nn.Module):
    """Bahdanau-style attention pooling: score_t = v . tanh(W h_t), softmax over non-padding steps."""

    def __init__(self, input_dim: int, attention_dim: int):
        super().__init__()
        self.project = nn.Linear(input_dim, attention_dim)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.score(torch.tanh(self.project(states))).squeeze(-1)
        scores = scores.float().masked_fill(~mask, torch.finfo(torch.float32).min)
        weights = torch.softmax(scores, dim=-1)
        context = torch.bmm(weights.unsqueeze(1).to(states.dtype), states).squeeze(1)
        return context, weights


class HybridClassifier(nn.Module):
    """Embedding -> parallel Conv1d+ReLU (one per kernel size) -> BiLSTM -> attention -> dropout -> linear.

    Parameters
    ----------
    config : HybridConfig
        The architecture.
    embeddings : array-like of shape (vocab_size, embedding_dim), optional
        Initial word vectors; random (torch's default) when None.

    Attributes
    ----------
    config : HybridConfig
        The architecture it was built with.

    Raises
    ------
    ValueError
        If `embeddings` does not have the configured shape.
    """

    def __init__(self, config: HybridConfig, embeddings: np.ndarray | torch.Tensor | None = None):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.padding_idx)
        if embeddings is not None:
            self._load_embeddings(embeddings)
        self.embedding.weight.requires_grad = not config.freeze_embeddings
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.convs = nn.ModuleList(
            nn.Conv1d(config.embedding_dim, config.conv_channels, k) for k in config.kernel_sizes
        )
        self.lstm = nn.LSTM(
            config.conv_channels * len(config.kernel_sizes),
            config.lstm_hidden,
            num_layers=config.lstm_layers,
            batch_first=True,
            bidirectional=True,
        )
        self.attention = AdditiveAttention(2 * config.lstm_hidden, config.attention_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(2 * config.lstm_hidden, config.num_labels)

    def _load_embeddings(self, embeddings: np.ndarray | torch.Tensor) -> None:
        weights = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
        expected = (self.config.vocab_size, self.config.embedding_dim)
        if tuple(weights.shape) != expected:
            raise ValueError(f"embedding matrix has shape {tuple(weights.shape)}, config expects {expected}")
        with torch.no_grad():
            self.embedding.weight.copy_(weights)

    def init_output_bias(self, label_frequencies: np.ndarray) -> None:
        """Start the output bias at the log-odds of each label's training frequency.

        The network then begins at the label priors instead of spending its first updates learning them,
        which shortens the initial plateau of multi-label BCE training.

        Parameters
        ----------
        label_frequencies : array-like of shape (num_labels,)
            Share of training rows carrying each label (clipped to [1e-4, 1 - 1e-4]).
        """
        freq = np.clip(np.asarray(label_frequencies, dtype=np.float64), 1e-4, 1 - 1e-4)
        with torch.no_grad():
            self.head.bias.copy_(torch.as_tensor(np.log(freq / (1 - freq)), dtype=torch.float32))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits of shape (batch, num_labels) for a (batch, seq_len) tensor of token ids.

        Parameters
        ----------
        input_ids : torch.Tensor
            ``(batch, seq_len)`` token ids, padded with ``padding_idx``.
        attention_mask : torch.Tensor, optional
            ``(batch, seq_len)``, non-zero at real tokens; default: ``input_ids != padding_idx``.
        return_attention : bool, default False
            Also return the attention weights.

        Returns
        -------
        logits : torch.Tensor
            ``(batch, num_labels)``.
        weights : torch.Tensor
            ``(batch, seq_len)`` attention weights (only with `return_attention`).
        """
        mask = input_ids != self.config.padding_idx if attention_mask is None else attention_mask.bool()
        lengths = mask.sum(dim=1).clamp(min=1)
        embedded = self.embedding_dropout(self.embedding(input_ids)).transpose(1, 2)
        features = torch.cat([torch.relu(conv(_same_pad(embedded, conv))) for conv in self.convs], dim=1)
        features = features.transpose(1, 2)
        packed = pack_padded_sequence(features, lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = self.lstm(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=input_ids.shape[1])
        step_mask = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :] < lengths[:, None]
        context, weights = self.attention(states, step_mask)
        logits = self.head(self.dropout(context))
        return (logits, weights) if return_attention else logits


def _same_pad(inputs: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """Zero-pad the time axis so the convolution keeps the sequence length, for odd and even widths."""
    width = conv.kernel_size[0]
    return nn.functional.pad(inputs, ((width - 1) // 2, width // 2))


__all__ = ["AdditiveAttention", "HybridClassifier", "HybridConfig"]
