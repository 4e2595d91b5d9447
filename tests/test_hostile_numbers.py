"""Hostile input round 3: one integer grammar for every option, and edge inputs that reached "internal error"."""

from __future__ import annotations

import json
import os

import pytest
from typer.main import get_command

from conftest import cli

from attncli.cli import app
from attncli.cli.integers import integer_param

#: Positional arguments each command needs before its options are parsed.
POSITIONALS = {"run": ["the cat"], "compare": ["the cat", "a cat"], "explain": ["the cat"], "vocab": ["cat"],
               "browse": ["the cat"], "config show": ["bank"], "config init": ["-"], "config validate": ["bank"],
               "models install": ["minilm"], "generate": ["The cat"]}
#: Options declared as text that hold whole numbers.
TEXT_INTEGERS = [("run", "--layer"), ("compare", "--layer"), ("explain", "--layer"), ("browse", "--layer"),
                 ("bench", "--lengths"), ("run", "--focus"), ("compare", "--focus")]


def integer_options():
    found = []

    def walk(command, path):
        subs = getattr(command, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, f"{path} {name}".strip())
            return
        for param in command.params:
            if integer_param(param) and getattr(param, "param_type_name", "") == "option":
                found.append((path, max(param.opts, key=len)))

    walk(get_command(app), "")
    return found


INTEGER_OPTIONS = integer_options()


def test_the_walk_finds_the_integer_options():
    names = {option for _, option in INTEGER_OPTIONS}
    assert {"--head", "--heads", "--top-k", "--precision", "--seed", "--d-k", "--repeat", "--neighbors",
            "--length", "--top", "--width", "--batch"} <= names, names
    assert len(INTEGER_OPTIONS) >= 30


@pytest.mark.parametrize("digits", ["٣", "３"])
@pytest.mark.parametrize("command, option", INTEGER_OPTIONS + TEXT_INTEGERS)
def test_non_ascii_digits_are_refused_with_one_message(command, option, digits):
    json_flag = [] if command == "browse" else ["--json"]  # browse refuses --json itself
    out = cli(*command.split(), *POSITIONALS.get(command, []), option, digits, *json_flag)
    if option == "--focus":  # a focus may be a token: a digit token that is not there is named as such
        assert out.code == 2 and "an index is written in ASCII digits 0-9" in out.stderr, out
        return
    assert out.code == 2, out
    first = out.stderr.splitlines()[0]
    assert first.startswith(f"attncli: error: {option}: expected "), first
    assert "ASCII digits 0-9" in first and f"got {digits!r}" in first, first
    assert "(digits of other scripts are not accepted)" in first, first
    assert out.stdout == ""
    if json_flag:
        assert json.loads(out.stderr.splitlines()[1])["error"]["where"] == option


def test_superscripts_are_no_digits():
    out = cli("run", "the cat", "--head", "²")
    assert out.code == 2 and "--head: expected a whole number in ASCII digits 0-9, got '²'" in out.stderr, out


@pytest.mark.parametrize("command, option", [("run", "--heads"), ("run", "--head"), ("heads", "--seed"),
                                             ("bench", "--repeat"), ("vocab", "--neighbors"),
                                             ("run", "--layer"), ("bench", "--lengths"), ("run", "--focus")])
def test_huge_numbers_are_refused_before_converting(command, option):
    for value in ("9" * 5000, "999999999999999999999999999999"):
        out = cli(*command.split(), *POSITIONALS.get(command, []), option, value)
        assert out.code == 2, out
        assert f"{option}: is too large" in out.stderr and "9,223,372,036,854,775,807" in out.stderr, out
        assert "internal error" not in out.stderr


def test_ascii_forms_still_parse():
    assert cli("run", "the cat sat", "--heads", "2", "--seed", "1_0", "--precision", " 3", "--json").code == 0
    assert cli("run", "the cat sat", "--focus", "1", "--json").json["tokens"] == ["the", "cat", "sat"]
    assert cli("bench", "--lengths", "8,1_6", "--repeat", "1", "--heads", "1", "--width", "4",
               "--json").json["results"][1]["length"] == 16


def test_focus_occurrence_of_5000_digits():
    out = cli("run", "the cat", "--focus", "cat@" + "9" * 5000)
    assert out.code == 2 and "--focus: is too large (a number of 5,000 digits)" in out.stderr, out


# --------------------------------------------------------------------------- file names that are not UTF-8


def test_config_named_with_a_non_utf8_byte(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = os.fsdecode(b"\xff.yaml")
    out = cli("config", "init", name, "--json")
    assert out.code == 0, out
    assert os.fsencode(out.json["written"]) == b"\xff.yaml"
    assert (tmp_path / name).exists()
    assert "attncli run -c \\udcff.yaml" in (tmp_path / name).read_text(encoding="utf-8", errors="surrogateescape")
    for args in (["run", "the cat"], ["vocab"], ["explain", "the cat"], ["heads"], ["config", "validate"],
                 ["config", "show"]):
        where = ["-c", name] if args[0] not in ("config",) else [name]
        out = cli(*args, *where, "--json")
        assert out.code == 0, (args, out)
        json.loads(out.stdout)  # valid JSON, the byte written as \udcff
        if args[1:] == ["validate"]:
            assert os.fsencode(out.json["source"]) == b"\xff.yaml"
    view = cli("config", "validate", name)
    assert view.code == 0 and "ok: \\udcff.yaml is valid" in view.stdout, view


def test_config_init_name_with_a_newline_cannot_inject_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "a\nattention: {heads: 3}\n#.yaml"
    out = cli("config", "init", name)
    assert out.code == 0, out
    assert "\n" not in out.stdout.rstrip("\n")
    assert cli("config", "validate", name).code == 0
    assert "heads: 3" not in (tmp_path / name).read_text(encoding="utf-8").split("attention:")[0]
