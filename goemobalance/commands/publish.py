"""`goemobalance publish`: write a dataset as a Hub repository folder and/or upload it to the Hub."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

HELP = """\
DATASET_DIR is a Hub-layout folder written by `goemobalance build` or `save` (uploaded as is unless --out
is given), a `save_to_disk` folder, or any dataset path goemobalance can read (split into
train/validation/test with the iterative stratifier when it is not split yet).
The token is read from the HF_TOKEN environment variable only. A folder written by `goemobalance build`
is uploaded to the recipe's publish.repo_id (and publish.private) unless --repo-id is given; the card's
usage snippet names the repository uploaded to.

examples:
  goemobalance publish out/quickstart/dataset --repo-id ORG/NAME
  goemobalance publish my_saved_dataset --out out/hub --before pool_dir --audit audit.json --recipe r.yaml
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "publish",
        help="write a Hub dataset folder (parquet + card) and upload it",
        description="Write a dataset as a Hugging Face Hub repository folder and/or upload it.",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dataset", metavar="DATASET_DIR", help="dataset to publish")
    parser.add_argument("--repo-id", help="upload to this Hub dataset repository (ORG/NAME; default: the "
                        "recipe's publish.repo_id for a folder written by build)")  # fmt: skip
    parser.add_argument("--private", action="store_true",
                        help="create the repository as private (default: the recipe's publish.private)")  # fmt: skip
    parser.add_argument("--overwrite", action="store_true",
                        help="write --out into a folder holding files goemobalance did not write (they are kept)")  # fmt: skip
    parser.add_argument(
        "--endpoint", help="Hub endpoint URL (default: HF_ENDPOINT or https://huggingface.co)"
    )
    parser.add_argument("--out", type=Path, help="(re)write the Hub-layout folder here")
    parser.add_argument("--pretty-name", help="dataset name shown on the card")
    parser.add_argument("--license", help="license id for the card metadata (default: from the sources)")
    parser.add_argument("--before", help="input pool before balancing, for the before/after tables")
    parser.add_argument("--audit", type=Path, help="audit summary JSON (audit.json) for the card")
    parser.add_argument("--recipe", type=Path, help="recipe YAML shown on the card")
    parser.add_argument("--manifest", type=Path, help="build manifest (JSON or YAML) shown on the card")
    parser.add_argument("--sizes", type=float, nargs=3, default=None, metavar=("TRAIN", "VAL", "TEST"),
                        help="split fractions when DATASET_DIR is not split yet (default 0.8 0.1 0.1)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    parser.add_argument("--commit-message", default="Upload dataset with goemobalance")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goemobalance.publish import PublishError, dataset_hash, is_hub_folder
    from goemobalance.publish.hub import TOKEN_ENV

    repo_id, private = upload_target(args)
    if not repo_id and not args.out:
        raise PublishError(
            "give --repo-id to upload (or build with publish.repo_id in the recipe), --out to write a Hub "
            "folder, or both"
        )
    if repo_id and not os.environ.get(TOKEN_ENV):
        raise PublishError(f"set the {TOKEN_ENV} environment variable to upload")
    if args.out:
        from goemobalance.outputs import OwnedFolder

        OwnedFolder(args.out, overwrite=args.overwrite).check("dataset folder", error=PublishError)
    if is_hub_folder(args.dataset) and not args.out:
        print(f"uploading {args.dataset} as is")
        return _upload(Path(args.dataset), repo_id, private, args)
    with tempfile.TemporaryDirectory(prefix="goemobalance-publish-") as scratch:
        folder = args.out or Path(scratch) / "dataset"
        dataset_dict = _write_folder(args, folder, repo_id)
        print(f"wrote {folder}: " + ", ".join(f"{k}={len(v)}" for k, v in dataset_dict.items()))
        print(f"content hash: {dataset_hash(dataset_dict)}")
        return _upload(folder, repo_id, private, args) if repo_id else 0


def upload_target(args: argparse.Namespace) -> tuple[str | None, bool]:
    """The repository and visibility: the flags, else what the build's recipe said (``publish.repo_id``,
    ``publish.private``, kept in the folder's manifest.json)."""
    published = (build_manifest(args.dataset) or {}).get("publish") or {}
    return args.repo_id or published.get("repo_id"), bool(args.private or published.get("private"))


def build_manifest(dataset: str | Path) -> dict[str, Any] | None:
    """The manifest a build wrote into its dataset folder, if `dataset` is one."""
    from goemobalance.publish.hub import MANIFEST_FILE

    path = Path(dataset) / MANIFEST_FILE
    return _read_structured(path) if path.is_file() else None


def _split_sizes(sizes: list[float] | None, data: Any, dataset: str) -> tuple[float, float, float]:
    """``--sizes`` checked by the recipes' rule (`check_split_sizes`), and only for a dataset not split yet."""
    import datasets

    from goemobalance.balance.split import check_split_sizes
    from goemobalance.errors import InputError

    if sizes is None:
        return (0.8, 0.1, 0.1)
    if isinstance(data, datasets.DatasetDict):
        raise InputError(
            f"--sizes: {dataset} is already split ({', '.join(data)}); its splits are kept as they are"
        )
    try:
        return check_split_sizes(sizes)
    except ValueError as problem:
        raise InputError(f"--sizes: {problem}") from None


def _write_folder(args: argparse.Namespace, folder: Path, repo_id: str | None):
    from goemobalance.publish import CardInfo, make_dataset_dict, read_dataset, save

    data = read_dataset(args.dataset)
    dataset_dict = make_dataset_dict(data, sizes=_split_sizes(args.sizes, data, args.dataset), seed=args.seed)
    card = CardInfo(
        license=args.license,
        repo_id=repo_id,
        before=read_dataset(args.before) if args.before else None,
        audit=_read_structured(args.audit),
        recipe=args.recipe.read_text(encoding="utf-8") if args.recipe else None,
        manifest=_read_structured(args.manifest) if args.manifest else build_manifest(args.dataset),
    )
    if args.pretty_name:
        card.pretty_name = args.pretty_name
    save(dataset_dict, folder, card=card, overwrite=args.overwrite)
    return dataset_dict


def _upload(folder: Path, repo_id: str, private: bool, args: argparse.Namespace) -> int:
    from goemobalance.publish import push_to_hub

    info = push_to_hub(folder, repo_id, private=private, endpoint=args.endpoint,
                       commit_message=args.commit_message)  # fmt: skip
    print(f"uploaded to {info.repo_url}{' (private)' if private else ''}: {info.commit_url}")
    return 0


def _read_structured(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    from goemobalance.publish import PublishError

    if not path.is_file():
        raise PublishError(f"file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise PublishError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise PublishError(f"{path}: expected a JSON/YAML object at the top level")
    return data
