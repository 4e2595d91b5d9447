"""The browser's pictures and moves without Textual: heatmap, grid, strip, row list, state."""

from __future__ import annotations

import math
import re
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import torch

from attncli.browse import draw, heat
from attncli.browse.data import BrowseData, Line
from attncli.core.record import Layer, Record
from attncli.browse.state import State
from attncli.cli.params import command_line_naming
from attncli.render.palette import contrast, luminance


def softmax_rows(n: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(n, n, generator=generator), dim=-1)  # (N, N)


def line(n: int, layers: int = 1, heads: int = 2, causal: bool = False, tokens=None) -> Line:
    tokens = tokens or [f"t{i}" for i in range(n)]
    record = Record(source="toy", tokens=tokens, texts=list(tokens), oov=[False] * n, special=[False] * n,
                    embeddings=None, heads=heads, causal=causal, config={}, text="",
                    layers=[Layer(index=layer, inputs=None, output=torch.randn(n, 4),  # (N, 4)
                                  weights=torch.stack([softmax_rows(n, 10 * layer + h) for h in range(heads)]))
                            for layer in range(layers)])  # (H, N, N) each
    return Line(record, "TEXT")


def data(*lines: Line) -> BrowseData:
    first = lines[0]
    return BrowseData(lines=list(lines), model=None, layers=first.weights.shape[0], heads=first.weights.shape[1],
                      description="test")


@pytest.mark.parametrize("width", [60, 80, 120])
def test_numbers_in_the_heatmap_are_never_cut(width):
    m = softmax_rows(8)
    lines, rows = heat.heatmap(m, [f"tok{i}" for i in range(8)], 3, width, 20, 2)
    text = heat.to_text(lines).plain
    assert rows == list(range(8))
    for value in m[3].tolist():
        assert f"{value:.2f}"[1:] in text  # printed whole (".21" or "0.21")
    assert "…" not in text
    assert all(len(row) <= width for row in text.splitlines())


def test_cells_are_light_where_weights_are_high():
    m = softmax_rows(6)
    lines, _rows = heat.heatmap(m, list("abcdef"), 0, 80, 20, 2)
    segments = [s for s in lines[2] if re.fullmatch(r"\s*\d?\.\d+", s.text)]  # row 1, one per key
    cells = list(zip(m[1].tolist(), [s.style for s in segments]))
    assert len(cells) == 6
    ordered = sorted(cells, key=lambda c: c[0])
    shade = [luminance(c[1].bgcolor.triplet) for c in ordered]
    assert shade == sorted(shade)
    for _value, style in cells:  # black or white ink, whichever reads better (WCAG 4.5:1 or more)
        assert contrast(style.color.triplet, style.bgcolor.triplet) >= 4.5


def test_long_input_is_pooled_with_half_blocks_and_marks_the_query():
    n = 300
    m = softmax_rows(n)
    lines, rows = heat.heatmap(m, [f"t{i}" for i in range(n)], 150, 80, 20, 2, key=("test", n))
    text = heat.to_text(lines).plain
    assert "▀" in text and "pooled: a line is 18 queries, a cell the mean of its block" in text
    assert len(lines) <= 20 and rows[0] == 0 and rows == sorted(rows)
    marked = [i for i, ln in enumerate(lines[1:-1]) if ln[0].text.startswith("▶")]
    assert len(marked) == 1 and rows[marked[0]] <= 150 < (rows[marked[0] + 1] if marked[0] + 1 < len(rows) else n)
    assert lines[1 + marked[0]][1].text.startswith(" 150 t150 ")  # the marked line names the query itself
    again, _ = heat.heatmap(m, [f"t{i}" for i in range(n)], 10, 80, 20, 2, key=("test", n))
    assert again[2][2:] == lines[2][2:]  # the cells are drawn once; only the labels move


def test_pool_takes_the_mean_of_even_blocks():
    m = torch.zeros(10, 10)
    m[7, 3] = 0.9
    pooled = heat.pool(m, 5, 5)  # (5, 5): blocks of 2 x 2
    assert pooled.shape == (5, 5) and float(pooled[3, 1]) == pytest.approx(0.9 / 4)
    assert float(pooled.sum()) == pytest.approx(0.9 / 4)
    masked = torch.full((4, 4), -math.inf)
    assert heat.pool(masked, 2, 2).isinf().all()


def test_grid_boxes_cover_every_head_once():
    s = State(data(line(12, layers=3, heads=4)))
    lines, boxes = heat.grid(s.grid_cells(0), (1, 2), 80, 20, s.grid_scale(0))
    assert sorted(b[4] for b in boxes) == [(layer, h) for layer in range(3) for h in range(4)]
    text = heat.to_text(lines).plain
    assert "L0" in text and "h3" in text and "one scale" in text


def test_strip_spans_and_query_mark():
    tokens = ["the", "cat", "sat"] * 20
    row = [1 / 60] * 60
    text, spans = draw.strip(tokens, row, 45, 40, 2)
    assert "▸" + tokens[45] in text.plain
    assert any(index == 45 for *_xy, index in spans)
    assert all(y < 2 for y, *_rest in spans)


def test_row_list_is_largest_first_and_counts_the_rest():
    row = [0.1, 0.5, 0.4]
    text = draw.row_list(["a", "b", "c"], row, 0, 30, 10, 4).plain
    assert text.index("0.5000") < text.index("0.4000") < text.index("0.1000")
    short = draw.row_list([f"t{i}" for i in range(20)], [0.05] * 20, 0, 30, 5, 4).plain
    assert short.endswith("… 17 more")  # a header, 3 rows, and the count


def test_state_masks_causal_cells_and_finds_tokens():
    s = State(data(line(5, causal=True, tokens=["a", "bank", "c", "Bank", "e"])))
    assert s.row(0)[1:] == [-math.inf] * 4
    assert s.find("bank") is None and s.queries == [1]
    assert s.find("bank") is None and s.queries == [3]
    assert s.find("zzz") is not None and s.queries == [3]


def test_state_moves_and_explain_what_is_not_there():
    s = State(data(line(4, layers=2, heads=3)), layer=1)
    s.move_head(-1)
    assert s.head == 2  # heads cycle
    assert s.move_layer(1) == "layer 1 is the last layer" and s.layer == 1  # layers stop at the ends
    assert s.move_layer(-1) is None and s.layer == 0
    assert s.move_layer(-1) == "layer 0 is the first layer" and s.layer == 0
    s.move_layer(1)
    s.layer = 0
    assert "rollout" in s.toggle("rollout") and s.mode == "head"
    assert "scores" in s.toggle("scores")
    assert s.toggle("mean") is None and s.mode == "mean"
    assert s.row(0) == pytest.approx(s.data.lines[0].weights[0, :, 0].mean(dim=0).tolist())
    assert s.move_line(1) == "n and p step through the lines of file"  # the API's words outside a command
    with command_line_naming():
        assert "--file" in s.move_line(1)


@pytest.mark.parametrize("system", ["256", "standard"])
def test_palette_terminals_get_ordered_palette_entries(system):
    from attncli.render.palette import xterm_rgb

    draw.set_color_system(system)
    try:
        m = softmax_rows(6)
        lines, _rows = heat.heatmap(m, list("abcdef"), 0, 80, 20, 2)
        cells = [s for s in lines[2] if re.fullmatch(r"\s*\d?\.\d+", s.text)]
        assert all(s.style.bgcolor.number is not None for s in cells)  # palette numbers, not RGB
        shade = [luminance(xterm_rgb(s.style.bgcolor.number)) for _v, s in sorted(zip(m[1].tolist(), cells),
                                                                                   key=lambda c: c[0])]
        assert shade == sorted(shade)
        assert draw.vector_line([-1.0, 0.0, 1.0], 60, 3).spans[1].style.bgcolor.number is not None
    finally:
        draw.set_color_system("truecolor")


# -- the color scale (--color-scale, x) and the context vector's range

def _cell_colors(lines, row: int) -> list:
    """The background colors of the value cells of a printed heatmap's row (line 0 is the header)."""
    return [s.style.bgcolor.triplet for s in lines[1 + row] if re.fullmatch(r"\s*\d?\.\d+", s.text)]


def test_color_scale_default_follows_causality_and_x_cycles_it():
    assert State(data(line(4))).color_scale == "matrix"
    state = State(data(line(4, causal=True)))
    assert state.color_scale == "keys"
    seen = []
    for _ in range(3):
        state.cycle_scale()
        seen.append(state.color_scale)
    assert seen == ["matrix", "row", "keys"]
    assert State(data(line(4)), color_scale="row").color_scale == "row"


def test_keys_scale_leaves_out_the_first_key():
    causal = line(6, causal=True)
    causal.weights[..., 0] = 0.95  # an attention sink on key 0 (and a causal query 0's own weight)
    state = State(data(causal))
    weights = state.matrix(0)  # (N, N), -inf above the diagonal
    lo, hi = state.scale(0)
    finite = weights[:, 1:][torch.isfinite(weights[:, 1:])]
    assert (lo, hi) == (float(finite.min()), float(finite.max())) and hi < 0.95
    state.cycle_scale()  # matrix: the whole range, the sink included
    assert state.scale(0)[1] == pytest.approx(0.95)
    plain = State(data(line(5)), color_scale="keys")  # the one-pass table of a non-causal head
    assert plain.scale(0) == (float(plain.matrix(0)[:, 1:].min()), float(plain.matrix(0)[:, 1:].max()))


def test_row_scale_gives_every_row_the_whole_ramp():
    m = softmax_rows(6, seed=3)
    tokens = list("abcdef")
    lines, _rows = heat.heatmap(m, tokens, 0, 80, 20, 2, mode="row")
    top, bottom = draw.ramp(1.0), draw.ramp(0.0)
    for r in range(6):
        colors = _cell_colors(lines, r)
        assert len(colors) == 6 and top in colors and bottom in colors  # each row's largest is the brightest
    legend = heat.to_text(lines[7:]).plain  # after the header and the 6 rows
    assert legend.startswith("row min ") and "scale row" in legend
    # a small matrix leaves room: the scale's words take a second line at 80 columns, one line at 120
    assert legend.endswith("scale row: each row from its smallest to its largest weight")
    wide, _rows = heat.heatmap(m, tokens, 0, 120, 20, 2, mode="row")
    assert len(wide) == 8 and "scale row: each row from its smallest to its largest weight" in heat.to_text(
        [wide[-1]]).plain
    shared, _ = heat.heatmap(m, tokens, 0, 80, 20, 2, mode="matrix")
    assert "scale matrix" in heat.to_text([shared[-1]]).plain
    assert sum(top in _cell_colors(shared, r) for r in range(6)) == 1  # one range: one brightest cell


def test_row_scale_of_a_pooled_heatmap_and_the_grid():
    n = 200
    m = softmax_rows(n, seed=4)
    lines, _ = heat.heatmap(m, [f"t{i}" for i in range(n)], 0, 80, 20, 2, key=("row test", n), mode="row")
    plain = heat.to_text(lines).plain
    assert "pooled" in plain and "scale row" in plain
    shared, _ = heat.heatmap(m, [f"t{i}" for i in range(n)], 0, 80, 20, 2, key=("row test", n), mode="matrix")
    assert shared[2][2:] != lines[2][2:]  # drawn apart: the cache keeps the scales apart
    rows = [("", [(f"head {h}", softmax_rows(8, h), (0, h)) for h in range(2)])]
    grid_lines, _boxes = heat.grid(rows, (0, 0), 60, 12, (0.0, 1.0), mode="row")
    assert "scale row" in heat.to_text(grid_lines).plain


def test_context_vector_colors_span_a_robust_range():
    vector = [5.0, -6.0, 4.0, 7.0] + [0.01 * (i % 7 - 3) for i in range(380)]  # MiniLM-like: a few huge ones
    bound = draw.robust_max_abs(vector)
    assert 0.02 < bound < 0.04  # the 98th percentile of |v| over the whole vector, not the 7.0 of the largest
    text = draw.vector_line(vector, 120, 3)
    cells = [span for span in text.spans if not isinstance(span.style, str) and span.style.bgcolor is not None]
    assert len(cells) >= 8
    white = draw.signed_color(0.0, bound)
    for span, value in zip(cells, vector):
        assert bool(span.style.underline) == (abs(value) > bound)  # clipped ones are marked, the rest are not
        assert (span.style.bgcolor.triplet != white) == (value != 0.0)  # every component not zero shows
    assert text.plain.endswith(" more colors ±0.030 p98")
    few = draw.vector_line([0.5, -0.2, 9.0], 120, 3)  # too few components for a percentile: ±max, none clipped
    assert few.plain.endswith("colors ±9.000, the largest |v|")
    assert not any(getattr(span.style, "underline", False) for span in few.spans)
    assert draw.robust_max_abs([]) == 0.0 and draw.robust_max_abs([2.0]) == 2.0
