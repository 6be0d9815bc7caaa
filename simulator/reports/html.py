"""The HTML toolkit shared by every report: escaping, tables, embedded images, the page.

Reports are single self-contained files: :func:`write_html_document` wraps the sections
in one page with the inline style sheet :data:`REPORT_CSS`, and :func:`image_tag` embeds
PNG figures as base64 data, so there are no external scripts, fonts or links (the only
scripts are those of the interactive map, inlined by :mod:`simulator.reports.webmap`).
Every text goes through :func:`escape_html`.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simulator.results import atomic_write_text

REPORT_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif;
       margin: 0 auto; max-width: 1180px; padding: 1.5em 2em 3em; color: #1d2733; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 2px solid #1f4e79; padding-bottom: 0.2em; }
p.description { font-size: 1.05em; color: #3c4a5a; margin-top: 0.2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #d8dee6; text-align: left; vertical-align: top; }
th { background: #eef2f7; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.meta th { background: none; font-weight: 600; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #d8dee6; }
figcaption { font-size: 0.85em; color: #55606e; }
details { margin: 0.8em 0; }
summary { cursor: pointer; font-weight: 600; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; font-size: 0.82em; }
.note { font-size: 0.85em; color: #55606e; }
.warning { background: #fff4d6; border-left: 4px solid #d08c00; padding: 0.5em 0.9em; margin: 0.8em 0; }
.scroll { max-height: 32em; overflow-y: auto; }
"""
"""Inline style sheet of every report page."""


def escape_html(value: Any) -> str:
    """HTML-escaped text of ``value`` (quotes included; None becomes an empty string)."""
    return html.escape("" if value is None else str(value), quote=True)


def html_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool], css_class: str = ""
) -> str:
    """An HTML table; columns flagged in ``numeric`` are right-aligned (class ``num``)."""
    head = "".join(
        f'<th class="num">{escape_html(h)}</th>' if is_numeric else f"<th>{escape_html(h)}</th>"
        for h, is_numeric in zip(headers, numeric, strict=True)
    )
    body = "\n".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape_html(cell)}</td>' if is_numeric else f"<td>{escape_html(cell)}</td>"
            for cell, is_numeric in zip(row, numeric, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    class_attribute = f' class="{escape_html(css_class)}"' if css_class else ""
    return f"<table{class_attribute}><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def warnings_block(warnings: Sequence[str]) -> str:
    """The warnings of a run (``metadata["warnings"]``) as a highlighted box, or ``""`` without any."""
    if not warnings:
        return ""
    items = "".join(f"<li>{escape_html(w)}</li>" for w in warnings)
    return f'<div class="warning"><strong>Warning</strong><ul>{items}</ul></div>'


def key_value_table(pairs: Sequence[tuple[str, Any]]) -> str:
    """A two-column HTML table of ``(label, value)`` pairs (class ``meta``)."""
    body = "\n".join(f"<tr><th>{escape_html(k)}</th><td>{escape_html(v)}</td></tr>" for k, v in pairs)
    return f'<table class="meta"><tbody>\n{body}\n</tbody></table>'


def image_tag(path: str | os.PathLike[str], alt: str) -> str:
    """An ``<img>`` tag embedding the PNG file ``path`` as base64 data."""
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{escape_html(alt)}">'


def write_html_document(title: str, sections: Sequence[str], out_path: str | os.PathLike[str]) -> Path:
    """Write one self-contained HTML page (inline CSS, no external resources), atomically."""
    document = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape_html(title)}</title>\n"
        f"<style>{REPORT_CSS}</style>\n</head>\n<body>\n" + "\n".join(s for s in sections if s) + "\n</body>\n</html>\n"
    )
    return atomic_write_text(out_path, document)
