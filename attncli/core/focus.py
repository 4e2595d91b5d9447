"""One grammar for ``--focus``, shared by run, compare, explain and browse.

A value is one of:

* ``INDEX``: ASCII digits, a 0-based token position (``7``);
* ``TOKEN@K``: the K-th occurrence of TOKEN (1-based, ASCII digits), compared case-insensitively;
* ``TOKEN``: every occurrence of TOKEN (run), or its first (compare, which follows one token).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from attncli.errors import AttnError

_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also accepts '²' and '٣'


def _number(text: str, where: str) -> int:
    """ASCII digits as an int, through the one integer grammar (at most 30 digits, 64 bits)."""
    from attncli.core.numbers import parse_int

    return parse_int(text, where)


@dataclass(frozen=True)
class Focus:
    """A parsed --focus value: an ``index``, or a ``token`` with an optional 1-based ``occurrence``."""

    text: str
    index: int | None = None
    token: str | None = None
    occurrence: int | None = None


def parse(value: str, where: str = "--focus") -> Focus:
    text = value.strip()
    if _DIGITS.fullmatch(text):
        return Focus(value, index=_number(text, where))
    token, occurrence = text, None
    if "@" in text[1:]:
        token, _, count = text.rpartition("@")
        if not _DIGITS.fullmatch(count) or _number(count, where) < 1:
            raise AttnError(f"expected TOKEN@K with K a whole number from 1, got {value!r}", where=where)
        occurrence = _number(count, where)
    token = token.strip()
    if not token:
        raise AttnError("empty focus token", where=where)
    return Focus(value, token=token, occurrence=occurrence)


def _shown(tokens: list[str], limit: int = 12) -> str:
    return ", ".join(tokens[:limit]) + (", ..." if len(tokens) > limit else "")


def positions(focus: Focus, tokens: list[str], *, label: str = "the text", every: bool = True,
              where: str = "--focus") -> list[int]:
    """The 0-based positions ``focus`` names in ``tokens`` (``label`` names them in messages)."""
    if focus.index is not None:
        if focus.index >= len(tokens):
            raise AttnError(f"index {focus.index} is out of range: {label} has {len(tokens)} tokens",
                            where=where, hint=f"use 0 to {len(tokens) - 1}", kind="text")
        return [focus.index]
    name = focus.token.lower()
    hits = [i for i, token in enumerate(tokens) if token.lower() == name]
    if not hits:
        digits = "an index is written in ASCII digits 0-9; " if focus.token.isdecimal() else ""
        raise AttnError(f"focus token {focus.token!r} is not in {label}", where=where,
                        hint=f"{digits}tokens: {_shown(tokens)}", kind="text")
    if focus.occurrence is not None:
        if focus.occurrence > len(hits):
            subject = "the text" if label == "the text" else label
            if label == "the text":
                message = f"{focus.token!r} occurs {len(hits)} time(s), not {focus.occurrence}"
            else:
                message = f"{subject} has {len(hits)} occurrence(s) of {focus.token!r}, not {focus.occurrence}"
            raise AttnError(message, where=where, kind="text")
        return [hits[focus.occurrence - 1]]
    return hits if every else hits[:1]


def rows(tokens: list[str], values: list[str] | None, where: str = "--focus") -> list[int] | None:
    """``--focus`` values -> query rows, in the order given (None: every row)."""
    if not values:
        return None
    out: list[int] = []
    for value in values:
        out.extend(positions(parse(value, where), tokens, where=where))
    return out
