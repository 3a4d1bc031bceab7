"""Where the FID Inception runs: torch (any device) or OpenVINO's CPU plugin, chosen by ``GM_FID_BACKEND``.

Both backends run the same converted network (:func:`gm_lib.metrics.inception.load_fid_inception`,
pytorch-fid's ``InceptionV3`` with its bilinear resize to 299x299 and ``2x - 1`` scaling) on the same
``uint8 / 255`` input, in float32. OpenVINO is converted once from that torch module
(``openvino.convert_model`` with an example input) and saved as IR (``.xml``/``.bin``, fp32 weights)
beside the FID weights; each process only compiles it (< 1 s).

``GM_FID_BACKEND=auto`` (default) picks OpenVINO on the CPU when the ``openvino`` package imports
(``make setup`` installs it), torch on GPUs and otherwise. Why, measured on the project's 2-core CPU
with the same images in one process (``bench/bench_fid.py --n 256``, MNIST test vs train, batch 50,
2 threads, on a shared machine at load average 9-13, so absolute rates are low):

- torch (fp32, channels_last; the only path before): features 1.50 images/s, |ΔFID| 6.4e-5;
- OpenVINO f32: features 3.31 images/s (2.20x torch), |ΔFID| 8.1e-5;
- pytorch-fid CLI: 0.81 images/s end to end; OpenVINO + our Fréchet distance: 3.28 (4.06x).

On an idle machine the issue measured 74.6 vs 54.0 ms/image (1.38x), features within 3.4e-6 relative.
OpenVINO stays f32: it is both faster and exact enough; torch remains the GPU path and the fallback.

The CPU plugin would pick bf16 on CPUs that have AVX512-BF16/AMX (it does on this machine), which moves
the features; :func:`compile_openvino` always sets ``INFERENCE_PRECISION_HINT=f32`` and checks it took.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from gm_lib.metrics.inception import WEIGHTS_NAME, converted_weights_path, load_fid_inception

__all__ = [
    "BACKENDS",
    "openvino_available",
    "resolve_backend",
    "openvino_model_path",
    "ensure_openvino_model",
    "compile_openvino",
    "feature_extractor",
    "full_fp32",
    "clear_extractors",
]

BACKENDS = ("torch", "openvino")


def openvino_available() -> bool:
    """True when the ``openvino`` package imports."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(device: torch.device) -> str:
    """``"torch"`` or ``"openvino"`` from ``$GM_FID_BACKEND`` (``auto`` | ``torch`` | ``openvino``) and ``device``.

    ``auto``: OpenVINO when ``device`` is the CPU and the package imports, else torch.

    Raises:
        ValueError: an unknown value, or ``openvino`` asked for a non-CPU device or without the package.
    """
    choice = os.environ.get("GM_FID_BACKEND", "auto").strip().lower() or "auto"
    if choice not in ("auto", *BACKENDS):
        raise ValueError(f"GM_FID_BACKEND={choice!r}: use one of auto, torch, openvino")
    if choice == "torch":
        return "torch"
    if choice == "openvino":
        if device.type != "cpu":
            raise ValueError(f"GM_FID_BACKEND=openvino runs on the CPU, not {device}: unset it or pass device='cpu'")
        if not openvino_available():
            raise ValueError("GM_FID_BACKEND=openvino but the openvino package is missing: run `make setup`")
        return "openvino"
    return "openvino" if device.type == "cpu" and openvino_available() else "torch"


# ---------------------------------------------------------------- OpenVINO: convert once, compile per process


def openvino_model_path() -> Path:
    """``cache_dir("fid")/<weights>-openvino<version>-<code digest>.xml`` (its ``.bin`` beside it).

    The digest covers the conversion code (this module's import closure, :mod:`gm_lib.code_graph`), so an edit of
    the conversion makes a new IR and an edit elsewhere does not.
    """
    import openvino as ov

    from gm_lib.cache import key_digest

    version = ov.__version__.split("-")[0]  # an IR is read by the runtime that wrote it (or newer)
    stem = WEIGHTS_NAME.removesuffix(".pth")
    digest = key_digest({"weights": WEIGHTS_NAME, "openvino": version}, (__name__,), length=10)
    return converted_weights_path().with_name(f"{stem}-openvino{version}-{digest}.xml")


def ensure_openvino_model() -> Path:
    """Convert the torch FID Inception to OpenVINO IR once (fp32 weights), written atomically. Idempotent.

    Input of the IR: float ``(B, 3, H, W)`` in ``[0, 1]``, any ``B, H, W``; output ``(B, 2048, 1, 1)``.

    Raises:
        FIDWeightsMissing: the torch weights are not prepared (run ``make setup``).
        ImportError: openvino is not installed.
    """
    import openvino as ov

    target = openvino_model_path()
    if target.is_file() and target.with_suffix(".bin").is_file():
        return target
    model = load_fid_inception("cpu")
    with warnings.catch_warnings():  # convert_model traces with torch.jit, which warns that it is deprecated
        warnings.simplefilter("ignore", FutureWarning)
        converted = ov.convert_model(model, example_input=torch.rand(2, 3, 28, 28),
                                     input=[ov.PartialShape([-1, 3, -1, -1])])
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".openvino-") as tmp:
        staged = Path(tmp) / target.name
        ov.save_model(converted, staged, compress_to_fp16=False)  # fp16 weights would move the features
        # .bin first, .xml last: the .xml is what marks the pair complete.
        os.replace(staged.with_suffix(".bin"), target.with_suffix(".bin"))
        os.replace(staged, target)
    return target


def compile_openvino(height: int, width: int):
    """The IR compiled for ``(any batch, 3, height, width)`` on the CPU plugin, f32, torch's thread count.

    Raises:
        RuntimeError: the plugin did not accept f32 inference precision.
    """
    import openvino as ov

    core = ov.Core()
    model = core.read_model(ensure_openvino_model())
    model.reshape([-1, 3, height, width])  # static spatial size: the plugin plans the resize once
    compiled = core.compile_model(model, "CPU", {
        ov.properties.hint.inference_precision: ov.Type.f32,  # never bf16, whatever the CPU offers
        ov.properties.inference_num_threads: torch.get_num_threads(),  # same budget as the torch path
    })
    precision = compiled.get_property(ov.properties.hint.inference_precision)
    if precision != ov.Type.f32:
        raise RuntimeError(f"OpenVINO compiled the FID Inception in {precision}, not f32: set GM_FID_BACKEND=torch")
    return compiled


# ---------------------------------------------------------------- one call per batch

_EXTRACTORS: dict[tuple, Callable[[torch.Tensor], np.ndarray]] = {}


def feature_extractor(backend: str, device: torch.device, image_size: tuple[int, int],
                      preview: bool = False) -> Callable[[torch.Tensor], np.ndarray]:
    """A function: float ``(B, 3, H, W)`` in ``[0, 1]`` (CPU tensor) -> pool3 features ``(B, 2048)`` float32.

    Built once per (backend, device, size, preview) in a process. ``preview`` is bf16 autocast on torch
    (smoke runs only); otherwise torch computes in full fp32, TF32 off on CUDA (:func:`full_fp32`), and
    OpenVINO always in f32.
    """
    key = (backend, str(device), image_size, preview and backend == "torch")
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = _openvino_extractor(image_size) if backend == "openvino" else _torch_extractor(device,
                                                                                                         preview)
    return _EXTRACTORS[key]


@contextmanager
def full_fp32() -> Iterator[None]:
    """TF32 off inside: CUDA matmuls (``torch.backends.cuda.matmul.allow_tf32``) and cuDNN convolutions
    (``torch.backends.cudnn.allow_tf32``, on by default) compute in full fp32, as pytorch-fid's features on a CPU.

    TF32 keeps 10 mantissa bits (Ampere and newer GPUs) and moves Inception features by ~1e-3 relative, enough to
    move an FID. Both flags are restored to their previous values on exit, also when the body raises. No effect
    off CUDA.
    """
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    previous = (matmul.allow_tf32, cudnn.allow_tf32)
    matmul.allow_tf32 = cudnn.allow_tf32 = False
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = previous


def _torch_extractor(device: torch.device, preview: bool) -> Callable[[torch.Tensor], np.ndarray]:
    # channels_last: 1.5x faster than the default layout for this network on CPU (measured).
    model = load_fid_inception(device).to(memory_format=torch.channels_last)

    def extract(batch: torch.Tensor) -> np.ndarray:
        with (torch.inference_mode(), full_fp32(),
              torch.autocast(device.type, dtype=torch.bfloat16, enabled=preview)):
            x = batch.to(device).contiguous(memory_format=torch.channels_last)
            return model(x)[0].flatten(1).float().cpu().numpy()  # (B, 2048)

    return extract


def _openvino_extractor(image_size: tuple[int, int]) -> Callable[[torch.Tensor], np.ndarray]:
    compiled = compile_openvino(*image_size)

    def extract(batch: torch.Tensor) -> np.ndarray:
        out = compiled(batch.numpy())[0]  # (B, 2048, 1, 1)
        return out.reshape(out.shape[0], -1)

    return extract


def clear_extractors() -> None:
    """Forget the built networks (benchmarks time the loading too)."""
    _EXTRACTORS.clear()
