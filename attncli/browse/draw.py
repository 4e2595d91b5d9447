"""The small pictures of ``attncli browse`` as Rich Text (token strip, row list, context vector),
and the colors every picture shares. Pure functions of numbers and a size, no Textual.

Colors follow the views of ``run`` (attncli.render.palette): weights on viridis with black or
white ink (WCAG), context vectors on the diverging RdBu map. The heatmap and the head grid,
drawn often and large, are in :mod:`attncli.browse.heat`.
"""

from __future__ import annotations

import math
from functools import lru_cache

from rich.style import Style
from rich.text import Text

from attncli.core.numbers import plural
from attncli.documents.tokens_display import shorten
from attncli.render import palette
from attncli.render.palette import ink_for

MASKED = Style(color="grey50", bgcolor="grey15")

#: The terminal's color system ("truecolor", "256" or "16"): on 256 and 16 colors every color is
#: a palette entry chosen so that brightness stays ordered with the weight (attncli.render.palette),
#: written as that entry's number, so the terminal shows it as chosen.
_SYSTEM = "truecolor"
#: viridis in 256 steps (as shown on this color system): a cell's color is a lookup.
_LUT = tuple(palette.weight_rgb(i / 255) for i in range(256))
#: RGB of a palette entry -> its number, on 256 and 16 colors.
_INDEX: dict = {}
#: Called after the color system changes (heat.forget drops its drawings): registered, not imported.
_LISTENERS: list = []


def on_color_change(callback) -> None:
    """Call ``callback()`` whenever :func:`set_color_system` changes the colors."""
    _LISTENERS.append(callback)


def set_color_system(system: str | None) -> None:
    """Draw for a terminal's color system (Rich's names: "truecolor", "256", "standard", "windows")."""
    global _SYSTEM, _LUT, _INDEX
    system = {"256": "256", "standard": "16", "windows": "16"}.get(system or "truecolor", "truecolor")
    if system == _SYSTEM:
        return
    _SYSTEM = system
    _LUT = tuple(palette.shown_rgb(i / 255, system) for i in range(256))
    if system == "256":
        entries = palette.WEIGHT_256 + palette.NEGATIVE_256 + palette.POSITIVE_256 + (palette.NEUTRAL_256,)
        ink = palette.INK_256
    elif system == "16":
        entries = palette.WEIGHT_16 + palette.NEGATIVE_16 + palette.POSITIVE_16 + (palette.NEUTRAL_16,)
        ink = palette.INK_16
    else:
        entries, ink = (), {}
    _INDEX = {palette.xterm_rgb(i): i for i in entries}
    _INDEX.update(ink)
    _cell.cache_clear()
    _half.cache_clear()
    for callback in _LISTENERS:
        callback()


def signed_color(value: float, max_abs: float) -> tuple[int, int, int]:
    return palette.shown_signed_rgb(value, max_abs, _SYSTEM)


def ramp(fraction: float) -> tuple[int, int, int]:
    """The weight color at ``fraction`` of the scale."""
    return _LUT[min(255, max(0, int(fraction * 255 + 0.5)))]


@lru_cache(maxsize=4096)
def _cell(bg: tuple[int, int, int], bold: bool = False) -> Style:
    return Style(color=_hex(ink_for(bg)), bgcolor=_hex(bg), bold=bold)


@lru_cache(maxsize=8192)
def _half(top: tuple[int, int, int] | None, bottom: tuple[int, int, int] | None) -> Style:
    return Style(color=_hex(top) if top else "grey15", bgcolor=_hex(bottom) if bottom else "grey15")


def _hex(rgb) -> str:
    index = _INDEX.get(tuple(rgb)) if _INDEX else None
    return f"color({index})" if index is not None else "#{:02x}{:02x}{:02x}".format(*rgb)


def weight_color(value: float, lo: float, hi: float) -> tuple[int, int, int] | None:
    """The viridis color of ``value`` on the scale lo..hi; None for a masked cell (-inf)."""
    if value == -math.inf:
        return None
    fraction = (value - lo) / (hi - lo) if hi > lo else 1.0
    return _LUT[min(255, max(0, int(fraction * 255 + 0.5)))]


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


def layout(tokens: list[str], width: int) -> list[tuple[int, int, int, int]]:
    """Where the token strip puts each token: (line, x0, x1, index), two columns of space each."""
    placed = []
    line, x = 0, 0
    for i, tok in enumerate(tokens):
        w = min(len(tok), max(1, width - 2)) + 2
        if x and x + w > width:
            line, x = line + 1, 0
        placed.append((line, x, x + w, i))
        x += w
    return placed


def strip(tokens: list[str], row: list[float], query: int, width: int, max_lines: int,
          special: list[bool] | None = None) -> tuple[Text, list[tuple[int, int, int, int]]]:
    """The text as a line of tokens colored by how much the query attends to each (BertViz's head view).

    Returns the Text and the spans (line, x0, x1, token index) of the tokens shown.
    """
    finite = [v for v in row if v != -math.inf]
    hi = max(finite) if finite else 1.0
    placed = layout(tokens, width)
    query_line = next((p[0] for p in placed if p[3] == query), 0)  # a query outside the keys: none marked
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
        body = shorten(tokens[i], x1 - x0 - 2)
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
             what: str = "weights", name: str | None = None) -> Text:
    """The query's row, largest first: key index, token, value and a bar.

    Masked keys (-inf: a causal query's future) are not listed; a line says how many there are.
    ``name``: the query in the heading, when it is not one of the keys (cross-attention's step).
    """
    order = sorted((j for j in range(len(row)) if row[j] != -math.inf), key=lambda j: -row[j])
    hidden = len(row) - len(order)
    finite = [v for v in row if v != -math.inf]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    text = Text(no_wrap=True, overflow="crop")
    title = f"{what} of {name or f'{query} {tokens[query]}'}" + (f" ({plural(len(order), 'key')} it may see)" if hidden else "")
    text.append(title[:width], style="bold")
    label_w = max(1, min(10, max(len(t) for t in tokens)))
    number_w = precision + (4 if lo < 0 else 2)
    bar_w = max(0, width - (4 + label_w + 1 + number_w + 1))
    room = max(1, height - 1)
    shown = order if len(order) <= room else order[: room - 1]
    for j in shown:
        value = row[j]
        text.append("\n")
        text.append(f"{j:>3} {shorten(tokens[j], label_w).ljust(label_w)} ", style="bold" if j == query else "")
        text.append(fmt(value, precision).rjust(number_w))
        if bar_w and value != -math.inf:
            base = min(lo, 0.0)  # bars start at 0 (at the smallest value only when it is negative)
            fill = max(1, round(bar_w * ((value - base) / (hi - base) if hi > base else 1.0)))
            text.append(" " + "█" * fill, style=Style(color=_hex(weight_color(value, lo, hi))))
    if len(shown) < len(order):
        text.append(f"\n… {len(order) - len(shown)} more", style="dim")
    return text


#: The context vector's colors saturate at this percentile of its components' magnitudes...
VECTOR_PERCENTILE = 98
#: ...when it has at least this many (a toy's d=4 has no outliers to leave out: its largest is the end).
ROBUST_FROM = 50


def robust_max_abs(vector: list[float], percentile: float = VECTOR_PERCENTILE) -> float:
    """The ``percentile``-th percentile of ``|v|`` (linear between ranks): where the colors saturate.

    A few outlying components (MiniLM's context vectors have some 10x the rest) would take the
    whole diverging map and leave the others near white; above this they take the end color.
    """
    ordered = sorted(abs(v) for v in vector if math.isfinite(v))
    if not ordered:
        return 0.0
    rank = (len(ordered) - 1) * percentile / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def vector_line(vector: list[float], width: int, precision: int, label: str = "context") -> Text:
    """A context vector on one line, each component on the diverging map; the rest counted.

    With :data:`ROBUST_FROM` components or more the colors span ±(98th percentile of |v|) of the
    whole vector (:func:`robust_max_abs`), not ±max: larger components are clipped to the end
    colors and underlined; the numbers are exact. The line ends with that range
    (``colors ±0.412 p98``, or ``max`` for a short vector), in words when there is room.
    """
    robust = len(vector) >= ROBUST_FROM
    bound = robust_max_abs(vector) if robust else max((abs(v) for v in vector if math.isfinite(v)), default=0.0)
    cell_w = precision + 4
    short = "ctx" + label[len("context"):] if label.startswith("context") else label
    note = f" colors ±{bound:.{precision}f} {f'p{VECTOR_PERCENTILE}' if robust else 'max'}"  # long form below
    if len(label) + 1 + len(vector) * cell_w + len(note) > width >= len(short) + 1 + len(vector) * cell_w:
        label = short  # a narrow pane: every number, with a shorter label
    text = Text(no_wrap=True, overflow="crop")
    text.append(f"{label} ", style="bold")
    room = width - len(label) - 1
    fit = len(vector) if len(vector) * cell_w <= room else max(0, (room - 8 - len(note)) // cell_w)
    clipped = Style(underline=True)
    for v in vector[:fit]:
        rgb = signed_color(max(-bound, min(bound, v)), bound)
        style = _cell(rgb) + clipped if abs(v) > bound else _cell(rgb)
        text.append(f"{v:.{precision}f}".rjust(cell_w), style=style)
    if fit < len(vector):
        text.append(f" +{len(vector) - fit} more", style="dim")
    long = (f" · colors ±{bound:.{precision}f}, the {VECTOR_PERCENTILE}th percentile of |v| (larger: underlined)"
            if robust else f" · colors ±{bound:.{precision}f}, the largest |v|")
    for phrase in (long, note):
        if text.cell_len + len(phrase) <= width:
            text.append(phrase, style="dim")
            break
    return text
