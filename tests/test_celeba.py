"""CelebA 64×64 on a synthetic JPEG folder in torchvision's layout: the loader's crop and resize against
hand-computed pixels, its errors, and notebook 04 with dataset=celeba through the report runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from gm_lib.celeba import CELEBA_CROP, CELEBA_SIZE, preprocess_celeba
from gm_lib.data import DatasetCorrupt, DatasetUnavailable, DataSpec, load_dataset
from gm_lib.paths import repo_root

WIDTH, HEIGHT = 178, 218  # the aligned CelebA images
SPLIT_SIZES = {"train": 72, "valid": 8, "test": 70}  # >= 64 (smoke fid_n) in train and test


def _ramp_image() -> np.ndarray:
    """uint8 (218, 178, 3): red rises 3 per column from x = 50, green 2 per row from y = 60, blue 100."""
    x, y = np.meshgrid(np.arange(WIDTH), np.arange(HEIGHT))
    return np.stack([np.clip(3 * (x - 50), 0, 255), np.clip(2 * (y - 60), 0, 255), np.full_like(x, 100)], -1).astype(
        np.uint8
    )


def _face(rng: np.random.Generator) -> Image.Image:
    """A face-like 178×218 image: a skin-toned ellipse with two dark eyes on a coloured background."""
    image = Image.new("RGB", (WIDTH, HEIGHT), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    cx, cy = 89 + rng.integers(-8, 9), 109 + rng.integers(-8, 9)
    rx, ry = rng.integers(40, 56), rng.integers(52, 70)
    skin = tuple(int(v) for v in (rng.integers(150, 256), rng.integers(100, 200), rng.integers(60, 160)))
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=skin)
    for side in (-1, 1):
        draw.ellipse((cx + side * 20 - 6, cy - 20, cx + side * 20 + 6, cy - 12), fill=(30, 20, 20))
    draw.ellipse((cx - 16, cy + 24, cx + 16, cy + 32), fill=(150, 40, 50))
    return image


def write_celeba(root: Path, sizes: dict[str, int] = SPLIT_SIZES, seed: int = 0) -> Path:
    """A CelebA folder in torchvision's layout under ``root``; the first test image is :func:`_ramp_image`."""
    folder = root / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    rng, lines, index = np.random.default_rng(seed), [], 1
    for code, split in enumerate(("train", "valid", "test")):
        for i in range(sizes[split]):
            name = f"{index:06d}.jpg"
            image = Image.fromarray(_ramp_image()) if (split == "test" and i == 0) else _face(rng)
            image.save(folder / name, "JPEG", quality=100, subsampling=0)
            lines.append(f"{name} {code}")
            index += 1
    (root / "celeba" / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def celeba_root(tmp_path, monkeypatch):
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path / "cache"))
    return write_celeba(tmp_path / "data")


def test_crop_and_resize_match_hand_computed_pixels():
    # Output pixel (r, c) is centred on source x = 19 + (c + 0.5) * 140/64 - 0.5 (crop box (19, 39, 159, 179)),
    # y = 39 + (r + 0.5) * 140/64 - 0.5. Lanczos weights are symmetric and sum to 1, so on a linear ramp the
    # output is the ramp at that centre: R(c=31) = 3 * (87.40625 - 50) = 112.22, G(r=31) = 2 * (107.40625 - 60)
    # = 94.81. A crop one pixel off moves R by 3 and G by 2.
    out = preprocess_celeba(Image.fromarray(_ramp_image())).astype(float)
    assert out.shape == (CELEBA_SIZE, CELEBA_SIZE, 3) and CELEBA_CROP == 140
    assert out[31, 31, 0] == pytest.approx(112.22, abs=1.0)
    assert out[31, 31, 1] == pytest.approx(94.81, abs=1.0)
    assert np.all(out[..., 2] == 100)
    centres = 19 + (np.arange(20, 45) + 0.5) * 140 / 64 - 0.5  # columns where the red ramp is unclipped
    assert np.abs(out[40, 20:45, 0] - 3 * (centres - 50)).max() <= 1.0


def test_loader_layout_splits_dtype_and_jpeg_pixels(celeba_root):
    test = load_dataset("celeba", "test", root=celeba_root)
    assert len(test) == SPLIT_SIZES["test"] and test.shape == (3, 64, 64) and test.images.dtype == torch.uint8
    assert len(load_dataset("celeba", "valid", root=celeba_root)) == SPLIT_SIZES["valid"]
    x, y = test.tensors()
    assert x.dtype == torch.float32 and 0.0 <= x.min() and x.max() <= 1.0 and torch.all(y == 0)
    # The ramp went through JPEG (quality 100, no chroma subsampling): within 2 grey levels of the exact value.
    assert float(x[0, 0, 31, 31]) * 255 == pytest.approx(112.22, abs=2.0)
    assert float(x[0, 1, 31, 31]) * 255 == pytest.approx(94.81, abs=2.0)
    train = load_dataset("celeba", "train", root=celeba_root)
    assert torch.equal(train.images[:5], load_dataset("celeba", "train", n=5, root=celeba_root).images)
    assert DataSpec("celeba", "train", n=5).name == "celeba"


def test_decoded_split_is_cached_and_rebuilt_when_files_change(celeba_root, tmp_path):
    first = load_dataset("celeba", "test", n=3, root=celeba_root).images
    cached = list((tmp_path / "cache" / "celeba64").glob("test-n3-*.pt"))
    assert len(cached) == 1
    assert torch.equal(load_dataset("celeba", "test", n=3, root=celeba_root).images, first)
    # Replace the ramp by a black image: a new cache entry, new pixels.
    Image.new("RGB", (WIDTH, HEIGHT)).save(celeba_root / "celeba" / "img_align_celeba" / "000081.jpg", quality=50)
    changed = load_dataset("celeba", "test", n=3, root=celeba_root).images
    assert changed[0].max() <= 2 and torch.equal(changed[1:], first[1:])


def _equal_size_jpegs(a: Image.Image, b: Image.Image) -> tuple[bytes, bytes]:
    """Two JPEG files of exactly the same length (the shorter padded after its end marker, which decoders ignore)."""
    import io

    encoded = []
    for image in (a, b):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        encoded.append(buffer.getvalue())
    length = max(map(len, encoded))
    return tuple(data + b"\0" * (length - len(data)) for data in encoded)


def test_a_jpeg_replaced_by_one_of_equal_size_is_decoded_again(celeba_root):
    path = celeba_root / "celeba" / "img_align_celeba" / "000081.jpg"  # the first test image
    white, black = _equal_size_jpegs(Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255)),
                                     Image.new("RGB", (WIDTH, HEIGHT)))
    path.write_bytes(white)
    assert load_dataset("celeba", "test", n=2, root=celeba_root).images[0].min() >= 250
    path.write_bytes(black)  # same name, same size, other pixels
    assert path.stat().st_size == len(white)
    assert load_dataset("celeba", "test", n=2, root=celeba_root).images[0].max() <= 5


def test_the_cache_key_follows_the_decoding_code_and_pil(celeba_root, monkeypatch, tmp_path):
    import shutil

    import PIL

    import gm_lib.celeba as celeba
    from gm_lib import code_graph

    paths = sorted((celeba_root / "celeba" / "img_align_celeba").glob("*.jpg"))[:4]
    key = celeba.cache_path("train", paths)
    assert celeba.cache_path("train", paths) == key  # deterministic
    # The decoding code with its crop box moved by one pixel, read as a fresh kernel would: another key.
    copy = tmp_path / "gm_lib"
    shutil.copytree(code_graph.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(code_graph, "PACKAGE", copy)
    source = (copy / "celeba.py").read_text()
    edited = source.replace("left, top = (width - CELEBA_CROP) // 2, (height - CELEBA_CROP) // 2",
                            "left, top = (width - CELEBA_CROP) // 2 + 1, (height - CELEBA_CROP) // 2")
    assert edited != source
    (copy / "celeba.py").write_text(edited)
    with code_graph.reading_disk():
        assert celeba.cache_path("train", paths) != key
    assert celeba.cache_path("train", paths) == key  # this process still decodes with the code it imported
    monkeypatch.setattr(PIL, "__version__", "0.0.1")
    assert celeba.cache_path("train", paths) != key


def test_missing_celeba_names_the_folder_and_the_fix(tmp_path):
    with pytest.raises(DatasetUnavailable, match=r"'celeba' not found under .*: run make data DATASETS=celeba, or put "
                                                 r"img_align_celeba/ and list_eval_partition.txt in "):
        load_dataset("celeba", "train", root=tmp_path)


def test_damaged_celeba_files_are_named(celeba_root):
    images = celeba_root / "celeba" / "img_align_celeba"
    (images / "000002.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetCorrupt, match=r"000002\.jpg cannot be read"):
        load_dataset("celeba", "train", root=celeba_root)
    (images / "000003.jpg").unlink()
    with pytest.raises(DatasetCorrupt, match=r"missing from .*first: 000003\.jpg"):
        load_dataset("celeba", "train", root=celeba_root)
    (celeba_root / "celeba" / "list_eval_partition.txt").write_text("000001.jpg train\n")
    with pytest.raises(DatasetCorrupt, match=r"line 1: '000001\.jpg train'"):
        load_dataset("celeba", "train", root=celeba_root)


@pytest.mark.slow
def test_notebook_04_on_synthetic_celeba_through_the_report_runner(tmp_path, monkeypatch):
    from gm_build.report import main as report_main
    from gm_build.report.run import check_kernel
    from gm_lib.metrics.inception import WEIGHTS_NAME, find_fid_weights

    check_kernel()
    try:
        weights = find_fid_weights()
    except Exception as error:  # FIDWeightsMissing: the test needs `make setup`'s converted weights
        pytest.skip(str(error))
    (tmp_path / "cache" / "fid").mkdir(parents=True)
    (tmp_path / "cache" / "fid" / WEIGHTS_NAME).symlink_to(weights)
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path / "cache"))  # the kernel inherits both
    monkeypatch.setenv("GM_DATA_DIR", str(write_celeba(tmp_path / "data")))
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(json.dumps({"seed": 0, "runs": [{
        "name": "wae_celeba", "notebook": str(repo_root() / "notebooks" / "04_wae_vs_vae.ipynb"),
        "title": "WAE vs VAE on synthetic CelebA", "parameters": {"dataset": "celeba"}}]}))
    status = report_main(["--profile", "smoke", "--manifest", str(manifest), "--reports-dir", str(tmp_path / "reports"),
                          "--figures-dir", str(tmp_path / "figures")])
    assert status == 0
    results = json.loads((tmp_path / "figures" / "wae_celeba" / "results.json").read_text())
    assert results["profile"] == "smoke" and results["run_name"] == "wae_celeba"
    models = {"ae_celeba_vae": "VAE", "ae_celeba_wae_mmd_imq": "WAE-MMD (IMQ)", "ae_celeba_wae_gan": "WAE-GAN"}
    metrics, meta = results["metrics"], results["metric_meta"]
    for key, label in models.items():
        assert np.isfinite(metrics[f"fid/{key}"]) and metrics[f"fid/{key}"] > 0
        assert meta[f"fid/{key}"]["model"] == label and meta[f"fid/{key}"]["dataset"] == "celeba"
        assert meta[f"fid/{key}"]["n"] == 64
        assert meta[f"fid/{key}"]["split"] == "celeba:test" and meta[f"fid/{key}"]["preview"]
        # Sum of squared errors over 3·64·64 pixels in [0, 1]: positive, below the all-wrong 12,288.
        assert 0 < metrics[f"mse/{key}"] < 3 * 64 * 64
    assert {f"fid/{k}" for k in models} | {"fid/real", "sharpness/real"} <= set(metrics)
    assert not any(name.startswith("fid/ae_celeba_latent") for name in metrics)  # the paper's three models only
    config = json.dumps(results["config"])
    assert "lambda_reg=100.0" in config and "lambda_reg=1.0" in config and "latent_dim=64" in config
    assert {f["file"] for f in results["figures"]} >= {"samples.png", "reconstructions.png"}
    for figure in results["figures"]:
        assert (tmp_path / "figures" / "wae_celeba" / figure["file"]).stat().st_size > 0
    # The report puts the paper's numbers beside ours, model by model.
    from gm_build.report.build import _fmt

    text = (tmp_path / "reports" / "report.md").read_text()
    assert f"| VAE | 63 | 0.003 | {_fmt(metrics['fid/ae_celeba_vae'])} | 64 |" in text
    assert f"| WAE-GAN | 42 | 0.006 | {_fmt(metrics['fid/ae_celeba_wae_gan'])} | 64 |" in text


def test_published_celeba_numbers_sit_beside_the_run_even_when_not_run(tmp_path):
    from gm_build.report.build import ReportContext, render_markdown
    from gm_build.report.manifest import RunSpec
    from gm_build.report.published import published_table
    from gm_build.report.run import Outcome

    results = {"metrics": {"fid/ae_celeba_vae": 70.5, "sharpness/ae_celeba_vae": 0.002, "fid/real": 3.0},
               "metric_meta": {"fid/ae_celeba_vae": {"model": "VAE", "n": 2048},
                               "sharpness/ae_celeba_vae": {"model": "VAE"}, "fid/real": {"model": "real", "n": 2048}}}
    columns, rows, caption = published_table("celeba", results)
    by_model = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
    assert [r[0] for r in rows] == ["VAE", "WAE-MMD (IMQ)", "WAE-GAN", "real"]
    assert [by_model[m]["published FID"] for m in ("VAE", "WAE-MMD (IMQ)", "WAE-GAN", "real")] == [63, 55, 42, 2]
    assert by_model["VAE"]["our FID"] == 70.5 and by_model["VAE"]["our N"] == 2048
    assert by_model["VAE"]["our sharpness"] == 0.002 and by_model["WAE-GAN"]["our FID"] == "—"
    assert "Tolstikhin" in caption and published_table("mnist", results) == ([], [], "")

    spec = RunSpec("wae_celeba", repo_root() / "notebooks" / "04_wae_vs_vae.ipynb", {"dataset": "celeba"}, "CelebA")
    outcome = Outcome(spec, "unavailable", tmp_path / "figures" / "wae_celeba", reason="dataset 'celeba' not found",
                      fix="put img_align_celeba/ in /d/celeba")
    text = render_markdown([outcome], ReportContext("smoke", 0, "cpu", "auto", 1.0, "now", "abc"), tmp_path)
    section = text[text.index('<h2 id="run-wae-celeba">'):]
    assert "| WAE-GAN | 42 | 0.006 | — | — | — |" in section and "**Fix:** put img_align_celeba/" in section


def test_celeba_runs_use_the_wae_papers_setting_and_other_datasets_keep_theirs():
    from gm_lib.experiments import WAE_PAPER_CELEBA, autoencoder_runs, wae_vs_vae_runs
    from gm_lib.profiles import get_profile

    profile = get_profile("smoke", precision="fp32")
    runs = wae_vs_vae_runs("celeba", profile, device="cpu")
    assert list(runs) == ["VAE", "WAE-MMD (IMQ)", "WAE-GAN"]
    models = {label: run.model for label, run in runs.items()}
    assert {m.image_shape for m in models.values()} == {(3, 64, 64)}
    assert {m.latent_dim for m in models.values()} == {64} == {WAE_PAPER_CELEBA.latent_dim}
    assert models["WAE-MMD (IMQ)"].penalty == "mmd_imq" and models["WAE-MMD (IMQ)"].lambda_reg == 100.0
    assert models["WAE-GAN"].penalty == "gan" and models["WAE-GAN"].lambda_reg == 1.0
    assert models["VAE"].likelihood == "gaussian"
    assert {(r.data.split, r.val.split) for r in runs.values()} == {("train", "valid")}
    assert wae_vs_vae_runs("mnist", profile, device="cpu") == autoencoder_runs("mnist", profile, device="cpu")
