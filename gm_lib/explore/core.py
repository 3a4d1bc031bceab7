"""What every chapter's explorer is: controls and a draw function, widgets in JupyterLab, a static figure headless.

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
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

__all__ = ["View", "Control", "Explorer", "interactive_frontend"]

View = tuple[bytes, str]  # (PNG bytes, HTML text shown beside it)


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


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode()
