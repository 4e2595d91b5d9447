"""``--file``: the lines of a file or of stdin, as (line number, text, error) for the batch writer."""

from __future__ import annotations

import sys
from pathlib import Path

from attncli.errors import AttnError


def read_lines(source: str) -> list[tuple[int, str | None, AttnError | None]]:
    """Every non-blank line, numbered from 1. Lines end at '\\n' (an '\\r' before it is dropped);
    a line that is not UTF-8 comes with an error naming its byte column."""
    label = "stdin" if source == "-" else source
    if source == "-":
        raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
    else:
        path = Path(source)
        if path.is_dir():
            raise AttnError("is a directory", where=f"--file {source}")
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise AttnError("no such file", where=f"--file {source}") from None
        except OSError as exc:
            raise AttnError(f"cannot read: {exc.strerror or exc}", where=f"--file {source}") from None
    out: list[tuple[int, str | None, AttnError | None]] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if line.endswith(b"\r"):
            line = line[:-1]
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            out.append((number, None, AttnError(f"not UTF-8 text (byte {exc.start + 1} of the line)",
                                                where=f"{label}:{number}", kind="text")))
            continue
        if text.strip():
            out.append((number, text, None))
    return out
