"""``make data`` against a Hugging Face Hub on 127.0.0.1 (tests/hub_server.py), the rest of the world refused.

Synthetic files in the mirrors' real layouts: SVHN ``cropped_digits/{train,test}-00000-of-00001.parquet`` (PNG
bytes, labels 0-9; 600 training images, more than the 500 the smoke profile holds out) and CelebA's 25 shards
``img_align+identity+attr/{train,valid,test}-000NN-of-000MM.parquet`` (178x218 JPEGs). Pins come from a
``GM_DATA_PINS`` file; torchvision's own URLs go through a proxy on a refusing port (or, in one test, through
the local server acting as the proxy). Each failure must end in one line, without a traceback, and leave
``GM_DATA_DIR`` byte-identical.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gm_lib.celeba import preprocess_celeba
from gm_lib.data import load_dataset
from gm_lib.paths import repo_root
from tests.hub_server import HubServer, isolated_env

SVHN_REPO, CELEBA_REPO = "ufldl-stanford/svhn", "flwrlabs/celeba"
SVHN_REVISION, CELEBA_REVISION = "1" * 40, "2" * 40
SVHN_ROWS = {"train": 600, "test": 80}
CELEBA_SHARDS = {"train": (19, 4), "valid": (3, 3), "test": (3, 24)}  # shards, rows each: 76 / 9 / 72 images


# ---------------------------------------------------------------- synthetic mirrors


def _parquet(table) -> bytes:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _image_column(encoded: list[bytes], names: list[str]):
    import pyarrow as pa

    return pa.StructArray.from_arrays([pa.array(encoded, pa.binary()), pa.array(names, pa.string())], ["bytes", "path"])


def _svhn_files(rng) -> tuple[dict[str, bytes], dict]:
    import pyarrow as pa

    files, truth = {}, {}
    for split, n in SVHN_ROWS.items():
        x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, n)
        encoded = []
        for image in x:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, "PNG")
            encoded.append(buffer.getvalue())
        table = pa.table({"image": _image_column(encoded, [f"{i}.png" for i in range(n)]), "label": pa.array(y)})
        files[f"cropped_digits/{split}-00000-of-00001.parquet"] = _parquet(table)
        truth[split] = (x, y)
    return files, truth


def _celeba_files(rng) -> tuple[dict[str, bytes], dict]:
    import pyarrow as pa

    from tests.test_celeba import _face

    files, truth, number = {}, {"train": [], "valid": [], "test": []}, 0
    for split, (shards, rows) in CELEBA_SHARDS.items():
        for shard in range(shards):
            encoded, names = [], []
            for _ in range(rows):
                number += 1
                buffer = io.BytesIO()
                _face(rng).save(buffer, "JPEG", quality=90)
                encoded.append(buffer.getvalue())
                names.append(f"{number:06d}.jpg")
            truth[split].extend(encoded)
            table = pa.table({"image": _image_column(encoded, names), "celeb_id": pa.array(rng.integers(1, 99, rows)),
                              "Smiling": pa.array(rng.integers(0, 2, rows).astype(bool))})
            files[f"img_align+identity+attr/{split}-{shard:05d}-of-{shards:05d}.parquet"] = _parquet(table)
    return files, truth


@pytest.fixture(scope="module")
def mirrors():
    rng = np.random.default_rng(0)
    svhn, svhn_truth = _svhn_files(rng)
    celeba, celeba_truth = _celeba_files(rng)
    return {"svhn": (svhn, svhn_truth), "celeba": (celeba, celeba_truth)}


def _pins(mirrors, path: Path) -> Path:
    """GM_DATA_PINS: both repos at the test commits, each file with its rows (and SVHN's with size and sha256)."""
    svhn, _ = mirrors["svhn"]
    celeba, _ = mirrors["celeba"]
    pins = {
        SVHN_REPO: {"revision": SVHN_REVISION, "files": {
            p: {"size": len(d), "sha256": hashlib.sha256(d).hexdigest(),
                "rows": SVHN_ROWS[p.split("/")[1].split("-")[0]]}
            for p, d in svhn.items()}},
        CELEBA_REPO: {"revision": CELEBA_REVISION, "files": {
            p: {"rows": CELEBA_SHARDS[p.split("/")[1].split("-")[0]][1]} for p in celeba}},
    }
    path.write_text(json.dumps(pins))
    return path


def _serve(mirrors) -> HubServer:
    hub = HubServer()
    hub.add_repo(SVHN_REPO, mirrors["svhn"][0], SVHN_REVISION)
    hub.add_repo(CELEBA_REPO, mirrors["celeba"][0], CELEBA_REVISION)
    return hub.start()


@pytest.fixture
def hub(mirrors):
    server = _serve(mirrors)
    yield server
    server.stop()


@pytest.fixture
def env(hub, mirrors, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "NOTES.txt").write_text("a user's file: make data must leave it alone\n")
    return isolated_env(hub.endpoint, tmp_path, GM_DATA_PINS=str(_pins(mirrors, tmp_path / "pins.json")))


def make_data(env: dict, datasets: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "data", f"DATASETS={datasets}"], cwd=repo_root(), env=env,
                          capture_output=True, text=True, timeout=timeout)


def fetch(env: dict, datasets: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """What ``make data`` runs, without make's own closing line (``make: *** ... Error 1``)."""
    return subprocess.run([sys.executable, "-m", "gm_build.data", "--datasets", datasets], cwd=repo_root(), env=env,
                          capture_output=True, text=True, timeout=timeout)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(root.rglob("*"))}


def _assert_one_line_failure(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


# ---------------------------------------------------------------- the whole path


def test_make_data_installs_both_datasets_and_the_loaders_read_the_served_pixels(env, hub, mirrors, tmp_path):
    result = make_data(env, "svhn,celeba")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "svhn: from torchvision's source http://ufldl.stanford.edu" in out
    assert "svhn: torchvision's source" in out and ": offline: " in out  # the proxy refused: next source
    assert "celeba: licence: CelebA release agreement: non-commercial research" in out
    data, cache = tmp_path / "data", tmp_path / "cache"
    assert (data / "NOTES.txt").is_file() and not (data / ".make-data").exists()
    assert not (cache / "downloads" / "ufldl-stanford--svhn").exists()  # converted shards are not kept twice

    env_root = {"root": data}
    for split, (x, y) in mirrors["svhn"][1].items():
        loaded = load_dataset("svhn", split, **env_root)
        assert torch.equal(loaded.images, torch.from_numpy(x).permute(0, 3, 1, 2))
        assert torch.equal(loaded.labels, torch.from_numpy(y).long())
    for split, encoded in mirrors["celeba"][1].items():
        loaded = load_dataset("celeba", split, **env_root)
        expected = np.stack([preprocess_celeba(Image.open(io.BytesIO(b))) for b in encoded]).transpose(0, 3, 1, 2)
        assert torch.equal(loaded.images, torch.from_numpy(expected))
    assert (data / "celeba" / "img_align_celeba" / "000001.jpg").read_bytes() == mirrors["celeba"][1]["train"][0]

    source = json.loads((data / "celeba" / "SOURCE.json").read_text())
    shard = "img_align+identity+attr/test-00002-of-00003.parquet"
    assert source["revision"] == CELEBA_REVISION and source["repo"] == CELEBA_REPO
    assert source["files"][shard]["sha256"] == hashlib.sha256(mirrors["celeba"][0][shard]).hexdigest()

    seen = len(hub.requests)
    again = make_data(env, "svhn,celeba")
    assert again.returncode == 0 and "svhn: present" in again.stdout and "celeba: present" in again.stdout
    assert len(hub.requests) == seen  # nothing fetched twice


# ---------------------------------------------------------------- failures: one line, GM_DATA_DIR untouched


def _other_schema() -> bytes:
    import pyarrow as pa

    return _parquet(pa.table({"text": ["a", "b"], "score": [1.0, 2.0]}))


@pytest.mark.parametrize("case", ["404", "die", "corrupt", "schema"])
def test_a_failed_download_is_one_line_and_leaves_the_data_folder_as_it_was(case, env, hub, mirrors, tmp_path):
    svhn_train = "cropped_digits/train-00000-of-00001.parquet"
    shard = "img_align+identity+attr/train-00007-of-00019.parquet"
    dataset, words = "celeba", ["celeba: Hub mirror flwrlabs/celeba"]
    if case == "404":
        hub.fault(shard, "missing")
        words.append(": 404: ")
    elif case == "corrupt":  # the right size, other bytes: only the sha256 tells
        hub.fault(shard, "corrupt")
        words += [": checksum: ", "train-00007-of-00019.parquet has sha256"]
    elif case == "schema":  # a valid parquet file of other columns, listed by the Hub as it is
        hub.repos[CELEBA_REPO].files[shard] = _other_schema()
        words += [": schema: ", "no 'image'"]
    else:  # the server dies half-way through SVHN's training file
        hub.fault(svhn_train, "die")
        dataset, words = "svhn", ["svhn: Hub mirror ufldl-stanford/svhn: offline: "]
    before = _tree(tmp_path / "data")
    start = time.monotonic()
    _assert_one_line_failure(fetch(env, dataset), *words)
    assert time.monotonic() - start < 120
    assert _tree(tmp_path / "data") == before


def test_a_dropped_connection_resumes_with_a_range_request(env, hub, mirrors, tmp_path):
    """huggingface_hub writes in 10 MiB chunks, so the served file must pass 10 MiB before the drop for any byte
    to be kept: SVHN's training file here carries an extra column of 24 MiB of padding."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    train = "cropped_digits/train-00000-of-00001.parquet"
    table = pq.read_table(io.BytesIO(mirrors["svhn"][0][train]))
    rng = np.random.default_rng(2)
    padding = pa.array([rng.bytes(40 << 10) for _ in range(len(table))], pa.binary())  # incompressible, all distinct
    data = _parquet(table.append_column("padding", padding))
    assert len(data) > 20 << 20
    hub.repos[SVHN_REPO].files[train] = data
    pins = json.loads(Path(env["GM_DATA_PINS"]).read_text())
    pins[SVHN_REPO]["files"][train].update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    Path(env["GM_DATA_PINS"]).write_text(json.dumps(pins))
    hub.fault(train, "drop")
    result = fetch(env, "svhn")
    assert result.returncode == 0, result.stderr
    sha = hashlib.sha256(data).hexdigest()
    ranges = [r for method, path, r in hub.requests if method == "GET" and path == f"/cdn/{sha}"]
    assert ranges[0] is None and ranges[1] == f"bytes={len(data) // 2 // (10 << 20) * (10 << 20)}-", ranges
    x, _ = mirrors["svhn"][1]["train"]
    assert torch.equal(load_dataset("svhn", "train", root=tmp_path / "data").images,
                       torch.from_numpy(x).permute(0, 3, 1, 2))


def test_after_a_server_died_the_next_run_starts_clean_and_succeeds(env, mirrors, tmp_path):
    dead = _serve(mirrors)
    dead.fault("cropped_digits/train-00000-of-00001.parquet", "die")
    _assert_one_line_failure(fetch({**env, "HF_ENDPOINT": dead.endpoint}, "svhn"), "offline")
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.name.endswith(".incomplete")]  # no partial left
    again = _serve(mirrors)
    try:
        result = fetch({**env, "HF_ENDPOINT": again.endpoint}, "svhn")
    finally:
        again.stop()
    assert result.returncode == 0, result.stderr
    assert load_dataset("svhn", "train", root=tmp_path / "data").images.shape == (600, 3, 32, 32)


def test_two_concurrent_runs_leave_correct_data_and_download_once(env, hub, mirrors, tmp_path):
    command = [sys.executable, "-m", "gm_build.data", "--datasets", "svhn"]
    runs = [subprocess.Popen(command, cwd=repo_root(), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sum("svhn: installed" in out for out, _ in outputs) == 1
    assert sum("svhn: present" in out for out, _ in outputs) == 1
    train = "cropped_digits/train-00000-of-00001.parquet"
    sha = hashlib.sha256(mirrors["svhn"][0][train]).hexdigest()
    assert sum(1 for method, path, _ in hub.requests if method == "GET" and path == f"/cdn/{sha}") == 1
    x, _ = mirrors["svhn"][1]["train"]
    assert torch.equal(load_dataset("svhn", "train", root=tmp_path / "data").images,
                       torch.from_numpy(x).permute(0, 3, 1, 2))


def test_an_unreachable_hub_fails_within_seconds(env, tmp_path):
    from tests.hub_server import refusing_port

    env = {**env, "HF_ENDPOINT": f"http://127.0.0.1:{refusing_port()}"}
    before = _tree(tmp_path / "data")
    start = time.monotonic()
    line = _assert_one_line_failure(fetch(env, "celeba"), "offline", "run make data again")
    assert time.monotonic() - start < 60, line
    assert _tree(tmp_path / "data") == before


# ---------------------------------------------------------------- torchvision's own URLs


def test_svhn_from_torchvision_urls_checked_by_md5_through_the_proxy(env, hub, tmp_path):
    """The real URLs, answered by the local server acting as the HTTP proxy; torchvision's MD5s replaced by the
    synthetic files' (in the subprocess only). A wrong MD5 on the test file falls back to the Hub mirror."""
    from torchvision.datasets import SVHN

    rng = np.random.default_rng(1)
    md5s = {}
    for split in ("train", "test"):
        url, name, _ = SVHN.split_list[split]
        path = tmp_path / name
        from scipy.io import savemat

        savemat(path, {"X": rng.integers(0, 256, (32, 32, 3, 20), dtype=np.uint8),
                       "y": rng.integers(1, 11, (20, 1)).astype(np.uint8)})
        hub.add_url(url, path.read_bytes())
        md5s[split] = hashlib.md5(path.read_bytes()).hexdigest()
    script = ("import sys, torchvision.datasets as d\n"
              f"md5s = {md5s!r}\n"
              "d.SVHN.split_list = {k: [v[0], v[1], md5s.get(k, v[2])] for k, v in d.SVHN.split_list.items()}\n"
              "from gm_build.data.__main__ import main\n"
              "sys.exit(main(['--datasets', 'svhn']))\n")
    proxied = {**env, "http_proxy": hub.endpoint, "HTTP_PROXY": hub.endpoint}
    result = subprocess.run([sys.executable, "-c", script], cwd=repo_root(), env=proxied, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "svhn: installed" in result.stdout and "Hub mirror" not in result.stdout
    source = json.loads((tmp_path / "data" / "SVHN" / "SOURCE.json").read_text())
    assert source["source"] == "url" and source["files"]["train_32x32.mat"]["md5"] == md5s["train"]
    assert load_dataset("svhn", "test", root=tmp_path / "data").images.shape == (20, 3, 32, 32)


def test_a_wrong_md5_from_torchvisions_url_falls_back_to_the_hub_mirror(env, hub, tmp_path):
    from torchvision.datasets import SVHN

    for url, _, _ in SVHN.split_list.values():
        hub.add_url(url, b"not the file torchvision pins")
    result = make_data({**env, "http_proxy": hub.endpoint, "HTTP_PROXY": hub.endpoint}, "svhn")
    assert result.returncode == 0, result.stderr
    assert ": checksum: http://ufldl.stanford.edu/housenumbers/train_32x32.mat has MD5" in result.stdout
    assert json.loads((tmp_path / "data" / "SVHN" / "SOURCE.json").read_text())["repo"] == SVHN_REPO


def test_mnist_from_torchvisions_second_mirror_gunzipped(env, hub, tmp_path):
    """MNIST's first mirror is https (the proxy cannot tunnel it: refused), the second http, answered by the local
    server as the proxy; torchvision's MD5s are replaced by those of synthetic .gz files in the subprocess."""
    import gzip

    from torchvision.datasets import MNIST

    from tests.test_data import _write_idx

    _write_idx(tmp_path / "idx", "train", 70)
    _write_idx(tmp_path / "idx", "t10k", 30)
    resources = []
    for name, _ in MNIST.resources:
        packed = gzip.compress((tmp_path / "idx" / name.removesuffix(".gz")).read_bytes())
        hub.add_url(f"{MNIST.mirrors[1]}{name}", packed)
        resources.append((name, hashlib.md5(packed).hexdigest()))
    script = ("import sys, torchvision.datasets as d\n"
              f"d.MNIST.resources = {resources!r}\n"
              "from gm_build.data.__main__ import main\n"
              "sys.exit(main(['--datasets', 'mnist']))\n")
    proxied = {**env, "http_proxy": hub.endpoint, "HTTP_PROXY": hub.endpoint}
    result = subprocess.run([sys.executable, "-c", script], cwd=repo_root(), env=proxied, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"mnist: from torchvision's source {MNIST.mirrors[0].rstrip('/')}" in result.stdout
    assert "mnist: installed" in result.stdout
    for stem in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert (tmp_path / "data" / "MNIST" / "raw" / stem).read_bytes() == (tmp_path / "idx" / stem).read_bytes()
    assert len(load_dataset("mnist", "test", root=tmp_path / "data")) == 30


# ---------------------------------------------------------------- pieces


def test_the_bar_prints_whole_lines_on_a_log_at_least_every_30_s(monkeypatch):
    from gm_build.data import bars

    clock = [0.0]
    monkeypatch.setattr("tqdm.std.time", lambda: clock[0])  # tqdm reads its clock through this name
    log = io.StringIO()  # not a tty
    with bars.DownloadBar(total=10 << 20, desc="train.parquet", file=log) as bar:
        for _ in range(10):
            clock[0] += 31.0  # a slow link: one MiB every 31 s
            bar.update(1 << 20)
    assert "\r" not in log.getvalue() and log.getvalue().endswith("\n")
    lines = [line for line in log.getvalue().split("\n") if line]
    assert len(lines) >= 11 and bars.LOG_INTERVAL_S <= 60  # the opening line, one per 31 s update, the closing one
    assert "train.parquet" in lines[-1] and "100%" in lines[-1] and "10.0M/10.0M" in lines[-1]


@pytest.mark.parametrize("pins", ["{not json", '{"flwrlabs/celeba": {"revision": "main"}}'])
def test_bad_pins_are_one_line(pins, tmp_path, monkeypatch, capsys):
    from gm_build.data.__main__ import main

    (tmp_path / "pins.json").write_text(pins)
    monkeypatch.setenv("GM_DATA_PINS", str(tmp_path / "pins.json"))
    assert main(["--datasets", "celeba", "--root", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: GM_DATA_PINS=") and "Traceback" not in err[0]



def test_make_data_by_default_covers_every_dataset_the_report_trains_on(tmp_path):
    from gm_build.data import DATASETS, default_datasets
    from gm_build.report.plan import report_runs

    used = {run.data.name for run in report_runs("smoke").values()}
    fetched = {"binarized_mnist": "mnist"}
    assert {fetched.get(name, name) for name in used} <= set(DATASETS)
    assert default_datasets(tmp_path) == list(DATASETS)  # an empty folder misses them all


def test_plan_names_the_make_data_command_for_missing_data(tmp_path):
    env = isolated_env("http://127.0.0.1:9", tmp_path)
    (tmp_path / "data").mkdir()
    result = subprocess.run([sys.executable, "-m", "gm_build.report", "--plan", "--profile", "smoke", "--only",
                             "wae_svhn", "wae_celeba", "--reports-dir", str(tmp_path / "reports"),
                             "--figures-dir", str(tmp_path / "figures")],
                            cwd=repo_root(), env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("wae_svhn: not run, data unavailable: ") and "run make data DATASETS=svhn" in line
               for line in lines), result.stdout
    assert any("run make data DATASETS=celeba" in line for line in lines), result.stdout
    assert lines[-1] == "missing data: make data DATASETS=celeba,svhn fetches it (then make report again)"


# ---------------------------------------------------------------- the report side


@pytest.mark.slow
def test_make_data_then_the_smoke_report_runs_svhn_and_celeba(env, tmp_path):
    """Done-when of issue 30: into an empty GM_DATA_DIR, make data, then make report PROFILE=smoke runs wgan_svhn,
    wae_svhn and wae_celeba with no NOT RUN note (tiny models; minutes on 2 cores). The FID weights that make
    setup converted are linked in from this machine's cache."""
    from gm_lib.paths import cache_dir

    fid = cache_dir("fid", create=False)
    if not any(fid.glob("pt_inception-*.pth")):
        pytest.skip(f"no converted FID weights in {fid}: run make setup")
    (tmp_path / "cache").mkdir(exist_ok=True)
    (tmp_path / "cache" / "fid").symlink_to(fid)
    assert make_data(env, "svhn,celeba").returncode == 0
    only = "wgan_svhn wae_svhn wae_celeba"
    bin_dir = Path(sys.prefix).resolve() / "bin"  # the environment the kernel gm-lab runs (.venv may be a link)
    folders = f"--reports-dir {tmp_path / 'reports'} --figures-dir {tmp_path / 'figures'}"
    result = subprocess.run(["make", "--no-print-directory", "report", f"BIN={bin_dir}", "PROFILE=smoke",
                             f"ONLY={only}", f"REPORT_ARGS={folders}"],
                            cwd=repo_root(), env=env, capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "NOT RUN" not in result.stdout
    for name in only.split():
        assert f"] {name} (" in result.stdout
