"""The explorers (gm_lib.explore) without a browser: what they draw changes with their controls, headless shows a
static figure, clicks find the nearest point; and the first page's cache state (gm_build.course)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from gm_build.course import cache_state, course_table
from gm_lib import explore, toy
from gm_lib.experiments import AUTOENCODER_MODELS, GAN_MODELS
from gm_lib.explore.drawing import encode_png
from gm_lib.models import VAEConfig, WAEConfig
from gm_lib.paths import repo_root


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _changed(a: bytes, b: bytes) -> float:
    """Share of pixels that differ by more than 2 levels (0 when the two PNGs show the same picture)."""
    x, y = _pixels(a), _pixels(b)
    return float((np.abs(x - y).max(axis=2) > 2).mean()) if x.shape == y.shape else 1.0


@pytest.fixture
def vae(device):
    """A small untrained VAE on each device present (the explorers move their inputs to the model's device)."""
    torch.manual_seed(0)
    return VAEConfig(image_shape=(1, 28, 28), latent_dim=4, likelihood="bernoulli").build().to(device).eval()


@pytest.fixture(scope="module")
def images():
    return torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_a_control_default_must_be_one_of_its_options():
    with pytest.raises(ValueError, match="default"):
        explore.Explorer("x", [explore.Control("a", "a", [1, 2], 3)], lambda values: (b"", ""))


def test_the_widget_warms_the_caches_and_redraws_when_a_control_moves():
    drawn, warmed = [], []

    def draw(values):
        drawn.append(values["a"])
        return encode_png(Image.new("RGB", (4, 4), (values["a"] * 50, 0, 0))), f"a = {values['a']}"

    explorer = explore.Explorer("x", [explore.Control("a", "a", [1, 2, 3], 1)], draw, warm=lambda: warmed.append(1))
    box = explorer.widget()
    assert warmed == [1] and "gm-explorer" in box._dom_classes
    image, caption = box.children[2].children
    before = image.value
    box.children[1].children[0].value = 3  # the slider moved
    assert drawn == [1, 3] and caption.value == "a = 3" and _changed(before, image.value) == 1.0


def test_outside_a_kernel_the_explorer_is_static_unless_forced(monkeypatch):
    monkeypatch.delenv("GM_EXPLORE", raising=False)
    assert not explore.interactive_frontend()
    monkeypatch.setenv("GM_EXPLORE", "widgets")
    assert explore.interactive_frontend()


def test_vae_explorer_redraws_on_a_walk_and_reports_the_digits_bounds(vae, images):
    explorer = explore.vae_explorer(vae, images, k=10, dims=2)
    start, text = explorer.view()
    assert "−ELBO" in text and "NLL, K = 10" in text
    walked, _ = explorer.view(z0=4.0)
    assert _changed(start, walked) > 0.001
    other, _ = explorer.view(z0=0.0, index=3)
    assert _changed(start, other) > 0.01
    assert len(explorer.redraw_s) == 3
    html, png = explorer.static()
    assert type(png).__name__ == "Image" and "static view" in html.data


def test_toy_explorer_needs_the_critics_and_draws_each_theta(images):
    thetas = [0.0, 0.5]
    settings = dict(steps=3, batch_size=16, eval_batches=2)
    h = toy.estimate_curve(thetas, "hellinger", **settings)
    w = toy.estimate_curve(thetas, "wasserstein", **settings)
    assert len(h[0].critic) == len(toy.CRITIC_X)
    explorer = explore.toy_explorer(thetas, h, w)
    assert explorer.values["theta"] == 0.5
    a, text = explorer.view()
    assert "true W1 = |θ|" in text and "0.500" in text
    b, _ = explorer.view(theta=0.0)
    assert _changed(a, b) > 0.001
    bare = [toy.Estimate(1.0, 0.1, (1.0,))] * 2
    with pytest.raises(ValueError, match="critic"):
        explore.toy_explorer(thetas, bare, bare)


def test_autoencoder_explorer_decodes_one_code_by_every_model(vae, images):
    torch.manual_seed(1)
    wae = WAEConfig(image_shape=(1, 28, 28), latent_dim=4, penalty="mmd_rbf").build().to(vae.device).eval()
    explorer = explore.autoencoder_explorer({"VAE": vae, "WAE": wae}, images, dims=4)
    a, text = explorer.view()
    assert "VAE encoder of test image 0" in text
    b, _ = explorer.view(z1=-2.0)
    assert _changed(a, b) > 0.001
    c, text = explorer.view(source="WAE")
    assert "WAE encoder" in text and _changed(b, c) > 0.001


def test_tsne_explorer_click_selects_the_nearest_point(images):
    points = {"m": np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])}
    labels = np.array([0, 1, 2, 3])
    explorer = explore.tsne_explorer(points, {"m": (images[:4], labels)})
    first, text = explorer.view()
    assert "label</td><td><b>0" in text
    # Clicking near the top-right of the map's axes picks point 1 (1, 1); a click beside the map picks nothing.
    width = _pixels(first).shape[1]
    map_width = width - 200
    assert explorer._on_click(explorer.values, 0.95 * map_width / width, 0.1) == {"point": 1}
    assert explorer._on_click(explorer.values, 0.99, 0.5) is None
    second, text = explorer.view(point=1)
    assert "label</td><td><b>1" in text and _changed(first, second) > 0.001


def test_a_notebook_run_with_device_auto_finds_the_models_make_report_trained():
    """The runner passes the device resolved (``cpu``/``cuda``), the Lab the notebook's default ``auto``."""
    from gm_build.report.manifest import resolve_device
    from gm_lib.experiments import gan_runs, vae_bmnist_run
    from gm_lib.profiles import get_profile

    smoke, resolved = get_profile("smoke"), resolve_device("auto")
    assert vae_bmnist_run(smoke, device="auto").directory == vae_bmnist_run(smoke, device=resolved).directory
    assert gan_runs("mnist", smoke)["DCGAN"].directory == gan_runs("mnist", smoke, device=resolved)["DCGAN"].directory


def test_cache_state_lists_every_manifest_run_and_finds_nothing_in_an_empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path))
    rows = cache_state("smoke", device="cpu")
    names = [row["run"] for row in rows]
    assert names[:3] == ["vae_bmnist", "toy", "wgan_fashion_mnist"] and "tsne" in names
    by_name = {row["run"]: row for row in rows}
    models = {"toy": 0, "tsne": 1 + len(AUTOENCODER_MODELS), "wgan_fashion_mnist": len(GAN_MODELS)}  # 05: 01's VAE too
    assert {name: by_name[name]["total"] for name in models} == models
    assert all(row["trained"] == 0 for row in rows)
    assert by_name["vae_bmnist"]["cold_min"] == 0.6
    table = course_table("smoke", device="cpu")
    assert table.data.loc[0, "models (smoke)"] == "0 of 1 trained (to train: VAE)"
    assert "01_vae_binarized_mnist.ipynb" in table.to_html()


def test_first_page_is_a_short_notebook_that_calls_the_library():
    cells = json.loads((repo_root() / "notebooks" / "00_start.ipynb").read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert "course_table(" in "".join(code[-1]["source"]) and len(code) == 2
    for chapter in sorted((repo_root() / "notebooks").glob("0[1-9]_*.ipynb")):
        assert f"]({chapter.name})" in "".join(cells[0]["source"]), f"00_start does not link {chapter.name}"


def test_lab_overrides_turn_off_the_news_prompt():
    settings = json.loads((repo_root() / "lab" / "overrides.json").read_text())
    assert settings["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
