"""`fit`: train the hybrid model, the transformer baseline or the proxy on schema Datasets -> `TrainedModel`.

One loop for both network kinds: BCE-with-logits or focal loss with optional positive-class, label and row
weights (`goemobalance.train.losses`), AdamW with a linear warmup/decay schedule over ``epochs`` or
``max_steps``, mixed precision (`torch.autocast`, bf16 or fp16 with a `GradScaler` on CUDA), gradient
clipping, early stopping on validation macro-F1, per-epoch checkpoints that hold every state needed to
resume bit-for-bit (model, optimizer, scheduler, scaler, RNGs, early-stopping state), and
validation-tuned thresholds. The proxy model (`goemobalance.train.proxy`) shares `fit` and `TrainedModel`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from goemobalance.device import autocast_dtype, resolve_device
from goemobalance.errors import InputError
from goemobalance.schema import column, label_space_of, multi_hot
from goemobalance.train.config import TrainConfig
from goemobalance.train.encoders import HybridEncoder, trim_batch
from goemobalance.train.losses import make_loss, row_weights
from goemobalance.train.metrics import multilabel_report
from goemobalance.train.model import HybridClassifier, HybridConfig
from goemobalance.train.thresholds import Thresholds, confusion_counts, f1_from_counts, tune_thresholds

log = logging.getLogger(__name__)
CHECKPOINT_FILE = "last.pt"


@dataclass
class TrainedModel:
    """A trained classifier (hybrid, transformer or proxy) with its encoder, label names and thresholds.

    Made by `fit` or `load`.

    Parameters
    ----------
    model : torch.nn.Module or ProxyClassifier
        The network (eval mode) or the scikit-learn proxy.
    encoder : object
        Turns texts into the model's inputs; its ``kind`` (``hybrid``, ``transformer``, ``proxy``) is the
        model's kind.
    label_names : list of str
        The output columns' labels.
    thresholds : Thresholds
        Cut-offs tuned on the validation split.
    config : TrainConfig
        The settings it was trained with.
    history : list of dict
        One record per epoch (steps, training loss, validation scores, seconds).
    info : dict
        Run facts: best epoch, device, AMP dtype, training and validation rows, steps, ...
    """

    model: nn.Module
    encoder: Any
    label_names: list[str]
    thresholds: Thresholds
    config: TrainConfig
    history: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """``"hybrid"``, ``"transformer"`` or ``"proxy"`` (the encoder's kind)."""
        return self.encoder.kind

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Per-label probabilities, shape (len(texts), n_labels).

        Parameters
        ----------
        texts : sequence of str
            The texts to score.
        batch_size : int, optional
            Rows per batch (default: ``config.eval_batch_size``; ignored by the proxy).

        Returns
        -------
        np.ndarray
            One row per text, columns in `label_names` order.
        """
        encoded = self.encoder.encode(list(texts))
        if self.kind == "proxy":
            return self.model.predict_proba(encoded)
        device = next(self.model.parameters()).device
        return predict_encoded(
            self.model, encoded, batch_size or self.config.eval_batch_size, device, self.config
        )

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """0/1 predictions with the tuned thresholds.

        Parameters
        ----------
        texts : sequence of str
            The texts to label.

        Returns
        -------
        np.ndarray
            ``int8`` matrix of shape ``(len(texts), n_labels)``.
        """
        return self.thresholds.apply(self.predict_proba(texts))

    def evaluate(self, dataset: datasets.Dataset) -> dict[str, Any]:
        """The full metrics report on a schema Dataset, with the tuned thresholds.

        Parameters
        ----------
        dataset : datasets.Dataset
            Labelled rows in the record schema, over the same label names.

        Returns
        -------
        dict
            `multilabel_report` of the predictions.

        Raises
        ------
        InputError
            If the dataset's label space differs from `label_names`.
        """
        _check_label_space(dataset, self.label_names, "evaluation data")
        return multilabel_report(
            multi_hot(dataset),
            self.predict_proba(column(dataset, "text")),
            self.label_names,
            self.thresholds,
        )

    def save(self, folder: str | Path) -> Path:
        """Write weights, encoder, thresholds and config to `folder` (loadable with `TrainedModel.load`).

        Proxy models are saved with joblib (pickles): load only folders you trust.

        Parameters
        ----------
        folder : str or Path
            The folder to write (created if missing).

        Returns
        -------
        Path
            `folder`.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.encoder.save(folder)
        if self.kind == "hybrid":
            torch.save(self.model.state_dict(), folder / "model.pt")
        else:
            self.model.save(folder)
        meta = {
            "kind": self.kind,
            "label_names": self.label_names,
            "thresholds": self.thresholds.to_dict(),
            "config": self.config.to_dict(),
            "history": self.history,
            "info": self.info,
        }
        (folder / "trained.json").write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu") -> TrainedModel:
        """Read a model written by `save`.

        Parameters
        ----------
        folder : str or Path
            A folder written by `save` (a proxy model is unpickled: load only folders you trust).
        device : str, default "cpu"
            Where a network is placed (ignored by the proxy).

        Returns
        -------
        TrainedModel
            In eval mode, with its thresholds, config, history and info.

        Raises
        ------
        FileNotFoundError
            If the folder has no ``trained.json``.
        """
        folder = Path(folder)
        meta_file = folder / "trained.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"{folder} holds no trained model (missing trained.json)")
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        config = TrainConfig.from_dict(meta["config"])
        thresholds = Thresholds.from_dict(meta["thresholds"])
        if meta["kind"] == "proxy":
            from goemobalance.train.proxy import ProxyClassifier, ProxyEncoder

            model, encoder = ProxyClassifier.load(folder), ProxyEncoder.load(folder)
            return cls(model, encoder, meta["label_names"], thresholds, config, meta["history"], meta["info"])
        if meta["kind"] == "hybrid":
            encoder = HybridEncoder.load(folder, config.hybrid.max_len)
            model = HybridClassifier(config.hybrid)
            model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
        else:
            from goemobalance.train.encoders import TransformerEncoder
            from goemobalance.train.transformer import load_transformer

            encoder = TransformerEncoder.load(folder, config.transformer.max_length)
            model = load_transformer(folder)
        model.to(device).eval()
        return cls(model, encoder, meta["label_names"], thresholds, config, meta["history"], meta["info"])


def fit(
    train_ds: datasets.Dataset,
    val_ds: datasets.Dataset,
    config: TrainConfig | None = None,
    *,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    stop_after_epoch: int | None = None,
) -> TrainedModel:
    """Train `config.model` on `train_ds`, early-stop and tune thresholds on `val_ds`.

    ``model: proxy`` fits the TF-IDF + logistic-regression proxy instead (`goemobalance.train.proxy`);
    ``max_steps`` ends training after that many optimizer steps; ``sample_weighting`` weights each row's
    loss (`goemobalance.balance.weights`). `val_ds` is the only data that early stopping and thresholds
    see; test data never enters `fit`.

    With `checkpoint_dir`, a checkpoint is written after every epoch; `resume=True` continues from it and
    gives the same weights as an uninterrupted run with the same seed. `stop_after_epoch` ends the run
    after that many epochs in total (to split a long run into sessions).

    Parameters
    ----------
    train_ds : datasets.Dataset
        Training rows in the record schema (labels required).
    val_ds : datasets.Dataset
        Validation rows, same label space: early stopping and threshold tuning.
    config : TrainConfig, optional
        All settings (default `TrainConfig()`).
    checkpoint_dir : str or Path, optional
        Where to write a checkpoint after every epoch.
    resume : bool
        Continue from the checkpoint in `checkpoint_dir`.
    stop_after_epoch : int, optional
        End after this many epochs in total.

    Returns
    -------
    TrainedModel
        The model with its encoder, tuned thresholds, history and info; ``predict_proba``/``predict``/``save``.
    """
    config = config or TrainConfig()
    label_names = _check_label_space(val_ds, list(label_space_of(train_ds).names), "validation data")
    _require_labels(train_ds, "training data")
    _require_labels(val_ds, "validation data")
    train_ds = capped_rows(train_ds, config)
    if config.model == "proxy":
        from goemobalance.train.proxy import fit_proxy

        return fit_proxy(train_ds, val_ds, config, label_names)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    checkpoint = _load_checkpoint(checkpoint_dir) if resume else None
    seed_everything(config.seed)
    device = resolve_device(config.device)
    encoder, model, config, info = _build(
        train_ds, label_names, config, checkpoint_dir if checkpoint else None, checkpoint
    )
    y_train, y_val = multi_hot(train_ds, dtype=np.float32), multi_hot(val_ds, dtype=np.float32)
    model.init_output_bias(y_train.mean(axis=0))
    if checkpoint_dir is not None:
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
        encoder.save(checkpoint_dir)
    model.to(device)
    x_train, x_val = (
        encoder.encode(column(train_ds, "text")),
        encoder.encode(column(val_ds, "text")),
    )
    state = _TrainState.create(model, config, len(train_ds), y_train, device)
    if checkpoint is not None:
        state.restore(checkpoint, model)
    data = (x_train, y_train, row_weights(config, y_train), x_val, y_val)
    history = _train_epochs(model, state, data, config, info, device, checkpoint_dir, stop_after_epoch)
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    val_prob = predict_encoded(model, x_val, config.eval_batch_size, device, config)
    thresholds = tune_thresholds(y_val, val_prob, mode=config.thresholds)
    info.update(
        best_epoch=state.best_epoch,
        device=str(device),
        amp=str(autocast_dtype(device, config.amp)),
        train_rows=len(train_ds),
        val_rows=len(val_ds),
        steps=sum(h["steps"] for h in history),
    )
    model.eval()
    return TrainedModel(model, encoder, label_names, thresholds, config, history, info)


def capped_rows(train_ds: datasets.Dataset, config: TrainConfig) -> datasets.Dataset:
    """The training rows a run uses: a seeded random subset of ``max_train_rows`` when that is set."""
    if config.max_train_rows is not None and len(train_ds) > config.max_train_rows:
        return train_ds.shuffle(seed=config.seed).select(range(config.max_train_rows))
    return train_ds


def _check_label_space(dataset: datasets.Dataset, label_names: list[str], what: str) -> list[str]:
    names = list(label_space_of(dataset).names)
    if names != list(label_names):
        raise InputError(f"{what} uses labels {names[:5]}... but the model uses {list(label_names)[:5]}...")
    return list(label_names)


def _require_labels(dataset: datasets.Dataset, what: str) -> None:
    """Unlabeled rows (e.g. Sentiment140 awaiting pseudo-labels) would teach 'no emotion': refuse them."""
    empty = np.flatnonzero(multi_hot(dataset).sum(axis=1) == 0)
    if empty.size:
        row = int(empty[0])
        raise InputError(
            f"{what}: row {row + 1} (id={dataset[row]['id']!r}) has no labels ({empty.size} such rows); "
            "label or drop such rows first"
        )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _autocast(device: torch.device, config: TrainConfig):
    dtype = autocast_dtype(device, config.amp)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _build(
    train_ds, label_names, config: TrainConfig, resume_dir, checkpoint
) -> tuple[Any, nn.Module, TrainConfig, dict]:
    """Encoder and freshly initialized model (vectors loaded or trained for a new hybrid run)."""
    if config.model == "transformer":
        from goemobalance.train.transformer import build_transformer

        encoder, model = build_transformer(
            config.transformer.model_name, label_names, config.transformer.max_length
        )
        return encoder, model, config, {"model_name": config.transformer.model_name}
    if checkpoint is not None:
        hybrid = HybridConfig.from_dict(checkpoint["hybrid_config"])
        encoder = HybridEncoder.load(resume_dir, hybrid.max_len)
        return encoder, HybridClassifier(hybrid), replace(config, hybrid=hybrid), dict(checkpoint["info"])
    return _build_hybrid(column(train_ds, "text"), label_names, config)


def _build_hybrid(texts: Sequence[str], label_names: list[str], config: TrainConfig):
    from goemobalance.train.embeddings import vocabulary_matrix
    from goemobalance.train.tokenize import Vocabulary, tokenize

    emb = config.embeddings
    token_lists = [
        tokenize(t) for t in tqdm(texts, desc="tokenize", disable=not config.progress, leave=False)
    ]
    vocab = Vocabulary.build(token_lists, min_freq=emb.min_freq, max_size=emb.max_size)
    started = time.perf_counter()
    matrix, coverage = vocabulary_matrix(
        emb.source,
        vocab,
        token_lists,
        seed=config.seed,
        dim=emb.fasttext_dim,
        epochs=emb.fasttext_epochs,
        min_count=emb.fasttext_min_count,
    )
    hybrid = replace(
        config.hybrid, vocab_size=len(vocab), embedding_dim=matrix.shape[1], num_labels=len(label_names)
    )
    seed_everything(config.seed)
    model = HybridClassifier(hybrid, embeddings=matrix)
    info = {
        "vocab_size": len(vocab),
        "embedding_source": str(emb.source),
        "embedding_coverage": next(iter(coverage.values())) if len(coverage) == 1 else coverage,
        "embedding_seconds": round(time.perf_counter() - started, 2),
    }
    return HybridEncoder(vocab, hybrid.max_len), model, replace(config, hybrid=hybrid), info


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Optimizer steps in one pass over `n_train` rows (the last batch may be short)."""
    return max(1, math.ceil(n_train / batch_size))


def planned_steps(config: TrainConfig, n_train: int) -> int:
    """Total optimizer steps of a run: ``max_steps`` when set, else ``epochs`` full passes."""
    if config.max_steps is not None:
        return int(config.max_steps)
    return steps_per_epoch(n_train, config.batch_size) * config.epochs


def planned_epochs(config: TrainConfig, n_train: int) -> int:
    """Epochs of a run: ``epochs``, or as many (the last one cut short) as ``max_steps`` needs."""
    return math.ceil(planned_steps(config, n_train) / steps_per_epoch(n_train, config.batch_size))


@dataclass
class _TrainState:
    """Everything that changes during training and must survive a checkpoint."""

    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    loss_fn: nn.Module
    epoch: int = 0
    best_score: float = -math.inf
    best_epoch: int = -1
    best_state: dict[str, torch.Tensor] | None = None
    bad_epochs: int = 0
    stopped: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def create(
        cls, model: nn.Module, config: TrainConfig, n_train: int, y_train: np.ndarray, device
    ) -> _TrainState:
        from transformers import get_linear_schedule_with_warmup

        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = _adamw(params, config.learning_rate, config.weight_decay, device)
        total = planned_steps(config, n_train)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total), total)
        use_scaler = autocast_dtype(device, config.amp) == torch.float16 and device.type == "cuda"
        scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)
        return cls(optimizer, scheduler, scaler, make_loss(config, y_train, device))

    def checkpoint(self, model: nn.Module, config: TrainConfig, info: dict) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "model": model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "stopped": self.stopped,
            "history": self.history,
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": np.random.get_state(),
                "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
            "hybrid_config": config.hybrid.to_dict(),
            "info": info,
        }

    def restore(self, checkpoint: dict[str, Any], model: nn.Module) -> None:
        model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.scaler.load_state_dict(checkpoint["scaler"])
        for name in ("epoch", "best_score", "best_epoch", "best_state", "bad_epochs", "stopped", "history"):
            setattr(self, name, checkpoint[name])
        rng = checkpoint["rng"]
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])


def _adamw(params, lr: float, weight_decay: float, device: torch.device) -> torch.optim.AdamW:
    """AdamW, fused where torch supports it (several times faster on CPU for the large embedding table)."""
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def _load_checkpoint(checkpoint_dir: str | Path | None) -> dict[str, Any] | None:
    if checkpoint_dir is None:
        raise InputError("resume=True needs a checkpoint_dir")
    path = Path(checkpoint_dir) / CHECKPOINT_FILE
    if not path.is_file():
        log.warning("no checkpoint at %s; starting a new run", path)
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def _train_epochs(
    model, state: _TrainState, data, config: TrainConfig, info: dict, device, checkpoint_dir, stop_after_epoch
) -> list[dict[str, Any]]:
    x_train, y_train, weights, x_val, y_val = data
    targets = torch.as_tensor(y_train)
    epochs = planned_epochs(config, len(y_train))
    last_epoch = epochs if stop_after_epoch is None else min(epochs, stop_after_epoch)
    while state.epoch < last_epoch and not state.stopped:
        started = time.perf_counter()
        train_loss, steps = _train_one_epoch(model, state, (x_train, targets, weights), config, device)
        val_prob = predict_encoded(model, x_val, config.eval_batch_size, device, config)
        scores = validation_scores(y_val, val_prob)
        scores["val_loss"] = float(
            nn.functional.binary_cross_entropy(
                torch.as_tensor(val_prob).clamp(1e-7, 1 - 1e-7), torch.as_tensor(y_val)
            )
        )
        score = (
            -scores["val_loss"]
            if config.early_stopping_metric == "loss"
            else scores[config.early_stopping_metric]
        )
        record = {
            "epoch": state.epoch + 1,
            "steps": steps,
            "train_loss": train_loss,
            **scores,
            "seconds": round(time.perf_counter() - started, 2),
        }
        state.history.append(record)
        log.info("epoch %s: %s", state.epoch + 1, record)
        if score > state.best_score:
            state.best_score, state.best_epoch, state.bad_epochs = score, state.epoch + 1, 0
            state.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            state.bad_epochs += 1
            state.stopped = state.bad_epochs >= config.patience
        state.epoch += 1
        if checkpoint_dir is not None:
            torch.save(state.checkpoint(model, config, info), Path(checkpoint_dir) / CHECKPOINT_FILE)
    return copy.deepcopy(state.history)


def _train_one_epoch(model, state: _TrainState, train, config: TrainConfig, device) -> tuple[float, int]:
    """One pass over the training rows in a seeded order (the same order on resume).

    The pass stops early when it reaches the run's planned number of optimizer steps (``max_steps``).
    Returns the mean training loss and the number of optimizer steps taken.
    """
    x_train, targets, weights = train
    model.train()
    order = torch.randperm(
        len(targets), generator=torch.Generator().manual_seed(config.seed * 1009 + state.epoch)
    )
    per_epoch = steps_per_epoch(len(targets), config.batch_size)
    remaining = planned_steps(config, len(targets)) - state.epoch * per_epoch
    batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    batches = batches[: max(0, remaining)]
    total, seen = 0.0, 0
    progress = tqdm(
        batches,
        desc=f"epoch {state.epoch + 1}/{planned_epochs(config, len(targets))}",
        disable=not config.progress,
        leave=False,
    )
    for index in progress:
        batch = {k: v.to(device) for k, v in trim_batch({k: v[index] for k, v in x_train.items()}).items()}
        with _autocast(device, config):
            logits = model(**batch)
        batch_weights = None if weights is None else weights[index].to(device)
        loss = state.loss_fn(logits.float(), targets[index].to(device), batch_weights)
        state.scaler.scale(loss).backward()
        state.scaler.unscale_(state.optimizer)
        if config.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        state.scaler.step(state.optimizer)
        state.scaler.update()
        state.scheduler.step()
        state.optimizer.zero_grad(set_to_none=True)
        total += float(loss.detach()) * len(index)
        seen += len(index)
        progress.set_postfix(loss=f"{total / seen:.4f}")
    return total / max(1, seen), len(batches)


def predict_encoded(
    model: nn.Module, encoded: dict[str, torch.Tensor], batch_size: int, device, config: TrainConfig
) -> np.ndarray:
    """Sigmoid probabilities for pre-encoded inputs, in batches, without gradients."""
    model.eval()
    n = len(encoded["input_ids"])
    outputs = []
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            batch = trim_batch({k: v[start : start + batch_size] for k, v in encoded.items()})
            with _autocast(device, config):
                logits = model(**{k: v.to(device) for k, v in batch.items()})
            outputs.append(torch.sigmoid(logits.float()).cpu())
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32)
    return torch.cat(outputs).numpy()


def validation_scores(y_true: np.ndarray, y_prob: np.ndarray) -> dict[str, float]:
    """Macro-F1 at 0.5, macro-F1 with per-label tuned thresholds, and micro-F1 at 0.5."""
    at_half = confusion_counts(y_true, y_prob >= 0.5)
    tuned = tune_thresholds(y_true, y_prob, mode="per_label")
    tuned_counts = confusion_counts(y_true, tuned.apply(y_prob))
    return {
        "macro_f1": float(f1_from_counts(*at_half).mean()),
        "macro_f1_tuned": float(f1_from_counts(*tuned_counts).mean()),
        "micro_f1": float(f1_from_counts(*(c.sum() for c in at_half))),
    }


__all__ = [
    "TrainedModel",
    "capped_rows",
    "fit",
    "planned_epochs",
    "planned_steps",
    "predict_encoded",
    "seed_everything",
    "steps_per_epoch",
    "validation_scores",
]
