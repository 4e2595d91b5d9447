"""Every line of the browser fits the width it has: the legends, the grid's header, the title, the
row list's heading and the status line wrap or shorten, never cut (new-user pass: at 80x24 the
legend ended "scale keys · pooled:" and the grid's header "Esc"). And the masked mark is explained
where it is drawn."""

from __future__ import annotations

import asyncio
import math

import pytest

pytest.importorskip("textual")

import torch  # noqa: E402

from attncli.browse import heat  # noqa: E402
from attncli.browse.app import BrowseApp, Hint, Main, Side, Title  # noqa: E402
from attncli.browse.state import State  # noqa: E402
from test_browse import drive  # noqa: E402
from test_browse_draw import data, line, softmax_rows  # noqa: E402

SIZES = [(80, 24), (120, 40)]


def plain(lines) -> list[str]:
    return heat.to_text(lines).plain.split("\n")


def causal(n: int, seed: int = 0):
    m = softmax_rows(n, seed)
    return m.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), -math.inf)  # (N, N)


@pytest.mark.parametrize("width", [40, 56, 80, 120])
@pytest.mark.parametrize("n", [10, 30, 200])
@pytest.mark.parametrize("mode", ["matrix", "row", "keys"])
def test_heatmap_lines_fit_and_the_legend_keeps_whole_phrases(width, n, mode):
    tokens = [f"t{i}" for i in range(n)]
    for matrix, masked in ((softmax_rows(n), False), (causal(n), True)):
        for measure in ("weights", "norm", "value-zeroing"):
            lines, rows = heat.heatmap(matrix, tokens, 0, width, 20, 2, mode=mode, measure=measure)
            text = plain(lines)
            assert all(len(t) <= width for t in text), (width, n, [t for t in text if len(t) > width])
            assert len(text) <= 20
            legend = " ".join(text[1 + len(rows):])
            assert f"scale {mode}" in legend and measure in legend, text[-2:]
            assert ("masked" in legend) == masked, text[-2:]  # explained only when one is drawn
            if n == 200:  # pooled: the note is whole, in its long or its short form
                assert ("a cell the mean of its block" in legend or "block means" in legend
                        or "key columns" in legend), text[-2:]


def test_full_heatmap_explains_its_dash_cells():
    """browse's causal matrix prints masked cells as ``-``: the legend says what ``-`` is."""
    lines, _ = heat.heatmap(causal(5), list("abcde"), 0, 80, 20, 2, mode="keys")
    text = plain(lines)
    assert any(" -" in t for t in text[1:-1]) and text[-1].endswith("- masked"), text
    lines, _ = heat.heatmap(softmax_rows(5), list("abcde"), 0, 80, 20, 2, mode="matrix")
    assert "masked" not in plain(lines)[-1]


@pytest.mark.parametrize("width", [56, 80])
def test_grid_legend_names_the_rows_shown_without_cutting(width):
    rows = [(f"L{layer}", [(f"h{h}", causal(10, layer * 9 + h), (layer, h)) for h in range(9)]) for layer in range(30)]
    lines, boxes = heat.grid(rows, (29, 0), width, 20, (0.0, 1.0), mode="keys", measure="weights")
    text = plain(lines)
    assert all(len(t) <= width for t in text)
    legend = " ".join(text[-2:])
    assert "L27-L29 of 30" in legend and "masked" in legend and "scale keys" in legend, text[-2:]
    assert len(lines) <= 20 and max(y1 for _y0, y1, *_ in boxes) <= len(lines) - 1


def _fits(app) -> None:
    width = app.size.width
    title = app.query_one(Title).render().plain
    assert len(title) <= width and not title.endswith("…"), title
    main = app.query_one(Main)
    for text in plain(main.lines()):
        assert len(text) <= main.size.width, text
    side = app.query_one(Side)
    heading = side.render().plain.split("\n")
    assert all(len(t) <= side.size.width for t in heading[:2])


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("keys", [[], ["g"], ["g", "x"], ["x", "x"], ["right", "m"]])
def test_every_line_fits_on_a_30_layer_causal_model(size, keys):
    app = BrowseApp(data(line(12, layers=30, heads=9, causal=True)))

    async def check(app, _pilot):
        _fits(app)
        title = app.query_one(Title).render().plain
        if "g" in keys:
            assert "Esc leaves" in title, title  # the grid's keys, in their shorter form at 80 columns
            legend = " ".join(plain(app.query_one(Main).lines()[-2:]))
            assert "of 30" in legend, legend
        else:
            side = app.query_one(Side).render().plain
            if app.state.queries[0] == 0:
                assert "(1 key it may see)" in side, side  # whole, on its own line when narrow

    drive(app, keys, size, check)


def test_status_line_wraps_instead_of_cutting():
    app = BrowseApp(data(line(6)))
    message = ("value-zeroing skipped: value zeroing needs 12 tokens x 30 layers = 360 layer passes; "
               "the limit is 100")

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            app.redraw(status=message)
            await pilot.pause()
            hint = app.query_one(Hint)
            assert hint.size.height == 2 and hint.render().plain == message
            app.redraw()
            await pilot.pause()
            assert hint.size.height == 1
    asyncio.run(main())


def test_state_of_a_causal_line_masks_what_the_heatmap_marks():
    s = State(data(line(6, causal=True)))
    lines, _ = heat.heatmap(s.matrix(0), s.panes()[0].tokens, 0, 80, 20, 2, mode=s.color_scale)
    assert plain(lines)[-1].endswith("- masked")


@pytest.mark.parametrize("width", [20, 40, 79, 80, 200])
def test_generation_status_keeps_whole_items(width):
    from attncli.browse.draw import fit_items

    text = "step 0 of 8 · wrote ␣Paris · p 0.773 · rank 1 · top: ␣Paris 0.773, ␣the 0.065, ␣a 0.012"
    shown = fit_items(text, width)
    assert len(shown) <= width
    if shown != text:  # ends after a whole item, and says that more follow
        assert shown.endswith(" …") and text.startswith(shown[:-2])
        assert text[len(shown) - 2:].startswith((", ", " · "))
