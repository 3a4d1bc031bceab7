"""Where a run trains and at which precision: the device (CUDA, then MPS, then the CPU), and fp32 or bf16 autocast.

``precision="auto"`` (the default of :class:`gm_lib.train.TrainConfig` and of the profiles) is
resolved here, once per run, by :func:`resolve_precision`: bf16 only where the model family keeps
its final quality in bf16 (measured by ``bench/bench_precision.py``) *and* bf16 is faster on the
device (measured by ``bench/bench_train.py``); fp32 otherwise. Every precision a user can give is
checked by :func:`check_precision`.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch

__all__ = ["Precision", "check_precision", "mps_available", "select_device", "bf16_is_faster", "resolve_precision",
           "autocast"]

Precision = Literal["auto", "fp32", "bf16"]


def check_precision(precision: str, name: str = "precision") -> None:
    """Raise ``ValueError`` (naming ``name`` and the value) unless ``precision`` is ``auto``, ``fp32`` or ``bf16``."""
    if precision not in get_args(Precision):
        raise ValueError(f"{name}={precision!r}; choose one of {get_args(Precision)}")


def mps_available() -> bool:
    """True when torch sees an Apple-silicon GPU (Metal Performance Shaders)."""
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def select_device(name: str = "auto") -> torch.device:
    """The device to run on: ``auto`` picks CUDA when a GPU is visible, then MPS (Apple silicon), then the CPU.

    ``cpu``, ``cuda`` (or ``cuda:<index>``) and ``mps`` are taken as given. MPS has no float64: what needs it
    runs on the CPU whatever the device (the Fréchet distance and KID in NumPy, the importance-sampled NLL's
    log-mean-exp, sharpness, the classifier's features for its Fréchet distance).

    Raises:
        RuntimeError: ``cuda`` or ``mps`` asked for but not available.
        ValueError: any other name.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu")
    kind = name.partition(":")[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device={name!r}; choose 'auto', 'cpu', 'cuda' or 'mps'")
    if kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={name!r} but no CUDA GPU is visible; use device='auto' or 'cpu'")
    if kind == "mps" and not mps_available():
        raise RuntimeError(f"device={name!r} but MPS is not available (Apple silicon only); use device='auto' or 'cpu'")
    return torch.device(name)


def bf16_is_faster(device: torch.device) -> bool:
    """Whether bf16 autocast trains faster than fp32 on ``device`` (``bench/bench_train.py`` measures it).

    CUDA: GPUs with native bf16 (Ampere and newer). CPU: only with AMX tiles (Sapphire Rapids and
    newer, when the hypervisor exposes them): there bf16 autocast trained every family 1.19-2.13x
    faster than fp32; on a Sapphire Rapids VM with AMX hidden (AVX512-BF16 only) it was 0.71-0.91x.
    Any other device (MPS): not measured, so no.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)  # emulated bf16 is slower, not faster
    if device.type != "cpu":
        return False
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private, but what torch's inductor asks
    return bool(amx and amx())


def resolve_precision(precision: Precision, bf16_keeps_quality: bool, device: torch.device) -> Literal["fp32", "bf16"]:
    """The precision to train ``model_config``'s family at on ``device``.

    ``fp32`` and ``bf16`` are returned as given. ``auto`` gives ``bf16`` only when the family keeps
    its final quality in bf16 (``bf16_keeps_quality``: the chapter registry's verdict, measured by
    ``bench/bench_precision.py``; False where it was lost or not measured) *and*
    :func:`bf16_is_faster` on ``device``; otherwise ``fp32``.

    Raises:
        ValueError: ``precision`` is not one of ``auto``, ``fp32``, ``bf16``.
    """
    check_precision(precision)
    if precision != "auto":
        return precision
    return "bf16" if bf16_keeps_quality and bf16_is_faster(device) else "fp32"


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """The context the engine runs training steps and evaluations in: bf16 autocast when ``precision == "bf16"``."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
