"""``run --view grid``: every head at once as small heatmaps.

A toy run (or a model's chosen layer) tiles its heads across the width ("head K"); a model run
with ``--layer all`` draws a layer x head grid (rows "L{l}", columns "h{k}"). With color each
thumbnail uses half blocks (``▀``: the upper cell is the ink, the lower the background), two
matrix rows per line; without color one glyph per cell. A sequence longer than the thumbnail
is pooled by attncli.core.pooling (each cell the mean of an even block), and the view says so.
Colors (``--color-scale``): ``matrix`` one range for every thumbnail; ``row`` and ``keys`` each
thumbnail its own ranges (layout.Scale.each), named in the heading and the legend.
"""

from __future__ import annotations

from math import ceil

from rich.console import RenderableType
from rich.text import Text

from attncli.core.numbers import plural
from attncli.core.pooling import Pooling, plan, pool_lists
from attncli.render.colors import HALF, MASKED, Paint, glyph_for
from attncli.render.layout import Lazy, Scale, fmt, heading, legend, line, note, scale_summary, wrap_phrases
from attncli.errors import option

#: Largest thumbnail side, in matrix cells.
MAX_SIDE = 48
#: Smallest thumbnail side the height may shrink it to (the width may force less).
MIN_SIDE = 6


def pooled(matrix: list[list[float | None]], rows: int, cols: int) -> tuple[list[list[float | None]], Pooling]:
    """A matrix pooled to fit ``rows`` x ``cols`` by the one pooling rule (attncli.core.pooling)."""
    how = plan(len(matrix), len(matrix[0]), rows, cols)
    return pool_lists(matrix, how), how


def _draw(matrix: list[list[float | None]], paint: Paint, scale: Scale) -> list[Text]:
    """A pooled matrix as lines: half blocks with color, glyphs without; masked cells "×", or blank with color."""
    lines: list[Text] = []
    if not paint.color:
        for r, row in enumerate(matrix):
            text = Text(no_wrap=True, overflow="ignore")
            for w in row:
                text.append("×" if w is None else glyph_for(scale.row(r)(w)), style=MASKED if w is None else "")
            lines.append(text)
        return lines
    for top in range(0, len(matrix), 2):
        upper = matrix[top]
        lower = matrix[top + 1] if top + 1 < len(matrix) else [None] * len(upper)
        text = Text(no_wrap=True, overflow="ignore")
        for a, b in zip(upper, lower):
            fa = None if a is None else scale.row(top)(a)
            fb = None if b is None else scale.row(top + 1)(b)
            if fa is None and fb is None:
                text.append(" ")
            elif fa is None:
                text.append("▄", style=paint.half(fb, None))
            else:
                text.append(HALF, style=paint.half(fa, fb))
        lines.append(text)
    return lines


def _live(doc: dict, h: int, weights: list | None = None) -> list[list]:
    """Head ``h``'s weights (or ``weights``, a matrix of the same run) with masked cells as None."""
    weights = doc["weights"][h] if weights is None else weights
    if doc.get("scores") is None and doc.get("mask") is not None:
        return [[None if m else w for w, m in zip(row, mrow)] for row, mrow in zip(weights, doc["mask"])]
    if doc.get("scores") is None:
        return weights
    return [[None if s is None else w for w, s in zip(row, srow)] for row, srow in zip(weights, doc["scores"][h])]


def _side(rows: int, cols: int, fits) -> int:
    """The largest thumbnail side (matrix cells) that ``fits(side)``; at least 2."""
    for side in range(min(max(rows, cols), MAX_SIDE), 1, -1):
        if fits(side):
            return side
    return 2


def grid_view(doc: dict, *, head: int | None = None, width: int = 80, height: int = 24,
              mode: str = "matrix") -> list[RenderableType]:
    if doc["weights"] is None:
        return [line((f"attention weights left out (too large for {option('max_weights_mb')}); no grid to draw", "dim"))]

    def build(paint: Paint, render_width: int, _h: int) -> list[RenderableType]:
        w = min(width, render_width)
        if doc.get("layers"):
            return _layer_grid(doc, head, paint, w, height, mode)
        return _head_grid(doc, head, paint, w, height, mode)

    return [Lazy(build)]


def _lines_for(rows: int, paint: Paint) -> int:
    return ceil(rows / 2) if paint.color else rows


def _note(how: Pooling, *, pooled_hint: str) -> str:
    if how.pooled:
        return f"each thumbnail: {how.phrase()}; {pooled_hint}"
    return (f"each thumbnail: {plural(how.rows, 'query')} (rows) x {plural(how.cols, 'key')} (columns), "
            "one cell per weight")


def _footer(paint: Paint, scale: Scale, drawn: list, text: str, width: int) -> list[RenderableType]:
    """The legend (masked cells named only when one is drawn; blank with color) and the note."""
    precision = next((p for p in (2, 3, 4) if fmt(scale.low, p) != fmt(scale.high, p)), 4)
    masked = any(w is None for m in drawn for row in m for w in row)
    out: list[RenderableType] = legend(paint, scale, precision, width=width, masked=masked,
                                       masked_mark=" " if paint.color else "×")
    return out + note(text, width)


def _head_grid(doc: dict, head: int | None, paint: Paint, width: int, height: int,
               mode: str = "matrix") -> list[RenderableType]:
    heads = [head] if head is not None else list(range(len(doc["weights"])))
    matrices = [_live(doc, h) for h in heads]
    rows, cols = len(matrices[0]), len(matrices[0][0])
    gap = 2
    name_width = len(f"head {heads[-1]}")
    budget = max(2 * height - 8, 24)  # at most about two screens

    def layout(side: int) -> tuple[int, int, int]:
        tile = max(min(cols, side), name_width)
        per_row = max(1, (width + gap) // (tile + gap))
        tile_rows = ceil(len(heads) / per_row)
        return tile, per_row, tile_rows * (_lines_for(min(rows, side), paint) + 2)

    def fits(side: int) -> bool:
        tile, per_row, lines = layout(side)
        return tile <= width and (lines <= budget or side <= MIN_SIDE)

    side = _side(rows, cols, fits)
    tile, per_row, _ = layout(side)
    side_rows, side_cols = min(rows, side), min(cols, side)
    pools = [pooled(m, side_rows, side_cols) for m in matrices]
    how = pools[0][1]
    scales, shown = Scale.each([p for p, _how in pools], mode)
    drawn = [_draw(p, paint, scale) for (p, _how), scale in zip(pools, scales)]
    where = f" of layer {doc['layer']}" if doc.get("model") and doc.get("layer") is not None else ""
    many = f"all {plural(len(heads), 'head')}{where}, {scale_summary(mode, each=True)}"
    out: list[RenderableType] = heading(many + " (in each thumbnail rows are queries, columns keys)", width) \
        if len(heads) > 1 else \
        heading("head " + str(heads[0]) + " (rows are queries, columns keys)", width)
    for start in range(0, len(heads), per_row):
        group = list(range(start, min(start + per_row, len(heads))))
        title = Text(no_wrap=True, overflow="ignore")
        for i in group:
            title.append(f"head {heads[i]}".ljust(tile + (gap if i != group[-1] else 0)), style="bold")
        out.append(title)
        for k in range(len(drawn[group[0]])):
            text = Text(no_wrap=True, overflow="ignore")
            for i in group:
                cell = drawn[i][k]
                text.append_text(cell)
                if i != group[-1]:
                    text.append(" " * (tile - cell.cell_len + gap))
            out.append(text)
        out.append(Text(""))
    text = _note(how, pooled_hint=f"a wider terminal or {option('head')} K {option('view')} compact shows more")
    return out + _footer(paint, shown, [p for p, _how in pools], text, width)


def _layer_grid(doc: dict, head: int | None, paint: Paint, width: int, height: int,
                mode: str = "matrix") -> list[RenderableType]:
    entries = doc["layers"]
    n_heads = len(entries[0]["weights"])
    heads = [head] if head is not None else list(range(n_heads))
    grid = [[_live(doc, 0, entry["weights"][h]) for h in heads] for entry in entries]  # masked cells: None
    rows, cols = len(grid[0][0]), len(grid[0][0][0])
    label_width = len(f"L{entries[-1]['layer']}") + 1
    gap = 1
    head_label = len(f"h{heads[-1]}")
    budget = max(2 * height - 8, 2 * len(entries))

    def fits(side: int) -> bool:
        tile = max(min(cols, side), head_label)
        lines = len(entries) * (_lines_for(min(rows, side), paint) + 1)
        return label_width + len(heads) * (tile + gap) - gap <= width and (lines <= budget or side <= MIN_SIDE)

    side = _side(rows, cols, fits)
    side_rows, side_cols = min(rows, side), min(cols, side)
    tile = max(side_cols, head_label)
    title = (f"every layer x every head ({len(entries)} x {len(heads)}), {scale_summary(mode, each=True)}: rows "
             "L = layers, columns h = heads; in each thumbnail rows are queries, columns keys")
    out: list[RenderableType] = wrap_phrases([(word, "bold") for word in title.split(" ")], width)
    top = Text(" " * label_width, no_wrap=True, overflow="ignore")
    for h in heads:
        top.append(f"h{h}".ljust(tile + gap), style="bold")
    out.append(top)
    how = plan(rows, cols, side_rows, side_cols)
    pooled_grid = [[pool_lists(m, how) for m in layer] for layer in grid]
    flat = [m for layer in pooled_grid for m in layer]
    scales, shown = Scale.each(flat, mode)
    for number, (entry, layer) in enumerate(zip(entries, pooled_grid)):
        drawn = [_draw(m, paint, scales[number * len(layer) + i]) for i, m in enumerate(layer)]
        for k in range(len(drawn[0])):
            text = Text((f"L{entry['layer']}" if k == 0 else "").ljust(label_width), style="bold", no_wrap=True,
                        overflow="ignore")
            for i, cells in enumerate(drawn):
                text.append_text(cells[k])
                if i != len(drawn) - 1:
                    text.append(" " * (tile - cells[k].cell_len + gap))
            out.append(text)
        out.append(Text(""))
    text = _note(how, pooled_hint=f"a wider terminal, {option('head')} K, or {option('layer')} L {option('view')} grid "
                                   "shows more")
    return out + _footer(paint, shown, flat, text, width)
