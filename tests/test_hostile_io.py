"""Hostile input (issue 13): bounded reads, line splitting, per-line decoding, escaped messages,
usage errors, non-finite options, and random lines through ``run --file -``.

Each class of defect is tested with the input the issue names and at least two of our own
(the output side is in test_hostile_output.py).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import cli

from attncli.io import textio
from attncli.errors import AttnError, ExitCode, finite_option
from attncli.io.textio import Line, iter_lines, read_limited

BOM = b"\xef\xbb\xbf"


def lines_of(data: bytes, **kwargs) -> list[Line]:
    return list(iter_lines("t.txt", stream=io.BytesIO(data), **kwargs))


class Trickle:
    """A stream that hands out its bytes in the given chunk sizes (a pipe, a slow producer)."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.sizes, self.pos = data, sizes or [1], 0

    def read1(self, size: int) -> bytes:
        step = min(size, self.sizes[self.pos % len(self.sizes)] or 1)
        chunk = self.data[self.pos:self.pos + step]
        self.pos += len(chunk)
        return chunk


def reference(data: bytes, limit: int = textio.MAX_LINE_BYTES) -> list[tuple[int, str | None]]:
    """What iter_lines must give, computed the obvious (whole-input) way."""
    parts = data.split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    out = []
    for number, raw in enumerate(parts, start=1):
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        if len(raw) > limit:
            out.append((number, None))
            continue
        raw = raw[3:] if number == 1 and raw.startswith(BOM) else raw
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            out.append((number, None))
            continue
        if text.strip():
            out.append((number, text))
    return out


# --------------------------------------------------------------------------- #6 line splitting


@pytest.mark.parametrize("inside", ["\f", "\v", "\u2028", "\x85", "\u2029", "\x1c", "\x1e", "\r"])
def test_lines_end_at_newline_only(inside):
    data = f"one {inside} two\nthree\nfour{inside}\n".encode()
    got = lines_of(data)
    last = "four" if inside == "\r" else f"four{inside}"  # \r\n is one line end
    assert [(line.number, line.text) for line in got] == [(1, f"one {inside} two"), (2, "three"), (3, last)]


def test_crlf_blank_lines_bom_and_a_last_line_without_newline():
    got = lines_of(BOM + b"first\r\n\r\n   \n\t\nfifth\r\nsixth")
    assert [(line.number, line.text) for line in got] == [(1, "first"), (5, "fifth"), (6, "sixth")]


# --------------------------------------------------------------------------- #7 per-line decoding


@pytest.mark.parametrize("bad, column", [
    (b"\xff\xfe", 1),                 # the kind: stray bytes
    (b"caf\xe9 au lait", 4),          # Latin-1
    (b"ok \xed\xa0\x80 surrogate", 4),  # an encoded surrogate
    (b"over\xc0\xaflong", 5),         # an overlong slash
    (b"cut \xe2\x82", 5),             # a sequence cut short at the end of the line
])
def test_a_bad_line_is_one_error_with_its_byte_column(bad, column):
    got = lines_of(b"the cat\n" + bad + b"\nthe dog\n")
    assert [line.text for line in got] == ["the cat", None, "the dog"]
    error = got[1].error
    assert got[1].number == 2 and error.where == f"t.txt:2:{column}"
    assert f"byte {column} of the line" in error.message and error.code == ExitCode.USAGE


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=300), sizes=st.lists(st.integers(1, 9), max_size=5),
       limit=st.integers(1, 40))
def test_incremental_reading_equals_the_whole_input_reading(data, sizes, limit):
    old = textio.CHUNK
    textio.CHUNK = 7
    try:
        got = list(iter_lines("t", stream=Trickle(data, sizes), max_line_bytes=limit))
    except AttnError as error:  # only for a line that never ends within 16 x limit
        assert "does not end within" in error.message
        return
    finally:
        textio.CHUNK = old
    assert [(line.number, line.text) for line in got] == reference(data, limit)
    assert all((line.text is None) == (line.error is not None) for line in got)


# --------------------------------------------------------------------------- #3 bounded reads


def test_a_long_line_is_an_error_record_and_the_rest_is_kept():
    for size in (101, 1000, 70_000):  # within one chunk, and across chunks
        got = lines_of(b"short\n" + b"x" * size + b"\nafter\n", max_line_bytes=100)
        assert [line.number for line in got] == [1, 2, 3]
        assert got[1].error.message == "line is longer than 100 bytes" and got[2].text == "after"
    exact = lines_of(b"y" * 100 + b"\r\n", max_line_bytes=100)
    assert exact[0].text == "y" * 100


def test_max_lines_counts_blank_lines_and_stops_the_input():
    got = []
    with pytest.raises(AttnError, match="more than 3 lines"):
        for line in iter_lines("t", stream=io.BytesIO(b"a\n\nb\nc\nd\n"), max_lines=3):
            got.append(line.number)
    assert got == [1, 3]
    assert [line.number for line in lines_of(b"a\n\nb", max_lines=3)] == [1, 3]


def test_dev_zero_is_refused_quickly_in_bounded_memory():
    start = time.monotonic()
    with pytest.raises(AttnError, match="does not end within"):
        for _ in iter_lines("/dev/zero", max_line_bytes=64 * 1024):
            pass
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("source", ["/dev/zero", "/dev/urandom"])
def test_read_limited_reads_limit_plus_one_bytes_of_devices(source):
    with pytest.raises(AttnError) as caught:
        read_limited(source, 1024 * 1024, f"-c {source}", what="config file")
    assert caught.value.line() == f"-c {source}: config file is too large (more than 1 MiB)"


def test_read_limited_of_files_and_stdin(tmp_path, monkeypatch):
    path = tmp_path / "a.yaml"
    path.write_bytes(b"x" * 100)
    assert read_limited(path, 100, "a") == b"x" * 100
    with pytest.raises(AttnError, match="too large"):
        read_limited(path, 99, "a")
    with pytest.raises(AttnError, match="is a directory"):
        read_limited(tmp_path, 10, "dir")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"abc")))
    assert read_limited("-", 10, "stdin") == b"abc"


def _python(*args, prefix=(), **kwargs):
    return subprocess.run([*prefix, sys.executable, "-m", "attncli", *args], capture_output=True, text=True,
                          timeout=120, **kwargs)


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit")
def test_file_dev_zero_under_a_2_gb_address_space_cap():
    out = _python("run", "--file", "/dev/zero", "--json", prefix=("prlimit", "--as=2000000000"))
    assert out.returncode == 2 and out.stdout == "", out
    assert "/dev/zero:1: line 1 does not end within 64 MiB" in out.stderr and "Traceback" not in out.stderr


# --------------------------------------------------------------------------- #3, #6, #7 through the CLI


def test_file_keeps_good_lines_around_bad_ones_on_stdin_and_in_files(tmp_path):
    data = "the cat\n".encode() + b"\xff bad\n" + "a\fb \u2028 c\x85d\n\nthe dog\r\n".encode()
    path = tmp_path / "t.txt"
    path.write_bytes(data)
    for source, stdin in ((str(path), None), ("-", data)):
        out = cli("run", "--file", source, "--json", input=stdin)
        records = [json.loads(line) for line in out.stdout.splitlines()]
        assert out.code == 2 and [r["line"] for r in records] == [1, 2, 3, 5], out
        assert "error" in records[1] and "error" not in records[0] and "error" not in records[3]
        assert records[2]["tokens"] == ["a", "b", "c", "d"]
        label = "stdin" if source == "-" else str(path)
        assert f"{label}:2:1: not UTF-8 text (byte 1 of the line) (byte 0xff; save the file as UTF-8)" in out.stderr


def test_join_refuses_a_bad_line_instead_of_dropping_it(tmp_path):
    for data in (b"the cat\n\xff\nthe dog\n", b"a\n" + b"x" * (textio.MAX_LINE_BYTES + 1) + b"\n"):
        path = tmp_path / "t.txt"
        path.write_bytes(data)
        for source, stdin in ((str(path), None), ("-", data)):
            out = cli("run", "--file", source, "--join", "--json", input=stdin)
            assert out.code == 2 and out.stdout == "" and ":2" in out.stderr.splitlines()[0], out


# --------------------------------------------------------------------------- #10 control characters


HOSTILE = ["\x1b]0;PWNED\x07", "\x1b[2J", "\u202eevil", "\x9b31m", "a\x7fb"]


@pytest.mark.parametrize("text", HOSTILE)
def test_messages_escape_control_characters_and_json_keeps_them(text):
    error = AttnError(f"bad {text}", where=text, hint=text, details=[text])
    assert all(not any(c in line for c in "\x1b\x07\u202e\x9b\x7f") for line in error.lines())
    assert error.to_dict()["message"] == f"bad {text}" and error.to_dict()["where"] == text


def test_hostile_config_keys_and_file_names_are_escaped_on_stderr(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text('"\\e]0;PWNED\\a": 1\n"\\e[2J": 2\n')
    out = cli("config", "validate", str(path))
    assert out.code == 2 and "\x1b" not in out.stderr and "\x07" not in out.stderr
    assert "\\x1b]0;PWNED\\x07" in out.stderr.splitlines()[0] and "\\x1b[2J" in out.stderr.splitlines()[1]
    name = tmp_path / "n\x1b[2Jame.txt"
    name.write_text("zzqx wvvy\n")
    out = cli("run", "--file", str(name))
    assert out.code == 0 and "\x1b" not in out.stderr and "n\\x1b[2Jame.txt:1:" in out.stderr
    out = cli("run", "--file", str(tmp_path / "gone\x07.txt"))
    assert out.code == 2 and "gone\\x07.txt: no such file" in out.stderr


# --------------------------------------------------------------------------- #14 non-finite numbers


def _float_options():
    import typer

    from attncli.cli import app

    base = {"run": ["run", "a"], "compare": ["compare", "a", "a"], "explain": ["explain", "a"], "bench": ["bench"]}
    found = []

    def walk(command, path):
        for param in command.params:
            annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
            if annotation is float or getattr(getattr(param, "type", None), "name", "") == "float":
                found.append((base.get(path[0], path), max(param.opts, key=len)))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, path + [name])

    walk(typer.main.get_command(app), [])
    return found


def test_every_float_option_refuses_nan_and_inf():
    options = _float_options()
    assert {name for _, name in options} >= {"--temperature", "--max-weights-mb", "--memory-mb"}
    for args, name in options:
        for value in ("nan", "inf", "-inf", "NaN", "1e999"):
            out = cli(*args, name, value, "--json")
            assert out.code == 2 and out.stdout == "", (args, name, value, out)
            assert f"attncli: error: {name}: must be a finite number, got " in out.stderr
            assert json.loads(out.stderr.splitlines()[-1])["error"]["where"] == name


def test_finite_option_passes_numbers_and_refuses_the_rest():
    assert finite_option(2.5, "--x") == 2.5 and finite_option(None, "--x") is None and finite_option(3, "--x") == 3
    for bad in (float("nan"), float("inf"), [1.0, float("-inf")]):
        with pytest.raises(AttnError, match="must be a finite number"):
            finite_option(bad, "--x")


# --------------------------------------------------------------------------- #16 usage errors


@pytest.mark.parametrize("args, expected", [
    (["run", "a", "--heads", "abc"], "--heads: "),
    (["run", "a", "--colour"], "--colour: no such option"),
    (["run", "a", "--save", ""], "--save: "),
    (["run", "a", "--precision", "two"], "--precision: "),
    (["compare"], "TEXTS: missing argument"),
    (["vocab", "-k", "1.5"], "--neighbors: "),
    (["run", "a", "b"], "unexpected extra argument"),
])
def test_usage_errors_are_one_line_and_json_under_json(args, expected, tmp_path):
    out = cli(*args, "--json")
    assert out.code == 2 and out.stdout == "", out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("attncli: error: ") and expected in lines[0], out
    assert "╭" not in out.stderr and "Traceback" not in out.stderr
    assert json.loads(lines[1])["error"]["exit_code"] == 2
    assert len(cli(*args).stderr.strip().splitlines()) == 1  # no JSON line without --json


def test_save_into_a_directory_named_like_a_file(tmp_path):
    (tmp_path / "somedir.svg").mkdir()
    out = cli("run", "a", "--save", str(tmp_path / "somedir.svg"))
    assert out.code == 2 and out.stderr.startswith("attncli: error: --save: ") and "directory" in out.stderr


def test_help_is_unchanged_and_the_bare_command_still_shows_it():
    out = cli("--help")
    assert out.code == 0 and out.stdout.startswith("\n Usage: attncli") or "Usage: attncli" in out.stdout
    bare = cli()
    assert bare.code == 2 and "Usage: attncli" in bare.stdout + bare.stderr and "error" not in bare.stderr
    assert cli("config").code == 2 and cli("run", "--help").code == 0


# --------------------------------------------------------------------------- the property test


line_bytes = st.one_of(
    st.binary(max_size=24),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=24).map(str.encode),
    st.sampled_from([b"", b" ", b"\r", b"\x00", b"the cat", b"!!!", b"\xff", b"caf\xe9", b"\x1b[2J bank",
                     "a\u2028b\x85c\fd\ve".encode()]),
).filter(lambda raw: b"\n" not in raw)


def _no_constants(name):
    raise ValueError(f"{name} in the JSON")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(line_bytes, max_size=8), crlf=st.booleans(), final_newline=st.booleans())
def test_random_lines_through_file_stdin(lines, crlf, final_newline):
    data = (b"\r\n" if crlf else b"\n").join(lines) + (b"\n" if final_newline and lines else b"")
    out = cli("run", "--file", "-", "--json", input=data)
    assert out.code in (0, 1, 2) and "Traceback" not in out.stderr, out
    if out.code == 1:
        assert out.stdout == "" or out.stdout.endswith("\n")
    records = [json.loads(line, parse_constant=_no_constants) for line in out.stdout.splitlines()]
    if out.code != 1:
        assert [r["line"] for r in records] == [number for number, _ in reference(data)], (data, out)
        assert (out.code == 2) == any("error" in r for r in records)
