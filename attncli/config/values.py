"""Typed reading of config values: each getter returns the value, or None after recording a problem.

:class:`Checker` collects every problem it finds (``attncli config validate`` prints them all).
A problem about a value set on the command line names the option (``--heads``), not the key.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from attncli.config.reader import Document, Path_, dotted, fmt_where
from attncli.core.dtypes import DTYPES, canonical_dtype
from attncli.errors import AttnError, ExitCode

def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to about ``limit`` characters (a hostile value can be megabytes long)."""
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 4000 else f"<{value.bit_length()}-bit integer>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__



class Checker:
    """Problems found in one Document (plus command-line overrides), with their places."""

    def __init__(self, doc: Document, overrides: dict[Path_, tuple[Any, str]] | None = None):
        self.doc = doc
        self.label = doc.filename or "<config>"
        self.overrides = overrides or {}
        self.problems: list[AttnError] = []

    # -- reporting
    def where(self, path: Path_) -> str:
        # An option that set this key, or a parent of it, is named instead of the key.
        for cut in range(len(path), 0, -1):
            if path[:cut] in self.overrides:
                return self.overrides[path[:cut]][1]
        if self.doc.filename is None:
            return dotted(path)
        return fmt_where(self.label, self.doc.marks, path)

    def param(self, path: Path_) -> str | None:
        """The API parameter that set this key (an override's third item), if one did."""
        for cut in range(len(path), 0, -1):
            entry = self.overrides.get(path[:cut])
            if entry is not None:
                return entry[2] if len(entry) > 2 else None
        return None

    def problem(self, path: Path_, message: str, hint: str | None = None) -> None:
        self.problems.append(AttnError(message, where=self.where(path), hint=hint, kind="config",
                                       param=self.param(path)))

    def unknown_keys(self, mapping: dict, allowed: tuple, path: Path_) -> None:
        for key in mapping:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else "allowed: " + ", ".join(allowed)
                self.problem(path + (key,), f"unknown key {_show(key)}", hint)

    # -- typed getters (return None after recording a problem)
    def boolean(self, value: Any, path: Path_) -> bool | None:
        if isinstance(value, bool):
            return value
        self.problem(path, f"expected true or false, got {_type_name(value)} ({_show(value)})")
        return None

    def number(self, value: Any, path: Path_, *, positive: bool = False) -> float | None:
        if not _is_number(value):
            hint = None
            if isinstance(value, str):
                try:
                    float(value)
                    hint = "YAML reads this as text: write 1.0e+3 rather than 1e3"
                except ValueError:
                    pass
            self.problem(path, f"expected a number, got {_type_name(value)} ({_show(value)})", hint)
            return None
        value = self.finite(value, path)
        if value is None:
            return None
        if positive and value <= 0:
            self.problem(path, f"must be greater than 0, got {value:g}")
            return None
        return value

    def finite(self, value: int | float, path: Path_) -> float | None:
        """A number as a finite float; an integer beyond the float range is a problem too."""
        try:
            number = float(value)
        except OverflowError:
            self.problem(path, f"expected a finite number, got an integer too large for a float ({value.bit_length():,} bits)",
                         "NaN and infinite values are not allowed")
            return None
        if not math.isfinite(number):
            self.problem(path, f"expected a finite number, got {number}", "NaN and infinite values are not allowed")
            return None
        return number

    def integer(self, value: Any, path: Path_, *, minimum: int) -> int | None:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            self.problem(path, f"expected a whole number, got {_type_name(value)} ({_show(value)})")
            return None
        if value < minimum:
            self.problem(path, f"must be at least {minimum}, got {value}")
            return None
        if value >= 2**63:
            self.problem(path, f"is too large ({_show(value)})", f"the limit is {2**63 - 1:,}")
            return None
        return value

    def choice(self, value: Any, path: Path_, choices: tuple) -> str | None:
        if value is None and "none" in choices:
            return "none"
        if not isinstance(value, str):
            self.problem(path, f"expected one of {', '.join(choices)}; got {_type_name(value)} ({_show(value)})")
            return None
        key = value.strip().lower()
        if key in choices:
            return key
        close = difflib.get_close_matches(key, choices, n=1)
        hint = f"did you mean {close[0]!r}?" if close else None
        self.problem(path, f"unknown value {_show(value)}; expected one of {', '.join(choices)}", hint)
        return None

    def dtype(self, value: Any, path: Path_) -> str | None:
        if not isinstance(value, str):
            return self.choice(value, path, DTYPES)  # records "expected one of ...; got ..."
        try:
            return canonical_dtype(value, self.where(path), kind="config")
        except AttnError as exc:
            self.problems.append(exc)
            return None

    def vector(self, value: Any, path: Path_, *, length: int | None = None) -> list[float] | None:
        if not isinstance(value, list):
            self.problem(path, f"expected a list of numbers, got {_type_name(value)}")
            return None
        if not value:
            self.problem(path, "empty vector")
            return None
        out = []
        for i, item in enumerate(value):
            if not _is_number(item):
                self.problem(path + (i,), f"expected a number, got {_type_name(item)} ({_show(item)})")
                return None
            number = self.finite(item, path + (i,))
            if number is None:
                return None
            out.append(number)
        if length is not None and len(out) != length:
            self.problem(path, f"expected {length} numbers, got {len(out)}",
                         "every vector must have the same length")
            return None
        return out

    def matrix(self, value: Any, path: Path_, *, rows: int | None = None, cols: int | None = None,
               what: str = "rows") -> list[list[float]] | None:
        if not isinstance(value, list):
            self.problem(path, f"expected a matrix (a list of rows), got {_type_name(value)}")
            return None
        if not value:
            self.problem(path, "empty matrix")
            return None
        if rows is not None and len(value) != rows:
            self.problem(path, f"expected {rows} {what}, got {len(value)}")
            return None
        out: list[list[float]] = []
        width = cols
        for i, row in enumerate(value):
            vec = self.vector(row, path + (i,), length=width)
            if vec is None:
                return None
            width = len(vec)
            out.append(vec)
        return out

    def failure(self) -> AttnError:
        first = self.problems[0]
        rest = [p.line() for p in self.problems[1:]]
        return AttnError(first.message, where=first.where, hint=first.hint, kind="config",
                         code=ExitCode.USAGE, details=rest, param=first.param)

