"""`goemobalance generate`: fill label deficits with LLM-generated, LLM-annotated texts.

Writes ``OUT/accepted`` and ``OUT/review`` (``save_to_disk`` datasets in the record schema), the review
files ``OUT/review.csv`` + ``OUT/review.jsonl`` when there is something to review, and
``OUT/report.json`` (counts, rejections by reason, failed requests, tokens and cost; redacted, never the
key). Answers are cached in ``OUT/llm_cache.sqlite`` (or ``--cache``): rerunning sends only what failed.

``--dry-run`` prints the plan (requests, texts, estimated tokens and cost) and sends and writes nothing.
Exit codes: 0 done, 2 bad input or a cap exceeded, 4 requests failed for good (outputs are still
written; rerun to retry), 5 nothing accepted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from goemobalance.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate + annotate texts for label deficits with an OpenAI-compatible LLM",
        description="Generate texts for the labels (and labelsets) a balancer found short, annotate them with "
        "an LLM, keep those whose annotation agrees, and export the rest for human review. Works with the "
        "OpenAI API (key from the environment variable named by --api-key-env) or any OpenAI-compatible "
        "server (--base-url: vLLM, Ollama, llama.cpp). With --recipe, the recipe's llm settings apply and "
        "flags override them; the defaults below apply when neither sets a value.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--deficits", metavar="FILE.json", help="balancer deficits: {labels: {...}, labelsets: [...]}"
    )
    source.add_argument("--recipe", metavar="RECIPE.yaml", help="take the llm/balance settings from a recipe")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into an --out folder holding files goemobalance did not write (other names are kept)",
    )
    parser.add_argument(
        "--pool",
        action="append",
        default=[],
        metavar="DATASET",
        help="existing rows: new texts must not duplicate them; with --recipe, deficits are "
        "computed from them with the recipe's balance target (repeatable)",
    )
    parser.add_argument(
        "--test-split",
        metavar="PATH",
        default=None,
        help="GoEmotions test split ('packaged', a file or a folder): generated texts must not duplicate it",
    )
    client = parser.add_argument_group("model and server")
    client.add_argument("--model", default=None, help="generator model (default gpt-4o-mini)")
    client.add_argument("--annotator-model", default=None, help="annotator model (default: the generator's)")
    client.add_argument(
        "--base-url", default=None, help="OpenAI-compatible server, e.g. http://localhost:8000/v1"
    )
    client.add_argument(
        "--api-key-env", default=None, help="name of the variable holding the key (OPENAI_API_KEY)"
    )
    client.add_argument(
        "--concurrency", type=int, default=None, help="requests in flight at once (default 8)"
    )
    client.add_argument("--timeout", type=float, default=None, help="seconds per request (default 60)")
    client.add_argument(
        "--max-retries", type=int, default=None, help="retries of a failed request, with backoff (default 6)"
    )
    client.add_argument(
        "--max-wait",
        type=float,
        default=None,
        metavar="SECONDS",
        help="longest wait before a retry (default 60); a server asking for longer (Retry-After) fails "
        "that request at once",
    )
    client.add_argument(
        "--structured-output",
        choices=("auto", "json_schema", "off"),
        default=None,
        help="JSON-schema answers (response_format): auto (default; prompt-only JSON if the server "
        "rejects it), json_schema (always), off (prompt-only JSON)",
    )
    client.add_argument(
        "--price-input-per-1m", type=float, default=None, help="dollars per million prompt tokens"
    )
    client.add_argument(
        "--price-output-per-1m", type=float, default=None, help="dollars per million completion tokens"
    )
    client.add_argument(
        "--cache", default=None, metavar="FILE", help="response cache (default OUT/llm_cache.sqlite)"
    )
    gen = parser.add_argument_group("generation and agreement")
    gen.add_argument("--template", default=None, help="prompt template name or YAML path (default: default)")
    gen.add_argument(
        "--temperature", type=float, default=None, help="generator sampling temperature (default 0.9)"
    )
    gen.add_argument("--batch-size", type=int, default=None, help="texts per generation request (default 5)")
    gen.add_argument(
        "--max-rounds",
        type=int,
        default=None,
        help="rounds in all, refills of rejected texts included (default 3)",
    )
    gen.add_argument(
        "--max-new-per-label",
        type=int,
        default=None,
        metavar="N",
        help="ask for at most N texts per label (labelsets count toward each of their labels)",
    )
    gen.add_argument(
        "--max-texts",
        type=int,
        default=None,
        metavar="N",
        help="refuse deficits asking for more than N texts in all (default 10000)",
    )
    gen.add_argument(
        "--max-requests",
        type=int,
        default=None,
        metavar="N",
        help="send at most N requests, retries and refills included; a plan needing more is refused",
    )
    gen.add_argument(
        "--seed", type=int, default=None, help="seed of the requests (default: the recipe's, else 0)"
    )
    gen.add_argument(
        "--agreement",
        choices=("subset", "jaccard", "exact"),
        default=None,
        help="when the annotation confirms the intended labels: they are a subset of it (default), their "
        "Jaccard similarity reaches --jaccard-threshold, or they are equal",
    )
    gen.add_argument(
        "--jaccard-threshold", type=float, default=None, help="for --agreement jaccard (default 0.5)"
    )
    gen.add_argument("--votes", type=int, default=None, help="self-consistency votes per text (default 1)")
    gen.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        help="annotated labels below this confidence do not count (default 0.5)",
    )
    gen.add_argument(
        "--on-unknown-label",
        choices=("drop", "review"),
        default=None,
        help="an annotation naming a label outside the 28: drop that name (default) or send the text to "
        "review",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (notices still show)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the planned requests, texts, tokens and cost; send nothing, write nothing",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goemobalance.llm import load_deficits
    from goemobalance.llm.plan import plan_requests
    from goemobalance.llm.settings import cap_deficits, settings_from_mapping
    from goemobalance.outputs import writing_into

    out = Path(args.out)
    section, base_dir, seed, recipe = _recipe_parts(args.recipe)
    settings = settings_from_mapping(
        _with_flags(section, args), base_dir, seed if args.seed is None else args.seed
    )
    pool = _load_pool(args.pool) if args.recipe or not args.dry_run else None
    deficits = load_deficits(args.deficits) if args.deficits else _recipe_deficits(recipe, pool, args.recipe)
    deficits = cap_deficits(deficits, settings.max_new_per_label)
    plan = plan_requests(deficits, settings)
    _print_plan(plan, settings, dry_run=args.dry_run)
    plan.check()
    if args.dry_run:
        return 0
    test = _load_test(args.test_split)
    if test is None:
        print(
            "goemobalance generate: warning: no --test-split, texts are not checked against the "
            "GoEmotions test split",
            file=sys.stderr,
        )
    with writing_into(out, overwrite=args.overwrite, what="generate folder"):
        return _generate_into(out, args, deficits, settings, pool, test)


def _generate_into(out: Path, args: argparse.Namespace, deficits, settings, pool, test) -> int:
    from goemobalance.llm import run_generation
    from goemobalance.llm.review import export_review, save_rows
    from goemobalance.redact import redact_data

    out.mkdir(parents=True, exist_ok=True)
    result = run_generation(
        deficits,
        settings.generator,
        settings.annotator,
        cache_path=args.cache or str(out / "llm_cache.sqlite"),
        template=settings.template,
        config=settings.generation,
        policy=settings.policy,
        pool=pool,
        test_texts=test,
        progress=not args.no_progress,
    )
    save_rows(result.accepted, out / "accepted")
    save_rows(result.review, out / "review")
    if len(result.review):
        export_review(result.review, out / "review.csv")
    report = {**result.report, "settings": _safe_settings(settings)}
    (out / "report.json").write_text(
        json.dumps(redact_data(report), indent=2, ensure_ascii=False), encoding="utf-8"
    )
    _print_summary(result.report, out)
    result.raise_for_status()
    return 0


def _print_plan(plan, settings, *, dry_run: bool) -> None:
    """The plan in two lines: on stdout for a dry run, on stderr before a real one."""
    prices = settings.generator.price_input_per_1m or settings.generator.price_output_per_1m
    cost = f"${plan.cost_usd:,.2f}" if prices else "unknown (set --price-input-per-1m/--price-output-per-1m)"
    refills = (
        f"up to {plan.max_rounds - 1} more round(s) refill rejected texts" if plan.max_rounds > 1 else ""
    )
    head = "dry run, nothing sent or written: " if dry_run else ""
    lines = [
        (
            f"{head}planned {plan.requests:,} requests ({plan.generation_requests:,} generation + "
            f"{plan.annotation_requests:,} annotation) for {plan.texts:,} texts in {plan.targets} label "
            f"combination(s) with {settings.generator.model}"
        ),
        (
            f"estimated {plan.prompt_tokens:,} prompt + {plan.completion_tokens:,} completion tokens, "
            f"cost {cost} (first round; {refills + ', ' if refills else ''}retries not counted)"
        ),
    ]
    print("\n".join(lines), file=sys.stdout if dry_run else sys.stderr)


def _recipe_parts(recipe: str | None) -> tuple[dict[str, Any], Path | None, int, dict[str, Any]]:
    if recipe is None:
        return {}, None, 0, {}
    path = Path(recipe)
    if not path.is_file():
        raise InputError(f"recipe not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a recipe must be a mapping")
    return dict(data.get("llm") or {}), path.parent, int(data.get("seed", 0)), data


def _with_flags(section: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    flags = {
        "model": args.model, "annotator_model": args.annotator_model, "base_url": args.base_url,
        "api_key_env": args.api_key_env, "concurrency": args.concurrency, "timeout": args.timeout,
        "max_retries": args.max_retries, "max_wait": args.max_wait, "structured_output": args.structured_output,
        "price_input_per_1m": args.price_input_per_1m, "price_output_per_1m": args.price_output_per_1m,
        "prompts": args.template, "temperature": args.temperature, "batch_size": args.batch_size,
        "max_rounds": args.max_rounds, "max_new_per_label": args.max_new_per_label, "agreement": args.agreement,
        "max_texts": args.max_texts, "max_requests": args.max_requests,
        "jaccard_threshold": args.jaccard_threshold, "votes": args.votes, "min_confidence": args.min_confidence,
        "on_unknown_label": args.on_unknown_label,
    }  # fmt: skip
    section = {k: v for k, v in section.items() if k not in ("enabled",)}
    return {**section, **{k: v for k, v in flags.items() if v is not None}}


def _load_pool(paths: list[str]):
    if not paths:
        return None
    import datasets

    from goemobalance.sources import load_dataset_any

    return datasets.concatenate_datasets([load_dataset_any(p) for p in paths])


def _load_test(path: str | None):
    if path is None:
        return None
    from goemobalance.sources import load_dataset_any

    return load_dataset_any(path, "test")


def _recipe_deficits(recipe: dict[str, Any], pool, recipe_path: str) -> dict[str, Any]:
    if pool is None:
        raise InputError(
            f"{recipe_path}: with --recipe, give --pool DATASET (deficits are computed from it) "
            "or --deficits FILE.json"
        )
    from goemobalance.balance.sampling import deficits

    balance = recipe.get("balance") or {}
    strategy = balance.get("sampling_strategy", "equal")
    target = balance.get("target") if strategy == "equal" and balance.get("target") else strategy
    return deficits(pool, target)


def _safe_settings(settings) -> dict[str, Any]:
    """Settings for the report: the key's variable name only, never its value."""
    from dataclasses import asdict

    return {
        "generator": settings.generator.to_dict(),
        "annotator": settings.annotator.to_dict(),
        "generation": asdict(settings.generation),
        "agreement": asdict(settings.policy),
        "template_id": settings.template.id,
    }


def _print_summary(report: dict[str, Any], out: Path) -> None:
    print(
        f"accepted {report['accepted']}, to review {report['to_review']}, "
        f"requested {report['texts_requested']} texts -> {out}"
    )
    if report["rejections"]:
        print("rejections: " + ", ".join(f"{k}={v}" for k, v in report["rejections"].items()))
    if report["failed_requests"]:
        print(
            f"{len(report['failed_requests'])} generation request(s) failed; rerun to retry them (cached "
            "answers are reused)",
            file=sys.stderr,
        )
    if report.get("stopped"):
        print(f"stopped early: {report['stopped']}", file=sys.stderr)
    if report["unfilled"]:
        print("unfilled: " + ", ".join(f"{'+'.join(u['labels'])}={u['count']}" for u in report["unfilled"]))
