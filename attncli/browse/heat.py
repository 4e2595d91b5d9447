"""The heatmap and the head grid as lines of Rich Segments, drawn once per matrix and size.

A key press redraws these within a frame for 512 tokens: the colored cells of a matrix are
drawn once (cached under the caller's key) as runs of equal style, and moving the cursor
only redraws the row labels. A matrix larger than the space is pooled (attncli.core.pooling:
the mean of even blocks) and drawn with half blocks (``▀``: two rows per line). Pure
functions of tensors and a size, no Textual.
"""

from __future__ import annotations

import math

from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from attncli.documents.tokens_display import shorten
from attncli.browse.legend import BOLD, DIM, _bg, legend
from attncli.browse.draw import (
    MASKED, _cell, _half, _hex, fmt, on_color_change, value_range, weight_color,
)

Line = list[Segment]

#: Drawn cells by (the caller's key, the space): a bounded cache, emptied when full.
_DRAWN: dict = {}
_LIMIT = 512

MARKED = Style(bold=True, reverse=True)
PLAIN = Style()


def forget() -> None:
    """Drop every drawing (the colors changed; attncli.browse.legend drops its cell styles)."""
    _DRAWN.clear()


on_color_change(forget)


def _remember(key, value):
    if key is not None:
        if len(_DRAWN) >= _LIMIT:
            _DRAWN.clear()
        _DRAWN[key] = value
    return value


def runs(cells: list[tuple[str, Style]]) -> Line:
    """Segments with neighbours of the same style joined (fewer segments, faster to paint)."""
    out: Line = []
    text, style = "", None
    for chunk, cell_style in cells:
        if cell_style is style:
            text += chunk
            continue
        if text:
            out.append(Segment(text, style))
        text, style = chunk, cell_style
    if text:
        out.append(Segment(text, style))
    return out


def to_text(lines: list[Line]) -> Text:
    """Lines of segments as one Rich Text (for tests and exports)."""
    text = Text()
    for i, line in enumerate(lines):
        if i:
            text.append("\n")
        for segment in line:
            text.append(segment.text, segment.style)
    return text


def pool(matrix, rows: int, cols: int):
    """Pool an (N, M) matrix to at most (rows, cols) by the one rule of attncli.core.pooling
    (the mean of even blocks; -inf, masked, only where every cell of a block is)."""
    from attncli.core.pooling import mean_pool, plan

    n, m = matrix.shape
    if n <= rows and m <= cols:
        return matrix
    return mean_pool(matrix, plan(n, m, rows, cols)).to(matrix.dtype)  # (r, c)


def fit(matrix, rows: int, cols: int):
    """Pool down, or repeat each weight up, so that the matrix fills about rows x cols cells."""
    m = pool(matrix, rows, cols)  # (r, c)
    r, c = m.shape
    return m.repeat_interleave(max(1, rows // r), dim=0).repeat_interleave(max(1, cols // c), dim=1)


def _row_range(row: list[float], lo: float, hi: float) -> tuple[float, float]:
    """(lo, hi) of a row's finite values (the ``row`` scale); the matrix's when it has none."""
    finite = [v for v in row if math.isfinite(v)]
    return (min(finite), max(finite)) if finite else (lo, hi)


def heatmap(matrix, tokens: list[str], query: int, width: int, height: int, precision: int,
            scale: tuple[float, float] | None = None, key=None, mode: str | None = None,
            measure: str | None = None, rows: list[str] | None = None,
            start: int = 0) -> tuple[list[Line], list[int]]:
    """The (N, N) matrix in ``width`` x ``height`` cells: its lines and, per line, the first row it shows.

    With room, every weight is printed in its colored cell (ink by contrast); otherwise one
    cell per weight, then half blocks, then max-pooling. The query's row is marked ``▶``.
    ``key`` names the matrix (it must change when the matrix does): its cells are drawn once.
    ``mode`` is the color scale (--color-scale): ``row`` colors each row (each pooled line) by
    its own range, ``matrix`` and ``keys`` by ``scale``; the legend names it. Values beyond the
    scale (column 0 under ``keys``) take the end color. ``measure`` names what the colors are in the
    legend. ``rows``: the rows' labels when they are not the keys' (generation: the tokens written,
    each row over every token), an (R, N) matrix; ``start``: the number printed for row 0 (a window of
    rows of a long text: its first token's index).
    """
    import torch

    n = len(tokens)
    labels = tokens if rows is None else rows
    r_count = len(labels)
    lo, hi = scale or value_range(matrix)
    label_w = max(1, min(10, max(len(t) for t in labels)))
    # wide enough for every value printed (large scores too) and one space between cells
    cell_w = max(len(f"{v:.{precision}f}") for v in (lo, hi)) + 1 if math.isfinite(lo) and math.isfinite(hi) \
        else precision + 4
    short = False
    if 2 + label_w + n * cell_w > width and 0 <= lo and hi <= 1 and precision > 0:
        cell_w, short = precision + 2, True  # ".21": a weight without its leading zero
    while 2 + label_w + n * cell_w > width and not short and precision > 0 and math.isfinite(lo) \
            and math.isfinite(hi) and max(abs(lo), abs(hi)) >= 1:
        precision -= 1  # values past 1 (norms, scores): fewer decimals before no numbers at all
        cell_w = max(len(f"{v:.{precision}f}") for v in (lo, hi)) + 1
    masked = "-" if bool(torch.isneginf(matrix).any()) else None  # a masked cell is drawn: the legend says so
    key_line = legend(lo, hi, width, precision, mode=mode, measure=measure, masked=masked,
                      spare=r_count + 3 <= height)  # a small matrix: the legend's words may take two lines
    avail = max(1, height - 1 - len(key_line))  # a header line and the legend
    if r_count <= avail and 2 + label_w + n * cell_w <= width:
        if not short:  # room to spare: wider cells show more of each key's token
            longest = max(len(t) for t in tokens) + 1
            cell_w = max(cell_w, min(longest, 9, (width - 2 - label_w) // n))
        lines = [[Segment(" " * (2 + label_w))] + [Segment(shorten(t, cell_w - 1).rjust(cell_w), BOLD) for t in tokens]]
        for i, row in enumerate(matrix.tolist()):
            mark = i == query
            line = [Segment(("▶ " if mark else "  ") + shorten(labels[i], label_w).ljust(label_w), MARKED if mark else PLAIN)]
            row_lo, row_hi = _row_range(row, lo, hi) if mode == "row" else (lo, hi)
            for value in row:
                rgb = weight_color(value, row_lo, row_hi)
                line.append(Segment(fmt(value, precision, short).rjust(cell_w),
                                    MASKED if rgb is None else _cell(rgb, mark)))
            lines.append(line)
        return lines + key_line, list(range(r_count))
    label_w = min(label_w, 8)
    avail = max(1, height - 2)
    lines, line_rows, key_line = _block_map(matrix, labels, n, query, width, avail, label_w, lo, hi, precision, key,
                                            mode, measure, start)
    if len(key_line) > 1:  # the legend takes two lines: one fewer for the cells
        avail = max(1, height - 1 - len(key_line))
        lines, line_rows, key_line = _block_map(matrix, labels, n, query, width, avail, label_w, lo, hi, precision,
                                                key, mode, measure, start)
    return lines + key_line, line_rows


def _block_map(matrix, labels: list[str], n: int, query: int, width: int, avail: int, label_w: int, lo: float,
               hi: float, precision: int, key, mode: str | None, measure: str | None, start: int = 0):
    """The heatmap one cell per weight or pooled, in ``avail`` lines: (lines, first row of each, legend)."""
    r_count = len(labels)
    prefix = 2 + 5 + label_w + 1  # marker, index, token
    cols = max(1, width - prefix)
    half = r_count > avail
    cache_key = None if key is None else ("heat", key, avail, cols, lo, hi, mode)
    drawn = _DRAWN.get(cache_key) if cache_key is not None else None
    if drawn is None:
        drawn = _remember(cache_key, _blocks(matrix, n, 2 * avail if half else avail, cols, half, lo, hi,
                                             mode == "row"))
    ticks, cells, row_starts, (out_rows, out_cols), masked = drawn
    lines = [[Segment(" " * prefix + ticks, DIM)]]
    step = 2 if half else 1
    query_bin = max(r for r in range(out_rows) if row_starts[r] <= query)
    line_rows = []
    for r, row_cells in zip(range(0, out_rows, step), cells):
        first = row_starts[r]
        mark = query_bin in range(r, r + step)
        shown = query if mark else first  # the marked line names the query itself, not its block's first row
        lines.append([Segment("▶ " if mark else "  ", BOLD),
                      Segment(f"{start + shown:>4} {shorten(labels[shown], label_w).ljust(label_w)} ",
                              MARKED if mark else PLAIN),
                      *row_cells])
        line_rows.append(first)
    note: tuple[str, ...] = ()
    if out_rows < r_count or out_cols < n:
        rows_per = -(-r_count // out_rows) * step
        note = ((f"pooled: a line is {rows_per} queries, a cell the mean of its block",
                 f"pooled: {rows_per} queries a line, block means") if rows_per > 1
                else (f"pooled to {out_cols} key columns (mean of each block)", f"pooled to {out_cols} key columns"))
    return lines, line_rows, legend(lo, hi, width, precision, note, mode, measure, "  " if masked else None)


def _colors(row: list[float] | None, lo: float, hi: float, per_row: bool) -> list:
    """The colors of one row of cells (None: masked), on lo..hi or, ``per_row``, on the row's own range."""
    if row is None:
        return []
    if per_row:
        lo, hi = _row_range(row, lo, hi)
    return [weight_color(value, lo, hi) for value in row]


def _blocks(matrix, n: int, rows: int, cols: int, half: bool, lo: float, hi: float, per_row: bool = False):
    """The cell part of a block heatmap: (tick line, cells of each line, first row of each bin, shape,
    whether a masked cell is drawn).

    ``per_row``: each pooled row is colored by its own range (the ``row`` scale)."""
    from attncli.core.pooling import plan

    how = plan(matrix.shape[0], matrix.shape[1], rows, cols)
    shown = pool(matrix, rows, cols)  # (rows, cols) at most
    out_rows, out_cols = shown.shape
    cell_w = max(1, min(3, cols // out_cols))
    row_starts = [how.first_row(b) for b in range(out_rows)]
    col_starts = [how.first_col(b) for b in range(out_cols)]
    ticks = [" "] * (out_cols * cell_w)
    for c in range(0, out_cols, max(1, 10 // cell_w)):
        label = str(col_starts[c])
        if c * cell_w + len(label) <= len(ticks) and all(x == " " for x in ticks[max(0, c * cell_w - 1): c * cell_w]):
            ticks[c * cell_w: c * cell_w + len(label)] = label
    grid_ = shown.tolist()
    lines = []
    for r in range(0, out_rows, 2 if half else 1):
        top = _colors(grid_[r], lo, hi, per_row)
        if half:
            bottom = _colors(grid_[r + 1] if r + 1 < out_rows else None, lo, hi, per_row)
            cells = [("▀" * cell_w, _half(top[c], bottom[c] if bottom else None)) for c in range(out_cols)]
        else:
            cells = [(" " * cell_w, MASKED if rgb is None else _bg(rgb)) for rgb in top]
        lines.append(runs(cells))
    masked = any(v == -math.inf for row in grid_ for v in row)  # a block all of whose cells are masked
    return "".join(ticks), lines, row_starts, (out_rows, out_cols), masked


#: A grid thumbnail keeps at least this many lines (two matrix rows each), scrolling rather than shrinking.
MIN_THUMB_LINES = 4


def grid(rows: list[tuple[str, list[tuple[str, object, object]]]], selected, width: int, height: int,
         scale: tuple[float, float], cache=None, mode: str | None = None,
         measure: str | None = None) -> tuple[list[Line], list[tuple[int, int, int, int, object]]]:
    """Thumbnails of many heads, one shared scale: ``rows`` of (row label, [(label, (N, N) matrix, key)]).

    Each cell is a label line over a half-block thumbnail; the selected key's label is reversed.
    Row labels ("L3") go in a gutter on the left. Thumbnails keep :data:`MIN_THUMB_LINES` lines:
    when the rows do not fit, the grid scrolls to keep the selected row in view (the legend says
    which rows are shown). Returns the lines and hit boxes (y0, y1, x0, x1, key).
    ``cache`` names the set of matrices (it must change when they do): each thumbnail is drawn once.
    ``mode`` is the color scale: ``row`` colors each line of a thumbnail by its own range.
    """
    lo, hi = scale
    gutter = max(len(label) for label, _cells in rows)
    gutter += 1 if gutter else 0
    columns = max(len(cells) for _label, cells in rows)
    cell_w = max(2, (width - gutter) // columns - 1)

    def draw(room: int):
        lines_per_row = max(min(MIN_THUMB_LINES + 1, room), room // len(rows))
        visible = max(1, room // lines_per_row)
        chosen_row = next((r for r, (_l, cells) in enumerate(rows) if any(key == selected for _x, _m, key in cells)), 0)
        first = min(max(0, chosen_row - visible // 2), max(0, len(rows) - visible))
        thumb_lines = lines_per_row - 1
        lines: list[Line] = []
        boxes = []
        masked = False
        for row_label, cells in rows[first:first + visible]:
            y = len(lines)
            chosen = any(key == selected for _l, _m, key in cells)
            head = [Segment(row_label.ljust(gutter), MARKED if chosen and row_label else BOLD)]
            for c, (label, _matrix, key) in enumerate(cells):
                head.append(Segment(label[:cell_w].ljust(cell_w), MARKED if key == selected else DIM))
                head.append(Segment(" "))
                x0 = gutter + c * (cell_w + 1)
                boxes.append((y, y + lines_per_row, x0, x0 + cell_w, key))
            lines.append(head)
            thumbs = [_thumbnail(m, thumb_lines, cell_w, lo, hi, None if cache is None else (cache, key), mode == "row")
                      for _label, m, key in cells]
            masked = masked or any(has_masked for _lines, has_masked in thumbs)
            for i in range(thumb_lines):
                lines.append([Segment(" " * gutter)] + [segment for thumb, _m in thumbs for segment in thumb[i]])
        shown = ("one scale for every head", "one scale") if mode != "row" else ()  # row: the scale's words say it
        if visible < len(rows):
            names = [label for label, _cells in rows]
            span = f"{names[first]}-{names[first + visible - 1]} of {len(rows)}"
            shown = (f"{span} rows ([ ] scroll)", span)
        return lines, boxes, legend(lo, hi, width, 2, shown, mode, measure, "  " if masked else None)

    lines, boxes, key_line = draw(max(2, height - 1))  # the legend takes the last line...
    if len(key_line) > 1:  # ...or two
        lines, boxes, key_line = draw(max(2, height - len(key_line)))
    return lines + key_line, boxes


def _thumbnail(matrix, lines: int, width: int, lo: float, hi: float, key,
               per_row: bool = False) -> tuple[list[Line], bool]:
    """One head as ``lines`` lines of ``width`` + 1 cells (half blocks, a blank column after), and
    whether a masked cell is drawn."""
    cache_key = None if key is None else ("thumb", key, lines, width, lo, hi, per_row)
    if cache_key is not None and cache_key in _DRAWN:
        return _DRAWN[cache_key]
    grid_ = fit(matrix, 2 * lines, width).tolist()
    out = []
    for i in range(lines):
        top_row = grid_[2 * i] if 2 * i < len(grid_) else []
        bottom_row = grid_[2 * i + 1] if 2 * i + 1 < len(grid_) else None
        tops, bottoms = _colors(top_row, lo, hi, per_row), _colors(bottom_row, lo, hi, per_row)
        cells = []
        for c, top in enumerate(tops):
            if bottom_row is not None:
                cells.append(("▀", _half(top, bottoms[c])))
            else:
                cells.append(("▀", Style(color=_hex(top) if top else "grey15")))
        cells.append((" " * (width - len(top_row) + 1), PLAIN))
        out.append(runs(cells))
    return _remember(cache_key, (out, any(v == -math.inf for row in grid_ for v in row)))
