"""Interactive explorers of the trained models, one per chapter: widgets in JupyterLab, a static figure headless.

An :class:`Explorer` is a list of :class:`Control` s and one ``draw(values) -> (png, html)`` function. Shown
in a front end that renders widgets (JupyterLab), it becomes ipywidgets controls over an image that ``draw``
repaints on every move; executed headless (papermill, ``make report``: the kernel is told the front end
cannot answer ``input()``), it shows ``draw`` at the controls' defaults as a static PNG and its text, with no
widget at all, so the executed notebook holds a figure and no widget state (papermill#400, jupyter-cache#31).
``GM_EXPLORE=widgets|static`` overrides the guess.

Every explorer takes models already trained (from the checkpoint cache, never retrained here), decodes small
batches on the model's device and caches what repeats (encodings, snapshot histograms, plots per θ), so a move
costs one decode and a PNG encode. ``Explorer.redraw_s`` keeps the kernel-side seconds of each redraw.
"""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor
from torchvision.utils import make_grid

from gm_lib import toy

__all__ = ["Control", "Explorer", "interactive_frontend", "vae_explorer", "toy_explorer", "gan_explorer",
           "autoencoder_explorer", "tsne_explorer", "CLASS_NAMES"]

View = tuple[bytes, str]  # (PNG bytes, HTML text shown beside it)
CLASS_NAMES = {"fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                                 "Bag", "Ankle boot")}
_SCALE = 3  # screen pixels per image pixel: a 28×28 digit is drawn 84 px wide


@dataclass(frozen=True)
class Control:
    """One control: a slider over ``options`` (in order) or a drop-down menu of them.

    Attributes:
        name: the key of its value in the ``values`` dict ``draw`` receives.
        label: what the control is called on screen.
        options: the values it can take (numbers for a slider, labels for a menu).
        default: the starting value, the one the static figure shows; must be one of ``options``.
        kind: ``"slider"`` or ``"menu"``.
    """

    name: str
    label: str
    options: Sequence[Any]
    default: Any
    kind: Literal["slider", "menu"] = "slider"


class Explorer:
    """Controls and a ``draw`` function, displayed as widgets or, headless, as a static figure.

    Args:
        title: one line above the controls.
        controls: the controls, shown in this order.
        draw: ``values -> (png, html)`` for ``values = {control.name: value}``; pure apart from its caches.
        on_click: ``(values, fx, fy) -> new values or None`` for a click at fractions ``fx, fy`` in ``[0, 1]`` of
            the image's width and height; makes the image clickable (an anywidget, ipywidgets has no clicks).
        warm: fills ``draw``'s caches before the widgets are shown (not headless, where only the default is drawn),
            so that no move waits for a first-time computation.

    Raises:
        ValueError: a control's default is not one of its options.
    """

    def __init__(self, title: str, controls: Sequence[Control], draw: Callable[[dict], View],
                 on_click: Callable[[dict, float, float], dict | None] | None = None,
                 warm: Callable[[], None] | None = None):
        for control in controls:
            if control.default not in list(control.options):
                raise ValueError(f"control {control.name!r}: default {control.default!r} is not one of its options")
        self.title, self.controls, self._draw, self._on_click, self._warm = title, list(controls), draw, on_click, warm
        self.values = {c.name: c.default for c in self.controls}
        self.redraw_s: list[float] = []

    def view(self, **changes) -> View:
        """``draw`` at the current values updated by ``changes``; records the seconds it took."""
        self.values.update(changes)
        start = time.perf_counter()
        png, text = self._draw(dict(self.values))
        self.redraw_s.append(time.perf_counter() - start)
        return png, text

    def static(self) -> list:
        """The default position as IPython display objects: a caption (HTML) and the figure (PNG)."""
        from IPython.display import HTML
        from IPython.display import Image as PNG

        png, text = self._draw({c.name: c.default for c in self.controls})
        note = "static view at the controls' defaults; open the notebook in JupyterLab to move them"
        return [HTML(f"<b>{self.title}</b> <i>({note})</i><br>{text}"), PNG(data=png)]

    def widget(self):
        """The ipywidgets view: title, controls, the image and its text; moving a control redraws."""
        import ipywidgets as widgets

        if self._warm:
            self._warm()
        png, text = self.view()
        image = _click_image(png=_b64(png)) if self._on_click else widgets.Image(value=png, format="png")
        caption = widgets.HTML(text)
        inputs = {c.name: _control_widget(c) for c in self.controls}
        for name, control in inputs.items():
            control.add_class(f"gm-control-{name}")  # for the browser tests

        def redraw(**changes):
            png, text = self.view(**changes)
            if self._on_click:
                image.png = _b64(png)
            else:
                image.value = png
            caption.value = text

        for name, control in inputs.items():
            control.observe(lambda change, name=name: redraw(**{name: change["new"]}), names="value")
        if self._on_click:
            def clicked(change):
                fx, fy = change["new"][:2]
                for name, value in (self._on_click(dict(self.values), fx, fy) or {}).items():
                    inputs[name].value = value  # the control follows the click, and its observer redraws
            image.observe(clicked, names="click")
        image.add_class("gm-explorer-image")
        # The image keeps its own size: not squeezed beside the caption, nor stretched to a taller caption's height.
        image.layout = widgets.Layout(flex="0 0 auto")
        caption.layout = widgets.Layout(min_width="240px", margin="0 0 0 12px")
        box = widgets.VBox([widgets.HTML(f"<b>{self.title}</b>"),
                            widgets.HBox(list(inputs.values()), layout=widgets.Layout(flex_flow="row wrap")),
                            widgets.HBox([image, caption], layout=widgets.Layout(flex_flow="row wrap",
                                                                                 align_items="flex-start"))])
        box.add_class("gm-explorer")
        return box

    def _ipython_display_(self):
        from IPython.display import display

        if interactive_frontend():
            display(self.widget())
        else:
            display(*self.static())


def interactive_frontend() -> bool:
    """True inside a kernel whose front end renders widgets: one that can answer ``input()``.

    papermill/nbclient send every cell with ``allow_stdin=False`` (a headless run cannot type), JupyterLab
    with ``True``; outside a kernel (a script, a test) there is no front end. ``GM_EXPLORE=widgets|static``
    overrides the guess.
    """
    forced = os.environ.get("GM_EXPLORE", "auto")
    if forced in ("widgets", "static"):
        return forced == "widgets"
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is None or not hasattr(kernel, "get_parent"):
        return False
    return bool(kernel.get_parent("shell").get("content", {}).get("allow_stdin", False))


def _control_widget(control: Control):
    import ipywidgets as widgets

    style, layout = {"description_width": "initial"}, widgets.Layout(width="300px")
    if control.kind == "menu":
        return widgets.Dropdown(options=list(control.options), value=control.default, description=control.label,
                                style=style, layout=layout)
    options = [(f"{v:g}" if isinstance(v, float) else str(v), v) for v in control.options]
    return widgets.SelectionSlider(options=options, value=control.default, description=control.label,
                                   continuous_update=True, style=style, layout=layout)


@cache
def _click_image_class():
    import anywidget
    import traitlets

    class ClickImage(anywidget.AnyWidget):
        """A PNG (base64) that reports clicks as ``[fx, fy, time]``, fractions of its width and height."""

        _esm = """
        function render({ model, el }) {
          const img = document.createElement("img");
          const show = () => { img.src = "data:image/png;base64," + model.get("png"); };
          show();
          model.on("change:png", show);
          img.style.cursor = "crosshair";
          img.addEventListener("click", (e) => {
            const r = img.getBoundingClientRect();
            model.set("click", [(e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height, Date.now()]);
            model.save_changes();
          });
          el.appendChild(img);
        }
        export default { render };
        """
        png = traitlets.Unicode("").tag(sync=True)
        click = traitlets.List([]).tag(sync=True)

    return ClickImage


def _click_image(**kwargs):  # the class is made on first use: anywidget is imported only for widgets
    return _click_image_class()(**kwargs)


# ---------------------------------------------------------------- drawing (PIL: a move costs milliseconds)


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _tile(x: Tensor, scale: int = _SCALE) -> Image.Image:
    """Images ``(N, C, H, W)`` in ``[0, 1]`` side by side, ``scale`` screen pixels per pixel."""
    grid = make_grid(x.detach().float().cpu().clamp(0, 1), nrow=len(x), padding=2, pad_value=1.0)  # (3, H', W')
    array = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    image = Image.fromarray(array)
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST)


@cache
def _font(size: int = 13):
    return ImageFont.load_default(size=size)


def _compose(rows: Sequence[tuple[str, Tensor]], label_width: int = 150) -> Image.Image:
    """One labelled row per ``(label, images (n, C, H, W))``, stacked; white background."""
    tiles = [(label, _tile(x)) for label, x in rows]
    width = label_width + max(t.width for _, t in tiles)
    canvas = Image.new("RGB", (width, sum(t.height + 4 for _, t in tiles)), "white")
    draw, top = ImageDraw.Draw(canvas), 0
    for label, tile in tiles:
        canvas.paste(tile, (label_width, top))
        draw.multiline_text((4, top + tile.height // 2), label, fill="black", font=_font(), anchor="lm")
        top += tile.height + 4
    return canvas


def _figure_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def _table(rows: Sequence[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><td style='padding-right:1em'>{k}</td><td><b>{v}</b></td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _offsets(low: float = -4.0, high: float = 4.0, step: float = 0.5) -> list[float]:
    return [round(float(v), 2) for v in np.arange(low, high + step / 2, step)]


# ---------------------------------------------------------------- 01: one test digit under the VAE


def vae_explorer(model, x: Tensor, k: int = 1000, dims: int = 4, n_samples: int = 6, seed: int = 0) -> Explorer:
    """Notebook 01: a test digit, its reconstruction, samples from q(z|x), and sliders walking z[0..dims-1].

    Beside it the digit's −ELBO (nats; reconstruction term averaged over 64 draws of q(z|x), KL exact) and
    its importance-sampled NLL with ``k`` samples (Burda et al. 2016, eq. 8), computed once per digit.

    Args:
        model: a trained :class:`gm_lib.models.VAE` (``encode``, ``decode``, ``log_px_given_z``).
        x: test images ``(N, 1, 28, 28)`` in ``[0, 1]`` (any device; moved to the model's).
        k: importance samples for the NLL.
        dims: how many leading latent coordinates get a slider (offset ε in [−4, 4] added to μ(x)).
    """
    from gm_lib.losses import gaussian_kl
    from gm_lib.metrics.likelihood import importance_sampled_log_likelihood

    dims = min(dims, model.latent_dim)

    @cache
    def digit(index: int):
        xi = x[index : index + 1].to(model.device)  # (1, C, H, W)
        generator = torch.Generator(device=model.device).manual_seed(seed)
        with torch.no_grad():
            mu, logvar = model.encode(xi)  # (1, d) each
            eps = torch.randn(64, mu.shape[1], generator=generator, device=model.device)  # (64, d)
            z = mu + torch.exp(0.5 * logvar) * eps
            reconstruction = -model.log_px_given_z(xi.expand(64, -1, -1, -1), z).mean().item()
            kl = gaussian_kl(mu, logvar).item()
            nll = -importance_sampled_log_likelihood(model, xi, k=k, generator=generator).mean
            samples = model.decode(z[:n_samples])
        return xi, mu, samples, reconstruction, kl, nll

    def draw(values):
        xi, mu, samples, reconstruction, kl, nll = digit(values["index"])
        shift = torch.tensor([[values[f"z{i}"] for i in range(dims)]], device=mu.device)
        walked = mu.clone()
        walked[:, :dims] += shift
        with torch.no_grad():
            pair = torch.cat([xi, model.decode(mu), model.decode(walked)])
        image = _compose([("digit, decoded mean,\nwalked code", pair), (f"{n_samples} draws of\nz ~ q(z|x)", samples)])
        text = _table([("test digit", values["index"]), ("−ELBO (nats)", f"{reconstruction + kl:.2f}"),
                       ("  reconstruction", f"{reconstruction:.2f}"), ("  KL", f"{kl:.2f}"),
                       (f"NLL, K = {k} (nats)", f"{nll:.2f}"),
                       ("walked", ", ".join(f"z[{i}] {values[f'z{i}']:+g}" for i in range(dims)))])
        return _png(image), text

    controls = [Control("index", "test digit", list(range(len(x))), 0)]
    controls += [Control(f"z{i}", f"offset on z[{i}]", _offsets(), 0.0) for i in range(dims)]
    return Explorer("VAE explorer: one test digit, its posterior and a walk along its first coordinates",
                    controls, draw)


# ---------------------------------------------------------------- 02: the toy's critics at θ


def toy_explorer(thetas: Sequence[float], hellinger: Sequence[toy.Estimate],
                 wasserstein: Sequence[toy.Estimate]) -> Explorer:
    """Notebook 02: a θ slider over the trained grid; the true W1 and H², both estimates, both critics over x₁.

    Args:
        thetas: the θ grid the critics were trained at.
        hellinger, wasserstein: :func:`gm_lib.toy.estimate_curve` results at ``thetas``, with their critics
            (``Estimate.critic``, the trained function at ``(x₁, ½)`` for x₁ in :data:`gm_lib.toy.CRITIC_X`).
            Every θ's plot is drawn before the widgets show (~0.1 s each), so a move only swaps images.

    Raises:
        ValueError: lengths differ or an estimate has no recorded critic.
    """
    if not len(thetas) == len(hellinger) == len(wasserstein) or not all(e.critic for e in [*hellinger, *wasserstein]):
        raise ValueError("need one Hellinger and one Wasserstein estimate per θ, each with its critic recorded")
    index = {float(t): i for i, t in enumerate(thetas)}

    @cache
    def draw_theta(theta: float) -> View:
        import matplotlib.pyplot as plt

        i = index[theta]
        h, w = hellinger[i], wasserstein[i]
        fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.0))
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.17, top=0.9, wspace=0.22)  # tight_layout costs ~100 ms
        x1 = np.array(toy.CRITIC_X)
        for ax, values, label in [(axes[0], h.critic, "Hellinger critic V"), (axes[1], w.critic, "W1 critic f")]:
            ax.plot(x1, values, color="C0")
            ax.axvline(0, color="k", lw=1, ls="--", label="p: x₁ = 0")
            ax.axvline(theta, color="C3", lw=1, ls=":", label=f"q_θ: x₁ = {theta:g}")
            ax.set_xlabel("x₁ (at x₂ = ½)")
            ax.set_title(label, fontsize=10)
            ax.legend(fontsize=7, loc="upper right")
        text = _table([("θ", f"{theta:g}"), ("true W1 = |θ|", f"{toy.true_wasserstein(theta):.3f}"),
                       ("W1 critic's estimate", f"{w.value:.3f} ± {2 * w.stderr:.3f}"),
                       ("true H²", f"{toy.true_squared_hellinger(theta):.3f}"),
                       ("Hellinger critic's estimate", f"{h.value:.3f} ± {2 * h.stderr:.3f}")])
        return _figure_png(fig), text + "<small>± 2 standard errors over evaluation batches</small>"

    options = [float(t) for t in thetas]
    default = min(options, key=lambda t: abs(t - 0.5))
    return Explorer("Toy explorer: both critics and their estimates at θ", [Control("theta", "θ", options, default)],
                    lambda values: draw_theta(values["theta"]), warm=lambda: [draw_theta(t) for t in options])


# ---------------------------------------------------------------- 03: GAN snapshots over training


def gan_explorer(runs: Mapping[str, Any], z: Tensor, classifier, dataset: str, n: int = 256,
                 seed: int = 0) -> Explorer:
    """Notebook 03: model menu, training-step slider over the weight snapshots, interpolation slider.

    Shows, for the chosen model at the chosen snapshot, the decoded fixed codes ``z``, the class histogram
    of ``n`` samples under the domain classifier (bars, as a share of samples) and the decoded point at
    ``t`` on the line from ``z[0]`` to ``z[1]``. Snapshots are loaded here; before the widgets show, every
    snapshot's codes and histogram are computed (~0.1 s each on 2 cores), so a move only decodes the 3 line points.

    Args:
        runs: label -> :class:`gm_lib.experiments.Run` trained with snapshots (notebook 03's GANs).
        z: fixed codes ``(K, d)``, the notebook's ``z_fixed`` (moved to each model's device).
        classifier: :func:`gm_lib.metrics.get_classifier` of ``dataset``.
    """
    from gm_lib.experiments import snapshot_models
    from gm_lib.metrics import class_coverage

    names = CLASS_NAMES.get(dataset, tuple(str(c) for c in range(10)))
    snapshots = cache(lambda label: snapshot_models(runs[label]))
    count = max(len(snapshots(label)) for label in runs)

    @cache
    def at(label: str, position: int):
        models = snapshots(label)
        step, model = models[round(position * (len(models) - 1) / max(1, count - 1))]
        with torch.no_grad():
            fake = model.sample(n, generator=torch.Generator().manual_seed(seed))
            grid = model.decode(z.to(model.device))
        return step, model, grid, class_coverage(classifier, fake).histogram

    def draw(values):
        step, model, grid, histogram = at(values["model"], values["position"])
        t = values["t"]
        ends = z[:2].to(model.device)
        with torch.no_grad():
            line = model.decode(torch.stack([ends[0], (1 - t) * ends[0] + t * ends[1], ends[1]]))
        image = _compose([(f"{len(z)} fixed codes", grid), (f"z0, t = {t:g}, z1", line)])
        bars = "".join(f"<tr><td>{name}</td><td><div style='background:#4c72b0;height:10px;"
                       f"width:{200 * share:.0f}px'></div></td><td>{share:.1%}</td></tr>"
                       for name, share in zip(names, histogram, strict=True))
        text = (_table([("model", values["model"]), ("generator step", f"{step:,}")])
                + f"<div>classes of {n} samples</div><table style='font-size:11px'>{bars}</table>")
        return _png(image), text

    labels = list(runs)
    controls = [Control("model", "model", labels, labels[0], "menu"),
                Control("position", "snapshot", list(range(count)), count - 1),
                Control("t", "interpolation t", [round(v, 1) for v in np.linspace(0, 1, 11)], 0.5)]
    warm = lambda: [at(label, position) for label in labels for position in range(count)]  # ~0.1 s a snapshot
    return Explorer("GAN explorer: samples and class histogram over training, and a latent interpolation",
                    controls, draw, warm=warm)


# ---------------------------------------------------------------- 04: one code, every decoder


def autoencoder_explorer(models: Mapping[str, Any], x: Tensor, dims: int = 8, images: int = 20) -> Explorer:
    """Notebook 04: the code of a test image under the chosen model's encoder, moved by sliders, decoded by all.

    Every model of notebook 04 shares the latent size and the N(0, I) prior, so one code can be decoded by
    each: where the decoders agree the latent spaces are alike, where they differ each model has its own.

    Args:
        models: label -> trained autoencoder (``embed``, ``decode``), all with the same ``latent_dim``.
        x: test images ``(N, C, H, W)`` in ``[0, 1]``; the first ``images`` can be chosen.
        dims: latent coordinates with a slider (offset ε in [−4, 4]).
    """
    labels = list(models)
    dims = min(dims, min(m.latent_dim for m in models.values()))

    @cache
    def code(label: str, index: int) -> Tensor:
        model = models[label]
        return model.embed(x[index : index + 1].to(model.device)).float().cpu()  # (1, d)

    def draw(values):
        z = code(values["source"], values["index"]).clone()
        z[0, :dims] += torch.tensor([values[f"z{i}"] for i in range(dims)])
        with torch.no_grad():
            decoded = [m.decode(z.to(m.device)).cpu() for m in models.values()]
        rows = [("test image", x[values["index"] : values["index"] + 1])]
        rows += [(label + (" (encoder)" if label == values["source"] else ""), d) for label, d in zip(labels, decoded,
                                                                                                      strict=True)]
        moved = ", ".join(f"z[{i}] {values[f'z{i}']:+g}" for i in range(dims) if values[f"z{i}"]) or "none"
        text = _table([("code", f"{values['source']} encoder of test image {values['index']}"), ("offsets", moved)])
        return _png(_side_by_side(rows)), text

    controls = [Control("source", "encode with", labels, labels[0], "menu"),
                Control("index", "test image", list(range(min(images, len(x)))), 0)]
    controls += [Control(f"z{i}", f"offset on z[{i}]", _offsets(), 0.0) for i in range(dims)]
    return Explorer("Autoencoder explorer: one latent code decoded by every model", controls, draw)


def _side_by_side(columns: Sequence[tuple[str, Tensor]], width: int = 120) -> Image.Image:
    """One image per column ``(label, (1, C, H, W))`` with its label underneath, wrapped to ``width`` pixels."""
    tiles = [_tile(image) for _, image in columns]
    width = max(width, *(tile.width + 8 for tile in tiles))  # 64×64 CelebA images are drawn 204 px wide
    canvas = Image.new("RGB", (width * len(columns), max(tile.height for tile in tiles) + 40), "white")
    draw = ImageDraw.Draw(canvas)
    for i, ((label, _), tile) in enumerate(zip(columns, tiles, strict=True)):
        canvas.paste(tile, (i * width + (width - tile.width) // 2, 0))
        words = label.replace(" (", "\n(")
        draw.multiline_text((i * width + width // 2, tile.height + 2), words, fill="black", font=_font(11),
                            anchor="ma", align="center")
    return canvas


# ---------------------------------------------------------------- 05: click a point of the t-SNE


def tsne_explorer(points: Mapping[str, np.ndarray], data: Mapping[str, tuple[Tensor, Any]],
                  class_names: Sequence[str] | None = None) -> Explorer:
    """Notebook 05: model menu and the t-SNE map; clicking a point shows its test image and label.

    Args:
        points: label -> t-SNE coordinates ``(N, 2)`` of that model's test codes.
        data: label -> ``(x (N, C, H, W) in [0, 1], y (N,))``, the test images the codes came from, same order.
        class_names: names of the classes (default: the digits 0–9).
    """
    names = class_names or [str(c) for c in range(10)]

    @cache
    def scatter(label: str):
        """The map as a PIL image and every point's pixel position on it."""
        import matplotlib.pyplot as plt

        p, y = np.asarray(points[label]), np.asarray(data[label][1])
        fig, ax = plt.subplots(figsize=(4.6, 4.2))
        ax.scatter(p[:, 0], p[:, 1], c=y, cmap="tab10", s=6, vmin=-0.5, vmax=9.5)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{label}: click a point", fontsize=9)
        fig.tight_layout()
        fig.canvas.draw()
        pixels = ax.transData.transform(p) * 80 / fig.dpi  # (N, 2), origin bottom left, at the PNG's 80 dpi
        image = Image.open(io.BytesIO(_figure_png(fig))).convert("RGB")
        pixels[:, 1] = image.height - pixels[:, 1]
        return image, pixels

    def draw(values):
        label, index = values["model"], min(values["point"], len(points[values["model"]]) - 1)
        base, pixels = scatter(label)
        x, y = data[label]
        canvas = Image.new("RGB", (base.width + 200, base.height), "white")
        canvas.paste(base, (0, 0))
        marker = ImageDraw.Draw(canvas)
        cx, cy = pixels[index]
        marker.ellipse((cx - 7, cy - 7, cx + 7, cy + 7), outline="black", width=3)
        tile = _tile(x[index : index + 1], scale=6)
        canvas.paste(tile, (base.width + (200 - tile.width) // 2, 40))
        name = names[int(y[index])]
        marker.text((base.width + 100, 50 + tile.height), f"label: {name}", fill="black", font=_font(16), anchor="ma")
        text = _table([("model", label), ("test point", index), ("label", name)])
        return _png(canvas), text

    def clicked(values, fx, fy):
        base, pixels = scatter(values["model"])
        width = base.width + 200
        distance = np.hypot(pixels[:, 0] - fx * width, pixels[:, 1] - fy * base.height)
        return {"point": int(distance.argmin())} if fx * width < base.width else None  # nearest point on the map

    labels = list(points)
    n = max(len(p) for p in points.values())
    controls = [Control("model", "model", labels, labels[0], "menu"), Control("point", "point", list(range(n)), 0)]
    return Explorer("t-SNE explorer: click a point to see its test image and label", controls, draw, on_click=clicked)
