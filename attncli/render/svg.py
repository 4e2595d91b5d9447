"""SVG of a rendered view: every character at an explicit position, so it aligns in any renderer.

Rich's own SVG export sets one ``x`` per run of text and relies on ``textLength`` and a web font;
renderers that ignore either (rsvg-convert, for one) drift within a run, and panel borders break.
Here each character gets its own x (``<text x="x0 x1 ...">``), cell backgrounds are rectangles
one cell wide, and half blocks are drawn as two rectangles, so Chromium, Firefox and rsvg agree.
"""

from __future__ import annotations

from html import escape

from rich.cells import cell_len
from rich.color import Color, blend_rgb
from rich.color_triplet import ColorTriplet
from rich.console import Console, RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.terminal_theme import TerminalTheme

FONT = "'DejaVu Sans Mono', 'Liberation Mono', Menlo, Consolas, 'Courier New', monospace"
SIZE = 14.0
CELL = SIZE * 0.6  # the advance of a monospace cell
LINE = SIZE * 1.25
PAD = 10.0

BACKGROUND = ColorTriplet(30, 30, 30)
FOREGROUND = ColorTriplet(229, 229, 229)
#: xterm-like colors for the few ANSI names left in the views (bold yellow for out-of-vocabulary).
THEME = TerminalTheme(
    BACKGROUND, FOREGROUND,
    [(0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16), (36, 114, 200), (188, 63, 188), (17, 168, 205),
     (229, 229, 229)],
    [(102, 102, 102), (241, 76, 76), (35, 209, 139), (245, 245, 67), (59, 142, 234), (214, 112, 214),
     (41, 184, 219), (255, 255, 255)],
)


def _rgb(color: Color | None, default: ColorTriplet, foreground: bool) -> ColorTriplet:
    if color is None or color.is_default:
        return default
    return color.get_truecolor(THEME, foreground=foreground)


def _hex(c: ColorTriplet) -> str:
    return f"#{c.red:02x}{c.green:02x}{c.blue:02x}"


def _colors(style: Style) -> tuple[ColorTriplet, ColorTriplet | None]:
    fg = _rgb(style.color, FOREGROUND, True)
    bg = None if style.bgcolor is None or style.bgcolor.is_default else _rgb(style.bgcolor, BACKGROUND, False)
    if style.reverse:
        fg, bg = (bg or BACKGROUND), fg
    if style.dim:
        fg = blend_rgb(fg, bg or BACKGROUND, 0.35)
    return fg, bg


#: Box-drawing characters as the arms (left, right, up, down) they join: drawn as lines, so that
#: borders meet whatever the font's height.
ARMS = {"─": "lr", "━": "lr", "│": "ud", "╭": "rd", "╮": "ld", "╰": "ru", "╯": "lu", "┌": "rd", "┐": "ld",
        "└": "ru", "┘": "lu", "├": "rud", "┤": "lud", "┬": "lrd", "┴": "lru", "┼": "lrud"}


def _arms(char: str, left: float, y: float, color: str) -> str:
    cx, cy = left + CELL / 2, y + LINE / 2
    ends = {"l": (left, cy), "r": (left + CELL, cy), "u": (cx, y), "d": (cx, y + LINE)}
    path = " ".join(f"M{cx:.1f} {cy:.1f}L{ends[a][0]:.1f} {ends[a][1]:.1f}" for a in ARMS[char])
    return f'<path d="{path}" stroke="{color}" stroke-width="1.2" stroke-linecap="square"/>'


def _line_svg(segments: list[Segment], y: float) -> tuple[list[str], list[str], int]:
    """One line's background rectangles, its glyphs, and the cells it uses (trailing blanks left out)."""
    rects: list[str] = []
    glyphs: list[str] = []
    x = 0
    used = 0
    for segment in segments:
        if segment.control:
            continue
        style = segment.style or Style()
        fg, bg = _colors(style)
        start = x
        if bg is not None and segment.text:
            span = cell_len(segment.text)
            rects.append(f'<rect x="{PAD + start * CELL:.1f}" y="{y:.2f}" width="{span * CELL + 0.3:.2f}" '
                         f'height="{LINE + 0.3:.2f}" fill="{_hex(bg)}"/>')
            used = max(used, start + span)
        weight = ' font-weight="bold"' if style.bold else ""
        for char in segment.text:
            width = cell_len(char)
            left = PAD + x * CELL
            if char in "▀▄":
                top, bottom = (fg, bg) if char == "▀" else (bg, fg)
                for part, shade in ((0, top), (1, bottom)):
                    if shade is not None:
                        rects.append(f'<rect x="{left:.1f}" y="{y + part * LINE / 2:.2f}" '
                                     f'width="{CELL * width + 0.3:.2f}" height="{LINE / 2 + 0.3:.2f}" '
                                     f'fill="{_hex(shade)}"/>')
                used = x + width
            elif char in ARMS:
                glyphs.append(_arms(char, left, y, _hex(fg)))
                used = x + width
            elif char != " ":
                # One element per character: renderers that ignore x lists or textLength still align.
                glyphs.append(f'<text x="{left:.1f}" y="{y + SIZE * 0.98:.2f}" fill="{_hex(fg)}"{weight}>'
                              f'{escape(char)}</text>')
                used = x + width
            x += width
    return rects, glyphs, used


def export_svg(renderable: RenderableType, *, width: int = 100, title: str = "attncli") -> str:
    """The view as an SVG document, sized to what it draws."""
    console = Console(width=width, force_terminal=True, color_system="truecolor", highlight=False, file=None,
                      legacy_windows=False, height=60)
    options = console.options.update(width=width)
    lines = console.render_lines(renderable, options, pad=False, new_lines=False)
    while lines and not "".join(s.text for s in lines[-1]).strip():
        lines.pop()
    body: list[str] = []
    used = 1
    for row, segments in enumerate(lines):
        y = PAD + row * LINE
        # Backgrounds first (rectangles under the text of every segment of the line).
        rects, glyphs, cells = _line_svg(segments, y)
        body += rects + glyphs
        used = max(used, cells)
    plain = "\n".join("".join(seg.text for seg in segments if not seg.control).rstrip() for segments in lines)
    w = PAD * 2 + used * CELL
    h = PAD * 2 + max(len(lines), 1) * LINE
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
            f'viewBox="0 0 {w:.1f} {h:.1f}">\n<title>{escape(title)}</title>\n'
            f'<desc>{escape(plain)}</desc>\n'
            f'<style>text {{ font-family: {FONT}; font-size: {SIZE:.0f}px; white-space: pre; }}</style>\n'
            f'<rect width="100%" height="100%" fill="{_hex(BACKGROUND)}" rx="6"/>\n'
            + "\n".join(body) + "\n</svg>\n")
