"""Rich styles from the shared colormaps (palette.py), chosen per color system at render time.

A view does not know, when it is built, whether it will be drawn on a truecolor terminal, a
256- or 16-color one, without color, or into an SVG. :class:`Paint` is made from the console at
render time and emits colors the console can show exactly (RGB, an xterm palette index, or an
ANSI color), so that brightness stays ordered with weight everywhere instead of relying on
Rich's nearest-color downgrade. Without color the views fall back to text and glyphs.
"""

from __future__ import annotations

from rich.color import Color
from rich.style import Style

from attncli.render import palette

MASKED = Style(dim=True)

#: The NO_COLOR heatmap: five glyphs from light to dense.
GLYPHS = ("·", "░", "▒", "▓", "█")

#: Half block: its foreground is the upper pixel, its background the lower one.
HALF = "▀"


def glyph_for(fraction: float) -> str:
    """One of five glyphs for a weight placed between the smallest and largest shown."""
    fraction = min(max(fraction, 0.0), 1.0)
    return GLYPHS[min(int(fraction * len(GLYPHS)), len(GLYPHS) - 1)]


def _system(console) -> str | None:
    if console is None or console.no_color or console.color_system is None:
        return None
    name = console.color_system
    if name == "truecolor":
        return "truecolor"
    if name == "256":
        return "256"
    return "16"  # "standard" and "windows"


class Paint:
    """Colors for one console: ``system`` is "truecolor", "256", "16" or None (no color)."""

    def __init__(self, system: str | None = "truecolor") -> None:
        self.system = system

    @classmethod
    def of(cls, console) -> "Paint":
        return cls(_system(console))

    @property
    def color(self) -> bool:
        return self.system is not None

    def _color(self, rgb: palette.RGB, index: int | None) -> Color:
        if self.system == "truecolor" or index is None:
            return Color.from_rgb(*rgb)
        return Color.from_ansi(index)

    def _ink(self, background: palette.RGB) -> Color:
        ink = palette.ink_for(background)
        if self.system == "256":
            return Color.from_ansi(palette.INK_256[ink])
        if self.system == "16":
            return Color.from_ansi(palette.INK_16[ink])
        return Color.from_rgb(*ink)

    def weight_color(self, fraction: float) -> Color | None:
        if not self.color:
            return None
        index = palette.weight_index(fraction, self.system) if self.system != "truecolor" else None
        return self._color(palette.shown_rgb(fraction, self.system), index)

    def weight(self, fraction: float, *, bold: bool = False) -> Style:
        """A weight's cell: background on the sequential map, black or white ink (WCAG)."""
        if not self.color:
            return Style(bold=bold)
        rgb = palette.shown_rgb(fraction, self.system)
        return Style(bgcolor=self.weight_color(fraction), color=self._ink(rgb), bold=bold)

    def signed(self, value: float, max_abs: float) -> Style:
        """A vector component's cell: diverging background (blue, neutral, red), contrasting ink."""
        if not self.color:
            return Style()
        rgb = palette.shown_signed_rgb(value, max_abs, self.system)
        index = palette.signed_index(value, max_abs, self.system) if self.system != "truecolor" else None
        return Style(bgcolor=self._color(rgb, index), color=self._ink(rgb))

    def half(self, upper: float | None, lower: float | None) -> Style:
        """Two weights in one character cell (``HALF``): the upper as ink, the lower as background."""
        return Style(color=None if upper is None else self.weight_color(upper),
                     bgcolor=None if lower is None else self.weight_color(lower))


def weight_style(fraction: float, *, bold: bool = False) -> Style:
    """Truecolor weight style (kept for callers that have no console at hand)."""
    return Paint("truecolor").weight(fraction, bold=bold)


def signed_style(value: float, max_abs: float) -> Style:
    """Truecolor diverging style."""
    return Paint("truecolor").signed(value, max_abs)
