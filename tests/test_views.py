"""What a new user hits on real models (issue 18): tokens by their text, honest causal and pooled views,
large views that work, commands that match. Tiny models and short texts: every test is fast."""

from __future__ import annotations

import asyncio
import json

import pytest
import torch

from conftest import cli, run_json
from test_browse_draw import data, line

from attncli.browse import draw, heat
from attncli.browse.state import State
from attncli.core import focus as focus_grammar
from attncli.core.attention import head_mean, top_links, visible_keys
from attncli.core.pooling import Pooling, mean_pool, plan, pool_lists

BYTE_LEVEL = ["I", "Ġsat", "Ġby", "Ġthe", "Ġriver", "Ġbank", "Ġcollaps", "ed"]
WORDPIECE = ["[CLS]", "the", "fl", "##ab", "##berg", "##ast", "##ed", "bank", "[SEP]"]


def _flat(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- tokens


@pytest.mark.parametrize("value", ["bank", "␣bank", "Ġbank", "BANK"])
def test_focus_matches_the_typed_word_the_shown_form_and_the_tokenizer_string(value):
    assert focus_grammar.positions(focus_grammar.parse(value), BYTE_LEVEL) == [5]


def test_a_word_split_in_several_tokens_follows_its_last_and_says_so():
    notes: list[str] = []
    assert focus_grammar.rows(BYTE_LEVEL, ["collapsed"], notes=notes) == [7]
    assert notes == ["focus 'collapsed' is split into 2 tokens (␣collaps + ed, positions 6-7); following its "
                     "last, 'ed' at 7"]
    assert focus_grammar.rows(WORDPIECE, ["flabbergasted"]) == [6]  # WordPiece: ## continues a word
    assert focus_grammar.rows(WORDPIECE, ["bank"]) == [7]
    with pytest.raises(Exception, match="not in the text.*␣sat"):  # the hint lists tokens as views show them
        focus_grammar.rows(BYTE_LEVEL, ["money"])


def test_browse_find_matches_the_typed_word():
    s = State(data(line(8, tokens=BYTE_LEVEL)))
    assert s.find("bank") is None and s.queries == [5]
    assert s.find("␣river") is None and s.queries == [4]
    assert s.find("coll") is None and s.queries == [6]  # a prefix of the typed text


def test_one_display_rule_for_tokens_and_cuts_are_marked():
    from attncli.documents.tokens_display import display_tokens, shorten
    from attncli.render.layout import label

    assert display_tokens(BYTE_LEVEL)[1:3] == ["␣sat", "␣by"]
    assert shorten("␣collapsing", 8) == "␣collap…" == label("␣collapsing", 8)
    rows = draw.row_list(display_tokens(BYTE_LEVEL), [0.1] * 8, 6, 40, 12, 2)
    assert "Ġ" not in rows.plain and "␣collaps" in rows.plain


# --------------------------------------------------------------------------- causal and pooled views


def test_causal_top_k_lists_only_the_keys_a_query_may_see():
    doc = run_json("run", "--causal", "the cat sat on", "--top-k", "3")
    top = doc["top_k"]
    assert top["k"] == 3 and [len(row) for row in top["indices"][0]] == [1, 2, 3, 3]
    for query, row in enumerate(top["indices"][0]):
        assert all(key <= query for key in row)
    view = cli("run", "--causal", "the cat sat on", "--top-k", "3").stdout
    first = next(l for l in view.splitlines() if l.startswith("0 the "))
    assert first.split() == ["0", "the", "the@0", "1.000"]  # never sat@2 0.000


def test_top_k_and_head_mean_are_the_core_functions():
    weights = torch.softmax(torch.randn(3, 4, 4), -1).tril()  # (H, R, N) a causal-looking matrix
    values, indices = top_links(weights, 3, [0, 1, 2, 3])
    assert indices[:, 0, 0].tolist() == [0, 0, 0] and visible_keys([0, 1, 2, 3], 4, True).tolist() == [1, 2, 3, 4]
    assert torch.equal(values, weights.gather(-1, indices))
    assert torch.allclose(head_mean(weights)[0], weights.mean(0))


def test_pooling_is_even_and_takes_the_mean():
    how = plan(63, 63, 34, 34)
    assert (how.row_factor, how.out_rows) == (2, 32) and how.block_of_row(12) == 6 and how.first_row(6) == 12
    m = torch.zeros(4, 4)
    m[0, 0] = 1.0
    m[1, 2:] = float("-inf")  # masked cells are left out of their block's mean
    pooled = mean_pool(m, Pooling(4, 4, 2, 2))
    assert pooled.tolist() == [[0.25, 0.0], [0.0, 0.0]]
    assert pool_lists([[None, None], [None, None]], Pooling(2, 2, 2, 2)) == [[None]]


def test_browse_marks_the_query_row_when_pooling():
    n = 63
    m = torch.softmax(torch.randn(n, n), -1)
    tokens = [f"t{i}" for i in range(n)]
    tokens[12] = "small"
    lines, _rows = heat.heatmap(m, tokens, 12, 80, 20, 2)  # 63 rows in 18 lines: pooled
    marked = [ln for ln in lines if ln and ln[0].text.startswith("▶")]
    assert len(marked) == 1 and marked[0][1].text.strip().startswith("12 small")
    assert "pooled: a line is 4 queries" in heat.to_text(lines).plain


def test_layer_grid_draws_masked_cells_as_masked(monkeypatch):
    from test_decoders import make_model

    monkeypatch.setenv("COLUMNS", "100")
    folder = _tiny_decoder(make_model)
    out = cli("run", "--model", folder, "the cat sat on the mat", "--layer", "all", "--view", "grid")
    assert out.code == 0, out
    rows = [l for l in out.stdout.splitlines() if l.startswith("L0 ")]
    assert rows and "×" in rows[0]  # the first query's future keys: masked, not low weight
    assert "× masked" in out.stdout


_FOLDER: dict = {}


def _tiny_decoder(make_model) -> str:
    if "llama" not in _FOLDER:
        import tempfile

        folder = tempfile.mkdtemp(prefix="attncli-views-")
        make_model(folder, "llama")
        _FOLDER["llama"] = folder
    return _FOLDER["llama"]


def test_color_scale_is_named_and_causal_defaults_to_keys(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    env = {"FORCE_COLOR": "3"}
    causal = cli("run", "--causal", "the cat sat on", env=env).stdout
    assert "scale keys: one range for every key but the first" in _flat(causal)
    plain = cli("run", "the cat sat on", env=env).stdout
    assert "scale matrix: one range for every weight shown" in _flat(plain)
    row = cli("run", "the cat sat on", "--color-scale", "row", env=env).stdout
    assert "row min" in row and "scale row: each row from its smallest to its largest weight" in _flat(row)
    bad = cli("run", "a", "--color-scale", "rows")
    assert bad.code == 2 and "--color-scale: unknown color scale 'rows' (expected matrix, row or keys)" in bad.stderr


def test_row_scale_gives_every_row_its_own_brightest_cell():
    from attncli.render.layout import Scale

    matrix = [[1.0, None, None], [0.9, 0.1, None], [0.8, 0.15, 0.05]]
    row = Scale.over([matrix], "row")
    assert [row.row(r)(max(w for w in m if w is not None)) for r, m in enumerate(matrix)] == [1.0, 1.0, 1.0]
    keys = Scale.over([matrix], "keys")
    assert (keys.low, keys.high) == (0.05, 0.15)  # the first key (1.0, 0.9, 0.8) is out of the range


# --------------------------------------------------------------------------- large views


def test_browse_grid_scrolls_to_the_cursor_and_keeps_thumbnails_legible():
    s = State(data(line(28, layers=30, heads=3)), layer=29)
    s.grid = True
    s.selected = (29, 0)
    lines, boxes = heat.grid(s.grid_cells(0), s.selected, 80, 22, s.grid_scale(0))
    text = heat.to_text(lines).plain
    assert any(b[4] == (29, 0) for b in boxes)  # the cursor's layer is drawn
    assert "of 30 rows ([ ] scroll)" in text and len(lines) <= 22
    rows_drawn = {b[4][0] for b in boxes}
    assert len(rows_drawn) < 30 and all(b[1] - b[0] >= 5 for b in boxes)  # 4 thumbnail lines at least
    s.move_selected(-40, 0)
    assert s.selected == (0, 0)  # stops at the edge
    lines, boxes = heat.grid(s.grid_cells(0), s.selected, 80, 22, s.grid_scale(0))
    assert any(b[4] == (0, 0) for b in boxes)


def test_browse_pilot_grid_header_escape_and_layer_edges():
    from attncli.browse.app import BrowseApp, Title

    async def go():
        loaded = data(line(6, layers=3, heads=2))
        loaded.description = "model smollm2 (LlamaModel) · 30 layers · 9 heads · float32 on cpu"
        app = BrowseApp(loaded)
        async with app.run_test(size=(80, 24)) as pilot:
            title = app.query_one(Title).render().plain
            assert len(title) <= 80 and ("float32 on cpu" in title or "float32" not in title)  # whole phrases
            await pilot.press("g", "up")
            assert app.state.grid and app.state.selected == (1, 0)
            assert "layer 1 of 3 · head 0 of 2" in app.query_one(Title).render().plain
            await pilot.press("escape")
            assert not app.state.grid
            await pilot.press("right_square_bracket")  # already the last layer: it stays
            assert app.state.layer == 2

    asyncio.run(go())


def test_browse_row_list_leaves_masked_keys_out():
    row = [1.0] + [float("-inf")] * 17
    text = draw.row_list([f"t{i}" for i in range(18)], row, 0, 40, 20, 2).plain
    assert "1 key it may see" in text and "-" not in text.split("\n", 1)[1]


def test_a_model_top_k_is_one_table_of_the_mean(monkeypatch):
    from test_decoders import make_model

    monkeypatch.setenv("COLUMNS", "100")
    folder = _tiny_decoder(make_model)
    out = cli("run", "--model", folder, "the cat sat on the mat", "--top-k", "2")
    assert out.code == 0, out
    assert out.stdout.count("top 2 keys per query") == 1 and "mean of heads" in out.stdout
    assert "head 1" not in out.stdout
    matrix = next(l for l in out.stdout.splitlines() if l.startswith("cat "))
    decimals = len(matrix.split()[1].rstrip("*").split(".")[1])
    table = next(l for l in out.stdout.splitlines() if "cat@" in l)
    assert len(table.split("cat@")[1].split()[1].split(".")[1]) == decimals  # the matrix's decimals


# --------------------------------------------------------------------------- commands


def test_save_jsonl_and_the_saved_line(tmp_path):
    path = tmp_path / "out.jsonl"
    out = cli("run", "the cat", "--json", "--save", str(path))
    assert out.code == 0 and json.loads(out.stdout)["tokens"] == ["the", "cat"]
    assert json.loads(path.read_text().strip())["tokens"] == ["the", "cat"]
    assert f"attncli: saved {path} (" in out.stderr
    svg = cli("run", "the cat", "--save", str(tmp_path / "v.svg"))
    assert "saved" in svg.stderr and "KB)" in svg.stderr
    batch = tmp_path / "texts.txt"
    batch.write_text("the cat\na dog\n")
    lines = cli("run", "--file", str(batch), "--save", str(tmp_path / "b.ndjson"), "--json")
    assert lines.code == 0 and len((tmp_path / "b.ndjson").read_text().splitlines()) == 2


def test_color_options_and_environment():
    from attncli.cli.output import console_colors

    assert console_colors(False) == {"no_color": True, "color_system": None}
    assert console_colors(None, {}) == {}
    assert console_colors(True, {})["color_system"] == "truecolor"
    assert console_colors(None, {"FORCE_COLOR": "1", "COLORTERM": "truecolor"})["color_system"] == "truecolor"
    assert console_colors(None, {"FORCE_COLOR": "1"})["color_system"] == "standard"
    assert console_colors(True, {"TERM": "xterm-256color"})["color_system"] == "256"
    colored = cli("run", "the cat", "--color", env={"COLORTERM": "truecolor"})
    assert "\x1b[" in colored.stdout and "48;2;" in colored.stdout
    plain = cli("run", "the cat", "--no-color", env={"FORCE_COLOR": "3"})
    assert "\x1b[" not in plain.stdout


def test_config_validate_names_its_argument_and_the_starter_text_works(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = cli("config", "validate", "nowhere.yaml")
    assert missing.code == 2 and missing.stderr.startswith("attncli: error: PATH: no config file")
    assert cli("config", "init", "mine.yaml").code == 0
    line = next(l for l in (tmp_path / "mine.yaml").read_text().splitlines() if "Check it with" in l)
    command = line.split("Check it with:")[1].split()
    assert command == ["attncli", "config", "validate", "mine.yaml"]
    assert cli(*command[1:]).code == 0
    stdout = cli("config", "init", "-").stdout
    assert "configs/example.yaml" not in stdout and cli("config", "validate", "example").code == 0


def test_models_install_says_what_is_missing(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else
                        real(name, *a))
    out = cli("models", "install", "minilm")
    assert out.code == 2 and "minilm needs transformers, which is not installed" in out.stderr
    assert "pip install 'attncli[models]'" in out.stderr


def test_heads_score_completion_and_help_metavars(monkeypatch):
    from attncli.cli.heads import SCORE_NAMES
    from attncli.core.detectors import SCORES

    assert SCORE_NAMES == SCORES
    monkeypatch.setenv("COLUMNS", "200")
    for command in (["run"], ["heads"], ["bench"], ["compare"], ["config", "init"]):
        text = cli(*command, "--help").stdout
        assert "<int>" not in text and "<bool>" not in text and "<str>" not in text, command
    usage = cli("run", "--help").stdout
    assert "[TEXT]" in usage and "--heads" in usage and " N " in usage


def test_key_indices_of_100_and_more_keep_their_hundreds():
    # new-user pass: keys 100-102 were labelled 0/1/2 (tens over units only), reading like keys 0-2
    text = " ".join(f"w{i}" for i in range(103))
    out = cli("run", text, "--view", "compact")
    assert out.code == 0, out
    lines = out.stdout.splitlines()
    block = lines.index(next(line for line in lines if line.startswith("keys 70-102 of 103")))
    hundreds, tens, units = (line.rstrip() for line in lines[block + 1:block + 4])
    assert hundreds.endswith("111") and set(hundreds.strip()) == {"1"}
    assert tens.endswith("9999999999000") and units.endswith("0123456789012")
