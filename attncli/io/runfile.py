"""The JSON Lines file a corpus run writes as it goes (``--save FILE.jsonl``), and reading it back to resume.

The file is written in place, one whole record per ``write`` and flushed, so a run killed at any
moment (``SIGKILL`` included) leaves a header, complete records, and at most one cut-off last line.
:func:`read_run` reads such a file back: the header, the records, and the byte offset after the
last complete record; :class:`RunWriter` with ``resume`` cuts the file there (dropping a cut-off
line and a previous summary) and appends. Reading is bounded: a line longer than
:data:`MAX_RECORD_BYTES` is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

from attncli.errors import AttnError, ExitCode, option

#: The longest record read back (a text's scores: about 20 bytes a head and score).
MAX_RECORD_BYTES = 64 * 1024 * 1024


class SavedRun(NamedTuple):
    header: dict
    records: list[dict]  #: the per-line records, in file order (a summary record is left out)
    end: int  #: the byte offset after the last complete record (where appending resumes)


def _record(raw: str):
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _valid(record: dict) -> bool:
    if not isinstance(record.get("line"), int):
        return False
    if "error" in record:
        return isinstance(record["error"], dict)
    return isinstance(record.get("scores"), dict) and isinstance(record.get("tokens"), int)


def read_run(path: str | Path) -> SavedRun:
    """A saved run's header and records; AttnError if it is not one (or is damaged before its last line)."""
    path = Path(path)
    where = f"{option('save')} {path}"
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise AttnError("no such file to resume", where=where, hint=f"leave out {option('resume')} to start") from None
    except OSError as exc:
        raise AttnError(f"cannot read: {exc.strerror or exc}", where=where) from None
    header, records, end, offset, cut = None, [], 0, 0, False
    with handle:
        for raw in iter(lambda: handle.readline(MAX_RECORD_BYTES + 1), b""):
            offset += len(raw)
            if len(raw) > MAX_RECORD_BYTES:
                raise AttnError(f"a line is longer than {MAX_RECORD_BYTES // 2**20} MiB", where=where, kind="text")
            if cut:
                raise AttnError(f"line {len(records) + 2} is damaged (not the last line)", where=where,
                                kind="text", hint="start again without " + option("resume"))
            complete = raw.endswith(b"\n")
            record = _record(raw.decode("utf-8", "replace")) if complete else None
            if record is None:
                cut = True  # a cut-off last line (the run was killed while writing it): dropped
                continue
            if header is None:
                if not isinstance(record.get("header"), dict):
                    raise AttnError("not the JSON Lines of a heads run over a corpus (no header record)",
                                    where=where, kind="text", hint="start again without " + option("resume"))
                header = record["header"]
            elif "summary" in record:
                pass  # a finished run: its summary is made again from the records
            elif _valid(record):
                records.append(record)
            else:
                raise AttnError(f"line {len(records) + 2} is not a record of this run", where=where, kind="text")
            if "summary" not in record:
                end = offset
    if header is None:
        raise AttnError("the file holds no header record", where=where, kind="text",
                        hint="start again without " + option("resume"))
    return SavedRun(header, records, end)


class RunWriter:
    """Appends records to a run's file: ``resume_at`` cuts it there first; otherwise it starts empty."""

    def __init__(self, path: str | Path, *, resume_at: int | None = None) -> None:
        self.path = Path(path)
        where = f"{option('save')} {self.path}"
        try:
            if resume_at is None:
                self.handle = open(self.path, "wb")  # noqa: SIM115 - closed by close()
            else:
                self.handle = open(self.path, "r+b")  # noqa: SIM115
                self.handle.truncate(resume_at)
                self.handle.seek(resume_at)
        except OSError as exc:
            raise AttnError(f"cannot write: {exc.strerror or exc}", where=where) from None
        self.where = where

    def write(self, line: str) -> None:
        """One record (a JSON text without its newline), whole, then flushed to the operating system."""
        try:
            self.handle.write((line + "\n").encode("utf-8", "surrogatepass"))
            self.handle.flush()
        except OSError as exc:
            raise AttnError(f"cannot write: {exc.strerror or exc}", where=self.where, code=ExitCode.FAILURE) from None

    def close(self) -> None:
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
        except OSError:
            pass
        self.handle.close()


#: A part file given to ``heads merge`` (a summary document, or a run's JSON Lines) is read up to this size.
MAX_PART_BYTES = 64 * 1024 * 1024


def read_part(path: str) -> object:
    """What a part file holds: a ``--json`` document, or the last record of a run's JSON Lines."""
    from attncli.io.textio import iter_lines, label_of, read_limited

    where = label_of(path)
    if Path(path).suffix.lower() in (".jsonl", ".ndjson") or path == "-":
        last = None
        for line in iter_lines(path, max_line_bytes=MAX_RECORD_BYTES):
            if line.error is not None:
                raise line.error
            last = line
        if last is None:
            raise AttnError("the file is empty", where=where, kind="text")
        record = _record(last.text)
        if record is None:
            raise AttnError(f"line {last.number} is not valid JSON (was the run interrupted? finish it with "
                            f"{option('resume')})", where=where, kind="text")
        return record
    raw = read_limited(path, MAX_PART_BYTES, where, what="part file")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise AttnError("not a JSON document", where=where, kind="text") from None
