"""Attention matrices and vector tables as Rich renderables.

Every view draws from the same plain lists that go into the JSON document, so
what the terminal shows and what ``--json`` prints cannot drift apart. Values are
always printed as text as well as colored, so nothing is lost without color.
"""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from attncli.render.colors import GLYPHS, MASKED, glyph_for, signed_style, weight_style

#: Row maxima are marked with this after the value (and drawn bold).
MAX_MARK = "*"
#: Most vector components a table shows before it elides the rest.
MAX_COLUMNS = 12


def _apply_mask(weights: list[list[float]], masked: list[list[bool]] | None) -> list[list]:
    if masked is None:
        return weights
    return [[None if m else w for w, m in zip(row, mrow)] for row, mrow in zip(weights, masked)]


class Scale:
    """Maps weights to [0, 1] between the smallest and largest weight shown, for contrast."""

    def __init__(self, weights: list[list]) -> None:
        live = [w for row in weights for w in row if w is not None]
        self.low = min(live, default=0.0)
        self.high = max(live, default=1.0)
        if self.high - self.low < 1e-12:
            self.low = 0.0 if self.high > 0 else self.high - 1.0

    def __call__(self, w: float) -> float:
        return (w - self.low) / (self.high - self.low)


def full_heatmap_width(tokens: list[str], precision: int) -> int:
    """The width, in cells, that :func:`heatmap` needs."""
    cell = precision + 3  # "0." + digits + mark
    label = max(max(len(t) for t in tokens), 5)
    return label + sum(max(len(t), cell) for t in tokens) + 2 * len(tokens)


def heatmap(
    tokens: list[str],
    weights: list[list[float]],
    *,
    precision: int = 2,
    title: str | None = None,
    query_rows: list[int] | None = None,
    masked: list[list[bool]] | None = None,
) -> RenderableType:
    """Rows are queries, columns keys; masked (causal) cells are shown as '-'.

    ``weights`` holds one row per entry of ``query_rows`` (default: every token);
    ``masked`` marks the cells a causal mask hid (their weight is exactly 0).
    """
    rows = query_rows if query_rows is not None else list(range(len(tokens)))
    weights = _apply_mask(weights, masked)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 0, 0, 1))
    table.add_column("q \\ k", justify="left", no_wrap=True, style="bold")
    for token in tokens:
        table.add_column(token, justify="right", no_wrap=True, min_width=precision + 3)
    scale = Scale(weights)
    for index, row in zip(rows, weights):
        live = [w for w in row if w is not None]
        best = max(live) if live else None
        cells = []
        for w in row:
            if w is None:
                cells.append(Text("-", style=MASKED, justify="right"))
                continue
            is_best = w == best
            label = f"{w:.{precision}f}" + (MAX_MARK if is_best else " ")
            cells.append(Text(label, style=weight_style(scale(w), bold=is_best)))
        table.add_row(tokens[index], *cells)
    return Group(Text(title, style="bold"), table) if title else table


def compact_heatmap(
    tokens: list[str],
    weights: list[list[float]],
    *,
    title: str | None = None,
    query_rows: list[int] | None = None,
    masked: list[list[bool]] | None = None,
    width: int = 80,
) -> RenderableType:
    """One glyph per cell, a legend, and token indices: readable at 40+ tokens in 80 columns."""
    rows = query_rows if query_rows is not None else list(range(len(tokens)))
    weights = _apply_mask(weights, masked)
    n = len(tokens)
    scale = Scale(weights)
    label_width = min(max(len(t) for t in tokens), 12)
    lines: list[Text] = []
    if title:
        lines.append(Text(title, style="bold"))
    prefix = " " * (label_width + 6)
    if n >= 10:
        lines.append(Text(prefix + "".join(str(j // 10 % 10) if j >= 10 else " " for j in range(n)), style="dim"))
    lines.append(Text(prefix + "".join(str(j % 10) for j in range(n)), style="dim"))
    for index, row in zip(rows, weights):
        line = Text(f"{index:>4} {tokens[index][:label_width]:<{label_width}} ")
        live = [w for w in row if w is not None]
        best = max(live) if live else None
        for w in row:
            if w is None:
                line.append("×", style=MASKED)
            else:
                line.append(glyph_for(scale(w)), style=weight_style(scale(w), bold=w == best))
        suffix = f"  max {best:.2f} @ {row.index(best)}" if best is not None else ""
        if suffix and len(line) + len(suffix) <= width:
            line.append(suffix, style="dim")
        lines.append(line)
    legend = Text("legend: ")
    step = (scale.high - scale.low) / len(GLYPHS)
    for i, glyph in enumerate(GLYPHS):
        legend.append(glyph, style=weight_style((i + 0.5) / len(GLYPHS)))
        legend.append(f" {scale.low + i * step:.2f}-{scale.low + (i + 1) * step:.2f}  ")
    if any(w is None for row in weights for w in row):
        legend.append("×", style=MASKED)
        legend.append(" masked")
    lines.append(legend)
    return Group(*lines)


def vector_table(
    labels: list[str],
    vectors: list[list[float]],
    *,
    precision: int = 3,
    title: str | None = None,
    marks: list[str] | None = None,
    max_columns: int = MAX_COLUMNS,
    columns: list[str] | None = None,
    corner: str = "token",
    width_limit: int | None = None,
) -> RenderableType:
    """One row per token, one column per component, diverging color for the sign.

    ``columns`` labels the columns (default: 0, 1, ...); a ``None`` value is drawn as '-'.
    """
    width = len(vectors[0]) if vectors else 0
    shown = min(width, max_columns)
    if width_limit:
        label = max([len(corner)] + [len(x) for x in labels])
        big = max((abs(v) for row in vectors for v in row if v is not None), default=0.0)
        cell = precision + 2 + len(str(int(big)))
        cell += 1 if any(v is not None and v < 0 for row in vectors for v in row) else 0
        cell = max(cell, len(str(width)))
        if label + shown * (cell + 1) > width_limit or shown < width:
            # Not all fit: keep room for the "... +N" column.
            fit = max(1, (width_limit - label - 10) // (cell + 1))
            shown = min(shown, fit)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 0, 0, 1))
    table.add_column(corner, no_wrap=True, style="bold")
    for j in range(shown):
        table.add_column(columns[j] if columns else str(j), justify="right", no_wrap=True)
    if shown < width:
        table.add_column(f"... +{width - shown}", justify="left", style="dim")
    max_abs = max((abs(v) for row in vectors for v in row if v is not None), default=0.0)
    for i, (label, row) in enumerate(zip(labels, vectors)):
        cells = [Text("-", style=MASKED, justify="right") if v is None
                 else Text(f"{v:.{precision}f}", style=signed_style(v, max_abs)) for v in row[:shown]]
        if shown < width:
            cells.append(Text(""))
        name = label + (marks[i] if marks else "")
        table.add_row(name, *cells)
    return Group(Text(title, style="bold"), table) if title else table
