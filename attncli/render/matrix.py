"""Attention matrices and vector tables, drawn at render time for the console at hand.

Every view draws from the same plain lists that go into the JSON document, so what the terminal
shows and what ``--json`` prints cannot drift apart. Numbers are printed whole (never ``0.…``):
a matrix wider than the terminal is split into column blocks, and anything left out is
announced with how to see it.
"""

from __future__ import annotations

from typing import Sequence

from rich.text import Text

from attncli.render.colors import MASKED, Paint, glyph_for
from attncli.render.layout import (
    Column, Lazy, Scale, adaptive_precision, block_table, fmt, heading, label, legend, line, note,
)
from attncli.errors import option

#: Row maxima are marked with this after the value (and drawn bold).
MAX_MARK = "*"
#: Most vector components a table shows before it leaves the rest out (and says so).
MAX_COLUMNS = 12

__all__ = ["MAX_MARK", "MAX_COLUMNS", "Scale", "heatmap", "compact_heatmap", "vector_table", "full_heatmap_width",
           "compact_fits", "compact_columns", "row_maxima", "vector_lines"]


def _apply_mask(weights: Sequence[Sequence[float]], masked: Sequence[Sequence[bool]] | None) -> list[list]:
    if masked is None:
        return [list(row) for row in weights]
    return [[None if m else w for w, m in zip(row, mrow)] for row, mrow in zip(weights, masked)]


def row_maxima(row: Sequence[float | None], precision: int) -> set[int]:
    """Every position whose printed value equals the row's printed maximum."""
    live = [w for w in row if w is not None]
    if not live:
        return set()
    best = fmt(max(live), precision)
    return {j for j, w in enumerate(row) if w is not None and fmt(w, precision) == best}


def full_heatmap_width(tokens: list[str], precision: int) -> int:
    """The width, in cells, that :func:`heatmap` needs in one block."""
    cell = precision + 3  # "0." + digits + mark
    first = max(max(len(label(t)) for t in tokens), 5)
    return first + sum(max(len(label(t)), cell) + 1 for t in tokens)


def heatmap(tokens: list[str], weights: list[list[float]], *, precision: int | None = None, title: str | None = None,
            query_rows: list[int] | None = None, masked: list[list[bool]] | None = None,
            scale: Scale | None = None, show_legend: bool = True, mode: str = "matrix",
            meaning: str | None = None) -> Lazy:
    """Every weight printed on its color; rows are queries, columns keys; masked cells are '-'.

    ``weights`` holds one row per entry of ``query_rows`` (default: every token); ``masked``
    marks the cells a causal mask hid (their weight is exactly 0). ``precision`` None: adaptive.
    """
    rows = query_rows if query_rows is not None else list(range(len(tokens)))
    cells_in = _apply_mask(weights, masked)
    p = adaptive_precision(cells_in) if precision is None else precision
    shared = scale or Scale(cells_in, mode=mode)
    any_masked = any(w is None for row in cells_in for w in row)

    cell = p + 3  # "0.xx" and the row-maximum mark; block_table widens a column to its widest value (norm, mixing)

    def build(paint: Paint, width: int, _height: int):
        columns = [Column(label(t), cell) for t in tokens]
        table_rows = []
        for r, (index, row) in enumerate(zip(rows, cells_in)):
            best = row_maxima(row, p)
            row_scale = shared.row(r)
            cells: list[Text] = []
            for j, w in enumerate(row):
                if w is None:
                    cells.append(Text("-", style=MASKED))
                    continue
                mark = MAX_MARK if j in best else " "
                cells.append(Text(fmt(w, p) + mark, style=paint.weight(row_scale(w), bold=j in best)))
            table_rows.append((label(tokens[index]), cells))
        out = heading(title, width) if title else []
        out += block_table("q \\ k", columns, table_rows, width, noun="keys")
        if show_legend and paint.color:
            out += legend(paint, shared, p, masked=any_masked, width=width, masked_mark="-", meaning=meaning)
        return out

    return Lazy(build)


def compact_fits(tokens: list[str], width: int) -> bool:
    """Whether one character per key fits ``width`` (with the row labels)."""
    return 6 + min(max(len(label(t)) for t in tokens), 12) + len(tokens) <= width


def compact_heatmap(tokens: list[str], weights: list[list[float]], *, title: str | None = None,
                    query_rows: list[int] | None = None, masked: list[list[bool]] | None = None, width: int = 80,
                    scale: Scale | None = None, precision: int | None = None, show_legend: bool = True,
                    keys: Sequence[int] | None = None, pooling=None, meaning: str | None = None) -> Lazy:
    """One character per cell (its background the weight; a glyph without color), each row's
    largest weight at the end, a legend: readable at 40+ tokens in 80 columns.

    ``keys``: only these key columns (a block of a matrix too wide for one); ``pooling`` (an
    attncli.core.pooling.Pooling): ``weights`` are already pooled, a row a block of queries.
    """
    n = len(tokens)
    rows = query_rows if query_rows is not None else list(range(n))
    cells_in = _apply_mask(weights, masked)
    shared = scale or Scale(cells_in)
    p = adaptive_precision(cells_in) if precision is None else precision
    if pooling is not None:  # a line is a block of query rows: labelled by its first
        rows = [rows[pooling.first_row(b)] for b in range(len(cells_in))]
    columns = list(keys) if keys is not None else list(range(len(cells_in[0]) if cells_in else n))
    key_index = (lambda c: pooling.first_col(c)) if pooling is not None else (lambda c: c)
    any_masked = any(row[c] is None for row in cells_in for c in columns)  # in the keys drawn

    def build(paint: Paint, render_width: int, _height: int):
        limit = min(width, render_width)
        label_width = min(max(len(label(t)) for t in tokens), 12)
        lines: list[Text] = heading(title, limit) if title else []
        prefix = " " * (label_width + 6)
        suffixes = []
        for row in cells_in:
            best = sorted(row_maxima(row, p))
            live = [w for w in row if w is not None]
            where = ", ".join(str(j) for j in best[:3]) + (f" +{len(best) - 3}" if len(best) > 3 else "")
            suffixes.append(f"  max {fmt(max(live), p)} @ {where}" if live and pooling is None else "")
        longest = max((len(s) for s in suffixes), default=0)
        count = len(columns)
        # With color, two characters per key when they fit (square cells, one index line on top).
        cell = 2 if paint.color and count < 100 and 6 + label_width + 2 * count + longest <= limit else 1
        if keys is not None and len(columns) < n:
            lines.append(line((f"keys {columns[0]}-{columns[-1]} of {n}", "dim italic")))
        indices = [key_index(c) for c in columns]
        # key indices written downwards, at the right of each cell: thousands over hundreds over tens over units
        for power in (1000, 100, 10):
            if max(indices, default=0) >= power:
                lines.append(line((prefix + "".join((str(j // power % 10) if j >= power else " ").rjust(cell)
                                                    for j in indices), "dim")))
        lines.append(line((prefix + "".join(str(j % 10).rjust(cell) for j in indices), "dim")))
        show_max = 6 + label_width + cell * count + longest <= limit
        for r, (index, row, suffix) in enumerate(zip(rows, cells_in, suffixes)):
            text = Text(f"{index:>4} {label(tokens[index], label_width):<{label_width}} ", no_wrap=True,
                        overflow="ignore")
            row_scale = shared.row(r)
            for c in columns:
                w = row[c]
                if w is None:
                    text.append("×".rjust(cell), style=MASKED)
                elif paint.color:
                    text.append(" " * cell, style=paint.weight(row_scale(w)))
                else:
                    text.append(glyph_for(row_scale(w)))
            if show_max:
                text.append(suffix, style="dim")
            lines.append(text)
        if show_legend:
            lines += legend(paint, shared, p, masked=any_masked, width=limit, meaning=meaning)
        if not show_max and pooling is None:
            lines += note(f"each row's largest weight is left out to fit the width; {option('top_k')} 1 lists it, "
                          f"{option('json')} has every weight", limit)
        return lines

    return Lazy(build)


def compact_columns(tokens: list[str], width: int) -> int:
    """How many keys one block of a compact heatmap holds at ``width`` (one character each)."""
    return max(1, width - 6 - min(max(len(label(t)) for t in tokens), 12))


def vector_lines(paint: Paint, width: int, labels: list[str], vectors: list[list[float]], *, precision: int = 3,
                 title: str | None = None, marks: list[str] | None = None, max_columns: int = MAX_COLUMNS,
                 columns: list[str] | None = None, corner: str = "token") -> list[Text]:
    """:func:`vector_table`'s lines for a known paint and width."""
    d = len(vectors[0]) if vectors else 0
    shown = d if columns else min(d, max_columns)
    heads = columns if columns else [str(j) for j in range(shown)]
    texts = [[None if v is None else fmt(v, precision) for v in row[:shown]] for row in vectors]
    cols = [Column(label(heads[j], 12), max((len(r[j]) for r in texts if r[j] is not None), default=1))
            for j in range(shown)]
    names = [label(name) + (marks[i] if marks else "") for i, name in enumerate(labels)]
    if not columns:  # components: as many as fit one block, the rest announced
        fit, used = 0, max([len(corner)] + [len(name) for name in names])
        for col in cols:
            if used + 1 + col.width > width and fit:
                break
            used += 1 + col.width
            fit += 1
        shown, cols = fit, cols[:fit]
    # The color scale covers the components shown, so that they use the whole range.
    max_abs = max((abs(v) for row in vectors for v in row[:shown] if v is not None), default=0.0)
    rows = []
    for i, (name, row) in enumerate(zip(names, vectors)):
        cells = [Text("-", style=MASKED) if v is None else Text(texts[i][j], style=paint.signed(v, max_abs))
                 for j, v in enumerate(row[:shown])]
        rows.append((name, cells))
    out = heading(title, width) if title else []
    out += block_table(corner, cols, rows, width, noun="columns")
    if shown < d:
        out += note(f"components {shown}-{d - 1} are not shown ({d - shown} more); {option('json')} prints them all", width)
    return out


def vector_table(labels: list[str], vectors: list[list[float]], *, precision: int = 3, title: str | None = None,
                 marks: list[str] | None = None, max_columns: int = MAX_COLUMNS, columns: list[str] | None = None,
                 corner: str = "token", width_limit: int | None = None) -> Lazy:
    """One row per token, one column per component, diverging color for the sign.

    ``columns`` labels the columns (default: 0, 1, ...) and are all shown (in blocks); without
    them at most ``max_columns`` components are shown, and the rest announced. ``None`` is '-'.
    """

    def build(paint: Paint, width: int, _height: int):
        limit = width if width_limit is None else min(width, width_limit)
        return vector_lines(paint, limit, labels, vectors, precision=precision, title=title, marks=marks,
                            max_columns=max_columns, columns=columns, corner=corner)

    return Lazy(build)
