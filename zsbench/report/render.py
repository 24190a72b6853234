"""Write a :class:`~zsbench.report.grid.Grid` as markdown, LaTeX (booktabs), a rich table or an HTML table."""

from __future__ import annotations

import html as html_lib

from rich.table import Table

from zsbench.report.grid import PAPER_MARK, TRANSDUCTIVE_MARK, Grid, Label, Number

LATEX_PREAMBLE = r"""\documentclass{article}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\usepackage{booktabs}
\usepackage{graphicx}
\begin{document}
"""


def _plain_label(label: Label) -> str:
    return label.text + label.marks + (f" ({label.note})" if label.note else "")


def _plain_number(cell: Number, plus_minus: str = "±") -> str:
    if cell.missing:
        return "–"
    text = cell.value_text()
    std = cell.std_text()
    if std is not None:
        text += f" {plus_minus} {std}"
    if cell.show_n:
        text += f" (n={cell.n})"
    return text


def _headers(grid: Grid) -> list[str]:
    titles: list[str] = []
    position = 0
    for group, span in grid.groups:
        titles += [f"{group} {column}" for column in grid.columns[position : position + span]]
        position += span
    return titles


def markdown(grid: Grid) -> str:
    header = [grid.stub, *_headers(grid)]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "|".join("---:" for _ in header[1:]) + "|"]
    for label, cells in grid.rows:
        texts = []
        for cell in cells:
            text = _plain_number(cell)
            texts.append(f"**{text}**" if cell.rank == 1 else f"<u>{text}</u>" if cell.rank == 2 else text)
        lines.append("| " + " | ".join([_plain_label(label), *texts]) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(grid.notes) + "\n"


def rich_table(grid: Grid) -> Table:
    table = Table(title=grid.title, caption="\n".join(grid.notes), caption_justify="left")
    table.add_column(grid.stub, justify="left")
    for title in _headers(grid):
        table.add_column(title, justify="right")
    for label, cells in grid.rows:
        texts = []
        for cell in cells:
            text = _plain_number(cell)
            texts.append(f"[bold]{text}[/]" if cell.rank == 1 else f"[underline]{text}[/]" if cell.rank == 2 else text)
        table.add_row(_plain_label(label), *texts)
    return table


def latex_escape(text: str) -> str:
    replacements = (
        ("\\", r"\textbackslash{}"),
        ("{", r"\{"),
        ("}", r"\}"),
        ("_", r"\_\allowbreak{}"),
        ("%", r"\%"),
        ("&", r"\&"),
        ("#", r"\#"),
        ("$", r"\$"),
        ("^", r"\^{}"),
        ("~", r"\textasciitilde{}"),
    )
    out = []
    for char in text:
        for plain, escaped in replacements:
            if char == plain:
                char = escaped
                break
        out.append(char)
    text = "".join(out)
    for symbol, command in (
        (TRANSDUCTIVE_MARK, r"$^\dagger$"),
        (PAPER_MARK, r"$^\ddagger$"),
        ("±", r"$\pm$"),
        ("Δ", r"$\Delta$"),
        ("−", "--"),
        ("–", "--"),
        ("×", r"$\times$"),
    ):
        text = text.replace(symbol, command)
    return text


def _latex_number(cell: Number) -> str:
    if cell.missing:
        return "--"
    value = cell.value_text()
    value = value.replace("-", "$-$").replace("+", "$+$") if cell.signed else value
    if cell.rank == 1:
        value = rf"\textbf{{{value}}}"
    elif cell.rank == 2:
        value = rf"\underline{{{value}}}"
    std = cell.std_text()
    if std is not None:
        value += rf"{{\scriptsize$\pm${std}}}"
    if cell.show_n:
        value += rf"$_{{n={cell.n}}}$"
    return value


def _latex_label(label: Label) -> str:
    text = latex_escape(label.text + label.marks)
    return text + (rf"\textsuperscript{{({label.note})}}" if label.note else "")


def latex(grid: Grid) -> str:
    """A ``table`` float (needs ``booktabs`` and ``graphicx``): scaled down to the line width when wider."""
    spec = "l" + "".join("c" * span for _, span in grid.groups)
    lines = [
        r"% zsbench paper-layout table; needs \usepackage{booktabs} and \usepackage{graphicx}",
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{latex_escape(grid.title)}}}",
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
    ]
    group_cells, rules, start = [""], [], 2
    for title, span in grid.groups:
        group_cells.append(rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(title)}}}")
        rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
        start += span
    lines += [" & ".join(group_cells) + r" \\", " ".join(rules)]
    lines.append(" & ".join([latex_escape(grid.stub), *(latex_escape(c) for c in grid.columns)]) + r" \\")
    lines.append(r"\midrule")
    for label, cells in grid.rows:
        lines.append(" & ".join([_latex_label(label), *(_latex_number(c) for c in cells)]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}"]
    if grid.notes:
        lines.append(r"\par\smallskip")
        lines.append(r"\parbox{\linewidth}{\footnotesize " + r" ".join(latex_escape(n) for n in grid.notes) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def latex_document(body: str) -> str:
    """A minimal compilable article around one or more tables."""
    return LATEX_PREAMBLE + body + "\\end{document}\n"


def _html_number(cell: Number) -> str:
    text = html_lib.escape(_plain_number(cell))
    return f"<b>{text}</b>" if cell.rank == 1 else f"<u>{text}</u>" if cell.rank == 2 else text


def html_table(grid: Grid) -> str:
    out = [f"<table><caption>{html_lib.escape(grid.title)}</caption><thead>"]
    out.append("<tr><th></th>" + "".join(f'<th colspan="{s}">{html_lib.escape(t)}</th>' for t, s in grid.groups))
    out.append(
        "</tr><tr>"
        + f"<th>{html_lib.escape(grid.stub)}</th>"
        + "".join(f"<th>{html_lib.escape(c)}</th>" for c in grid.columns)
    )
    out.append("</tr></thead><tbody>")
    for label, cells in grid.rows:
        out.append(
            f'<tr><th class="label">{html_lib.escape(_plain_label(label))}</th>'
            + "".join(f"<td>{_html_number(c)}</td>" for c in cells)
            + "</tr>"
        )
    out.append("</tbody></table>")
    out.append("".join(f'<p class="note">{html_lib.escape(n)}</p>' for n in grid.notes))
    return "\n".join(out)
