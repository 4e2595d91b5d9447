"""stdout and stderr as the CLI needs them: closed ones stood in for, failed writes made reportable.

* :class:`ClosedStream` stands in for a stream the process started without (``>&-``): writing
  to it is one clear error for stdout (exit 1) and nothing at all for stderr.
* :class:`CheckedStream` wraps the real ones: a stdout that fails (``> /dev/full``) raises an
  AttnError the boundary reports; a stderr that fails drops the message, not the exit code.
* :class:`WholeWrites` / :func:`whole_writes`: a text stream over a file descriptor whose every
  write is complete or an error. Python's own buffered writer can accept part of a large write
  (the rest of a 64 KiB tmpfs, ``ulimit -f``) and its text layer then drops the remainder without a
  word; here a short write is retried, so the next attempt reports ENOSPC or EFBIG.
* :class:`EncodedOutput`: what the Environment writes through, for a stream that is not UTF-8
  (``PYTHONIOENCODING=ascii``, ``LC_ALL=C``): JSON gets ``\\uXXXX`` escapes (the same document),
  views their ASCII glyphs and ``?`` for what the encoding lacks, instead of UnicodeEncodeError.

Imported at start-up by ``attncli.cli.main``, so it imports nothing heavy (no tempfile, no torch).
"""

from __future__ import annotations

import errno
import io
import os
import select

from attncli.errors import AttnError, ExitCode
from attncli.io.textsafe import ascii_json, encodable, is_utf8


class ClosedStream(io.TextIOBase):
    """What ``sys.stdout``/``sys.stderr`` become when the process started with them closed.

    For stdout (``strict``) every write is an error, exit 1: the output cannot be delivered.
    For stderr writes vanish: messages are lost, but exit codes keep their meaning.
    """

    def __init__(self, name: str, *, strict: bool) -> None:
        super().__init__()
        self.name = name
        self.strict = strict

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if self.strict and text:
            raise AttnError("closed, so the output cannot be written", where=self.name, kind="io",
                            code=ExitCode.FAILURE, hint=f"run without closing {self.name} (>&-)")
        return len(text)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        raise io.UnsupportedOperation(f"{self.name} is closed")


class CheckedStream:
    """The real stdout/stderr, with failed writes turned into something the CLI can report.

    stdout (``strict``): a write or flush that fails (``> /dev/full``, a disk that filled up)
    raises AttnError "cannot write the output: ..." (exit 1) instead of a bare OSError; a
    broken pipe stays a BrokenPipeError (the reader left: exit 0). stderr: a failed write is
    dropped, so that a message that cannot be shown does not change the exit code.
    Everything else (``isatty``, ``fileno``, ``encoding``, ``buffer``) is the real stream's.
    """

    def __init__(self, stream, name: str, *, strict: bool) -> None:
        self._stream = stream
        self._name = name
        self._strict = strict

    def __getattr__(self, attribute: str):
        return getattr(self._stream, attribute)

    def _failed(self, exc: OSError) -> AttnError:
        return AttnError(f"cannot write the output: {exc.strerror or exc}", where=self._name, kind="io",
                         code=ExitCode.FAILURE)

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            if self._strict:
                raise self._failed(exc) from None
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            if self._strict:
                raise self._failed(exc) from None


class WholeWrites(io.RawIOBase):
    """A raw stream on ``fd`` whose ``write`` writes everything or raises (a short write is retried)."""

    def __init__(self, fd: int, *, closefd: bool = True) -> None:
        super().__init__()
        self._fd = fd
        self._closefd = closefd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            try:
                written = os.write(self._fd, view[done:])
            except BlockingIOError:  # a non-blocking pipe that is full: wait until it takes more
                select.select([], [self._fd], [])
                continue
            if written == 0:
                raise OSError(errno.EIO, "the output took no bytes")
            done += written
        return done

    def close(self) -> None:
        if not self.closed and self._closefd:
            os.close(self._fd)
        super().close()


def whole_writes(fd: int, *, encoding: str = "utf-8", errors: str = "strict", line_buffering: bool = False,
                 closefd: bool = True, binary: bool = False):
    """A text (or binary) stream on ``fd`` built on :class:`WholeWrites`."""
    buffered = io.BufferedWriter(WholeWrites(fd, closefd=closefd))
    if binary:
        return buffered
    return io.TextIOWrapper(buffered, encoding=encoding, errors=errors, line_buffering=line_buffering)


def rebuilt_with_whole_writes(stream):
    """``stream`` (sys.stdout) again, on :class:`WholeWrites`; unchanged if it has no descriptor."""
    try:
        fd = stream.fileno()
        stream.flush()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return stream
    return whole_writes(fd, encoding=stream.encoding or "utf-8", errors=stream.errors or "strict",
                        line_buffering=bool(getattr(stream, "line_buffering", False)), closefd=False)


class EncodedOutput:
    """A text stream as the Environment writes to it: text the stream's encoding cannot take is adapted.

    On a UTF-8 stream (or one with no encoding, a StringIO) every write passes unchanged. On
    another (``ascii``, ``latin-1``): ``json=True`` escapes every non-ASCII character of the JSON
    (:func:`ascii_json`: the same document, pure ASCII, as JSON should be outside UTF-8); views
    get :func:`encodable` text. ``adapted`` is True once a character had to be shown as ``?``.
    """

    def __init__(self, stream, *, json: bool) -> None:
        self._stream = stream
        self.json = json
        self._encoding = getattr(stream, "encoding", None)
        self._utf8 = is_utf8(self._encoding)
        self.adapted = False

    def __getattr__(self, attribute: str):
        return getattr(self._stream, attribute)

    @property
    def encoding(self):
        return self._encoding

    def write(self, text: str) -> int:
        length = len(text)
        if not self._utf8 and text:
            if self.json:
                text = ascii_json(text)
            else:
                text, lost = encodable(text, self._encoding)
                self.adapted = self.adapted or lost
        self._stream.write(text)
        return length

    def flush(self) -> None:
        self._stream.flush()
