"""Files from a dataset's own servers, at torchvision's URLs and checked against torchvision's MD5s.

urllib honours ``http_proxy`` / ``https_proxy`` / ``no_proxy``; every socket operation times out after
:data:`TIMEOUT_S`, so an unreachable server fails in seconds. Files are written into a staging folder the
caller owns (a failure leaves nothing a loader reads).
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import socket
import urllib.request
import zipfile
from contextlib import contextmanager
from pathlib import Path

from gm_build.data.bars import DownloadBar
from gm_build.data.errors import FetchError, classify
from gm_build.data.sources import UrlFile, UrlSource

__all__ = ["TIMEOUT_S", "fetch_url_source", "fetch_celeba_drive"]

TIMEOUT_S = 30.0  # per socket operation
_USER_AGENT = "gm-lab make data (torchvision URLs)"


@contextmanager
def _socket_timeout(seconds: float):
    """torchvision's Google Drive download opens sockets without a timeout: bound them meanwhile."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _get(url: str, dest: Path) -> str:
    """Stream ``url`` into ``dest`` with a bar; returns the MD5 of what was written."""
    md5 = hashlib.md5(usedforsecurity=False)
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with DownloadBar(total=total, desc=url.rsplit("/", 1)[-1]) as bar:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                md5.update(chunk)
                bar.update(len(chunk))
        if total is not None and out.tell() != total:
            raise ConnectionError(f"the server closed the connection after {out.tell()} of {total} bytes")
    return md5.hexdigest()


def fetch_url_source(source: UrlSource, staging: Path) -> dict:
    """Every file of ``source`` into ``staging`` (gunzipped where torchvision serves .gz); returns SOURCE.json's fields.

    Raises:
        FetchError: unreachable, HTTP error, or an MD5 that is not torchvision's.
    """
    record = {}
    for item in source.files:
        target = staging / item.target
        target.parent.mkdir(parents=True, exist_ok=True)
        download = target.with_name(target.name + (".gz" if item.gunzip else "") + ".part")
        try:
            md5 = _get(item.url, download)
        except Exception as error:
            raise FetchError(source.label, *classify(error)) from None
        if md5 != item.md5:
            raise FetchError(source.label, "checksum", f"{item.url} has MD5 {md5}, torchvision expects {item.md5}")
        _finish(item, download, target)
        record[item.target] = {"url": item.url, "md5": md5}
    return {"source": "url", "files": record}


def _finish(item: UrlFile, download: Path, target: Path) -> None:
    if not item.gunzip:
        download.rename(target)
        return
    with gzip.open(download, "rb") as packed, open(target, "wb") as out:
        shutil.copyfileobj(packed, out)
    download.unlink()


def fetch_celeba_drive(staging: Path) -> dict:
    """CelebA's aligned images and partition from its Google Drive, with torchvision's downloader and MD5s.

    Raises:
        FetchError: Google Drive refused (quota, login) or the connection failed.
    """
    import importlib.util

    from torchvision.datasets import CelebA
    from torchvision.datasets.utils import download_file_from_google_drive

    label = "torchvision's Google Drive files for CelebA"
    if importlib.util.find_spec("gdown") is None:  # torchvision's Drive download needs it; it is not pinned here
        raise FetchError(label, "skipped", "torchvision's Google Drive download needs the gdown package")
    wanted = {"img_align_celeba.zip", "list_eval_partition.txt"}
    folder = staging  # the staged celeba/ folder
    folder.mkdir(parents=True, exist_ok=True)
    record = {}
    try:
        with _socket_timeout(TIMEOUT_S):
            for file_id, md5, name in CelebA.file_list:
                if name in wanted:
                    download_file_from_google_drive(file_id, str(folder), name, md5)
                    record[name] = {"google_drive_id": file_id, "md5": md5}
    except Exception as error:
        raise FetchError(label, *classify(error)) from None
    with zipfile.ZipFile(folder / "img_align_celeba.zip") as archive:
        for member in archive.namelist():  # only the images, by their plain names: nothing from the zip picks a path
            name = member.rsplit("/", 1)[-1]
            if member.startswith("img_align_celeba/") and name.endswith(".jpg") and name[:-4].isdigit():
                (folder / "img_align_celeba").mkdir(exist_ok=True)
                (folder / "img_align_celeba" / name).write_bytes(archive.read(member))
    (folder / "img_align_celeba.zip").unlink()
    return {"source": "google_drive", "files": record}
