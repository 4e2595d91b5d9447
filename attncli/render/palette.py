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


#: Colors are taken at this many evenly spaced steps: with whole-number RGB, finer steps would
#: let rounding put two neighbours' luminance out of order (tests/test_render_colors.py).
WEIGHT_STEPS = 128
SIGNED_STEPS = 64


def weight_rgb(fraction: float) -> RGB:
    """Sequential: dark violet (0) to yellow (1); ``fraction`` places a weight on the view's scale."""
    return interpolate(VIRIDIS, round(_clamp(fraction) * (WEIGHT_STEPS - 1)) / (WEIGHT_STEPS - 1))


def signed_rgb(value: float, max_abs: float) -> RGB:
    """Diverging: blue below zero, red above, neutral at zero; saturation grows with |value| / max_abs."""
    fraction = 0.0 if not max_abs else max(-1.0, min(1.0, value / max_abs))
    if fraction != fraction:  # NaN
        fraction = 0.0
    steps = round(abs(fraction) * (SIGNED_STEPS - 1)) / (SIGNED_STEPS - 1)
    # Leave out RdBu's two darkest ends: they are too dark to read black or white text on.
    inner = RDBU[1:-1]
    return interpolate(inner, 0.5 + (steps if fraction >= 0 else -steps) / 2)


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


# --------------------------------------------------------------------------- per color system
#
# Terminals without truecolor cannot show the colormaps exactly, and the nearest palette entry
# of each color does not keep the order of brightness (viridis' dark blues land on black, navy
# and gray in no order). These tables were chosen once (dynamic programming over the palette,
# nearest in CIELAB subject to luminance strictly increasing along the ramp) and are fixed here,
# so every weight maps to a palette entry whose brightness is ordered with the weight.


def xterm_rgb(index: int) -> RGB:
    """The RGB of an xterm 256-color index (16-231: the 6x6x6 cube; 232-255: the gray ramp;
    0-15: xterm's default 16 colors, which terminal themes may change)."""
    if index < 16:
        return XTERM_16[index]
    if index >= 232:
        v = 8 + 10 * (index - 232)
        return (v, v, v)
    index -= 16
    levels = (0, 95, 135, 175, 215, 255)
    return (levels[index // 36], levels[index // 6 % 6], levels[index % 6])


#: xterm's default 16 colors: the reference for brightness and ink on 16-color terminals.
XTERM_16: tuple[RGB, ...] = (
    (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205), (0, 205, 205),
    (229, 229, 229), (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0), (92, 92, 255), (255, 0, 255),
    (0, 255, 255), (255, 255, 255),
)

#: viridis on the xterm cube, 16 levels, luminance strictly increasing (0.008 to 0.699).
WEIGHT_256: tuple[int, ...] = (17, 53, 54, 24, 25, 60, 31, 66, 36, 72, 107, 77, 113, 148, 184, 220)
#: 16-color terminals: black, blue, bright blue, cyan, bright green, bright yellow. Their
#: brightness is in this order in xterm's, Rich's, VGA's and Windows Terminal's default themes.
WEIGHT_16: tuple[int, ...] = (0, 4, 12, 6, 10, 11)

#: RdBu on the xterm cube: from the strongest to the weakest, luminance rising toward the neutral.
NEGATIVE_256: tuple[int, ...] = (25, 32, 74, 110, 117, 153, 189, 195)
POSITIVE_256: tuple[int, ...] = (88, 167, 203, 173, 180, 216, 224, 230)
NEUTRAL_256 = 231
#: 16 colors: blue, bright blue | light gray | bright red, red (strongest last on each side).
NEGATIVE_16: tuple[int, ...] = (4, 12)
POSITIVE_16: tuple[int, ...] = (1, 9)
NEUTRAL_16 = 7

#: Ink indices that no theme moves much: the cube's black and white, and ANSI black / bright white.
INK_256 = {BLACK: 16, WHITE: 231}
INK_16 = {BLACK: 0, WHITE: 15}


def _level(fraction: float, count: int) -> int:
    return min(int(_clamp(fraction) * count), count - 1)


def weight_index(fraction: float, system: str) -> int:
    """The palette index for a weight on a ``"256"`` or ``"16"`` color terminal."""
    table = WEIGHT_256 if system == "256" else WEIGHT_16
    return table[_level(fraction, len(table))]


def signed_index(value: float, max_abs: float, system: str) -> int:
    """The palette index for a signed value: neutral near zero, blue below, red above."""
    fraction = 0.0 if not max_abs else max(-1.0, min(1.0, value / max_abs))
    if system == "256":
        negative, positive, neutral = NEGATIVE_256, POSITIVE_256, NEUTRAL_256
    else:
        negative, positive, neutral = NEGATIVE_16, POSITIVE_16, NEUTRAL_16
    side = negative if fraction < 0 else positive
    # |fraction| in equal bins: the first (nearest zero) is the neutral, then the side's entries
    # from the weakest (last in the table) to the strongest (first).
    level = _level(abs(fraction), len(side) + 1)
    return neutral if level == 0 else side[len(side) - level]


def shown_rgb(fraction: float, system: str) -> RGB:
    """The color a weight is actually drawn in on ``system`` (xterm's default 16 as reference)."""
    if system in ("256", "16"):
        return xterm_rgb(weight_index(fraction, system))
    return weight_rgb(fraction)


def shown_signed_rgb(value: float, max_abs: float, system: str) -> RGB:
    if system in ("256", "16"):
        return xterm_rgb(signed_index(value, max_abs, system))
    return signed_rgb(value, max_abs)
