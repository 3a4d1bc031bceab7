"""Where things live on disk. Every path the project writes or reads starts here.

Environment variables (all optional):
    GM_DATA_DIR   dataset root in torchvision's raw layout (default: <repo>/data)
    GM_CACHE_DIR  checkpoints, converted weights, cached statistics (default: <repo>/checkpoints)
"""

import os
from pathlib import Path

__all__ = ["repo_root", "data_root", "cache_dir", "figures_dir"]


def repo_root() -> Path:
    """The checkout that holds this package (gm_lib is installed in editable mode)."""
    return Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """Dataset root: ``$GM_DATA_DIR`` if set, else ``<repo>/data``."""
    return Path(os.environ.get("GM_DATA_DIR") or repo_root() / "data").expanduser().resolve()


def cache_dir(*parts: str) -> Path:
    """A folder under ``$GM_CACHE_DIR`` (default ``<repo>/checkpoints``), created on demand."""
    root = Path(os.environ.get("GM_CACHE_DIR") or repo_root() / "checkpoints").expanduser()
    path = root.joinpath(*parts).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def figures_dir(run_name: str) -> Path:
    """``<repo>/figures/<run_name>``, created on demand."""
    path = repo_root() / "figures" / run_name
    path.mkdir(parents=True, exist_ok=True)
    return path
