"""Shared fixtures. Tests never reach outside 127.0.0.1: gm_lib's loaders never download, and the tests of
``make data`` (tests/test_make_data.py) talk only to a Hub they start on 127.0.0.1."""

import shutil

import pytest
import torch

from gm_lib.paths import data_root


def pytest_addoption(parser):
    parser.addoption("--browser", action="store_true",
                     help="run the tests marked browser (JupyterLab and report.html in chromium): make test-browser")


def pytest_collection_modifyitems(config, items):
    """Browser tests run only with --browser (make test-browser), so plain pytest / make test skip them."""
    if config.getoption("--browser"):
        return
    skip = pytest.mark.skip(reason="browser test: run by `make test-browser` (pytest --browser)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def _has_mirror(folder: str) -> bool:
    return (data_root() / folder / "raw" / "train-images-idx3-ubyte").exists()


@pytest.fixture
def mnist_root():
    """The offline mirror root, or a skip with the reason when GM_DATA_DIR lacks MNIST."""
    if not _has_mirror("MNIST"):
        pytest.skip(f"MNIST mirror not found under {data_root()}: set GM_DATA_DIR=../shared/data")
    return data_root()


@pytest.fixture
def fashion_root():
    if not _has_mirror("FashionMNIST"):
        pytest.skip(f"Fashion-MNIST mirror not found under {data_root()}: set GM_DATA_DIR=../shared/data")
    return data_root()


# Device-dependent code runs on every device present: the CPU always, CUDA when a GPU is visible.
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Each available device in turn (``cpu``; ``cuda`` when present)."""
    return request.param


@pytest.fixture
def one_thread():
    """Torch on one thread for the test (tiny nets on a shared 2-core CPU), restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """A copy of gm_lib that the key functions read as "the files on disk" instead of the real one (edits stay in
    the copy; the code this process imported is the real one's). Caches go to ``tmp_path/cache``."""
    from gm_lib import code_graph

    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path / "cache"))
    copy = tmp_path / "gm_lib"
    shutil.copytree(code_graph.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(code_graph, "PACKAGE", copy)
    return copy
