"""Offline labelers on GoEmotions test, and what precision-target acceptance gives on the real tweets.

For each labeler of the registry (``tfidf``, ``minilm``, ``tfidf+minilm``): fit on GoEmotions train, choose
thresholds on dev only, then measure once on test:

1. F1-optimal thresholds (chosen on dev): test macro-F1 and micro-F1.
2. For each target precision (default 0.5/0.6/0.7/0.8), thresholds from the Wilson lower bound on dev
   (`goemobalance.label.tune_acceptance`): per label the dev precision, its lower bound, dev support and
   recall, the precision the same thresholds have on GoEmotions test (a check of the dev estimate; nothing
   is chosen with it), and how many of the 38,915 Sentiment140 tweets each label accepts. Tweets carry no
   emotion labels, so their precision cannot be measured; their Sentiment140 polarity gives a weak check:
   the share of positive-emotion pseudo-labels on positive tweets and negative-emotion ones on negative tweets.

One fit of ``tfidf+minilm`` provides all three: its fitted members are the ``tfidf`` and ``minilm``
labelers (the same estimators, data and seeds as fitting each alone).

    python benchmarks/bench_acceptance.py [--cache-dir .cache/minilm] [--targets 0.5,0.6,0.7,0.8] \\
        [--json results.json] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from goemobalance.label import macro_f1, offline_labeler, tune_acceptance
from goemobalance.labels import GOEMOTIONS
from goemobalance.schema import multi_hot
from goemobalance.sources import load_goemotions
from goemobalance.sources.sentiment140 import load_sentiment140

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load(data: Path) -> dict:
    """GoEmotions splits (texts, labels) and the tweets as the recipes load them (cleaned, bad rows skipped)."""
    splits = {s: load_goemotions(data / "goemotions", split=s) for s in ("train", "dev", "test")}
    tweets = load_sentiment140(data / "sentiment140" / "training_sample.csv", clean=True, on_error="skip")
    polarity = np.asarray([json.loads(meta)["polarity"] for meta in tweets["meta"]])
    out = {name: (list(split["text"]), multi_hot(split)) for name, split in splits.items()}
    out["tweets"] = (list(tweets["text"]), polarity)
    return out


def micro_precision(y: np.ndarray, selected: np.ndarray) -> float | None:
    accepted = selected.sum()
    return round(float((selected & y.astype(bool)).sum() / accepted), 4) if accepted else None


def polarity_agreement(
    selected: np.ndarray, polarity: np.ndarray, groups: dict[str, list[str]]
) -> float | None:
    """Share of positive-emotion pseudo-labels on polarity-4 tweets and negative ones on polarity-0 tweets."""
    agree = total = 0
    for group, wanted in (("positive", 4), ("negative", 0)):
        ids = [GOEMOTIONS.id(name) for name in groups[group]]
        rows, _ = np.nonzero(selected[:, ids])
        agree += int((polarity[rows] == wanted).sum())
        total += len(rows)
    return round(agree / total, 4) if total else None


def evaluate(name: str, probs: dict, data: dict, targets: list[float], groups: dict) -> dict:
    """F1-optimal and precision-target results of one labeler from its dev, test and tweet probabilities."""
    y_dev, y_test = data["dev"][1], data["test"][1]
    f1 = tune_acceptance(y_dev, probs["dev"], target_precision=None, tuned_on="goemotions dev")
    test_pred = f1.rule.select_mask(probs["test"], GOEMOTIONS)
    result = {
        "labeler": name,
        "f1_optimal": {
            "dev_macro_f1": round(macro_f1(y_dev, f1.rule.select_mask(probs["dev"], GOEMOTIONS)), 4),
            "test_macro_f1": round(macro_f1(y_test, test_pred), 4),
            "test_micro_precision": micro_precision(y_test, test_pred),
            "thresholds": f1.to_dict()["rule"]["threshold"],
        },
        "targets": {},
    }
    for target in targets:
        report = tune_acceptance(y_dev, probs["dev"], target_precision=target, tuned_on="goemotions dev")
        test_sel = report.rule.select_mask(probs["test"], GOEMOTIONS)
        tweet_sel = report.rule.select_mask(probs["tweets"], GOEMOTIONS)
        test_tp = (test_sel & y_test.astype(bool)).sum(0)
        per_label = report.to_dict()["labels"]
        for i, label in enumerate(GOEMOTIONS.names):
            accepted = int(test_sel[:, i].sum())
            per_label[label]["test_accepted"] = accepted
            per_label[label]["test_precision"] = round(float(test_tp[i] / accepted), 4) if accepted else None
            per_label[label]["tweets_accepted"] = int(tweet_sel[:, i].sum())
        checked = [e for e in per_label.values() if e["accepts"] and e["test_precision"] is not None]
        result["targets"][str(target)] = {
            "labels_accepting": len(GOEMOTIONS) - len(report.unreachable),
            "unreachable": report.unreachable,
            "tweet_rows_accepted": int(tweet_sel.any(axis=1).sum()),
            "tweet_pseudo_labels": int(tweet_sel.sum()),
            "dev_micro_precision": micro_precision(y_dev, report.rule.select_mask(probs["dev"], GOEMOTIONS)),
            "test_micro_precision": micro_precision(y_test, test_sel),
            "labels_test_precision_at_target": sum(e["test_precision"] >= target for e in checked),
            "labels_test_checked": len(checked),
            "tweet_polarity_agreement": polarity_agreement(tweet_sel, data["tweets"][1], groups),
            "labels": per_label,
        }
    return result


def markdown(results: list[dict], targets: list[float]) -> str:
    header = ("| labeler | target | labels accepting | tweets accepted | pseudo-labels | dev precision | "
              "test precision | labels at target on test | polarity agreement |")  # fmt: skip
    lines = ["| labeler | dev macro-F1 | test macro-F1 |", "|---|---:|---:|"]
    for r in results:
        f1 = r["f1_optimal"]
        lines.append(f"| `{r['labeler']}` | {f1['dev_macro_f1']:.4f} | {f1['test_macro_f1']:.4f} |")
    lines += ["", header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        for t in targets:
            s = r["targets"][str(t)]
            lines.append(f"| `{r['labeler']}` | {t} | {s['labels_accepting']} | {s['tweet_rows_accepted']} | "
                         f"{s['tweet_pseudo_labels']} | {s['dev_micro_precision']} | {s['test_micro_precision']} | "
                         f"{s['labels_test_precision_at_target']}/{s['labels_test_checked']} | "
                         f"{s['tweet_polarity_agreement']} |")  # fmt: skip
    for r in results:
        title = (
            f"Per label, `{r['labeler']}`: dev precision (Wilson lower bound) / tweets accepted; `-` = none"
        )
        columns = "| label | dev support | " + " | ".join(f"p >= {t}" for t in targets) + " |"
        lines += ["", title, "", columns, "|---|---:|" + "---:|" * len(targets)]
        for label in GOEMOTIONS.names:
            cells = []
            for t in targets:
                e = r["targets"][str(t)]["labels"][label]
                cells.append(f"{e['precision']:.2f} ({e['precision_lower']:.2f}) / {e['tweets_accepted']}"
                             if e["accepts"] else "-")  # fmt: skip
            support = r["targets"][str(targets[0])]["labels"][label]["support"]
            lines.append(f"| {label} | {support} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--cache-dir", default=".cache/minilm", help="MiniLM embedding cache")
    parser.add_argument("--targets", default="0.5,0.6,0.7,0.8")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=None, help="write all results here")
    parser.add_argument("--markdown", action="store_true", help="print the tables for docs/label.md")
    args = parser.parse_args()
    targets = [float(t) for t in args.targets.split(",")]
    data = load(args.data)
    groups = json.loads((args.data / "goemotions" / "sentiment_mapping.json").read_text())

    ensemble = offline_labeler(
        "tfidf+minilm", cache_dir=args.cache_dir, device=args.device, show_progress=False
    )
    start = time.perf_counter()
    ensemble.fit(*data["train"])
    fit_s = time.perf_counter() - start
    labelers = {"tfidf": ensemble.model_[0], "minilm": ensemble.model_[1], "tfidf+minilm": ensemble}
    results = []
    for name, labeler in labelers.items():
        probs = {split: labeler.predict_proba(data[split][0]) for split in ("dev", "test", "tweets")}
        results.append(evaluate(name, probs, data, targets, groups))
        print(f"{name}: test macro-F1 {results[-1]['f1_optimal']['test_macro_f1']}", flush=True)
    summary = {"fit_tfidf_minilm_s": round(fit_s, 1), "n_tweets": len(data["tweets"][0]), "results": results}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        print(markdown(results, targets))


if __name__ == "__main__":
    main()
