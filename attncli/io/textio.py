"""Reading input that may be hostile: bounded reads, one line at a time, decoded per line.

Nothing here reads a whole file into memory or trusts ``stat()``: ``/dev/zero``, ``/dev/urandom``,
a FIFO or a 10 GB file are read a chunk at a time and refused (or cut into error records) at a
fixed number of bytes.

* :func:`read_limited` reads at most ``limit + 1`` bytes of a file, device or stdin, then refuses.
* :func:`iter_lines` yields the lines of a file or of stdin (``'-'``) as :class:`Line` records:
  lines end at ``\\n`` (an optional ``\\r`` before it is dropped) and nowhere else, so form feeds,
  vertical tabs, U+0085 and U+2028 stay inside their line and line numbers match ``nl``/editors;
  each line is decoded on its own, so one bad line is one error record with its byte column
  and the good lines around it are kept; a line over ``max_line_bytes`` is one error record
  (the rest of it is skipped, never held); blank lines are skipped but counted.

Nothing here imports torch, Rich or Typer.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO, Iterator, NamedTuple

from attncli.errors import AttnError, option
from attncli.io.textsafe import visible

#: The longest line ``--file`` accepts: room for the 262,144-token limit at ~16 bytes a token.
MAX_LINE_BYTES = 4 * 1024 * 1024
#: A too-long line is skipped to its end, but not forever: ``/dev/zero`` has no end.
MAX_SKIP_FACTOR = 16
#: Bytes asked of the operating system per read.
CHUNK = 64 * 1024


class Line(NamedTuple):
    """One line of input: ``text`` when it decoded, else ``error`` (never both)."""

    number: int  #: 1-based, counting every line (blank ones too)
    text: str | None
    error: AttnError | None = None


def _size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024):,} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024:,} KiB"
    return f"{n:,} bytes"


def label_of(source: str) -> str:
    """How error lines name an input: ``stdin`` for ``'-'``, else the path (escaped)."""
    return "stdin" if source == "-" else visible(str(source))


def binary_of(stream) -> BinaryIO:
    """A text stream (stdin) as bytes: its ``buffer``, or the text itself encoded as UTF-8."""
    if stream is None:
        raise AttnError("stdin is closed", where=f"{option('file')} -", hint="pipe the text in, or give a file")
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        return buffer
    return _EncodedText(stream)


class _EncodedText:
    """A text stream without ``.buffer`` (a test's StringIO) read as UTF-8 bytes."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def read1(self, size: int) -> bytes:
        return self.stream.read(size).encode("utf-8", "surrogateescape")

    def close(self) -> None:
        pass


def open_binary(source: str | Path, where: str) -> BinaryIO:
    """A binary stream for a path or ``'-'``; every failure is one AttnError naming ``where``."""
    if str(source) == "-":
        return binary_of(sys.stdin)
    path = Path(source)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise AttnError("no such file", where=where) from None
    except IsADirectoryError:
        raise AttnError("is a directory", where=where, hint="give a text file") from None
    except OSError as exc:
        raise AttnError(f"cannot read: {exc.strerror or exc}", where=where) from None
    return handle


def _read(stream, size: int, where: str) -> bytes:
    try:
        read = getattr(stream, "read1", None) or stream.read
        return read(size)
    except OSError as exc:
        raise AttnError(f"cannot read: {exc.strerror or exc}", where=where) from None


def read_limited(source: str | Path, limit: int, where: str, *, what: str = "file") -> bytes:
    """At most ``limit`` bytes of a file, device, FIFO or stdin (``'-'``); more is refused (exit 2).

    Reads ``limit + 1`` bytes at the most, whatever ``stat()`` says, so ``/dev/zero`` costs
    ``limit`` bytes of memory and a few milliseconds.
    """
    stream = open_binary(source, where)
    try:
        parts, total = [], 0
        while total <= limit:
            chunk = _read(stream, min(CHUNK, limit + 1 - total), where)
            if not chunk:
                break
            parts.append(chunk)
            total += len(chunk)
    finally:
        if str(source) != "-":
            stream.close()
    if total > limit:
        raise AttnError(f"{what} is too large (more than {_size(limit)})", where=where)
    return b"".join(parts)


def decode_line(raw: bytes, where: str) -> tuple[str | None, AttnError | None]:
    """UTF-8 text of one line, or an error naming the 1-based byte column of the first bad byte."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        column = exc.start + 1
        return None, AttnError(f"not UTF-8 text (byte {column} of the line)", where=f"{where}:{column}",
                               kind="text", hint=f"byte 0x{raw[exc.start]:02x}; save the file as UTF-8")


def iter_lines(source: str | Path, *, max_line_bytes: int = MAX_LINE_BYTES, max_lines: int | None = None,
               stream: BinaryIO | None = None, blank: bool = False) -> Iterator[Line]:
    """The non-blank lines of a file or of stdin (``'-'``), read incrementally.

    Memory stays below ``max_line_bytes`` plus one read chunk. A line that does not decode
    or is too long becomes ``Line(number, None, error)`` (``where`` is ``FILE:LINE``, with
    ``:COLUMN`` for a bad byte) and reading goes on. An input that opens badly, fails to
    read, has more than ``max_lines`` lines (blank ones counted) or holds a line that does
    not end within ``MAX_SKIP_FACTOR x max_line_bytes`` raises AttnError instead: it is not
    a file of texts. ``stream`` replaces opening ``source`` (it is not closed).

    The input is opened at once (a missing file fails here, not at the first line); the
    lines come as they are read, so stdin is processed while it is still being written.
    """
    if max_line_bytes < 1:
        raise ValueError("max_line_bytes must be at least 1")
    label = label_of(source)
    handle = stream if stream is not None else open_binary(source, f"{option('file')} {label}")
    return _lines(handle, label, max_line_bytes, max_lines, close=stream is None and str(source) != "-", blank=blank)


def _lines(handle, label: str, max_line_bytes: int, max_lines: int | None, *, close: bool,
           blank: bool) -> Iterator[Line]:
    try:
        yield from _split(handle, label, max_line_bytes, max_lines, blank)
    finally:
        if close:
            handle.close()


def _split(handle, label: str, max_line_bytes: int, max_lines: int | None, blank: bool) -> Iterator[Line]:
    rest = bytearray()  # the start of a line that has not ended yet (at most max_line_bytes + 1)
    number = 0
    skipping = 0  # bytes of a too-long line dropped so far (0: not skipping)
    read_where = f"{option('file')} {label}"
    skip_limit = MAX_SKIP_FACTOR * max_line_bytes
    while True:
        chunk = _read(handle, CHUNK, read_where)
        if not chunk:
            break
        if skipping:
            end = chunk.find(b"\n")
            if end < 0:
                skipping += len(chunk)
                if skipping > skip_limit:
                    raise AttnError(f"line {number} does not end within {_size(skip_limit)}",
                                    where=f"{label}:{number}", kind="text", hint="is this a text file?")
                continue
            skipping = 0
            yield _too_long(number, label, max_line_bytes)  # the line has ended: its record now
            chunk = chunk[end + 1:]
        if b"\n" not in chunk:
            rest += chunk
            raws = []
        else:
            raws = chunk.split(b"\n")
            raws[0] = bytes(rest) + raws[0]
            rest = bytearray(raws.pop())
        for raw in raws:
            number += 1
            if max_lines is not None and number > max_lines:
                raise AttnError(f"more than {max_lines:,} lines", where=read_where, kind="text")
            line = _line(raw, number, label, max_line_bytes, blank)
            if line is not None:
                yield line
        if len(rest) > max_line_bytes + 1:  # + 1: room for the \r of a \r\n
            number += 1
            if max_lines is not None and number > max_lines:
                raise AttnError(f"more than {max_lines:,} lines", where=read_where, kind="text")
            skipping = len(rest)  # its record comes when it ends
            rest = bytearray()
    if skipping:  # a too-long last line, ended by the end of the input
        yield _too_long(number, label, max_line_bytes)
    elif rest:  # the last line needs no newline
        number += 1
        if max_lines is not None and number > max_lines:
            raise AttnError(f"more than {max_lines:,} lines", where=read_where, kind="text")
        line = _line(bytes(rest), number, label, max_line_bytes, blank)
        if line is not None:
            yield line


def _too_long(number: int, label: str, max_line_bytes: int) -> Line:
    return Line(number, None, AttnError(f"line is longer than {_size(max_line_bytes)}",
                                        where=f"{label}:{number}", kind="text",
                                        hint="split it into shorter lines"))


def _line(raw: bytes, number: int, label: str, max_line_bytes: int, blank: bool = False) -> Line | None:
    if raw[-1:] == b"\r":
        raw = raw[:-1]
    if len(raw) > max_line_bytes:
        return _too_long(number, label, max_line_bytes)
    if number == 1 and raw[:3] == b"\xef\xbb\xbf":
        raw = raw[3:]  # a UTF-8 byte order mark
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Line(number, None, decode_line(raw, f"{label}:{number}")[1])
    if (not text or text.isspace()) and not blank:
        return None
    return Line(number, text)
