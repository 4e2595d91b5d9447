"""Hostile input round 3, the streams (issue 17 items 2 and 9, issue 22): every write to stdout
complete or an error, stdout in any encoding, and an Environment that owns its streams.

The full-disk cases mount a 64 KiB tmpfs (root only, skipped elsewhere); the ``ulimit -f``
variant (RLIMIT_FSIZE, set in the child by ``preexec_fn``) always runs. Real processes are
needed there: the short write happens on file descriptor 1, below Python's text layer.
"""

from __future__ import annotations

import io
import json
import os
import resource
import shutil
import subprocess
import sys

import pytest

from conftest import cli

from attncli.cli.output import Environment
from attncli.io.streams import EncodedOutput, whole_writes
from attncli.io.textsafe import ascii_json, encodable

SENTENCE = "The cat sat on the mat because it was soft and warm in the sun"
TWELVE = ". ".join([SENTENCE] * 12)  # the case: a --json document of about 150 KB
PLAIN = {**os.environ, "COLUMNS": "80", "PYTHONIOENCODING": "utf-8"}


def attncli(*args: str, env: dict | None = None, limit_bytes: int | None = None, **kwargs):
    def cap():
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return subprocess.run([sys.executable, "-m", "attncli", *args], env=env or PLAIN, preexec_fn=cap,
                          timeout=180, **kwargs)


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs (root only; skipped where mounting is not permitted)."""
    point = tmp_path / "small"
    point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(point)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield point
    subprocess.run(["umount", "-l", str(point)], capture_output=True)


# --------------------------------------------------------------------------- item 2: short writes


@pytest.mark.parametrize("view", [["--json"], []], ids=["json", "view"])
def test_stdout_on_a_filling_disk_is_exit_1_not_a_cut_document(small_disk, view):
    args = ["run", TWELVE, *view] + (["--view", "full"] if not view else [])
    with open(small_disk / "out", "wb") as sink:
        done = attncli(*args, stdout=sink, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 1, done.stderr
    assert "stdout: cannot write the output: No space left on device" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_stdout_past_ulimit_f_is_exit_1_in_every_output(tmp_path):
    lines = tmp_path / "in.txt"
    lines.write_text("the cat sat\nthe dog ran\n" * 200)
    for args in (["run", TWELVE, "--json"], ["run", TWELVE, "--view", "full"], ["run", "--file", str(lines), "--json"]):
        with open(tmp_path / "out", "wb") as sink:
            done = attncli(*args, stdout=sink, stderr=subprocess.PIPE, text=True, limit_bytes=8192)
        assert done.returncode == 1 and "cannot write the output: File too large" in done.stderr, (args, done.stderr)


def test_a_save_past_ulimit_f_leaves_the_previous_file(tmp_path):
    target = tmp_path / "run.json"
    target.write_text("previous")
    done = attncli("run", TWELVE, "--save", str(target), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                   limit_bytes=16384)
    assert done.returncode == 1 and "File too large" in done.stderr, done.stderr
    assert target.read_text() == "previous" and sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_whole_writes_retries_short_writes(tmp_path, monkeypatch):
    real = os.write
    calls = []

    def short(fd, data):  # as a filling disk does: part of each write, never all of it
        calls.append(len(data))
        return real(fd, bytes(data[:1000]))

    path = tmp_path / "out.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    monkeypatch.setattr(os, "write", short)
    with whole_writes(fd) as handle:
        handle.write("é" * 50_000)
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == "é" * 50_000 and len(calls) >= 100


# --------------------------------------------------------------------------- item 9: encodings


def test_json_escapes_and_views_use_ascii_on_a_stream_that_is_not_utf8():
    text = json.dumps({"token": "café ☕ \U0001f600"}, ensure_ascii=False)
    assert ascii_json(text) == json.dumps(json.loads(text)) and ascii_json(text).isascii()
    assert encodable("╭─ the · cat ─╮", "ascii") == ("+- the . cat -+", False)
    assert encodable("café", "ascii") == ("caf?", True) and encodable("café", "latin-1") == ("café", False)
    sink = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    out = EncodedOutput(sink, json=True)
    out.write('{"t": "café"}')
    out.flush()
    assert sink.buffer.getvalue() == b'{"t": "caf\\u00e9"}'


def _in_encoding(encoding: str, *args: str, stdin: bytes | None = None, env: dict | None = None):
    environ = {**PLAIN, "PYTHONIOENCODING": encoding, **(env or {})}
    return attncli(*args, env=environ, input=stdin, capture_output=True)


def test_every_output_works_on_a_stdout_that_is_not_utf8():
    view = _in_encoding("ascii", "run", "the cat sat")
    assert view.returncode == 0 and b"the" in view.stdout and b"Error" not in view.stderr, view.stderr
    assert b"cannot show every character" not in view.stderr  # ASCII text loses nothing
    for encoding in ("ascii", "latin-1"):
        doc = _in_encoding(encoding, "run", "café au lait", "--json")
        assert doc.returncode == 0 and doc.stdout.isascii(), doc.stderr
        assert json.loads(doc.stdout)["tokens"] == ["café", "au", "lait"]
        assert all(json.loads(line) for line in doc.stderr.splitlines() if line.startswith(b"{"))  # warnings too
    batch = _in_encoding("ascii", "run", "--file", "-", "--json", stdin="café\nthe cat\n".encode())
    assert batch.returncode == 0, batch.stderr
    assert [json.loads(line)["tokens"] for line in batch.stdout.splitlines()] == [["café"], ["the", "cat"]]


def test_a_view_that_loses_characters_says_so_and_the_c_locale_reads_arguments_as_utf8():
    view = _in_encoding("ascii", "run", "café bank")
    assert view.returncode == 0 and b"caf?" in view.stdout, view.stderr
    assert b"stdout's encoding (ascii) cannot show every character" in view.stderr
    c_locale = _in_encoding("ascii", "run", "café", "--json", env={"LC_ALL": "C", "PYTHONUTF8": "0"})
    assert c_locale.returncode == 0 and json.loads(c_locale.stdout)["tokens"] == ["café"], c_locale.stderr


# --------------------------------------------------------------------------- issue 22: streams owned by one object


def _invoke(*args: str, stdin: str | None = None) -> tuple[int, Environment]:
    import typer

    from attncli.cli import app

    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), stdin=io.StringIO(stdin or ""))
    code = typer.main.get_command(app).main(args=list(args), prog_name="attncli", standalone_mode=False, obj=env)
    return code, env


def test_a_command_writes_to_the_streams_its_environment_was_given(capsys):
    code, env = _invoke("run", "the cat zzqx", "--json")
    assert code == 0 and json.loads(env.stdout.getvalue())["tokens"] == ["the", "cat", "zzqx"]
    assert "not in the vocabulary" in env.stderr.getvalue()
    code, env = _invoke("run", "--file", "-", "--json", stdin="the cat\nthe dog\n")
    assert code == 0 and [json.loads(line)["line"] for line in env.stdout.getvalue().splitlines()] == [1, 2]
    code, env = _invoke("vocab", "bank")
    assert code == 0 and "bank" in env.stdout.getvalue()
    code, env = _invoke("run", "", "--json")  # the one boundary reports through the same Environment
    assert code == 2 and env.stdout.getvalue() == "" and "TEXT: empty text" in env.stderr.getvalue()
    assert json.loads(env.stderr.getvalue().splitlines()[-1])["error"]["exit_code"] == 2
    code, env = _invoke("run", "a", "--heads", "abc")  # a usage error from the parser, too
    assert code == 2 and env.stderr.getvalue().startswith("attncli: error: --heads: ")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""  # nothing went to sys.stdout or sys.stderr


def test_the_cli_runner_path_is_unchanged():
    out = cli("run", "the cat", "--json")
    assert out.code == 0 and out.json["tokens"] == ["the", "cat"]
