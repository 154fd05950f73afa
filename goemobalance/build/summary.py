"""What a build tells its user: one progress line per stage, and a final summary that answers "what did I
get, what is missing, what next" without opening a file."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from goemobalance.build.context import StageRecord

if TYPE_CHECKING:
    from goemobalance.pipeline import BuildResult

SHOWN_REASONS = 3
SHOWN_SHORT_LABELS = 8
STATUS_WORDS = {"ran": "ran", "reused": "reused from cache", "skipped": "skipped"}


def stage_line(record: StageRecord, report: dict[str, Any]) -> str:
    """``  pool      ran                49,410 -> 45,300 rows    71.2 s  dropped 4,110 (...)``."""
    if record.status == "skipped":
        return f"  {record.name:<9} skipped ({record.reason})"
    rows = ""
    if record.rows_out is not None:
        rows = f"{record.rows_in:,} -> " if record.rows_in is not None else "-> "
        rows += f"{record.rows_out:,} rows"
    dropped = report.get("dropped") or {}
    tail = f"  left out {sum(dropped.values()):,} ({reasons_text(dropped)})" if dropped else ""
    status = STATUS_WORDS[record.status]
    return f"  {record.name:<9} {status:<17} {rows:<26} {record.seconds:7.1f} s{tail}"


def reasons_text(reasons: dict[str, int], limit: int = SHOWN_REASONS) -> str:
    """``"no_label_above_threshold 2,000, low_confidence 400"``, largest first, the rest summed as others."""
    ranked = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    text = ", ".join(f"{reason} {count:,}" for reason, count in ranked[:limit])
    rest = sum(count for _, count in ranked[limit:])
    return text + (f", other reasons {rest:,}" if rest else "")


def summarize(result: BuildResult) -> str:
    """The final summary of a build: rows, what is short of target, what was left out and why, LLM use,
    audit and leak counts, where the files are, and the next command.

    Parameters
    ----------
    result : BuildResult
        What `run_recipe` returned.

    Returns
    -------
    str
        Lines for stdout.
    """
    ctx = result.context
    manifest = result.manifest
    lines = [
        f"built {manifest['recipe']} -> {result.dataset_dir}",
        _rows_line(manifest["rows"], result.dataset["train"]),
        _spread_line(result),
        _targets_line(ctx.reports.get("balanced", {}).get("labels", {})),
        *_pseudo_label_lines(ctx.reports.get("pool", {})),
        *_left_out_lines(manifest.get("dropped") or {}),
        _llm_line(ctx.recipe.llm.enabled, ctx.reports.get("llm", {})),
        _audit_line(ctx.audit),
        *_train_lines(ctx.train),
        _stages_line(ctx.records),
        *_file_lines(ctx.publish["paths"]),
        f"output hash: {result.output_hash}",
        _next_line(result),
    ]
    return "\n".join(line for line in lines if line)


def _rows_line(rows: dict[str, int], train: Any) -> str:
    """``rows: train 15,424 (human 15,221, pseudo 203), validation 5,426, test 5,427``: the split sizes, and
    where the training rows came from (what balancing kept of the tweets and LLM texts)."""
    origins = origin_counts(train)
    mix = ", ".join(f"{origin} {count:,}" for origin, count in origins.items())
    return "rows: " + ", ".join(
        f"{name} {count:,}" + (f" ({mix})" if name == "train" and mix else "") for name, count in rows.items()
    )


def origin_counts(dataset: Any) -> dict[str, int]:
    """Rows per ``label_origin`` (human, pseudo, llm, human-reviewed, in that order), from Arrow."""
    import pyarrow.compute as pc

    from goemobalance.schema import LABEL_ORIGINS

    counts = pc.value_counts(dataset.with_format("arrow")["label_origin"]).to_pylist()
    found = {entry["values"]: entry["counts"] for entry in counts}
    order = [*LABEL_ORIGINS, *sorted(set(found) - set(LABEL_ORIGINS))]
    return {origin: found[origin] for origin in order if found.get(origin)}


def _spread_line(result: BuildResult) -> str:
    from goemobalance.balance.stats import coefficient_of_variation, distribution_stats

    stats = distribution_stats(result.dataset["train"]).to_dict()
    counts = list(stats["label_counts"].values())
    return (
        f"train per-label rows: min {min(counts):,}, max {max(counts):,}, coefficient of variation "
        f"{coefficient_of_variation(counts):.3f}, MeanIR {stats['mean_ir']:.2f}"
    )


def _targets_line(labels: dict[str, dict[str, Any]]) -> str:
    short = sorted(
        ((name, v) for name, v in labels.items() if v.get("short")), key=lambda item: -item[1]["short"]
    )
    if not labels:
        return ""
    if not short:
        return "targets: every label reached its target"
    shown = ", ".join(_short_label(name, v) for name, v in short[:SHOWN_SHORT_LABELS])
    more = f", and {len(short) - SHOWN_SHORT_LABELS} more" if len(short) > SHOWN_SHORT_LABELS else ""
    return f"short of target ({len(short)} labels, kept/target): {shown}{more}"


def _short_label(name: str, values: dict[str, Any]) -> str:
    """``grief 78/1,000 (-922)``, with the rows available when the balancer did not keep them all."""
    text = f"{name} {values['achieved']:,}/{values['target']:,} (-{values['short']:,}"
    if values.get("available", 0) > values["achieved"]:
        text += f", {values['available']:,} available"
    return text + ")"


def _pseudo_label_lines(pool: dict[str, Any]) -> list[str]:
    if not pool.get("pseudo_labelled"):
        return []
    rejected = pool.get("rejected") or {}
    line = (
        f"pseudo-labelled texts: {pool['pseudo_labelled']:,}, accepted {pool.get('accepted', 0):,}, "
        f"rejected {sum(rejected.values()):,}"
    )
    return [line + (f" ({reasons_text(rejected)})" if rejected else "")]


def _left_out_lines(dropped: dict[str, dict[str, int]]) -> list[str]:
    if not dropped:
        return ["left out: no row"]
    total = sum(sum(reasons.values()) for reasons in dropped.values())
    lines = [f"left out: {total:,} rows, by stage (also in manifest.json and the card):"]
    lines += [f"  {stage}: {reasons_text(reasons)}" for stage, reasons in dropped.items()]
    return lines


def _llm_line(enabled: bool, llm: dict[str, Any]) -> str:
    if not enabled:
        return "LLM: off (llm.enabled: false)"
    rejected = llm.get("rejected") or {}
    return (
        f"LLM: {llm.get('requests', 0):,} requests, ${llm.get('cost_usd', 0.0):.2f}, accepted "
        f"{llm.get('accepted', 0):,} texts, {llm.get('to_review', 0):,} for review, rejected "
        f"{sum(rejected.values()):,}" + (f" ({reasons_text(rejected)})" if rejected else "")
    )


def _audit_line(audit: dict[str, Any] | None) -> str:
    if not audit:
        return "audit: off (audit.enabled: false)"
    duplicates = audit.get("duplicates") or {}
    covers = ", ".join(f"{name} {rows:,}" for name, rows in (audit.get("covers") or {}).items())
    return (
        f"audit: health {audit.get('health_score', float('nan')):.3f}, {len(audit.get('issues') or []):,} "
        f"label issues, {duplicates.get('groups', 0):,} duplicate groups, {duplicates.get('leak_groups', 0):,} "
        f"leak groups (rows covered: {covers})"
    )


def _train_lines(train: dict[str, Any] | None) -> list[str]:
    summary = (train or {}).get("summary") or {}
    lines = []
    for metric in ("f1_macro", "rare_f1"):
        values = summary.get(metric)
        if isinstance(values, dict) and values.get("delta") is not None:
            lines.append(
                f"{metric} on GoEmotions test: balanced {values['balanced']:.3f} vs imbalanced "
                f"{values['imbalanced']:.3f} ({values['delta']:+.3f})"
            )
    return lines


def _stages_line(records: dict[str, StageRecord]) -> str:
    counts = {status: sum(r.status == status for r in records.values()) for status in STATUS_WORDS}
    seconds = sum(r.seconds for r in records.values())
    return f"stages: {counts['ran']} ran, {counts['reused']} reused, {counts['skipped']} skipped, {seconds:.1f} s"


def _file_lines(paths: dict[str, str]) -> list[str]:
    lines = [f"card: {paths['card']}", f"manifest: {paths['manifest']}"]
    if "audit" in paths:
        lines.append(f"audit report: {paths['audit']}/audit.md")
    if "compare" in paths:
        lines.append(f"comparison: {paths['compare']}")
    if "llm" in paths:
        lines.append(f"LLM report: {paths['llm']}")
    return lines


def _next_line(result: BuildResult) -> str:
    folder = shlex.quote(str(result.dataset_dir))
    repo = result.context.recipe.publish.repo_id
    upload = f"goemobalance publish {folder}" + ("" if repo else " --repo-id ORG/NAME")
    return f"next: goemobalance stats {folder}    then: HF_TOKEN=... {upload}"


__all__ = ["reasons_text", "stage_line", "summarize"]
