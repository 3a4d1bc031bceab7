"""The machine a run computed on: the CPU model, its vector instruction sets, and the torch device.

Two reports can only be compared number for number when they ran on the same kind of machine: the CPU's
vector units decide what the CPU kernels (and OpenVINO's plugin, and bf16 autocast) do, and a GPU computes
in its own order. Every ``results.json`` records :func:`describe_machine` (see :mod:`gm_lib.results`) and the
report's header shows it.

The CPU is read from ``/proc/cpuinfo`` (Linux: the first processor's ``model name`` and ``flags``); elsewhere
from :mod:`platform` and torch's own CPU capability (``torch.backends.cpu.get_cpu_capability``).

Example (one line):
    machine_summary(describe_machine("cpu"))  # 'AMD EPYC (AVX2, AVX-512, AVX512-BF16) · device cpu'
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

__all__ = ["CPUINFO", "ISA_FLAGS", "cpu_description", "device_description", "describe_machine", "machine_summary"]

CPUINFO = Path("/proc/cpuinfo")
# /proc/cpuinfo flag -> the name the report shows, in the order of the instruction sets' arrival.
ISA_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX512-BF16", "amx_tile": "AMX"}
# torch.backends.cpu.get_cpu_capability() -> what it implies of ISA_FLAGS' names (the fallback off Linux).
_TORCH_CAPABILITY = {"AVX2": ["AVX2"], "AVX512": ["AVX2", "AVX-512"]}


def cpu_description(cpuinfo: Path | None = None) -> dict[str, Any]:
    """The CPU's model name and which of :data:`ISA_FLAGS` it has.

    Args:
        cpuinfo: a file in ``/proc/cpuinfo``'s format (default :data:`CPUINFO`); when it is missing or names no
            model, :mod:`platform` gives the model and torch's CPU capability the instruction sets.

    Returns:
        ``{"model": str, "isa": [names from ISA_FLAGS' values, in its order], "source": "cpuinfo" | "platform"}``.
    """
    model, flags = _read_cpuinfo(cpuinfo or CPUINFO)
    if model:
        return {"model": model, "isa": [name for flag, name in ISA_FLAGS.items() if flag in flags], "source": "cpuinfo"}
    model = platform.processor() or platform.machine() or "unknown CPU"
    return {"model": model, "isa": _TORCH_CAPABILITY.get(_torch_cpu_capability(), []), "source": "platform"}


def _read_cpuinfo(path: Path) -> tuple[str, set[str]]:
    """``(model name, flags)`` of the first processor in ``path``; ``("", set())`` when unreadable."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "", set()
    model, flags = "", set()
    for line in text.split("\n\n")[0].splitlines():  # the first processor's block
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and not model:
            model = " ".join(value.split())
        elif key in ("flags", "features"):  # x86, ARM
            flags |= set(value.split())
    return model, flags


def _torch_cpu_capability() -> str:
    try:
        import torch

        return torch.backends.cpu.get_cpu_capability()
    except (ImportError, AttributeError, RuntimeError):
        return ""


def device_description(device: Any) -> str:
    """``cpu``, ``cuda:<i> (<GPU name>)`` or ``mps`` for a device or its name (``auto`` resolved as the runs do).

    Raises:
        ValueError, RuntimeError: as :func:`gm_lib.precision.select_device` for an unknown or unavailable device.
    """
    import torch

    from gm_lib.precision import select_device

    device = select_device(device) if isinstance(device, str) else torch.device(device)
    if device.type != "cuda":
        return device.type
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


def describe_machine(device: Any = "auto", cpuinfo: Path | None = None) -> dict[str, Any]:
    """What ``results.json`` records as ``machine``: ``{"cpu": model, "isa": [...], "device": str}``.

    ``device`` is the run's (a name such as ``auto``/``cuda``, or a :class:`torch.device`); see
    :func:`cpu_description` and :func:`device_description`.
    """
    cpu = cpu_description(cpuinfo)
    return {"cpu": cpu["model"], "isa": cpu["isa"], "device": device_description(device)}


def machine_summary(machine: dict[str, Any] | None) -> str:
    """One line for a report: ``'<CPU> (<ISA>, ...) · device <device>'``; ``'not recorded'`` for None."""
    if not machine:
        return "not recorded"
    isa = ", ".join(machine.get("isa") or []) or "no AVX2"
    return f"{machine.get('cpu', 'unknown CPU')} ({isa}) · device {machine.get('device', 'unknown')}"
