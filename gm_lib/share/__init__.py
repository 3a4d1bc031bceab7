"""Trained models that travel: ``make pack`` writes this commit's trained runs, FID reference statistics and
floors and domain classifiers as one verified archive; ``make unpack FROM=<file | https URL | hf://owner/repo>``
checks it completely and installs it into ``$GM_CACHE_DIR``, so ``make report`` loads instead of training.

Modules: :mod:`~gm_lib.share.manifest` (the archive's contract), :mod:`~gm_lib.share.packing`,
:mod:`~gm_lib.share.unpacking`, :mod:`~gm_lib.share.sources` (file, URL, Hub); the CLI is ``python -m gm_lib.share``.
"""

from gm_lib.share.manifest import HUB_FILENAME, MANIFEST_NAME, ArchiveRefused
from gm_lib.share.packing import PackReport, pack
from gm_lib.share.unpacking import UnpackReport, unpack

__all__ = ["HUB_FILENAME", "MANIFEST_NAME", "ArchiveRefused", "PackReport", "UnpackReport", "pack", "unpack"]
