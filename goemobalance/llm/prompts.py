"""Prompt templates (YAML; the default ships in ``goemobalance/data/prompts/``) with diversity axes, and their seeded rendering.

A template has an ``id``, ``generation`` and ``annotation`` prompts (``system`` and ``user``), diversity
``axes`` (persona, topic, length, platform: each a list of values or a ``{name: description}`` mapping)
and per-platform ``max_chars``. Placeholders are ``{name}``; only known names are replaced, so JSON
examples with braces can be written as they are.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from goemobalance.errors import InputError

PACKAGED_PROMPTS = Path(__file__).resolve().parents[1] / "data" / "prompts"
DEFAULT_TEMPLATE = "default"
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class TemplateError(InputError):
    """A prompt template file that is missing or malformed; the message names the file and key."""


@dataclass(frozen=True)
class AxisValue:
    """One sampled value of a diversity axis: its short name (kept in provenance) and prompt text."""

    name: str
    description: str


@dataclass(frozen=True)
class PromptTemplate:
    """Generation and annotation prompts plus the diversity axes they are filled from.

    Made by `load_template` / `template_from_dict` from a YAML file.

    Parameters
    ----------
    id : str
        The template's name (recorded in provenance).
    generation_system, generation_user : str
        The generation prompts, with ``{n}``, ``{emotions}``, ``{max_chars}``, ``{emotion_hints}`` and one
        placeholder per axis.
    annotation_system, annotation_user : str
        The annotation prompts, with ``{labels}`` and ``{text}``.
    axes : mapping of str to tuple of AxisValue
        Diversity axes (platform, register, ...) and their values.
    max_chars : mapping of str to int
        Length limit per ``platform`` axis value.
    default_max_chars : int, default 1000
        Length limit without a platform, or for one not listed.
    label_hints : mapping of str to str
        Label name -> a hint shown when generating for it.
    """

    id: str
    generation_system: str
    generation_user: str
    annotation_system: str
    annotation_user: str
    axes: Mapping[str, tuple[AxisValue, ...]] = field(default_factory=dict)
    max_chars: Mapping[str, int] = field(default_factory=dict)
    default_max_chars: int = 1000
    label_hints: Mapping[str, str] = field(default_factory=dict)

    def sample_axes(self, rng: random.Random) -> dict[str, AxisValue]:
        """One value per axis, chosen with `rng` (seed it for reproducible prompts).

        Parameters
        ----------
        rng : random.Random
            The source of the choices (axes are visited in name order).

        Returns
        -------
        dict of str to AxisValue
        """
        return {axis: rng.choice(values) for axis, values in sorted(self.axes.items())}

    def max_chars_for(self, axes: Mapping[str, AxisValue]) -> int:
        """Length limit for a text on the sampled platform.

        Parameters
        ----------
        axes : mapping of str to AxisValue
            Sampled axis values (`sample_axes`).

        Returns
        -------
        int
            ``max_chars`` of the ``platform`` value, else `default_max_chars`.
        """
        platform = axes.get("platform")
        return (
            int(self.max_chars.get(platform.name, self.default_max_chars))
            if platform
            else self.default_max_chars
        )

    def generation_messages(
        self, labels: Sequence[str], n: int, axes: Mapping[str, AxisValue]
    ) -> list[dict[str, str]]:
        """Chat messages asking for `n` texts expressing all of `labels` under the sampled axes.

        Parameters
        ----------
        labels : sequence of str
            The labels every text should express.
        n : int
            Texts asked for.
        axes : mapping of str to AxisValue
            Sampled axis values (`sample_axes`).

        Returns
        -------
        list of dict
            A system and a user message (``role``, ``content``).
        """
        values = {axis: value.description for axis, value in axes.items()}
        hints = "; ".join(f"{name}: {self.label_hints[name]}" for name in labels if name in self.label_hints)
        values.update(
            n=str(n),
            emotions=", ".join(labels),
            max_chars=str(self.max_chars_for(axes)),
            emotion_hints=hints or "-",
        )
        return [
            {"role": "system", "content": fill(self.generation_system, values)},
            {"role": "user", "content": fill(self.generation_user, values)},
        ]

    def annotation_messages(self, text: str, label_names: Sequence[str]) -> list[dict[str, str]]:
        """Chat messages asking which of `label_names` a text expresses.

        Parameters
        ----------
        text : str
            The text to label.
        label_names : sequence of str
            The labels the annotator may choose.

        Returns
        -------
        list of dict
            A system and a user message (``role``, ``content``).
        """
        values = {"labels": ", ".join(label_names), "text": text}
        return [
            {"role": "system", "content": fill(self.annotation_system, values)},
            {"role": "user", "content": fill(self.annotation_user, values)},
        ]


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}`` for the names in `values`; other braces are left untouched."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def load_template(name_or_path: str | Path = DEFAULT_TEMPLATE) -> PromptTemplate:
    """A template from a YAML path, or by name from ``./recipes/prompts/<name>.yaml`` or the package's own.

    Parameters
    ----------
    name_or_path : str or Path, default DEFAULT_TEMPLATE
        A YAML file, or a template name.

    Returns
    -------
    PromptTemplate

    Raises
    ------
    TemplateError
        If the template is not found, is not valid YAML, or lacks a section.
    """
    path = _resolve(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: not valid YAML: {exc}") from exc
    return template_from_dict(raw, source=str(path))


def template_from_dict(raw: Any, source: str = "<dict>") -> PromptTemplate:
    """Build and check a template from its YAML mapping."""
    if not isinstance(raw, Mapping):
        raise TemplateError(f"{source}: a template must be a mapping, got {type(raw).__name__}")

    def need(section: str, key: str) -> str:
        value = (raw.get(section) or {}).get(key) if isinstance(raw.get(section), Mapping) else None
        if not isinstance(value, str) or not value.strip():
            raise TemplateError(f"{source}: missing text at '{section}.{key}'")
        return value

    if not raw.get("id"):
        raise TemplateError(f"{source}: missing 'id'")
    return PromptTemplate(
        id=str(raw["id"]),
        generation_system=need("generation", "system"),
        generation_user=need("generation", "user"),
        annotation_system=need("annotation", "system"),
        annotation_user=need("annotation", "user"),
        axes={
            axis: _axis_values(values, f"{source}: axes.{axis}")
            for axis, values in (raw.get("axes") or {}).items()
        },
        max_chars={str(k): int(v) for k, v in (raw.get("max_chars") or {}).items() if k != "default"},
        default_max_chars=int((raw.get("max_chars") or {}).get("default", 1000)),
        label_hints={str(k): str(v) for k, v in (raw.get("label_hints") or {}).items()},
    )


def _axis_values(values: Any, where: str) -> tuple[AxisValue, ...]:
    if isinstance(values, Mapping):
        parsed = tuple(AxisValue(str(k), str(v)) for k, v in values.items())
    elif isinstance(values, Sequence) and not isinstance(values, str):
        parsed = tuple(AxisValue(str(v), str(v)) for v in values)
    else:
        raise TemplateError(f"{where}: expected a list or a mapping of values")
    if not parsed:
        raise TemplateError(f"{where}: no values")
    return parsed


def _resolve(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise TemplateError(f"prompt template not found: {path}")
        return path
    for folder in (Path.cwd() / "recipes" / "prompts", PACKAGED_PROMPTS):
        candidate = folder / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    raise TemplateError(
        f"prompt template {name_or_path!r} not found in ./recipes/prompts or {PACKAGED_PROMPTS}"
    )
