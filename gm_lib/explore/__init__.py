"""Interactive explorers of the trained models, one per chapter: widgets in JupyterLab, a static figure headless.

:mod:`~gm_lib.explore.core` holds what every explorer is (:class:`Control` s and a ``draw`` function, shown as
widgets or as a static figure), :mod:`~gm_lib.explore.drawing` what they draw with, and one module per chapter
its explorer: ``vae`` (01), ``divergences`` (02), ``gans`` (03), ``wae`` (04), ``latents`` (05). This file
holds nothing else.
"""

from gm_lib.explore.core import Control, Explorer, interactive_frontend
from gm_lib.explore.divergences import toy_explorer
from gm_lib.explore.gans import CLASS_NAMES, gan_explorer
from gm_lib.explore.latents import tsne_explorer
from gm_lib.explore.vae import vae_explorer
from gm_lib.explore.wae import autoencoder_explorer

__all__ = ["Control", "Explorer", "interactive_frontend", "vae_explorer", "toy_explorer", "gan_explorer",
           "autoencoder_explorer", "tsne_explorer", "CLASS_NAMES"]
