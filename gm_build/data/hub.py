"""Files of a Hub mirror through huggingface_hub, each checked against the size and sha256 the Hub lists.

huggingface_hub downloads (its endpoint from ``HF_ENDPOINT``, resuming a partial file with a Range request)
but does not check content; here every file is hashed and compared with the LFS sha256 and size of the Hub's
tree listing at the pinned commit, and with the pin itself where it names them. Downloads land in
``$GM_CACHE_DIR/downloads/<repo>/<commit>/`` (outside ``$GM_DATA_DIR``, so a failed run leaves the data folder
as it was and the next run resumes them); a file that fails its check is deleted, so it is fetched anew.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from gm_build.data.bars import DownloadBar
from gm_build.data.errors import FetchError, classify
from gm_build.data.sources import HubSource, PinnedFile

__all__ = ["TIMEOUT_S", "resolve_revision", "list_expected", "download_verified", "sha256_of"]

TIMEOUT_S = 10.0  # per HTTP call: an unreachable Hub fails in seconds


def _endpoint() -> str | None:
    """``HF_ENDPOINT`` read at call time (huggingface_hub reads it once, at import)."""
    return os.environ.get("HF_ENDPOINT") or None


def _api():
    from huggingface_hub import HfApi

    return HfApi(endpoint=_endpoint())


def resolve_revision(source: HubSource) -> str:
    """The pinned commit, or ``main`` resolved to its commit once (recorded in SOURCE.json by the caller).

    Asked of the Hub even when pinned: one call without retries, so an unreachable Hub or a revision that is
    gone fails in seconds, before the listing (which huggingface_hub retries for half a minute).
    """
    try:
        sha = _api().dataset_info(source.repo, revision=source.revision or "main", timeout=TIMEOUT_S).sha
    except Exception as error:  # the Hub's and httpx's errors, classified into one line
        raise FetchError(source.label, *classify(error)) from None
    return source.revision or sha


def list_expected(source: HubSource, revision: str) -> dict[str, PinnedFile]:
    """Each file to fetch with the size and sha256 the Hub lists at ``revision`` (a pin must agree with them).

    Raises:
        FetchError: a file is not in the listing (404), a pin disagrees with the Hub (checksum), or the Hub
            cannot be reached.
    """
    folders = sorted({f.path.rpartition("/")[0] for f in source.files})
    listed = {}
    try:
        for folder in folders:
            for entry in _api().list_repo_tree(source.repo, folder or None, revision=revision, repo_type="dataset"):
                if getattr(entry, "lfs", None) is not None:
                    listed[entry.path] = (entry.lfs.size, entry.lfs.sha256)
                elif hasattr(entry, "size"):
                    listed[entry.path] = (entry.size, None)
    except Exception as error:
        raise FetchError(source.label, *classify(error)) from None
    expected = {}
    for pinned in source.files:
        if pinned.path not in listed:
            raise FetchError(source.label, "404", f"{pinned.path} is not in {source.repo} at {revision[:12]}")
        size, sha = listed[pinned.path]
        if (pinned.size not in (None, size)) or (pinned.sha256 not in (None, sha)):
            raise FetchError(source.label, "checksum", f"{pinned.path}: the Hub lists {size} B sha256 {sha}, the pin "
                                                       f"{pinned.size} B sha256 {pinned.sha256}")
        if sha is None:
            raise FetchError(source.label, "schema", f"{pinned.path} is not an LFS file: the Hub lists no sha256")
        expected[pinned.path] = PinnedFile(pinned.path, pinned.split, size, sha, pinned.rows)
    return expected


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download_verified(source: HubSource, revision: str, pinned: PinnedFile, folder: Path) -> Path:
    """``pinned.path`` of the repository at ``revision`` under ``folder``, its size and sha256 checked.

    Raises:
        FetchError: the download failed (offline, 404, quota) or its bytes are not the listed ones (checksum;
            the bad file is deleted).
    """
    from huggingface_hub import hf_hub_download

    try:
        local = Path(hf_hub_download(source.repo, pinned.path, repo_type="dataset", revision=revision,
                                     local_dir=folder, endpoint=_endpoint(), etag_timeout=TIMEOUT_S,
                                     tqdm_class=DownloadBar))
    except Exception as error:
        raise FetchError(source.label, *classify(error)) from None
    size = local.stat().st_size
    digest = sha256_of(local) if size == pinned.size else None
    if digest != pinned.sha256:
        local.unlink()
        found = f"sha256 {digest}" if digest else f"{size} B"
        raise FetchError(source.label, "checksum", f"{pinned.path} has {found}, the Hub lists {pinned.size} B "
                                                   f"sha256 {pinned.sha256}")
    return local
