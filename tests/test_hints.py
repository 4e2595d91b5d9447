"""Every hint names only options its command has (issue 17, item 20)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from typer.main import get_command

from conftest import cli

from attncli.cli import app
from attncli.cli.hints import OPTION, fit, fit_error, options_of
from attncli.errors import AttnError

ROOT = Path(__file__).resolve().parent.parent / "attncli" / "cli"
COMMANDS = get_command(app)

#: Command modules and the commands they implement.
MODULES = {"run.py": ["run"], "compare.py": ["compare"], "explain.py": ["explain"], "vocab.py": ["vocab"],
           "bench.py": ["bench"], "heads.py": ["heads"], "browse.py": ["browse"], "generate.py": ["generate"],
           "config_cmd.py": ["config init", "config show", "config validate", "config list"],
           "models.py": ["models list", "models install"]}


def command(path: str):
    found = COMMANDS
    for part in path.split():
        found = found.commands[part]
    return found


def hint_texts(source: str) -> list[str]:
    """The string parts of every ``hint=`` keyword in a module (f-strings included)."""
    texts = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg == "hint":
            texts += [n.value for n in ast.walk(node.value) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return texts


@pytest.mark.parametrize("module", sorted(MODULES))
def test_command_modules_hint_only_their_own_options(module):
    options = set().union(*(options_of(command(c)) for c in MODULES[module]))
    for text in hint_texts((ROOT / module).read_text(encoding="utf-8")):
        if "attncli " in text:  # about another command
            continue
        for name in OPTION.findall(text):
            assert name in options, f"{module}: hint {text!r} names {name}, which {MODULES[module]} lacks"


def test_every_command_module_is_walked():
    walked = {c for commands in MODULES.values() for c in commands}

    def leaves(group, path=""):
        subs = getattr(group, "commands", None)
        if not subs:
            return [path]
        return [leaf for name, sub in subs.items() for leaf in leaves(sub, f"{path} {name}".strip())]

    assert set(leaves(COMMANDS)) == walked


def test_fit_keeps_the_clauses_a_command_has():
    hint = "view a few rows with --focus, or the strongest links with --top-k, or raise --max-weights-mb"
    assert fit(hint, {"--focus", "--top-k", "--max-weights-mb"}) == hint
    assert fit(hint, {"--focus", "--max-weights-mb"}) == "view a few rows with --focus or raise --max-weights-mb"
    assert fit("use a shorter input, --dtype bfloat16, or --device cpu", {"--device"}) == \
        "use a shorter input or --device cpu"
    assert fit("raise --max-weights-mb", set()) is None
    assert fit("attncli run prints the same views, and run --json the numbers", set()) == \
        "attncli run prints the same views, and run --json the numbers"


@pytest.mark.parametrize("path", ["browse", "compare", "explain", "heads"])
def test_core_budget_hint_is_fitted_to_each_command(path):
    import typer

    error = AttnError("too big", where="--max-weights-mb",
                      hint="view a few rows with --focus, or the strongest links with --top-k, "
                           "or raise --max-weights-mb")
    cmd = command(path)
    with typer.Context(cmd):
        fitted = fit_error(error)
    for name in OPTION.findall(fitted.hint or ""):
        assert name in options_of(cmd), (path, fitted.hint)
    assert error.hint.count("--") == 3  # the original is left alone


def test_browse_budget_hint_has_no_top_k():
    cmd = command("browse")
    import typer

    from attncli.cli.options import AttentionOptions
    from attncli.cli.params import command_line_naming

    with typer.Context(cmd), command_line_naming():
        try:
            AttentionOptions(max_weights_mb=0.0001).toy().plan(500, None, None, [])
        except AttnError as error:
            fitted = fit_error(error)
    assert "--top-k" not in fitted.hint and "--focus" in fitted.hint and "--max-weights-mb" in fitted.hint


def test_compare_budget_error_end_to_end():
    out = cli("compare", "the cat " * 100, "the cat ran", "--max-weights-mb", "0.1")
    assert out.code == 2, out
    assert "--focus" in out.stderr and "--top-k" not in out.stderr, out


def test_batch_view_save_is_refused_before_any_view(tmp_path):
    source = tmp_path / "lines.txt"
    source.write_text("the cat\n" * 1001, encoding="utf-8")
    out = cli("run", "-f", str(source), "--save", str(tmp_path / "views.svg"))
    assert out.code == 2 and out.stdout == "", out
    assert "--save: more than 1,000 lines: too many views to save as .svg" in out.stderr
    assert not (tmp_path / "views.svg").exists()


def test_view_hints_read_the_command_lines_words_only_inside_a_command():
    """The views spell no option (tests/test_structure.py): a hint names its parameter through
    attncli.errors.option, ``--context`` while a command draws the view, ``context`` outside one."""
    from rich.console import Console

    import attncli
    from attncli.cli.params import command_line_naming
    from attncli.render.run_view import run_view

    doc = attncli.run(" ".join(["the cat sat on the mat"] * 3)).document()  # 18 rows: the first 10 shown

    def drawn() -> str:
        console = Console(width=80, record=True, color_system=None)
        console.print(run_view(doc, width=80))
        return console.export_text()

    outside = drawn()
    with command_line_naming():
        inside = drawn()
    assert "the first 10 of 18 rows; --context all shows every row" in inside
    assert "the first 10 of 18 rows; context all shows every row" in outside and "--" not in outside
    assert inside == cli("run", " ".join(["the cat sat on the mat"] * 3)).stdout
