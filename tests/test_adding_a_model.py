"""README's *Adding a GAN family* is true: a new family is five files, and the tests pass with no other edit.

In a copy of the repository (what git would commit: no .venv, .git, checkpoints, data or generated reports) a
throwaway family, SNGAN (Miyato et al. 2018: hinge loss, spectral normalisation of the critic), is added exactly
as the paragraph says: its loss module, its registry entry, its test, a bullet in notebook 03's prose, then
``make docs``. The copy then differs from the original in those five files only, and (slow) ``make test-fast``
passes there: lint and every fast test, the new family's own test and the ones that loop over the registries.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gm_lib.paths import cache_dir, data_root, repo_root

_INSIDE = "GM_TEST_ADDING_A_MODEL"  # set in the copy: its own run of this file has nothing to add

FAMILY = '''"""SNGAN (Miyato et al. 2018, *Spectral Normalization for GANs*): the hinge loss (Lim & Ye
2017; Miyato et al. eq. 16-17) and spectral normalisation of every critic layer instead of clipping or a
penalty; Adam(2e-4, β = (0.5, 0.999)), one critic step per generator step, no BatchNorm in the critic."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from gm_lib.models.base import ModelOutput
from gm_lib.models.gan import PaperRecipe

PAPER = PaperRecipe("adam", lr=2e-4, betas=(0.5, 0.999), n_critic=1, critic_norm="none")


def hinge_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """``E max(0, 1 - D(x)) + E max(0, 1 + D(G(z)))``; scores ``(B,)``, a scalar."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def critic_terms(model, real: Tensor, fake: Tensor, real_scores: Tensor, fake_scores: Tensor) -> ModelOutput:
    """``critic``: the hinge loss."""
    return ModelOutput(critic=hinge_critic_loss(real_scores, fake_scores))


def generator_loss(fake_scores: Tensor) -> Tensor:
    """``-E D(G(z))``."""
    return -fake_scores.mean()


def prepare_critic(critic: nn.Module) -> nn.Module:
    """Every convolution and linear layer of ``critic`` divided by its largest singular value (one power iteration
    per forward pass in training mode)."""
    for module in list(critic.modules()):
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.utils.parametrizations.spectral_norm(module)
    return critic
'''

ENTRY = '    ModelEntry("SNGAN", "sngan", GANConfig(loss="sngan"), step_cost=1.2),\n'

FAMILY_TEST = '''"""SNGAN's hinge loss against values worked by hand, and its critic's spectral normalisation."""

import torch

from gm_lib.models.gan import GANConfig
from gm_lib.models.gan_losses.sngan import generator_loss, hinge_critic_loss


def test_hinge_loss_known_values():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.5])
    assert hinge_critic_loss(real, fake).item() == 0.25 + 0.75  # (0 + 0.5) / 2 + (0 + 1.5) / 2
    assert generator_loss(fake).item() == 0.75


def test_every_critic_layer_has_spectral_norm_one():
    torch.manual_seed(0)
    critic = GANConfig(loss="sngan").build().critic.train()
    for _ in range(50):  # power iterations, one per forward pass
        critic(torch.rand(4, 1, 28, 28))
    layers = [m for m in critic.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)
    for layer in layers:
        assert abs(torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2).item() - 1) < 0.05
'''

BULLET = ("* **SNGAN** (Miyato et al., 2018): the hinge loss $\\mathbb E\\max(0, 1 - D(x)) + \\mathbb E\\max(0, 1 + "
          "D(G(z)))$, every critic layer divided by its largest singular value; Adam $2\\cdot10^{-4}$, one critic "
          "step per generator step.\n")


def _copy_repository(destination: Path) -> Path:
    """The files a commit would hold (git's own list: tracked, or untracked and not ignored), copied to ``destination``;
    environments, caches, data, trained runs and generated reports stay behind."""
    root = repo_root()
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for relative in filter(None, listed):
        if (root / relative).is_file():  # a tracked file deleted in the work tree is not there to copy
            (destination / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / relative, destination / relative)
    return destination


def _digests(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file() and "__pycache__" not in path.parts}


def _add_entry(registry: Path) -> None:
    """One more line at the end of the ``GAN_MODELS`` tuple (found by its syntax tree, not by its neighbours)."""
    source = registry.read_text()
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.AnnAssign | ast.Assign)
                and "GAN_MODELS" in ast.unparse(n.target if isinstance(n, ast.AnnAssign) else n.targets[0]))
    lines = source.splitlines(keepends=True)
    lines.insert(node.end_lineno - 1, ENTRY)  # before the line that closes the tuple
    registry.write_text("".join(lines))


def _add_prose(notebook: Path) -> None:
    """A bullet for the family in the chapter's opening cell, before the VAE's (the GANs' list comes first)."""
    data = json.loads(notebook.read_text(encoding="utf-8"))
    cell = next(c for c in data["cells"] if c["cell_type"] == "markdown")
    lines = "".join(cell["source"]).splitlines(keepends=True)
    at = next((i for i, line in enumerate(lines) if line.startswith("* **VAE**")), len(lines))
    cell["source"] = lines[:at] + [BULLET] + lines[at:]
    notebook.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _environment(copy: Path) -> dict[str, str]:
    """The copy's gm_lib first on the path; the same data and checkpoint cache (FID weights) as this session."""
    return {**os.environ, "PYTHONPATH": str(copy), "GM_DATA_DIR": str(data_root()),
            "GM_CACHE_DIR": str(cache_dir(create=False)), "OMP_NUM_THREADS": "1", _INSIDE: "1"}


def _make(copy: Path, target: str, timeout: int) -> subprocess.CompletedProcess:
    # BIN: this interpreter's folder (the copy has no .venv of its own); make's own variables otherwise.
    command = ["make", "--no-print-directory", "-C", str(copy), f"BIN={Path(sys.executable).parent}", target]
    return subprocess.run(command, env=_environment(copy), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def with_family(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The copy with SNGAN added by README's five steps, and the copy's file digests before the steps."""
    if os.environ.get(_INSIDE):
        pytest.skip("this is the copy the test made, SNGAN already added")
    copy = _copy_repository(tmp_path_factory.mktemp("adding") / "repo")
    before = _digests(copy)
    (copy / "gm_lib" / "models" / "gan_losses" / "sngan.py").write_text(FAMILY)
    _add_entry(copy / "gm_lib" / "experiments" / "gans.py")
    (copy / "tests" / "test_gan_sngan.py").write_text(FAMILY_TEST)
    _add_prose(copy / "notebooks" / "03_wgan.ipynb")
    done = _make(copy, "docs", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return copy, before


def test_a_new_gan_family_is_five_files(with_family):
    copy, before = with_family
    after = _digests(copy)
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    assert changed == ["README.md", "gm_lib/experiments/gans.py", "gm_lib/models/gan_losses/sngan.py",
                       "notebooks/03_wgan.ipynb", "tests/test_gan_sngan.py"]
    readme = (copy / "README.md").read_text()
    assert "| SNGAN | `sngan` | GANConfig (sngan) | 1.2 | no |" in readme  # make docs wrote its row
    assert "WGAN-GP vs VAE vs SNGAN<!-- /model-list -->" in readme  # and the chapter's model list


@pytest.mark.slow
def test_make_test_fast_passes_with_the_new_family_and_no_other_edit(with_family):
    copy, _ = with_family
    done = _make(copy, "test-fast", timeout=1200)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "tests/test_gan_sngan.py .." in done.stdout  # the family's own test ran, and passed
