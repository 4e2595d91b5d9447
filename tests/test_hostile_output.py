"""Hostile output (issue 13): atomic writes, a target checked before any output, spooled
documents, closed and failing stdout/stderr, readers that leave early, Ctrl-C.

Tests that need a real full or read-only disk mount a tiny tmpfs and are skipped where that
is not allowed; the stream tests run ``python -m attncli`` in a shell (``>&-``, ``> /dev/full``).
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import cli

from attncli.errors import AttnError, ExitCode
from attncli.io.fileio import SpooledOutput, atomic_write, check_writable
from attncli.io.streams import ClosedStream


# --------------------------------------------------------------------------- #11, #12 atomic writes


def test_atomic_write_replaces_keeps_mode_and_writes_through_links(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write(target, lambda f: f.write("new"))
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o640
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    atomic_write(link, lambda f: f.write("via link"))
    assert link.is_symlink() and target.read_text() == "via link"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.txt", "out.txt"]


@pytest.mark.parametrize("failure, code", [
    (OSError(errno.ENOSPC, "No space left on device"), ExitCode.FAILURE),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), ExitCode.FAILURE),
    (OSError(errno.EACCES, "Permission denied"), ExitCode.USAGE),
])
def test_a_failing_writer_leaves_no_temporary_file_and_the_old_content(tmp_path, failure, code):
    target = tmp_path / "out.json"
    target.write_text("before")

    def writer(handle):
        handle.write("half a document")
        raise failure

    with pytest.raises(AttnError) as caught:
        atomic_write(target, writer, where="--save")
    assert caught.value.code == code and failure.strerror in caught.value.message
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"] and target.read_text() == "before"


def test_interrupt_and_refused_overwrite_leave_nothing_behind(tmp_path):
    def interrupted(handle):
        handle.write("x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "a.txt", interrupted)
    (tmp_path / "b.txt").write_text("mine")
    with pytest.raises(AttnError, match="already exists"):
        atomic_write(tmp_path / "b.txt", lambda f: f.write("theirs"), overwrite=False)
    assert [p.name for p in tmp_path.iterdir()] == ["b.txt"] and (tmp_path / "b.txt").read_text() == "mine"


def test_check_writable_refuses_before_any_output(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    (tmp_path / "dir.svg").mkdir()
    for target, message in ((tmp_path / "nodir" / "x.svg", "does not exist"), (tmp_path / "file" / "x.svg",
                            "is not a folder"), (tmp_path / "dir.svg", "is a directory")):
        with pytest.raises(AttnError, match=message):
            check_writable(target, "--save")
    import attncli.io.fileio as fileio

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(fileio.tempfile, "mkstemp", read_only)  # root ignores chmod; a mount does not
    out = cli("run", "the cat", "--save", str(tmp_path / "view.svg"), "--json")
    assert out.code == 2 and out.stdout == "" and "Read-only file system" in out.stderr


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a tiny tmpfs (root only); yields a function taking mount options."""
    mounted = []

    def mount(options: str):
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("mounting a tmpfs needs root")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _fill(folder):
    with open(folder / "filler", "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
        except OSError:
            pass


def test_config_init_on_a_really_full_disk_leaves_no_file(tmpfs):
    disk = tmpfs("size=64k")
    _fill(disk)
    out = cli("config", "init", str(disk / "attncli.yaml"))
    assert out.code == 1 and "No space left on device" in out.stderr, out
    assert [p.name for p in disk.iterdir()] == ["filler"]
    (disk / "filler").unlink()
    assert cli("config", "init", str(disk / "attncli.yaml")).code == 0  # the next try is not blocked


def test_save_into_a_read_only_mount_prints_nothing(tmpfs):
    folder = tmpfs("ro,size=64k")
    for args in (["run", "the cat", "--json"], ["run", "the cat"], ["config", "show", "bank"]):
        out = cli(*args, "--save", str(folder / "out.html"))
        assert out.code == 2 and out.stdout == "" and "Read-only file system" in out.stderr, out


def test_save_on_a_full_disk_leaves_no_temporary_file(tmpfs, tmp_path):
    disk = tmpfs("size=64k")
    _fill(disk)
    texts = tmp_path / "t.txt"
    texts.write_text("the cat\nthe dog\n")
    for args in (["run", "the cat", "--save", str(disk / "view.svg")],
                 ["run", "the cat", "--json", "--save", str(disk / "run.json")],
                 ["run", "--file", str(texts), "--json", "--save", str(disk / "runs.json")]):
        out = cli(*args)
        assert out.code == 1 and "No space left on device" in out.stderr, out
        assert [p.name for p in disk.iterdir()] == ["filler"], out


def test_file_size_limit_is_a_real_write_failure_too(tmp_path):
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000)); "
            "sys.argv = ['attncli', 'config', 'init', sys.argv[1]]; from attncli.cli import main; main()")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c.yaml")], capture_output=True, text=True)
    assert out.returncode == 1 and "File too large" in out.stderr and list(tmp_path.iterdir()) == [], out


# --------------------------------------------------------------------------- #18 spooled documents


def test_spooled_output_holds_the_document_until_commit(tmp_path):
    sink = io.StringIO()
    with SpooledOutput(max_memory=1000, folder=str(tmp_path)) as spool:
        spool.write("x" * 999)
        assert not spool.on_disk
        spool.write("é" * 5000)
        assert spool.on_disk and sink.getvalue() == ""
        spool.commit(sink)
    assert sink.getvalue() == "x" * 999 + "é" * 5000 and list(tmp_path.iterdir()) == []


def test_an_interrupted_document_never_reaches_stdout(tmp_path):
    sink = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        with SpooledOutput(max_memory=10, folder=str(tmp_path)) as spool:
            spool.write('{"weights": [[0.5, ')
            raise KeyboardInterrupt
    assert sink.getvalue() == "" and list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- #15, #18, #19 real streams


def _shell(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script, "bash", sys.executable, "-m", "attncli", *args],
                          capture_output=True, text=True, timeout=120)


def test_closed_stdout_and_closed_stderr():
    out = _shell('"$@" >&-', "config", "show", "bank", "--json")
    assert out.returncode == 1 and "stdout: closed, so the output cannot be written" in out.stderr, out
    assert "AttributeError" not in out.stderr
    out = _shell('"$@" >&-', "run", "the cat", "--json")  # the case (imports torch)
    assert out.returncode == 1 and "stdout: closed" in out.stderr and "Traceback" not in out.stderr, out
    for args in (["run", "a", "--heads", "abc"], ["run", ""], ["config", "validate", "nosuch.yaml"]):
        assert _shell('"$@" 2>&-', *args).returncode == 2, args
    assert _shell('"$@" 2>&- >&-', "--version").returncode == 1


@pytest.mark.parametrize("args", [["config", "show", "bank", "--json"], ["config", "init", "-"], ["vocab", "bank"]])
def test_a_full_stdout_is_a_runtime_failure(args):
    out = _shell('"$@" > /dev/full', *args)
    assert out.returncode == 1 and "Exception ignored" not in out.stderr, out
    assert out.stderr.startswith("attncli: error: stdout: cannot write the output: No space left on device"), out
    assert _shell('"$@" 2> /dev/full', "run", "a", "--heads", "x").returncode == 2  # a lost message keeps its code


@pytest.mark.parametrize("view", [[], ["--json"]])
def test_a_reader_that_leaves_early_is_exit_0_in_both_views(tmp_path, view):
    path = tmp_path / "big.txt"
    path.write_text("the cat sat on the mat\n" * 3000)
    proc = subprocess.Popen([sys.executable, "-m", "attncli", "run", "--file", str(path), *view],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and b"Traceback" not in err and b"Exception ignored" not in err, err


def test_ctrl_c_is_exit_130_and_leaves_no_partial_record():
    proc = subprocess.Popen([sys.executable, "-m", "attncli", "run", "--file", "-", "--json"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(b"the cat\n")
    proc.stdin.flush()
    first = proc.stdout.readline()  # its record printed: started, and waiting for more input (no fixed sleep:
    proc.send_signal(signal.SIGINT)  # on a loaded machine the start alone can take longer than any guess)
    out, err = proc.communicate(timeout=60)
    out = first + out
    assert proc.returncode == ExitCode.INTERRUPTED == 130 and b"interrupted" in err and b"Traceback" not in err
    assert out == b"" or out.endswith(b"\n") and all(json.loads(line) for line in out.splitlines())


def test_stdin_lines_are_run_as_they_arrive():
    import select

    proc = subprocess.Popen([sys.executable, "-m", "attncli", "run", "--file", "-", "--json"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"the cat\n\xff\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 60)  # stdin is still open
        assert ready and json.loads(proc.stdout.readline())["line"] == 1
        proc.stdin.write(b"the dog\n")
    finally:
        proc.stdin.close()
    rest = [json.loads(line) for line in proc.stdout.read().splitlines()]
    assert proc.wait(timeout=60) == 2 and [r["line"] for r in rest] == [2, 3] and "error" in rest[0]


def test_ctrl_c_during_the_final_copy_waits_for_the_copy():
    class Sink(io.StringIO):
        def write(self, text):
            if not self.getvalue():
                os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of the copy
            return super().write(text)

    sink = Sink()
    with SpooledOutput(max_memory=100) as spool:
        spool.write("x" * 3_000_000)
        with pytest.raises(KeyboardInterrupt):
            spool.commit(sink)
    assert sink.getvalue() == "x" * 3_000_000


def test_closed_stream_stand_in():
    with pytest.raises(AttnError) as caught:
        ClosedStream("stdout", strict=True).write("x")
    assert caught.value.code == ExitCode.FAILURE
    assert ClosedStream("stderr", strict=False).write("gone") == 4
