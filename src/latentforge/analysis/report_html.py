"""The pieces of the self-contained HTML report: its style sheet, figures inlined as PNG (base64) and tables of
numbers with their standard errors."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import matplotlib.pyplot as plt

from .readable import with_error

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.8em; }
table { border-collapse: collapse; font-size: .9em; } td, th { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #f3f3f3; } td.num { text-align: right; font-family: monospace; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: .8em; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: .9em; } img { max-width: 100%; }
.muted { color: #777; } .warn { color: #a40; } .note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .5em 1em; }
"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def figure_html(fig, caption: str) -> str:
    """A matplotlib figure as a self-contained HTML <figure> (PNG inlined as base64) with ``caption``."""
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{_png(fig)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def table_html(rows: dict[str, dict[str, Any]]) -> str:
    """Rows of numbers as a table; a ``<name>_err`` goes into its number's cell as "± error"."""
    cols: list[str] = []
    for r in rows.values():
        cols += [c for c in r if c not in cols and not (c.endswith("_err") and c[:-4] in r)]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", *cols])
    body = "".join("<tr><th>" + html.escape(name) + "</th>" + "".join(
        f'<td class="num">{html.escape(with_error(r, c)) if c in r else ""}</td>' for c in cols) + "</tr>"
        for name, r in rows.items())
    return f"<table><tr>{head}</tr>{body}</table>"
