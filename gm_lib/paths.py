"""Where things live on disk. Every path the project writes or reads starts here.

Environment variables (all optional):
    GM_DATA_DIR   dataset root in torchvision's raw layout (default: <repo>/data)
    GM_CACHE_DIR  checkpoints, converted weights, cached statistics (default: <repo>/checkpoints)
"""

import os
from pathlib import Path

__all__ = ["CACHED_RESULTS", "repo_root", "data_root", "cache_dir", "figures_dir"]

# What the cache holds besides trained runs (``cache_dir("runs")``), each a flat folder of files named by their
# key: FID reference statistics and real-vs-real floors (gm_lib.metrics.fid) and domain classifiers
# (gm_lib.metrics.classifiers). ``make pack`` ships these with the runs; the FID weights (``fid/``, made by
# ``make setup``) and decoded datasets (``celeba64/``) never travel.
CACHED_RESULTS: dict[str, tuple[str, ...]] = {"fid_stats": ("*.npz", "*.json"), "classifiers": ("*.pt",)}


def repo_root() -> Path:
    """The checkout that holds this package (gm_lib is installed in editable mode)."""
    return Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """Dataset root: ``$GM_DATA_DIR`` if set, else ``<repo>/data``."""
    return Path(os.environ.get("GM_DATA_DIR") or repo_root() / "data").expanduser().resolve()


def cache_dir(*parts: str, create: bool = True) -> Path:
    """A folder under ``$GM_CACHE_DIR`` (default ``<repo>/checkpoints``), created on demand unless ``create=False``."""
    root = Path(os.environ.get("GM_CACHE_DIR") or repo_root() / "checkpoints").expanduser()
    path = root.joinpath(*parts).resolve()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def figures_dir(run_name: str) -> Path:
    """``<repo>/figures/<run_name>``, created on demand."""
    path = repo_root() / "figures" / run_name
    path.mkdir(parents=True, exist_ok=True)
    return path
