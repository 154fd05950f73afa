"""Annotation side: the LLM labels each text (multi-label, with confidence) and an agreement policy
decides whether the intended labels are confirmed or the row goes to human review.

Names outside the label space are dropped and recorded (``on_unknown_label="drop"``) or send the row
to review (``"review"``). With ``votes=k`` the text is annotated k times (k cached requests with
different seeds) and a label is kept when a strict majority of the votes name it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from goemobalance.errors import InputError
from goemobalance.labels import LabelSpace
from goemobalance.llm.client import LLMClient, LLMRequestError
from goemobalance.llm.parsing import ResponseParseError, parse_json_lenient
from goemobalance.llm.prompts import PromptTemplate

ANNOTATION_SCHEMA_NAME = "emotion_labels"
AGREEMENT_RULES = ("subset", "jaccard", "exact")


@dataclass
class AgreementPolicy:
    """When annotated labels confirm the intended ones; see the module docstring.

    Parameters
    ----------
    rule : {"subset", "jaccard", "exact"}, default "subset"
        ``subset``: every intended label is annotated (and at least one label is); ``jaccard``: the two
        sets' Jaccard reaches `jaccard_threshold`; ``exact``: the sets are equal.
    jaccard_threshold : float, default 0.5
        Threshold of the ``jaccard`` rule.
    votes : int, default 1
        Annotations per text (>= 1); a label needs a strict majority of them.
    min_confidence : float, default 0.5
        A vote names a label only with at least this confidence.
    temperature : float, default 0.0
        Temperature of the first vote.
    vote_temperature : float, default 0.7
        Temperature of the other votes.
    parse_retries : int, default 2
        Extra requests (other seeds) when an answer cannot be parsed.
    on_unknown_label : {"drop", "review"}, default "drop"
        Names outside the label space are dropped, or send the text to review.

    Raises
    ------
    InputError
        If `rule`, `votes` or `on_unknown_label` is invalid.
    """

    rule: str = "subset"
    jaccard_threshold: float = 0.5
    votes: int = 1
    min_confidence: float = 0.5
    temperature: float = 0.0
    vote_temperature: float = 0.7
    parse_retries: int = 2
    on_unknown_label: str = "drop"

    def __post_init__(self) -> None:
        if self.rule not in AGREEMENT_RULES:
            raise InputError(f"agreement rule must be one of {AGREEMENT_RULES}, got {self.rule!r}")
        if self.votes < 1:
            raise InputError(f"votes must be >= 1, got {self.votes}")
        if self.on_unknown_label not in ("drop", "review"):
            raise InputError(f"on_unknown_label must be 'drop' or 'review', got {self.on_unknown_label!r}")

    def agrees(self, intended: set[str], annotated: set[str]) -> tuple[bool, float]:
        """(passed, Jaccard) for intended vs annotated label sets.

        Parameters
        ----------
        intended : set of str
            The labels the text was generated for.
        annotated : set of str
            The labels the annotator gave.

        Returns
        -------
        passed : bool
            Whether `rule` accepts the pair.
        jaccard : float
            Their Jaccard similarity (1.0 for two empty sets).
        """
        union = intended | annotated
        jaccard = len(intended & annotated) / len(union) if union else 1.0
        if self.rule == "subset":
            return bool(annotated) and intended <= annotated, jaccard
        if self.rule == "exact":
            return intended == annotated, jaccard
        return jaccard >= self.jaccard_threshold, jaccard


@dataclass
class Annotation:
    """The annotator's verdict on one text.

    Attributes
    ----------
    labels : list of str
        Labels named by a strict majority of the votes, in label-space order.
    scores : list of float
        Mean confidence per label of the space, in space order.
    unknown_labels : list of str
        Names the annotator gave outside the label space.
    votes : int
        Votes cast.
    agreement : dict
        The policy's verdict: ``rule``, ``passed``, ``jaccard``, ``votes``, ``intended``, ``annotated``
        (and ``threshold`` for the jaccard rule).
    error : str or None
        Why annotation failed (a request or parse error), None when it did not.
    """

    labels: list[str]
    scores: list[float]
    unknown_labels: list[str] = field(default_factory=list)
    votes: int = 0
    agreement: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def accepted(self) -> bool:
        """Whether the agreement passed without an error."""
        return bool(self.agreement.get("passed")) and self.error is None


def annotation_response_format(space: LabelSpace) -> dict[str, Any]:
    """JSON-schema ``response_format`` for ``{"labels": [{"name": <label>, "confidence": 0..1}]}``."""
    label = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "enum": list(space.names)},
            "confidence": {"type": "number"},
        },
        "required": ["name", "confidence"],
        "additionalProperties": False,
    }
    schema = {
        "type": "object",
        "properties": {"labels": {"type": "array", "items": label}},
        "required": ["labels"],
        "additionalProperties": False,
    }
    return {
        "type": "json_schema",
        "json_schema": {"name": ANNOTATION_SCHEMA_NAME, "strict": True, "schema": schema},
    }


def parse_annotation(content: str, space: LabelSpace) -> tuple[dict[str, float], list[str]]:
    """Known label -> confidence, and the names outside the label space; raises `ResponseParseError`.

    Parameters
    ----------
    content : str
        The annotator's reply: ``{"labels": [...]}`` (or ``emotions``) or a bare list, whose entries are
        names or ``{"name"|"label", "confidence"}`` objects (names compared lower-cased; confidence
        clipped to [0, 1], 1.0 when missing).
    space : LabelSpace
        The known labels.

    Returns
    -------
    known : dict of str to float
        Label -> its highest confidence in the reply.
    unknown : list of str
        Other names, in order of first appearance.

    Raises
    ------
    ResponseParseError
        If the reply holds no JSON or no label list.
    """
    value = parse_json_lenient(content)
    entries = value.get("labels", value.get("emotions")) if isinstance(value, Mapping) else value
    if not isinstance(entries, list):
        raise ResponseParseError("annotation JSON has no 'labels' list")
    known: dict[str, float] = {}
    unknown: list[str] = []
    for entry in entries:
        name, confidence = _entry(entry)
        if name is None:
            continue
        if name in space:
            known[name] = max(known.get(name, 0.0), confidence)
        elif name not in unknown:
            unknown.append(name)
    return known, unknown


async def annotate_text(
    client: LLMClient,
    text: str,
    intended: Sequence[str],
    template: PromptTemplate,
    space: LabelSpace,
    policy: AgreementPolicy,
    seed: int = 0,
) -> Annotation:
    """Annotate one text (k votes), then apply the agreement policy; failures are kept on the result.

    Parameters
    ----------
    client : LLMClient
        The annotator's client.
    text : str
        The text to label.
    intended : sequence of str
        The labels it was generated for.
    template : PromptTemplate
        Gives the annotation messages.
    space : LabelSpace
        The labels the annotator may give.
    policy : AgreementPolicy
        Votes, temperatures and the agreement rule.
    seed : int, default 0
        Base request seed (vote ``v``, attempt ``a`` uses ``seed + v + 1000 * a``).

    Returns
    -------
    Annotation
        With `Annotation.error` set (and not passed) when a request failed for good or no answer parsed.
    """
    messages = template.annotation_messages(text, space.names)
    votes: list[dict[str, float]] = []
    unknown: list[str] = []
    for vote in range(policy.votes):
        try:
            known, vote_unknown = await _one_vote(client, messages, space, policy, seed, vote)
        except (LLMRequestError, ResponseParseError) as exc:
            return Annotation([], [], unknown, len(votes), {"passed": False}, error=str(exc))
        votes.append(known)
        unknown += [name for name in vote_unknown if name not in unknown]
    return _verdict(votes, unknown, set(intended), space, policy)


async def _one_vote(client, messages, space, policy, seed, vote) -> tuple[dict[str, float], list[str]]:
    """One annotation; a reply that cannot be parsed (never cached) is asked again with another seed."""
    temperature = policy.temperature if vote == 0 else policy.vote_temperature
    last_error: ResponseParseError | None = None
    for attempt in range(policy.parse_retries + 1):
        try:
            completion = await client.complete(
                messages,
                temperature=temperature,
                seed=seed + vote + 1000 * attempt,
                response_format=annotation_response_format(space),
                parse=lambda content: parse_annotation(content, space),
            )
        except ResponseParseError as exc:
            last_error = exc
            continue
        return completion.parsed
    raise ResponseParseError(f"unparseable annotation after {policy.parse_retries + 1} tries: {last_error}")


def _verdict(
    votes: list[dict[str, float]],
    unknown: list[str],
    intended: set[str],
    space: LabelSpace,
    policy: AgreementPolicy,
) -> Annotation:
    counts = Counter(name for vote in votes for name, conf in vote.items() if conf >= policy.min_confidence)
    labels = sorted((name for name, c in counts.items() if c * 2 > len(votes)), key=space.id)
    totals: Counter = Counter()
    for vote in votes:
        totals.update(vote)
    scores = [totals[name] / len(votes) for name in space.names]
    passed, jaccard = policy.agrees(intended, set(labels))
    if unknown and policy.on_unknown_label == "review":
        passed = False
    agreement = {
        "rule": policy.rule,
        "passed": passed,
        "jaccard": round(jaccard, 4),
        "votes": len(votes),
        "intended": sorted(intended, key=space.id),
        "annotated": labels,
    }
    if policy.rule == "jaccard":
        agreement["threshold"] = policy.jaccard_threshold
    return Annotation(labels, scores, unknown, len(votes), agreement)


def _entry(entry: Any) -> tuple[str | None, float]:
    if isinstance(entry, str):
        return entry.strip().lower(), 1.0
    if not isinstance(entry, Mapping):
        return None, 0.0
    name = entry.get("name", entry.get("label"))
    if not isinstance(name, str) or not name.strip():
        return None, 0.0
    try:
        confidence = float(entry.get("confidence", 1.0))
    except (TypeError, ValueError):
        confidence = 1.0
    return name.strip().lower(), min(1.0, max(0.0, confidence))
