"""Hostile input round 3, the targets (issue 17 items 5, 6 and 7): never a FIFO or a device,
links said aloud, SIGTERM/SIGHUP/SIGINT leave no temporary file and the previous target intact,
and a reader that leaves early does not cost ``--save``.

The signal and pipe tests need real processes (a signal to a child, a reader that closes its
end); each waits for an observable state (the temporary file exists, a record arrived)
rather than sleeping a fixed time.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from conftest import cli

from attncli.errors import AttnError, ExitCode
from attncli.io import signals
from attncli.io.fileio import atomic_write, check_target

ATTNCLI = [sys.executable, "-m", "attncli"]


def _tmp_files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".attncli-"))


# --------------------------------------------------------------------------- item 5: FIFOs, devices, links


def test_save_and_config_init_refuse_a_fifo_and_leave_it_a_fifo(tmp_path):
    fifo = tmp_path / "out.svg"
    os.mkfifo(fifo)
    yaml_fifo = tmp_path / "attncli.yaml"
    os.mkfifo(yaml_fifo)
    for args, name in ((["run", "the cat", "--save", str(fifo)], "out.svg"),
                       (["run", "the cat", "--json", "--save", str(fifo.with_suffix(".json"))], None),
                       (["config", "init", str(yaml_fifo), "--force"], "attncli.yaml")):
        if name is None:
            os.mkfifo(fifo.with_suffix(".json"))
        # a subprocess with a timeout: code that opened the FIFO would wait for a reader forever
        done = subprocess.run([*ATTNCLI, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "is a FIFO (named pipe), not a regular file" in done.stderr, done
        assert done.stdout == ""
    for path in (fifo, yaml_fifo, fifo.with_suffix(".json")):
        assert stat.S_ISFIFO(os.lstat(path).st_mode)
    assert _tmp_files(tmp_path) == []


@pytest.fixture
def device(tmp_path):
    """A character device node (/dev/null's numbers) in tmp_path, and a link to it."""
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    link = tmp_path / "view.svg"
    link.symlink_to(node)
    return node, link


def test_a_link_to_a_device_node_is_refused_and_the_node_kept(device, tmp_path):
    node, link = device
    out = cli("run", "the cat", "--save", str(link), "--json")
    assert out.code == 2 and out.stdout == "", out
    assert f"links to '{node}', a character device, not a regular file" in out.stderr
    yaml_link = tmp_path / "c.yaml"
    yaml_link.symlink_to(node)
    out = cli("config", "init", str(yaml_link), "--force")
    assert out.code == 2 and "a character device, not a regular file" in out.stderr, out
    assert stat.S_ISCHR(os.lstat(node).st_mode) and link.is_symlink() and yaml_link.is_symlink()
    with pytest.raises(AttnError, match="a character device"):
        atomic_write(node, lambda handle: handle.write("x"))  # the writer itself refuses too


def test_a_link_to_a_file_is_written_through_and_says_so(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "view.txt"
    link.symlink_to(real)
    out = cli("run", "the cat", "--save", str(link))
    assert out.code == 0, out
    assert f"--save: '{link}' is a symbolic link: writing its target '{real}'" in out.stderr
    assert link.is_symlink() and "the" in real.read_text() and _tmp_files(tmp_path) == []
    dangling = tmp_path / "new.yaml"
    dangling.symlink_to(tmp_path / "made.yaml")
    out = cli("config", "init", str(dangling), "--force")
    assert out.code == 0 and "is a symbolic link: writing its target" in out.stderr, out
    assert (tmp_path / "made.yaml").read_text().startswith("#") and dangling.is_symlink()
    assert check_target(tmp_path / "nothing.svg") is None and check_target(link) == real


# --------------------------------------------------------------------------- item 6: signals


def test_held_signals_are_delivered_after_the_block():
    old = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signals._raise)
    try:
        done = []
        with pytest.raises(signals.Terminated) as caught:
            with signals.held():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                done.append("the block ran to its end")
        assert done and signals.exit_code(caught.value) == 143
        assert signals.message(caught.value) == "terminated (SIGTERM)"
        assert isinstance(caught.value, KeyboardInterrupt) and signals.exit_code(KeyboardInterrupt()) == 130
    finally:
        signal.signal(signal.SIGTERM, old)


def _wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("signum, point", [
    (signal.SIGTERM, "before the first line"),
    (signal.SIGTERM, "between records"),
    (signal.SIGTERM, "while lines are being run"),
    (signal.SIGHUP, "between records"),
    (signal.SIGINT, "while lines are being run"),
])
def test_a_signal_during_a_save_leaves_no_temporary_file_and_the_previous_target(tmp_path, signum, point):
    target = tmp_path / "runs.json"
    target.write_text("previous\n")
    # under nohup SIGHUP is inherited as ignored, and attncli leaves an ignored signal ignored: the child
    # gets the default disposition, as from a terminal
    proc = subprocess.Popen([*ATTNCLI, "run", "--file", "-", "--json", "--save", str(target)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    try:
        _wait_for(lambda: _tmp_files(tmp_path) or proc.poll() is not None)  # the save has begun
        if point != "before the first line":
            proc.stdin.write(b"the cat sat\n")
            proc.stdin.flush()
            assert json.loads(proc.stdout.readline())["line"] == 1
        if point == "while lines are being run":
            proc.stdin.write(b"the dog ran on the mat\n" * 3000)
            proc.stdin.flush()
            proc.stdout.readline()  # the next window has started
        assert proc.poll() is None
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signum, err
    assert b"Traceback" not in err
    expected = {signal.SIGTERM: b"attncli: terminated (SIGTERM)", signal.SIGHUP: b"attncli: hung up (SIGHUP)",
                signal.SIGINT: b"attncli: interrupted"}[signum]
    assert expected in err
    assert _tmp_files(tmp_path) == [] and target.read_text() == "previous\n"


def test_exit_codes_of_the_signals_are_in_the_enum():
    assert (ExitCode.INTERRUPTED, ExitCode.HANGUP, ExitCode.TERMINATED) == (130, 129, 143)


# --------------------------------------------------------------------------- item 7: an early reader


@pytest.mark.parametrize("view", [["--json"], []], ids=["json", "view"])
def test_a_reader_that_leaves_early_does_not_cost_the_save(tmp_path, view):
    lines = tmp_path / "in.txt"
    lines.write_text("".join(f"the cat sat on the mat {i}\n" for i in range(1, 301)))
    target = tmp_path / ("runs.json" if view else "runs.txt")
    target.write_text("previous")
    proc = subprocess.Popen([*ATTNCLI, "run", "--file", str(lines), *view, "--save", str(target)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline()
    proc.stdout.close()  # | head -1
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and b"Traceback" not in err and b"Exception ignored" not in err, err
    saved = target.read_text()
    if view:
        assert [json.loads(line)["line"] for line in saved.splitlines()] == list(range(1, 301))
    else:
        assert "line 300" in saved and "previous" not in saved
    assert _tmp_files(tmp_path) == []
