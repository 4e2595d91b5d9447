"""Issue 18's remaining view items: the grid's color scales, numbers aligned in every table, help
that reads at 80 columns, counts that agree with their nouns, the masked legend only when a masked
cell is drawn, and the precedence of --color/--no-color, NO_COLOR and FORCE_COLOR."""

from __future__ import annotations

import io
import re

import pytest
import torch
from hypothesis import given, settings, strategies as st
from rich.console import Console

from conftest import cli

from attncli.core.numbers import plural
from attncli.render import palette
from attncli.render.layout import Column, Scale, block_table

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _flat(text: str) -> str:
    return " ".join(ANSI.sub("", text).split())


_FOLDER: dict = {}


def _decoder() -> str:
    """A tiny random Llama folder (transformers' config class), built once."""
    if "llama" not in _FOLDER:
        import tempfile

        from test_decoders import make_model

        folder = tempfile.mkdtemp(prefix="attncli-render-views-")
        make_model(folder, "llama")
        _FOLDER["llama"] = folder
    return _FOLDER["llama"]


def _brightest(text: str) -> int:
    """How many cells of the output are painted the scale's top color (as ink or background)."""
    r, g, b = palette.shown_rgb(1.0, "truecolor")
    return len(re.findall(rf"[34]8;2;{r};{g};{b}\b", text))


# --------------------------------------------------------------------------- 1. the grid's color scales


def _matrices(seed: int, count: int, n: int) -> list[list[list[float | None]]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        w = torch.softmax(torch.randn(n, n, generator=g, dtype=torch.float64), -1).tolist()
        out.append([[None if j > i else v for j, v in enumerate(row)] for i, row in enumerate(w)])  # causal
    return out


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), count=st.integers(2, 6), n=st.integers(2, 7))
def test_each_grid_scale_is_the_ranges_computed_here(seed, count, n):
    matrices = _matrices(seed, count, n)
    shared, legend = Scale.each(matrices, "matrix")
    everything = [w for m in matrices for row in m for w in row if w is not None]
    assert all(s is legend for s in shared) and (legend.low, legend.high) == (min(everything), max(everything))
    rows, legend = Scale.each(matrices, "row")
    assert legend.relative and legend.rows is not None
    for m, scale in zip(matrices, rows):  # each row of each matrix: its own smallest and largest weight
        for r, row in enumerate(m):
            live = [w for w in row if w is not None]
            assert (scale.row(r).low, scale.row(r).high) == (min(live), max(live)) or min(live) == max(live)
    keys, legend = Scale.each(matrices, "keys")
    assert legend.relative and "each thumbnail" in legend.words()
    for m, scale in zip(matrices, keys):  # each matrix: every key but the first
        rest = [w for row in m for w in row[1:] if w is not None]
        assert (scale.low, scale.high) == (min(rest), max(rest)) or min(rest) == max(rest)


@pytest.mark.parametrize("layers", [["--layer", "all"], ["--layer", "1"]])
def test_the_grid_honours_every_color_scale_and_says_which(monkeypatch, layers):
    monkeypatch.setenv("COLUMNS", "100")
    env = {"FORCE_COLOR": "3"}
    base = ["run", "--model", _decoder(), "the cat sat on the mat", *layers, "--view", "grid", "--context", "none"]
    out = {mode: cli(*base, "--color-scale", mode, env=env) for mode in ("matrix", "row", "keys")}
    assert all(o.code == 0 for o in out.values()), out
    text = {mode: o.stdout for mode, o in out.items()}
    assert len({ANSI.sub("", t) for t in text.values()}) == 3  # the words differ ...
    assert len(set(text.values())) == 3  # ... and so do the colors
    assert "one color scale" in _flat(text["matrix"]) and "one color scale" not in _flat(text["row"])
    assert "each row its own color range" in _flat(text["row"])
    assert "each thumbnail its own color range, first key left out" in _flat(text["keys"])
    assert "scale row: each row of each thumbnail from its smallest to its largest weight" in _flat(text["row"])
    assert "scale keys: each thumbnail its own range over every key but the first" in _flat(text["keys"])
    # row: every row of every thumbnail reaches the top color; with one range for all, far fewer do
    thumbnails = 2 * (2 if layers[1] == "all" else 1)  # the tiny Llama: 2 layers x 2 heads
    assert _brightest(text["row"]) >= 6 * thumbnails > _brightest(text["matrix"])


def test_the_svg_of_a_grid_follows_the_color_scale(tmp_path):
    saved = {}
    for mode in ("matrix", "row"):
        path = tmp_path / f"{mode}.svg"
        run = cli("run", "--model", _decoder(), "the cat sat on the mat", "--layer", "all", "--view", "grid",
                  "--color-scale", mode, "--save", str(path))
        assert run.code == 0, run
        saved[mode] = path.read_text(encoding="utf-8")
    assert saved["matrix"] != saved["row"] and "each row its own color range" in saved["row"].replace("&#160;", " ")


# --------------------------------------------------------------------------- 2. numbers aligned


def test_block_table_widens_a_column_to_its_widest_number_and_right_aligns():
    rows = [("a", ["12.30", "3.45"]), ("b", ["3.45", "112.25"])]
    lines = [t.plain for t in block_table("x", [Column("p", 4), Column("q", 4)], rows, 80)]
    body = lines[2:]
    assert len({ln.index(".") for ln in body}) == 1  # column p's points in one column
    assert len({ln.rindex(".") for ln in body}) == 1  # column q's too
    assert body == ["a 12.30   3.45", "b  3.45 112.25"]


def test_heatmap_and_top_k_align_values_of_different_widths():
    from attncli.render.matrix import heatmap
    from attncli.render.run_view import top_k_table

    console = Console(width=80, color_system=None, record=True, file=io.StringIO())
    console.print(heatmap(["a", "b"], [[12.3, 3.45], [1.0, 100.25]], precision=2))
    lines = [ln for ln in console.export_text().splitlines() if ln[:1] in ("a", "b")]
    assert lines == ["a     12.30*   3.45 ", "b      1.00  100.25*"]
    doc = {"tokens": ["a", "bb"], "focus": None, "config": {"attention": {"causal": False}},
           "top_k": {"k": 2, "indices": [[[0, 1], [1, 0]]], "weights": [[[12.3, 3.45], [3.45, 1.0]]]}}
    console = Console(width=80, color_system=None, record=True, file=io.StringIO())
    console.print(top_k_table(doc, heads=[0], precision=2))
    body = [ln for ln in console.export_text().splitlines() if ln[:1] in ("0", "1")]
    assert body == ["0 a   a@0  12.30 bb@1 3.45", "1 bb  bb@1  3.45 a@0  1.00"]


def test_run_measure_norm_keeps_decimal_points_in_line(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    out = cli("run", "--model", _decoder(), "the cat sat on the mat", "--measure", "norm", "--view", "full",
              "--context", "none", "--top-k", "2")
    assert out.code == 0, out
    table = [ln for ln in out.stdout.splitlines() if re.match(r"^\S+\s+\d+\.\d+", ln) and "@" not in ln]
    assert len(table) == 6
    points = [{m.start() + m.group().index(".") for m in re.finditer(r"\d+\.\d+", ln)} for ln in table]
    assert len(points[-1]) == 6 and all(p <= points[-1] for p in points)  # causal rows: fewer, in the same places


# --------------------------------------------------------------------------- 3. help at 80 and 120 columns


def _commands():
    import typer

    from attncli.cli import app

    root = typer.main.get_command(app)
    out = [[]]
    for name, command in root.commands.items():
        out.append([name])
        out += [[name, sub] for sub in getattr(command, "commands", {})]
    return out


@pytest.mark.parametrize("columns", [80, 120])
def test_every_help_wraps_only_where_the_line_is_full(monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    for command in _commands():
        text = cli(*command, "--help").stdout
        prose = text.split("╭")[0].splitlines()[3:]  # after the usage line: the description
        for a, b in zip(prose, prose[1:]):
            a, b = a.strip(), b.strip()
            if not a or not b or a.startswith("attncli ") or b.startswith("attncli "):
                continue
            # a greedy wrap: the next line's first word would not have fitted on this line
            assert len(a) + 1 + len(b.split()[0]) > columns - 2, (command, a, b)


def test_help_shows_no_python_types_for_arguments(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    for command in _commands():
        text = cli(*command, "--help").stdout
        assert "<list" not in text and "<str>" not in text and "...]..." not in text, command


# --------------------------------------------------------------------------- 4. one plural rule


def test_plural_agrees_with_the_count():
    assert [plural(n, "token") for n in (0, 1, 2, 1234)] == ["0 tokens", "1 token", "2 tokens", "1,234 tokens"]
    assert plural(1, "query") == "1 query" and plural(3, "query") == "3 queries"


def test_no_count_prints_a_plural_for_one(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    views = [cli("run", "cat", "--top-k", "1").stdout, cli("run", "cat", "--view", "grid").stdout,
             cli("run", "cat", "--focus", "3").stderr, cli("explain", "cat").stdout]
    for text in views:
        assert not re.search(r"\b1 (tokens|heads|layers|rows|keys|texts|queries)\b", text), text
    assert "top key per query" in views[0] and "1 token" in views[0] and "the text has 1 token " in views[2]


def test_one_plural_helper_in_the_package():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "attncli"
    ad_hoc = [str(p) for p in root.rglob("*.py") if "'s' if" in p.read_text(encoding="utf-8")]
    assert ad_hoc == []


# --------------------------------------------------------------------------- 5. the masked legend


@pytest.mark.parametrize("args", [
    ["the cat sat on the mat"], ["the cat sat on the mat", "--view", "grid"], ["the cat sat", "--view", "full"],
    ["the cat sat on the mat", "--heads", "2", "--view", "grid"], ["--causal", "the cat sat on", "--focus", "-1"],
    ["--causal", "the cat sat on", "--focus", "-1", "--view", "full"],
])
def test_no_masked_legend_when_nothing_masked_is_drawn(args):
    out = cli("run", *args, "--context", "none", env={"FORCE_COLOR": "3"})
    assert out.code == 0, out
    assert "masked" not in _flat(out.stdout)


def test_the_masked_legend_shows_the_mark_that_is_drawn(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    full = _flat(cli("run", "--causal", "the cat sat", "--view", "full", env={"FORCE_COLOR": "3"}).stdout)
    assert "- masked" in full and "× masked" not in full
    grid = _flat(cli("run", "--causal", "the cat sat on", "--view", "grid", env={"FORCE_COLOR": "3"}).stdout)
    assert "blank: masked" in grid and "×" not in grid  # with color a masked cell is left blank
    plain = cli("run", "--causal", "the cat sat on", "--view", "grid", env={"NO_COLOR": "1"}).stdout
    assert "× masked" in plain and "×" in plain.split("legend")[0]


# --------------------------------------------------------------------------- 6. color precedence


@pytest.mark.parametrize("environ, flag, colored", [
    ({}, None, False),  # a pipe: no color
    ({}, "--color", True),
    ({}, "--no-color", False),
    ({"NO_COLOR": "1"}, None, False),
    ({"NO_COLOR": "1"}, "--color", True),  # a flag overrides the NO_COLOR default (no-color.org)
    ({"NO_COLOR": "1"}, "--no-color", False),
    ({"NO_COLOR": ""}, None, False),
    ({"NO_COLOR": ""}, "--color", True),  # an empty NO_COLOR is not set
    ({"FORCE_COLOR": "3"}, None, True),
    ({"FORCE_COLOR": "3"}, "--color", True),
    ({"FORCE_COLOR": "3"}, "--no-color", False),  # the flag beats FORCE_COLOR
    ({"NO_COLOR": "1", "FORCE_COLOR": "3"}, None, False),  # NO_COLOR beats FORCE_COLOR
    ({"NO_COLOR": "1", "FORCE_COLOR": "3"}, "--color", True),
    ({"NO_COLOR": "1", "FORCE_COLOR": "3"}, "--no-color", False),
])
def test_color_precedence(environ, flag, colored):
    env = {"NO_COLOR": None, "FORCE_COLOR": None, **environ}
    out = cli("run", "the cat", "--context", "none", *([flag] if flag else []), env=env)
    assert out.code == 0, out
    assert ("48;2;" in out.stdout) is colored  # a weight's background color
    if flag == "--no-color" or not environ.get("FORCE_COLOR"):
        assert "\x1b[" not in out.stdout or colored  # not even bold: the pipe is not a terminal
