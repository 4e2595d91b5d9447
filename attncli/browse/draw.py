"""The pictures of ``attncli browse`` as Rich Text: pure functions of tensors and a size, no Textual.

Colors follow the views of ``run`` (attncli.render.palette): weights on viridis with black or
white ink (WCAG), context vectors on the diverging RdBu map. A matrix larger than the space
is max-pooled (a cell shows the strongest weight it covers) and drawn with half blocks (``▀``,
two rows per line). Each drawing also returns where things are, so that clicks can be mapped.
"""

from __future__ import annotations

import math
from functools import lru_cache

from rich.style import Style
from rich.text import Text

from attncli.render.palette import ink_for, signed_rgb, weight_rgb

MASKED = Style(color="grey50", bgcolor="grey15")


@lru_cache(maxsize=4096)
def _cell(bg: tuple[int, int, int], bold: bool = False) -> Style:
    return Style(color=_hex(ink_for(bg)), bgcolor=_hex(bg), bold=bold)


@lru_cache(maxsize=8192)
def _half(top: tuple[int, int, int] | None, bottom: tuple[int, int, int] | None) -> Style:
    return Style(color=_hex(top) if top else "grey15", bgcolor=_hex(bottom) if bottom else "grey15")


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def weight_color(value: float, lo: float, hi: float) -> tuple[int, int, int] | None:
    """The viridis color of ``value`` on the scale lo..hi; None for a masked cell (-inf)."""
    if value == -math.inf:
        return None
    return weight_rgb((value - lo) / (hi - lo) if hi > lo else 1.0)


def fmt(value: float, precision: int, short: bool = False) -> str:
    """``short``: weights in [0, 1] without the leading zero (".21"), for narrow cells."""
    if value == -math.inf:
        return "-"
    text = f"{value:.{precision}f}"
    if short:
        return "1." + "0" * (precision - 1) if text.startswith("1") else text[1:]
    return text


def value_range(matrix) -> tuple[float, float]:
    """(lo, hi) of the finite values of a tensor: the scale of one picture."""
    import torch

    finite = matrix[torch.isfinite(matrix)]  # (M,)
    if finite.numel() == 0:
        return 0.0, 1.0
    return float(finite.min()), float(finite.max())


def pool(matrix, rows: int, cols: int):
    """Max-pool an (N, M) matrix to at most (rows, cols); -inf (masked) only where every value is."""
    import torch

    n, m = matrix.shape
    if n <= rows and m <= cols:
        return matrix
    pooled = torch.nn.functional.adaptive_max_pool2d(matrix[None, None], (min(n, rows), min(m, cols)))
    return pooled[0, 0]  # (rows, cols)


def fit(matrix, rows: int, cols: int):
    """Max-pool down, or repeat each weight up, so that the matrix fills about rows x cols cells."""
    m = pool(matrix, rows, cols)
    r, c = m.shape
    return m.repeat_interleave(max(1, rows // r), dim=0).repeat_interleave(max(1, cols // c), dim=1)


def bins(n: int, out: int) -> list[int]:
    """The first source index of each of ``out`` adaptive-pooling bins over ``n``."""
    return [i * n // out for i in range(out)]


def legend(lo: float, hi: float, width: int, precision: int, note: str = "") -> Text:
    """One line: a color bar with its range."""
    text = Text(f"{lo:.{precision}f} ")
    cells = min(12, max(4, width // 8))
    for i in range(cells):
        text.append(" ", style=Style(bgcolor=_hex(weight_rgb(i / (cells - 1)))))
    text.append(f" {hi:.{precision}f}")
    if note:
        text.append(f"  {note}", style="dim")
    text.truncate(width)
    return text


def heatmap(matrix, tokens: list[str], query: int, width: int, height: int, precision: int,
            scale: tuple[float, float] | None = None) -> tuple[Text, list[int]]:
    """The (N, N) matrix in ``width`` x ``height`` cells; returns it and, per line, the first row it shows.

    With room, every weight is printed in its colored cell (ink by contrast); otherwise one
    cell per weight, then half blocks, then max-pooling. The query's row is marked ``▶``.
    """
    n = len(tokens)
    lo, hi = scale or value_range(matrix)
    values = matrix.tolist()
    label_w = max(1, min(10, max(len(t) for t in tokens)))
    cell_w = precision + 4 if lo < 0 else precision + 3
    short = False
    if 2 + label_w + n * cell_w > width and 0 <= lo and hi <= 1 and precision > 0:
        cell_w, short = precision + 2, True  # ".21": a weight without its leading zero
    avail = max(1, height - 2)  # a header line and the legend
    text = Text(no_wrap=True, overflow="crop")
    line_rows: list[int] = []
    if n <= avail and 2 + label_w + n * cell_w <= width:
        text.append(" " * (2 + label_w))
        for tok in tokens:
            text.append(tok[: cell_w - 1].rjust(cell_w), style="bold")
        for i, row in enumerate(values):
            text.append("\n")
            mark = i == query
            text.append(("▶ " if mark else "  ") + tokens[i][:label_w].ljust(label_w),
                        style="bold reverse" if mark else "")
            for value in row:
                rgb = weight_color(value, lo, hi)
                cell = fmt(value, precision, short).rjust(cell_w)
                text.append(cell, style=MASKED if rgb is None else _cell(rgb, mark))
            line_rows.append(i)
        text.append("\n")
        text.append_text(legend(lo, hi, width, precision))
        return text, line_rows
    label_w = min(label_w, 8)
    prefix = 2 + 5 + label_w + 1  # marker, index, token
    cols = max(1, width - prefix)
    half = n > avail
    shown = pool(matrix, 2 * avail if half else avail, cols)
    out_rows, out_cols = shown.shape
    cell_w = max(1, min(3, cols // out_cols))
    row_starts, col_starts = bins(n, out_rows), bins(n, out_cols)
    ticks = [" "] * (out_cols * cell_w)
    for c in range(0, out_cols, max(1, 10 // cell_w)):
        label = str(col_starts[c])
        if c * cell_w + len(label) <= len(ticks) and all(x == " " for x in ticks[max(0, c * cell_w - 1): c * cell_w]):
            ticks[c * cell_w: c * cell_w + len(label)] = label
    text.append(" " * prefix + "".join(ticks), style="dim")
    grid = shown.tolist()
    step = 2 if half else 1
    query_bin = max(r for r in range(out_rows) if row_starts[r] <= query)
    for r in range(0, out_rows, step):
        text.append("\n")
        first = row_starts[r]
        mark = query_bin in (r, r + step - 1)
        label = f"{first:>4} {tokens[first][:label_w].ljust(label_w)} "
        text.append("▶ " if mark else "  ", style="bold")
        text.append(label, style="bold reverse" if mark else "")
        line_rows.append(first)
        for c in range(out_cols):
            top = weight_color(grid[r][c], lo, hi)
            if half:
                bottom = weight_color(grid[r + 1][c], lo, hi) if r + 1 < out_rows else None
                text.append("▀" * cell_w, style=_half(top, bottom))
            else:
                text.append(" " * cell_w, style=MASKED if top is None else Style(bgcolor=_hex(top)))
    note = ""
    if out_rows < n or out_cols < n:
        note = f"max-pooled to {out_rows}x{out_cols}"
    text.append("\n")
    text.append_text(legend(lo, hi, width, precision, note))
    return text, line_rows


def strip(tokens: list[str], row: list[float], query: int, width: int, max_lines: int,
          special: list[bool] | None = None) -> tuple[Text, list[tuple[int, int, int, int]]]:
    """The text as a line of tokens colored by how much the query attends to each (BertViz's head view).

    Returns the Text and the spans (line, x0, x1, token index) of the tokens shown.
    """
    finite = [v for v in row if v != -math.inf]
    hi = max(finite) if finite else 1.0
    placed: list[tuple[int, int, int, int]] = []
    line, x = 0, 0
    for i, tok in enumerate(tokens):
        w = min(len(tok), max(1, width - 2)) + 2
        if x and x + w > width:
            line, x = line + 1, 0
        placed.append((line, x, x + w, i))
        x += w
    query_line = next(p[0] for p in placed if p[3] == query)
    first = max(0, min(query_line - max_lines // 2, placed[-1][0] - max_lines + 1))
    text = Text(no_wrap=True, overflow="crop")
    spans = []
    current = first
    for line_no, x0, x1, i in placed:
        if not first <= line_no < first + max_lines:
            continue
        if line_no != current:
            text.append("\n")
            current = line_no
        rgb = weight_color(row[i], 0.0, hi) if row[i] != -math.inf else None
        mark = i == query
        text.append("▸" if mark else " ", style="bold")
        body = tokens[i][: x1 - x0 - 2]
        style = MASKED if rgb is None else _cell(rgb, mark)
        if mark:
            style = style + Style(underline=True)
        elif special and special[i]:
            style = style + Style(italic=True)
        text.append(body, style=style)
        text.append(" ")
        spans.append((line_no - first, x0, x1, i))
    return text, spans


def row_list(tokens: list[str], row: list[float], query: int, width: int, height: int, precision: int,
             what: str = "weights") -> Text:
    """The query's row, largest first: key index, token, value and a bar."""
    order = sorted(range(len(row)), key=lambda j: (row[j] == -math.inf, -row[j] if row[j] != -math.inf else 0))
    finite = [v for v in row if v != -math.inf]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    text = Text(no_wrap=True, overflow="crop")
    text.append(f"{what} of {query} {tokens[query]}"[:width], style="bold")
    label_w = max(1, min(10, max(len(t) for t in tokens)))
    number_w = precision + (4 if lo < 0 else 2)
    bar_w = max(0, width - (4 + label_w + 1 + number_w + 1))
    room = max(1, height - 1)
    shown = order if len(order) <= room else order[: room - 1]
    for j in shown:
        value = row[j]
        text.append("\n")
        text.append(f"{j:>3} {tokens[j][:label_w].ljust(label_w)} ", style="bold" if j == query else "")
        text.append(fmt(value, precision).rjust(number_w))
        if bar_w and value != -math.inf:
            fill = max(1, round(bar_w * ((value - lo) / (hi - lo) if hi > lo else 1.0)))
            text.append(" " + "█" * fill, style=Style(color=_hex(weight_color(value, lo, hi))))
    if len(shown) < len(order):
        text.append(f"\n… {len(order) - len(shown)} more (smaller)", style="dim")
    return text


def vector_line(vector: list[float], width: int, precision: int, label: str = "context") -> Text:
    """A context vector on one line, each component on the diverging map; the rest counted."""
    max_abs = max((abs(v) for v in vector), default=0.0)
    cell_w = precision + 4
    text = Text(no_wrap=True, overflow="crop")
    text.append(f"{label} ", style="bold")
    room = width - len(label) - 1
    fit = len(vector) if len(vector) * cell_w <= room else max(0, (room - 8) // cell_w)
    for v in vector[:fit]:
        rgb = signed_rgb(v, max_abs)
        text.append(f"{v:.{precision}f}".rjust(cell_w), style=_cell(rgb))
    if fit < len(vector):
        text.append(f" +{len(vector) - fit} more", style="dim")
    return text


def grid(rows: list[tuple[str, list[tuple[str, object, object]]]], selected, width: int, height: int,
         scale: tuple[float, float]) -> tuple[Text, list[tuple[int, int, int, int, object]]]:
    """Thumbnails of many heads, one shared scale: ``rows`` of (row label, [(label, (N, N) matrix, key)]).

    Each cell is a label line over a half-block thumbnail; the selected key's label is reversed.
    Row labels ("L3") go in a gutter on the left. Returns the Text and hit boxes (y0, y1, x0, x1, key).
    """
    lo, hi = scale
    gutter = max(len(label) for label, _cells in rows)
    gutter += 1 if gutter else 0
    columns = max(len(cells) for _label, cells in rows)
    cell_w = max(2, (width - gutter) // columns - 1)
    lines_per_row = max(2, (height - 1) // len(rows))
    thumb_lines = lines_per_row - 1
    text = Text(no_wrap=True, overflow="crop")
    boxes = []
    y = 0
    for r, (row_label, cells) in enumerate(rows):
        if y + 2 > height:
            break
        if r:
            text.append("\n")
        chosen = any(key == selected for _l, _m, key in cells)
        text.append(row_label.ljust(gutter), style="bold reverse" if chosen and row_label else "bold")
        for c, (label, _matrix, key) in enumerate(cells):
            text.append(label[:cell_w].ljust(cell_w), style="bold reverse" if key == selected else "dim")
            text.append(" ")
            x0 = gutter + c * (cell_w + 1)
            boxes.append((y, y + lines_per_row, x0, x0 + cell_w, key))
        pooled = [fit(m, 2 * thumb_lines, cell_w).tolist() for _label, m, _key in cells]
        for line in range(thumb_lines):
            text.append("\n" + " " * gutter)
            for grid_ in pooled:
                drawn = 0
                top_row = grid_[2 * line] if 2 * line < len(grid_) else None
                bottom_row = grid_[2 * line + 1] if 2 * line + 1 < len(grid_) else None
                if top_row is not None:
                    for c in range(len(top_row)):
                        top = weight_color(top_row[c], lo, hi)
                        bottom = weight_color(bottom_row[c], lo, hi) if bottom_row is not None else None
                        text.append("▀", style=_half(top, bottom) if bottom_row is not None else
                                    Style(color=_hex(top) if top else "grey15"))
                        drawn += 1
                text.append(" " * (cell_w - drawn + 1))
        y += lines_per_row
    text.append("\n")
    text.append_text(legend(lo, hi, width, 2, "one scale for every head"))
    return text, boxes
