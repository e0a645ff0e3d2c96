"""A small Hugging Face Hub look-alike on 127.0.0.1, for driving the REAL ``huggingface_hub`` client in tests.

It speaks the parts of the Hub protocol that ``huggingface_hub`` 2.x uses for

* downloads (``hf_hub_download``, timm's ``hf-hub:`` loader): ``HEAD``/``GET /{repo}/resolve/{rev}/{file}``
  answered with ``X-Repo-Commit``, ``ETag`` (the git blob id), ``X-Linked-Etag``/``X-Linked-Size`` (sha256 and
  size, for LFS-tracked names such as ``*.safetensors`` and ``*.bin``: the cache then names the blob by its
  sha256, as for the real Hub), ``Content-Length``, ``Range``; and 404s with ``X-Error-Code: RepoNotFound`` /
  ``RevisionNotFound`` / ``EntryNotFound`` so the client raises its own exceptions. No ``X-Xet-*`` header or
  ``Link: xet-auth`` is ever sent, so the client never switches to hf_xet and downloads over plain HTTP.
* repo metadata: ``GET /api/models/{repo}[/revision/{rev}]`` (``model_info``) and
  ``GET /api/models/{repo}/tree/{rev}`` (``list_repo_files``/``list_repo_tree``, one page);
* the model listing ``GET /api/models`` (``list_models``): ``filter`` (a library name or a tag), ``pipeline_tag``,
  ``search`` (a case-insensitive substring of the repo id), ``author``, ``sort`` (descending, as the Hub sorts),
  ``limit`` and ``expand`` (the fields asked for, beside ``id``), one page; each repo's listing fields are set
  with :meth:`HubServer.set_listing` (library ``timm``, task ``image-classification`` and 0 downloads by default);
* uploads (``create_repo``, ``create_branch``, ``upload_folder``/``create_commit``): ``POST /api/repos/create``,
  ``POST /api/models/{repo}/branch/{branch}``, ``POST /api/models/{repo}/preupload/{rev}`` (every file is
  answered ``uploadMode: regular``, so contents travel base64-inline in the commit and neither the LFS batch
  API nor Xet storage is needed), ``POST /api/models/{repo}/commit/{rev}`` (NDJSON), ``POST /api/validate-yaml``.

Anything else is a 404 with ``X-Error-Code: NotImplemented`` (and is logged), so a test sees at once when the
client starts needing an endpoint this server lacks. Every request is recorded in :attr:`HubServer.requests`.

Content is kept in memory: ``{repo_id: {revision: {filename: bytes}}}``. Each revision becomes a commit
(its id is a sha1 over the files); a revision that looks like a tag (anything but ``main``) is served as a
ref that points at that commit, and ``main`` always exists.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".npz", ".pkl")
GITATTRIBUTES = b"".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n".encode() for s in LFS_SUFFIXES)
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


def git_blob_id(data: bytes) -> str:
    """The git object id of a blob (what the Hub sends as ETag for regular files)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(data).hexdigest()}\nsize {len(data)}\n"
    ).encode()


def is_lfs(filename: str) -> bool:
    return filename.endswith(LFS_SUFFIXES)


@dataclass
class Repo:
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit id -> files
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> commit id
    branches: set[str] = field(default_factory=set)
    private: bool = False
    listing: dict[str, Any] = field(
        default_factory=lambda: {
            "library_name": "timm",
            "pipeline_tag": "image-classification",
            "downloads": 0,
            "likes": 0,
            "tags": [],
        }
    )

    def resolve(self, revision: str) -> str | None:
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    repo_id: str | None = None
    revision: str | None = None
    filename: str | None = None
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)


class NotFound(Exception):
    def __init__(self, code: str, message: str, commit: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.commit = code, message, commit


class HubServer:
    """A threaded Hub look-alike; use as a context manager or call :meth:`start`/:meth:`stop`."""

    def __init__(self, repos: Mapping[str, Mapping[str, Mapping[str, bytes]]] | None = None) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[Request] = []
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._handlers: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        for repo_id, revisions in (repos or {}).items():
            for revision, files in revisions.items():
                self.add_revision(repo_id, revision, files)

    # --- content -------------------------------------------------------------------------------

    def add_revision(self, repo_id: str, revision: str, files: Mapping[str, bytes | str | Path]) -> str:
        """Store ``files`` as one commit of ``repo_id``; ``revision`` (a branch or tag name) points at it.

        ``main`` is a branch, any other name a tag. Returns the commit id."""
        blobs = {name: _as_bytes(v) for name, v in files.items()}
        with self._lock:
            repo = self.repos.setdefault(repo_id, Repo())
            commit = _commit_id(repo_id, revision, blobs)
            repo.commits[commit] = blobs
            repo.refs[revision] = commit
            if revision == "main":
                repo.branches.add("main")
            if "main" not in repo.refs:  # every repo has a main branch, even if a tag came first
                repo.refs["main"] = commit
                repo.branches.add("main")
            return commit

    def set_listing(self, repo_id: str, **fields: Any) -> None:
        """What the model listing says of ``repo_id`` (``library_name``, ``pipeline_tag``, ``downloads``, ``likes``,
        ``tags``); the repo must exist."""
        with self._lock:
            self.repos[repo_id].listing.update(fields)

    def list_models(self, query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        """The Hub's ``/api/models`` answer for ``query`` (parsed query string), best first."""

        def one(name: str) -> str | None:
            return query.get(name, [None])[0]

        with self._lock:
            rows = [
                (repo_id, repo.refs["main"], dict(repo.listing))
                for repo_id, repo in self.repos.items()
                if not repo.private
            ]
        wanted, search, task, author = query.get("filter", []), one("search"), one("pipeline_tag"), one("author")
        out = []
        for repo_id, sha, meta in rows:
            labels = {meta.get("library_name"), *meta.get("tags", [])}
            if any(f not in labels for f in wanted) or (task and meta.get("pipeline_tag") != task):
                continue
            if (search and search.lower() not in repo_id.lower()) or (author and repo_id.split("/")[0] != author):
                continue
            out.append({"_id": sha[:24], "id": repo_id, "modelId": repo_id, "sha": sha, **meta})
        sort = one("sort")
        if sort in ("downloads", "likes"):
            out.sort(key=lambda row: row.get(sort, 0), reverse=True)
        if one("limit"):
            out = out[: int(one("limit"))]
        expand = query.get("expand")
        if expand:
            out = [{k: v for k, v in row.items() if k in ("_id", "id") or k in expand} for row in out]
        return out

    @classmethod
    def from_folder(cls, root: Path) -> HubServer:
        """Serve ``root/{org}/{name}/{revision}/{files...}`` (nested files keep their relative path)."""
        server = cls()
        for rev_dir in sorted(Path(root).glob("*/*/*")):
            if rev_dir.is_dir():
                repo_id = f"{rev_dir.parent.parent.name}/{rev_dir.parent.name}"
                files = {
                    p.relative_to(rev_dir).as_posix(): p.read_bytes() for p in sorted(rev_dir.rglob("*")) if p.is_file()
                }
                server.add_revision(repo_id, rev_dir.name, files)
        return server

    def commit_of(self, repo_id: str, revision: str = "main") -> str:
        with self._lock:
            return self.repos[repo_id].refs[revision]

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        with self._lock:
            repo = self.repos[repo_id]
            return dict(repo.commits[repo.resolve(revision)])

    def seen(
        self, method: str | None = None, repo_id: str | None = None, filename: str | None = None, kind: str = "resolve"
    ) -> list[Request]:
        """Recorded requests, filtered (``kind``: resolve, api or any)."""
        with self._lock:
            out = list(self.requests)
        return [
            r
            for r in out
            if (method is None or r.method == method)
            and (repo_id is None or r.repo_id == repo_id)
            and (filename is None or r.filename == filename)
            and (kind == "any" or (kind == "resolve") == (r.filename is not None))
        ]

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        server = self

        class Handler(_Handler):
            hub = server

        class Httpd(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                conn, addr = super().get_request()
                with server._lock:
                    server._conns.append(conn)
                return conn, addr

            def process_request(self, request, client_address):
                t = threading.Thread(
                    target=self.process_request_thread,
                    args=(request, client_address),
                    daemon=True,
                    name="hubserver-handler",
                )
                with server._lock:
                    server._handlers = [h for h in server._handlers if h.is_alive()] + [t]
                t.start()

        self._httpd = Httpd(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="hubserver"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, cut open connections and join every thread this server started."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            conns, handlers = list(self._conns), list(self._handlers)
            self._conns.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        for t in handlers:
            t.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def threads_alive(self) -> list[threading.Thread]:
        with self._lock:
            return [t for t in [self._thread, *self._handlers] if t is not None and t.is_alive()]

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- protocol ------------------------------------------------------------------------------

    def _repo(self, repo_id: str) -> Repo:
        repo = self.repos.get(repo_id)
        if repo is None:
            raise NotFound("RepoNotFound", f"Repository Not Found for url: {repo_id}.")
        return repo

    def _commit(self, repo_id: str, revision: str) -> tuple[Repo, str]:
        repo = self._repo(repo_id)
        commit = repo.resolve(revision)
        if commit is None:
            raise NotFound("RevisionNotFound", f"Invalid rev id: {revision}")
        return repo, commit

    def resolve_file(self, repo_id: str, revision: str, filename: str) -> tuple[str, bytes]:
        with self._lock:
            repo, commit = self._commit(repo_id, revision)
            files = repo.commits[commit]
            if filename not in files:
                raise NotFound("EntryNotFound", f"Entry not found: {filename}", commit=commit)
            return commit, files[filename]

    def tree(self, repo_id: str, revision: str) -> list[dict[str, Any]]:
        with self._lock:
            repo, commit = self._commit(repo_id, revision)
            files = repo.commits[commit]
        out = []
        for name, data in sorted(files.items()):
            item: dict[str, Any] = {"type": "file", "path": name, "size": len(data)}
            if is_lfs(name):
                pointer = lfs_pointer(data)
                item.update(
                    oid=git_blob_id(pointer),
                    lfs={"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": len(pointer)},
                )
            else:
                item["oid"] = git_blob_id(data)
            out.append(item)
        return out

    def model_info(self, repo_id: str, revision: str) -> dict[str, Any]:
        with self._lock:
            repo, commit = self._commit(repo_id, revision)
            files = repo.commits[commit]
            private, listing = repo.private, dict(repo.listing)
        return {
            "id": repo_id,
            "modelId": repo_id,
            "author": repo_id.split("/")[0],
            "sha": commit,
            "private": private,
            "disabled": False,
            "gated": False,
            "tags": listing["tags"],
            "library_name": listing["library_name"],
            "pipeline_tag": listing["pipeline_tag"],
            "siblings": [{"rfilename": name} for name in sorted(files)],
        }

    def create_repo(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name, org = payload.get("name"), payload.get("organization")
        repo_id = f"{org}/{name}" if org else name
        with self._lock:
            if repo_id in self.repos:
                return 409, {"error": "You already created this model repo", "url": f"{self.url}/{repo_id}"}
            repo = Repo(private=payload.get("private") is True or payload.get("visibility") == "private")
            self.repos[repo_id] = repo
            initial = {".gitattributes": GITATTRIBUTES}
            commit = _commit_id(repo_id, "main", initial)
            repo.commits[commit] = initial
            repo.refs["main"] = commit
            repo.branches.add("main")
        return 200, {"url": f"{self.url}/{repo_id}", "name": repo_id, "id": repo_id}

    def create_branch(self, repo_id: str, branch: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            repo, start = self._commit(repo_id, payload.get("startingPoint") or "main")
            if branch in repo.refs:
                return 409, {"error": f"Reference already exists: refs/heads/{branch}"}
            repo.refs[branch] = start
            repo.branches.add(branch)
        return 200, {}

    def preupload(self, repo_id: str, revision: str, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            repo, commit = self._commit(repo_id, revision)
            files = repo.commits[commit]
        return {
            "files": [
                {
                    "path": f["path"],
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": git_blob_id(files[f["path"]]) if f["path"] in files else None,
                }
                for f in payload.get("files", [])
            ]
        }

    def commit(self, repo_id: str, revision: str, body: bytes) -> dict[str, Any]:
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        with self._lock:
            repo, parent = self._commit(repo_id, revision)
            if revision not in repo.branches:
                raise NotFound("RevisionNotFound", f"Invalid rev id: {revision} is not a branch")
            files = dict(repo.commits[parent])
            summary = ""
            for item in lines:
                key, value = item["key"], item["value"]
                if key == "header":
                    summary = value.get("summary", "")
                    if value.get("parentCommit") and value["parentCommit"] != parent:
                        raise ValueError(f"parent commit {value['parentCommit']} is not the head of {revision}")
                elif key == "file":
                    if value.get("encoding") != "base64":
                        raise ValueError(f"unsupported encoding {value.get('encoding')!r}")
                    files[value["path"]] = base64.b64decode(value["content"])
                elif key == "deletedFile":
                    files.pop(value["path"], None)
                elif key == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    files = {k: v for k, v in files.items() if not k.startswith(prefix)}
                else:  # lfsFile would need the LFS batch API, which this server does not offer
                    raise ValueError(f"unsupported commit operation {key!r}")
            commit = hashlib.sha1(
                parent.encode() + summary.encode() + _commit_id(repo_id, revision, files).encode()
            ).hexdigest()
            repo.commits[commit] = files
            repo.refs[revision] = commit
        return {
            "success": True,
            "commitOid": commit,
            "commitUrl": f"{self.url}/{repo_id}/commit/{commit}",
            "hookOutput": "",
        }


def _as_bytes(value: bytes | str | Path) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, Path):
        return value.read_bytes()
    return value.encode()


def _commit_id(repo_id: str, revision: str, files: Mapping[str, bytes]) -> str:
    h = hashlib.sha1(f"{repo_id}\0{revision}\0".encode())
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


_API_REPO = re.compile(
    r"^/api/models/(?P<repo>[^/]+(?:/[^/]+)?)"
    r"(?:/(?P<op>revision|tree|preupload|commit|branch)/(?P<rev>[^/]+)(?P<rest>/.*)?)?$"
)


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers in keep-alive
    server_version = "hubserver/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
        pass

    # --- plumbing ------------------------------------------------------------------------------

    def _record(self, **kw: Any) -> Request:
        parts = urlsplit(self.path)
        req = Request(
            self.command,
            unquote(parts.path),
            parse_qs(parts.query),
            **kw,
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        with self.hub._lock:
            self.hub.requests.append(req)
        return req

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _error(self, status: int, code: str, message: str, commit: str | None = None, **extra: Any) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": message}
        if commit:
            headers["X-Repo-Commit"] = commit
        self._json(status, {"error": message, **extra}, headers)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # --- routes --------------------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        req = None
        try:
            if path.startswith("/api/"):
                req = self._record()
                self._api(path, req)
            elif "/resolve/" in path:
                self._resolve(path)
            else:
                req = self._record()
                self._error(404, "NotImplemented", f"hubserver: no route for {self.command} {path}")
        except NotFound as exc:
            if req is not None:
                req.status = 404
            self._error(404, exc.code, exc.message, exc.commit)
        except (ValueError, KeyError) as exc:
            if req is not None:
                req.status = 400
            self._error(400, "BadRequest", f"hubserver: {exc}")

    def _resolve(self, path: str) -> None:
        head, _, rest = path.partition("/resolve/")
        repo_id = unquote(head.lstrip("/"))
        revision, _, filename = rest.partition("/")
        revision, filename = unquote(revision), unquote(filename)
        req = self._record(repo_id=repo_id, revision=revision, filename=filename)
        try:
            commit, data = self.hub.resolve_file(repo_id, revision, filename)
        except NotFound:
            req.status = 404
            raise
        headers = {"X-Repo-Commit": commit, "Accept-Ranges": "bytes", "ETag": f'"{git_blob_id(data)}"'}
        if is_lfs(filename):  # as the Hub: the git ETag is the pointer's; the content's sha256 is "linked"
            headers["ETag"] = f'"{git_blob_id(lfs_pointer(data))}"'
            headers["X-Linked-Etag"] = f'"{hashlib.sha256(data).hexdigest()}"'
            headers["X-Linked-Size"] = str(len(data))
        status, body = 200, data
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
        if match and self.command == "GET":
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else len(data) - 1
            status, body = 206, data[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        req.status = status
        self._send(status, body, headers, content_type="application/octet-stream")

    def _api(self, path: str, req: Request) -> None:
        hub = self.hub
        if path == "/api/repos/create" and self.command == "POST":
            payload = json.loads(self._body() or b"{}")
            if payload.get("type", "model") != "model":
                raise ValueError("hubserver serves model repos only")
            status, out = hub.create_repo(payload)
            req.repo_id = out.get("name")
            req.status = status
            if status == 409:
                return self._error(409, "RepoExists", out["error"], url=out["url"])  # the client reads url
            return self._json(status, out)
        if path == "/api/models" and self.command == "GET":
            req.status = 200
            return self._json(200, hub.list_models(req.query))
        if path == "/api/validate-yaml" and self.command == "POST":
            self._body()
            req.status = 200
            return self._json(200, {"errors": [], "warnings": []})
        match = _API_REPO.match(path)
        if match is None:
            raise NotFound("NotImplemented", f"hubserver: no route for {self.command} {path}")
        repo_id, op, rev = match["repo"], match["op"], unquote(match["rev"] or "main")
        req.repo_id, req.revision = repo_id, rev
        if op in (None, "revision") and self.command == "GET":
            out = hub.model_info(repo_id, rev)
        elif op == "tree" and self.command == "GET":
            out = hub.tree(repo_id, rev)
        elif op == "preupload" and self.command == "POST":
            out = hub.preupload(repo_id, rev, json.loads(self._body() or b"{}"))
        elif op == "commit" and self.command == "POST":
            out = hub.commit(repo_id, rev, self._body())
        elif op == "branch" and self.command == "POST":
            status, out = hub.create_branch(repo_id, rev, json.loads(self._body() or b"{}"))
            req.status = status
            if status == 409:
                return self._error(409, "BranchExists", out["error"])
            return self._json(status, out)
        else:
            raise NotFound("NotImplemented", f"hubserver: no route for {self.command} {path}")
        req.status = 200
        self._json(200, out)
