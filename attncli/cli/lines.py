"""``--file``: the lines of a file or of stdin, as (line number, text, error) for the batch writer,
joined into one text (``run --join``), or gathered for ``browse`` (bounded: never the whole input)."""

from __future__ import annotations

from typing import BinaryIO, Iterator

from attncli.errors import AttnError

#: ``run --file --join``: the joined text may hold at most this many bytes (the limit of one line).
MAX_JOIN_BYTES = 4 * 1024 * 1024
#: ``browse --file`` steps through at most this many lines (blank and failed lines counted).
MAX_BROWSE_LINES = 10_000
#: Skipped lines named one by one in browse's notes; the rest are counted.
MAX_NOTES = 20


def stream_lines(source: str, stdin: BinaryIO | None = None) -> Iterator[tuple[int, str | None, AttnError | None]]:
    """Every non-blank line, numbered from 1, one at a time as they are read (the batch writer).

    Lines end at '\\n' (an '\\r' before it is dropped); a line that is not UTF-8 or longer than
    4 MiB comes with an error naming it (and the byte column). Read by
    :func:`attncli.io.textio.iter_lines`: bounded chunks, never the whole input at once
    (``--file /dev/zero`` is refused after 64 MiB). ``stdin`` is what ``'-'`` reads.
    """
    from attncli.io.textio import iter_lines

    stream = stdin if source == "-" and stdin is not None else None
    for line in iter_lines(source, stream=stream):
        yield line.number, line.text, line.error


def join_lines(source: str, stdin: BinaryIO | None = None, *, limit: int = MAX_JOIN_BYTES) -> str:
    """``--join``: the lines as one text, refused past ``limit`` bytes (``yes | attncli run --file - --join``).

    A line that does not read fails the whole text (it is never dropped); so does an input with no text.
    """
    from attncli.io.textio import label_of

    parts: list[str] = []
    size = 0
    for _number, text, error in stream_lines(source, stdin):
        if error is not None:
            raise error
        size += len(text.encode("utf-8", "surrogatepass")) + 1
        if size > limit:
            raise AttnError(f"the joined text is longer than {limit // 2**20:,} MiB", where=f"--file {label_of(source)}",
                            kind="text", hint="drop --join to run the lines one by one")
        parts.append(text)
    text = " ".join(parts)
    if not text.strip():
        raise AttnError("the file holds no text", where=source, kind="text")
    return text


def browse_lines(source: str, *, max_lines: int = MAX_BROWSE_LINES) -> tuple[list[tuple[int, str]], list[str]]:
    """``browse --file``: (line number, text) of the lines that read, and a note for those skipped.

    A line that is not UTF-8 (or too long) is skipped with a note (the first MAX_NOTES named,
    the rest counted); an input of more than ``max_lines`` lines is refused (``/dev/urandom``).
    If no line reads, the first failure is raised.
    """
    from attncli.io.textio import iter_lines

    lines: list[tuple[int, str]] = []
    skipped: list[AttnError] = []
    for line in iter_lines(source, max_lines=max_lines):
        if line.error is not None:
            skipped.append(line.error)
        else:
            lines.append((line.number, line.text))
    if not lines and skipped:
        raise skipped[0]
    notes = [f"skipped {error.line()}" for error in skipped[:MAX_NOTES]]
    if len(skipped) > MAX_NOTES:
        notes.append(f"skipped {len(skipped) - MAX_NOTES:,} more lines that do not read")
    return lines, notes
