"""The legend under the browser's heatmap and grid, in the width it has: a color bar, what the
colors are, the color scale, the masked mark and a note, each item in the richest form that fits,
on one line or two; never cut. Pure functions of numbers and a size, no Textual.
"""

from __future__ import annotations

from functools import lru_cache

from rich.segment import Segment
from rich.style import Style

from attncli.browse.draw import MASKED, _hex, on_color_change, ramp

Line = list[Segment]

BOLD = Style(bold=True)
DIM = Style(dim=True)


@lru_cache(maxsize=512)
def _bg(rgb: tuple[int, int, int]) -> Style:
    """A cell's background (the legend's bar, the heatmap's cells)."""
    return Style(bgcolor=_hex(rgb))


on_color_change(_bg.cache_clear)


#: What the colors of each measure are (the legend, where it fits; else the measure's name).
MEASURE_WORDS = {
    "weights": "softmax weights",
    "norm": "norm ||αf(x)||, rows not normalized",
    "mixing": "mixing ||g(αf(x)+x)||, rows not normalized",
    "alti": "alti, rows sum to 1",
    "value-zeroing": "value-zeroing (cosine distance), rows sum to 1",
}


#: Which legend item keeps its long form first: the note's (pooling, the grid's rows), the measure's, the scale's.
_KEEP = ("note", "measure", "scale")


def _size(line: Line) -> int:
    return sum(segment.cell_length for segment in line)


def _join(forms: list[Line]) -> Line:
    out: Line = []
    for form in forms:
        if out and form:
            out.append(Segment("  "))
        out += form
    return out


def _richest(items: list[tuple[str, list[Line]]], width: int) -> Line | None:
    """The items on one line in the richest forms that fit (see :data:`_KEEP`), or None."""
    from itertools import product

    def rank(choice: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(next((c for (name, _f), c in zip(items, choice) if name == keep), 0) for keep in _KEEP)

    fitting = []
    for choice in product(*(range(len(forms)) for _name, forms in items)):  # at most 2 x 2 x 2
        line = _join([forms[c] for (_name, forms), c in zip(items, choice)])
        if _size(line) <= width:
            fitting.append((rank(choice), line))
    return min(fitting, key=lambda pair: pair[0])[1] if fitting else None


def _pack(items: list[tuple[str, list[Line]]], width: int, spare: bool = False) -> list[Line]:
    """Legend items, each (name, its forms richest first), on as few lines of ``width`` as they take:
    one line if the shorter forms make it fit; else two, the note on the second; else (very narrow)
    every item in its shortest form, a line broken between items, never inside one. ``spare``: a
    second line costs nothing (a small matrix), so the long forms take two lines rather than give way."""
    one = _richest(items, width)
    longest = _join([forms[0] for _name, forms in items])
    if spare and one != longest:
        for k in range(len(items) - 1, 0, -1):  # as much as fits on the first line
            first, second = _join([f[0] for _n, f in items[:k]]), _join([f[0] for _n, f in items[k:]])
            if _size(first) <= width and _size(second) <= width:
                return [first, second]
    if one is not None:
        return [one]
    if len(items) > 1 and items[-1][0] == "note":
        first, second = _richest(items[:-1], width), _richest(items[-1:], width)
        if first is not None and second is not None:
            return [first, second]
    lines: list[Line] = [[]]
    for _name, forms in items:
        if lines[-1] and _size(lines[-1]) + 2 + _size(forms[-1]) > width:
            lines.append([])
        lines[-1] = _join([lines[-1], forms[-1]])
    return lines


def legend(lo: float, hi: float, width: int, precision: int, note: str | tuple[str, ...] = "",
           mode: str | None = None, measure: str | None = None, masked: str | None = None,
           spare: bool = False) -> list[Line]:
    """The legend in ``width`` columns, one line or two: a color bar with its range, what the colors
    are (``measure``), the color scale (``mode``) by name, what a masked cell looks like (``masked``:
    the mark drawn, only when one is) and the ``note`` (its forms, longest first: pooling, the grid's
    rows). Nothing is cut: the measure's and the scale's words (:data:`MEASURE_WORDS`,
    attncli.render.layout.SCALE_WORDS) give way to their names, a note to its shorter form, and a
    note that still does not fit goes on a second line. ``spare``: the long forms take a second
    line when there is room for one.

    ``row``: the bar runs from each row's smallest to its largest value (no one range to print).
    """
    from attncli.render.layout import SCALE_WORDS

    cells = min(12, max(4, width // 8))
    low, high = ("row min", "row max") if mode == "row" else (f"{lo:.{precision}f}", f"{hi:.{precision}f}")
    bar = [Segment(f"{low} ")] + [Segment(" ", _bg(ramp(i / (cells - 1)))) for i in range(cells)] + \
        [Segment(f" {high}")]
    items: list[tuple[str, list[Line]]] = [("bar", [bar])]
    if measure:
        items.append(("measure", [[Segment(MEASURE_WORDS.get(measure, measure), BOLD)], [Segment(measure, BOLD)]]))
    if mode:
        items.append(("scale", [[Segment(f"scale {mode}: {SCALE_WORDS[mode]}", BOLD)],
                                [Segment(f"scale {mode}", BOLD)]]))
    if masked:
        items.append(("masked", [[Segment(masked, MASKED), Segment(" masked")]]))
    notes = [text for text in ((note,) if isinstance(note, str) else note) if text]
    if notes:
        items.append(("note", [[Segment(text, DIM)] for text in notes]))
    return _pack(items, width, spare)
