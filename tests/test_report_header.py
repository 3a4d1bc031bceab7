"""What the report's header and summary claim: the machine each run computed on, and FID's bias and floor.

Hand-made results.json files rendered by :func:`gm_build.report.build.render_markdown` (no notebook runs); the CPU
is read from fake ``/proc/cpuinfo`` files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gm_build.report.build import ReportContext, render_markdown
from gm_build.report.manifest import RunSpec
from gm_build.report.run import Outcome, run_paths
from gm_lib import machine
from gm_lib.paths import repo_root
from gm_lib.results import Recorder, load_results

SPEC = RunSpec("gan_run", repo_root() / "notebooks" / "03_wgan.ipynb", {"dataset": "mnist"}, "A GAN run")
SAPPHIRE = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2
"""
EPYC_NO_AMX = "processor\t: 0\nmodel name\t: AMD EPYC 9654 96-Core Processor\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"


def test_cpu_description_reads_the_model_and_isa_from_cpuinfo(tmp_path: Path) -> None:
    (tmp_path / "spr").write_text(SAPPHIRE)
    (tmp_path / "epyc").write_text(EPYC_NO_AMX)
    (tmp_path / "old").write_text("processor\t: 0\nmodel name\t: Intel(R) Core(TM) i7-3770\nflags\t\t: fpu avx\n")
    assert machine.cpu_description(tmp_path / "spr") == {"model": "Intel(R) Xeon(R) Platinum 8480+",
                                                         "isa": ["AVX2", "AVX-512", "AVX512-BF16", "AMX"],
                                                         "source": "cpuinfo"}
    assert machine.cpu_description(tmp_path / "epyc")["isa"] == ["AVX2", "AVX-512", "AVX512-BF16"]
    assert machine.cpu_description(tmp_path / "old")["isa"] == []


def test_cpu_description_falls_back_to_platform_without_cpuinfo(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(machine.platform, "processor", lambda: "arm")
    monkeypatch.setattr(machine, "_torch_cpu_capability", lambda: "AVX512")
    assert machine.cpu_description(tmp_path / "missing") == {"model": "arm", "isa": ["AVX2", "AVX-512"],
                                                             "source": "platform"}
    monkeypatch.setattr(machine, "_torch_cpu_capability", lambda: "DEFAULT")
    assert machine.cpu_description(tmp_path / "missing")["isa"] == []


def test_machine_summary_names_cpu_isa_and_device(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text(EPYC_NO_AMX)
    described = machine.describe_machine("cpu", tmp_path / "cpuinfo")
    assert described == {"cpu": "AMD EPYC 9654 96-Core Processor", "isa": ["AVX2", "AVX-512", "AVX512-BF16"],
                         "device": "cpu"}
    assert machine.machine_summary(described) == ("AMD EPYC 9654 96-Core Processor (AVX2, AVX-512, AVX512-BF16) "
                                                  "· device cpu")
    assert machine.machine_summary(None) == "not recorded"


def _record(tmp: Path, seed: int, cpuinfo: str, monkeypatch) -> Outcome:
    (tmp / f"cpuinfo{seed}").write_text(cpuinfo)
    monkeypatch.setattr(machine, "CPUINFO", tmp / f"cpuinfo{seed}")
    output_dir, _ = run_paths(SPEC.name, seed, tmp / "figures", tmp / "reports", per_seed=True)
    rec = Recorder(output_dir, SPEC.name, "smoke", seed, device="cpu")
    rec.metric("fid/a", 10.0 + seed, n=64, split="test", model="A")
    rec.metric("fid/real", 5.0, n=64, split="mnist:train vs test", model="real", dataset="mnist")
    rec.save(wall_time=1.0)
    return Outcome(SPEC, "ok", output_dir, seed=seed)


def _render(tmp: Path, outcomes: list[Outcome]) -> str:
    seeds = tuple(o.seed for o in outcomes)
    return render_markdown(outcomes, ReportContext("smoke", seeds[0], "cpu", "fp32", 1.0, "now", "abc", seeds),
                           tmp / "reports")


def test_results_record_the_machine_and_the_header_shows_it(tmp_path: Path, monkeypatch) -> None:
    outcome = _record(tmp_path, 0, SAPPHIRE, monkeypatch)
    assert load_results(outcome.output_dir)["machine"] == {
        "cpu": "Intel(R) Xeon(R) Platinum 8480+", "isa": ["AVX2", "AVX-512", "AVX512-BF16", "AMX"], "device": "cpu"}
    md = _render(tmp_path, [outcome])
    assert "Machine: Intel(R) Xeon(R) Platinum 8480+ (AVX2, AVX-512, AVX512-BF16, AMX) · device cpu." in md


def test_the_header_says_when_runs_computed_on_different_machines(tmp_path: Path, monkeypatch) -> None:
    outcomes = [_record(tmp_path, 0, SAPPHIRE, monkeypatch), _record(tmp_path, 1, EPYC_NO_AMX, monkeypatch)]
    md = _render(tmp_path, outcomes)
    assert ("**Machines differ between runs**: Intel(R) Xeon(R) Platinum 8480+ (AVX2, AVX-512, AVX512-BF16, AMX) · "
            "device cpu for gan_run (seed 0); AMD EPYC 9654 96-Core Processor (AVX2, AVX-512, AVX512-BF16) · "
            "device cpu for gan_run (seed 1).") in md


def test_the_report_says_fid_is_biased_upwards_and_the_floor_is_no_bound(tmp_path: Path, monkeypatch) -> None:
    md = _render(tmp_path, [_record(tmp_path, 0, SAPPHIRE, monkeypatch)])
    assert "FID is biased upwards at finite N" in md and "downwards" not in md
    assert "not a bound; a model can score below it" in md and "the best a model can score" not in md


@pytest.mark.parametrize("path", ["gm_build/report/build.py", "gm_lib/scoring.py", "gm_lib/metrics/fid.py",
                                  "gm_lib/metrics/feature_distances.py", "notebooks/03_wgan.ipynb",
                                  "notebooks/04_wae_vs_vae.ipynb", "README.md"])
def test_no_copy_of_the_wrong_sentences_is_left(path: str) -> None:
    text = (repo_root() / path).read_text(encoding="utf-8").lower()
    for wrong in ("biased downwards", "best a model can", "can reach at", "no model can beat", "full-rank n = 2048",
                  "full-rank", "5-minute cap"):
        assert wrong not in text, f"{path} still says {wrong!r}"
