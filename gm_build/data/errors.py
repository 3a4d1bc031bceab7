"""One-line failures of ``make data``: the source, what went wrong (offline, quota, 404, checksum, schema), the fix."""

from __future__ import annotations

__all__ = ["FetchError", "classify"]

_FIXES = {
    "offline": "check the connection (and http_proxy / https_proxy), then run make data again",
    "quota": "the server limits downloads now: wait an hour or use the other source, then run make data again",
    "404": "the file is not at the pinned revision: update the pins (GM_DATA_PINS) or report it",
    "checksum": "the download was damaged or the mirror changed: run make data again (the file is fetched anew)",
    "schema": "the mirror holds other data than pinned: pin another revision (GM_DATA_PINS) or report it",
    "skipped": "pip install gdown to use this source too, or rely on the others",
    "failed": "run make data again; if it persists, report the line above",
}


class FetchError(Exception):
    """A source could not deliver a dataset; ``str()`` is one line: ``<source>: <kind>: <what>; <fix>``."""

    def __init__(self, source: str, kind: str, what: str):
        self.source, self.kind, self.what = source, kind, " ".join(str(what).split())[:240]
        super().__init__(f"{source}: {kind}: {self.what}; {_FIXES.get(kind, _FIXES['failed'])}")


def classify(error: BaseException) -> tuple[str, str]:
    """``(kind, what)`` for an exception raised by urllib, huggingface_hub or httpx while fetching."""
    from urllib.error import HTTPError, URLError

    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(error, HTTPError):
        status = error.code
    name, text = type(error).__name__, (str(error).strip().splitlines() or [""])[0]
    if status in (403, 429) or "quota" in text.lower():
        return "quota", f"HTTP {status}: {text}"
    if status == 404 or name in ("EntryNotFoundError", "RemoteEntryNotFoundError", "RepositoryNotFoundError",
                                 "RevisionNotFoundError"):
        return "404", f"{name}: {text}"
    offline = ("ConnectError", "ConnectTimeout", "ReadTimeout", "TimeoutException", "ProxyError",
               "RemoteProtocolError", "LocalEntryNotFoundError", "OfflineModeIsEnabled", "IncompleteRead")
    if isinstance(error, (URLError, TimeoutError, ConnectionError)) or name in offline:
        return "offline", f"{name}: {text}"
    return "failed", f"{name}: {text}"
