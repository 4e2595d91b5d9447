"""The command line as a user meets it: help, version, views, JSON purity, colors, warnings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer

from attncli.cli import app
from attncli.core.tokens import oov_vector
from conftest import assert_close, cli, run_json


def all_commands(typer_app=app, prefix=()):
    group = typer.main.get_command(typer_app)
    out = []

    def walk(command, path):
        subs = getattr(command, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, path + (name,))
        else:
            out.append((path, command))

    walk(group, prefix)
    return out


def test_version():
    from attncli import __version__

    out = cli("--version")
    assert out.code == 0 and out.stdout.strip() == f"attncli {__version__}"


def test_every_command_has_help_text():
    commands = all_commands()
    assert {path[0] for path, _ in commands} >= {"run", "compare"}
    for path, command in commands:
        assert (command.help or "").strip(), f"{' '.join(path)} has no help text"
        for param in command.params:
            if param.name not in ("help",) and getattr(param, "help", None) is not None:
                assert param.help.strip()
        out = cli(*path, "--help")
        assert out.code == 0 and "Usage" in out.stdout, path


def test_usage_lines_read_as_posix_writes_them(monkeypatch):
    """Every command's usage at 80 columns: required arguments bare (``PATH``, not Typer's ``{PATH}``),
    optional ones in one pair of brackets (never ``[[NAME_OR_PATH]]`` or ``[[merge PART...]]...``);
    heads names its second form on a line of its own."""
    monkeypatch.setenv("COLUMNS", "80")
    usages = {}
    for path, _command in all_commands():
        lines = cli(*path, "--help").stdout.splitlines()
        start = next(i for i, line in enumerate(lines) if "Usage:" in line)
        usage = [line.strip() for line in lines[start:] if line.strip()][:2]
        usages[path] = usage
        for line in usage:
            assert "{" not in line and "[[" not in line and "]]" not in line, (path, line)
        assert usage[0].startswith("Usage: attncli " + " ".join(path) + " [OPTIONS]"), (path, usage)
    assert usages[("config", "validate")][0] == "Usage: attncli config validate [OPTIONS] PATH"
    assert usages[("config", "show")][0] == "Usage: attncli config show [OPTIONS] [NAME_OR_PATH]"
    assert usages[("compare",)][0] == "Usage: attncli compare [OPTIONS] TEXTS..."
    assert usages[("run",)][0] == "Usage: attncli run [OPTIONS] [TEXT]"
    assert usages[("heads",)] == ["Usage: attncli heads [OPTIONS]", "or: attncli heads merge PART... [OPTIONS]"]
    assert "or:" not in usages[("run",)][1]


def test_top_level_help_lists_commands():
    out = cli("--help")
    assert out.code == 0 and "run" in out.stdout and "compare" in out.stdout


def test_python_dash_m_works():
    result = subprocess.run([sys.executable, "-m", "attncli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("attncli ")


def test_help_and_version_do_not_import_torch():
    code = ("import sys; from attncli.cli import main; sys.argv = ['attncli', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\nprint('ok')")
    for argv in (["--help"], ["--version"], ["run", "--help"], ["compare", "--help"]):
        script = code.replace("['attncli', '--help']", repr(["attncli", *argv]))
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        assert result.returncode == 0 and result.stdout.strip().endswith("ok"), (argv, result.stderr)


def test_terminal_view_prints_every_number():
    out = cli("run", "She ate the apple", "--no-scale")
    assert out.code == 0
    assert "\x1b[" not in out.stdout  # not a terminal: no escape codes
    for word in ("She", "ate", "the", "apple", "0.53*", "0.07", "0.731", "context vectors"):
        assert word in out.stdout


def test_ten_tokens_fit_in_80_columns_without_truncation():
    out = cli("run", "The cat sat on the mat because it was soft")
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "because" in line and "soft" in line)
    assert "…" not in header
    assert sum("*" in line for line in lines) >= 10  # every row marks its largest weight


def test_long_inputs_switch_to_the_compact_view():
    text = " ".join(["the cat sat on the mat"] * 7)  # 42 tokens
    out = cli("run", text, "--causal")
    assert out.code == 0
    assert "legend:" in out.stdout and "×" in out.stdout and "masked" in out.stdout
    assert max(len(line) for line in out.stdout.splitlines()) <= 80


def test_full_view_can_be_forced_and_marks_masked_cells():
    out = cli("run", "the cat sat", "--causal", "--view", "full")
    lines = out.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("q \\ k"))
    row = lines[header + 2]
    assert row.split()[1:] == ["1.00*", "-", "-"]


def test_colors_on_a_terminal_and_no_color(monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")  # what a terminal gets
    monkeypatch.setenv("COLORTERM", "truecolor")
    colored = cli("run", "She ate the apple", "--no-scale")
    assert "\x1b[" in colored.stdout and "48;" in colored.stdout  # cell backgrounds
    assert "0.53" in colored.stdout  # the numbers are printed as well
    monkeypatch.setenv("NO_COLOR", "1")
    plain = cli("run", "She ate the apple", "--no-scale")
    assert "48;" not in plain.stdout and "38;" not in plain.stdout
    assert "0.731" in plain.stdout and "0.53*" in plain.stdout


def test_json_is_one_document_on_stdout_with_warnings_on_stderr():
    out = cli("run", "the cat flibbertigibbet", "--json")
    assert out.code == 0
    doc = json.loads(out.stdout)  # the whole of stdout is one document
    assert doc["oov"] == [False, False, True]
    assert "flibbertigibbet" in out.stderr and "warning" in out.stderr
    assert "NaN" not in out.stdout and "Infinity" not in out.stdout


def test_json_layout_and_shapes_do_not_change_with_heads():
    one = run_json("run", "the cat sat on the mat")
    two = run_json("run", "the cat sat on the mat", "--heads", "2", "--include", "qkv")
    for doc, heads in ((one, 1), (two, 2)):
        assert set(doc) >= {"schema", "version", "tokens", "oov", "embeddings", "scores", "weights", "context", "config"}
        assert len(doc["weights"]) == heads and len(doc["weights"][0]) == 6 and len(doc["weights"][0][0]) == 6
        assert len(doc["scores"]) == heads
        assert len(doc["context"]) == 6 and len(doc["context"][0]) == 4
    assert [len(two[k]) for k in ("queries", "keys", "values")] == [2, 2, 2]
    assert len(two["queries"][0][0]) == 2
    cfg = two["config"]
    assert cfg["device"] == "cpu" and cfg["dtype"] == "float32"
    assert cfg["embeddings"]["source"] == "built-in"
    assert cfg["attention"]["heads"] == 2 and cfg["attention"]["d_head_k"] == 2


def test_causal_scores_are_null_when_masked():
    doc = run_json("run", "the cat sat", "--causal")
    assert doc["scores"][0][0][1] is None and doc["scores"][0][0][2] is None
    assert doc["weights"][0][0] == [1.0, 0.0, 0.0]


def test_include_all_adds_every_extra():
    doc = run_json("run", "stream bank mud", "-c", "bank-projections", "--include", "all")
    assert set(doc) >= {"queries", "keys", "values", "raw_scores", "head_context", "projections"}
    assert doc["projections"]["query"] == [[1.0, 0.0], [0.0, 1.0], [0.2, 0.2], [0.0, 0.0]] or \
        assert_close(doc["projections"]["query"], [[1.0, 0.0], [0.0, 1.0], [0.2, 0.2], [0.0, 0.0]], 1e-7) is None
    assert doc["projections"]["output"] is None


def test_precision_rounds_json():
    doc = run_json("run", "She ate the apple", "--precision", "3")
    assert all(len(str(v).split(".")[-1]) <= 3 for row in doc["weights"][0] for v in row)


def test_out_of_vocabulary_vectors_are_stable():
    # Known values: the same on every machine and every run (not Python's salted hash()).
    assert oov_vector("flibbertigibbet", 4) == oov_vector("Flibbertigibbet", 4)
    first = run_json("run", "flibbertigibbet")["embeddings"][0]
    script = "from attncli.core.tokens import oov_vector; print(oov_vector('flibbertigibbet', 4))"
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": "123"})
    assert_close(first, json.loads(other.stdout), 1e-7)
    assert all(-1 <= v < 1 for v in first)


def test_case_insensitive_lookup_keeps_the_typed_case():
    doc = run_json("run", "SHE Ate")
    assert doc["tokens"] == ["SHE", "Ate"] and doc["oov"] == [False, False]
    assert doc["embeddings"][0] == [1.0, 0.0, 1.0, 0.0]


def test_toy_vocabulary_covers_the_everyday_sentence():
    out = cli("run", "The cat sat on the mat because it was soft", "--strict", "--json")
    assert out.code == 0 and out.stderr == ""


def test_tokenizer_keeps_apostrophes_and_hyphens():
    from attncli.core.tokens import tokenize

    assert tokenize("Don't stop, well-known cat!") == ["Don't", "stop", "well-known", "cat"]


def test_options_override_the_config(tmp_config):
    path = tmp_config("attention:\n  heads: 1\n  causal: false\n  scale: false\n")
    doc = run_json("run", "the cat sat on", "-c", path, "--heads", "2", "--causal", "--scale")
    a = doc["config"]["attention"]
    assert a["heads"] == 2 and a["causal"] is True and a["scale"] is True
    assert doc["config"]["source"] == path and doc["config"]["source_kind"] == "file"


def test_bundled_config_by_name_and_inline_embeddings():
    doc = run_json("run", "-c", "bank", "stream bank mud")
    assert doc["config"]["source"] == "bank" and doc["config"]["source_kind"] == "bundled"
    assert doc["config"]["embeddings"]["source"] == "inline"
    assert doc["config"]["description"].startswith("Seed 004")


def test_inline_embeddings_replace_the_toy_vocabulary():
    out = cli("run", "-c", "bank", "stream cat", "--json")
    assert out.json["oov"] == [False, True] and "cat" in out.stderr


@pytest.mark.parametrize("suffix", [".svg", ".html", ".txt", ".json"])
def test_save_writes_the_view(tmp_path, suffix):
    target = tmp_path / f"view{suffix}"
    out = cli("run", "She ate the apple", "--save", str(target))
    assert out.code == 0 and "context vectors" in out.stdout  # the terminal view is still shown
    content = target.read_text()
    if suffix == ".json":
        assert json.loads(content)["tokens"] == ["She", "ate", "the", "apple"]
    else:
        assert "apple" in content
    if suffix == ".svg":
        assert content.lstrip().startswith("<svg")


def test_positional_and_dtype_options_run():
    for args in (["--positional", "sinusoidal"], ["--positional", "rope", "--heads", "2"], ["--dtype", "float64"],
                 ["--dtype", "bfloat16"], ["--dtype", "float16"], ["--device", "auto"], ["-c", "gpt-style"]):
        out = cli("run", "the cat sat on the mat", *args, "--json")
        assert out.code == 0, (args, out)
        for row in out.json["weights"][0]:
            assert abs(sum(row) - 1) < 1e-2


def test_temperature_sharpens_and_flattens():
    cold = run_json("run", "She ate the apple", "--temperature", "0.1")["weights"][0][0]
    hot = run_json("run", "She ate the apple", "--temperature", "10")["weights"][0][0]
    assert max(cold) > 0.95 and max(hot) < 0.3


def test_seeded_random_projections_are_repeatable():
    a = run_json("run", "the cat", "--projections", "random", "--seed", "3")
    b = run_json("run", "the cat", "--projections", "random", "--seed", "3")
    c = run_json("run", "the cat", "--projections", "random", "--seed", "4")
    assert a["context"] == b["context"] != c["context"]


def test_json_save_equals_stdout_and_streaming_matches(tmp_path):
    target = tmp_path / "run.json"
    out = cli("run", "The cat sat on the mat", "--causal", "--heads", "2", "--include", "all", "--json",
              "--save", str(target))
    assert out.code == 0
    assert json.loads(target.read_text()) == out.json
    # the streamed document (lazy arrays) is the same as the eager one the views draw from
    from attncli.core import toy
    from attncli.config import load_settings
    from attncli.documents.build import run_document
    from attncli.documents.jsonout import LazyArray, dumps, stream_json

    runner = toy.build(load_settings(None, {("attention", "causal"): (True, "--causal")}))
    record = runner.run(" ".join(["the cat sat on the mat"] * 30), top_k=2)
    for precision in (4, None):
        parts: list[str] = []
        old, LazyArray.BLOCK = LazyArray.BLOCK, 10
        try:
            stream_json(run_document(record, top_k=2, lazy=True, precision=precision), parts.append)
        finally:
            LazyArray.BLOCK = old
        assert json.loads("".join(parts)) == json.loads(dumps(run_document(record, top_k=2, precision=precision)))


def test_config_show_of_a_tensors_config_round_trips(tmp_path):
    out = cli("config", "show", "sample-model")
    path = tmp_path / "shown.yaml"
    path.write_text(out.stdout)
    again = run_json("run", "-c", str(path))
    assert again["weights"] == run_json("run", "-c", "sample-model")["weights"]


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "warning:" in line or "\"warning\"" in line]


@pytest.mark.parametrize("command", ["run", "compare", "heads", "generate"])
def test_json_prints_each_warning_once(tmp_path, command):
    """With --json a warning is its one human line on stderr, not also a JSON line (docs/json.md)."""
    target = tmp_path / "real.json"
    target.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    if command == "run":
        args = ["run", "the flibbertigibbet sat"]
    elif command == "compare":
        args = ["compare", "a flibbertigibbet", "b flibbertigibbet", "--focus", "flibbertigibbet"]
    elif command == "heads":
        args = ["heads", "-c", "gpt-style", "--length", "8"]
    else:
        pytest.importorskip("transformers")
        from test_generate import PROMPT, make_lm

        args = ["generate", "--model", str(make_lm(tmp_path / "lm", "llama")), PROMPT, "-n", "2"]
    out = cli(*args, "--json", "--save", str(link))
    assert out.code == 0, out
    json.loads(out.stdout)
    warnings = _warnings(out.stderr)
    assert warnings and all(line.startswith("attncli: warning: ") for line in warnings), out.stderr
    assert not any(line.startswith("{") for line in out.stderr.splitlines()), out.stderr
    assert len(set(warnings)) == len(warnings)
    assert sum("is a symbolic link" in line for line in warnings) == 1
    if command in ("run", "compare"):
        assert sum("flibbertigibbet" in line for line in warnings) == 1
