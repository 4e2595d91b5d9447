"""Color ramps for weights (sequential) and vector values (diverging), built on rich.color.blend_rgb."""

from __future__ import annotations

from rich.color import Color
from rich.color_triplet import ColorTriplet
from rich.color import blend_rgb
from rich.style import Style

LOW = ColorTriplet(32, 34, 48)
HIGH = ColorTriplet(255, 176, 32)
NEGATIVE = ColorTriplet(64, 128, 240)
POSITIVE = ColorTriplet(236, 84, 64)

MASKED = Style(dim=True)


def _text_for(bg: ColorTriplet) -> Color:
    luminance = 0.299 * bg.red + 0.587 * bg.green + 0.114 * bg.blue
    return Color.parse("black" if luminance > 140 else "white")


def weight_style(fraction: float, *, bold: bool = False) -> Style:
    """Background from dark (0) to amber (1); ``fraction`` places a weight between the smallest and largest shown."""
    fraction = min(max(fraction, 0.0), 1.0)
    bg = blend_rgb(LOW, HIGH, fraction)
    return Style(bgcolor=Color.from_triplet(bg), color=_text_for(bg), bold=bold)


def signed_style(value: float, max_abs: float) -> Style:
    """Diverging background: blue for negative, red for positive, dark near zero."""
    fraction = 0.0 if max_abs == 0 else min(abs(value) / max_abs, 1.0)
    bg = blend_rgb(LOW, POSITIVE if value >= 0 else NEGATIVE, fraction ** 0.75)
    return Style(bgcolor=Color.from_triplet(bg), color=_text_for(bg))


GLYPHS = ("·", "░", "▒", "▓", "█")


def glyph_for(fraction: float) -> str:
    """One of five glyphs for a weight placed between the smallest and largest shown (compact heatmap)."""
    fraction = min(max(fraction, 0.0), 1.0)
    return GLYPHS[min(int(fraction * len(GLYPHS)), len(GLYPHS) - 1)]
