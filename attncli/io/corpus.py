"""A corpus: one text a line, or JSON Lines with the text in a field; every line accounted for.

Plain text unless the file's name ends in ``.jsonl`` or ``.ndjson`` or a field is named (``field``):
then every line is a JSON object and the text is its ``field`` (default ``"text"``). Each line is a
:class:`CorpusLine` with its 1-based number: a text, or an error (an empty or blank line, a line
that is not UTF-8 or is longer than :data:`attncli.io.textio.MAX_LINE_BYTES`, invalid JSON, no such
field, a field that is not a string): a bad line is never skipped. Read a chunk at a time
(:func:`attncli.io.textio.iter_lines`); nothing holds the whole input.

Shards: ``shard = (I, N)`` keeps the lines whose number n has ``(n - 1) % N == I - 1`` (I from 1 to N),
so the N shards of a corpus are disjoint and together hold every line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import BinaryIO, Iterator, NamedTuple

from attncli.errors import AttnError, option

JSONL_SUFFIXES = (".jsonl", ".ndjson")
DEFAULT_FIELD = "text"


class CorpusLine(NamedTuple):
    number: int  #: 1-based line number in the input
    text: str | None
    error: AttnError | None = None


def is_jsonl(source: str | Path, field: str | None) -> bool:
    """The rule: JSON Lines when a field is named or the name ends in .jsonl / .ndjson."""
    return field is not None or Path(str(source)).suffix.lower() in JSONL_SUFFIXES


def parse_shard(value: str | None) -> tuple[int, int] | None:
    """``I/N`` -> (I, N), 1 <= I <= N."""
    if value is None:
        return None
    parts = value.split("/")
    if len(parts) != 2 or not all(p.strip().isascii() and p.strip().isdigit() for p in parts):
        raise AttnError(f"expected I/N (e.g. 1/4), got {value!r}", param="shard")
    index, count = int(parts[0]), int(parts[1])
    if count < 1 or not 1 <= index <= count:
        raise AttnError(f"I must be between 1 and N, got {value!r}", param="shard")
    return index, count


def in_shard(number: int, shard: tuple[int, int] | None) -> bool:
    return shard is None or (number - 1) % shard[1] == shard[0] - 1


def _from_json(text: str, field: str, where: str) -> tuple[str | None, AttnError | None]:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        return None, AttnError(f"not valid JSON: {message}", where=where, kind="text")
    if not isinstance(value, dict):
        return None, AttnError(f"not a JSON object (a {type(value).__name__})", where=where, kind="text")
    if field not in value:
        return None, AttnError(f"no field {field!r}", where=where, kind="text",
                               hint=f"name the text's field with {option('field')}")
    if not isinstance(value[field], str):
        return None, AttnError(f"field {field!r} is not a string", where=where, kind="text")
    return value[field], None


def read_corpus(source: str | Path, *, field: str | None = None, shard: tuple[int, int] | None = None,
                stream: BinaryIO | None = None) -> Iterator[CorpusLine]:
    """The lines of ``source`` in the shard, as texts or errors (see the module's docstring)."""
    from attncli.io.textio import iter_lines, label_of

    jsonl = is_jsonl(source, field)
    name = field or DEFAULT_FIELD
    label = label_of(str(source))
    lines = iter_lines(source, stream=stream, blank=True)

    def generate():
        for line in lines:  # blank=True: every line comes, numbered
            if not in_shard(line.number, shard):
                continue
            where = f"{label}:{line.number}"
            if line.error is not None:
                yield CorpusLine(line.number, None, line.error)
                continue
            if not line.text or line.text.isspace():
                error = AttnError("empty line" if not line.text else "line holds only whitespace", where=where,
                                  kind="text")
                yield CorpusLine(line.number, None, error)
                continue
            text, error = (line.text, None) if not jsonl else _from_json(line.text, name, where)
            if error is None and (not text or text.isspace()):
                error = AttnError("empty text" if not text else "text holds only whitespace", where=where,
                                  kind="text")
            yield CorpusLine(line.number, None if error else text, error)

    return generate()


def count_lines(source: str | Path) -> int | None:
    """The number of lines of a regular file (for a progress bar), None for stdin or anything else."""
    from attncli.io.textio import CHUNK

    if str(source) == "-":
        return None
    path = Path(source)
    try:
        if not path.is_file():
            return None
        count, last = 0, b"\n"
        with open(path, "rb") as handle:
            while chunk := handle.read(16 * CHUNK):
                count += chunk.count(b"\n")
                last = chunk[-1:]
        return count + (last != b"\n")
    except OSError:
        return None
