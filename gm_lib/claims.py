"""Sentences that compare or bound measured numbers, written from the numbers (as MyST-NB's ``glue`` and Quarto's
inline expressions do), recorded in ``results.json`` and checked against it.

A chapter's discussion never types "A keeps classes further apart than B": it calls :func:`compare`, :func:`order`
or :func:`bound` with the numbers it measured, which

* decides the measured direction (who is better, or where a number lies against a range),
* writes the sentence for that direction with its numbers, and, where a paper says something about the same
  comparison (:class:`Literature`), whether ours agrees, with the paper's numbers and protocol,
* records the claim on the notebook's :class:`gm_lib.results.Recorder` (``results.json`` key ``claims``), and
* returns the sentence as Markdown, which the cell shows.

One notebook run is one seed, so a recorded claim says ``"one seed: not tested"``; with several seeds the report
tests each claim's deciding gap against the seed spread (:func:`seed_test`). At a preview profile (``smoke``: tiny
N) the sentence says ``"preview numbers: not evaluated"`` and no direction is recorded.

The sentence is a function of the record alone (:func:`render`), so :func:`audit` can re-derive the direction and
the sentence from the recorded numbers, and compare the numbers with the metrics the claim read: a claim whose
sentence no longer matches its numbers is found, not read.

Record (one entry of ``results.json["claims"]``)::

    {"name": "knn_vae_vs_wae", "kind": "compare", "what": "kNN accuracy (k = 5)", "lower_is_better": false,
     "groups": {"the VAEs": {"VAE (01)": 0.939}, "the WAEs": {"WAE-MMD (IMQ)": 0.888}},
     "better": "classes further apart", "ahead": "ahead of", "reads": {"VAE (01)": "knn/vae_bmnist", ...}, "digits": 3,
     "literature": {"source": "...", "expects": "the WAEs", "values": {}, "protocol": "..."} | null,
     "measured": "the VAEs" | ["A", "B"] | "inside" | null, "agrees": false | true | null,
     "seed_test": "one seed: not tested", "preview": false, "text": "..."}
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Literature", "PREVIEW", "ONE_SEED", "compare", "order", "bound", "render", "audit", "seed_test",
           "differing", "run_time", "summary"]

PREVIEW = "preview numbers: not evaluated"
ONE_SEED = "one seed: not tested"
_REL = 1e-9  # a claim's number and the metric it read are the same number


@dataclass(frozen=True)
class Literature:
    """What a paper says about the same comparison.

    Attributes:
        source: who says it, with the place (``"Tolstikhin et al. 2018, Table 1"``).
        expects: the paper's direction: a group name (:func:`compare`), labels best first (:func:`order`), or
            ``"below"`` / ``"inside"`` / ``"above"`` (:func:`bound`).
        values: the paper's numbers by label, where it gives them (a :func:`bound`'s range is their min … max).
        protocol: how the paper measured, where it differs from ours (dataset, N, nets, epochs).
    """

    source: str
    expects: str | tuple[str, ...]
    values: Mapping[str, float] = field(default_factory=dict)
    protocol: str = ""


# ----------------------------------------------------------------------------------------- making claims


def compare(rec, name: str, what: str, groups: Mapping[str, Mapping[str, float]], *, lower_is_better: bool,
            better: str = "", ahead: str = "ahead of", reads: Mapping[str, str] | None = None,
            literature: Literature | None = None, digits: int = 3):
    """Two groups of models by one score: the group every member of which beats every member of the other.

    Args:
        rec: the notebook's Recorder (the claim is added to it).
        name: the claim's id in ``results.json``.
        what: the score as the sentence names it (``"kNN accuracy (k = 5)"``).
        groups: exactly two: group name (``"the VAEs"``) -> {model label: value}.
        lower_is_better: the score's direction.
        better: what being ahead means, shown in brackets (``"classes further apart"``; none when empty).
        ahead: the words between the winning and the losing group (``"ahead of"``, ``"blurrier than"``).
        reads: model label -> the metric name the value was read from (checked by :func:`audit`).
        literature: the paper's expectation (``expects`` a group name).
        digits: decimals shown.

    Returns:
        the sentence as ``IPython.display.Markdown`` (a string when IPython is absent).

    Raises:
        ValueError: not two groups, an empty group, or a non-finite value.
    """
    if len(groups) != 2 or not all(groups.values()):
        raise ValueError(f"compare() needs two non-empty groups, got {list(groups)}")
    record = _record(rec, name, "compare", what, lower_is_better, reads, literature, digits,
                     groups={g: _numbers(v) for g, v in groups.items()}, better=better, ahead=ahead)
    return _add(rec, record)


def order(rec, name: str, what: str, values: Mapping[str, float], *, lower_is_better: bool,
          reads: Mapping[str, str] | None = None, literature: Literature | None = None, digits: int = 1):
    """Models ranked by one score (best first); with ``literature``, whether the paper ranks the models both have
    alike (``expects``: its labels best first). Arguments as :func:`compare`; raises ValueError for < 2 values."""
    if len(values) < 2:
        raise ValueError(f"order() needs at least two values, got {list(values)}")
    record = _record(rec, name, "order", what, lower_is_better, reads, literature, digits, values=_numbers(values))
    return _add(rec, record)


def bound(rec, name: str, what: str, value: float, interval: tuple[float, float] | None = None, *,
          label: str = "ours", reads: Mapping[str, str] | None = None, literature: Literature | None = None,
          digits: int = 2):
    """One measured number against a range: ``below``, ``inside`` or ``above`` it.

    Args:
        value: the measured number (shown as ``label``).
        interval: ``(low, high)``; default the min … max of ``literature.values``.
        literature: ``expects`` where the paper puts our number (usually ``"inside"``: within its range).

    Raises:
        ValueError: no interval and no literature values, or ``low > high``.
    """
    if interval is None:
        if literature is None or not literature.values:
            raise ValueError("bound() needs an interval or literature values to take one from")
        interval = (min(literature.values.values()), max(literature.values.values()))
    low, high = (float(v) for v in interval)
    if low > high:
        raise ValueError(f"bound(): interval ({low}, {high}) has low > high")
    record = _record(rec, name, "bound", what, None, reads, literature, digits, values=_numbers({label: value}),
                     interval=[low, high])
    return _add(rec, record)


def run_time(run_name: str, manifest: str | os.PathLike | None = None):
    """The chapter's expected run time per profile as one Markdown line, read from ``reports/manifest.yaml``
    (``minutes``: measured cold times), never typed into the chapter.

    Returns:
        ``"Expected run time (cold, reports/manifest.yaml): smoke 0.6 min, default 20 min."``, or a line saying that
        no time is measured for ``run_name``.
    """
    import yaml

    from gm_lib.paths import repo_root

    path = Path(manifest) if manifest is not None else repo_root() / "reports" / "manifest.yaml"
    runs = {entry.get("name"): entry for entry in (yaml.safe_load(path.read_text()) or {}).get("runs", [])}
    minutes = (runs.get(run_name) or {}).get("minutes") or {}
    if minutes:
        times = ", ".join(f"{profile} {float(m):g} min" for profile, m in minutes.items())
        text = f"Expected run time of `{run_name}` (cold, measured, `reports/manifest.yaml`): {times}."
    else:
        text = f"Expected run time of `{run_name}`: not measured (no `minutes` in `reports/manifest.yaml`)."
    return _markdown(text)


def summary(rec, *paragraphs: str):
    """``paragraphs`` (e.g. the run's note), then every claim recorded on ``rec`` so far, one bullet each, as Markdown:
    what a chapter's discussion cell shows."""
    bullets = "\n".join(f"- {claim['text']}" for claim in rec.claims) or "No claims recorded."
    return _markdown("\n\n".join([*paragraphs, bullets]))


def _markdown(text: str):
    try:
        from IPython.display import Markdown
    except ImportError:  # outside Jupyter the text itself
        return text
    return Markdown(text)


def _numbers(values: Mapping[str, float]) -> dict[str, float]:
    out = {str(k): float(v) for k, v in values.items()}
    bad = [k for k, v in out.items() if not math.isfinite(v)]
    if bad:
        raise ValueError(f"claim values must be finite numbers: {bad} are not")
    return out


def _record(rec, name, kind, what, lower_is_better, reads, literature, digits, **parts) -> dict[str, Any]:
    lit = None if literature is None else {**asdict(literature), "values": dict(literature.values),
                                           "expects": _plain(literature.expects)}
    preview = bool(getattr(rec.profile, "fid_preview", False))
    labels = set(parts.get("values", {})) | {k for group in parts.get("groups", {}).values() for k in group}
    reads = {label: metric for label, metric in (reads or {}).items() if label in labels}  # a chapter's map of all
    record = {"name": name, "kind": kind, "what": what, "lower_is_better": lower_is_better, **parts,
              "reads": reads, "digits": digits, "literature": lit, "preview": preview,
              "profile": getattr(rec.profile, "name", str(rec.profile)), "seed_test": ONE_SEED}
    record["measured"] = None if preview else measure(record)
    record["agrees"] = None if preview or lit is None else _agrees(record)
    record["text"] = render(record)
    return record


def _plain(expects):
    return list(expects) if isinstance(expects, (tuple, list)) else expects


def _add(rec, record: dict[str, Any]):
    rec.claims = [c for c in rec.claims if c["name"] != record["name"]] + [record]
    return _markdown(record["text"])


# ----------------------------------------------------------------------------------------- deciding


def measure(record: Mapping[str, Any]) -> Any:
    """The measured direction from the record's numbers: a group name or ``"neither"`` (compare), labels best first
    (order), ``"below"`` / ``"inside"`` / ``"above"`` (bound)."""
    kind, sign = record["kind"], 1 if record.get("lower_is_better") else -1
    if kind == "compare":
        (a, va), (b, vb) = record["groups"].items()
        if max(sign * v for v in va.values()) < min(sign * v for v in vb.values()):
            return a
        if max(sign * v for v in vb.values()) < min(sign * v for v in va.values()):
            return b
        return "neither"
    if kind == "order":
        return sorted(record["values"], key=lambda label: sign * record["values"][label])
    (value,) = record["values"].values()
    low, high = record["interval"]
    return "below" if value < low else "above" if value > high else "inside"


def _agrees(record: Mapping[str, Any]) -> bool:
    expects = record["literature"]["expects"]
    measured = record["measured"]
    if record["kind"] == "order":  # the models both rank, in the paper's order
        return [m for m in measured if m in expects] == [e for e in expects if e in measured]
    return measured == expects


# ----------------------------------------------------------------------------------------- writing


def render(record: Mapping[str, Any]) -> str:
    """The claim's sentence (Markdown), from the record alone."""
    if record["preview"]:
        head = f"{record['what']}: {PREVIEW} (profile {record['profile']})."
    else:
        head = {"compare": _compare_text, "order": _order_text, "bound": _bound_text}[record["kind"]](record)
    parts = [head, _literature_text(record)]
    if not record["preview"]:
        parts.append(f"({record['seed_test']})")
    return " ".join(p for p in parts if p)


def _fmt(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def _listing(values: Mapping[str, float], digits: int, sign: int) -> str:
    ranked = sorted(values.items(), key=lambda item: sign * item[1])
    return ", ".join(f"{label} {_fmt(v, digits)}" for label, v in ranked)


def _compare_text(record) -> str:
    sign, digits, groups = 1 if record["lower_is_better"] else -1, record["digits"], record["groups"]
    winner, better = record["measured"], f" ({record['better']})" if record["better"] else ""
    if winner == "neither":
        both = {label: v for values in groups.values() for label, v in values.items()}
        a, b = groups
        return (f"{record['what']}, here neither {a} nor {b} {record['ahead']} the other throughout{better}: "
                f"{_listing(both, digits, sign)}.")
    loser = next(g for g in groups if g != winner)
    return (f"{record['what']}, here {winner} {record['ahead']} {loser}{better}: "
            f"{_listing(groups[winner], digits, sign)} vs {_listing(groups[loser], digits, sign)}.")


def _order_text(record) -> str:
    values, digits = record["values"], record["digits"]
    joint = " < " if record["lower_is_better"] else " > "
    best = "lower" if record["lower_is_better"] else "higher"
    ranked = joint.join(f"{label} {_fmt(values[label], digits)}" for label in record["measured"])
    return f"{record['what']} ({best} is better), here: {ranked}."


def _bound_text(record) -> str:
    (label, value), = record["values"].items()
    low, high = record["interval"]
    digits = record["digits"]
    where = {"below": "below", "inside": "inside", "above": "above"}[record["measured"]]
    span = _fmt(low, digits) if low == high else f"{_fmt(low, digits)} … {_fmt(high, digits)}"
    return f"{record['what']}: {_fmt(value, digits)} ({label}), {where} the range {span}."


def _literature_text(record) -> str:
    """What the cited paper says, and whether ours agrees: "As in …", "**Unlike …**, where …", or, for a preview,
    only what the paper says."""
    lit = record["literature"]
    if lit is None:
        return ""
    numbers = ", ".join(f"{label} = {v:g}" for label, v in lit["values"].items())
    detail = "; ".join(p for p in (numbers, lit["protocol"]) if p)
    detail = f" ({detail})" if detail else ""
    source, expects, agrees, kind = lit["source"], lit["expects"], record["agrees"], record["kind"]
    if kind == "order":
        said = "ranks them " + (" < " if record["lower_is_better"] else " > ").join(expects)
    elif kind == "compare":
        said = f"has {expects} {record['ahead']} {next(g for g in record['groups'] if g != expects)}"
    elif agrees is False:  # a bound: our number outside the paper's
        return f"**Unlike {source}**{detail}."
    else:
        said = "gives"
    if agrees is None:
        return f"{source} {said}{detail}."
    if agrees:
        return f"As in {source}{detail}."
    return f"**Unlike {source}**, which {said}{detail}."


# ----------------------------------------------------------------------------------------- checking


def audit(results: Mapping[str, Any]) -> list[str]:
    """Every way the claims of one results.json disagree with themselves or with its metrics, one line each
    (empty when all hold): a recorded direction its numbers do not give, a sentence its record does not render,
    a number that differs from the metric it says it read, a literature verdict that does not follow."""
    problems = []
    metrics = results.get("metrics", {})
    for claim in results.get("claims", []):
        name = claim.get("name", "?")
        if not claim.get("preview"):
            if claim.get("measured") != measure(claim):
                problems.append(f"claim {name}: recorded direction {claim.get('measured')!r}, its numbers give "
                                f"{measure(claim)!r}")
            elif claim.get("literature") and claim.get("agrees") != _agrees(claim):
                problems.append(f"claim {name}: recorded agreement {claim.get('agrees')!r} with "
                                f"{claim['literature']['source']} does not follow from its direction")
        if claim.get("text") != render(claim):
            problems.append(f"claim {name}: its sentence does not say what its numbers give: {claim.get('text')!r}")
        values = {k: v for group in claim.get("groups", {}).values() for k, v in group.items()} | claim.get(
            "values", {})
        for label, metric in claim.get("reads", {}).items():
            read = metrics.get(metric)
            if not isinstance(read, (int, float)) or not math.isclose(read, values.get(label, math.nan),
                                                                      rel_tol=_REL):
                problems.append(f"claim {name}: {label} = {values.get(label)} but metric {metric} = {read}")
    return problems


def seed_test(per_seed: list[Mapping[str, Any]]) -> str:
    """Whether a claim's deciding gap exceeds the seed spread, from the same claim recorded by each seed.

    The deciding gap: between the two groups' closest members (compare), each adjacent pair (order), the number and
    the nearer end of the range (bound). It exceeds the spread when ``|Δ mean| ≥ sd₁ + sd₂`` (sample sds over the
    seeds; the report's tie rule) for every deciding pair. Returns :data:`ONE_SEED` for fewer than two seeds.
    """
    if len(per_seed) < 2 or any(c.get("preview") for c in per_seed):
        return ONE_SEED
    n = len(per_seed)
    first = per_seed[0]
    labels = _labels(first)
    series = {label: [_value(c, label) for c in per_seed] for label in labels}
    if any(math.isnan(v) for values in series.values() for v in values):
        return f"not tested: the seeds recorded different models (n={n})"
    mean = {label: statistics.fmean(v) for label, v in series.items()}
    sd = {label: statistics.stdev(v) for label, v in series.items()}
    pairs = _deciding_pairs(first, mean)
    other = lambda a, b: mean[b] if b in mean else _edge(first, mean[a])  # noqa: E731  (a bound's range end)
    within = [(a, b) for a, b in pairs if abs(mean[a] - other(a, b)) < sd[a] + sd.get(b, 0.0)]
    if not within:
        return f"each deciding gap exceeds the seed spread (n={n} seeds)"
    a, b = within[0]
    return f"**within the seed spread** (n={n} seeds): {a} vs {b} is not a finding"


def _labels(claim) -> list[str]:
    if claim["kind"] == "compare":
        return [label for group in claim["groups"].values() for label in group]
    return list(claim["values"])


def _value(claim, label: str) -> float:
    if claim["kind"] == "compare":
        return next((g[label] for g in claim["groups"].values() if label in g), math.nan)
    return claim["values"].get(label, math.nan)


def _deciding_pairs(claim, mean: dict[str, float]) -> list[tuple[str, str]]:
    sign = 1 if claim.get("lower_is_better") else -1
    if claim["kind"] == "compare":
        (_, a), (_, b) = claim["groups"].items()
        return [min(((x, y) for x in a for y in b), key=lambda p: abs(mean[p[0]] - mean[p[1]]))]
    if claim["kind"] == "order":
        ranked = sorted(mean, key=lambda label: sign * mean[label])
        return list(zip(ranked, ranked[1:], strict=False))
    (label,) = claim["values"]
    return [(label, "the range")]


def _edge(claim, value: float) -> float:
    low, high = claim["interval"]
    return low if abs(value - low) <= abs(value - high) else high


def differing(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The claims of one results.json whose measured direction differs from the literature they cite."""
    return [c for c in results.get("claims", []) if c.get("agrees") is False]
