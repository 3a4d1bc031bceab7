"""Trained models that travel: ``make pack`` writes this commit's trained runs, FID reference statistics and
floors and domain classifiers as one verified archive; ``make unpack FROM=<file | https URL | hf://owner/repo>``
checks it completely and installs it into ``$GM_CACHE_DIR``, so ``make report`` loads instead of training.

Modules: :mod:`~gm_build.share.manifest` (the archive's contract), :mod:`~gm_build.share.packing`,
:mod:`~gm_build.share.unpacking`, :mod:`~gm_build.share.sources` (file, URL, Hub); the CLI is
``python -m gm_build.share``.
"""

from gm_build.share.manifest import HUB_FILENAME, MANIFEST_NAME, ArchiveRefused
from gm_build.share.packing import PackReport, pack
from gm_build.share.unpacking import UnpackReport, unpack

__all__ = ["HUB_FILENAME", "MANIFEST_NAME", "ArchiveRefused", "PackReport", "UnpackReport", "pack", "unpack"]
