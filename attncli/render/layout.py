"""Layout that never cuts a number: lazy views, column blocks, phrase wrapping, scales, precision.

Views are built when they are drawn (:class:`Lazy`), from the console's width and color system,
so the same view is right on a truecolor terminal, a 16-color one, without color and in an SVG.
Tables are laid out here rather than by Rich's Table, which shortens cells to ``0.…`` when the
terminal is narrow: a row too wide is split into column blocks with the row labels repeated,
the way NumPy and pandas print wide arrays.
"""

from __future__ import annotations

import math

from typing import Callable, Sequence

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.text import Text

from attncli.render.colors import GLYPHS, MASKED, Paint, glyph_for
from attncli.documents.tokens_display import shorten
from attncli.io.textsafe import visible
from attncli.errors import option

#: Labels (tokens) longer than this are shortened with "…"; numbers never are.
LABEL_MAX = 16
#: The separator between table cells.
GAP = 1


class Lazy:
    """A renderable built at draw time by ``build(paint, width, height)`` -> renderables."""

    def __init__(self, build: Callable[[Paint, int, int], list[RenderableType]], width: int | None = None) -> None:
        self.build = build
        self.width = width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width if self.width is None else min(self.width, options.max_width)
        height = options.height or console.height or 24
        yield from self.build(Paint.of(console), max(width, 20), height)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(1, options.max_width)


def line(*parts: tuple[str, object] | str) -> Text:
    """One line that Rich never wraps (the layout already fits it)."""
    text = Text.assemble(*parts, no_wrap=True, overflow="ignore", end="\n")
    return text


def label(token: str, limit: int = LABEL_MAX) -> str:
    """A token as a label: control characters escaped, shortened past ``limit`` cells."""
    return shorten(visible(token), limit)


def wrap_phrases(phrases: Sequence[tuple[str, object]], width: int, *, sep: str = " ") -> list[Text]:
    """Pack (text, style) phrases into lines of ``width``, breaking only between phrases."""
    return wrap_texts([Text(text, style=style or "") for text, style in phrases], width, sep=sep)


#: How a view's colors span its weights (``--color-scale``).
SCALE_MODES = ("matrix", "row", "keys")
SCALE_WORDS = {
    "matrix": "one range for every weight shown",
    "row": "each row from its smallest to its largest weight",
    "keys": "one range for every key but the first (it may saturate)",
}
#: The same, when each matrix of a grid gets its own range (``row`` and ``keys``; see :meth:`Scale.each`).
EACH_WORDS = {
    "matrix": "one range for every thumbnail",
    "row": "each row of each thumbnail from its smallest to its largest weight",
    "keys": "each thumbnail its own range over every key but the first (it may saturate)",
}


def scale_summary(mode: str, *, each: bool = False) -> str:
    """A few words for a view's header: how its colors span the weights (``each``: per thumbnail)."""
    if mode == "row":
        return "each row its own color range"
    if mode == "keys":
        return "each thumbnail its own color range, first key left out" if each else \
            "one color scale, first key left out"
    return "one color scale"


class Scale:
    """Maps weights to [0, 1] between the smallest and largest weight shown.

    ``mode`` (``--color-scale``): ``matrix``, one range for everything shown; ``keys``, the
    same without the first key column (a causal run's row 0 and an attention sink sit there,
    and would take the whole range); ``row``, each query row its own range (:meth:`row`).
    """

    def __init__(self, weights: Sequence[Sequence[float | None]] | None = None, *, low: float | None = None,
                 high: float | None = None, mode: str = "matrix",
                 rows: list[tuple[float, float]] | None = None, relative: bool = False) -> None:
        start = 1 if mode == "keys" and weights and len(weights[0]) > 1 else 0
        live = [w for row in weights or [] for w in row[start:] if w is not None]
        self.low = min(live, default=0.0) if low is None else low
        self.high = max(live, default=1.0) if high is None else high
        if self.high - self.low < 1e-12:
            self.low = 0.0 if self.high > 0 else self.high - 1.0
        self.mode = mode
        self.rows = rows
        #: Each matrix of the view has its own range (a grid's ``keys``): the legend has no numbers.
        self.relative = relative
        if mode == "row" and rows is None and weights:
            self.rows = _row_ranges([weights])

    @classmethod
    def over(cls, matrices: Sequence[Sequence[Sequence[float | None]]], mode: str = "matrix") -> "Scale":
        """One scale shared by several matrices (heads, layers); ``row``: row r's range covers row r of each."""
        start = 1 if mode == "keys" and matrices and matrices[0] and len(matrices[0][0]) > 1 else 0
        live = [w for m in matrices for row in m for w in row[start:] if w is not None]
        return cls(low=min(live, default=0.0), high=max(live, default=1.0), mode=mode,
                   rows=_row_ranges(matrices) if mode == "row" else None)

    @classmethod
    def each(cls, matrices: Sequence[Sequence[Sequence[float | None]]],
             mode: str = "matrix") -> tuple[list["Scale"], "Scale"]:
        """One scale per matrix of a grid, and the scale its legend shows.

        ``matrix``: one range shared by every matrix (they compare). ``row`` and ``keys``: each
        matrix its own ranges (each row's, or every key's but the first): over hundreds of
        thumbnails a shared range is always about 0 to 1, as some head puts all its weight on
        one key of every row, and the scale would change nothing.
        """
        if mode == "matrix" or len(matrices) <= 1:
            shared = cls.over(matrices, mode)
            return [shared] * len(matrices), shared
        scales = [cls.over([m], mode) for m in matrices]
        return scales, cls(low=0.0, high=1.0, mode=mode, rows=scales[0].rows, relative=True)

    def row(self, r: int) -> "Scale":
        """The scale of query row ``r`` (itself, unless each row has its own)."""
        if self.rows is None or r >= len(self.rows):
            return self
        low, high = self.rows[r]
        return Scale(low=low, high=high)

    def words(self) -> str:
        return (EACH_WORDS if self.relative else SCALE_WORDS)[self.mode]

    def __call__(self, w: float) -> float:
        return min(max((w - self.low) / (self.high - self.low), 0.0), 1.0)


def _row_ranges(matrices) -> list[tuple[float, float]]:
    """(low, high) of row r over every matrix (matrices of the same rows: heads or layers)."""
    out = []
    for r in range(len(matrices[0])):
        live = [w for m in matrices for w in m[r] if w is not None]
        out.append((min(live, default=0.0), max(live, default=1.0)))
    return out


#: Adaptive precision looks at most this many values (enough for any matrix that is printed).
_PRECISION_SAMPLE = 250_000


def _clusters(values: list[float], tolerance: float) -> int:
    """How many groups the values form when neighbours closer than ``tolerance`` are joined."""
    ordered = sorted(values)
    return 1 + sum(1 for a, b in zip(ordered, ordered[1:]) if b - a > tolerance) if ordered else 0


def adaptive_precision(rows: Sequence[Sequence[float | None]], *, low: int = 2, high: int = 4) -> int:
    """The fewest decimals (``low`` to ``high``) that keep every row's different weights different.

    "Different" means more than 1% of the row's largest weight apart: weights closer than that
    may print alike (4 decimals would not separate 0.10381 from 0.10383 anyway). A weight that
    is not zero does not print as zero either, as far as ``high`` decimals allow.
    """
    chosen, seen = low, 0
    for row in rows:
        live = [w for w in row if w is not None]
        if not live:
            continue
        seen += len(live)
        if seen > _PRECISION_SAMPLE:
            break
        target = _clusters(live, max(abs(w) for w in live) / 100)
        while chosen < high and len({round(w, chosen) for w in live}) < target:
            chosen += 1
        smallest = min((abs(w) for w in live if w), default=1.0)
        while chosen < high and smallest < 0.5 * 10 ** -chosen:  # a weight that is not 0 never prints 0.00
            chosen += 1
        if chosen == high:
            break
    return chosen


#: Fixed point is used while a number has at most this many digits before the point.
FIXED_DIGITS = 7


def fmt(value: float, precision: int) -> str:
    """``value`` with ``precision`` decimals; scientific notation (``1.000e+100``) past 7 integer digits.

    Fixed point would print 1e100 as 101 digits and push every other column off the terminal;
    the scientific form keeps ``precision`` digits after the point and is at most 7 + precision
    characters (``-1.000e+308``). -0 is printed as 0.
    """
    if math.isfinite(value) and abs(value) >= 10 ** FIXED_DIGITS:
        return f"{value:.{precision}e}"
    text = f"{value:.{precision}f}"
    if text.startswith("-") and float(text) == 0:
        return text[1:]
    return text


class Column:
    """A table column: header text, cell width, and how its cells align."""

    def __init__(self, header: str, width: int, justify: str = "right") -> None:
        self.header = header
        self.width = max(width, len(header))
        self.justify = justify


def _cell(text: Text | str, width: int, justify: str) -> Text:
    """``text`` padded to ``width``; the padding takes the cell's own style (its background)."""
    cell = text if isinstance(text, Text) else Text(text)
    pad = " " * max(width - cell.cell_len, 0)
    out = Text(no_wrap=True, overflow="ignore")
    if justify == "right":
        out.append(pad, style=cell.style)
    out.append_text(cell)
    if justify != "right":
        out.append(pad, style=cell.style)
    return out


def block_table(corner: str, columns: list[Column], rows: list[tuple[Text | str, list[Text | str]]], width: int,
                *, noun: str = "columns", max_blocks: int | None = None, more_hint: str | None = None,
                header_style: str = "bold") -> list[Text]:
    """A table split into column blocks that each fit ``width``, the row labels repeated in each.

    With ``max_blocks``, columns past that many blocks are left out, and a closing line says how
    many and how to see them (``more_hint``; default: the JSON prints them all). Nothing is ever shortened.
    """
    more_hint = more_hint or f"{option('json')} prints them all"
    label_width = max([len(corner)] + [Text(r[0]).cell_len if isinstance(r[0], str) else r[0].cell_len
                                        for r in rows])
    # A column is as wide as its widest cell: numbers right-aligned keep their decimal points in line
    # (12.30 over 3.45) even when a cell is wider than the width its view expected.
    columns = [Column(c.header, max([c.width] + [Text(r[1][j]).cell_len if isinstance(r[1][j], str) else
                                                 r[1][j].cell_len for r in rows if j < len(r[1])]), c.justify)
               for j, c in enumerate(columns)]
    blocks: list[list[int]] = []
    current: list[int] = []
    used = label_width
    for j, column in enumerate(columns):
        need = GAP + column.width
        if current and used + need > width:
            blocks.append(current)
            current, used = [], label_width
        current.append(j)
        used += need
    if current:
        blocks.append(current)
    left_out = 0
    if max_blocks is not None and len(blocks) > max_blocks:
        left_out = sum(len(b) for b in blocks[max_blocks:])
        blocks = blocks[:max_blocks]
    out: list[Text] = []
    for number, block in enumerate(blocks):
        if len(blocks) > 1:
            first, last = columns[block[0]].header, columns[block[-1]].header
            out.append(line((f"{noun} {block[0]}-{block[-1]} of {len(columns)}"
                             f" ({first} to {last})" if len(block) > 1 else
                             f"{noun} {block[0]} of {len(columns)} ({first})", "dim italic")))
        head = Text(corner.ljust(label_width), style=header_style, no_wrap=True, overflow="ignore")
        for j in block:
            head.append(" " * GAP)
            head.append_text(_cell(Text(columns[j].header, style=header_style), columns[j].width,
                                   columns[j].justify))
        out.append(head)
        total = label_width + sum(GAP + columns[j].width for j in block)
        out.append(line(("─" * total, "")))
        for row_label, cells in rows:
            text = _cell(Text(row_label, style="bold") if isinstance(row_label, str) else row_label, label_width,
                         "left")
            text.no_wrap, text.overflow = True, "ignore"
            for j in block:
                text.append(" " * GAP)
                text.append_text(_cell(cells[j], columns[j].width, columns[j].justify))
            out.append(text)
        if number < len(blocks) - 1:
            out.append(Text(""))
    if left_out:
        out.append(line((f"{left_out} more {noun} left out to fit {width} columns; {more_hint}", "dim")))
    return out


def legend(paint: Paint, scale: Scale, precision: int, *, masked: bool = False, what: str = "weight",
           width: int = 80, masked_mark: str = "×", meaning: str | None = None) -> list[Text]:
    """A color bar from the smallest to the largest weight shown (glyph bins without color), and the scale.

    ``masked``: a masked cell is drawn (only then is it explained), as ``masked_mark`` (" ": blank).
    ``meaning``: what a brighter cell means (attncli.core.measures.legend_words; default "more weight").
    """
    phrases: list[tuple[Text, None]] = []
    per_row = scale.rows is not None or scale.relative
    low, high = ("row min", "row max") if scale.rows is not None else \
        ("min", "max") if scale.relative else (fmt(scale.low, precision), fmt(scale.high, precision))
    if paint.color:
        steps = {"16": 6, "256": 16}.get(paint.system, 24)
        bar = Text("legend: " + low + " ")
        for i in range(steps):
            bar.append(" ", style=paint.weight((i + 0.5) / steps))
        bar.append(" " + high)
        phrases.append(bar)
        if meaning is None:
            phrases.append(Text(f"(brighter: more {what})", style="dim"))
        else:  # long: word by word, so that it wraps
            phrases += [Text(word, style="dim") for word in f"(brighter: {meaning})".split(" ")]
    else:
        phrases.append(Text("legend:"))
        if per_row:
            phrases += [Text(f"{glyph} {int(100 * i / len(GLYPHS))}-{int(100 * (i + 1) / len(GLYPHS))}% ")
                        for i, glyph in enumerate(GLYPHS)]
        else:
            for glyph, lo, hi in _glyph_bins(scale, precision):
                phrases.append(Text(f"{glyph} {lo}-{hi} " if lo != hi else f"{glyph} {lo} "))
        if meaning is not None:
            phrases += [Text(word, style="dim") for word in f"(denser: {meaning})".split(" ")]
    if masked:
        phrases.append(Text("blank: masked", style="dim") if masked_mark == " " else
                       Text.assemble((masked_mark, MASKED), " masked"))
    words = f"scale {scale.mode}: {scale.words()}"
    if len(words) > width:  # on lines of its own, wrapped between words
        return wrap_texts(phrases, width) + note(words, width)
    return wrap_texts(phrases + [Text(words, style="dim")], width)


def wrap_texts(pieces: Sequence[Text], width: int, *, sep: str = " ") -> list[Text]:
    """Pack styled pieces into lines of ``width``, breaking only between pieces."""
    lines: list[Text] = []
    current = Text(no_wrap=True, overflow="fold")
    for piece in pieces:
        if current.plain and current.cell_len + len(sep) + piece.cell_len > width:
            lines.append(current)
            current = Text(no_wrap=True, overflow="fold")
        if current.plain:
            current.append(sep)
        current.append_text(piece)
    if current.plain:
        lines.append(current)
    return lines


def entries(items: Sequence[str], width: int, *, style: str = "dim", gap: str = "   ") -> list[Text]:
    """Legend entries (``- masked (causal)``) on lines of ``width``, ``gap`` apart: a line breaks between
    entries, never inside one, unless an entry alone is wider than the line (then between its words)."""
    lines: list[Text] = []
    current = Text(no_wrap=True, overflow="fold")
    for item in items:
        for k, part in enumerate([item] if len(item) <= width else item.split(" ")):
            sep = gap if k == 0 else " "
            if current.plain and current.cell_len + len(sep) + len(part) > width:
                lines.append(current)
                current = Text(no_wrap=True, overflow="fold")
            if current.plain:
                current.append(sep)
            current.append(part, style=style)
    if current.plain:
        lines.append(current)
    return lines


def heading(text: str, width: int) -> list[Text]:
    """A bold title, wrapped between words when the terminal is narrow."""
    return note(text, width, style="bold")


def note(text: str, width: int, style: str = "dim") -> list[Text]:
    """A sentence wrapped between words (Rich would do it too, but not inside a column layout)."""
    return wrap_texts([Text(word, style=style) for word in text.split(" ")], width)


def _glyph_bins(scale: Scale, precision: int) -> list[tuple[str, str, str]]:
    """The glyph ramp's bins, printed with enough decimals (up to 6) that no range repeats."""
    step = (scale.high - scale.low) / len(GLYPHS)
    for p in range(precision, 7):
        edges = [fmt(scale.low + i * step, p) for i in range(len(GLYPHS) + 1)]
        if len(set(edges)) == len(edges):
            return [(g, edges[i], edges[i + 1]) for i, g in enumerate(GLYPHS)]
    # A range too narrow to split: every shown weight prints alike, one glyph says so.
    return [(glyph_for(1.0), fmt(scale.low, precision), fmt(scale.high, precision))]
