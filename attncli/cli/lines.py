"""``--file``: the lines of a file or of stdin, as (line number, text, error) for the batch writer."""

from __future__ import annotations

from typing import Iterator

from attncli.errors import AttnError


def read_lines(source: str) -> list[tuple[int, str | None, AttnError | None]]:
    """Every non-blank line, numbered from 1. Lines end at '\\n' (an '\\r' before it is dropped);
    a line that is not UTF-8 or longer than 4 MiB comes with an error naming it (and the byte column).

    Read by :func:`attncli.io.textio.iter_lines`: bounded chunks, never the whole input at once
    (``--file /dev/zero`` is refused after 64 MiB).
    """
    return list(stream_lines(source))


def stream_lines(source: str) -> Iterator[tuple[int, str | None, AttnError | None]]:
    """:func:`read_lines` one at a time, as they are read: for the batch writer (``total=None``)."""
    from attncli.io.textio import iter_lines

    for line in iter_lines(source):
        yield line.number, line.text, line.error
