"""Write a dataset as a Hugging Face Hub repository folder, read it back, and upload it."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import datasets
from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi

from goemobalance.atomic import TEMP_MARK
from goemobalance.errors import ServiceError
from goemobalance.labels import LabelSpace
from goemobalance.outputs import RECORD_NAME, OwnedFolder, check_relative
from goemobalance.publish.card import (
    LICENSE_FILE,
    CardInfo,
    build_card,
    card_info,
    card_with_repo_id,
    license_file_text,
    resolved_license,
    source_mix,
)
from goemobalance.publish.hashing import dataset_hash, ordered_splits
from goemobalance.publish.measures import label_counts, label_space_of_any
from goemobalance.publish.plots import plot_label_counts, plot_source_mix
from goemobalance.publish.splits import PublishError, make_dataset_dict
from goemobalance.redact import redact_data, redact_text

DATA_DIR = "data"
PLOTS_DIR = "plots"
MAX_SHARD_BYTES = 500 * 1024 * 1024
TOKEN_ENV = "HF_TOKEN"
MANIFEST_FILE = "manifest.json"


def save(
    dataset_dict: datasets.DatasetDict,
    folder: str | Path,
    *,
    card: CardInfo | None = None,
    plots: bool = True,
    max_shard_bytes: int = MAX_SHARD_BYTES,
    overwrite: bool = False,
    extra_files: Mapping[str, str | Path] | None = None,
    content_hash: str | None = None,
    **card_fields: Any,
) -> Path:
    """Write the Hub repository layout: ``data/<split>-XXXXX-of-YYYYY.parquet``, ``README.md`` and ``plots/``.

    Card contents come from `card` and/or keyword arguments naming `CardInfo` fields (``before``, ``audit``,
    ``recipe`` or ``recipe_text``, ``manifest``, ``license``, ``pretty_name``, ``repo_id``, ``dropped``...),
    keywords winning. The splits are validated first (`make_dataset_dict`).

    Everything is written into a temporary folder inside `folder` and then moved into place; files an
    earlier `save` wrote and this one does not (stale shards) are removed. Files goemobalance did not write
    are never removed: a folder holding such files is an error unless `overwrite` is True (then files of
    the same name are replaced and the others kept).

    Parameters
    ----------
    dataset_dict : datasets.DatasetDict
        train / validation / test in the record schema.
    folder : str or Path
        The repository folder.
    card : CardInfo, optional
        Card contents; keyword arguments override its fields.
    plots : bool
        Draw the label-count and source-mix plots.
    max_shard_bytes : int
        Largest parquet shard (in Arrow bytes) before a split is cut into several.
    overwrite : bool
        Write into a folder that holds files goemobalance did not write.
    extra_files : mapping, optional
        ``{path in the repository: local file or folder}`` copied in as well (e.g. the audit report).
    content_hash : str, optional
        `dataset_hash(dataset_dict)` when the caller already has it.
    **card_fields
        `CardInfo` fields, overriding `card`'s.

    Returns
    -------
    Path
        `folder`.
    """
    card = card_info(card, **card_fields)
    dataset_dict = make_dataset_dict(dataset_dict)
    target = OwnedFolder(folder, overwrite=overwrite)
    target.check("dataset folder", error=PublishError)
    staged = target.staging_folder()
    try:
        _write_repository(dataset_dict, staged, card, plots, max_shard_bytes, content_hash)
        for relative, source in (extra_files or {}).items():
            _copy_into(Path(source), staged, relative)
        files = [p.relative_to(staged).as_posix() for p in sorted(staged.rglob("*")) if p.is_file()]
        target.install(staged, files)
    finally:
        if staged.exists():
            shutil.rmtree(staged)
    return Path(folder)


def _write_repository(
    dataset_dict: datasets.DatasetDict,
    folder: Path,
    card: CardInfo,
    plots: bool,
    max_shard_bytes: int,
    content_hash: str | None,
) -> None:
    data_files = {name: _write_parquet_shards(dataset_dict[name], name, folder, max_shard_bytes)
                  for name in ordered_splits(dataset_dict)}  # fmt: skip
    download_size = sum((folder / path).stat().st_size for paths in data_files.values() for path in paths)
    plot_paths = _write_plots(dataset_dict, card, folder) if plots else {}
    readme = build_card(dataset_dict, card, data_files=data_files, download_size=download_size,
                        content_hash=content_hash or dataset_hash(dataset_dict), plots=plot_paths)  # fmt: skip
    (folder / "README.md").write_text(redact_text(str(readme)), encoding="utf-8")
    if resolved_license(dataset_dict, card) == "other":
        (folder / LICENSE_FILE).write_text(
            redact_text(license_file_text(dataset_dict, card)), encoding="utf-8"
        )
    if card.manifest:
        (folder / MANIFEST_FILE).write_text(
            json.dumps(redact_data(dict(card.manifest)), indent=2, sort_keys=True, default=str) + "\n",
            encoding="utf-8",
        )


def _copy_into(source: Path, folder: Path, relative: str) -> None:
    check_relative(relative, "extra_files")
    target = folder / relative
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def load_published(folder: str | Path) -> datasets.DatasetDict:
    """Every split of a folder written by `save`, read straight from its parquet shards.

    Reads never go through the `datasets` cache, which is keyed by folder name and file times and can
    return the rows of an earlier publish into the same folder (`goemobalance.sources.read_hub_folder`).

    Parameters
    ----------
    folder : str or Path
        A folder written by `save`.

    Returns
    -------
    datasets.DatasetDict
        Every split found.

    Raises
    ------
    PublishError
        If the folder does not have the Hub layout.
    """
    from goemobalance.sources import read_hub_folder

    folder = Path(folder)
    if not is_hub_folder(folder):
        raise PublishError(f"{folder} is not a Hub dataset folder (needs README.md and {DATA_DIR}/*.parquet)")
    return read_hub_folder(folder)


def is_hub_folder(folder: str | Path) -> bool:
    """Whether a folder has the layout `save` writes (a card and parquet shards under ``data/``).

    Parameters
    ----------
    folder : str or Path
        Any path.

    Returns
    -------
    bool
    """
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

    Parameters
    ----------
    folder : str or Path
        A folder written by `save`.
    repo_id : str
        ``ORG/NAME`` of the dataset repository.
    private : bool, default False
        Visibility of a repository created here (an existing one is left as it is).
    token : str, optional
        The Hub token (default: ``HF_TOKEN``).
    endpoint : str, optional
        The Hub's URL (default: huggingface_hub's).
    commit_message : str
        The commit's message.

    Returns
    -------
    huggingface_hub.CommitInfo
        The commit made.

    Raises
    ------
    PublishError
        If the folder is not a Hub folder, `repo_id` is malformed, or there is no token.
    ServiceError
        If the Hub refuses the upload or cannot be reached.
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
    import httpx2

    api = HfApi(endpoint=endpoint, token=token)
    operations = upload_operations(folder, repo_id)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True, token=token)
        return api.create_commit(
            repo_id=repo_id,
            operations=operations,
            repo_type="dataset",
            commit_message=commit_message,
            token=token,
        )
    except (OSError, httpx2.TransportError) as exc:  # huggingface_hub's HTTP errors are OSErrors; a refused
        # connection or a timeout comes from its HTTP client (httpx2) unwrapped
        raise ServiceError(f"upload to the Hub repository {repo_id} failed: {exc}") from exc


def upload_operations(folder: str | Path, repo_id: str) -> list[CommitOperationAdd]:
    """One commit operation per file of `folder`, leaving out goemobalance's own bookkeeping (the record of
    written files, temporaries) and caches; the card's usage snippet names `repo_id`."""
    folder = Path(folder)
    operations = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if _not_uploaded(relative):
            continue
        if relative == "README.md":
            text = card_with_repo_id(path.read_text(encoding="utf-8"), repo_id)
            operations.append(CommitOperationAdd(path_in_repo=relative, path_or_fileobj=text.encode("utf-8")))
        else:
            operations.append(CommitOperationAdd(path_in_repo=relative, path_or_fileobj=str(path)))
    return operations


def _not_uploaded(relative: str) -> bool:
    parts = relative.split("/")
    return (
        relative == RECORD_NAME
        or any(TEMP_MARK in part or part == ".cache" for part in parts)
        or relative.endswith(".lock")
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


def read_dataset(path: str | Path) -> datasets.Dataset | datasets.DatasetDict:
    """A dataset from a Hub-layout folder, a `save_to_disk` folder, or anything `load_dataset_any` reads;
    ``packaged`` (GoEmotions shipped in the package) keeps its own train/dev/test splits.

    Parameters
    ----------
    path : str or Path
        A folder, a file, ``packaged`` or a Hub id.

    Returns
    -------
    datasets.Dataset or datasets.DatasetDict
        A DatasetDict for folders with splits and for sources with several split names, else a Dataset.
    """
    from goemobalance.sources import load_dataset_any, split_names

    location = Path(path)
    if location.is_dir() and is_hub_folder(location):
        return load_published(location)
    if location.is_dir() and any((location / name).is_file() for name in ("dataset_dict.json", "state.json")):
        return datasets.load_from_disk(str(location))
    names = [] if location.exists() else split_names(str(path))
    if len(names) > 1:
        return datasets.DatasetDict({name: load_dataset_any(str(path), name) for name in names})
    return load_dataset_any(path)
