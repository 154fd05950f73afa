"""The ``llm`` section of a recipe (or CLI flags) turned into client, generation and agreement settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from goemobalance.llm.annotator import AgreementPolicy
from goemobalance.llm.client import LLMConfig
from goemobalance.llm.generator import GenerationConfig
from goemobalance.llm.prompts import DEFAULT_TEMPLATE, PromptTemplate, load_template


@dataclass
class LLMSettings:
    """Everything one generate+annotate run needs besides the deficits."""

    generator: LLMConfig
    annotator: LLMConfig
    generation: GenerationConfig
    policy: AgreementPolicy
    template: PromptTemplate
    max_new_per_label: int | None = None


def settings_from_mapping(
    section: Mapping[str, Any], base_dir: str | Path | None = None, seed: int = 0
) -> LLMSettings:
    """Settings from a recipe's ``llm`` mapping; relative ``prompts`` paths resolve against `base_dir`."""
    section = dict(section)
    client = _pick(LLMConfig, section)
    generator = LLMConfig(**client)
    annotator = LLMConfig(**{**client, "model": section.get("annotator_model") or generator.model})
    generation = GenerationConfig(**{"seed": seed, **_pick(GenerationConfig, section)})
    policy_fields = _pick(AgreementPolicy, section, exclude=("temperature",))
    policy_fields.update(_renamed(section, {"agreement": "rule", "annotator_temperature": "temperature"}))
    policy = AgreementPolicy(**policy_fields)
    return LLMSettings(
        generator=generator,
        annotator=annotator,
        generation=generation,
        policy=policy,
        template=load_template(_template_path(section.get("prompts"), base_dir)),
        max_new_per_label=section.get("max_new_per_label"),
    )


def cap_deficits(deficits: Mapping[str, Any], cap: int | None) -> dict[str, Any]:
    """Deficits in the contract form, with no label asked for more than `cap` texts in total.

    Labelsets count toward each of their labels (as in `parse_deficits`), so they draw on the same
    per-label budget; plain ``{name: count}`` mappings are accepted.
    """
    structured = "labels" in deficits or "labelsets" in deficits
    labels = dict(deficits.get("labels") or {}) if structured else dict(deficits)
    labelsets = [dict(entry) for entry in (deficits.get("labelsets") or [])] if structured else []
    if cap is None:
        return {"labels": labels, "labelsets": labelsets}
    budget: dict[str, int] = {}
    capped_sets = []
    for entry in labelsets:
        names = [str(n).strip().lower() for n in entry.get("labels") or []]
        count = entry.get("count")
        if names and isinstance(count, int):
            count = max(0, min([count] + [budget.setdefault(n, cap) for n in names]))
            for name in names:
                budget[name] -= count
        capped_sets.append({**entry, "count": count})
    capped_labels = {
        name: min(count, cap) if isinstance(count, int) else count for name, count in labels.items()
    }
    return {"labels": capped_labels, "labelsets": capped_sets}


def _pick(kind: type, section: Mapping[str, Any], exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    names = {f.name for f in fields(kind)} - set(exclude)
    return {name: section[name] for name in names if section.get(name) is not None}


def _renamed(section: Mapping[str, Any], renames: Mapping[str, str]) -> dict[str, Any]:
    return {target: section[source] for source, target in renames.items() if section.get(source) is not None}


def _template_path(prompts: str | None, base_dir: str | Path | None) -> str | Path:
    if not prompts:
        return DEFAULT_TEMPLATE
    path = Path(prompts)
    if not path.is_absolute() and base_dir is not None and (Path(base_dir) / path).exists():
        return Path(base_dir) / path
    return prompts
