"""Write a dataset as a Hugging Face Hub repository folder, read it back, and upload it."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import datasets
from huggingface_hub import CommitInfo, HfApi

from goemobalance.labels import LabelSpace
from goemobalance.publish.card import (
    LICENSE_FILE,
    CardInfo,
    build_card,
    card_info,
    license_file_text,
    resolved_license,
    source_mix,
)
from goemobalance.publish.hashing import dataset_hash, ordered_splits
from goemobalance.publish.measures import label_counts, label_space_of_any
from goemobalance.publish.plots import plot_label_counts, plot_source_mix
from goemobalance.publish.splits import PublishError, make_dataset_dict

DATA_DIR = "data"
PLOTS_DIR = "plots"
MAX_SHARD_BYTES = 500 * 1024 * 1024
TOKEN_ENV = "HF_TOKEN"


def save(
    dataset_dict: datasets.DatasetDict,
    folder: str | Path,
    *,
    card: CardInfo | None = None,
    plots: bool = True,
    max_shard_bytes: int = MAX_SHARD_BYTES,
    **card_fields: Any,
) -> Path:
    """Write the Hub repository layout: ``data/<split>-XXXXX-of-YYYYY.parquet``, ``README.md`` and ``plots/``.

    Card contents come from `card` and/or keyword arguments naming `CardInfo` fields (``before``, ``audit``,
    ``recipe`` or ``recipe_text``, ``manifest``, ``license``, ``pretty_name``, ...), keywords winning. The
    splits are validated first (`make_dataset_dict`). Files this function owns from an earlier save
    (parquet shards, plots, the card) are replaced, so a re-save never leaves stale shards behind.
    """
    card = card_info(card, **card_fields)
    dataset_dict = make_dataset_dict(dataset_dict)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_owned_files(folder)
    data_files = {name: _write_parquet_shards(dataset_dict[name], name, folder, max_shard_bytes)
                  for name in ordered_splits(dataset_dict)}  # fmt: skip
    download_size = sum((folder / path).stat().st_size for paths in data_files.values() for path in paths)
    plot_paths = _write_plots(dataset_dict, card, folder) if plots else {}
    content_hash = dataset_hash(dataset_dict)
    readme = build_card(dataset_dict, card, data_files=data_files, download_size=download_size,
                        content_hash=content_hash, plots=plot_paths)  # fmt: skip
    readme.save(folder / "README.md")
    if resolved_license(dataset_dict, card) == "other":
        (folder / LICENSE_FILE).write_text(license_file_text(dataset_dict, card), encoding="utf-8")
    return folder


def load_published(folder: str | Path, **kwargs) -> datasets.DatasetDict:
    """`datasets.load_dataset` on a folder written by `save` (keyword arguments are passed through)."""
    folder = Path(folder)
    if not is_hub_folder(folder):
        raise PublishError(f"{folder} is not a Hub dataset folder (needs README.md and {DATA_DIR}/*.parquet)")
    return datasets.load_dataset(str(folder), **kwargs)


def is_hub_folder(folder: str | Path) -> bool:
    """Whether a folder has the layout `save` writes (a card and parquet shards under ``data/``)."""
    folder = Path(folder)
    return (folder / "README.md").is_file() and any((folder / DATA_DIR).glob("*.parquet"))


def push_to_hub(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    commit_message: str = "Upload dataset with goemobalance",
) -> CommitInfo:
    """Create the dataset repository (if needed) and upload the folder written by `save` in one commit.

    The token comes from `token` or the ``HF_TOKEN`` environment variable only (never from a saved login)
    and is sent in the Authorization header, never written anywhere.
    """
    folder = Path(folder)
    if not is_hub_folder(folder):
        raise PublishError(
            f"{folder} is not a Hub dataset folder (needs README.md and {DATA_DIR}/*.parquet); write it with save()"
        )
    if "/" not in repo_id or repo_id.count("/") != 1:
        raise PublishError(f"repo_id must look like ORG/NAME, got {repo_id!r}")
    token = token or os.environ.get(TOKEN_ENV)
    if not token:
        raise PublishError(
            f"no Hugging Face token: pass token=... or set the {TOKEN_ENV} environment variable"
        )
    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True, token=token)
    return api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        repo_type="dataset",
        commit_message=commit_message,
        token=token,
        ignore_patterns=[".cache/**", "**/.cache/**", "*.lock"],
    )


def _write_parquet_shards(
    split: datasets.Dataset, name: str, folder: Path, max_shard_bytes: int
) -> list[str]:
    n_shards = max(1, math.ceil(split.data.nbytes / max_shard_bytes))
    paths = []
    for index in range(n_shards):
        relative = f"{DATA_DIR}/{name}-{index:05d}-of-{n_shards:05d}.parquet"
        (folder / DATA_DIR).mkdir(parents=True, exist_ok=True)
        split.shard(num_shards=n_shards, index=index, contiguous=True).to_parquet(str(folder / relative))
        paths.append(relative)
    return paths


def _write_plots(dataset_dict: datasets.DatasetDict, card: CardInfo, folder: Path) -> dict[str, str]:
    space: LabelSpace = label_space_of_any(dataset_dict)
    before = label_counts(card.before, space) if card.before is not None else None
    counts = f"{PLOTS_DIR}/label_counts.png"
    mix = f"{PLOTS_DIR}/source_mix.png"
    plot_label_counts(
        space.names, label_counts(dataset_dict), folder / counts, before=before, before_name=card.before_name
    )
    plot_source_mix(source_mix(dataset_dict), folder / mix)
    return {"label_counts": counts, "source_mix": mix}


def _remove_owned_files(folder: Path) -> None:
    owned = [folder / "README.md", folder / LICENSE_FILE]
    for path in [*(folder / DATA_DIR).glob("*.parquet"), *(folder / PLOTS_DIR).glob("*.png"), *owned]:
        if path.is_file():
            path.unlink()


def read_dataset(path: str | Path) -> datasets.Dataset | datasets.DatasetDict:
    """A dataset from a Hub-layout folder, a `save_to_disk` folder, or any path `load_dataset_any` reads."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset path not found: {path}")
    if path.is_dir() and is_hub_folder(path):
        return load_published(path)
    if path.is_dir() and any((path / name).is_file() for name in ("dataset_dict.json", "state.json")):
        return datasets.load_from_disk(str(path))
    try:
        from goemobalance.sources import load_dataset_any
    except ImportError:
        raise PublishError(
            f"{path} is neither a Hub-layout folder nor a save_to_disk folder, and "
            "goemobalance.sources.load_dataset_any is not available to read it"
        ) from None
    return load_dataset_any(path)
