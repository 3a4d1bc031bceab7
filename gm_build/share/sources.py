"""Where ``make unpack FROM=...`` gets the archive: a local file, an ``https://`` URL, or ``hf://owner/repo``.

Downloads only fetch bytes; what they fetched is verified by :mod:`gm_build.share.unpacking` like a local file.
A URL is streamed with urllib into a temporary file inside the cache (same filesystem as the install); a
Hub archive goes through ``huggingface_hub`` (optional extra ``hub``) into the Hub's own download cache.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from gm_build.share.manifest import HUB_FILENAME, ArchiveRefused

__all__ = ["fetch_archive", "download_url", "download_hub", "parse_hub_spec"]

_CHUNK = 1 << 20
_TIMEOUT_S = 60


def fetch_archive(source: str, temp_dir: Path, progress: bool = True) -> Path:
    """A local path to the archive ``source`` names (downloads go to ``temp_dir``, which the caller deletes).

    Raises:
        ArchiveRefused: no such file, or the download failed (the message says how to retry).
    """
    if source.startswith(("https://", "http://")):
        return download_url(source, temp_dir / "download.tar", progress)
    if source.startswith("hf://"):
        return download_hub(source)
    path = Path(source).expanduser()
    if not path.is_file():
        raise ArchiveRefused(f"no archive at {path}: give FROM=<file>, an https:// URL or hf://owner/repo")
    return path


def download_url(url: str, dest: Path, progress: bool = True) -> Path:
    """Stream ``url`` to ``dest`` (progress bar by tqdm); a short read against Content-Length is an error."""
    written, total = 0, None
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response, open(dest, "wb") as handle:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc="download", disable=not progress) as bar:
                while chunk := response.read(_CHUNK):
                    handle.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise ArchiveRefused(f"download of {url} failed: HTTP {error.code} {error.reason}; check the URL") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
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


def download_hub(spec: str) -> Path:
    """The archive of a Hugging Face Hub repository (``hf://owner/repo``), through ``huggingface_hub``.

    The Hub shows its own progress bar and honours its settings: ``HF_TOKEN`` for private repositories,
    ``HF_HUB_OFFLINE=1`` to use only its cache, ``HF_HUB_CACHE`` for where that cache is.
    """
    repo_id, filename, repo_type, revision = parse_hub_spec(spec)
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise ArchiveRefused("hf:// needs huggingface_hub: pip install -e '.[hub]' (or make setup, which pins it)"
                             ) from None
    try:
        return Path(hf_hub_download(repo_id, filename, repo_type=repo_type, revision=revision))
    except Exception as error:  # the Hub's errors (missing repo or file, offline, auth) all mean: not fetched
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise ArchiveRefused(f"could not get {filename} from {spec} ({type(error).__name__}: {reason}); check the "
                             "repository and file name, HF_TOKEN for a private one, and the connection") from None
