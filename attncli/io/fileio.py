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
import stat
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterator

from attncli.errors import AttnError, ExitCode, option
from attncli.io.signals import held
from attncli.io.streams import whole_writes

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


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def check_target(path: str | Path, where: str | None = None) -> Path | None:
    """Refuse (exit 2) a target that is neither a regular file nor a new name; follow a symbolic link.

    A FIFO, a device node, a socket or a folder is never replaced or written to (the rename
    would turn a FIFO into a file, a link to ``/dev/sda`` would replace the node). A symbolic
    link is written through: returns the file its target names (a regular file, or a new name),
    so that the caller can say what will be written; None for anything else.
    """
    path = Path(path)
    name = str(path)
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):  # a new name (its folder is checked by the caller)
        return None
    except OSError as exc:
        raise AttnError(f"cannot check {name!r}: {exc.strerror or exc}", where=where, kind="io") from None
    target = None
    if stat.S_ISLNK(info.st_mode):
        target = Path(os.path.realpath(path))
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return target  # a dangling link: its target is a new name
        except OSError as exc:
            raise AttnError(f"{name!r} is a symbolic link that cannot be followed: {exc.strerror or exc}",
                            where=where, kind="io") from None
    if not stat.S_ISREG(info.st_mode):
        kind = next((what for test, what in _KINDS if test(info.st_mode)), "not a file")
        if target is not None:
            what = f"{name!r} links to {str(target)!r}, {kind}"
        else:
            what = f"is {kind}" if where == name else f"{name!r} is {kind}"
        raise AttnError(f"{what}, not a regular file", where=where, kind="io",
                        hint="attncli writes only regular files and new names; give another name")
    return target


def check_writable(path: str | Path, where: str | None = None) -> Path:
    """Refuse, before any output, a target that cannot be written (exit 2).

    The target must be a regular file or a new name (:func:`check_target`: never a FIFO, a
    device or a folder; a symbolic link is checked at its target). Its folder must exist, be a
    folder, and take a new file (tried for real: permissions, a read-only mount and root's
    rights are then all accounted for). Returns the path.
    """
    path = Path(path)
    if str(path) in ("", ".") or (path.is_dir() and not path.is_symlink()):
        raise AttnError(f"{str(path)!r} is a directory", where=where, kind="io", hint="give a file name")
    target = check_target(path, where) or path
    folder = _folder(target)
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
    refuses an existing target, checked at the rename itself (no race). A target that is not
    a regular file or a new name (a FIFO, a device) is refused (:func:`check_target`); a
    symbolic link is written through (the link stays).
    """
    path = Path(path)
    path = check_target(path, where) or path
    folder = _folder(path)
    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = _new_file_mode()
    tmp = None
    try:
        try:
            with held():  # a signal between creating the file and knowing its name would leave it behind
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=PREFIX, suffix=".tmp")
        except OSError as exc:
            raise write_error(path, exc, where) from None
        # every write complete or an error: Python's own buffered writer can drop the rest of a short write
        with whole_writes(fd, binary=binary, encoding=encoding) as handle:
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
        if tmp is not None:
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
    """A text document held until it is complete: memory up to ``max_memory`` characters, then disk.

    ``write`` it like a stream; ``commit(stream)`` copies it out (in 1 MiB blocks) and flushes;
    closing without committing discards it. The disk part is an anonymous temporary file
    (already unlinked, so nothing is left behind even if the process is killed), written
    through :func:`whole_writes`: a disk that fills up is an error, never a shorter document.

        with SpooledOutput() as spool:
            stream_json(doc, spool.write)
            spool.write("\\n")
            spool.commit(sys.stdout)
    """

    def __init__(self, max_memory: int = 8 * 1024 * 1024, *, folder: str | None = None) -> None:
        self._max = max_memory
        self._folder = folder
        self._parts: list[str] = []
        self._size = 0
        self._disk = None  # the text stream of the temporary file, once the document outgrew memory
        self.committed = False

    def write(self, text: str) -> int:
        try:
            if self._disk is not None:
                self._disk.write(text)
            else:
                self._parts.append(text)
                self._size += len(text)
                if self._size > self._max:
                    self._roll()
        except OSError as exc:
            raise write_error("a temporary file", exc, "output") from None
        return len(text)

    def _roll(self) -> None:
        with held():  # an unlinked file: nothing to leave behind, but the descriptor must not leak
            handle = tempfile.TemporaryFile(dir=self._folder)
            fd = os.dup(handle.fileno())
            handle.close()
        self._disk = whole_writes(fd, encoding="utf-8")
        for part in self._parts:
            self._disk.write(part)
        self._parts, self._size = [], 0

    @property
    def on_disk(self) -> bool:
        """True once the document outgrew memory and moved to a temporary file."""
        return self._disk is not None

    def commit(self, stream: IO[str], *, hold_interrupts: bool = True) -> None:
        """Copy the whole document to ``stream`` and flush it.

        With ``hold_interrupts`` a Ctrl-C (or SIGTERM, SIGHUP) that arrives during the copy waits
        until the copy is done (it is then raised as usual, exit 130): the document is never cut
        in the middle.
        """
        source = None
        if self._disk is not None:
            try:
                self._disk.flush()
            except OSError as exc:
                raise write_error("a temporary file", exc, "output") from None
            fd = os.dup(self._disk.fileno())
            os.lseek(fd, 0, os.SEEK_SET)
            source = open(fd, encoding="utf-8")  # noqa: SIM115 - closed below
        try:
            with held() if hold_interrupts else contextlib.nullcontext():
                if source is not None:
                    shutil.copyfileobj(source, stream, 1024 * 1024)
                else:
                    text = "".join(self._parts)
                    for start in range(0, len(text), 1024 * 1024):
                        stream.write(text[start:start + 1024 * 1024])
                stream.flush()
        finally:
            if source is not None:
                source.close()
        self.committed = True

    def close(self) -> None:
        if self._disk is not None:
            with contextlib.suppress(OSError):
                self._disk.close()
            self._disk = None
        self._parts = []

    def __enter__(self) -> "SpooledOutput":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
