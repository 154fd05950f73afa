"""Upload to the Hub against a real HTTP server on 127.0.0.1 that answers the endpoints huggingface_hub calls.

`push_to_hub` runs `HfApi.create_repo` and `HfApi.upload_folder` (huggingface_hub 2.x), which hit:
POST /api/repos/create, POST /api/validate-yaml (README metadata), POST /api/datasets/{id}/preupload/{rev}
(answered "regular" for every file, so no LFS/Xet storage is involved) and POST /api/datasets/{id}/commit/{rev}
(ndjson, regular files inline as base64). The server stores what it receives so the tests can compare bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import datasets
import pytest
import yaml

from goemobalance.cli import main
from goemobalance.outputs import RECORD_NAME
from goemobalance.publish import CardInfo, PublishError, dataset_hash, make_dataset_dict, push_to_hub, save
from goemobalance.publish.card import card_with_repo_id

TOKEN = "hf_FakeTokenForTests0123456789abcdef"


class FakeHub:
    """Just enough of the Hub's HTTP API for create_repo + upload_folder with regular (inline) files."""

    def __init__(self, lfs_suffixes: tuple[str, ...] = ()) -> None:
        self.lfs_suffixes = lfs_suffixes
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.repos: dict[str, dict] = {}
        self.files: dict[str, dict[str, bytes]] = {}
        self.commits: list[dict] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?", 1)[0]
                hub.requests.append(
                    {
                        "method": "POST",
                        "path": path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                status, payload = hub.answer(path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hub.requests.append(
                    {
                        "method": "PUT",
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                oid = self.path.rsplit("/", 1)[-1]
                ok = self.path.startswith("/lfs-storage/") and hashlib.sha256(body).hexdigest() == oid
                if ok:
                    hub.lfs_objects[oid] = body
                self.send_response(200 if ok else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                hub.requests.append(
                    {
                        "method": "GET",
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": b"",
                    }
                )
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, body: bytes) -> tuple[int, dict]:
        if path == "/api/validate-yaml":
            return self._validate_yaml(json.loads(body))
        if path == "/api/repos/create":
            request = json.loads(body)
            repo_id = f"{request['organization']}/{request['name']}"
            if repo_id in self.repos:  # the Hub's 409 also carries the url, which create_repo(exist_ok) reads
                return 409, {
                    "error": "You already created this dataset repo",
                    "url": f"{self.url}/datasets/{repo_id}",
                }
            self.repos[repo_id] = request
            return 200, {"url": f"{self.url}/datasets/{repo_id}"}
        lfs_batch = re.fullmatch(r"/datasets/([^/]+/[^/]+)\.git/info/lfs/objects/batch", path)
        if lfs_batch:
            objects = json.loads(body)["objects"]
            return 200, {"transfer": "basic", "objects": [
                {"oid": o["oid"], "size": o["size"], "actions": {"upload": {"href": f"{self.url}/lfs-storage/{o['oid']}"}}}
                for o in objects
            ]}  # fmt: skip
        match = re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/(preupload|commit)/([^/]+)", path)
        if not match or match.group(1) not in self.repos:
            return 404, {"error": f"Repository not found: {path}"}
        repo_id, action, _revision = match.groups()
        if action == "preupload":
            files = json.loads(body)["files"]
            return 200, {
                "files": [
                    {"path": f["path"], "uploadMode": self._mode(f["path"]), "shouldIgnore": False}
                    for f in files
                ]
            }
        return self._commit(repo_id, body)

    def _mode(self, path: str) -> str:
        return "lfs" if path.endswith(self.lfs_suffixes) and self.lfs_suffixes else "regular"

    def _validate_yaml(self, request: dict) -> tuple[int, dict]:
        match = re.match(r"^---\n(.*?)\n---\n", request["content"], re.DOTALL)
        try:
            metadata = yaml.safe_load(match.group(1)) if match else None
        except yaml.YAMLError as exc:
            return 400, {"errors": [{"message": f"invalid YAML: {exc}"}]}
        if request.get("repoType") != "dataset" or not isinstance(metadata, dict):
            return 400, {"errors": [{"message": "expected dataset metadata"}]}
        return 200, {"errors": [], "warnings": []}

    def _commit(self, repo_id: str, body: bytes) -> tuple[int, dict]:
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header, operations = lines[0], lines[1:]
        if header["key"] != "header":
            return 400, {"error": "first line must be the header"}
        stored = self.files.setdefault(repo_id, {})
        for operation in operations:
            value = operation["value"]
            if operation["key"] == "file" and value.get("encoding") == "base64":
                stored[value["path"]] = base64.b64decode(value["content"])
            elif operation["key"] == "lfsFile" and value["oid"] in self.lfs_objects:
                stored[value["path"]] = self.lfs_objects[value["oid"]]
            else:
                return 400, {
                    "error": f"unsupported or unknown operation {operation['key']} for {value.get('path')}"
                }
        self.commits.append({"repo_id": repo_id, "summary": header["value"]["summary"]})
        oid = f"{len(self.commits):040x}"
        return 200, {"commitUrl": f"{self.url}/datasets/{repo_id}/commit/{oid}", "commitOid": oid}


@pytest.fixture()
def hub():
    server = FakeHub()
    yield server
    server.close()


@pytest.fixture(scope="module")
def small_dict(goemotions_test) -> datasets.DatasetDict:
    rows = goemotions_test.select(range(400))
    return make_dataset_dict(
        datasets.DatasetDict(
            train=rows.select(range(320)),
            validation=rows.select(range(320, 360)),
            test=rows.select(range(360, 400)),
        )
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory, small_dict) -> Path:
    return save(
        small_dict,
        tmp_path_factory.mktemp("pub") / "dataset",
        card=CardInfo(repo_id="org/goemo", manifest={"seed": 0}),
    )


def _local_files(folder: Path, repo_id: str | None = None) -> dict[str, bytes]:
    """What an upload of `folder` to `repo_id` must send: every file but goemobalance's record of what it
    wrote, with the card's usage snippet naming `repo_id`."""
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    files.pop(RECORD_NAME)
    if repo_id is not None:
        files["README.md"] = card_with_repo_id(files["README.md"].decode("utf-8"), repo_id).encode("utf-8")
    return files


def test_push_uploads_every_file_with_its_bytes_and_the_token(hub, folder, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    info = push_to_hub(
        folder, "org/goemo", private=True, token=TOKEN, endpoint=hub.url, commit_message="first upload"
    )
    assert hub.files["org/goemo"] == _local_files(folder, "org/goemo")
    assert hub.repos["org/goemo"] == {
        "name": "goemo",
        "organization": "org",
        "type": "dataset",
        "visibility": "private",
    }
    assert [c["summary"] for c in hub.commits] == ["first upload"]
    assert info.commit_url == f"{hub.url}/datasets/org/goemo/commit/{1:040x}"
    paths = [r["path"] for r in hub.requests]
    assert paths[0] == "/api/repos/create" and paths[-1] == "/api/datasets/org/goemo/commit/main"
    assert "/api/datasets/org/goemo/preupload/main" in paths
    assert all(r["headers"].get("authorization") == f"Bearer {TOKEN}" for r in hub.requests)
    assert all(TOKEN.encode() not in content for content in hub.files["org/goemo"].values())


def test_push_to_an_existing_repo_reads_the_token_from_the_environment(hub, folder, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    push_to_hub(folder, "org/goemo", endpoint=hub.url)
    push_to_hub(folder, "org/goemo", endpoint=hub.url)  # create_repo answers 409: exist_ok
    assert len(hub.commits) == 2 and hub.repos["org/goemo"]["visibility"] == "public"
    assert hub.files["org/goemo"] == _local_files(folder, "org/goemo")
    assert all(r["headers"].get("authorization") == f"Bearer {TOKEN}" for r in hub.requests)


def test_push_without_token_or_with_a_bad_folder_sends_nothing(hub, folder, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(PublishError, match="HF_TOKEN"):
        push_to_hub(folder, "org/goemo", endpoint=hub.url)
    with pytest.raises(PublishError, match="not a Hub dataset folder"):
        push_to_hub(tmp_path, "org/goemo", token=TOKEN, endpoint=hub.url)
    with pytest.raises(PublishError, match="ORG/NAME"):
        push_to_hub(folder, "goemo", token=TOKEN, endpoint=hub.url)
    assert hub.requests == []


def test_uploaded_files_load_back_as_the_saved_dataset(hub, folder, small_dict, tmp_path):
    push_to_hub(folder, "org/goemo", token=TOKEN, endpoint=hub.url)
    mirror = tmp_path / "mirror"
    for path, content in hub.files["org/goemo"].items():
        (mirror / path).parent.mkdir(parents=True, exist_ok=True)
        (mirror / path).write_bytes(content)
    back = datasets.load_dataset(str(mirror), cache_dir=str(tmp_path / "cache"))
    assert dataset_hash(back) == dataset_hash(small_dict)


def test_push_with_lfs_files_when_xet_is_disabled(folder, monkeypatch):
    """The legacy LFS protocol (hf_xet absent or HF_HUB_DISABLE_XET=1): parquet and PNG files go to LFS storage."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    hub = FakeHub(lfs_suffixes=(".parquet", ".png"))
    try:
        push_to_hub(folder, "org/lfs", token=TOKEN, endpoint=hub.url)
    finally:
        hub.close()
    assert hub.files["org/lfs"] == _local_files(folder, "org/lfs")
    binary = {p for p in _local_files(folder) if p.endswith((".parquet", ".png"))}
    assert len(hub.lfs_objects) == len(binary) == 5
    commit = next(r for r in hub.requests if r["path"].endswith("/commit/main"))
    kinds = [json.loads(line)["key"] for line in commit["body"].splitlines()[1:]]
    assert sorted(kinds) == ["file"] * 2 + ["lfsFile"] * 5, "README.md and manifest.json inline"
    hub_calls = [r for r in hub.requests if not r["path"].startswith("/lfs-storage/")]
    assert all(r["headers"].get("authorization") == f"Bearer {TOKEN}" for r in hub_calls)


# --- the command line ---------------------------------------------------------------------------------------


def test_cli_writes_a_hub_folder_from_a_saved_dataset(small_dict, tmp_path, capsys):
    saved = tmp_path / "saved"
    small_dict.save_to_disk(str(saved))
    audit = tmp_path / "audit.json"
    audit.write_text(json.dumps({"rows": 400, "health_score": 0.88}))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("name: cli-test\nseed: 3\n")
    out = tmp_path / "hub"
    code = main(["publish", str(saved), "--out", str(out), "--pretty-name", "CLI test", "--audit", str(audit),
                 "--recipe", str(recipe), "--license", "apache-2.0"])  # fmt: skip
    assert code == 0
    assert f"content hash: {dataset_hash(small_dict)}" in capsys.readouterr().out
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "pretty_name: CLI test" in readme and "license: apache-2.0" in readme
    assert "| health_score | 0.88 |" in readme and "name: cli-test\nseed: 3" in readme
    back = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert dataset_hash(back) == dataset_hash(small_dict)


def test_cli_uploads_a_hub_folder_as_is_with_the_token_from_the_environment(hub, folder, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    code = main(["publish", str(folder), "--repo-id", "org/cli", "--private", "--endpoint", hub.url])
    assert code == 0
    assert hub.files["org/cli"] == _local_files(folder, "org/cli")
    assert hub.repos["org/cli"]["visibility"] == "private"
    output = capsys.readouterr()
    assert "/datasets/org/cli/commit/" in output.out and TOKEN not in output.out + output.err


def test_cli_splits_an_unsplit_dataset_before_uploading(hub, goemotions_test, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    saved = tmp_path / "unsplit"
    goemotions_test.select(range(500)).save_to_disk(str(saved))
    code = main(["publish", str(saved), "--repo-id", "org/split", "--endpoint", hub.url, "--seed", "1"])
    assert code == 0
    uploaded = sorted(hub.files["org/split"])
    assert [p for p in uploaded if p.startswith("data/")] == [
        "data/test-00000-of-00001.parquet", "data/train-00000-of-00001.parquet", "data/validation-00000-of-00001.parquet"
    ]  # fmt: skip
    assert b'datasets.load_dataset("org/split")' in hub.files["org/split"]["README.md"]


def test_cli_refuses_without_a_target_or_a_token(folder, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert main(["publish", str(folder)]) == 2
    assert main(["publish", str(folder), "--repo-id", "org/x"]) == 2
    assert "HF_TOKEN" in capsys.readouterr().err


def test_cli_publishes_a_goemotions_tsv_file(goemotions_dir, tmp_path):
    lines = (goemotions_dir / "dev.tsv").read_text(encoding="utf-8").splitlines(keepends=True)[:600]
    tsv = tmp_path / "dev_part.tsv"
    tsv.write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "hub"
    assert main(["publish", str(tsv), "--out", str(out), "--seed", "2"]) == 0
    back = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    ids = sorted(i for split in back.values() for i in split["id"])
    assert ids == sorted(f"goemotions:{line.rstrip(chr(10)).split(chr(9))[2]}" for line in lines)
    assert 0.7 < len(back["train"]) / 600 < 0.9


def test_cli_uploads_a_built_folder_to_the_recipes_repo_id_and_the_card_names_it(
    small_dict, hub, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    built = save(
        small_dict,
        tmp_path / "dataset",
        manifest={"publish": {"repo_id": "org/from-recipe", "private": True}},
    )
    assert 'datasets.load_dataset("path/to/this/folder")' in (built / "README.md").read_text()
    assert main(["publish", str(built), "--endpoint", hub.url]) == 0
    assert hub.repos["org/from-recipe"]["visibility"] == "private"
    assert b'datasets.load_dataset("org/from-recipe")' in hub.files["org/from-recipe"]["README.md"]
    assert RECORD_NAME not in hub.files["org/from-recipe"]
    assert main(["publish", str(built), "--endpoint", hub.url, "--repo-id", "org/other"]) == 0
    assert b'datasets.load_dataset("org/other")' in hub.files["org/other"]["README.md"]
    assert "(private)" in capsys.readouterr().out


def test_cli_publish_into_a_folder_with_foreign_files_needs_overwrite_and_keeps_them(
    small_dict, tmp_path, capsys
):
    saved = tmp_path / "saved"
    small_dict.save_to_disk(str(saved))
    out = tmp_path / "repo"
    (out / "data").mkdir(parents=True)
    (out / "README.md").write_text("my own readme")
    (out / "data" / "train-00000-of-00002.parquet").write_bytes(b"my own shard")
    capsys.readouterr()
    assert main(["publish", str(saved), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "goemobalance did not write" in err and "--overwrite" in err
    assert (out / "README.md").read_text() == "my own readme"
    assert main(["publish", str(saved), "--out", str(out), "--overwrite"]) == 0
    assert (out / "data" / "train-00000-of-00002.parquet").read_bytes() == b"my own shard", "never deleted"
    assert "goemobalance" in (out / "README.md").read_text(), "a file of the same name is replaced"
