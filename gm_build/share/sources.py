"""Where ``make unpack FROM=...`` gets the archive: a local file (a path or a ``file:`` URL), an ``https://`` URL,
or ``hf://owner/repo``; anything else (``http://`` above all: what it carries can be altered on the way) is refused.

Downloads only fetch bytes; what they fetched is verified by :mod:`gm_build.share.unpacking` like a local file.
A URL is streamed with urllib into a temporary file inside the cache (same filesystem as the install), refusing
a redirect away from https, a ``Content-Length`` above :data:`~gm_build.share.manifest.MAX_ARCHIVE_BYTES` or twice
above the disk's free space (the archive and its unpacked files), and stopping as soon as more bytes arrive than
that cap. A Hub archive goes through ``huggingface_hub`` (optional extra ``hub``) into the Hub's own download cache,
its size read from the Hub's metadata and checked the same way first.
"""

from __future__ import annotations

import errno
import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from gm_build.share.manifest import HUB_FILENAME, MAX_ARCHIVE_BYTES, ArchiveRefused, check_free_space, mib

__all__ = ["fetch_archive", "download_url", "download_hub", "parse_hub_spec"]

_CHUNK = 1 << 20
_TIMEOUT_S = 60


_FORMS = "give FROM=<file>, file:<path>, an https:// URL or hf://owner/repo"


def fetch_archive(source: str, temp_dir: Path, progress: bool = True) -> Path:
    """A local path to the archive ``source`` names (downloads go to ``temp_dir``, which the caller deletes).

    Raises:
        ArchiveRefused: a source of another kind (``http://`` among them), no such file, a download too large
            for the caps or the disk, or a failed download (one line that says how to retry).
    """
    scheme = source.split("://", 1)[0].lower() if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source) else ""
    if scheme == "https":
        return download_url(source, temp_dir / "download.tar", progress)
    if scheme == "hf":
        return download_hub(source, temp_dir)
    if scheme == "http":
        raise ArchiveRefused(f"refused {source}: plain http:// can be altered on the way without a trace; use its "
                             "https:// URL, or download it yourself and give FROM=<file>")
    if source.lower().startswith("file:"):
        parsed = urllib.parse.urlparse(source)
        if parsed.netloc not in ("", "localhost"):
            raise ArchiveRefused(f"refused {source}: a file: URL names a file on this machine; {_FORMS}")
        path = Path(urllib.request.url2pathname(parsed.path))
    elif scheme:
        raise ArchiveRefused(f"refused {source}: make unpack does not read {scheme}:// sources; {_FORMS}")
    else:
        path = Path(source).expanduser()
    if not path.is_file():
        raise ArchiveRefused(f"no archive at {path}: {_FORMS}")
    return path


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to another https:// URL (a release download redirects to its storage)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not newurl.lower().startswith("https://"):
            raise ArchiveRefused(f"refused {req.full_url}: it redirects to {newurl}, which is not https://; ask its "
                                 "publisher for an https:// URL")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def check_download_size(size: int | None, source: str, folder: Path) -> None:
    """Refuse an archive of ``size`` bytes (None: unknown, nothing to check) above :data:`MAX_ARCHIVE_BYTES`, or
    that the disk of ``folder`` cannot hold twice (the archive and the files unpacked from it)."""
    if size is None:
        return
    if size > MAX_ARCHIVE_BYTES:
        raise ArchiveRefused(f"refused {source}: it has {mib(size)}, more than the {mib(MAX_ARCHIVE_BYTES)} an archive "
                             "of make pack may have")
    try:
        check_free_space(folder, 2 * size, "downloading and unpacking it")
    except ArchiveRefused as error:
        raise ArchiveRefused(f"refused {source}: {error}") from None


def download_url(url: str, dest: Path, progress: bool = True) -> Path:
    """Stream the https ``url`` to ``dest`` (progress bar by tqdm), at most :data:`MAX_ARCHIVE_BYTES` and at most its
    ``Content-Length``; a short read against ``Content-Length`` is an error.

    Raises:
        ArchiveRefused: too large (checked before and while streaming), no room on the disk, or the download failed.
    """
    written, total = 0, None
    opener = urllib.request.build_opener(_HttpsOnlyRedirects)
    try:
        with opener.open(url, timeout=_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            check_download_size(total, url, dest.parent)
            limit = min(total or MAX_ARCHIVE_BYTES, MAX_ARCHIVE_BYTES)
            with open(dest, "wb") as handle, tqdm(total=total, unit="B", unit_scale=True, desc="download",
                                                  disable=not progress) as bar:
                while chunk := response.read(_CHUNK):
                    written += len(chunk)
                    if written > limit:
                        raise ArchiveRefused(f"refused {url}: it sent more than {mib(limit)}, the most it may have; "
                                             "ask its publisher for the archive of make pack")
                    handle.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise ArchiveRefused(f"download of {url} failed: HTTP {error.code} {error.reason}; check the URL") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ArchiveRefused(f"download of {url} filled the disk of {dest.parent} after {mib(written)}; free "
                                 "space or set GM_CACHE_DIR to a larger disk") from None
        reason = getattr(error, "reason", None) or type(error).__name__
        raise ArchiveRefused(f"download of {url} failed ({reason}) after {written} bytes; check the URL and the "
                             "connection, then run make unpack again") from None
    if total is not None and written != total:
        raise ArchiveRefused(f"download of {url} stopped at {written} of {total} bytes; run make unpack again")
    return dest


def parse_hub_spec(spec: str) -> tuple[str, str, str, str | None]:
    """``hf://[datasets/]owner/repo[/path/in/repo.tar][@revision]`` as ``(repo_id, filename, repo_type, revision)``.

    The file defaults to :data:`~gm_build.share.manifest.HUB_FILENAME`, the repository type to ``model``.

    Raises:
        ArchiveRefused: no ``owner/repo`` in ``spec``.
    """
    rest, _, revision = spec.removeprefix("hf://").partition("@")
    repo_type = "model"
    for kind in ("datasets", "models", "spaces"):
        if rest.startswith(f"{kind}/"):
            repo_type, rest = kind.removesuffix("s"), rest.removeprefix(f"{kind}/")
    parts = [part for part in rest.split("/") if part]
    if len(parts) < 2:
        raise ArchiveRefused(f"{spec!r} names no repository: write hf://owner/repo[/file.tar][@revision]")
    return "/".join(parts[:2]), "/".join(parts[2:]) or HUB_FILENAME, repo_type, revision or None


def download_hub(spec: str, temp_dir: Path) -> Path:
    """The archive of a Hugging Face Hub repository (``hf://owner/repo``), through ``huggingface_hub``.

    Its size is read from the Hub's metadata first and checked as a URL's ``Content-Length`` is (``temp_dir``: on
    the cache's disk); offline, the Hub's cached copy is checked. The Hub shows its own progress bar and honours its
    settings: ``HF_TOKEN`` for private repositories, ``HF_HUB_OFFLINE=1`` to use only its cache, ``HF_HUB_CACHE`` for
    where that cache is.

    Raises:
        ArchiveRefused: no huggingface_hub, too large, or not fetched (one line naming the Hub's reason).
    """
    repo_id, filename, repo_type, revision = parse_hub_spec(spec)
    try:
        import huggingface_hub
    except ImportError:
        raise ArchiveRefused("hf:// needs huggingface_hub: pip install -e '.[hub]' (or make setup, which pins it)"
                             ) from None
    try:
        url = huggingface_hub.hf_hub_url(repo_id, filename, repo_type=repo_type, revision=revision)
        size = huggingface_hub.get_hf_file_metadata(url).size
    except Exception:  # offline or unreachable: hf_hub_download below uses its cache or says why it cannot
        size = None
    check_download_size(size, spec, temp_dir)
    try:
        path = Path(huggingface_hub.hf_hub_download(repo_id, filename, repo_type=repo_type, revision=revision))
        check_download_size(path.stat().st_size, spec, temp_dir)
        return path
    except ArchiveRefused:
        raise
    except Exception as error:  # the Hub's errors (missing repo or file, offline, auth) all mean: not fetched
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise ArchiveRefused(f"could not get {filename} from {spec} ({type(error).__name__}: {reason}); check the "
                             "repository and file name, HF_TOKEN for a private one, and the connection") from None
