"""How the report is written out: small Markdown helpers, then Markdown → HTML (mistune) → PDF (WeasyPrint).

Markdown → HTML with mistune (already a dependency of nbconvert); HTML → PDF with WeasyPrint (pure Python over the
system's Pango). :mod:`gm_build.report.build` decides what the report says; this module only how it is rendered.
"""

from __future__ import annotations

import html
import logging
import os
import warnings
from pathlib import Path
from typing import Any

__all__ = ["markdown_to_html", "html_to_pdf", "md_table", "one_line", "short_commit", "format_seconds", "anchor",
           "relative_path"]


def markdown_to_html(text: str, title: str) -> str:
    """A standalone HTML page (tables, figures with relative paths, print CSS for the PDF)."""
    import mistune

    body = mistune.create_markdown(escape=False, plugins=["table", "strikethrough"])(text)
    return f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>' \
           f"<style>{_CSS}</style></head>\n<body>\n{body}</body></html>\n"


def html_to_pdf(html_path: Path, pdf_path: Path) -> None:
    """Render the HTML page to PDF with WeasyPrint (images resolved relative to the HTML file)."""
    for name in ("weasyprint", "fontTools"):  # font-subsetting chatter is not the reader's business
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():  # "HarfBuzz-Subset will be required by future versions": not ours to fix
        warnings.simplefilter("ignore", DeprecationWarning)
        from weasyprint import HTML

        HTML(filename=str(html_path), base_url=str(html_path.parent)).write_pdf(str(pdf_path))


def md_table(columns: list[str], rows: list[list[Any]]) -> str:
    cell = lambda v: one_line(str(v)).replace("|", "\\|")
    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def short_commit(commit: str) -> str:
    return commit[:10] + ("-dirty" if commit.endswith("-dirty") else "")


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def anchor(name: str) -> str:
    return "run-" + "".join(c if c.isalnum() else "-" for c in name.lower())


def relative_path(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.absolute(), start.absolute())).as_posix()


_CSS = """
@page { size: A4; margin: 16mm 14mm; @bottom-center { content: counter(page) " / " counter(pages); font-size: 8pt; } }
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; font-size: 10pt; line-height: 1.4;
       max-width: 60em; margin: 1.5em auto; padding: 0 1em; color: #222; }
h1 { font-size: 18pt; border-bottom: 2px solid #444; padding-bottom: 4px; }
h2 { font-size: 14pt; border-bottom: 1px solid #aaa; margin-top: 1.6em; page-break-after: avoid; }
h3 { font-size: 11.5pt; page-break-after: avoid; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 8.5pt; page-break-inside: auto; }
th, td { border: 1px solid #bbb; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #eee; }
tr { page-break-inside: avoid; }
img { max-width: 100%; max-height: 115mm; display: block; margin: 0.5em auto 0.2em; page-break-inside: avoid; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; background: #f3f3f3; padding: 0 2px; }
em { color: #444; }
"""
