"""Hostile input round 3, the inputs and the browser (issue 17 items 3, 10 and 17): bounded
``--join`` and ``browse --file``, the terminal checked before reading, a bad line skipped with a
note, pop-ups dismissed once, and the app on the terminal when stderr is redirected.
"""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import sys
import time

import pytest

from conftest import cli

pytest.importorskip("textual")

from textual import events  # noqa: E402

from attncli.browse import data as adapter  # noqa: E402
from attncli.browse.app import BrowseApp  # noqa: E402
from attncli.cli.lines import MAX_BROWSE_LINES, browse_lines  # noqa: E402
from attncli.cli.options import AttentionOptions  # noqa: E402
from attncli.errors import AttnError  # noqa: E402

# --------------------------------------------------------------------------- item 3: bounded reads


def test_join_is_refused_past_4_mib_without_reading_on():
    out = cli("run", "--file", "-", "--join", "--json", input="the cat sat\n" * 400_000)  # 4.8 MB, 1.2M tokens
    assert out.code == 2 and out.stdout == "", out
    assert "--file stdin: the joined text is longer than 4 MiB (drop --join to run the lines one by one)" in out.stderr
    assert cli("run", "--file", "-", "--join", "--json", input="the cat\n\nsat\n").json["tokens"] == ["the", "cat", "sat"]


def test_browse_checks_the_terminal_before_reading_the_file(monkeypatch):
    import attncli.io.textio as textio

    def never(*args, **kwargs):
        raise AssertionError("the file was opened before the terminal was checked")

    monkeypatch.setattr(textio, "open_binary", never)
    out = cli("browse", "--file", "/dev/urandom")
    assert out.code == 2 and "browse: browse needs a terminal (stdout or stdin is not a TTY)" in out.stderr, out


def test_browse_lines_are_bounded_even_for_an_endless_device():
    started = time.monotonic()
    with pytest.raises(AttnError, match=f"more than {MAX_BROWSE_LINES:,} lines"):
        browse_lines("/dev/urandom")
    assert time.monotonic() - started < 30


# --------------------------------------------------------------------------- item 17: a bad line is skipped


def test_browse_file_skips_a_line_that_is_not_utf8_with_a_note(tmp_path, monkeypatch):
    import attncli.cli.browse as command

    path = tmp_path / "t.txt"
    path.write_bytes(b"the cat sat\ncaf\xe9 au lait\n\nthe dog ran\n")
    opened = []
    monkeypatch.setattr(command, "_isatty", lambda stream: True)  # as on a terminal
    monkeypatch.setattr(BrowseApp, "run", lambda self, *a, **k: opened.append(self.state.data))
    out = cli("browse", "--file", str(path))
    assert out.code == 0, out
    data = opened[0]
    assert [line.label for line in data.lines] == [f"{path}:1", f"{path}:4"]
    assert data.notes[0] == f"skipped {path}:2:4: not UTF-8 text (byte 4 of the line) (byte 0xe9; save the file as UTF-8)"
    path.write_bytes(b"\xff\n")
    out = cli("browse", "--file", str(path))  # nothing left to browse: the line's own error
    assert out.code == 2 and "not UTF-8 text" in out.stderr and not opened[1:], out


# --------------------------------------------------------------------------- item 10: the app


async def _burst(app: BrowseApp, pilot, keys: list[str]) -> None:
    """Keys that arrive together, as a paste or a fast typist gives them (pilot.press waits for each)."""
    for key in keys:
        character = {"slash": "/", "question_mark": "?", "enter": "\r"}.get(key, key if len(key) == 1 else None)
        app.post_message(events.Key(key, character))
    await asyncio.sleep(0.2)
    await pilot.pause()


def test_the_find_screen_is_dismissed_once_when_keys_arrive_together(tmp_path):
    async def main():
        app = BrowseApp(adapter.load([("TEXT", "the cat sat")], AttentionOptions().toy()), out_dir=tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await _burst(app, pilot, ["slash", "enter", "escape", "slash", "slash", "enter", "enter"])
            await _burst(app, pilot, ["question_mark", "escape", "question_mark", "slash", "escape", "enter"])
            assert len(app.screen_stack) >= 1
            while len(app.screen_stack) > 1:
                await pilot.press("escape")
            await pilot.press("q")
        return app

    app = asyncio.run(main())
    assert app.return_code in (0, None)


def test_browse_draws_on_the_terminal_when_stderr_is_redirected(tmp_path):
    """``attncli browse TEXT 2>log``: the app on the terminal (a pty here), no escapes in the log."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    log = tmp_path / "log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "attncli", "browse", "the cat sat"], stdin=slave,
                                stdout=slave, stderr=err, cwd=tmp_path, close_fds=True)
    os.close(slave)
    screen = b""
    try:
        deadline = time.monotonic() + 120
        while b"cat" not in screen and time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                screen += os.read(master, 65536)
        assert b"cat" in screen, (screen[-500:], log.read_bytes()[:500])
        time.sleep(0.5)
        os.write(master, b"q")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert b"\x1b[" not in log.read_bytes()
