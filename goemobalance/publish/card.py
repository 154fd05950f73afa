"""The dataset card (README.md): Hub YAML metadata plus a body with statistics, provenance and citations."""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import datasets
import numpy as np
import yaml
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from goemobalance.markdown import markdown_table
from goemobalance.publish.hashing import ordered_splits
from goemobalance.publish.measures import LabelData, imbalance_measures, label_counts, label_space_of_any
from goemobalance.redact import redact_data, redact_text
from goemobalance.schema import column

LICENSE_FILE = "LICENSE.md"
OTHER_LICENSE_NAME = "goemobalance-mixed-sources"

SOURCE_DATASETS: dict[str, str] = {
    "goemotions": "google-research-datasets/go_emotions",
    "sentiment140": "stanfordnlp/sentiment140",
}
ANNOTATION_CREATORS: dict[str, str] = {
    "human": "crowdsourced",
    "pseudo": "machine-generated",
    "llm": "machine-generated",
    "human-reviewed": "expert-generated",
}
SOURCE_LICENSES: dict[str, str] = {
    "goemotions": "GoEmotions: Apache-2.0 (Google Research).",
    "sentiment140": "Sentiment140: tweets collected by Go, Bhayani and Huang (2009) for research use; "
    "Twitter's terms apply to the texts.",
    "llm": "LLM-generated texts: subject to the generating model provider's terms of use.",
}
MEASURE_NAMES: dict[str, str] = {
    "rows": "rows",
    "label_cardinality": "label cardinality (labels per row)",
    "count_cv": "coefficient of variation of label counts",
    "MeanIR": "MeanIR (mean imbalance ratio)",
    "MaxIR": "MaxIR (max imbalance ratio)",
    "CVIR": "CVIR (coefficient of variation of IR)",
    "SCUMBLE": "SCUMBLE (label concurrence imbalance)",
}
CITATIONS = """\
@inproceedings{demszky-etal-2020-goemotions,
    title = "{G}o{E}motions: A Dataset of Fine-Grained Emotions",
    author = "Demszky, Dorottya and Movshovitz-Attias, Dana and Ko, Jeongwoo and Cowen, Alan and Nemade, Gaurav and Ravi, Sujith",
    booktitle = "Proceedings of the 58th Annual Meeting of the Association for Computational Linguistics",
    year = "2020",
    address = "Online",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2020.acl-main.372",
    doi = "10.18653/v1/2020.acl-main.372",
    pages = "4040--4054",
}

@techreport{go2009twitter,
    title = {Twitter Sentiment Classification using Distant Supervision},
    author = {Go, Alec and Bhayani, Richa and Huang, Lei},
    institution = {Stanford University},
    type = {CS224N Project Report},
    year = {2009},
}

@misc{su2025balancing,
    title = {Based on Data Balancing and Model Improvement for Multi-Label Sentiment Classification Performance Enhancement},
    author = {Su, Zijin and Lyu, Huanzhu and Niu, Yuren and Liu, Yiming},
    year = {2025},
    eprint = {2511.14073},
    archivePrefix = {arXiv},
    primaryClass = {cs.CL},
    url = {https://arxiv.org/abs/2511.14073},
}"""


@dataclass
class CardInfo:
    """What the card says beyond the data itself: names, license, the input pool, audit, recipe and manifest.

    Parameters
    ----------
    pretty_name : str
        The card's title and the Hub's ``pretty_name``.
    summary : str
        The paragraph under the title.
    license : str, optional
        The license id; None: `default_license` of the sources present.
    repo_id : str, optional
        ``ORG/NAME`` used in the usage snippet.
    before : Dataset, DatasetDict or mapping of str to int, optional
        The labels before balancing (rows, or counts per label), shown next to the published counts.
    before_name : str, default "input pool"
        What `before` is called on the card.
    audit : mapping, optional
        An audit's ``to_dict()`` (a report object is converted by `card_info`).
    recipe : str or mapping, optional
        The recipe, shown in a YAML block.
    manifest : mapping, optional
        The build manifest, shown in a YAML block.
    dropped : mapping of str to mapping of str to int, optional
        Rows left out per stage and reason (None: no such section; empty: "no row dropped").
    tags : sequence of str
        The Hub tags.
    """

    pretty_name: str = "Balanced GoEmotions-style emotions"
    summary: str = (
        "A multi-label emotion dataset in the 28 GoEmotions labels, balanced across labels following "
        "arXiv 2511.14073, built with goemobalance."
    )
    license: str | None = None
    repo_id: str | None = None
    before: LabelData | None = None
    before_name: str = "input pool"
    audit: Mapping[str, Any] | None = None
    recipe: str | Mapping[str, Any] | None = None
    manifest: Mapping[str, Any] | None = None
    dropped: Mapping[str, Mapping[str, int]] | None = None
    tags: Sequence[str] = field(
        default_factory=lambda: ("emotion", "goemotions", "multi-label", "balanced", "goemobalance")
    )


def card_info(card: CardInfo | None = None, **fields: Any) -> CardInfo:
    """`card` (or the defaults) with `fields` replaced; ``recipe_text`` is accepted for ``recipe``.

    An audit or manifest given as a report object is turned into a plain dict (``to_dict`` or a dataclass).

    Parameters
    ----------
    card : CardInfo, optional
        The starting point (default: `CardInfo()`).
    **fields
        `CardInfo` field -> value; None values are ignored.

    Returns
    -------
    CardInfo
        A new object; `card` is not changed.

    Raises
    ------
    TypeError
        If a field name is unknown, or an audit/manifest is neither a mapping nor a report.
    """
    if "recipe_text" in fields:
        fields["recipe"] = fields.pop("recipe_text")
    known = {f.name for f in dataclasses.fields(CardInfo)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise TypeError(f"unknown card field(s) {unknown}; CardInfo has {sorted(known)}")
    info = dataclasses.replace(card or CardInfo(), **{k: v for k, v in fields.items() if v is not None})
    info.audit = as_mapping(info.audit)
    info.manifest = as_mapping(info.manifest)
    return info


def as_mapping(value: Any) -> Mapping[str, Any] | None:
    """A plain mapping from a dict, a report object with ``to_dict``, or a dataclass."""
    if value is None or isinstance(value, Mapping):
        return value
    if callable(getattr(value, "to_dict", None)):
        return dict(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"expected a mapping or a report with to_dict(), got {type(value).__name__}")


def card_metadata(
    dataset_dict: datasets.DatasetDict,
    info: CardInfo,
    data_files: Mapping[str, Sequence[str]],
    download_size: int,
) -> DatasetCardData:
    """Hub YAML metadata: license, task, language, size, `configs`/`data_files` and `dataset_info`.

    Parameters
    ----------
    dataset_dict : datasets.DatasetDict
        The validated splits (`make_dataset_dict`).
    info : CardInfo
        What the card says beyond the data.
    data_files : mapping of str to sequence of str
        Split -> its parquet files, relative to the repository.
    download_size : int
        Bytes of the parquet files.

    Returns
    -------
    huggingface_hub.DatasetCardData
    """
    sources = _column_values(dataset_dict, "source")
    origins = _column_values(dataset_dict, "label_origin")
    total = sum(len(split) for split in dataset_dict.values())
    card_data = DatasetCardData(
        language=["en"],
        license=resolved_license(dataset_dict, info),
        multilinguality="monolingual",
        size_categories=[size_category(total)],
        source_datasets=sorted({SOURCE_DATASETS.get(s, "original") for s in sources}),
        task_categories=["text-classification"],
        task_ids=["multi-label-classification"],
        annotations_creators=sorted({ANNOTATION_CREATORS.get(o, "machine-generated") for o in origins}),
        language_creators=sorted({"machine-generated" if s == "llm" else "found" for s in sources}),
        pretty_name=info.pretty_name,
        tags=list(info.tags),
    )
    if card_data.license == "other":
        card_data.license_name = OTHER_LICENSE_NAME
        card_data.license_link = LICENSE_FILE
    _dataset_info(dataset_dict, download_size).to_dataset_card_data(card_data)
    MetadataConfigs(
        {
            "default": {
                "data_files": [{"split": name, "path": list(files)} for name, files in data_files.items()]
            }
        }
    ).to_dataset_card_data(card_data)
    return card_data


def build_card(
    dataset_dict: datasets.DatasetDict,
    info: CardInfo,
    *,
    data_files: Mapping[str, Sequence[str]],
    download_size: int,
    content_hash: str,
    plots: Mapping[str, str] | None = None,
) -> DatasetCard:
    """The whole card: YAML metadata block and the markdown body.

    Parameters
    ----------
    dataset_dict : datasets.DatasetDict
        The validated splits (`make_dataset_dict`).
    info : CardInfo
        What the card says beyond the data.
    data_files : mapping of str to sequence of str
        Split -> its parquet files, relative to the repository.
    download_size : int
        Bytes of the parquet files.
    content_hash : str
        The dataset hash quoted in the usage section.
    plots : mapping of str to str, optional
        Plot name (``label_counts``, ``source_mix``) -> its path in the repository.

    Returns
    -------
    huggingface_hub.DatasetCard
    """
    metadata = card_metadata(dataset_dict, info, data_files, download_size)
    body = card_body(dataset_dict, info, content_hash=content_hash, plots=plots or {})
    return DatasetCard(f"---\n{metadata.to_yaml()}\n---\n\n{body}")


def card_body(
    dataset_dict: datasets.DatasetDict, info: CardInfo, *, content_hash: str, plots: Mapping[str, str]
) -> str:
    """The markdown body: summary, usage, per-label table, measures, source mix, audit, recipe, manifest, citations.

    Parameters
    ----------
    dataset_dict : datasets.DatasetDict
        The validated splits (`make_dataset_dict`).
    info : CardInfo
        What the card says beyond the data.
    content_hash : str
        The dataset hash quoted in the usage section.
    plots : mapping of str to str
        Plot name (``label_counts``, ``source_mix``) -> its path in the repository.

    Returns
    -------
    str
        Markdown; sections without content are left out.
    """
    sections = [
        f"# {info.pretty_name}\n\n{info.summary}",
        _usage_section(dataset_dict, info, content_hash),
        _label_section(dataset_dict, info, plots.get("label_counts")),
        _measures_section(dataset_dict, info),
        _source_mix_section(dataset_dict, plots.get("source_mix")),
        _dropped_section(info.dropped),
        _audit_section(info.audit),
        _code_section("Recipe", "The recipe this dataset was built from.", recipe_text(info.recipe), "yaml"),
        _code_section(
            "Manifest",
            "Input hashes, package versions, model ids, seeds and the output hash of the build.",
            _yaml_text(info.manifest) if info.manifest else None,
            "yaml",
        ),
        _license_section(dataset_dict, info),
        f"## Citation\n\nCite the sources and the method this dataset follows:\n\n```bibtex\n{CITATIONS}\n```",
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def source_mix(dataset_dict: datasets.DatasetDict) -> dict[str, dict[str, int]]:
    """Rows per split by ``source/label_origin``.

    Parameters
    ----------
    dataset_dict : datasets.DatasetDict
        Splits in the record schema.

    Returns
    -------
    dict of str to dict of str to int
        Split -> ``"source/label_origin"`` -> rows, keys sorted.
    """
    return {
        name: dict(
            sorted(
                Counter(
                    f"{s}/{o}" for s, o in zip(column(split, "source"), column(split, "label_origin"))
                ).items()
            )
        )
        for name, split in dataset_dict.items()
    }


def size_category(n_rows: int) -> str:
    """The Hub's size category for a number of rows."""
    bounds = [(10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M"),
              (10**7, "1M<n<10M"), (10**8, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B"),
              (10**11, "10B<n<100B"), (10**12, "100B<n<1T")]  # fmt: skip
    return next((name for bound, name in bounds if n_rows < bound), "n>1T")


def resolved_license(dataset_dict: datasets.DatasetDict, info: CardInfo) -> str:
    """The license id the card declares: the one given, else the default for the sources present."""
    return info.license or default_license(_column_values(dataset_dict, "source"))


def license_file_text(dataset_dict: datasets.DatasetDict, info: CardInfo) -> str:
    """LICENSE.md for a repository declaring ``license: other``: the terms of each source present."""
    sources = sorted(_column_values(dataset_dict, "source"))
    notes = "\n".join(f"- {SOURCE_LICENSES.get(s, f'{s}: see the source.')}" for s in sources)
    return (
        f"# License of {info.pretty_name}\n\nThis dataset combines rows from several sources; each row keeps "
        f"the terms of its source (column `source`):\n\n{notes}\n"
    )


def default_license(sources: set[str]) -> str:
    """Apache-2.0 when every row comes from GoEmotions or generated texts, else ``other`` (mixed terms)."""
    return "apache-2.0" if sources <= {"goemotions", "llm"} else "other"


def recipe_text(recipe: str | Mapping[str, Any] | None) -> str | None:
    """The recipe as YAML text, with secrets redacted (`goemobalance.redact`)."""
    if recipe is None:
        return None
    if isinstance(recipe, Mapping):
        return _yaml_text(recipe)
    return redact_text(str(recipe))


USAGE_CALL = re.compile(r"""datasets\.load_dataset\((["']).*?\1\)""")


def card_with_repo_id(card_text: str, repo_id: str) -> str:
    """The card text with its usage snippet loading `repo_id` (for a folder uploaded to another repository)."""
    return USAGE_CALL.sub(lambda _: f"datasets.load_dataset({json.dumps(repo_id)})", card_text, count=1)


def _yaml_text(value: Mapping[str, Any]) -> str:
    """Redacted YAML of a mapping; values YAML cannot represent (paths, NumPy scalars, ...) become strings."""
    plain = json.loads(json.dumps(redact_data(dict(value)), default=_json_default))
    return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _arrow_bytes(dataset: datasets.Dataset) -> int:
    """In-memory Arrow size of the split's own rows (a split selected from a larger table is flattened first)."""
    return dataset.flatten_indices().data.nbytes if dataset._indices is not None else dataset.data.nbytes


def _dataset_info(dataset_dict: datasets.DatasetDict, download_size: int) -> DatasetInfosDict:
    splits = datasets.SplitDict()
    for name in ordered_splits(dataset_dict):
        splits.add(
            datasets.SplitInfo(
                name=name, num_bytes=_arrow_bytes(dataset_dict[name]), num_examples=len(dataset_dict[name])
            )
        )
    first = dataset_dict[ordered_splits(dataset_dict)[0]]
    info = DatasetInfo(features=first.features, splits=splits, download_size=download_size,
                       dataset_size=sum(s.num_bytes for s in splits.values()))  # fmt: skip
    return DatasetInfosDict({"default": info})


def _column_values(dataset_dict: datasets.DatasetDict, name: str) -> set[str]:
    return {value for split in dataset_dict.values() for value in column(split, name)}


def _usage_section(dataset_dict: datasets.DatasetDict, info: CardInfo, content_hash: str) -> str:
    where = json.dumps(info.repo_id or "path/to/this/folder")
    sizes = markdown_table(["split", "rows"], [(name, len(split)) for name, split in dataset_dict.items()])
    return (
        "## Usage\n\n"
        f"```python\nimport datasets\n\ndd = datasets.load_dataset({where})\n"
        'names = dd["train"].features["labels"].feature.names  # the label names, ids are positions\n```\n\n'
        f"{sizes}\n\n"
        "Columns: `id` (source-prefixed stable id), `text`, `labels` (list of label ids, "
        "`Sequence(ClassLabel)`), `source` (goemotions, sentiment140, llm, ...), `label_origin` (human, "
        "pseudo, llm, human-reviewed), `scores` (per-label probabilities for machine labels, empty for "
        "human labels), `meta` (JSON object with the source's own fields and provenance).\n\n"
        f"Content hash (`goemobalance.publish.dataset_hash`, sha256 over features and rows): `{content_hash}`"
    )


def _label_section(dataset_dict: datasets.DatasetDict, info: CardInfo, plot: str | None) -> str:
    space = label_space_of_any(dataset_dict)
    after = label_counts(dataset_dict)
    per_split = {name: label_counts(split) for name, split in dataset_dict.items()}
    before = label_counts(info.before, space) if info.before is not None else None
    headers = ["label"] + ([info.before_name] if before is not None else []) + ["published"] + list(per_split)
    rows = []
    for i, name in enumerate(space.names):
        rows.append(
            [name]
            + ([before[i]] if before is not None else [])
            + [after[i]]
            + [c[i] for c in per_split.values()]
        )
    rows.append(["**total rows**"] + ([_rows(info.before)] if before is not None else [])
                + [sum(len(s) for s in dataset_dict.values())] + [len(s) for s in dataset_dict.values()])  # fmt: skip
    text = (
        "## Labels before and after balancing\n\n"
        "Rows carrying each label (a row can carry several labels)"
        + (
            f", in the {info.before_name} before balancing and in the published set"
            if before is not None
            else ""
        )
        + ".\n\n"
        + markdown_table(headers, rows)
    )
    return text + (f"\n\n![Rows per label]({plot})" if plot else "")


def _measures_section(dataset_dict: datasets.DatasetDict, info: CardInfo) -> str:
    after = imbalance_measures(dataset_dict)
    before = (
        imbalance_measures(info.before)
        if isinstance(info.before, (datasets.Dataset, datasets.DatasetDict))
        else {}
    )
    keys = [k for k in MEASURE_NAMES if k in after]
    headers = ["measure"] + ([info.before_name] if before else []) + ["published"]
    rows = [[MEASURE_NAMES[k]] + ([before.get(k, float("nan"))] if before else []) + [after[k]] for k in keys]
    note = (
        "Imbalance measures over all splits (lower is more balanced; 0 variation means every label has the "
        "same number of rows)."
    )
    return f"## Imbalance measures\n\n{note}\n\n{markdown_table(headers, rows)}"


def _source_mix_section(dataset_dict: datasets.DatasetDict, plot: str | None) -> str:
    mix = source_mix(dataset_dict)
    kinds = sorted({kind for counts in mix.values() for kind in counts})
    rows = []
    for kind in kinds:
        source, origin = kind.split("/", 1)
        counts = [mix[name].get(kind, 0) for name in mix]
        rows.append([source, origin] + counts + [sum(counts)])
    table = markdown_table(["source", "label_origin"] + list(mix) + ["total"], rows)
    text = f"## Source mix\n\nRows per split by where the text came from and who labelled it.\n\n{table}"
    return text + (f"\n\n![Source mix]({plot})" if plot else "")


def _dropped_section(dropped: Mapping[str, Mapping[str, int]] | None) -> str | None:
    """Rows the build skipped or dropped, by stage and reason (nothing is dropped silently)."""
    if dropped is None:
        return None
    rows = [(stage, reason, count) for stage, reasons in dropped.items() for reason, count in reasons.items()]
    if not rows:
        return "## Rows left out\n\nThe build skipped or dropped no row."
    total = sum(count for _, _, count in rows)
    return (
        "## Rows left out\n\n"
        f"Rows the build read but did not publish ({total:,} in all), by stage and reason.\n\n"
        + markdown_table(["stage", "reason", "rows"], rows)
    )


AUDIT_TABLES: tuple[str, ...] = ("per_label", "per_source", "leaks")


def _audit_section(audit: Mapping[str, Any] | None) -> str | None:
    """The audit's summary, its scalar checks and its per-label, per-source and leak tables.

    Row-level lists (issue ids, duplicate groups, co-occurrence) stay in the full report, not the card.
    """
    if not audit:
        return None
    audit = redact_data(dict(audit))
    parts = ["## Audit summary", "Label-noise, duplicate and leakage audit of the published set."]
    covers = audit.get("covers")
    if isinstance(covers, Mapping) and covers:
        parts.append(
            "The audit covers "
            + ", ".join(f"{name} ({int(rows):,} rows)" for name, rows in covers.items())
            + "; every number below is over these rows."
        )
    if isinstance(audit.get("summary"), str):
        parts.append(audit["summary"])
    scalars = [(k, v) for k, v in audit.items() if _is_scalar(v) and k != "summary"]
    if scalars:
        parts.append(markdown_table(["check", "value"], scalars))
    for key in AUDIT_TABLES:
        if audit.get(key):
            parts.append(f"### {key.replace('_', ' ').capitalize()}\n\n{_render_nested(audit[key])}")
    counts = audit.get("duplicates")
    if isinstance(counts, Mapping) and any(_is_scalar(v) for v in counts.values()):
        parts.append(
            "### Duplicates\n\n"
            + markdown_table(["name", "value"], [(k, v) for k, v in counts.items() if _is_scalar(v)])
        )
    left_out = [k for k, v in audit.items() if not _is_scalar(v) and k not in (*AUDIT_TABLES, "covers")]
    if left_out:
        parts.append(
            f"The full report (also {', '.join(left_out)}) is in the audit's `audit.json` and `audit.md`."
        )
    return "\n\n".join(parts)


def _render_nested(value: Any, limit: int = 20) -> str:
    if isinstance(value, Mapping) and value and all(isinstance(v, Mapping) for v in value.values()):
        columns = list(dict.fromkeys(c for v in value.values() for c, x in v.items() if _is_scalar(x)))
        rows = [[k] + [v.get(c, "") for c in columns] for k, v in value.items()]
        return markdown_table(["name"] + columns, rows)
    if isinstance(value, Mapping) and all(_is_scalar(v) for v in value.values()):
        return markdown_table(["name", "value"], list(value.items()))
    if isinstance(value, list):
        shown = value[:limit]
        header = f"{len(value)} entries" + (f", first {limit} shown" if len(value) > limit else "") + "."
        if shown and all(isinstance(v, Mapping) for v in shown):
            columns = list(dict.fromkeys(c for v in shown for c, x in v.items() if _is_scalar(x)))
            return header + "\n\n" + markdown_table(columns, [[v.get(c, "") for c in columns] for v in shown])
        return (
            header + "\n\n" + "\n".join(f"- {json.dumps(v, ensure_ascii=False, default=str)}" for v in shown)
        )
    return f"```json\n{json.dumps(value, indent=2, ensure_ascii=False, default=str)}\n```"


def _code_section(title: str, intro: str, text: str | None, language: str) -> str | None:
    if not text:
        return None
    return f"## {title}\n\n{intro}\n\n```{language}\n{text.rstrip()}\n```"


def _license_section(dataset_dict: datasets.DatasetDict, info: CardInfo) -> str:
    sources = _column_values(dataset_dict, "source")
    license_id = resolved_license(dataset_dict, info)
    notes = [f"- {SOURCE_LICENSES[s]}" for s in sorted(sources) if s in SOURCE_LICENSES]
    see = f" (see [{LICENSE_FILE}]({LICENSE_FILE}))" if license_id == "other" else ""
    return (
        f"## License\n\nDeclared license: `{license_id}`{see}. The rows keep their sources' terms:\n\n"
        + "\n".join(notes)
    )


def _rows(data: LabelData | None) -> Any:
    if isinstance(data, datasets.DatasetDict):
        return sum(len(split) for split in data.values())
    if isinstance(data, datasets.Dataset):
        return len(data)
    return ""


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, np.integer, np.floating))
