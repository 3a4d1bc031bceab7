"""FID/KID: converted weights equal the TorchScript original, known answers, input contract."""

import warnings

import numpy as np
import pytest
import torch

from gm_lib.metrics.fid import (
    FIDResult,
    feature_statistics,
    fid,
    fid_floor,
    frechet_distance,
    inception_features,
    kernel_inception_distance,
    quantize_images,
)
from gm_lib.metrics.inception import FIDWeightsMissing, find_fid_weights, load_fid_inception, torchscript_path


@pytest.fixture(scope="module")
def weights():
    try:
        return find_fid_weights()
    except FIDWeightsMissing as error:
        pytest.fail(str(error))


# ---------------------------------------------------------------- pure maths


def test_frechet_identical_gaussians_is_zero():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8))
    mu, sigma = feature_statistics(a)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8


def test_frechet_equal_covariances_is_squared_mean_distance():
    sigma = np.diag([1.0, 2.0, 3.0])
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, -2.0])
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(9.0, abs=1e-8)


def test_frechet_diagonal_closed_form():
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    expected = (1 - 3) ** 2 + (2 - 1) ** 2  # Tr(S1 + S2 - 2 sqrt(S1 S2)) for commuting diagonals
    assert frechet_distance(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(expected, abs=1e-8)


def test_frechet_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="mismatched"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def _low_rank_plus_noise(rng, n, d, rank=32):
    """Statistics of ``n`` samples of a rank-``rank`` Gaussian in ``d`` dims plus isotropic noise (like features)."""
    x = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)) + 0.3 * rng.normal(size=(n, d)) + rng.normal(size=d)
    return feature_statistics(x)


@pytest.mark.parametrize("n, d", [(1024, 256), (200, 256)])  # full rank, and singular (N < d) covariances
def test_frechet_matches_pytorch_fid(n, d):
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(d + n)
    a, b = _low_rank_plus_noise(rng, n, d), _low_rank_plus_noise(rng, n, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's "singular matrix" notice for N < d
        expected = float(calculate_frechet_distance(*a, *b))
    assert frechet_distance(*a, *b) == pytest.approx(expected, rel=1e-6)


@pytest.mark.slow
def test_frechet_matches_pytorch_fid_at_inception_size():
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(2048)
    a, b = _low_rank_plus_noise(rng, 2048, 2048, rank=64), _low_rank_plus_noise(rng, 2048, 2048, rank=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = float(calculate_frechet_distance(*a, *b))
    assert frechet_distance(*a, *b) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_frechet_non_finite_statistics_raise_where_pytorch_fid_returns_non_finite(bad):
    from pytorch_fid.fid_score import calculate_frechet_distance

    mu, sigma = np.zeros(4), np.eye(4)
    broken = sigma.copy()
    broken[0, 0] = bad
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not np.isfinite(calculate_frechet_distance(mu, sigma, mu, broken))  # pytorch-fid: a NaN "score"
    with pytest.raises(ValueError, match="not finite"):
        frechet_distance(mu, sigma, mu, broken)
    with pytest.raises(ValueError, match="not finite"):
        frechet_distance(np.full(4, bad), sigma, mu, sigma)


def test_frechet_refuses_a_covariance_that_is_not_psd():
    with pytest.raises(ValueError, match="positive semi-definite"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.diag([1.0, -1.0]))


def test_kid_unbiased_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    mean, std = kernel_inception_distance(x, y, n_subsets=50, subset_size=200)
    assert abs(mean) < 3 * std + 1e-3
    shifted_mean, shifted_std = kernel_inception_distance(x, y + 0.5, n_subsets=50, subset_size=200)
    assert shifted_mean > 10 * shifted_std > 0


# ---------------------------------------------------------------- input contract


def test_quantize_matches_image_files_and_repeats_grey():
    x = torch.tensor([0.0, 0.5 / 255, 0.499 / 255, 1.0, 254.6 / 255]).view(1, 1, 1, 5)
    q = quantize_images(x)
    assert q.dtype == torch.uint8 and q.shape == (1, 3, 1, 5)
    assert q[0, 0, 0].tolist() == [0, 1, 0, 255, 255]


@pytest.mark.parametrize("bad, match", [(torch.rand(2, 1, 8, 8) * 2 - 1, r"\(x \+ 1\) / 2"),
                                        (torch.full((2, 1, 8, 8), float("nan")), "NaN"),
                                        (torch.rand(2, 8, 8), "shape")])
def test_out_of_range_or_malformed_images_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        quantize_images(bad)
    with pytest.raises(ValueError, match=match):
        fid(bad, preview=True, kid=False)


def test_fid_refuses_fewer_than_2048_samples():
    with pytest.raises(ValueError, match="at least 2048"):
        fid(torch.rand(100, 1, 28, 28))
    with pytest.raises(ValueError, match="at least 2048"):
        fid_floor("mnist", 500)


def test_result_string_names_n_reference_and_preview():
    text = str(FIDResult(12.345, 0.0123, 0.001, 2048, "mnist:test"))
    assert text == "FID 12.35 (N=2048 vs mnist:test N=2048) KID 0.0123 ± 0.0010"
    assert "PREVIEW" in str(FIDResult(1.0, None, None, 10, "mnist:test", preview=True))


# ---------------------------------------------------------------- the network (needs `make setup`)


def test_converted_weights_match_torchscript(weights):
    if not torchscript_path().is_file():
        pytest.fail(f"{torchscript_path()} missing: run `make setup`")
    ours = load_fid_inception(resize_input=False, normalize_input=False)
    # The TorchScript neither resizes nor scales: both get the same 299x299 input in [-1, 1].
    x = torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with warnings.catch_warnings(), torch.jit.optimized_execution(False), torch.inference_mode():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        original = torch.jit.load(str(torchscript_path()), map_location="cpu").eval()
        a, b = ours(x)[0].flatten(1), original(x)
    assert a.shape == (2, 2048)
    assert ((a - b).norm() / b.norm()).item() < 1e-5


@pytest.fixture(scope="module")
def mnist_features(weights, mnist_root_module):
    from gm_lib.data import load_dataset

    images = load_dataset("mnist", "test", n=64).images
    noise = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return inception_features(images[:32]), inception_features(images[32:]), \
        inception_features(noise)


@pytest.fixture(scope="module")
def mnist_root_module():
    from gm_lib.paths import data_root

    if not (data_root() / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists():
        pytest.skip(f"MNIST mirror not found under {data_root()}: set GM_DATA_DIR=../shared/data")


def test_fid_self_zero_real_small_noise_large(mnist_features):
    a, b, noise = (feature_statistics(f) for f in mnist_features)
    assert abs(frechet_distance(*a, *a)) < 1e-3
    real = frechet_distance(*a, *b)
    fake = frechet_distance(*a, *noise)
    assert 0 < real < fake / 3, (real, fake)
    kid_real, _ = kernel_inception_distance(mnist_features[0], mnist_features[1])
    kid_fake, _ = kernel_inception_distance(mnist_features[0], mnist_features[2])
    assert kid_real < kid_fake / 3


def test_fid_pipeline_preview_on_own_reference_is_zero(weights, mnist_root_module):
    from gm_lib.data import load_dataset

    samples = load_dataset("mnist", "test", n=16).tensors()[0]  # float [0, 1]; quantizes back exactly
    result = fid(samples, "mnist:test", preview=True, kid=False)
    assert result.preview and result.n == 16 and result.reference == "mnist:test"
    assert abs(result.fid) < 1e-3


# ---------------------------------------------------------------- backends (every one that is installed)


def _available_backends():
    from gm_lib.metrics.inception_backends import openvino_available

    return ["torch"] + (["openvino"] if openvino_available() else [])


@pytest.mark.parametrize("backend", _available_backends())
def test_every_backend_gives_pytorch_fids_features(weights, backend):
    """Each backend against pytorch-fid's own InceptionV3 in plain fp32 NCHW on the same 28x28 input."""
    x = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = load_fid_inception("cpu")(x.expand(-1, 3, -1, -1).float() / 255)[0].flatten(1).double().numpy()
    ours = inception_features(x, batch_size=4, device="cpu", backend=backend)  # 2 batches: 4 + 2
    assert ours.shape == (6, 2048) and ours.dtype == np.float64
    assert np.linalg.norm(ours - expected) / np.linalg.norm(expected) < 1e-5


def test_backend_switch(monkeypatch):
    from gm_lib.metrics.inception_backends import openvino_available, resolve_backend

    cpu = torch.device("cpu")
    monkeypatch.setenv("GM_FID_BACKEND", "torch")
    assert resolve_backend(cpu) == "torch"
    monkeypatch.setenv("GM_FID_BACKEND", "auto")
    assert resolve_backend(cpu) == ("openvino" if openvino_available() else "torch")
    assert resolve_backend(torch.device("cuda")) == "torch"
    monkeypatch.setenv("GM_FID_BACKEND", "openvino")
    with pytest.raises(ValueError, match="runs on the CPU"):
        resolve_backend(torch.device("cuda"))
    monkeypatch.setenv("GM_FID_BACKEND", "tensorrt")
    with pytest.raises(ValueError, match="auto, torch, openvino"):
        resolve_backend(cpu)


def test_openvino_ir_is_converted_once_in_fp32(weights):
    pytest.importorskip("openvino")
    from gm_lib.metrics.inception_backends import compile_openvino, ensure_openvino_model

    path = ensure_openvino_model()
    stamp = path.stat().st_mtime_ns
    assert ensure_openvino_model() == path and path.stat().st_mtime_ns == stamp  # read back, not rewritten
    # fp32 weights: 2048-d Inception v3 without fc holds ~21.8 M parameters, 4 bytes each.
    assert path.with_suffix(".bin").stat().st_size > 21_000_000 * 4
    assert not list(path.parent.glob(".openvino-*"))  # no staging folder left behind
    assert str(compile_openvino(28, 28).get_property("INFERENCE_PRECISION_HINT")) in ("<Type: 'float32'>", "f32")


def test_fid_records_its_backend_and_floor_is_cached(weights, mnist_root_module, tmp_path, monkeypatch):
    import importlib

    fid_module = importlib.import_module("gm_lib.metrics.fid")  # the module, not the re-exported function
    monkeypatch.setattr(fid_module, "_stats_dir", lambda: tmp_path)
    first = fid_floor("mnist", 8, preview=True, kid=False)
    assert first.backend == fid_module.feature_backend() and first.source == "mnist:train"
    assert len(list(tmp_path.glob("*floor*.json"))) == 1
    monkeypatch.setattr(fid_module, "score_features", lambda *a, **k: pytest.fail("floor recomputed"))
    assert fid_floor("mnist", 8, preview=True, kid=False) == first


# ---------------------------------------------------------------- KID against its definition


def _kid_brute_force(x: np.ndarray, y: np.ndarray) -> float:
    """Bińkowski et al. 2018, eq. 4, as double sums: pairs i != j within a set, every pair across."""
    m, d = len(x), x.shape[1]
    k = lambda a, b: (a @ b / d + 1.0) ** 3  # noqa: E731
    within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    across = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    return within - 2.0 * across


def test_kid_equals_the_unbiased_double_sum_and_reports_the_subset_sd():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(5, 4)), rng.normal(size=(5, 4)) + 0.3
    # One subset of all 5: a permutation, which the U-statistic does not see.
    mean, std = kernel_inception_distance(x, y, n_subsets=1, subset_size=5)
    assert mean == pytest.approx(_kid_brute_force(x, y), rel=1e-12) and std == 0.0
    # Subsets of 3, drawn as documented; std is the population sd (ddof 0) of the per-subset estimates.
    draw = np.random.default_rng(7)
    values = []
    for _ in range(6):
        i, j = draw.choice(5, 3, replace=False), draw.choice(5, 3, replace=False)
        values.append(_kid_brute_force(x[i], y[j]))
    mean, std = kernel_inception_distance(x, y, n_subsets=6, subset_size=3, seed=7)
    assert mean == pytest.approx(np.mean(values), rel=1e-12)
    assert std == pytest.approx(np.std(values), rel=1e-12) and std > 0


# ---------------------------------------------------------------- full fp32 on CUDA, the cache key


def test_full_fp32_turns_tf32_off_and_restores_it_even_on_error():
    from gm_lib.metrics.inception_backends import full_fp32

    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (matmul.allow_tf32, cudnn.allow_tf32)
    try:
        for before in [(True, True), (False, True), (True, False)]:
            matmul.allow_tf32, cudnn.allow_tf32 = before
            with pytest.raises(RuntimeError, match="inside"), full_fp32():
                assert (matmul.allow_tf32, cudnn.allow_tf32) == (False, False)
                raise RuntimeError("inside")
            assert (matmul.allow_tf32, cudnn.allow_tf32) == before
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved


def test_torch_extractor_runs_the_network_without_tf32(monkeypatch):
    from gm_lib.metrics import inception_backends

    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
            return [torch.zeros(x.shape[0], 2048, 1, 1)]

    monkeypatch.setattr(inception_backends, "load_fid_inception", lambda device: Probe())
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn  # flags monkeypatch cannot restore
    saved = (matmul.allow_tf32, cudnn.allow_tf32)
    try:
        matmul.allow_tf32 = cudnn.allow_tf32 = True
        features = inception_backends._torch_extractor(torch.device("cpu"), preview=False)(torch.rand(2, 3, 8, 8))
        assert features.shape == (2, 2048) and seen == [(False, False)]
        assert matmul.allow_tf32 and cudnn.allow_tf32
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved


def test_reference_cache_names_the_backend_and_the_device_class(monkeypatch, tmp_path):
    import importlib

    fid_module = importlib.import_module("gm_lib.metrics.fid")
    monkeypatch.setattr(fid_module, "_stats_dir", lambda: tmp_path)
    path = lambda backend: fid_module._stats_path("mnist", "test", 2048, False, ("gm_lib.metrics.fid",), ".npz",  # noqa: E731
                                                  backend)
    monkeypatch.setattr(fid_module, "select_device", lambda name="auto": torch.device("cpu"))
    cpu_torch, cpu_openvino = path("torch"), path("openvino")
    assert cpu_torch.name.startswith("mnist-test-n2048-torch-cpu-")
    assert cpu_openvino.name.startswith("mnist-test-n2048-openvino-cpu-")
    for kind in ("cuda", "mps"):
        monkeypatch.setattr(fid_module, "select_device", lambda name="auto", kind=kind: torch.device(kind))
        assert path("torch").name.startswith(f"mnist-test-n2048-torch-{kind}-")
        assert path("openvino") == cpu_openvino  # OpenVINO runs on the CPU whatever the device
    assert len({cpu_torch, cpu_openvino, path("torch")}) == 3


# ---------------------------------------------------------------- command line


def test_cli_refuses_a_folder_with_fewer_images_than_n(tmp_path, capsys):
    from PIL import Image

    from gm_lib.metrics.__main__ import main

    for folder, count in (("few", 3), ("many", 5)):
        (tmp_path / folder).mkdir()
        for i in range(count):
            Image.fromarray(np.full((8, 8), 40 * i, dtype=np.uint8)).save(tmp_path / folder / f"{i}.png")
    code = main(["fid", str(tmp_path / "few"), str(tmp_path / "many"), "--n", "5", "--preview"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in error
    assert "few holds 3 images, fewer than --n 5" in error and "--n 3" in error
