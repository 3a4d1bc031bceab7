"""Published scores shown beside a run that reproduces their setting (the report's run sections).

The general references table is ``references.md``; the records here are the subset a run can be put
next to, model by model: ``dataset`` is the notebook's ``dataset`` parameter and ``model`` the label
the notebook records in ``metric_meta["model"]`` (``"real"`` for the real-data floor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PublishedScore", "WAE_CELEBA_TABLE1", "PUBLISHED", "published_table"]


@dataclass(frozen=True)
class PublishedScore:
    """One model's published FID (and sharpness) on one dataset."""

    dataset: str
    model: str
    fid: float
    sharpness: float | None
    source: str


_WAE = "Tolstikhin et al., *Wasserstein Auto-Encoders*, ICLR 2018, Table 1"
WAE_CELEBA_TABLE1 = (
    PublishedScore("celeba", "VAE", 63, 3e-3, _WAE),
    PublishedScore("celeba", "WAE-MMD (IMQ)", 55, 6e-3, _WAE),
    PublishedScore("celeba", "WAE-GAN", 42, 6e-3, _WAE),
    PublishedScore("celeba", "real", 2, 2e-2, _WAE),
)
PUBLISHED: tuple[PublishedScore, ...] = WAE_CELEBA_TABLE1


def published_table(dataset: str | None, results: dict[str, Any] | None) -> tuple[list[str], list[list[Any]], str]:
    """``(columns, rows, caption)`` putting the published scores for ``dataset`` beside this run's own.

    Our columns read ``fid/*`` and ``sharpness/*`` metrics whose meta ``model`` matches (``—`` when the
    run has no results, e.g. its data is unavailable). Empty rows when nothing is published for ``dataset``.
    """
    scores = [s for s in PUBLISHED if s.dataset == dataset]
    if not scores:
        return [], [], ""
    ours: dict[tuple[str, str], tuple[float, Any]] = {}
    for name, value in (results or {}).get("metrics", {}).items():
        kind, _, _ = name.partition("/")
        meta = (results or {}).get("metric_meta", {}).get(name, {})
        if kind in ("fid", "sharpness") and "model" in meta:
            ours[(kind, meta["model"])] = (value, meta.get("n"))
    rows = []
    for s in scores:
        fid, n = ours.get(("fid", s.model), ("—", None))
        rows.append([s.model, s.fid, "—" if s.sharpness is None else s.sharpness, fid, n or "—",
                     ours.get(("sharpness", s.model), ("—",))[0]])
    columns = ["model", "published FID", "published sharpness", "our FID", "our N", "our sharpness"]
    caption = (f"Published: {scores[0].source}. Not a target: FID falls as N grows, and the paper trained 4× wider "
               "nets for far longer; compare the ordering of the models, at equal N.")
    return columns, rows, caption
