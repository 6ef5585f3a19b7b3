"""A loopback Hugging Face Hub for tests: the subset of the Hub HTTP API that ``huggingface_hub`` uses.

It speaks what ``../shared/docs/hub-api.md`` measured on the installed client: repo create (private flag),
whoami, validate-yaml, preupload, LFS batch + basic transfer + verify, ndjson commits (with the
``parentCommit`` check), branches, tags, refs, commits, tree, repo info by revision, and resolve
(HEAD/GET with ``X-Repo-Commit``, ``ETag`` and the real ``Content-Length``). Errors carry the
``X-Error-Code`` header the client maps to its exception classes.

Auth: ``token`` is the one write token (any namespace); ``read_tokens`` may read. A private repo answers
anonymous and wrong-token requests with 401 ``RepoNotFound``, as the Hub does.

Faults for reliability tests: ``server.inject(method, path_regex, status=..., times=1, headers=...)``
answers matching requests with that status; ``action="reset"`` drops the connection after reading part of
the request body; ``action="truncate"`` sends half a file under its full ``Content-Length``; ``action="hang"``
accepts the request and answers nothing for ``hang_s`` seconds; ``action="hold"`` sets ``fault.arrived`` when the
request comes in and serves it only once the test sets ``fault.release`` (an interleaving the test chooses);
``action="trickle"`` sends a whole answer one byte every ``trickle_s`` seconds for ``hang_s`` seconds,
``action="trickle_body"`` its head at once and its body so.

Standalone: ``python tests/hub_server.py --port 8999 --root /tmp/hub --token hf_xxx`` serves until
interrupted; repos persist under ``--root``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import hashlib
import json
import os
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".pkl")
LFS_MIN_SIZE = 10 * 2**20
POINTER_SIZE = 134


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def describe(data: bytes) -> dict:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "git_oid": git_blob_sha1(data)}


class HubError(Exception):
    def __init__(self, status: int, code: str | None, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


@dataclass
class Fault:
    method: str
    pattern: str
    status: int = 500
    times: int = 1
    headers: dict = field(default_factory=dict)
    action: str = "status"  # status | reset | truncate | echo_auth (an error quoting the Authorization header) | race
    # | hang (read the request, answer nothing for ``hang_s`` seconds, then close: a Hub that never answers)
    hang_s: float = 10.0
    trickle_s: float = 0.2  # action "trickle" / "trickle_body": a byte this often (the read timeout never fires)
    race: str = ""  # action "race": the repo whose main gets another commit just before this request is served
    # action "hold": ``arrived`` is set when the request comes in; it is served (normally) once ``release`` is set
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class Store:
    """Repos as JSON documents under ``root/<ns>/<name>/repo.json``; blobs by sha256 under ``root/_objects``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.objects = self.root / "_objects"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()

    def _path(self, repo_id: str) -> Path:
        return self.root / repo_id / "repo.json"

    def get(self, repo_id: str) -> dict | None:
        p = self._path(repo_id)
        return json.loads(p.read_text()) if p.is_file() else None

    def put(self, repo_id: str, repo: dict) -> None:
        p = self._path(repo_id)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(repo))
        os.replace(tmp, p)

    def empty_commit(self, repo_id: str, branch: str = "main") -> str:
        """A commit by someone else on ``branch`` that changes no file (it only moves the head)."""
        with self.lock:
            repo = self.get(repo_id)
            head = repo["branches"][branch]
            digest = hashlib.sha1(f"{head}-other-{time.time_ns()}".encode()).hexdigest()
            repo["commits"][digest] = {
                "parent": head,
                "title": "someone else",
                "message": "",
                "date": _now(),
                "files": dict(repo["commits"][head]["files"]),
            }
            repo["branches"][branch] = digest
            self.put(repo_id, repo)
            return digest

    def has_blob(self, sha256: str) -> bool:
        return (self.objects / sha256).is_file()

    def put_blob(self, data: bytes) -> dict:
        target = self.objects / hashlib.sha256(data).hexdigest()
        if not target.is_file():
            tmp = target.with_suffix(f".{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return describe(data)

    def blob(self, sha256: str) -> bytes:
        return (self.objects / sha256).read_bytes()


class HubServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        root: str | Path,
        token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        read_tokens: tuple[str, ...] = (),
        user: str = "tester",
        orgs: tuple[str, ...] = (),
    ):
        super().__init__((host, port), Handler)
        self.store = Store(Path(root))
        self.token = token
        self.read_tokens = set(read_tokens)
        self.user = user
        self.orgs = orgs
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, int]] = []
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def inject(self, method: str, pattern: str, **kw) -> Fault:
        fault = Fault(method.upper(), pattern, **kw)
        self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.store.lock:
            for f in self.faults:
                if f.times > 0 and f.method == method and re.search(f.pattern, path):
                    f.times -= 1
                    return f
        return None

    def add_gated_repo(self, repo_id: str, files: dict[str, bytes], *, granted: tuple[str, ...] = ()) -> None:
        """A public repo of someone else's whose license must be accepted: every read by a token not in
        ``granted`` answers 403 GatedRepo, as the Hub does for meta-llama models."""
        repo = Handler._empty_repo(private=False)
        head = repo["branches"]["main"]
        for path, data in files.items():
            repo["commits"][head]["files"][path] = {**self.store.put_blob(data), "lfs": False}
        repo.update(gated=True, granted=list(granted))
        self.store.put(repo_id, repo)

    def start(self) -> HubServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Handler(BaseHTTPRequestHandler):
    server: HubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    # ------------------------------------------------------------------ plumbing
    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _json_body(self):
        raw = self._body()
        return json.loads(raw) if raw else {}

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, ctype: str = "application/json"):
        # logged before the answer leaves: a client that raises on it, and the test that then reads the log, must
        # find it there (logged after, the last request of a retry loop could still be missing under load)
        self.server.log.append((self.command, self.path, status))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, status: int, data, headers: dict | None = None):
        self._send(status, json.dumps(data).encode(), headers)

    def _error(self, err: HubError):
        headers = dict(err.headers)
        if err.code:
            headers["X-Error-Code"] = err.code
        headers.setdefault("X-Error-Message", err.message)
        self._json(err.status, {"error": err.message}, headers)

    def _dispatch(self, method: str):
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        query = parse_qs(url.query)
        fault = self.server.take_fault(method, url.path)
        try:
            if fault:
                return self._fault(fault)
            self._route(method, parts, query)
        except HubError as err:
            self._error(err)
        except (ConnectionError, BrokenPipeError):
            pass

    def _fault(self, fault: Fault):
        if fault.action == "reset":
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(max(1, n // 2))
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.server.log.append((self.command, self.path, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fault.action == "hang":
            self._body()
            self.server.log.append((self.command, self.path, 0))
            time.sleep(fault.hang_s)
            self.close_connection = True
            return
        if fault.action in ("trickle", "trickle_body"):  # a Hub (or proxy) that answers a byte at a time
            self._body()
            self.server.log.append((self.command, self.path, 0))
            body = b"0" * 1_000_000
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n\r\n"
            slow = head.encode() + body
            if fault.action == "trickle_body":
                self.wfile.write(slow[: len(head)])
                slow = slow[len(head) :]
            end = time.monotonic() + fault.hang_s
            try:
                for i in range(len(slow)):
                    if time.monotonic() > end:
                        break
                    self.wfile.write(slow[i : i + 1])
                    self.wfile.flush()
                    time.sleep(fault.trickle_s)
            except OSError:
                pass  # the client gave up
            self.close_connection = True
            return
        if fault.action == "echo_auth":  # some proxies quote the request back in their error page
            self._body()
            raise HubError(400, None, f"bad request: Authorization: {self.headers.get('Authorization')}")
        if fault.action == "race":  # another writer commits first: this request's parent commit is now stale
            self.server.store.empty_commit(fault.race)
            return self._route(
                self.command,
                [unquote(p) for p in urlsplit(self.path).path.split("/")[1:]],
                parse_qs(urlsplit(self.path).query),
            )
        if fault.action == "hold":
            fault.arrived.set()
            fault.release.wait(60)
            url = urlsplit(self.path)
            return self._route(self.command, [unquote(p) for p in url.path.split("/")[1:]], parse_qs(url.query))
        if fault.action == "truncate":
            self._body()
            parts = [unquote(p) for p in urlsplit(self.path).path.split("/")[1:]]
            self._resolve(parts[0] + "/" + parts[1], parts[3], "/".join(parts[4:]), truncate=True)
            return
        self._body()
        raise HubError(fault.status, None, f"injected {fault.status}", fault.headers)

    # ------------------------------------------------------------------ auth
    def _token(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        return auth[7:] if auth.startswith("Bearer ") else None

    def _can_write(self) -> bool:
        return self._token() == self.server.token

    def _can_read(self) -> bool:
        return self._token() in ({self.server.token} | self.server.read_tokens)

    def _repo(self, repo_id: str, *, write: bool = False) -> dict:
        tok = self._token()
        if tok is not None and not self._can_read():
            raise HubError(401, "RepoNotFound", "Invalid credentials in Authorization header")
        repo = self.server.store.get(repo_id)
        if repo is None:
            raise HubError(404, "RepoNotFound", f"Repository Not Found for url: {repo_id}")
        if repo["private"] and not self._can_read():
            raise HubError(401, "RepoNotFound", f"Repository Not Found for url: {repo_id}")
        if repo.get("gated") and tok not in repo.get("granted", []):  # a license not accepted by this token's user
            raise HubError(
                403,
                "GatedRepo",
                f"Access to model {repo_id} is restricted. You must have access to it "
                "and be authenticated to access it. Please log in.",
            )
        if write and not self._can_write():
            if tok is None:
                raise HubError(401, "RepoNotFound", "You must be authenticated to write")
            raise HubError(403, None, "You don't have the rights to write to this repository")
        return repo

    @staticmethod
    def _resolve_rev(repo: dict, rev: str) -> str:
        if rev in repo["branches"]:
            return repo["branches"][rev]
        if rev in repo["tags"]:
            return repo["tags"][rev]
        if rev in repo["commits"]:
            return rev
        raise HubError(404, "RevisionNotFound", f"Invalid rev id: {rev}")

    # ------------------------------------------------------------------ routes
    def _route(self, method: str, parts: list[str], query: dict):
        ep = self.server.endpoint
        if parts[:2] == ["api", "whoami-v2"] and method == "GET":
            if not self._can_read():
                raise HubError(401, None, "Invalid credentials in Authorization header")
            role = "write" if self._can_write() else "read"
            return self._json(
                200,
                {
                    "type": "user",
                    "name": self.server.user,
                    "orgs": [{"name": o, "roleInOrg": "write"} for o in self.server.orgs],
                    "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": role}},
                },
            )
        if parts[:2] == ["api", "validate-yaml"]:
            self._body()
            return self._json(200, {"errors": [], "warnings": []})
        if parts[:3] == ["api", "repos", "create"] and method == "POST":
            return self._create(self._json_body())
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo_id = f"{parts[2]}/{parts[3]}"
            rest = parts[4:]
            return self._model_api(method, repo_id, rest, query)
        if len(parts) >= 2 and parts[1].endswith(".git") and parts[2:] == ["info", "lfs", "objects", "batch"]:
            return self._lfs_batch(f"{parts[0]}/{parts[1][:-4]}")
        if parts[:1] == ["lfs-upload"] and len(parts) >= 4:
            return self._lfs_object(method, f"{parts[1]}/{parts[2]}", parts[3], parts[4:])
        if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
            self._body()
            return self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
        self._body()
        raise HubError(404, None, f"no route for {method} /{'/'.join(parts)} ({ep})")

    def _create(self, body: dict):
        if self._token() is None:
            raise HubError(401, None, "You must be authenticated to create a repo")
        if not self._can_write():
            raise HubError(403, None, "Your token has no write access")
        ns = body.get("organization") or self.server.user
        repo_id = f"{ns}/{body['name']}"
        url = {"url": f"{self.server.endpoint}/{repo_id}"}
        store = self.server.store
        with store.lock:
            if store.get(repo_id) is not None:
                return self._json(409, {**url, "error": "You already created this model repo"})
            private = body.get("visibility", "private" if body.get("private") else "public") == "private"
            store.put(repo_id, self._empty_repo(private))
        return self._json(200, url)

    @staticmethod
    def _empty_repo(private: bool) -> dict:
        gitattributes = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
        root = hashlib.sha1(b"initial" + os.urandom(8)).hexdigest()
        return {
            "private": private,
            "branches": {"main": root},
            "tags": {},
            "commits": {
                root: {
                    "parent": None,
                    "title": "initial commit",
                    "message": "",
                    "date": _now(),
                    "files": {
                        ".gitattributes": {
                            "inline": base64.b64encode(gitattributes).decode(),
                            **describe(gitattributes),
                            "lfs": False,
                        }
                    },
                }
            },
        }

    def _model_api(self, method: str, repo_id: str, rest: list[str], query: dict):
        store = self.server.store
        head = rest[0] if rest else ""
        if method == "GET" and rest == ["auth-check"]:
            self._repo(repo_id)
            return self._json(200, {})
        if method == "GET" and (not rest or head == "revision"):
            repo = self._repo(repo_id)
            sha = self._resolve_rev(repo, rest[1] if len(rest) > 1 else "main")
            files = repo["commits"][sha]["files"]
            siblings = [
                {
                    "rfilename": p,
                    "size": f["size"],
                    "blobId": f["git_oid"],
                    **(
                        {"lfs": {"size": f["size"], "sha256": f["sha256"], "pointerSize": POINTER_SIZE}}
                        if f["lfs"]
                        else {}
                    ),
                }
                for p, f in sorted(files.items())
            ]
            return self._json(
                200,
                {
                    "id": repo_id,
                    "modelId": repo_id,
                    "sha": sha,
                    "private": repo["private"],
                    "lastModified": repo["commits"][sha]["date"],
                    "siblings": siblings,
                    "tags": [],
                    "downloads": 0,
                    "likes": 0,
                },
            )
        if method == "PUT" and head == "settings":
            body = self._json_body()
            with store.lock:
                repo = self._repo(repo_id, write=True)
                if "private" in body:
                    repo["private"] = bool(body["private"])
                if "visibility" in body:
                    repo["private"] = body["visibility"] == "private"
                store.put(repo_id, repo)
            return self._json(200, {})
        if method == "POST" and head == "preupload":
            body = self._json_body()
            repo = self._repo(repo_id, write=True)
            sha = (
                self._resolve_rev(repo, rest[1])
                if len(rest) > 1 and (rest[1] in repo["branches"] or rest[1] in repo["commits"])
                else None
            )
            current = repo["commits"][sha]["files"] if sha else {}
            out = []
            for f in body.get("files", []):
                lfs = f["path"].endswith(LFS_SUFFIXES) or f["size"] >= LFS_MIN_SIZE
                entry = {
                    "path": f["path"],
                    "uploadMode": "lfs" if lfs and f["size"] else "regular",
                    "shouldIgnore": False,
                }
                if f["path"] in current:
                    cur = current[f["path"]]
                    entry["oid"] = cur["sha256"] if cur["lfs"] else cur["git_oid"]
                out.append(entry)
            return self._json(200, {"files": out, "commitOid": sha})
        if method == "POST" and head == "commit":
            return self._commit(repo_id, rest[1] if len(rest) > 1 else "main")
        if method == "POST" and head == "tag":
            body = self._json_body()
            with store.lock:
                repo = self._repo(repo_id, write=True)
                sha = self._resolve_rev(repo, rest[1] if len(rest) > 1 else "main")
                tag = body["tag"]
                if tag in repo["tags"] or tag in repo["branches"]:
                    raise HubError(409, None, f"Tag {tag} already exists")
                repo["tags"][tag] = sha
                store.put(repo_id, repo)
            return self._json(200, {})
        if method == "DELETE" and head == "tag":
            with store.lock:
                repo = self._repo(repo_id, write=True)
                if repo["tags"].pop(rest[1], None) is None:
                    raise HubError(404, "RevisionNotFound", f"Invalid rev id: {rest[1]}")
                store.put(repo_id, repo)
            return self._json(200, {})
        if method == "POST" and head == "branch":
            body = self._json_body()
            with store.lock:
                repo = self._repo(repo_id, write=True)
                branch = rest[1]
                if branch in repo["branches"]:
                    raise HubError(409, None, f"Branch {branch} already exists")
                repo["branches"][branch] = self._resolve_rev(repo, body.get("startingPoint") or "main")
                store.put(repo_id, repo)
            return self._json(200, {})
        if method == "GET" and head == "refs":
            repo = self._repo(repo_id)
            return self._json(
                200,
                {
                    "branches": [
                        {"name": b, "ref": f"refs/heads/{b}", "targetCommit": s} for b, s in repo["branches"].items()
                    ],
                    "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": s} for t, s in repo["tags"].items()],
                    "converts": [],
                    **({"pullRequests": []} if query.get("include_prs") else {}),
                },
            )
        if method == "GET" and head == "commits":
            repo = self._repo(repo_id)
            sha, out = self._resolve_rev(repo, rest[1]), []
            while sha:
                c = repo["commits"][sha]
                out.append(
                    {
                        "id": sha,
                        "title": c["title"],
                        "message": c["message"],
                        "date": c["date"],
                        "authors": [{"user": self.server.user}],
                    }
                )
                sha = c["parent"]
            return self._json(200, out)
        if method == "GET" and head == "tree":
            repo = self._repo(repo_id)
            sha = self._resolve_rev(repo, rest[1])
            return self._tree(
                repo["commits"][sha]["files"],
                "/".join(rest[2:]),
                query.get("recursive", ["false"])[0].lower() == "true",
            )
        self._body()
        raise HubError(404, None, f"no route for {method} {repo_id}/{'/'.join(rest)}")

    def _tree(self, files: dict, prefix: str, recursive: bool):
        prefix = prefix.strip("/")
        base = prefix + "/" if prefix else ""
        entries, dirs = [], set()
        for p, f in sorted(files.items()):
            if not p.startswith(base):
                continue
            rel = p[len(base) :]
            parts = rel.split("/")
            for i in range(1, len(parts)):
                if recursive or i == 1:
                    dirs.add(base + "/".join(parts[:i]))
            if len(parts) > 1 and not recursive:
                continue
            entry = {"type": "file", "path": p, "size": f["size"], "oid": f["git_oid"]}
            if f["lfs"]:
                entry["lfs"] = {"oid": f["sha256"], "size": f["size"], "pointerSize": POINTER_SIZE}
            entries.append(entry)
        if prefix and not entries and not dirs:
            raise HubError(404, "EntryNotFound", f"{prefix} does not exist")
        entries += [{"type": "directory", "path": d, "oid": hashlib.sha1(d.encode()).hexdigest()} for d in sorted(dirs)]
        return self._json(200, entries)

    def _commit(self, repo_id: str, rev: str):
        raw = self._body()
        store = self.server.store
        lines = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
        header = next((ln["value"] for ln in lines if ln["key"] == "header"), {})
        with store.lock:
            repo = self._repo(repo_id, write=True)
            if rev not in repo["branches"]:
                raise HubError(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            head = repo["branches"][rev]
            parent = header.get("parentCommit")
            if parent and parent != head:
                raise HubError(412, None, f"A commit has happened since {parent}. Please refresh and try again.")
            files = dict(repo["commits"][head]["files"])
            for ln in lines:
                key, v = ln["key"], ln.get("value", {})
                if key == "file":
                    data = base64.b64decode(v["content"])
                    files[v["path"]] = {**store.put_blob(data), "lfs": False}
                elif key == "lfsFile":
                    if v["oid"] not in repo.get("lfs", []) or not store.has_blob(v["oid"]):
                        raise HubError(400, None, f"LFS object {v['oid']} for {v['path']} was never uploaded")
                    data = store.blob(v["oid"])
                    files[v["path"]] = {**describe(data), "lfs": True}
                elif key == "deletedFile":
                    files.pop(v["path"], None)
                elif key == "deletedFolder":
                    files = {p: f for p, f in files.items() if not p.startswith(v["path"].rstrip("/") + "/")}
            digest = hashlib.sha1(
                json.dumps([head, files, header, time.time_ns()], sort_keys=True).encode()
            ).hexdigest()
            repo["commits"][digest] = {
                "parent": head,
                "title": header.get("summary", ""),
                "message": header.get("description", ""),
                "date": _now(),
                "files": files,
            }
            repo["branches"][rev] = digest
            store.put(repo_id, repo)
        return self._json(
            200,
            {
                "commitUrl": f"{self.server.endpoint}/{repo_id}/commit/{digest}",
                "commitOid": digest,
                "pullRequestUrl": None,
            },
        )

    def _lfs_batch(self, repo_id: str):
        body = self._json_body()
        repo = self._repo(repo_id, write=body.get("operation") == "upload")
        out = []
        for obj in body.get("objects", []):
            oid, size = obj["oid"], obj["size"]
            if oid in repo.get("lfs", []) and self.server.store.has_blob(oid):  # LFS objects are per repo
                out.append({"oid": oid, "size": size})
                continue
            href = f"{self.server.endpoint}/lfs-upload/{repo_id}/{oid}"
            out.append(
                {
                    "oid": oid,
                    "size": size,
                    "authenticated": True,
                    "actions": {"upload": {"href": href}, "verify": {"href": href + "/verify"}},
                }
            )
        return self._send(
            200, json.dumps({"transfer": "basic", "objects": out}).encode(), ctype="application/vnd.git-lfs+json"
        )

    def _lfs_object(self, method: str, repo_id: str, oid: str, rest: list[str]):
        data = self._body()
        if method == "PUT":
            if hashlib.sha256(data).hexdigest() != oid:
                raise HubError(400, None, f"uploaded bytes do not hash to {oid}")
            store = self.server.store
            store.put_blob(data)
            with store.lock:
                repo = store.get(repo_id)
                repo.setdefault("lfs", []).append(oid)
                store.put(repo_id, repo)
            return self._send(200)
        if method == "POST" and rest == ["verify"]:
            if not self.server.store.has_blob(oid):
                raise HubError(404, None, f"LFS object {oid} not found")
            return self._json(200, {})
        raise HubError(404, None, "no such LFS route")

    def _resolve(self, repo_id: str, rev: str, path: str, *, truncate: bool = False):
        repo = self._repo(repo_id)
        sha = self._resolve_rev(repo, rev)
        files = repo["commits"][sha]["files"]
        if path not in files:
            raise HubError(404, "EntryNotFound", f"{path} not found at {rev}", {"X-Repo-Commit": sha})
        f = files[path]
        data = base64.b64decode(f["inline"]) if "inline" in f else self.server.store.blob(f["sha256"])
        etag = f["sha256"] if f["lfs"] else f["git_oid"]
        headers = {"X-Repo-Commit": sha, "ETag": f'"{etag}"', "Content-Length": len(data), "Accept-Ranges": "bytes"}
        if f["lfs"]:
            headers["X-Linked-Etag"] = f'"{etag}"'
            headers["X-Linked-Size"] = len(data)
        if truncate:
            self.server.log.append((self.command, self.path, 200))  # before the answer, as in _send
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            for k, v in headers.items():
                self.send_header(k, str(v))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(200, data, headers, ctype="application/octet-stream")


def main() -> None:  # pragma: no cover - manual trials
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8999)
    ap.add_argument("--root", required=True)
    ap.add_argument("--token", required=True)
    args = ap.parse_args()
    server = HubServer(args.root, args.token, port=args.port)
    print(
        f"serving {server.endpoint} (repos under {args.root}); set HF_ENDPOINT={server.endpoint} HF_HUB_DISABLE_XET=1"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


if __name__ == "__main__":  # pragma: no cover
    main()
