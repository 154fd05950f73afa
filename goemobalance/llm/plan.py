"""What an LLM run will send and cost, worked out by arithmetic before anything is sent or allocated.

`plan_requests(deficits, settings)` is what ``generate --dry-run`` and ``build --dry-run`` print, and
what every run checks first: deficits above `GenerationConfig.max_texts` or a plan above
`GenerationConfig.max_requests` are refused here, before a single batch is planned, so a deficit of
1e9 fails in milliseconds instead of filling memory with requests.

Counts are for the first round: one generation request per ``batch_size`` texts, then ``votes``
annotation requests per text. Later rounds only ask again for texts that were rejected, and retries
are not counted (`max_requests` caps those too while the run sends). Tokens are estimated at
`CHARS_PER_TOKEN` characters per token on the prompts the run would render (one per label combination,
with the first batch's diversity axes), and on typical answer sizes (`TEXT_TOKENS` per generated text,
`LABEL_TOKENS` per annotated label); treat them as estimates within about a factor of 1.5.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from goemobalance.errors import InputError
from goemobalance.labels import GOEMOTIONS, LabelSpace
from goemobalance.llm.generator import Target, parse_deficits

if TYPE_CHECKING:
    from goemobalance.llm.settings import LLMSettings

CHARS_PER_TOKEN = 4
MESSAGE_TOKENS = 4
TEXT_TOKENS = 45
ITEM_TOKENS = 6
LABEL_TOKENS = 12
ANSWER_TOKENS = 6
ANNOTATED_LABELS = 2
_SAMPLE_TEXT = "x" * (TEXT_TOKENS * CHARS_PER_TOKEN)


@dataclass(frozen=True)
class RequestPlan:
    """The first round of an LLM run: requests, texts, estimated tokens and dollars, and the caps.

    Attributes
    ----------
    requests : int
        Generation plus annotation requests.
    texts : int
        Texts asked for (the deficits, summed).
    prompt_tokens, completion_tokens : int
        Estimated tokens sent and received.
    cost_usd : float
        Estimated price at the configured per-million-token prices (0 when none are set).
    generation_requests, annotation_requests : int
        The two kinds of request in `requests`.
    targets : int
        Label combinations asked for.
    max_rounds : int
        Rounds the run may take to refill rejected texts (not included above).
    max_texts, max_requests : int or None
        The caps the plan is checked against (None: no cap).
    """

    requests: int
    texts: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    generation_requests: int = 0
    annotation_requests: int = 0
    targets: int = 0
    max_rounds: int = 1
    max_texts: int | None = None
    max_requests: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready values (cost rounded to a millionth of a dollar).

        Returns
        -------
        dict
            Field name -> value.
        """
        return {**asdict(self), "cost_usd": round(self.cost_usd, 6)}

    def problems(self) -> list[str]:
        """Why a run of this plan would be refused (empty when it may run).

        Returns
        -------
        list of str
            One sentence per exceeded cap (``max_texts``, ``max_requests``), saying how to raise it.
        """
        found = []
        if self.max_texts is not None and self.texts > self.max_texts:
            found.append(
                f"the deficits ask for {self.texts:,} texts, more than the cap of {self.max_texts:,} per run "
                "(max_texts); raise it (generate --max-texts N, recipe llm.max_texts) or lower the deficits "
                "(max_new_per_label)"
            )
        if self.max_requests is not None and self.requests > self.max_requests:
            found.append(
                f"the first round alone needs {self.requests:,} requests, more than --max-requests "
                f"{self.max_requests:,}; raise the cap or lower the deficits (max_new_per_label)"
            )
        return found

    def check(self) -> None:
        """Raise `InputError` naming the cap when the plan exceeds one."""
        found = self.problems()
        if found:
            raise InputError("; ".join(found))


def plan_requests(
    deficits: Mapping[str, Any], settings: LLMSettings | Mapping[str, Any], *, space: LabelSpace = GOEMOTIONS
) -> RequestPlan:
    """What filling `deficits` with `settings` would send and cost, without sending or allocating anything.

    Parameters
    ----------
    deficits : mapping
        The balancer's deficits (``{"labels": {...}, "labelsets": [...]}`` or ``{name: count}``).
    settings : LLMSettings or mapping
        `goemobalance.llm.settings.LLMSettings`, or a recipe's ``llm`` mapping (as for `fill_pool`):
        model, prices, batch_size, votes, max_new_per_label, max_texts, max_requests...
    space : LabelSpace
        The label space the deficits name.

    Returns
    -------
    RequestPlan
        Requests, texts, tokens and cost of the first round; ``plan.check()`` raises if a cap is exceeded.
    """
    from goemobalance.llm.settings import LLMSettings, cap_deficits, settings_from_mapping

    if not isinstance(settings, LLMSettings):
        settings = settings_from_mapping(settings)
    capped = cap_deficits(deficits, settings.max_new_per_label)
    return estimate(parse_deficits(capped, space), settings, space)


def estimate(targets: list[Target], settings: LLMSettings, space: LabelSpace = GOEMOTIONS) -> RequestPlan:
    """The `RequestPlan` of parsed targets (arithmetic only: one prompt rendered per label combination)."""
    generation, template, policy = settings.generation, settings.template, settings.policy
    texts = sum(t.count for t in targets)
    generation_requests = prompt_gen = completion_gen = 0
    for target in targets:
        batches = math.ceil(target.count / generation.batch_size)
        rng = random.Random(f"{generation.seed}|0|{'+'.join(target.labels)}|0")
        messages = template.generation_messages(
            target.labels, generation.batch_size, template.sample_axes(rng)
        )
        generation_requests += batches
        prompt_gen += batches * _tokens(messages)
        answer = min(generation.batch_size, target.count) * (TEXT_TOKENS + ITEM_TOKENS) + ANSWER_TOKENS
        completion_gen += batches * min(answer, generation.max_tokens or answer)
    annotation_requests = texts * policy.votes
    annotation_prompt = _tokens(template.annotation_messages(_SAMPLE_TEXT, space.names))
    annotation_answer = ANNOTATED_LABELS * LABEL_TOKENS + ANSWER_TOKENS
    cost = settings.generator.cost(prompt_gen, completion_gen) + settings.annotator.cost(
        annotation_requests * annotation_prompt, annotation_requests * annotation_answer
    )
    return RequestPlan(
        requests=generation_requests + annotation_requests,
        texts=texts,
        prompt_tokens=prompt_gen + annotation_requests * annotation_prompt,
        completion_tokens=completion_gen + annotation_requests * annotation_answer,
        cost_usd=cost,
        generation_requests=generation_requests,
        annotation_requests=annotation_requests,
        targets=len(targets),
        max_rounds=generation.max_rounds,
        max_texts=generation.max_texts,
        max_requests=generation.max_requests,
    )


def _tokens(messages: list[dict[str, str]]) -> int:
    return sum(math.ceil(len(m["content"]) / CHARS_PER_TOKEN) + MESSAGE_TOKENS for m in messages)
