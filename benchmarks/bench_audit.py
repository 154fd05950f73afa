"""Label-noise audit on the 43k GoEmotions train rows with 3% planted noise: speed and detection quality.

Peer: cleanlab's `multilabel_classification.filter.find_label_issues` (default confident-learning
filter) with cleanlab's default label quality ranking, on 5-fold TF-IDF + logistic-regression
probabilities. Ours: `goemobalance.audit.find_label_issues` (min-aggregated self-confidence ranking,
flagging budget) on the same TF-IDF probabilities and on better out-of-sample probabilities
(MiniLM embeddings + logistic heads, and their average with TF-IDF, ``tfidf+minilm``).

    python benchmarks/bench_audit.py [--json] [--models tfidf,tfidf-char,minilm,tfidf+minilm] [--cache-dir DIR]

MiniLM embeddings are cached under --cache-dir, so only the first run pays the encoding; the encode
time is reported on its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from cleanlab.multilabel_classification import filter as cl_filter
from cleanlab.multilabel_classification import rank as cl_rank

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from goemobalance.audit import cross_val_probs, detection_metrics, find_label_issues, plant_label_noise
from goemobalance.audit.probs import cached_embeddings
from goemobalance.labels import GOEMOTIONS
from goemobalance.sources import load_goemotions

DATA = REPO.parent / "shared" / "data" / "goemotions"


def noisy_train(rate: float, seed: int):
    """GoEmotions train with a seeded `rate` of rows given a swapped, dropped or added label."""
    dataset = load_goemotions(DATA, split="train")
    planted = plant_label_noise([list(r) for r in dataset["labels"]], len(GOEMOTIONS), rate=rate, seed=seed)
    noisy = dataset.remove_columns("labels").add_column(
        "labels", planted.labels, feature=dataset.features["labels"]
    )
    return noisy, planted


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def peer_cleanlab(labels, probs, planted) -> dict:
    """cleanlab's defaults: confident-learning filter + EMA label quality ranking."""
    mask, seconds = timed(cl_filter.find_label_issues, labels, probs)
    quality = cl_rank.get_label_quality_scores(labels, probs)
    metrics = detection_metrics(
        np.flatnonzero(mask), np.argsort(quality, kind="stable"), planted, len(labels)
    )
    return dict(metrics, cleanlab_s=round(seconds, 2))


def ours(labels, probs, planted, budget: float) -> dict:
    found, seconds = timed(find_label_issues, labels, probs, max_flag_fraction=budget)
    metrics = detection_metrics(np.flatnonzero(found.flagged), found.ranking, planted, len(labels))
    return dict(metrics, cleanlab_s=round(seconds, 2), health_score=round(found.health_score, 4))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument("--models", default="tfidf,tfidf-char,minilm,tfidf+minilm")
    parser.add_argument("--rate", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budgets", default="0.05,0.10", help="max_flag_fraction values for ours")
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "goemobalance" / "embeddings"))
    args = parser.parse_args(argv)

    dataset, planted = noisy_train(args.rate, args.seed)
    labels = planted.labels
    results: dict = {"rows": len(dataset), "planted": len(planted.rows), "kinds": _kind_counts(planted.kinds)}
    probs: dict[str, np.ndarray] = {}
    models = args.models.split(",")
    budgets = [float(b) for b in args.budgets.split(",")]
    if any("minilm" in m for m in models):
        _, encode_s = timed(
            cached_embeddings, list(dataset["text"]), cache_dir=args.cache_dir, progress=False
        )
        results["minilm_encode_s"] = round(encode_s, 1)
    for model in models:
        if model == "tfidf+minilm":
            for part in ("tfidf-char", "minilm"):
                if part not in probs:
                    probs[part], _ = timed(_probs, dataset, part, args)
            probs[model], seconds = (
                (probs["tfidf-char"] + probs["minilm"]) / 2,
                0.0,
            )  # what cross_val_probs(model="tfidf+minilm") returns
        else:
            probs[model], seconds = timed(_probs, dataset, model, args)
        entry = {"probs_s": round(seconds, 1)}
        entry.update({f"ours@{b:g}": ours(labels, probs[model], planted.rows, b) for b in budgets})
        if model == "tfidf":
            entry["peer_cleanlab_defaults"] = peer_cleanlab(labels, probs[model], planted.rows)
            entry["total_s"] = round(seconds + entry[f"ours@{budgets[-1]:g}"]["cleanlab_s"], 1)
        results[model] = entry
    results["process_cpu_s"] = round(time.process_time(), 1)
    _print(results, args.json)
    return 0


def _probs(dataset, model: str, args) -> np.ndarray:
    return cross_val_probs(dataset, model, folds=5, seed=args.seed, cache_dir=args.cache_dir, progress=False)


def _kind_counts(kinds: list[str]) -> dict[str, int]:
    return {kind: kinds.count(kind) for kind in sorted(set(kinds))}


def _print(results: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(results, indent=2))
        return
    print(f"GoEmotions train: {results['rows']} rows, {results['planted']} planted {results['kinds']}")
    if "minilm_encode_s" in results:
        print(f"MiniLM encode (cached after first run): {results['minilm_encode_s']} s")
    print(
        f"process CPU time, whole run: {results['process_cpu_s']} s (wall times below swell when cores are shared)"
    )
    header = f"{'probabilities':12s} {'method':24s} {'probs s':>8s} {'audit s':>8s} {'flagged':>8s} {'recall':>7s} {'prec':>6s} {'p@k':>6s}"
    print(header)
    for model, entry in results.items():
        if not isinstance(entry, dict) or "probs_s" not in entry:
            continue
        rows = [(f"goemobalance {key[5:]}", value) for key, value in entry.items() if key.startswith("ours@")]
        if "peer_cleanlab_defaults" in entry:
            rows.insert(0, ("cleanlab defaults (peer)", entry["peer_cleanlab_defaults"]))
        for method, m in rows:
            print(f"{model:12s} {method:24s} {entry['probs_s']:8.1f} {m['cleanlab_s']:8.1f} {m['flagged_fraction']:8.1%} "
                  f"{m['recall']:7.3f} {m['precision']:6.3f} {m['precision_at_k']:6.3f}")  # fmt: skip
    if "tfidf" in results:
        peer = results["tfidf"]["peer_cleanlab_defaults"]["precision_at_k"]
        mine = next(v for k, v in results["tfidf"].items() if k.startswith("ours@"))["precision_at_k"]
        print(
            f"TF-IDF total (5-fold probs + audit): {results['tfidf']['total_s']} s; p@k ours/peer = {mine / max(peer, 1e-9):.2f}x"
        )


if __name__ == "__main__":
    raise SystemExit(main())
