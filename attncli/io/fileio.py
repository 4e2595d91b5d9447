"""Writing output that is never half there: atomic files, a checked target, a spooled document.

* :func:`check_writable` before any output: the folder exists and takes a new file.
* :func:`atomic_write` / :func:`atomic_open`: a temporary file in the target's folder, fsync,
  ``os.replace``; on any failure (a full disk, Ctrl-C, an exception in the writer) the
  temporary file is removed and the target is left as it was.
* :class:`SpooledOutput`: a document is written here first (memory up to a few MiB, then an
  anonymous temporary file) and copied to stdout only once it is complete, so an interrupted
  ``--json`` run leaves stdout empty.

Nothing here imports torch, Rich or Typer.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import IO, Callable, Iterator

from attncli.errors import AttnError, ExitCode, option

#: Write errors that are the machine's state, not the user's choice of path: exit 1, not 2.
RUNTIME_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG}
PREFIX = ".attncli-"


def write_error(path: str | Path, exc: OSError, where: str | None) -> AttnError:
    """One AttnError for a failed write: exit 1 for a full disk or an I/O error, 2 otherwise."""
    runtime = exc.errno in RUNTIME_ERRNOS
    return AttnError(f"cannot write {str(path)!r}: {exc.strerror or exc}", where=where, kind="io",
                     code=ExitCode.FAILURE if runtime else ExitCode.USAGE,
                     hint="free some space, or write somewhere else" if runtime else None)


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _new_file_mode() -> int:
    """rw for whom the umask allows, as open() would give (mkstemp makes files private)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def check_writable(path: str | Path, where: str | None = None) -> Path:
    """Refuse, before any output, a target that cannot be written (exit 2).

    The folder must exist, be a folder, and take a new file (tried for real: permissions,
    a read-only mount and root's rights are then all accounted for); the target must not
    be a folder. Returns the path.
    """
    path = Path(path)
    folder = _folder(path)
    if str(path) in ("", ".") or path.is_dir():
        raise AttnError(f"{str(path)!r} is a directory", where=where, kind="io", hint="give a file name")
    if not folder.exists():
        raise AttnError(f"folder {str(folder)!r} does not exist", where=where, kind="io")
    if not folder.is_dir():
        raise AttnError(f"{str(folder)!r} is not a folder", where=where, kind="io")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=PREFIX + "check-")
    except OSError as exc:
        raise AttnError(f"cannot write in folder {str(folder)!r}: {exc.strerror or exc}",
                        where=where, kind="io") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return path


@contextlib.contextmanager
def atomic_open(path: str | Path, *, where: str | None = None, binary: bool = False,
                overwrite: bool = True, encoding: str = "utf-8") -> Iterator[IO]:
    """A file handle whose content replaces ``path`` only if the ``with`` block completes.

    The temporary file sits in the target's folder (so ``os.replace`` is atomic), is fsynced
    before the rename, and is removed on any failure, KeyboardInterrupt included. OSErrors
    (other than a broken pipe) become an AttnError naming ``where``. ``overwrite=False``
    refuses an existing target, checked at the rename itself (no race).
    """
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))  # write through the link, keep the link
    folder = _folder(path)
    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = _new_file_mode()
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=PREFIX, suffix=".tmp")
    except OSError as exc:
        raise write_error(path, exc, where) from None
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path, where)
        _sync_folder(folder)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
            raise write_error(path, exc, where) from None
        raise


def _link_new(tmp: str, path: Path, where: str | None) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise AttnError("already exists", where=where or str(path), kind="io",
                        hint=f"use {option('force')} to overwrite it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        if path.exists():  # a file system without hard links
            raise AttnError("already exists", where=where or str(path), kind="io",
                            hint=f"use {option('force')} to overwrite it") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every system opens folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write_fn: Callable[[IO], object], *, where: str | None = None,
                 binary: bool = False, overwrite: bool = True) -> None:
    """``write_fn(handle)`` fills a temporary file that then replaces ``path`` (see :func:`atomic_open`)."""
    with atomic_open(path, where=where, binary=binary, overwrite=overwrite) as handle:
        write_fn(handle)


class SpooledOutput:
    """A text document held until it is complete: memory up to ``max_memory`` bytes, then disk.

    ``write`` it like a stream; ``commit(stream)`` copies it out (in 1 MiB blocks) and flushes;
    closing without committing discards it. The disk part is an anonymous temporary file
    (already unlinked), so nothing is left behind even if the process is killed.

        with SpooledOutput() as spool:
            stream_json(doc, spool.write)
            spool.write("\\n")
            spool.commit(sys.stdout)
    """

    def __init__(self, max_memory: int = 8 * 1024 * 1024, *, folder: str | None = None) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=max_memory, mode="w+", encoding="utf-8",
                                                   dir=folder)
        self.committed = False

    def write(self, text: str) -> int:
        try:
            return self._file.write(text)
        except OSError as exc:
            raise write_error("a temporary file", exc, "output") from None

    @property
    def on_disk(self) -> bool:
        """True once the document outgrew memory and moved to a temporary file."""
        return bool(getattr(self._file, "_rolled", False))

    def commit(self, stream: IO[str], *, hold_interrupts: bool = True) -> None:
        """Copy the whole document to ``stream`` and flush it.

        With ``hold_interrupts`` a Ctrl-C that arrives during the copy waits until the copy is
        done (it is then raised as usual, exit 130): the document is never cut in the middle.
        """
        self._file.flush()
        self._file.seek(0)
        with _sigint_held() if hold_interrupts else contextlib.nullcontext():
            shutil.copyfileobj(self._file, stream, 1024 * 1024)
            stream.flush()
        self.committed = True

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "SpooledOutput":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold Ctrl-C during the block and deliver it afterwards (main thread only).

    Blocking the signal with a mask is not enough: torch's threads would take it. The Python
    handler always runs in the main thread, so it is swapped for one that only takes note.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    try:
        old = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if caught:
        if callable(old):
            old(signal.SIGINT, None)  # the default handler raises KeyboardInterrupt
        elif old != signal.SIG_IGN:
            raise KeyboardInterrupt
