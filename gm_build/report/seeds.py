"""Several seeds of one run as one result: mean ± sd per number, and the rule that calls a ranking a tie.

``make report SEEDS=0,1,2`` executes every notebook once per seed; the report then shows each run's
results.json files merged (:func:`merge_results`): every numeric metric and every numeric table cell that
differs between seeds becomes a :class:`Spread` (mean ± sample sd, ddof = 1, over the seeds that recorded
it), a number equal in every seed (θ, N, a latent size) stays a plain number, and text (model names)
must agree. Figures and notes are those of the first seed; they illustrate, the tables carry the numbers.

Ties (:func:`is_tie`): two models' means differ by less than the sum of their seed sds,
``|mean_a − mean_b| < sd_a + sd_b`` — their ±1 sd intervals overlap, so the order between them is
within what a change of seed alone produces. A crude rule (no test, 2-3 seeds): it says which
differences the report may not call a win, not which ones are significant.

Example (one line):
    str(Spread((1.0, 3.0)))   # '2.00 ± 1.41'
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from gm_lib.profiles import PROFILES

__all__ = ["Spread", "merge_results", "merge_table", "has_spread", "is_tie", "compare_best", "seeds_paragraph",
           "ties_paragraph"]

_REL_EQUAL = 1e-9  # seeds whose values agree to this relative tolerance recorded the same number
# Metric kinds ``<kind>/<model>`` that ties_paragraph ranks: (name, lower is better).
RANKED_KINDS = {"fid": ("FID", True), "kid": ("KID", True), "nll": ("NLL", True), "knn": ("kNN accuracy", False)}
TIE_RULE = ("Rule: two models **tie** when their means differ by less than the sum of their seed sds "
            "(|Δ mean| < sd₁ + sd₂: their ±1 sd intervals overlap). A crude rule for 2-3 seeds: it says which "
            "orderings a change of seed alone could produce, not which differences are significant.")


@dataclass(frozen=True)
class Spread:
    """One quantity over seeds: ``values`` in seed order (at least one); ``missing`` seeds did not record it."""

    values: tuple[float, ...]
    missing: int = 0

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def sd(self) -> float:
        """Sample standard deviation (ddof = 1); 0.0 for one value (no spread measured: see :attr:`n`)."""
        return statistics.stdev(self.values) if self.n > 1 else 0.0

    def __str__(self) -> str:
        """``mean ± sd`` with the sd to 3 significant digits and the mean to the same decimal place.

        ``(n=k)`` follows when some seeds did not record the value, so a cell over fewer seeds than its
        table's caption says is visible as such; one value shows alone.
        """
        count = f" (n={self.n})" if self.missing else ""
        if self.n == 1:
            return f"{self.values[0]:.4g}{count}"
        decimals = max(0, 2 - math.floor(math.log10(self.sd))) if self.sd > 0 else 0
        if decimals > 6:  # a spread at float-noise level (e.g. 1e-16): fixed decimals would print zeros
            return f"{self.mean:.4g} ± {self.sd:.3g}{count}"
        return f"{self.mean:.{decimals}f} ± {self.sd:.{decimals}f}{count}"


def merge_results(per_seed: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """One results dict (the results.json schema) for several seeds of one run.

    Args:
        per_seed: ``(seed, results)`` pairs in seed order, at least one.

    Returns:
        The first seed's results with ``metrics`` and ``tables`` merged over the seeds (see the module
        docstring), ``wall_time_s`` the mean per seed, and two keys more: ``seeds`` (the list) and
        ``per_seed`` (the original dicts, for provenance). One pair returns its results unchanged.
    """
    if len(per_seed) == 1:
        return per_seed[0][1]
    seeds = [seed for seed, _ in per_seed]
    datas = [data for _, data in per_seed]
    merged = dict(datas[0])
    names = list(dict.fromkeys(name for data in datas for name in data["metrics"]))
    merged["metrics"] = {name: _merge_values([d["metrics"].get(name) for d in datas]) for name in names}
    merged["metric_meta"] = {name: next(d["metric_meta"].get(name, {}) for d in datas if name in d["metrics"])
                             for name in names}
    merged["tables"] = {name: merge_table([d["tables"][name] for d in datas if name in d["tables"]])
                        for name in datas[0]["tables"]}
    merged["wall_time_s"] = statistics.fmean(d["wall_time_s"] for d in datas)
    merged.update(seeds=seeds, per_seed=datas)
    return merged


def merge_table(tables: list[dict[str, Any]]) -> dict[str, Any]:
    """One table from the same table of several seeds (``{"columns", "rows", "caption"}`` each).

    Rows are matched by their text cells (model names) when those name each row once in every seed, else
    by position when the text cells agree row by row (an all-numeric table such as the toy's θ grid).
    Tables that cannot be matched (other columns or rows) come back as the first seed's, with a
    ``mismatch`` note instead of numbers that would mix different rows.
    """
    first = tables[0]
    if len(tables) == 1:
        return first
    if any(t["columns"] != first["columns"] for t in tables):
        return {**first, "mismatch": "its columns differ between seeds; the first seed's table is shown"}
    aligned = _align_rows([t["rows"] for t in tables])
    if aligned is None:
        return {**first, "mismatch": "its rows differ between seeds; the first seed's table is shown"}
    rows = [[_merge_values(list(cells)) for cells in zip(*versions, strict=True)] for versions in aligned]
    return {**first, "rows": rows, "n_seeds": len(tables)}


def is_tie(a: Spread, b: Spread) -> bool:
    """True when ``|a.mean − b.mean| < a.sd + b.sd``: the gap is within the seed spread (see the module docstring).

    Raises ValueError when either has fewer than two values (no spread to compare with).
    """
    if a.n < 2 or b.n < 2:
        raise ValueError(f"a tie needs a seed spread on both sides: got n={a.n} and n={b.n} (run >= 2 seeds)")
    return abs(a.mean - b.mean) < a.sd + b.sd


def has_spread(score: Spread) -> bool:
    """True when ``score`` varies over >= 2 seeds: one seed, or the same value in every seed, measured no spread."""
    return score.n >= 2 and score.sd > 0


def compare_best(scores: dict[str, Spread | float], what: str, lower_is_better: bool = True) -> str | None:
    """One sentence ranking every model of ``scores`` by mean, and on its best two: a win, a tie (:func:`is_tie`), or
    *not tested* when either of the two has no seed spread (:func:`has_spread`).

    Args:
        scores: label -> Spread, or a plain number (a value equal in every seed, as :func:`merge_results` leaves
            it); other values (text) are left out.
        what: names the score (e.g. ``"FID"``).

    Returns:
        The sentence (with the whole order when there are more than two models); None with fewer than two.
    """
    numbers = {label: s if isinstance(s, Spread) else Spread((float(s),)) for label, s in scores.items()
               if isinstance(s, Spread) or _is_number(s)}
    ranked = sorted(numbers.items(), key=lambda item: item[1].mean, reverse=not lower_is_better)
    if len(ranked) < 2:
        return None
    (best, a), (second, b) = ranked[:2]
    word = "lowest" if lower_is_better else "highest"
    order = ""
    if len(ranked) > 2:
        order = " Order: " + (" < " if lower_is_better else " > ").join(f"{label} {s}" for label, s in ranked) + "."
    if not (has_spread(a) and has_spread(b)):
        flat = [label for label, s in ((best, a), (second, b)) if not has_spread(s)]
        flat = f"{flat[0]} has" if len(flat) == 1 else f"{flat[0]} and {flat[1]} have"
        return (f"{what}: {best} ({a}) is {word}, then {second} ({b}), by {abs(a.mean - b.mean):.3g}; whether that is "
                f"a tie is **not tested**: {flat} no seed spread (one seed, or the same value in every seed).{order}")
    return _win_or_tie(what, best, a, second, b, word) + order


def _win_or_tie(what: str, best: str, a: Spread, second: str, b: Spread, word: str) -> str:
    """The sentence on two models that both have a seed spread: a win, or a tie by :func:`is_tie`."""
    gap, spread = abs(a.mean - b.mean), a.sd + b.sd
    if is_tie(a, b):
        return (f"{what}: **tie** between {best} ({a}) and {second} ({b}): the gap {gap:.3g} is inside the seed "
                f"spread {spread:.3g} (sum of sds), so neither is the better model at these seeds.")
    return (f"{what}: {best} ({a}) is {word}, ahead of {second} ({b}) by {gap:.3g}, more than the seed spread "
            f"{spread:.3g} (sum of sds).")


def seeds_paragraph(profile: str, seeds: tuple[int, ...] | list[int]) -> str:
    """The report header's sentence on the seeds: how many, the profile's default, how numbers are shown."""
    default = PROFILES[profile].seeds if profile in PROFILES else 1
    words = f"{default} seed{'s' if default > 1 else ''}"
    listed = ", ".join(map(str, seeds))
    if len(seeds) == 1:
        return (f"**1 seed** ({listed}): the {profile} profile's default is {words} (`full`: 3). Every number is one "
                "training run's, so no difference between models is tested against seed noise "
                "(`make report SEEDS=0,1,2` shows mean ± sd over seeds).")
    return (f"**{len(seeds)} seeds** ({listed}); the {profile} profile's default is {words}. Every number that "
            "varies between seeds is shown as mean ± sample sd (ddof = 1) over the seeds that recorded it "
            "(`(n=k)` when fewer); a number equal in every seed is shown once. Figures and notebook notes are "
            f"those of the first seed ({seeds[0]}).")


def ties_paragraph(results: dict[str, dict[str, Any] | None], seeds: tuple[int, ...] | list[int]) -> str:
    """Per run and score (FID, KID, NLL, kNN accuracy of the latent codes): its best two models, a win or a tie
    (:func:`compare_best`), as markdown.

    Args:
        results: run name -> merged results (:func:`merge_results`), None for a run without results.
        seeds: the report's seeds; with one, the paragraph says that no ranking is tested.
    """
    if len(seeds) == 1:
        return "One seed: no ranking in this report is tested against seed noise, so none is called a win or a tie."
    lines = []
    for run, data in results.items():
        metrics, meta = (data or {}).get("metrics", {}), (data or {}).get("metric_meta", {})
        for kind, (what, lower_is_better) in RANKED_KINDS.items():
            scores = {meta.get(name, {}).get("model") or name.partition("/")[2]: value
                      for name, value in metrics.items()
                      if name.partition("/")[0] == kind and name.partition("/")[2] != "real"}
            sentence = compare_best(scores, what, lower_is_better)
            if sentence:
                lines.append(f"- {run}: {sentence}")
    if not lines:
        return TIE_RULE + " No run recorded two models' FID, KID, NLL or kNN accuracy."
    return TIE_RULE + "\n\n" + "\n".join(lines)


def _merge_values(values: list[Any]) -> Any:
    """One value per seed (None: not recorded) -> a Spread when numbers differ (or some seeds miss), the number
    when every seed recorded the same, the text when text agrees (else 'a / b')."""
    present = [v for v in values if v is not None]
    numbers = [float(v) for v in present if _is_number(v)]
    if numbers and len(numbers) == len(present):
        missing = len(values) - len(numbers)
        if not missing and all(math.isclose(v, numbers[0], rel_tol=_REL_EQUAL, abs_tol=0.0) for v in numbers):
            return present[0]
        return Spread(tuple(numbers), missing)
    distinct = list(dict.fromkeys(str(v) for v in present))
    if len(distinct) <= 1:
        return present[0] if present else None
    return " / ".join(distinct)


def _align_rows(row_sets: list[list[list[Any]]]) -> list[list[list[Any]]] | None:
    """For each row of the first seed, that row in every seed (by text key, else by position); None if impossible."""
    keys = [[_text_key(row) for row in rows] for rows in row_sets]
    unique = all(len(set(k)) == len(k) and set(k) == set(keys[0]) for k in keys)
    if unique:
        by_key = [dict(zip(k, rows, strict=True)) for k, rows in zip(keys, row_sets, strict=True)]
        return [[lookup[key] for lookup in by_key] for key in keys[0]]
    if all(k == keys[0] for k in keys):
        return [list(versions) for versions in zip(*row_sets, strict=True)]
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text_key(row: list[Any]) -> tuple[str, ...]:
    return tuple(str(v) for v in row if not _is_number(v))
