"""Colors as numbers: the colormaps every view shares (terminal, export, browser).

Plain RGB triplets and arithmetic, no Rich: the terminal views, the SVG/HTML export and the
interactive browser all color a cell through these functions, so they agree.

* ``weight_rgb``: a sequential map (viridis, Smith and van der Walt 2015) for attention weights:
  perceptually uniform, and its relative luminance rises strictly from 0 to 1.
* ``signed_rgb``: a diverging map (ColorBrewer RdBu) for vector components: neutral near zero,
  blue for negative, red for positive, more saturated as |value| grows.
* ``ink_for``: black or white text, whichever contrasts more with a background (WCAG 2.1).
"""

from __future__ import annotations

RGB = tuple[int, int, int]

#: viridis at 9 evenly spaced stops (matplotlib's table); linear interpolation between them
#: keeps luminance strictly increasing.
VIRIDIS: tuple[RGB, ...] = (
    (68, 1, 84), (71, 45, 123), (59, 82, 139), (44, 114, 142), (33, 145, 140),
    (40, 174, 128), (94, 201, 98), (173, 220, 48), (253, 231, 37),
)

#: ColorBrewer RdBu (11 classes), from the most negative (blue) to the most positive (red).
RDBU: tuple[RGB, ...] = (
    (5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222), (209, 229, 240), (247, 247, 247),
    (253, 219, 199), (244, 165, 130), (214, 96, 77), (178, 24, 43), (103, 0, 31),
)

BLACK: RGB = (0, 0, 0)
WHITE: RGB = (255, 255, 255)


def _clamp(fraction: float) -> float:
    if fraction != fraction:  # NaN
        return 0.0
    return min(max(fraction, 0.0), 1.0)


def interpolate(stops: tuple[RGB, ...], fraction: float) -> RGB:
    """The color at ``fraction`` in [0, 1] along evenly spaced ``stops``."""
    position = _clamp(fraction) * (len(stops) - 1)
    index = min(int(position), len(stops) - 2)
    t = position - index
    a, b = stops[index], stops[index + 1]
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def weight_rgb(fraction: float) -> RGB:
    """Sequential: dark violet (0) to yellow (1); ``fraction`` places a weight on the view's scale."""
    return interpolate(VIRIDIS, fraction)


def signed_rgb(value: float, max_abs: float) -> RGB:
    """Diverging: blue below zero, red above, neutral at zero; saturation grows with |value| / max_abs."""
    fraction = 0.0 if not max_abs else max(-1.0, min(1.0, value / max_abs))
    # Leave out RdBu's two darkest ends: they are too dark to read black or white text on.
    inner = RDBU[1:-1]
    return interpolate(inner, 0.5 + fraction / 2)


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(rgb: RGB) -> float:
    """WCAG 2.1 relative luminance, 0 (black) to 1 (white)."""
    r, g, b = rgb
    return 0.2126 * _linear(r) + 0.7152 * _linear(g) + 0.0722 * _linear(b)


def contrast(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio, 1 to 21."""
    la, lb = luminance(a), luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def ink_for(background: RGB) -> RGB:
    """Black or white, whichever reads better on ``background``."""
    return BLACK if contrast(BLACK, background) >= contrast(WHITE, background) else WHITE


def hex_color(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)
