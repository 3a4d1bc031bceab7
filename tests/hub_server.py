"""A Hugging Face Hub on 127.0.0.1 for tests: the calls huggingface_hub makes, over files held in memory.

Answers (all a test needs; the real Hub answers the same shapes):
    GET  /api/{datasets,models}/<owner>/<name>/revision/<rev>    repo info: {"id", "sha"}
    GET  /api/{datasets,models}/<owner>/<name>/tree/<rev>[/<dir>]  file list: size, oid, lfs {oid (sha256), size}
    HEAD/GET /[datasets/]<owner>/<name>/resolve/<rev>/<path>      302 to the CDN's /cdn/<sha256> with X-Repo-Commit,
                                                                  X-Linked-Etag, X-Linked-Size (as LFS files are)
    HEAD/GET /cdn/<sha256>                                        the bytes, with Range (206) support; served on a
                                                                  second port (another origin, as the real CDN is,
                                                                  so huggingface_hub stops its HEAD at the redirect)
and, as a plain HTTP proxy, ``GET http://<host>/<path>`` for URLs registered with :meth:`HubServer.add_url`.

Faults per file (:meth:`HubServer.fault`): ``"missing"`` (404), ``"corrupt"`` (the same size, other bytes),
``"die"`` (half the body, then the server closes its socket and stops answering), ``"drop"`` (half the body,
then this one connection is closed; the server goes on answering, so a Range request gets the rest).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

__all__ = ["HubServer", "refusing_port"]


@dataclass
class _Repo:
    kind: str  # "datasets" or "models"
    revision: str
    files: dict[str, bytes] = field(default_factory=dict)


class HubServer:
    """Start with :meth:`start`, stop with :meth:`stop`; ``endpoint`` is the value for ``HF_ENDPOINT``."""

    def __init__(self):
        self.repos: dict[str, _Repo] = {}
        self.urls: dict[str, bytes] = {}
        self.faults: dict[str, str] = {}  # path in repo (or URL) -> fault
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self._server: ThreadingHTTPServer | None = None
        self._cdn: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------ content
    def add_repo(self, repo_id: str, files: dict[str, bytes], revision: str, kind: str = "datasets") -> None:
        self.repos[repo_id] = _Repo(kind, revision, dict(files))

    def add_url(self, url: str, body: bytes) -> None:
        """Answer ``GET url`` when this server is used as the HTTP proxy."""
        self.urls[url] = body

    def fault(self, path: str, kind: str) -> None:
        self.faults[path] = kind

    def blob(self, sha256: str) -> tuple[str, bytes] | None:
        for repo in self.repos.values():
            for path, data in repo.files.items():
                if hashlib.sha256(data).hexdigest() == sha256:
                    return path, data
        return None

    # ------------------------------------------------------------ life
    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def cdn(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def start(self) -> HubServer:
        self._server, self._cdn = (ThreadingHTTPServer(("127.0.0.1", 0), _handler(self)) for _ in range(2))
        for server in (self._server, self._cdn):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for server in (self._server, self._cdn):
            if server is not None and server.socket.fileno() != -1:
                server.shutdown()
                server.server_close()

    def die(self) -> None:
        """Stop accepting connections at once (from a handler thread: shutdown would wait for it)."""
        for server in (self._server, self._cdn):
            server.socket.close()
            threading.Thread(target=server.shutdown, daemon=True).start()


def _handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep pytest's output clean
            pass

        def do_HEAD(self):
            self._answer(body=False)

        def do_GET(self):
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            hub.requests.append((self.command, self.path, self.headers.get("Range")))
            if self.path.startswith("http://"):  # used as a proxy
                return self._proxy(body)
            path = unquote(urlsplit(self.path).path)
            if path.startswith("/api/"):
                return self._api(path.removeprefix("/api/"))
            if path.startswith("/cdn/"):
                return self._blob(path.removeprefix("/cdn/"), body)
            return self._resolve(path.lstrip("/"))

        def _send(self, status: int, data: bytes = b"", headers: dict | None = None, body: bool = True) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, str(value))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body and data:
                self.wfile.write(data)

        def _json(self, value) -> None:
            import json

            self._send(200, json.dumps(value).encode(), {"Content-Type": "application/json"})

        def _not_found(self, code: str = "RepoNotFound") -> None:
            self._send(404, b'{"error": "not found"}', {"X-Error-Code": code, "Content-Type": "application/json"})

        def _find(self, parts: list[str]) -> tuple[str, _Repo] | None:
            repo_id = "/".join(parts[:2])
            repo = hub.repos.get(repo_id)
            return (repo_id, repo) if repo is not None else None

        def _api(self, rest: str) -> None:
            kind, *parts = rest.split("/")
            found = self._find(parts)
            if found is None or found[1].kind != kind or len(parts) < 4:
                return self._not_found()
            repo_id, repo = found
            action, revision, folder = parts[2], parts[3], "/".join(parts[4:])
            if revision not in ("main", repo.revision):
                return self._not_found("RevisionNotFound")
            if action == "revision":
                return self._json({"id": repo_id, "sha": repo.revision, "private": False,
                                   "siblings": [{"rfilename": p} for p in repo.files]})
            if action != "tree":
                return self._not_found("EntryNotFound")
            prefix = f"{folder}/" if folder else ""
            entries = [{"type": "file", "path": p, "size": len(d), "oid": hashlib.sha1(d).hexdigest(),
                        "lfs": {"oid": hashlib.sha256(d).hexdigest(), "size": len(d), "pointerSize": 134}}
                       for p, d in sorted(repo.files.items()) if p.startswith(prefix)]
            return self._json(entries)

        def _resolve(self, path: str) -> None:
            parts = path.split("/")
            kind = "models"
            if parts[0] in ("datasets", "models"):
                kind, parts = parts[0], parts[1:]
            found = self._find(parts)
            if found is None or found[1].kind != kind or len(parts) < 5 or parts[2] != "resolve":
                return self._not_found()
            _, repo = found
            revision, name = parts[3], "/".join(parts[4:])
            if revision not in ("main", repo.revision):
                return self._not_found("RevisionNotFound")
            data = repo.files.get(name)
            if data is None or hub.faults.get(name) == "missing":
                return self._send(404, b"", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.revision})
            sha = hashlib.sha256(data).hexdigest()
            self._send(302, b"", {"Location": f"{hub.cdn}/cdn/{sha}", "X-Repo-Commit": repo.revision,
                                  "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": len(data), "ETag": f'"{sha}"'})

        def _blob(self, sha: str, body: bool) -> None:
            found = hub.blob(sha)
            if found is None:
                return self._send(404)
            name, data = found
            self._stream(data, hub.faults.get(name), body, {"ETag": f'"{sha}"'})

        def _proxy(self, body: bool) -> None:
            data = hub.urls.get(self.path)
            if data is None or hub.faults.get(self.path) == "missing":
                return self._send(404)
            self._stream(data, hub.faults.get(self.path), body, {})

        def _stream(self, data: bytes, fault: str | None, body: bool, headers: dict) -> None:
            if fault == "corrupt":
                data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
            start, status = 0, 200
            range_header = self.headers.get("Range")
            if range_header and range_header.startswith("bytes="):
                start = int(range_header.removeprefix("bytes=").split("-")[0])
                status = 206
                headers = {**headers, "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
            part = data[start:]
            self.send_response(status)
            for key, value in {**headers, "Accept-Ranges": "bytes", "Content-Length": len(part)}.items():
                self.send_header(key, str(value))
            self.end_headers()
            if not body:
                return
            if fault in ("die", "drop"):
                import socket

                self.wfile.write(part[: len(part) // 2])
                self.wfile.flush()
                hub.faults = {k: v for k, v in hub.faults.items() if v != fault}  # once
                if fault == "die":
                    hub.die()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_WR)  # the half already sent arrives, then end of stream
                return
            self.wfile.write(part)

    return Handler


def refusing_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound then closed): connections to it are refused at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_env(endpoint: str, tmp_path, **extra: str) -> dict[str, str]:
    """The environment of a subprocess that may reach only 127.0.0.1: the Hub at ``endpoint``, every other URL
    through a proxy that refuses, its own Hub cache, data folder and cache folder under ``tmp_path``."""
    import os

    from gm_lib.paths import repo_root

    proxy = f"http://127.0.0.1:{refusing_port()}"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "GM_"))}
    env.update({
        "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1",
        "http_proxy": proxy, "https_proxy": proxy, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy,
        "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost",
        "GM_DATA_DIR": str(tmp_path / "data"), "GM_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHONPATH": str(repo_root()), "OMP_NUM_THREADS": "1",
    })
    env.update(extra)
    return env
