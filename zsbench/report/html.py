"""One self-contained HTML page: the tables, the protocol and quirks, and the figures embedded as base64 PNG."""

from __future__ import annotations

import base64
import html as html_lib
from pathlib import Path
from typing import Any

from zsbench.report.grid import Grid
from zsbench.report.render import html_table

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #111; background: #fff; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
caption { font-weight: bold; text-align: left; padding-bottom: 0.3em; }
th, td { padding: 0.25em 0.6em; text-align: right; }
thead th { border-bottom: 1px solid #444; }
thead tr:first-child th { border-top: 2px solid #111; }
tbody tr:last-child th, tbody tr:last-child td { border-bottom: 2px solid #111; }
th.label { text-align: left; font-weight: normal; }
p.note { font-size: 0.85em; color: #333; margin: 0.2em 0; }
figure { display: inline-block; margin: 0.5em; }
figure img { max-width: 34em; border: 1px solid #ddd; }
"""


def protocol_lines(records: list[dict[str, Any]]) -> list[str]:
    """What the runs did, stated once per distinct value: protocol, validation fold, calibration, quirks."""
    lines: list[str] = []
    seen: set[str] = set()

    def add(text: str) -> None:
        if text not in seen:
            seen.add(text)
            lines.append(text)

    for record in records:
        protocol = record.get("protocol", {})
        name = protocol.get("name", record.get("config", {}).get("protocol", "?"))
        if name == "strict":
            add(
                "strict: model selection and GZSL calibration on a validation fold carved from the seen classes "
                f"({protocol.get('validation_fold', 'validation fold')}); no test label is read before scoring."
            )
        quirks = protocol.get("quirks") or []
        if name != "strict":
            add(f"{name} protocol, {record['config']['method']}: quirks applied: {', '.join(quirks) or 'none'}.")
        if protocol.get("transductive"):
            add(f"{record['config']['method']} is transductive: it uses the whole unlabelled test set.")
        if protocol.get("text_encoder"):
            add(f"text encoder: {protocol['text_encoder']}.")
        if record.get("dataset", {}).get("synthetic"):
            add(f"{record['dataset']['name']} is a synthetic dataset: its numbers say nothing about real benchmarks.")
    return lines


def page(title: str, grids: list[Grid], protocol: list[str], images: list[Path]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html_lib.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html_lib.escape(title)}</h1>",
    ]
    for grid in grids:
        parts.append(html_table(grid))
    parts.append("<h2>Protocol</h2><ul>")
    parts += [f"<li>{html_lib.escape(line)}</li>" for line in protocol]
    parts.append("</ul>")
    if images:
        parts.append("<h2>Figures</h2>")
        for image in images:
            encoded = base64.b64encode(image.read_bytes()).decode("ascii")
            caption = html_lib.escape(image.stem.replace("_", " "))
            parts.append(
                f'<figure><img alt="{caption}" src="data:image/png;base64,{encoded}"><figcaption>{caption}</figcaption></figure>'
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
