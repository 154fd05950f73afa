"""Generate + annotate until the deficits are filled: the end-to-end LLM stage, as `datasets.Dataset`s.

Per round: plan batches for what is still missing -> send them concurrently -> validate and de-duplicate
each batch in batch order (so a rerun makes the same decisions whatever order answers arrive in) ->
annotate every surviving text -> keep agreed rows, send disagreements to review. Failed requests are
reported and their share of the deficit is asked again in the next round; a rerun answers every earlier
request from the cache and only resends what failed.

Before any of that, the run is planned by arithmetic (`goemobalance.llm.plan`) and refused when it asks
for more than `GenerationConfig.max_texts` texts or `max_requests` requests. A client that stopped
sending (too many failures in a row, or the request cap) ends the rounds early; the result says so, and
`GenerationResult.raise_for_status` turns "requests failed for good" and "nothing accepted" into
`ServiceError` and `NothingAcceptedError`.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import datasets
from tqdm.auto import tqdm

from goemobalance.errors import NothingAcceptedError, ServiceError
from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.llm.annotator import AgreementPolicy, Annotation, annotate_text
from goemobalance.llm.client import LLMClient, LLMConfig, Notify, RequestBudget, stderr_notice
from goemobalance.llm.dedup import DuplicateIndex
from goemobalance.llm.generator import (
    BatchOutcome,
    BatchRequest,
    GenerationConfig,
    parse_deficits,
    plan_batches,
    request_batch,
)
from goemobalance.llm.plan import RequestPlan, estimate
from goemobalance.llm.prompts import PromptTemplate, load_template
from goemobalance.llm.settings import LLMSettings
from goemobalance.schema import from_records, label_space_of, make_record

SOURCE = "llm"


@dataclass
class GenerationResult:
    """Accepted rows, rows for human review, and a JSON-serializable report of everything counted.

    Attributes
    ----------
    accepted : datasets.Dataset
        Generated texts the annotator confirmed, in the record schema (``label_origin="llm"``).
    review : datasets.Dataset
        Generated texts the agreement policy did not confirm, for `export_review`.
    report : dict
        Targets, unfilled targets, texts wanted/requested/accepted, rejections by reason, annotation and
        request failures, the plan, the template id and (from `run_generation`) the clients' usage.
    """

    accepted: datasets.Dataset
    review: datasets.Dataset
    report: dict[str, Any] = field(default_factory=dict)

    def raise_for_status(self) -> None:
        """Raise when the run did not do its job; call it after saving what it did produce.

        Raises
        ------
        ServiceError
            Requests failed for good (after retries) and texts are missing because of it, or the client
            stopped sending after too many failures in a row (exit code 4).
        NothingAcceptedError
            Texts were asked for and none was accepted (exit code 5).
        """
        report = self.report
        failures = report.get("service_failures", 0)
        if failures and (report.get("unfilled") or report.get("stopped")):
            first = report["failed_requests"][0]["error"] if report.get("failed_requests") else None
            reason = report.get("stopped") or first or "see the report"
            raise ServiceError(
                f"{failures} LLM request(s) failed for good, {report.get('accepted', 0)} text(s) accepted: "
                f"{reason}; rerun the same command to retry (answers already received are cached)"
            )
        if report.get("texts_wanted", 0) and not report.get("accepted"):
            rejections = ", ".join(f"{k}={v}" for k, v in (report.get("rejections") or {}).items())
            raise NothingAcceptedError(
                f"no generated text was accepted ({report.get('to_review', 0)} sent to review"
                + (f"; rejections: {rejections}" if rejections else "")
                + ")"
            )


def text_id(text: str) -> str:
    """Stable row id: ``llm:`` + the first 16 hex digits of the SHA-256 of the text.

    Parameters
    ----------
    text : str
        The generated text.

    Returns
    -------
    str
    """
    return "llm:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


async def generate_and_annotate(
    deficits: Mapping[str, Any],
    generator: LLMClient,
    annotator: LLMClient | None = None,
    *,
    template: PromptTemplate | None = None,
    space: LabelSpace = GOEMOTIONS,
    config: GenerationConfig | None = None,
    policy: AgreementPolicy | None = None,
    pool: Iterable[str] | datasets.Dataset | None = None,
    test_texts: Iterable[str] | datasets.Dataset | None = None,
    progress: bool = True,
) -> GenerationResult:
    """Fill `deficits` with generated, annotated, de-duplicated texts (see the module docstring).

    Raises `InputError` before anything is sent when the deficits exceed ``config.max_texts`` or the first
    round exceeds ``config.max_requests``; ``config.max_requests`` also caps what both clients send.

    Parameters
    ----------
    deficits : mapping
        The deficits contract (`parse_deficits`).
    generator : LLMClient
        The client that writes texts.
    annotator : LLMClient, optional
        The client that labels them (default: `generator`).
    template : PromptTemplate, optional
        The prompts (default: `load_template()`).
    space : LabelSpace, default GOEMOTIONS
        The label space of the rows made.
    config : GenerationConfig, optional
        Batching, sampling, rounds and caps (default: `GenerationConfig()`).
    policy : AgreementPolicy, optional
        Annotation votes and agreement rule (default: `AgreementPolicy()`).
    pool : iterable of str or datasets.Dataset, optional
        Texts a new text must not duplicate (the balancing pool).
    test_texts : iterable of str or datasets.Dataset, optional
        Evaluation texts a new text must not duplicate.
    progress : bool, default True
        Show progress bars.

    Returns
    -------
    GenerationResult
        Call `GenerationResult.raise_for_status` after saving it.
    """
    run = _Run(
        generator=generator,
        annotator=annotator or generator,
        template=template or load_template(),
        space=space,
        config=config or GenerationConfig(),
        policy=policy or AgreementPolicy(),
        progress=progress,
    )
    targets = parse_deficits(deficits, space)
    run.plan = estimate(targets, run.settings(), space)
    run.plan.check()
    run.index_references(test_texts, "test")
    run.index_references(pool, "pool")
    remaining = {t.labels: t.count for t in targets}
    failures_before = run.failures()
    with _older_objects_frozen(), _budget_shared(run.config.max_requests, run.generator, run.annotator):
        for round_ in range(run.config.max_rounds):
            batches = plan_batches(
                {k: v for k, v in remaining.items() if v > 0}, run.template, run.config, round_
            )
            if not batches:
                break
            filled = await run.round(batches)
            for labels, count in filled.items():
                remaining[labels] -= count
            if run.stopped():
                break
        run.stop_reason = run.stopped()
    run.service_failures = run.failures() - failures_before
    return run.result(targets, remaining, test_texts is not None)


@contextmanager
def _budget_shared(limit: int | None, *clients: LLMClient) -> Iterator[None]:
    """One `RequestBudget` of `limit` requests for all `clients` while the run lasts (no cap: None)."""
    if limit is None:
        yield
        return
    budget = RequestBudget(limit)
    saved = [client.budget for client in clients]
    for client in clients:
        client.budget = budget
    try:
        yield
    finally:
        for client, previous in zip(clients, saved):
            client.budget = previous


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """Keep the objects that exist before the requests out of full garbage collections while they run
    (`gc.freeze`, undone afterwards). A full collection scans every tracked object and blocks the
    event loop: 0.2-0.4 s per 2,000 requests in a process that has loaded datasets and the openai
    client. Left alone when the caller already froze objects."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_generation(
    deficits: Mapping[str, Any],
    generator_config: LLMConfig,
    annotator_config: LLMConfig | None = None,
    *,
    cache_path: str | None = None,
    notify: Notify | None = stderr_notice,
    **kwargs: Any,
) -> GenerationResult:
    """Blocking entry point: builds the clients (sharing one cache file), runs, closes them.

    `notify` gets the clients' one-line notices (retries, failures; stderr by default, None: silent);
    other keyword arguments go to `generate_and_annotate`.

    Parameters
    ----------
    deficits : mapping
        The deficits contract (`parse_deficits`).
    generator_config : LLMConfig
        The generator client's settings.
    annotator_config : LLMConfig, optional
        The annotator client's settings (default: the generator client annotates too).
    cache_path : str, optional
        The response cache file both clients share; None: no cache.
    notify : callable or None, default stderr_notice
        Receives the clients' notices.
    **kwargs
        Keyword arguments of `generate_and_annotate`.

    Returns
    -------
    GenerationResult
        With ``report["usage"]`` per client.
    """

    async def main() -> GenerationResult:
        generator = LLMClient(generator_config, cache_path, notify=notify)
        annotator = LLMClient(annotator_config, generator.cache, notify=notify) if annotator_config else None
        try:
            result = await generate_and_annotate(deficits, generator, annotator, **kwargs)
        finally:
            await generator.close()
            if annotator is not None:
                await annotator.close()
        result.report["usage"] = {"generator": generator.usage.to_dict()}
        if annotator is not None:
            result.report["usage"]["annotator"] = annotator.usage.to_dict()
        if generator.cache is not None:
            generator.cache.close()
        return result

    return asyncio.run(main())


@dataclass
class _Run:
    generator: LLMClient
    annotator: LLMClient
    template: PromptTemplate
    space: LabelSpace
    config: GenerationConfig
    policy: AgreementPolicy
    progress: bool
    index: DuplicateIndex = field(init=False)
    rejections: Counter = field(default_factory=Counter)
    failed_requests: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    review: list[dict[str, Any]] = field(default_factory=list)
    unknown_labels: Counter = field(default_factory=Counter)
    annotation_failures: int = 0
    service_failures: int = 0
    requested: int = 0
    plan: RequestPlan | None = None
    stop_reason: str | None = None

    def __post_init__(self) -> None:
        self.index = DuplicateIndex(self.config.near_duplicate_threshold)

    def settings(self) -> LLMSettings:
        return LLMSettings(
            generator=self.generator.config,
            annotator=self.annotator.config,
            generation=self.config,
            policy=self.policy,
            template=self.template,
        )

    def clients(self) -> list[LLMClient]:
        return [self.generator] if self.annotator is self.generator else [self.generator, self.annotator]

    def failures(self) -> int:
        """Requests failed for good so far, over both clients."""
        return sum(client.usage.failures for client in self.clients())

    def stopped(self) -> str | None:
        """Why a client stopped sending (too many failures in a row, the request cap), or None."""
        for client in self.clients():
            if client.stopped:
                return client.stopped
        budget = self.generator.budget
        if budget is not None and budget.refused:
            return f"the cap of {budget.limit} requests (max_requests) was reached"
        return None

    def index_references(self, texts: Iterable[str] | datasets.Dataset | None, origin: str) -> None:
        if texts is not None:
            self.index.add(texts["text"] if isinstance(texts, datasets.Dataset) else list(texts), origin)

    async def round(self, batches: list[BatchRequest]) -> Counter:
        """Run one round; returns how many accepted rows each label combination got."""
        committed = [asyncio.Event() for _ in batches]
        bar = tqdm(
            total=len(batches), desc=f"LLM round {batches[0].round}", unit="batch", disable=not self.progress
        )

        async def one(batch: BatchRequest) -> list[tuple[BatchRequest, str, Annotation]]:
            try:
                outcome = await request_batch(self.generator, batch, self.config)
                if batch.index:
                    await committed[batch.index - 1].wait()
                texts = self.commit(outcome)
            finally:
                committed[batch.index].set()
            annotations = await asyncio.gather(
                *(
                    annotate_text(
                        self.annotator, t, batch.labels, self.template, self.space, self.policy, batch.seed
                    )
                    for t in texts
                )
            )
            bar.update(1)
            return [(batch, t, a) for t, a in zip(texts, annotations)]

        results = await asyncio.gather(*(one(b) for b in batches))
        bar.close()
        filled: Counter = Counter()
        for batch, text, annotation in (row for rows in results for row in rows):
            if annotation.accepted:
                filled[batch.labels] += 1
            self.keep(batch, text, annotation)
        return filled

    def commit(self, outcome: BatchOutcome) -> list[str]:
        """Count rejections, drop duplicates (against everything committed before), index the rest."""
        self.requested += outcome.request.n
        self.rejections.update(outcome.rejections)
        if outcome.error is not None:
            self.failed_requests.append(
                {**outcome.request.provenance(), "n": outcome.request.n, "error": outcome.error}
            )
        reasons = self.index.admit(outcome.texts, "generated")
        self.rejections.update(reason for reason in reasons if reason is not None)
        return [text for text, reason in zip(outcome.texts, reasons) if reason is None]

    def keep(self, batch: BatchRequest, text: str, annotation: Annotation) -> None:
        """Make the row with its provenance; agreed rows are accepted, the rest go to review."""
        self.unknown_labels.update(annotation.unknown_labels)
        labels = annotation.labels or list(batch.labels)
        meta = {
            "generator": {
                "model": self.generator.config.model,
                "template_id": self.template.id,
                "temperature": self.config.temperature,
                **batch.provenance(),
            },
            "annotator": {
                "model": self.annotator.config.model,
                "votes": self.policy.votes,
                "temperature": self.policy.temperature,
                "min_confidence": self.policy.min_confidence,
            },
            "agreement": annotation.agreement,
            "unknown_labels": annotation.unknown_labels,
        }
        if annotation.error is not None:
            meta["annotation_error"] = annotation.error
            self.annotation_failures += 1
        record = make_record(
            id=text_id(text),
            text=text,
            labels=self.space.ids(labels),
            source=SOURCE,
            label_origin="llm",
            scores=annotation.scores or None,
            meta=meta,
        )
        (self.accepted if annotation.accepted else self.review).append(record)

    def result(
        self, targets: list, remaining: Mapping[tuple[str, ...], int], test_checked: bool
    ) -> GenerationResult:
        report = {
            "targets": [{"labels": list(t.labels), "count": t.count} for t in targets],
            "unfilled": [{"labels": list(k), "count": v} for k, v in remaining.items() if v > 0],
            "texts_wanted": sum(t.count for t in targets),
            "texts_requested": self.requested,
            "accepted": len(self.accepted),
            "to_review": len(self.review),
            "rejections": dict(sorted(self.rejections.items())),
            "annotation_failures": self.annotation_failures,
            "unknown_labels": dict(self.unknown_labels),
            "failed_requests": self.failed_requests,
            "service_failures": self.service_failures,
            "stopped": self.stop_reason,
            "plan": self.plan.to_dict() if self.plan else None,
            "test_split_checked": test_checked,
            "template_id": self.template.id,
        }
        return GenerationResult(
            from_records(self.accepted, self.space), from_records(self.review, self.space), report
        )


def fill_pool(
    pool: datasets.Dataset,
    llm_section: Mapping[str, Any],
    *,
    target: Any,
    cache_path: str,
    seed: int = 0,
    base_dir: str | None = None,
    test_texts: Iterable[str] | datasets.Dataset | None = None,
    progress: bool = True,
) -> GenerationResult:
    """The recipe's LLM stage: the balancer's deficits of `pool` for `target`, filled with `llm_section` settings.

    `llm_section` is a recipe's ``llm`` mapping (model, base_url, api_key_env, prompts, concurrency,
    temperature, agreement, max_new_per_label, ...); new texts must not duplicate `pool` or `test_texts`.

    Parameters
    ----------
    pool : datasets.Dataset
        The balancing pool, in the record schema.
    llm_section : mapping
        The recipe's ``llm`` settings.
    target : str, int, dict or callable
        The balancing target whose deficits are filled (`goemobalance.balance.deficits`); each label's
        request is capped at ``max_new_per_label``.
    cache_path : str
        The response cache file.
    seed : int, default 0
        The build's seed.
    base_dir : str, optional
        The folder a relative ``prompts`` path resolves against.
    test_texts : iterable of str or datasets.Dataset, optional
        Evaluation texts a new text must not duplicate.
    progress : bool, default True
        Show progress bars.

    Returns
    -------
    GenerationResult
    """
    from goemobalance.balance.sampling import deficits
    from goemobalance.llm.settings import cap_deficits, settings_from_mapping

    settings = settings_from_mapping(llm_section, base_dir, seed)
    wanted = cap_deficits(deficits(pool, target), settings.max_new_per_label)
    return run_generation(
        wanted,
        settings.generator,
        settings.annotator,
        cache_path=cache_path,
        template=settings.template,
        space=label_space_of(pool),
        config=settings.generation,
        policy=settings.policy,
        pool=pool,
        test_texts=test_texts,
        progress=progress,
    )
