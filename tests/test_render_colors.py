"""Colors that read right on every terminal: brightness ordered with weight, ink that contrasts.

The views are forced to truecolor, 256 and 16 colors (FORCE_COLOR, COLORTERM, TERM), their ANSI
output is parsed back into cells, and each cell's background is turned into the RGB a terminal
shows (xterm's palette for indexed colors) to compare perceived brightness with the weights.
"""

from __future__ import annotations

import re

import pytest

from attncli.render import palette
from attncli.render.colors import Paint
from conftest import cli, run_json

SGR = re.compile(r"\x1b\[([0-9;]*)m")
NUMBER = re.compile(r"^-?\d+\.\d+\*?$")

SYSTEMS = {
    "truecolor": {"COLORTERM": "truecolor", "TERM": "xterm-256color"},
    "256": {"TERM": "xterm-256color"},
    "16": {"TERM": "xterm-16color"},
}


def _color(params: list[int], i: int) -> tuple[tuple[int, int, int] | None, int]:
    """The color an SGR 38/48 sequence starting at params[i] names, and how many params it used."""
    if params[i + 1] == 2:
        return tuple(params[i + 2:i + 5]), 5
    return palette.xterm_rgb(params[i + 2]), 3


def cells(line: str) -> list[tuple[str, tuple | None, tuple | None]]:
    """(character, foreground RGB, background RGB) for every character of an ANSI line."""
    out = []
    fg = bg = None
    pos = 0
    for match in SGR.finditer(line + "\x1b[m"):
        for char in line[pos:match.start()]:
            out.append((char, fg, bg))
        pos = match.end()
        params = [int(p) for p in match.group(1).split(";") if p] or [0]
        i = 0
        while i < len(params):
            p = params[i]
            if p == 0:
                fg = bg = None
            elif p in (38, 48):
                color, used = _color(params, i)
                fg, bg = (color, bg) if p == 38 else (fg, color)
                i += used
                continue
            elif 30 <= p <= 37 or 90 <= p <= 97:
                fg = palette.XTERM_16[p - 30 if p < 90 else p - 82]
            elif 40 <= p <= 47 or 100 <= p <= 107:
                bg = palette.XTERM_16[p - 40 if p < 100 else p - 92]
            elif p == 39:
                fg = None
            elif p == 49:
                bg = None
            i += 1
    return out


def colored_numbers(text: str) -> list[tuple[float, tuple, tuple]]:
    """Every number drawn on a background: (value, ink, background)."""
    found = []
    for line in text.splitlines():
        run: list = []
        for char, fg, bg in cells(line) + [(" ", None, None)]:
            if bg is not None and (not run or run[-1][2] == bg):
                run.append((char, fg, bg))
                continue
            word = "".join(c for c, _, _ in run).strip()
            if run and NUMBER.match(word):
                found.append((float(word.rstrip("*")), run[-1][1] or run[0][1], run[0][2]))
            run = [(char, fg, bg)] if bg is not None else []
    return found


def _ordered(pairs: list[tuple[float, float]]) -> bool:
    """Brightness never falls as the weight rises."""
    pairs = sorted(pairs)
    return all(b[1] >= a[1] - 1e-12 for a, b in zip(pairs, pairs[1:]))


@pytest.fixture(params=list(SYSTEMS))
def system(request, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    for key, value in SYSTEMS[request.param].items():
        monkeypatch.setenv(key, value)
    return request.param


def _section(text: str, start: str, end: str | None = None) -> str:
    """The lines from the one that begins with ``start`` to the one that begins with ``end``."""
    lines = text.splitlines()
    plain = [SGR.sub("", line) for line in lines]
    first = next(i for i, line in enumerate(plain) if line.startswith(start))
    last = next((i for i, line in enumerate(plain) if end and i > first and line.startswith(end)), len(lines))
    return "\n".join(lines[first:last])


def test_full_view_brightness_follows_weight_and_ink_contrasts(system):
    out = cli("run", "The cat sat on the mat because it was soft", "--view", "full", "-p", "3")
    assert out.code == 0
    weights = colored_numbers(_section(out.stdout, "attention weights", "context vectors"))
    assert len(weights) == 100  # every cell drawn on its color
    assert _ordered([(w, palette.luminance(bg)) for w, _, bg in weights]), system
    for _, ink, bg in weights:
        assert ink in (palette.BLACK, palette.WHITE)
        assert palette.contrast(ink, bg) >= 4.5
    if system == "256":
        assert "48;5;" in out.stdout and "48;2;" not in out.stdout
    if system == "16":
        assert "48;5;" not in out.stdout and "48;2;" not in out.stdout


def test_context_vectors_darken_with_magnitude_on_each_side(system):
    out = cli("run", "the cat sat on the mat", "--projections", "random",
              "--heads", "2", "--seed", "3")
    values = colored_numbers(_section(out.stdout, "context vectors"))
    assert len(values) == 6 * 4
    for sign in (1, -1):
        side = [(abs(v), -palette.luminance(bg)) for v, _, bg in values if v * sign > 0]
        assert _ordered(side), (system, sign)
    for _, ink, bg in values:
        assert palette.contrast(ink, bg) >= 4.5


@pytest.mark.parametrize("repeat,cell", [(3, 1), (1, 2)])  # 30 tokens: one character per key; 11: two
def test_compact_view_cells_follow_the_weights(system, repeat, cell):
    text = " ".join(["the cat sat on the mat because it was soft and"] * repeat)
    n = 11 * repeat
    weights = run_json("run", text)["weights"][0]
    out = cli("run", text, "--view", "compact")
    rows = [line for line in out.stdout.splitlines() if re.match(r"^\s*\d+ [a-z]", SGR.sub("", line))]
    assert len(rows) == n
    pairs = []
    for row, line in zip(weights, rows):
        backgrounds = [bg for char, _, bg in cells(line) if bg is not None and char == " "]
        assert len(backgrounds) == n * cell
        pairs += [(w, palette.luminance(bg)) for w, bg in zip(row, backgrounds[::cell])]
    assert _ordered(pairs), system
    assert not any(char in "░▒▓█" for line in rows for char in SGR.sub("", line))  # no glyph over a color


def test_no_color_keeps_the_glyph_ramp(monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    out = cli("run", " ".join(["the cat sat on the mat"] * 5))
    assert "48;" not in out.stdout and "38;" not in out.stdout
    assert any(g in out.stdout for g in "░▒▓█") and "legend:" in out.stdout


def test_palette_ramps_are_ordered_on_every_system():
    for system in ("truecolor", "256", "16"):
        lum = [palette.luminance(palette.shown_rgb(i / 200, system)) for i in range(201)]
        assert all(b >= a for a, b in zip(lum, lum[1:])), system
        assert lum[-1] > lum[0]
        for sign in (1, -1):
            side = [palette.luminance(palette.shown_signed_rgb(sign * i / 200, 1, system)) for i in range(201)]
            assert all(b <= a for a, b in zip(side, side[1:])), (system, sign)
        for i in range(201):
            for rgb in (palette.shown_rgb(i / 200, system), palette.shown_signed_rgb(i / 100 - 1, 1, system)):
                assert palette.contrast(palette.ink_for(rgb), rgb) >= 4.5, (system, rgb)


def test_paint_emits_what_the_color_system_can_show():
    assert Paint("256").weight(0.5).bgcolor.number in palette.WEIGHT_256
    assert Paint("16").weight(0.99).bgcolor.number == palette.WEIGHT_16[-1]
    assert Paint("truecolor").weight(1.0).bgcolor.triplet == palette.weight_rgb(1.0)
    assert Paint(None).weight(0.5).bgcolor is None


def test_svg_export_places_every_character_and_keeps_contrast(tmp_path):
    target = tmp_path / "view.svg"
    assert cli("run", "She ate the apple", "--no-scale", "--save", str(target)).code == 0
    svg = target.read_text()
    assert "textLength" not in svg and "<desc>" in svg and "apple" in svg
    glyphs = re.findall(r'<text x="([\d.]+)" y="([\d.]+)" fill="(#[0-9a-f]{6})"', svg)
    rects = re.findall(r'<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="[\d.]+" fill="(#[0-9a-f]{6})"',
                       svg)
    checked = 0
    for x, y, fill in glyphs:
        under = [r for r in rects if float(r[0]) <= float(x) < float(r[0]) + float(r[2])
                 and float(r[1]) <= float(y) <= float(r[1]) + 20]
        if under:
            bg = tuple(int(under[-1][3][i:i + 2], 16) for i in (1, 3, 5))
            ink = tuple(int(fill[i:i + 2], 16) for i in (1, 3, 5))
            assert palette.contrast(ink, bg) >= 4.5
            checked += 1
    assert checked >= 16 * 4  # the weights and the context vectors


def test_grid_thumbnails_follow_the_weights_on_one_scale(system):
    args = ("run", "the cat sat on the mat now", "--heads", "2", "--projections", "random", "--seed", "1")
    weights = run_json(*args)["weights"]  # (2, 7, 7): small enough for one cell per weight
    out = cli(*args, "--view", "grid")
    rows = [line for line in out.stdout.splitlines() if "▀" in line]
    assert len(rows) == 4  # 7 query rows, two per line
    pairs = []
    for k, line in enumerate(rows):
        halves = [(fg, bg) for char, fg, bg in cells(line) if char == "▀"]
        assert len(halves) == 2 * 7
        for h in range(2):
            for j, (fg, bg) in enumerate(halves[h * 7:(h + 1) * 7]):
                pairs.append((weights[h][2 * k][j], palette.luminance(fg)))
                if 2 * k + 1 < 7:
                    pairs.append((weights[h][2 * k + 1][j], palette.luminance(bg)))
    assert len(pairs) == 2 * 7 * 7
    assert _ordered(pairs), system


def test_compare_focus_rows_follow_the_weights(system):
    out = cli("compare", "-c", "bank", "stream bank mud", "money bank loan", "--focus", "bank", "-p", "3")
    doc = run_json("compare", "-c", "bank", "stream bank mud", "money bank loan", "--focus", "bank")
    weights = sorted(w for ctx in doc["focus"][0]["weights"] for row in ctx for w in row)
    shown = [(v, bg) for v, _, bg in colored_numbers(out.stdout) if v in {round(w, 3) for w in weights}]
    assert len(shown) >= 6
    assert _ordered([(v, palette.luminance(bg)) for v, bg in shown]), system
