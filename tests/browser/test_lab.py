"""JupyterLab and the HTML report in a real browser: Playwright for Python driving the system's chromium.

Run by ``make test-browser`` (``pytest tests/browser --browser``); plain ``pytest`` skips these tests, and without a
chromium binary they skip with the reason. On a warm smoke cache (a smoke report is built first into a temporary
folder, which trains nothing when the cache is warm), a JupyterLab server from this Python environment serves
copies of the notebooks with the smoke parameters injected (papermill's parameterisation, as ``make report`` does)
on 127.0.0.1 with a token. Each chapter is opened, every cell run, and its explorer moved 10 times; each move must
repaint the explorer's image (a pixel difference) and its latency, keydown/mousedown to the new image decoded, is
recorded in ``reports/screenshots/latency.json`` (a measurement, not an assert). Screenshots go to
``reports/screenshots/``. The server, its kernels and the browser are stopped by the fixtures, also on failure.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from gm_build.report.manifest import load_manifest, resolve_device
from gm_lib.paths import repo_root

pytestmark = pytest.mark.browser

SHOTS = repo_root() / "reports" / "screenshots"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
# The control each chapter's test moves: a slider (by its Control name) or clicks on the image.
CHAPTERS = {"01_vae_binarized_mnist": "z0", "02_hellinger_vs_emd": "theta", "03_wgan": "position",
            "04_wae_vs_vae": "z0", "05_tsne_latents": "click"}
MOVES = 10
IMAGE = "img.gm-explorer-image, .gm-explorer-image img"
# Arms one measurement: t0 at the next keydown/mousedown, t1 when the explorer image's new src is decoded.
ARM = """(selector) => {
  const img = document.querySelector(selector);
  const gm = window.__gm = {t0: null, t1: null};
  const start = () => { if (gm.t0 === null) gm.t0 = performance.now(); };
  document.addEventListener('keydown', start, {capture: true, once: true});
  document.addEventListener('mousedown', start, {capture: true, once: true});
  const observer = new MutationObserver(() => {
    observer.disconnect();
    const seen = performance.now();
    img.decode().then(() => { gm.t1 = performance.now(); }, () => { gm.t1 = seen; });
  });
  observer.observe(img, {attributes: true, attributeFilter: ['src']});
}"""
# The open notebook's state, read from JupyterLab's own model (exposed with --LabApp.expose_app_in_browser).
STATE = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const state = {path: panel.context.path, status: kernel ? kernel.status : 'none', pending: 0, errors: [], stderr: []};
  for (const cell of panel.content.model.cells) {
    if (cell.type !== 'code') continue;
    if (cell.executionCount === null) state.pending += 1;
    for (const out of cell.outputs.toJSON()) {
      if (out.output_type === 'error') state.errors.push(out.ename + ': ' + out.evalue);
      if (out.output_type === 'stream' && out.name === 'stderr') state.stderr.push(String(out.text));
    }
  }
  return state;
}"""


def _changed(a: bytes, b: bytes) -> float:
    """Share of pixels that differ by more than 2 levels between two PNG screenshots."""
    from PIL import Image

    x, y = (np.asarray(Image.open(io.BytesIO(p)).convert("RGB"), dtype=np.int16) for p in (a, b))
    return float((np.abs(x - y).max(axis=2) > 2).mean()) if x.shape == y.shape else 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chromium() -> str:
    path = os.environ.get("GM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("no chromium on this machine: `apt-get install -y chromium` (or set GM_CHROMIUM) to run these")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed: make setup")
    return path


@pytest.fixture(scope="session")
def smoke_report(chromium, tmp_path_factory) -> Path:
    """A smoke report built into a temporary folder: warms the checkpoint cache and gives a current report.html."""
    root = tmp_path_factory.mktemp("smoke")
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(repo_root()), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-m", "gm_build.report", "--profile", "smoke",
                    "--reports-dir", str(root / "reports"), "--figures-dir", str(root / "figures")],
                   cwd=repo_root(), env=env, check=True, stdout=subprocess.DEVNULL)
    return root / "reports"


def _lab_notebooks(folder: Path, figures: Path) -> None:
    """Copies of 00_start and each chapter's first manifest run, with the smoke parameters injected."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    folder.mkdir(parents=True)
    device = resolve_device("auto")  # as make report passes it: the device is part of a run's cache key
    specs = {}
    for spec in load_manifest(repo_root() / "reports" / "manifest.yaml").runs:
        specs.setdefault(spec.notebook.name, spec)
    start = repo_root() / "notebooks" / "00_start.ipynb"
    targets = [(start, {"profile": "smoke", "seed": 0, "device": device})]
    targets += [(spec.notebook, {"profile": "smoke", "seed": 0, "device": device, "precision": "auto",
                                 "output_dir": str(figures / spec.name), "run_name": spec.name} | spec.parameters)
                for spec in specs.values()]
    for path, parameters in targets:
        notebook = parameterize_notebook(load_notebook_node(str(path)), parameters)
        nbformat.write(notebook, folder / path.name)


@pytest.fixture(scope="session")
def lab(smoke_report, tmp_path_factory):
    """A JupyterLab server (this environment, 127.0.0.1, a token) on the parameterised notebooks; stopped after."""
    root = tmp_path_factory.mktemp("lab")
    _lab_notebooks(root / "notebooks", root / "figures")
    settings = root / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # Every cell in the DOM (no windowing), so the explorer can be scrolled to and screenshot.
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    token, port = secrets.token_hex(16), _free_port()
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(repo_root()), os.environ.get("PYTHONPATH", "")]),
        "JUPYTERLAB_SETTINGS_DIR": str(root / "user-settings"), "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"),
        "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
    }
    env.pop("GM_EXPLORE", None)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root / 'notebooks'}", "--LabApp.default_url=/lab/tree/00_start.ipynb",
               "--LabApp.expose_app_in_browser=True", *(["--allow-root"] if os.geteuid() == 0 else [])]
    log = (root / "lab.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(server, url, token, root / "lab.log")
        yield SimpleNamespace(url=url, token=token, log=root / "lab.log")
    finally:
        _stop_server(server, url, token)
        log.close()


def _wait_for_server(server, url: str, token: str, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


def _stop_server(server, url: str, token: str) -> None:
    """Shut the server down through its API (which stops its kernels), then make sure it is gone."""
    try:
        request = urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
        server.wait(timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        pass
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="session")
def browser(chromium, tmp_path_factory):
    """A headless chromium context with a fresh profile; closed after the session."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=chromium, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def latency():
    """Moves measured per chapter; written to reports/screenshots/latency.json at the end of the session."""
    measured: dict[str, dict] = {}
    yield measured
    if measured:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / "latency.json"
        previous = json.loads(path.read_text()) if path.is_file() else {}
        path.write_text(json.dumps(previous | measured, indent=2))
        for name, row in measured.items():
            print(f"{name}: median redraw {row['median_ms']:.0f} ms over {len(row['moves_ms'])} moves "
                  f"({row['control']})")


def _run_all(page, lab, notebook: str, timeout: float = 600) -> dict:
    """Open ``notebook`` in the Lab, run every cell, wait for the end; returns the notebook's :data:`STATE`."""
    page.goto(f"{lab.url}/lab/tree/{notebook}?reset&token={lab.token}")  # reset: no other notebook reopened
    page.wait_for_function(f"() => {{ const s = ({STATE})(); return s && s.path === '{notebook}' && "
                           "s.status === 'idle'; }", timeout=180_000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = page.evaluate(STATE)
        if state["status"] == "idle" and (state["pending"] == 0 or state["errors"]):
            return state
        time.sleep(1)
    pytest.fail(f"{notebook}: cells still running after {timeout} s: {page.evaluate(STATE)}")


def _shutdown_kernels(lab) -> None:
    """Stop every kernel of the server (each chapter's test starts its own), so none competes for the CPU."""
    base = f"{lab.url}/api/sessions"
    with urllib.request.urlopen(f"{base}?token={lab.token}", timeout=10) as response:
        sessions = json.load(response)
    for session in sessions:
        request = urllib.request.Request(f"{base}/{session['id']}?token={lab.token}", method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()


def test_lab_opens_on_the_course_page_with_cache_state_and_no_news_prompt(browser, lab):
    installed = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert installed.is_file(), f"{installed} missing: `make setup` writes it from lab/overrides.json"
    assert json.loads(installed.read_text()) == json.loads((repo_root() / "lab" / "overrides.json").read_text())
    page = browser.new_page()
    try:
        page.goto(f"{lab.url}/?token={lab.token}")  # / redirects to the default URL, 00_start.ipynb, as make lab
        page.wait_for_function(f"() => {{ const s = ({STATE})(); return s && s.path === '00_start.ipynb'; }}",
                               timeout=180_000)
        state = _run_all(page, lab, "00_start.ipynb")
        assert not state["errors"], state["errors"]
        table = page.locator(".jp-OutputArea-output table").last
        table.wait_for()
        text = table.inner_text()
        assert "VAE on binarized MNIST" in text and "all 1 trained" in text and "all 4 trained" in text, text
        assert "0.6 min" in text  # the manifest's measured smoke minutes of 01
        page.wait_for_timeout(3000)  # the news prompt shows a few seconds after start
        assert "official Jupyter news" not in page.inner_text("body")
        table.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "00_start.png"))
    finally:
        page.close()
        _shutdown_kernels(lab)


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_chapter_runs_and_its_explorer_redraws(browser, lab, latency, chapter):
    page = browser.new_page()
    try:
        state = _run_all(page, lab, f"{chapter}.ipynb")
        assert not state["errors"], f"{chapter}: error output {state['errors']}"
        assert state["pending"] == 0
        assert not [s for s in state["stderr"] if re.search(r"Traceback|Error|Warning", s)], state["stderr"]
        body = page.inner_text("body")
        assert "Error displaying widget" not in body and "Failed to load model class" not in body
        explorer = page.locator(".gm-explorer").first
        explorer.scroll_into_view_if_needed()
        image = page.locator(IMAGE).first
        image.wait_for(state="visible")
        explorer.screenshot(path=str(SHOTS / f"{chapter}.png"))
        moves = _move(page, explorer, image, CHAPTERS[chapter])
        explorer.screenshot(path=str(SHOTS / f"{chapter}-moved.png"))
        changed = [m for m in moves if m["changed"] > 0]
        assert len(changed) == len(moves) == MOVES, f"{chapter}: moves that did not repaint: {moves}"
        latency[chapter] = {"control": CHAPTERS[chapter], "moves_ms": [round(m["ms"], 1) for m in moves],
                            "median_ms": statistics.median(m["ms"] for m in moves),
                            "changed_pixels": [round(m["changed"], 4) for m in moves]}
    finally:
        page.close()
        _shutdown_kernels(lab)


def _move(page, explorer, image, control: str) -> list[dict]:
    """Move the control :data:`MOVES` times (sliders: back and forth between their ends; clicks: over the map)."""
    moves, direction = [], 1
    targets = [(0.15 + 0.1 * (i % 5), 0.2 + 0.15 * (i // 5)) for i in range(3 * MOVES)]  # clicks: map fractions
    for i in range(3 * MOVES):
        if len(moves) == MOVES:
            break
        before = image.screenshot()
        page.evaluate(ARM, IMAGE)
        if control == "click":
            box = image.bounding_box()
            map_width = box["width"] - 200  # the map; the chosen point's image is drawn in the last 200 px
            fx, fy = targets[i]
            image.click(position={"x": fx * map_width, "y": fy * box["height"]})
        else:
            handle = explorer.locator(f".gm-control-{control} .noUi-handle").first
            now, low, high = (float(handle.get_attribute(f"aria-value{k}")) for k in ("now", "min", "max"))
            direction = -1 if now >= high else 1 if now <= low else direction
            handle.press("ArrowRight" if direction > 0 else "ArrowLeft")
        try:
            page.wait_for_function("() => window.__gm.t1 !== null", timeout=10_000)
        except Exception:  # no repaint: a click whose nearest point was already shown; a slider fails below
            if control == "click":
                continue
            moves.append({"ms": float("nan"), "changed": 0.0})
            continue
        ms = page.evaluate("() => window.__gm.t1 - window.__gm.t0")
        moves.append({"ms": ms, "changed": _changed(before, image.screenshot())})
    return moves


def test_report_html_loads_every_image_renders_formulas_and_logs_no_error(browser, smoke_report):
    reports = [smoke_report / "report.html"]
    if (repo_root() / "reports" / "report.html").is_file():
        reports.append(repo_root() / "reports" / "report.html")
    for i, path in enumerate(reports):
        page, errors = browser.new_page(), []
        page.on("console", lambda message, errors=errors: errors.append(message.text) if message.type == "error" else 0)
        page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
        try:
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            images = page.evaluate("() => Array.from(document.images).map(i => [i.getAttribute('src'), "
                                   "i.complete ? i.naturalWidth : 0])")
            assert images, f"{path}: no images"
            assert not [src for src, width in images if not width], f"{path}: images that did not load"
            text = page.inner_text("body")
            # Formulas are written as Unicode text (W1 = |θ|, −ELBO, H²): none may be left as raw TeX.
            assert not re.search(r"\$[^$\n]+\$|\\(frac|mathbb|mathcal|theta|sqrt|mathrm)\b", text), "raw TeX in report"
            assert "θ" in text and "−ELBO" in text
            assert not errors, f"{path}: console errors {errors}"
            page.screenshot(path=str(SHOTS / f"report{'-repo' if i else ''}.png"))
        finally:
            page.close()


def test_executed_chapters_show_each_explorer_as_a_static_figure(browser, smoke_report):
    """The report's executed notebooks (reports/executed/<run>.html, linked from report.html) hold the explorer's
    default position as an image with its caption; console errors are not checked (nbconvert's page loads MathJax
    from a CDN, which is offline here)."""
    for chapter in CHAPTERS:
        run = next(spec.name for spec in load_manifest(repo_root() / "reports" / "manifest.yaml").runs
                   if spec.notebook.stem == chapter)
        page = browser.new_page()
        try:
            page.goto((smoke_report / "executed" / f"{run}.html").as_uri())
            page.wait_for_load_state("load")
            caption = page.get_by_text("static view at the controls' defaults")
            assert caption.count() == 1, f"{run}: no static explorer"
            output = caption.locator("xpath=ancestor::div[contains(@class, 'jp-Cell')][1]")
            figure = output.locator("img").first
            assert figure.evaluate("i => i.complete && i.naturalWidth") > 0, f"{run}: explorer figure not loaded"
            output.screenshot(path=str(SHOTS / f"static-{chapter}.png"))
        finally:
            page.close()
