"""A local, stdlib-only stand-in for the Hugging Face Hub HTTP API, for tests.

Why: the project publishes datasets, models and an `evaluate` metric to the Hub and loads them back by
repo id, but tests run without internet. Pointing ``HF_ENDPOINT`` at this server (see `hub_env`) lets the
*real* huggingface_hub / datasets / transformers / evaluate code paths run end to end.

Scope is what those libraries call: whoami, create_repo, preupload + commit, the LFS batch/upload protocol
for files matching the repo's ``.gitattributes`` LFS patterns (e.g. parquet, safetensors; datasets'
push_to_hub needs it; everything else is a "regular" upload and Xet is never offered), repo info, tree and
paths-info listings, and HEAD/GET ``resolve`` downloads. Every request is appended to `FakeHub.log`; an
unknown route gets a 404 JSON body naming it, so missing coverage shows up clearly.

Limits: only a ``main`` branch (plus every past commit sha as a revision); repo ids ``namespace/name``; no
pull requests, HTTP ranges (so no streaming datasets) or chunked request bodies; one token (``hf_fake``)
with write access to every namespace; private repos are hidden from requests without it.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

FAKE_TOKEN = "hf_fake"
FAKE_USER = "testuser"
FAKE_ORG = "testorg"
REPO_TYPES = ("model", "dataset", "space")
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
# Like the Hub's default .gitattributes: files matching these go through LFS.
_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.arrow",
        "*.bin",
        "*.gz",
        "*.h5",
        "*.model",
        "*.msgpack",
        "*.npy",
        "*.onnx",
        "*.parquet",
        "*.pt",
        "*.pth",
        "*.safetensors",
        "*.tar",
        "*.zip",
    )
).encode()


def git_blob_oid(data: bytes) -> str:
    """Git's blob sha1, which the Hub reports as a file's oid (and clients compare against)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class Blob:
    data: bytes
    lfs: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n".encode()

    @property
    def oid(self) -> str:
        """Git oid of what git stores: the content itself, or the LFS pointer file."""
        return git_blob_oid(self.pointer if self.lfs else self.data)

    @property
    def etag(self) -> str:
        """What ``resolve`` reports and clients key their cache on: sha256 for LFS files, the git oid otherwise."""
        return self.sha256 if self.lfs else self.oid


@dataclass(frozen=True)
class Commit:
    oid: str
    title: str
    date: str
    files: dict[str, Blob]


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    sdk: str | None = None
    commits: list[Commit] = field(default_factory=list)

    @property
    def head(self) -> Commit:
        return self.commits[-1]

    def resolve(self, revision: str) -> Commit | None:
        """``main`` is the only branch; any past commit sha is also a valid revision."""
        if revision == "main":
            return self.head
        return next((c for c in self.commits if c.oid == revision), None)

    def is_lfs_path(self, path: str) -> bool:
        attributes = self.head.files.get(".gitattributes")
        lines = attributes.data.decode().splitlines() if attributes else []
        patterns = [line.split()[0] for line in lines if "filter=lfs" in line]
        return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.rsplit("/", 1)[-1], p) for p in patterns)

    def add_commit(self, title: str, files: dict[str, Blob]) -> Commit:
        digest = hashlib.sha1(f"{self.commits[-1].oid if self.commits else ''}\n{title}".encode())
        for path in sorted(files):
            digest.update(f"\n{path} {files[path].oid}".encode())
        date = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        commit = Commit(oid=digest.hexdigest(), title=title, date=date, files=files)
        self.commits.append(commit)
        return commit


class HubStore:
    """Repos keyed by (repo_type, repo_id) plus uploaded LFS objects; `files` is meant for test assertions."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def get(self, repo_id: str, repo_type: str = "model") -> Repo | None:
        return self.repos.get((repo_type, repo_id))

    def files(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> dict[str, bytes]:
        """Path -> content of a repo at a revision; raises KeyError for an unknown repo or revision."""
        commit = self.repos[(repo_type, repo_id)].resolve(revision)
        if commit is None:
            raise KeyError(f"no revision {revision!r} in {repo_type} repo {repo_id}")
        return {path: blob.data for path, blob in commit.files.items()}


class HubError(Exception):
    """Raised inside a handler to answer with an error status, a JSON body and the Hub's error headers."""

    def __init__(self, status: int, message: str, error_code: str | None = None, **extra: str) -> None:
        super().__init__(message)
        self.status, self.message, self.error_code, self.extra = status, message, error_code, extra


def _entry(path: str, commit: Commit, *, expand: bool) -> dict | None:
    """Tree/paths-info JSON for the file or (implicit) folder at ``path``; None when nothing is there."""
    if path in commit.files:
        blob = commit.files[path]
        entry: dict = {"type": "file", "oid": blob.oid, "size": len(blob.data), "path": path}
        if blob.lfs:
            entry["lfs"] = {"oid": blob.sha256, "size": len(blob.data), "pointerSize": len(blob.pointer)}
    elif path == "" or any(p.startswith(path + "/") for p in commit.files):
        oid = hashlib.sha1(f"tree {commit.oid} {path}".encode()).hexdigest()
        entry = {"type": "directory", "oid": oid, "size": 0, "path": path}
    else:
        return None
    if expand:
        entry["lastCommit"] = {"id": commit.oid, "title": commit.title, "date": commit.date}
    return entry


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return query.get(name, ["false"])[0].lower() in ("1", "true")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Silence the stdlib's stderr logging; requests are recorded in `FakeHub.log` instead."""

    # -- plumbing -----------------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        hub = self.server.hub
        hub.log.append((self.command, self.path))
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        self.parts = [unquote(p) for p in url.path.strip("/").split("/")]
        try:
            body = self._read_body()
            with hub.store.lock:
                self._route(body)
        except HubError as err:
            headers = {"X-Error-Message": err.message}
            if err.error_code:
                headers["X-Error-Code"] = err.error_code
            self._send(err.status, {"error": err.message, **err.extra}, headers)
        except (
            Exception
        ) as err:  # a request shape the fake does not expect: say so instead of dropping the line
            # 400 rather than 500, which huggingface_hub would retry with back-off for a minute.
            self._send(400, {"error": f"fake hub could not handle {self.command} {self.path}: {err!r}"})

    do_GET = do_HEAD = do_POST = do_PUT = _dispatch

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        if not isinstance(payload, bytes):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _authenticated(self) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {self.server.hub.token}"

    def _require_write(self) -> None:
        if not self._authenticated():
            raise HubError(401, "Invalid credentials in Authorization header")

    def _repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.server.hub.store.get(repo_id, repo_type)
        if repo is None or (repo.private and not self._authenticated()):
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    @staticmethod
    def _commit(repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _url(self, repo: Repo) -> str:
        return f"{self.server.hub.endpoint}/{_URL_PREFIX[repo.repo_type]}{repo.repo_id}"

    # -- routing ------------------------------------------------------------------------------------------
    def _route(self, body: bytes) -> None:
        parts, method = self.parts, self.command
        if parts[0] == "api":
            if parts[1:] in (["whoami-v2"], ["whoami"]) and method == "GET":
                return self._whoami()
            if parts[1:] == ["validate-yaml"] and method == "POST":
                return self._send(200, {"errors": [], "warnings": []})
            if parts[1:] == ["repos", "create"] and method == "POST":
                return self._create_repo(json.loads(body))
            if len(parts) >= 4 and parts[1] in ("models", "datasets", "spaces"):
                return self._repo_api(parts[1][:-1], f"{parts[2]}/{parts[3]}", parts[4:], body)
        elif parts[0] == "lfs-upload" and len(parts) == 2 and method == "PUT":
            return self._lfs_upload(parts[1], body)
        elif parts[-4:] == ["info", "lfs", "objects", "batch"] and method == "POST":
            return self._lfs_batch(parts[:-4], json.loads(body))
        elif "resolve" in parts[1:4] and method in ("GET", "HEAD"):
            return self._resolve()
        raise HubError(404, f"fake hub: no route for {method} {self.path}")

    def _repo_api(self, repo_type: str, repo_id: str, rest: list[str], body: bytes) -> None:
        method = self.command
        repo = self._repo(repo_type, repo_id)
        if method == "GET" and (not rest or (rest[0] == "revision" and len(rest) == 2)):
            return self._info(repo, self._commit(repo, rest[1] if rest else "main"))
        if method == "GET" and rest[:1] == ["tree"] and len(rest) >= 2:
            return self._tree(self._commit(repo, rest[1]), "/".join(rest[2:]))
        if method == "POST" and rest[:1] == ["paths-info"] and len(rest) == 2:
            return self._paths_info(self._commit(repo, rest[1]), body)
        if method == "POST" and rest[:1] in (["preupload"], ["commit"]) and len(rest) == 2:
            self._require_write()
            if rest[1] != "main":
                raise HubError(
                    404, f"fake hub: only 'main' accepts commits, not {rest[1]!r}", "RevisionNotFound"
                )
            if rest[0] == "preupload":
                return self._preupload(repo, json.loads(body))
            return self._commit_files(repo, body)
        raise HubError(404, f"fake hub: no route for {method} {self.path}")

    # -- endpoints ----------------------------------------------------------------------------------------
    def _whoami(self) -> None:
        if not self._authenticated():
            raise HubError(401, "Invalid credentials in Authorization header")
        org = {"type": "org", "name": FAKE_ORG, "fullname": FAKE_ORG, "roleInOrg": "admin"}
        token = {"displayName": "fake", "role": "write"}
        self._send(
            200,
            {
                "type": "user",
                "name": FAKE_USER,
                "fullname": FAKE_USER,
                "orgs": [org],
                "auth": {"type": "access_token", "accessToken": token},
            },
        )

    def _create_repo(self, payload: dict) -> None:
        self._require_write()
        repo_type = payload.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"invalid repo type {repo_type!r}")
        repo_id = f"{payload.get('organization') or FAKE_USER}/{payload['name']}"
        store = self.server.hub.store
        if (existing := store.get(repo_id, repo_type)) is not None:
            raise HubError(409, "You already created this repo", url=self._url(existing))
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        repo = Repo(repo_type, repo_id, private=private, sdk=payload.get("sdk"))
        repo.add_commit("initial commit", {".gitattributes": Blob(_GITATTRIBUTES)})
        store.repos[(repo_type, repo_id)] = repo
        self._send(200, {"url": self._url(repo), "name": repo_id, "id": repo_id})

    def _info(self, repo: Repo, commit: Commit) -> None:
        siblings = []
        for path, blob in sorted(commit.files.items()):
            sibling: dict = {"rfilename": path, "size": len(blob.data), "blobId": blob.oid}
            if blob.lfs:
                sibling["lfs"] = {
                    "sha256": blob.sha256,
                    "size": len(blob.data),
                    "pointerSize": len(blob.pointer),
                }
            siblings.append(sibling)
        info = {
            "_id": commit.oid[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.commits[0].date,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "tags": [],
            "siblings": siblings,
        }
        if repo.repo_type == "space":
            info["sdk"] = repo.sdk
        self._send(200, info)

    def _tree(self, commit: Commit, path: str) -> None:
        if path and _entry(path, commit, expand=False) is None:
            raise HubError(404, f"{path} does not exist on this revision", "EntryNotFound")
        recursive, expand = _flag(self.query, "recursive"), _flag(self.query, "expand")
        prefix = f"{path}/" if path else ""
        names: set[str] = set()
        for file_path in commit.files:
            if file_path.startswith(prefix):
                segments = file_path[len(prefix) :].split("/")
                depth = len(segments) if recursive else 1
                names.update(prefix + "/".join(segments[: i + 1]) for i in range(depth))
        self._send(200, [_entry(name, commit, expand=expand) for name in sorted(names)])

    def _paths_info(self, commit: Commit, body: bytes) -> None:
        form = parse_qs(body.decode())  # huggingface_hub posts it form-encoded
        expand = form.get("expand", ["false"])[0].lower() == "true"
        entries = (_entry(p.strip("/"), commit, expand=expand) for p in form.get("paths", []))
        self._send(200, [e for e in entries if e is not None])

    def _preupload(self, repo: Repo, payload: dict) -> None:
        files = []
        for item in payload["files"]:
            path, lfs = item["path"], repo.is_lfs_path(item["path"])
            current = repo.head.files.get(path)
            # The client skips files whose oid matches (sha256 for LFS, git sha1 otherwise), like on the Hub.
            oid = None if current is None else (current.sha256 if lfs else git_blob_oid(current.data))
            files.append(
                {"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
            )
        self._send(200, {"files": files})

    def _lfs_batch(self, repo_parts: list[str], payload: dict) -> None:
        self._require_write()
        repo_type = "model"
        if repo_parts[:1] in (["datasets"], ["spaces"]):
            repo_type, repo_parts = repo_parts[0][:-1], repo_parts[1:]
        if len(repo_parts) != 2 or not repo_parts[1].endswith(".git"):
            raise HubError(404, f"fake hub: bad LFS batch url {self.path}")
        self._repo(repo_type, f"{repo_parts[0]}/{repo_parts[1].removesuffix('.git')}")
        objects = []
        for obj in payload["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.server.hub.store.lfs_objects:
                entry["actions"] = {"upload": {"href": f"{self.server.hub.endpoint}/lfs-upload/{obj['oid']}"}}
            objects.append(entry)
        self._send(200, {"transfer": "basic", "objects": objects})

    def _lfs_upload(self, oid: str, body: bytes) -> None:
        """Stands in for the storage bucket the Hub hands out upload URLs for; checks the content hash."""
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, f"uploaded content does not match sha256 {oid}")
        self.server.hub.store.lfs_objects[oid] = body
        self._send(200, b"")

    def _commit_files(self, repo: Repo, body: bytes) -> None:
        if self.query.get("create_pr"):
            raise HubError(400, "fake hub: pull requests are not supported")
        files = dict(repo.head.files)
        title = "commit"
        for line in body.decode().splitlines():
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                title = value.get("summary") or title
                parent = value.get("parentCommit")
                if parent and parent != repo.head.oid:
                    raise HubError(412, f"A commit has happened since {parent}; head is now {repo.head.oid}")
            elif key == "file":
                files[value["path"]] = Blob(base64.b64decode(value["content"]))
            elif key == "lfsFile":
                data = self.server.hub.store.lfs_objects.get(value["oid"])
                if data is None:
                    raise HubError(422, f"LFS object {value['oid']} for {value['path']} was never uploaded")
                files[value["path"]] = Blob(data, lfs=True)
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                folder = value["path"].rstrip("/") + "/"
                files = {p: b for p, b in files.items() if not p.startswith(folder)}
            else:
                raise HubError(422, f"fake hub: unsupported commit operation {key!r}")
        commit = repo.add_commit(title, files)
        self._send(
            200,
            {
                "commitUrl": f"{self._url(repo)}/commit/{commit.oid}",
                "commitOid": commit.oid,
                "success": True,
                "pullRequestUrl": None,
            },
        )

    def _resolve(self) -> None:
        parts, repo_type = self.parts, "model"
        if parts[0] in ("datasets", "spaces"):
            repo_type, parts = parts[0][:-1], parts[1:]
        at = parts.index("resolve")  # 1 for a repo id without namespace: never stored, so RepoNotFound
        if len(parts) < at + 3:
            raise HubError(404, f"fake hub: bad resolve url {self.path}")
        commit = self._commit(self._repo(repo_type, "/".join(parts[:at])), parts[at + 1])
        path = "/".join(parts[at + 2 :])
        if path not in commit.files:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        blob = commit.files[path]
        headers = {
            "ETag": f'"{blob.etag}"',
            "X-Repo-Commit": commit.oid,
            "Content-Type": "application/octet-stream",
        }
        self._send(200, blob.data, headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: FakeHub


class FakeHub:
    """A running fake Hub: `endpoint` is its base URL, `store` its content, `log` its (method, path) requests."""

    def __init__(self, token: str = FAKE_TOKEN) -> None:
        self.token = token
        self.store = HubStore()
        self.log: list[tuple[str, str]] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.hub = self
        self.endpoint = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fakehub", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def env(self, home: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """`hub_env` for this server."""
        return hub_env(self.endpoint, home=home, token=self.token)


@contextmanager
def serve(token: str = FAKE_TOKEN) -> Iterator[FakeHub]:
    """Run a fake Hub for the duration of a ``with`` block (e.g. inside a module- or session-scoped fixture)."""
    hub = FakeHub(token)
    try:
        yield hub
    finally:
        hub.close()


def hub_env(
    endpoint: str, home: str | os.PathLike[str] | None = None, token: str = FAKE_TOKEN
) -> dict[str, str]:
    """Environment for a subprocess that must talk to ``endpoint`` and nothing else.

    huggingface_hub, datasets and evaluate read these settings at import time, so they have to be in the
    environment before the process starts. Inherited HF_* settings (offline flags, cache paths, tokens) are
    dropped; every cache goes under ``home`` (a fresh temp dir when None) so nothing leaks into ~/.cache.
    """
    home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="fakehub-home-"))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HF_", "HUGGINGFACE_", "HUGGING_FACE_", "TRANSFORMERS_"))
    }
    env.update(
        HF_ENDPOINT=endpoint,
        HF_TOKEN=token,
        HF_HOME=str(home),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_DATASETS_DISABLE_PROGRESS_BARS="1",
    )
    return env


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    """A fresh, empty fake Hub for one test; run code against it in a subprocess with ``env=fake_hub.env(tmp_path)``."""
    with serve() as hub:
        yield hub
