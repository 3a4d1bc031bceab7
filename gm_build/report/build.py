"""Compose ``report.md`` from the runs' results.json files, then convert it to HTML and PDF.

Markdown → HTML with mistune (already a dependency of nbconvert); HTML → PDF with WeasyPrint
(pure Python over the system's Pango). Figures are referenced by paths relative to the reports
folder, so the same ``report.md``/``report.html`` show them in place and WeasyPrint embeds them.

With several seeds the runner hands over one outcome per run and seed; each run's results.json files are
merged by :func:`gm_build.report.seeds.merge_results` (numbers as mean ± sd over the seeds, figures and notes
of the first seed), and the summary says which of its rankings are ties within the seed spread.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gm_build.report.published import published_table
from gm_build.report.render import (
    anchor,
    format_seconds,
    html_to_pdf,
    markdown_to_html,
    md_table,
    one_line,
    relative_path,
    short_commit,
)
from gm_build.report.run import Outcome
from gm_build.report.seeds import Spread, merge_results, seeds_paragraph, ties_paragraph
from gm_lib import claims
from gm_lib.machine import machine_summary
from gm_lib.results import RESULTS_FILE, load_results

__all__ = ["ReportContext", "SUMMARY_KINDS", "write_report", "render_markdown", "markdown_to_html", "html_to_pdf"]

# Metric kinds (prefix before "/") shown in the cross-model summary, with their column titles.
SUMMARY_KINDS = {"fid": "FID ↓", "kid": "KID ↓", "sharpness": "sharpness", "nll": "NLL (nats) ↓"}
_STATUS = {
    "ok": "ok",
    "cached": "ok (cached: unchanged since its last run)",
    "unavailable": "NOT RUN (data unavailable)",
    "failed": "FAILED",
    "not_selected": "not re-run (not in --only)",
}
_INTRO = (
    "This report is rebuilt by `make report`: each notebook under `notebooks/` whose code, parameters or models "
    "changed since its last run is re-executed headless with papermill on the `gm-lab` kernel (the others keep "
    "their last execution: status \"cached\" below), each writes its figures and a `results.json` (with "
    "provenance), and this page is assembled from those files only. It compares likelihood-based and "
    "optimal-transport generative models: a VAE on binarized MNIST scored by its ELBO and the importance-sampled "
    "(IWAE) bound on the test NLL, Hellinger vs Earth-Mover estimation on the parallel-lines toy, WGANs, WAE vs VAE "
    "(FID, KID, sharpness), and t-SNE views of the learned latent spaces. Numbers depend on the profile below; "
    "`smoke` numbers are previews, not results."
)


@dataclass(frozen=True)
class ReportContext:
    """Facts about this invocation of the report, printed in its header; ``seeds`` empty means ``(seed,)``."""

    profile: str
    seed: int
    device: str
    precision: str
    wall_time_s: float
    generated: str
    git_commit: str
    seeds: tuple[int, ...] = ()


def write_report(outcomes: list[Outcome], context: ReportContext, reports_dir: Path) -> dict[str, Path]:
    """Write report.md, report.html and report.pdf into ``reports_dir``; returns their paths by suffix."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    paths = {ext: reports_dir / f"report.{ext}" for ext in ("md", "html", "pdf")}
    text = render_markdown(outcomes, context, reports_dir)
    paths["md"].write_text(text, encoding="utf-8")
    paths["html"].write_text(markdown_to_html(text, "gm-lab report"), encoding="utf-8")
    html_to_pdf(paths["html"], paths["pdf"])
    return paths


def render_markdown(outcomes: list[Outcome], context: ReportContext, reports_dir: Path) -> str:
    """The whole report as markdown (sections: header, runs, summary, floor, references, one per run, provenance).

    ``outcomes``: one per run, or one per run and seed (a run's seeds merged into mean ± sd).
    """
    seeds = context.seeds or (context.seed,)
    groups = _group(outcomes)
    results = {name: _merged_results(group) for name, group in groups.items()}
    leads = [_lead(group) for group in groups.values()]
    several = len(seeds) > 1
    parts = [
        "# gm-lab report: deep generative models",
        _INTRO,
        f"Profile **{context.profile}** · {_seed_words(seeds)} · device {context.device} · "
        f"precision {context.precision} · "
        f"commit `{short_commit(context.git_commit)}` · generated {context.generated} · "
        f"report wall time {format_seconds(context.wall_time_s)}",
        _machines(outcomes),
        seeds_paragraph(context.profile, seeds),
        "## Runs",
        _status_table(groups, reports_dir),
        *_problem_lists(outcomes, reports_dir, several),
        "## Summary across models",
        _summary_table(leads, results),
        "### Seed spread: wins and ties",
        ties_paragraph({o.spec.name: results[o.spec.name] for o in leads}, seeds),
        "## Where our results differ from the papers",
        _claims_section(leads, results),
        "## Real-vs-real FID floor",
        _floor(leads, results),
        "## Published numbers",
        (Path(__file__).with_name("references.md")).read_text(encoding="utf-8").strip(),
    ]
    for lead in leads:
        parts += _run_section(lead, _group_status(groups[lead.spec.name]), results[lead.spec.name], reports_dir)
    parts += ["## Provenance", _provenance_table(outcomes)]
    return "\n\n".join(p for p in parts if p) + "\n"


# ----------------------------------------------------------------------------------------- sections


def _results_of(outcome: Outcome) -> dict[str, Any] | None:
    if outcome.status not in ("ok", "cached", "not_selected"):
        return None
    path = outcome.output_dir / RESULTS_FILE
    try:
        return load_results(path) if path.is_file() else None
    except ValueError:
        return None


def _group(outcomes: list[Outcome]) -> dict[str, list[Outcome]]:
    """Outcomes by run name, runs in the order given, seeds in the order given."""
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.spec.name, []).append(outcome)
    return groups


def _merged_results(group: list[Outcome]) -> dict[str, Any] | None:
    """The run's results over the seeds that have them (:func:`merge_results`); None when no seed has any."""
    pairs = [(data["seed"] if o.seed is None else o.seed, data) for o in group if (data := _results_of(o))]
    return merge_results(pairs) if pairs else None


def _lead(group: list[Outcome]) -> Outcome:
    """The outcome a run's section shows (figures, notes): its first seed with results, else its first."""
    return next((o for o in group if _results_of(o) is not None), group[0])


def _group_status(group: list[Outcome]) -> str:
    """``ok``, or per status the seeds it applies to when the seeds of a run ended differently."""
    statuses = list(dict.fromkeys(o.status for o in group))
    if len(statuses) == 1:
        return _STATUS[statuses[0]]
    return "; ".join(f"{_STATUS[s]}: {_seed_words([o.seed for o in group if o.status == s])}" for s in statuses)


def _seed_words(seeds: Any) -> str:
    seeds = list(seeds)
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))} (n={len(seeds)})"


def _machines(outcomes: list[Outcome]) -> str:
    """The header's line on where the numbers were computed: each distinct machine (CPU model, vector instruction
    sets, device) recorded in the runs' results.json, with the runs that ran on it when there is more than one."""
    runs: dict[str, list[str]] = {}
    for outcome in outcomes:
        data = _results_of(outcome)
        if data is not None:
            label = outcome.spec.name if outcome.seed is None else f"{outcome.spec.name} (seed {outcome.seed})"
            runs.setdefault(machine_summary(data.get("machine")), []).append(label)
    if not runs:
        return ""
    if len(runs) == 1:
        return f"Machine: {next(iter(runs))}. Numbers compare across reports only on the same kind of machine."
    listed = "; ".join(f"{machine} for {', '.join(names)}" for machine, names in runs.items())
    return (f"**Machines differ between runs**: {listed}. Numbers compare across reports only on the same kind of "
            "machine.")


def _status_table(groups: dict[str, list[Outcome]], reports_dir: Path) -> str:
    rows = []
    for name, group in groups.items():
        links = [(o.seed, o.executed) for o in group if o.executed]
        if len(group) == 1:
            executed = f"[notebook]({relative_path(links[0][1].with_suffix('.html'), reports_dir)})" if links else "—"
        else:
            executed = " ".join(f"[seed {s}]({relative_path(e.with_suffix('.html'), reports_dir)})"
                                for s, e in links) or "—"
        walls = [o.wall_time_s for o in group if o.wall_time_s is not None]
        wall = format_seconds(sum(walls)) if walls else "—"  # all seeds together
        rows.append([f"[{name}](#{anchor(name)})", f"`{_nb(group[0])}`", _group_status(group), wall, executed])
    return md_table(["run", "notebook", "status", "wall time", "executed"], rows)


def _problem_lists(outcomes: list[Outcome], reports_dir: Path, several: bool = False) -> list[str]:
    label = lambda o: f"{o.spec.name}** (seed {o.seed})" if several else f"{o.spec.name}**"  # noqa: E731
    parts = []
    skipped = [o for o in outcomes if o.status == "unavailable"]
    if skipped:
        parts.append("### Not run: data unavailable")
        parts.append("No other dataset is substituted; these runs are simply missing from the numbers below.")
        once = {o.spec.name: o for o in reversed(skipped)}  # one line a run: the reason is the data, not the seed
        parts.append("\n".join(f"- **{o.spec.name}** (`{_nb(o)}`): {o.reason}. **Fix:** {o.fix}"
                                for o in reversed(once.values())))
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        parts.append("### FAILED runs")
        lines = []
        for o in failed:
            where = f" in {o.cell}" if o.cell else ""
            partial = f" Partial output: `{relative_path(o.executed, reports_dir)}`." if o.executed else ""
            lines.append(f"- **{label(o)} FAILED{where} of `{_nb(o)}`: {one_line(o.reason)}.{partial}")
        parts.append("\n".join(lines))
    return parts


def _summary_table(outcomes: list[Outcome], results: dict[str, Any]) -> str:
    rows = []
    for o in outcomes:
        data = results[o.spec.name]
        if not data:
            continue
        by_model: dict[str, dict[str, str]] = {}
        for name, value in data["metrics"].items():
            kind, _, model = name.partition("/")
            if kind not in SUMMARY_KINDS or model == "real":
                continue
            meta = data["metric_meta"].get(name, {})
            cells = by_model.setdefault(meta.get("model") or model or o.spec.name, {"dataset": _dataset(o, meta)})
            cells[kind] = f"{_fmt(value)} ({_protocol(meta)})" if _protocol(meta) else _fmt(value)
        for model, cells in by_model.items():
            rows.append([o.spec.name, model, cells["dataset"], *(cells.get(k, "—") for k in SUMMARY_KINDS)])
    if not rows:
        return "No run recorded FID, KID, sharpness or NLL metrics (names `fid/<model>`, `kid/<model>`, …)."
    note = ("In brackets: N = samples (FID/KID: generated vs real images of that split; NLL: test images scored), "
            "k = importance samples, and the split. † marks a preview (N too small to report; smoke profile). "
            "FID is biased upwards at finite N (it decreases toward its limit as N grows, so a small-N FID "
            "overestimates): compare only equal N.")
    if any(data and data.get("seeds") for data in results.values()):
        note += " A cell with ± is the mean ± sample sd over the seeds named in the header."
    return md_table(["run", "model", "dataset", *SUMMARY_KINDS.values()], rows) + "\n\n" + note


def _claims_section(outcomes: list[Outcome], results: dict[str, Any]) -> str:
    """Every chapter claim (:mod:`gm_lib.claims`) whose measured direction differs from the paper it cites, with its
    seed test over the report's seeds; then any claim whose sentence no longer matches its numbers."""
    differ, agree, preview, stale = [], 0, 0, []
    for o in outcomes:
        per_seed = (results[o.spec.name] or {}).get("per_seed") or [results[o.spec.name] or {}]
        stale += [f"- {o.spec.name}: {problem}" for data in per_seed for problem in claims.audit(data)]
        for claim in per_seed[0].get("claims", []):
            seeds = claims.seed_test([c for data in per_seed for c in data.get("claims", [])
                                      if c["name"] == claim["name"]])
            preview += claim["agrees"] is None and claim.get("preview", False)
            agree += claim["agrees"] is True
            if claim["agrees"] is False:
                over = f" Over the seeds: {seeds}." if len(per_seed) > 1 else ""
                differ.append(f"- **{o.spec.name}** (`{claim['name']}`): {claim['text']}{over}")
    parts = ["Each comparison a chapter states is written from its numbers and recorded in its `results.json` "
             "(`claims`), with the paper it cites; these are the ones where our direction is not the paper's."]
    parts.append("\n".join(differ) if differ else "None: every evaluated claim agrees with the paper it cites.")
    parts.append(f"{agree} claim(s) agree with their paper." + (f" {preview} claim(s) hold preview numbers: not "
                                                                 "evaluated." if preview else ""))
    if stale:
        parts.append("**Claims whose sentence does not match their numbers** (re-run the notebook):\n"
                     + "\n".join(stale))
    return "\n\n".join(parts)


def _floor(outcomes: list[Outcome], results: dict[str, Any]) -> str:
    lines = []
    for o in outcomes:
        data = results[o.spec.name]
        for name, value in (data or {}).get("metrics", {}).items():
            if name == "fid/real":
                meta = data["metric_meta"].get(name, {})
                lines.append(f"- {_dataset(o, meta)} (run {o.spec.name}): FID {_fmt(value)} ({_protocol(meta)})")
    if not lines:
        return "No run recorded a real-vs-real FID (metric `fid/real`)."
    return ("FID between two disjoint sets of real images of the same size N: a noisy estimate of the distance "
            "between two real samples at this N, not a bound; a model can score below it. A model whose FID is near "
            "this floor is as far from the test images as other real images are, by this metric.\n\n"
            + "\n".join(lines))


def _run_section(outcome: Outcome, status: str, data: dict[str, Any] | None, reports_dir: Path) -> list[str]:
    """A run's own section; ``outcome`` is its lead seed's (figures, notes), ``data`` merged over its seeds."""
    spec = outcome.spec
    head = f'<h2 id="{anchor(spec.name)}">{html.escape(spec.title or spec.name)} ({spec.name})</h2>'
    parts = [head, f"Notebook `{_nb(outcome)}` · status **{status}**", *_published(outcome, data)]
    if outcome.status == "unavailable":
        return parts + [f"Not run: {outcome.reason}. **Fix:** {outcome.fix}"]
    if outcome.status == "failed":
        return parts + [f"FAILED{' in ' + outcome.cell if outcome.cell else ''}: {one_line(outcome.reason)}"]
    if data is None:
        return parts + ["No results.json from an earlier run."]
    seeds = data.get("seeds")
    if seeds:
        parts.append(f"Profile {data['profile']} · {_seed_words(seeds)} · notebook wall time "
                     f"{format_seconds(data['wall_time_s'])} per seed (mean) · tables and metrics: mean ± sd over the "
                     f"seeds; figures and notes: seed {seeds[0]}, recorded {data['timestamp']}")
    else:
        parts.append(f"Profile {data['profile']} · seed {data['seed']} · notebook wall time "
                     f"{format_seconds(data['wall_time_s'])} · recorded {data['timestamp']}")
    for seed_data in data.get("per_seed", [data]):  # a truncated model is flagged whichever seed it is
        parts += _truncations(seed_data.get("training", {}), seed_data["seed"] if seeds else None)
    parts += _training_lines(data.get("training", {}))[-1:]  # steps and minutes: the first seed's
    parts += data.get("notes", [])
    for fig in data["figures"]:
        path = relative_path(outcome.output_dir / fig["file"], reports_dir)
        parts.append(f"![{one_line(fig['caption'])}]({path})\n\n*Figure ({fig['file']}): {fig['caption']}*")
    for name, table in data["tables"].items():
        parts.append(f"**Table {name}.** {_table_caption(table)}".rstrip())
        parts.append(md_table(table["columns"], [[_fmt(v) for v in row] for row in table["rows"]]))
    if data["metrics"]:
        meta = data["metric_meta"]
        rows = [[f"`{n}`", _fmt(v), _protocol(meta.get(n, {})) or "—"] for n, v in data["metrics"].items()]
        value = f"mean ± sd (n={len(seeds)})" if seeds else "value"
        parts += ["**Metrics.**", md_table(["metric", value, "protocol"], rows)]
    return parts


def _table_caption(table: dict[str, Any]) -> str:
    caption = table.get("caption") or ""
    if table.get("mismatch"):
        return f"{caption} (Not merged over seeds: {table['mismatch']}.)".strip()
    if table.get("n_seeds"):
        return f"{caption} (Mean ± sd over n={table['n_seeds']} seeds; values equal in every seed shown once.)".strip()
    return caption


def _training_lines(training: dict[str, dict[str, Any]]) -> list[str]:
    """A warning per truncated model, then one line with every model's steps and training minutes."""
    if not training:
        return []
    done = "; ".join(f"{label} {t['steps']:,} steps ({t['minutes']:.1f} min)" for label, t in training.items())
    return _truncations(training) + [f"Trained: {done}."]


def _truncations(training: dict[str, dict[str, Any]], seed: int | None = None) -> list[str]:
    """A warning per model the time guard stopped (naming the seed when given)."""
    at = f" (seed {seed})" if seed is not None else ""
    return [f"**TRUNCATED{at}: {label} stopped at step {t['steps']} of {t['target_steps']}** (the time guard, "
            "a multiple of its expected time); its numbers are not the profile's. Re-run `make report` to resume it."
            for label, t in training.items() if t["truncated"]]


def _published(outcome: Outcome, data: dict[str, Any] | None) -> list[str]:
    """The published scores of this run's setting beside its own (shown even when it did not run)."""
    columns, rows, caption = published_table(outcome.spec.parameters.get("dataset"), data)
    if not rows:
        return []
    table = md_table(columns, [[_fmt(v) for v in row] for row in rows])
    return [f"**Published numbers beside this run.** {caption}", table]


def _provenance_table(outcomes: list[Outcome]) -> str:
    """One row per run and seed, from that seed's own results.json."""
    rows = []
    for o in outcomes:
        data = _results_of(o)
        if not data:
            rows.append([o.spec.name, _STATUS[o.status]] + ["—"] * 10)
            continue
        v = data["versions"]
        rows.append([o.spec.name, data["profile"], str(data["seed"]), format_seconds(data["wall_time_s"]),
                     v["python"], v["torch"], v.get("torchvision", "—"), v["numpy"], v.get("scipy", "—"),
                     v.get("openvino", "—"), v["gm_lib"], f"`{short_commit(data['git_commit'])}`"])
    columns = ["run", "profile", "seed", "wall time", "python", "torch", "torchvision", "numpy", "scipy", "openvino",
               "gm_lib", "commit"]
    return md_table(columns, rows)


# ------------------------------------------------------------------------------------------ helpers


def _protocol(meta: dict[str, Any]) -> str:
    bits = [f"N={meta['n']}" if "n" in meta else "", f"k={meta['k']}" if "k" in meta else "", meta.get("split", "")]
    text = ", ".join(str(b) for b in bits if b)
    return text + (" †" if meta.get("preview") else "")


def _dataset(outcome: Outcome, meta: dict[str, Any]) -> str:
    return str(meta.get("dataset") or outcome.spec.parameters.get("dataset") or "—")


def _fmt(value: Any) -> str:
    if isinstance(value, Spread):
        return str(value)
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return one_line(str(value))


def _nb(outcome: Outcome) -> str:
    try:
        return str(outcome.spec.notebook.relative_to(Path(__file__).resolve().parents[2]))
    except ValueError:
        return outcome.spec.notebook.name
