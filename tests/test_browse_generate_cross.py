"""attncli browse --generate on encoder-decoder folders: the decoder's cross-attention to the source and
its self-attention, ``a`` switching between them, ``n`` / ``p`` stepping.

Tiny random T5 and BART folders (transformers' config classes, as tests/test_generate.py builds them)
write a few tokens; the rows the browser shows must equal transformers' own
``generate(output_attentions=True, return_dict_in_generate=True)``'s ``cross_attentions`` and
``decoder_attentions`` for the step shown (to 1e-5, float32), computed here from the model itself.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from conftest import cli
from test_browse import as_float32, drive, toy

pytest.importorskip("textual")
pytestmark = pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers not installed")

from test_generate import PROMPT, make_lm, seq2seq  # noqa: E402,F401 (a fixture)

from attncli.browse.app import BrowseApp, Hint, Side, Title, TokenStrip  # noqa: E402

NEW = 5
FAMILIES = ("t5", "bart", "marian")


@pytest.fixture(scope="module")
def folders(seq2seq):
    return seq2seq  # test_generate's T5, BART and Marian folders


@pytest.fixture(scope="module")
def runs(folders):
    """Per family: the library's generation, the browser's data, and transformers' generate on the same ids."""
    from transformers import AutoModelForSeq2SeqLM

    from attncli.browse.generated import load_generation
    from attncli.models import Transformer
    from attncli.models.generation import generate

    out = {}
    for family in FAMILIES:
        folder = folders[family]
        model = Transformer(str(folder), device=torch.device("cpu"), dtype=torch.float32)
        result = generate(model, PROMPT, max_new_tokens=NEW)
        reference = AutoModelForSeq2SeqLM.from_pretrained(str(folder), attn_implementation="eager").eval()
        with torch.no_grad():
            expected = reference.generate(torch.tensor([result.source_ids]), do_sample=False, max_new_tokens=NEW,
                                          output_attentions=True, return_dict_in_generate=True)
        assert [s.id for s in result.steps] == expected.sequences[0, 1:].tolist()
        out[family] = (result, load_generation(result), expected)
    return out


def open_app(data, *, cross: bool, **kwargs):
    """The app as the command opens it: on the last step, the line --attention names."""
    from attncli.browse.generated import default_scale

    app = BrowseApp(data, layer=kwargs.pop("layer", data.layers - 1), mode=kwargs.pop("mode", "mean"),
                    query=data.lines[0].weights.shape[2] - 1, **kwargs)
    app.state.line = 1 if cross else 0
    app.state.color_scale = kwargs.get("color_scale") or default_scale(data.lines[app.state.line])
    return app


def expected_row(expected, k: int, layer: int, head: int | None, *, cross: bool) -> torch.Tensor:
    """transformers' row of step k: (keys,) for one head or the mean of heads, float32."""
    rows = (expected.cross_attentions if cross else expected.decoder_attentions)[k][layer][0, :, -1, :]  # (H, keys)
    return (rows.mean(dim=0) if head is None else rows[head]).float()


def close(shown: list[float], reference: torch.Tensor) -> bool:
    return len(shown) == len(reference) and float((torch.tensor(shown) - reference).abs().max()) <= 1e-5


@pytest.mark.parametrize("family", FAMILIES)
def test_cross_rows_equal_transformers_cross_attentions_and_n_p_step(runs, family):
    result, data, expected = runs[family]
    steps = len(result.steps)
    source = len(result.source_ids)
    last = data.layers - 1
    for presses, k in (([], steps - 1), (["p"], steps - 2), (["p", "p", "n"], steps - 2), (["p"] * 9, 0),
                       (["p"] * 9 + ["n"] * 2, 2)):
        app = drive(open_app(data, cross=True), presses)
        s = app.state
        assert s.queries == [k] and s.panes()[0].cross
        row = s.row(0)
        assert len(row) == source  # every source token, none masked
        assert close(row, expected_row(expected, k, last, None, cross=True))


@pytest.mark.parametrize("family", FAMILIES)
def test_a_switches_to_self_attention_on_the_same_step(runs, family):
    result, data, expected = runs[family]
    last = data.layers - 1
    app = drive(open_app(data, cross=True), ["p", "a"])
    s = app.state
    k = len(result.steps) - 2
    assert s.queries == [k] and not s.panes()[0].cross
    row = s.row(0)
    position = result.steps[k].position  # the decoder start token and the k tokens written before it
    assert close(row[:position], expected_row(expected, k, last, None, cross=False))
    assert all(v == float("-inf") for v in row[position:])
    assert len(row) == 1 + len(result.steps)  # keys: the start token, then every token written
    app = drive(open_app(data, cross=True), ["p", "a", "a"])  # and back
    assert app.state.panes()[0].cross and close(app.state.row(0), expected_row(expected, k, last, None, cross=True))


@pytest.mark.parametrize("family", FAMILIES)
def test_one_head_another_layer_both_lines(runs, family):
    result, data, expected = runs[family]
    for presses, cross in (([], True), (["a"], False)):
        app = drive(open_app(data, cross=True, mode="head", head=1), presses + ["p", "left_square_bracket", "down"])
        s = app.state
        k = s.queries[0]
        assert (s.layer, s.head, k, s.panes()[0].cross) == (data.layers - 2, 2, len(result.steps) - 2, cross)
        width = len(result.source_ids) if cross else result.steps[k].position
        assert close(s.row(0)[:width], expected_row(expected, k, s.layer, 2, cross=cross))


def test_the_screen_names_what_is_shown_and_the_key(runs):
    result, data, _expected = runs["bart"]
    seen = {}

    async def check(app, pilot):
        for name in ("cross", "self"):
            seen[name] = {"title": app.query_one(Title).render().plain, "hint": app.query_one(Hint).render().plain,
                          "side": app.query_one(Side).render().plain,
                          "strip": app.query_one(TokenStrip).render().plain, "scale": app.state.color_scale}
            await pilot.press("a")
            await pilot.pause()
    for size in ((120, 40), (80, 24)):
        drive(open_app(data, cross=True), [], size=size, check=check)
        k = len(result.steps) - 1
        assert seen["cross"]["title"].startswith("cross-attention · ") and seen["self"]["title"].startswith(
            "self-attention · ")
        assert "a self/cross" in seen["cross"]["hint"] and len(seen["cross"]["hint"]) <= size[0]
        assert seen["cross"]["side"].startswith(f"weights of step {k} ")
        assert "▸" not in seen["cross"]["strip"] and "▸" in seen["self"]["strip"]  # the written token is no source key
        assert (seen["cross"]["scale"], seen["self"]["scale"]) == ("matrix", "keys")  # each one's default


def test_a_chosen_scale_is_kept(runs):
    _result, data, _expected = runs["t5"]
    app = drive(open_app(data, cross=False, color_scale="row"), ["a"])
    assert app.state.color_scale == "row" and app.state.panes()[0].cross
    app = drive(open_app(data, cross=False), ["x", "x", "a"])  # keys -> matrix -> row by x, kept
    assert app.state.color_scale == "row"


def test_find_and_e_on_the_cross_line(runs, tmp_path):
    result, data, _expected = runs["t5"]
    app = drive(open_app(data, cross=True, out_dir=tmp_path), ["p"] * 9)
    token = result.steps[2].token
    assert app.state.find(token) is None and result.steps[app.state.queries[0]].token == token
    app = drive(open_app(data, cross=True, out_dir=tmp_path), ["p", "e"])
    written = json.loads(app.saved[0].read_text(encoding="utf-8"))
    assert written["settings"]["attention"] == "cross" and written["browse"]["query"] == len(result.steps) - 2
    assert written["source"]["ids"] == result.source_ids
    step = written["steps"][-2]
    assert as_float32(step["cross_attention"][-1]["mean"]) == result.steps[-2].cross[data.layers - 1].mean(dim=0).tolist()


def test_a_on_a_decoder_and_on_a_text_says_why(tmp_path):
    import attncli
    from attncli.browse.generated import load_generation, switch_attention
    from attncli.browse.state import State

    folder = make_lm(tmp_path / "llama", "llama")
    data = load_generation(attncli.generate(PROMPT, model=str(folder), max_new_tokens=3))
    app = drive(open_app(data, cross=False), ["a"])
    assert app.state.line == 0 and not app.state.panes()[0].cross and app.state.color_scale == "keys"
    assert "is a decoder only: no cross-attention" in switch_attention(State(data))
    text = State(toy(PROMPT))
    assert "cross-attention with generate on an encoder-decoder model" in switch_attention(text) and text.line == 0


def test_the_cli_opens_on_cross_attention(folders, runs, monkeypatch):
    from attncli.cli import browse as command

    opened = {}
    monkeypatch.setattr(command, "_isatty", lambda stream: True)
    monkeypatch.setattr(BrowseApp, "run", lambda self: opened.setdefault("state", self.state))
    result, _data, expected = runs["t5"]
    out = cli("browse", "--model", str(folders["t5"]), "--generate", PROMPT, "-n", str(NEW), "--attention", "cross",
              "--head", "3")
    assert out.code == 0, out
    s = opened["state"]
    k = len(result.steps) - 1
    assert s.panes()[0].cross and s.queries == [k] and (s.mode, s.head, s.color_scale) == ("head", 3, "matrix")
    assert close(s.row(0), expected_row(expected, k, s.layer, 3, cross=True))
    opened.clear()
    out = cli("browse", "--model", str(folders["t5"]), "--generate", PROMPT, "-n", str(NEW))
    assert out.code == 0 and not opened["state"].panes()[0].cross and opened["state"].color_scale == "keys", out


@pytest.mark.parametrize("args, expected", [
    (["--attention", "cross"], "--attention: "),  # a decoder only
    (["--attention", "both"], "unknown attention 'both'"),
])
def test_attention_errors_exit_2_before_the_app(tmp_path, monkeypatch, args, expected):
    from attncli.cli import browse as command

    folder = make_lm(tmp_path / "llama", "llama")
    monkeypatch.setattr(command, "_isatty", lambda stream: True)
    monkeypatch.setattr(BrowseApp, "run", lambda self: pytest.fail("the app opened"))
    out = cli("browse", "--model", str(folder), "--generate", PROMPT, *args)
    assert out.code == 2 and expected in out.stderr and len(out.stderr.strip().splitlines()) == 1, out
    assert "Traceback" not in out.stderr and out.stdout == ""
    if args[1] == "cross":
        assert "no cross-attention" in out.stderr


def test_attention_without_generate_is_refused():
    out = cli("browse", "--attention", "cross", "the cat")
    assert out.code == 2 and "--attention goes with --generate" in out.stderr, out
    assert len(out.stderr.strip().splitlines()) == 1 and out.stdout == ""


def test_generate_and_browse_share_one_table_of_generation_options():
    """The options are declared once (attncli/cli/generation_options.py): the same flags, metavars, defaults
    and help in both commands; browse's -t/--temperature and --seed stay the toy-attention options."""
    from typer.main import get_command

    from attncli.cli import app
    from attncli.cli.generation_options import generation_params

    commands = get_command(app).commands
    options = {name: {p.name: p for p in commands[name].params} for name in ("generate", "browse")}
    shared = generation_params("", without=("temperature", "seed"))
    for name in shared:
        mine, theirs = options["generate"][f"gen_{name}"], options["browse"][f"gen_{name}"]
        assert (mine.opts, mine.metavar, mine.default, mine.help) == (theirs.opts, theirs.metavar, theirs.default,
                                                                      theirs.help), name
    assert options["generate"]["gen_temperature"].help == "With --sample: divide the logits by T."
    assert options["browse"]["attn_temperature"].opts == ["--temperature", "-t"]
    assert "gen_temperature" not in options["browse"] and "gen_seed" not in options["browse"]
    assert (options["generate"]["gen_max_new_tokens"].default, options["generate"]["gen_alternatives"].default) == (32, 3)
