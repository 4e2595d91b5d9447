"""attncli run --file: many texts with one model, JSON Lines, bad lines reported and skipped."""

from __future__ import annotations

import json

from conftest import cli


def test_json_lines_in_input_order_with_line_numbers(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("She ate the apple\n\n   \nthe cat sat\n!!!\nstream bank mud\n", encoding="utf-8")
    out = cli("run", "--file", str(path), "--json")
    assert out.code == 2  # one line failed
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["line"] for r in records] == [1, 4, 5, 6]
    assert records[0]["tokens"] == ["She", "ate", "the", "apple"]
    assert records[2]["error"]["message"].startswith("text has no word tokens")
    assert "tokens" not in records[2]
    assert f"{path}:5: text has no word tokens" in out.stderr
    single = json.loads(cli("run", "the cat sat", "--json").stdout)
    assert {k: v for k, v in records[1].items() if k != "line"} == single


def test_all_good_lines_exit_zero_and_stdin():
    out = cli("run", "--file", "-", "--json", input="the cat\na dog\n")
    assert out.code == 0
    assert [json.loads(line)["tokens"] for line in out.stdout.splitlines()] == [["the", "cat"], ["a", "dog"]]


def test_terminal_view_per_line(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("the cat\na dog\n")
    out = cli("run", "--file", str(path))
    assert out.code == 0 and "line 1" in out.stdout and "line 2" in out.stdout


def test_join_treats_the_file_as_one_text(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("the cat\nsat on\nthe mat\n")
    doc = json.loads(cli("run", "--file", str(path), "--join", "--json").stdout)
    assert doc["tokens"] == ["the", "cat", "sat", "on", "the", "mat"]


def test_file_errors(tmp_path):
    assert "no such file" in cli("run", "--file", str(tmp_path / "missing.txt")).stderr
    assert cli("run", "a", "--file", "-").code == 2
    assert "--join goes with --file" in cli("run", "a", "--join").stderr
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00abc")
    out = cli("run", "--file", str(tmp_path / "bin.txt"), "--json")
    # a line that is not UTF-8 is an error record of its own (issue 13): the others still run
    record = json.loads(out.stdout)
    assert out.code == 2 and record["line"] == 1 and "UTF-8" in out.stderr and "byte 1 of the line" in out.stderr
    assert "UTF-8" in record["error"]["message"]


def test_save_jsonl(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("the cat\na dog\n")
    target = tmp_path / "out.json"
    assert cli("run", "--file", str(path), "--save", str(target)).code == 0
    assert [json.loads(line)["line"] for line in target.read_text().splitlines()] == [1, 2]


def test_progress_bar_on_a_terminal_never_takes_stdout(tmp_path, monkeypatch):
    from rich.console import Console

    from attncli.cli.output import Environment

    # stderr is a terminal: the progress bar is shown there, and the records still go to stdout.
    monkeypatch.setattr(Environment, "make_stderr_console", lambda self: Console(stderr=True, force_terminal=True))
    path = tmp_path / "t.txt"
    path.write_text("the cat\na dog\nthe mat\n")
    out = cli("run", "--file", str(path), "--json")
    assert out.code == 0
    assert [json.loads(line)["line"] for line in out.stdout.splitlines()] == [1, 2, 3]
    assert '"line"' not in out.stderr


def test_a_closed_pipe_ends_the_run_quietly(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "many.txt"
    path.write_text("the cat sat on the mat\n" * 20000)
    script = f'"{sys.executable}" -m attncli run --file "{path}" --json | head -1'
    result = subprocess.run(["bash", "-c", f"set -o pipefail; {script}"], capture_output=True, text=True,
                            timeout=120)
    assert json.loads(result.stdout)["line"] == 1
    assert result.stderr == "" and result.returncode == 0
