"""LLM generation + annotation adapter (OpenAI API and compatible servers): see docs/llm.md."""

from goemobalance.llm.annotator import AgreementPolicy, Annotation, annotate_text, parse_annotation
from goemobalance.llm.cache import ResponseCache, request_key
from goemobalance.llm.client import (
    Completion,
    LLMClient,
    LLMConfig,
    LLMConfigError,
    LLMRequestError,
    RequestBudget,
    RequestCapReached,
    SyncLLMClient,
    Usage,
)
from goemobalance.llm.dedup import DuplicateIndex, normalize_text
from goemobalance.llm.generator import (
    DeficitError,
    GenerationConfig,
    Target,
    load_deficits,
    parse_deficits,
    validate_items,
)
from goemobalance.llm.parsing import ResponseParseError, parse_json_lenient
from goemobalance.llm.pipeline import (
    GenerationResult,
    fill_pool,
    generate_and_annotate,
    run_generation,
    text_id,
)
from goemobalance.llm.plan import RequestPlan, plan_requests
from goemobalance.llm.prompts import PromptTemplate, TemplateError, load_template
from goemobalance.llm.review import ReviewError, export_review, import_review

__all__ = [
    "AgreementPolicy",
    "Annotation",
    "Completion",
    "DeficitError",
    "DuplicateIndex",
    "GenerationConfig",
    "GenerationResult",
    "LLMClient",
    "LLMConfig",
    "LLMConfigError",
    "LLMRequestError",
    "PromptTemplate",
    "RequestBudget",
    "RequestCapReached",
    "RequestPlan",
    "ResponseCache",
    "ResponseParseError",
    "ReviewError",
    "SyncLLMClient",
    "Target",
    "TemplateError",
    "Usage",
    "annotate_text",
    "export_review",
    "fill_pool",
    "generate_and_annotate",
    "import_review",
    "load_deficits",
    "load_template",
    "normalize_text",
    "parse_annotation",
    "parse_deficits",
    "parse_json_lenient",
    "plan_requests",
    "request_key",
    "run_generation",
    "text_id",
    "validate_items",
]
