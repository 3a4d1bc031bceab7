"""Every model method and latent helper that takes a latent or an image runs on the model's device.

The model goes to ``torch.device("meta")``, the inputs stay on the CPU: meta stands in for any accelerator
(no memory, no compute, only shapes and devices), so a missing ``.to(model.device)`` fails here exactly where
it would fail on CUDA or MPS. The families are those of :func:`gm_build.report.plan.report_runs`, so a family
added to the report is tested without editing this file. With a GPU visible the same calls, and the helpers
that bring results back to the CPU (which meta cannot), run on CUDA too.
"""

import pytest
import torch

from gm_build.report.plan import report_runs
from gm_lib.evaluation import draw_samples
from gm_lib.latent import encode_dataset, interpolate_latent, perturb_latent
from gm_lib.metrics.likelihood import importance_sampled_log_likelihood, importance_weights

META = torch.device("meta")
# One model per distinct config the report trains (the same config on two datasets is one case).
CONFIGS = {run.name: run.model for run in report_runs("smoke", device="cpu").values()}
CONFIGS = {name: config for name, config in CONFIGS.items()
           if name == next(n for n, c in CONFIGS.items() if c == config)}
ACCELERATORS = [META, *([torch.device("cuda")] if torch.cuda.is_available() else [])]


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(name: str, device: torch.device):
    torch.manual_seed(0)
    return CONFIGS[name].build().to(device).eval()


def _on(tensor: torch.Tensor, device: torch.device, shape: tuple[int, ...]) -> None:
    assert tensor.device.type == device.type, f"{tensor.device} is not {device}"
    assert tuple(tensor.shape) == shape


@pytest.mark.parametrize("device", ACCELERATORS, ids=str)
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_decode_and_sample_take_cpu_latents(name, device):
    model = _model(name, device)
    image = tuple(CONFIGS[name].image_shape)
    d = model.latent_dim
    z = torch.randn(3, d)  # CPU
    _on(model.decode(z), device, (3, *image))
    _on(model.sample(4), device, (4, *image))
    _on(model.sample(4, generator=torch.Generator().manual_seed(0)), device, (4, *image))
    _on(interpolate_latent(model.decode, z[0], z[1], steps=5), device, (5, *image))
    _on(perturb_latent(model.decode, z[0], dims=range(2), eps=torch.linspace(-1, 1, 3)), device, (2, 3, *image))


@pytest.mark.parametrize("device", ACCELERATORS, ids=str)
@pytest.mark.parametrize("name", sorted(n for n in CONFIGS if hasattr(CONFIGS[n].build(), "embed")))
def test_encode_embed_reconstruct_take_cpu_images(name, device):
    model = _model(name, device)
    image = tuple(CONFIGS[name].image_shape)
    x = torch.rand(2, *image)  # CPU
    _on(model.embed(x), device, (2, model.latent_dim))
    codes = model.encode(x)
    for code in codes if isinstance(codes, tuple) else (codes,):
        _on(code, device, (2, model.latent_dim))
    _on(model.reconstruct(x), device, (2, *image))
    for term in model.evaluation_losses(x).values():
        _on(term, device, ())


@pytest.mark.parametrize("device", ACCELERATORS, ids=str)
@pytest.mark.parametrize("name", sorted(n for n in CONFIGS if hasattr(CONFIGS[n].build(), "log_px_given_z")))
def test_likelihood_terms_take_cpu_images(name, device):
    model = _model(name, device)
    x = torch.rand(2, *CONFIGS[name].image_shape).round()  # CPU, binary for the Bernoulli decoders
    _on(model.log_px_given_z(x, torch.randn(2, model.latent_dim)), device, (2,))
    mu, logvar = model.encode(x)
    log_w = importance_weights(model, x, mu, logvar, k=3, generator=torch.Generator().manual_seed(0))
    _on(log_w, device, (2, 3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_cpu_helpers_bring_cuda_results_back(name):
    """The helpers that return CPU results (samples, codes, likelihoods) from a model on CUDA."""
    from gm_lib.data import DataSpec, ImageDataset

    model = _model(name, torch.device("cuda"))
    image = tuple(CONFIGS[name].image_shape)
    samples = draw_samples(model, 4, seed=0)
    _on(samples, torch.device("cpu"), (4, *image))
    assert torch.allclose(samples, draw_samples(model, 4, seed=0), atol=1e-6)  # the CPU generator decides the draw
    if hasattr(model, "embed"):
        data = ImageDataset(DataSpec("mnist", "test"), torch.randint(0, 256, (5, *image), dtype=torch.uint8),
                            torch.arange(5))
        z, y = encode_dataset(model.embed, data, batch_size=2)
        assert z.shape == (5, model.latent_dim) and y.tolist() == list(range(5))
    if hasattr(model, "log_px_given_z"):
        x = torch.rand(3, *image).round()
        result = importance_sampled_log_likelihood(model, x, k=4, generator=torch.Generator().manual_seed(0))
        _on(result.per_image, torch.device("cpu"), (3,))


# ---------------------------------------------------------------- which device `auto` picks


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    from gm_build.report.manifest import resolve_device
    from gm_lib import precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert precision.select_device("auto") == torch.device(expected)
    assert resolve_device("auto") == expected  # the report runner asks the same function
    assert resolve_device("cpu") == "cpu"


def test_unavailable_or_unknown_devices_are_refused(monkeypatch):
    from gm_build.report.manifest import resolve_device
    from gm_lib.precision import bf16_is_faster, select_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="MPS is not available"):
        select_device("mps")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        resolve_device("cuda:1")
    with pytest.raises(ValueError, match="'auto', 'cpu', 'cuda' or 'mps'"):
        select_device("tpu")
    assert not bf16_is_faster(torch.device("mps"))  # not measured there: fp32


def test_report_refuses_an_unavailable_device_in_one_line(monkeypatch, tmp_path, capsys):
    from gm_build.report import cli as report
    from gm_lib.paths import repo_root

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(report, "check_kernel", lambda kernel: None)
    code = report.main(["--manifest", str(repo_root() / "reports" / "manifest.yaml"), "--device", "mps",
                        "--reports-dir", str(tmp_path), "--figures-dir", str(tmp_path)])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.startswith("error: device='mps' but MPS is not available") and "\n" not in error


# ---------------------------------------------------------------- float64 stays on the CPU (MPS has none)


class _NoFloat64OffCpu(torch.utils._python_dispatch.TorchDispatchMode):
    """Fails any op that makes a float64 tensor anywhere but the CPU (as MPS would)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.dtype == torch.float64 and t.device.type != "cpu":
                raise AssertionError(f"{func} made a float64 tensor on {t.device}")
        return out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_float64_maths_runs_on_the_cpu():
    from gm_lib.metrics.sharpness import laplacian_variance

    name = "vae_bmnist"
    model = _model(name, torch.device("cuda"))
    x = torch.rand(3, *CONFIGS[name].image_shape, device="cuda").round()
    with _NoFloat64OffCpu():
        values = laplacian_variance(x)
        result = importance_sampled_log_likelihood(model, x, k=4, generator=torch.Generator().manual_seed(0))
    assert values.dtype == result.per_image.dtype == torch.float64 and values.device.type == "cpu"
