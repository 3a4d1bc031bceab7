"""Generated files are readable by everyone (0644), like every other file the project writes."""

import os
import stat
from pathlib import Path

import pytest

from gm_lib.metrics import classifiers
from gm_lib.profiles import get_profile
from gm_lib.results import Recorder


@pytest.fixture
def umask_022():
    old = os.umask(0o022)  # the usual umask; the files must not be stricter than it
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_results_json_is_0644(tmp_path, umask_022):
    path = Recorder(tmp_path / "out", "unit", get_profile("smoke"), seed=0).save(wall_time=1.0)
    assert _mode(path) == 0o644


def test_cached_classifier_is_0644(tmp_path, monkeypatch, umask_022, mnist_root):
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path))
    untrained = lambda config: classifiers.Classifier(config, (1, 28, 28)).eval()  # skip the 1-2 min training
    monkeypatch.setattr(classifiers, "train_classifier", untrained)
    classifiers.get_classifier("mnist")
    (path,) = (tmp_path / "classifiers").glob("mnist-*.pt")
    assert _mode(path) == 0o644
