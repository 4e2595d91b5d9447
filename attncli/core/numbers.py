"""One grammar for every whole number on the command line.

``--layer``, ``--head``, ``--heads``, ``--lengths``, ``--repeat``, ``--top-k``, ``--precision``,
``--seed``, ``--d-k``, a ``--focus`` index and every other integer option go through
:func:`parse_int`: an optional sign, then ASCII digits ``0-9`` (``_`` between digits, as in
``1_000``). Python's ``int()`` also takes other scripts' digits (``'٣'`` is 3, ``'３'`` too);
they are refused here with one message, as the README says. A number may have at most
:data:`MAX_DIGITS` digits (Python refuses to convert more than 4,300, and no option means
anything past 2**63), and its value must fit a signed 64-bit integer.
"""

from __future__ import annotations

import re

from attncli.errors import AttnError

#: ASCII digits only: ``str.isdigit()`` and ``int()`` accept '²', '٣' and '３' as well.
_INTEGER = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*")

#: More digits than this is refused before converting (2**63 has 19 digits).
MAX_DIGITS = 30

#: The largest value any integer option takes (torch seeds and sizes are signed 64-bit).
INT64_MAX = 2**63 - 1

GRAMMAR = "a whole number in ASCII digits 0-9"
LAYER_GRAMMAR = "a layer number (ASCII digits 0-9, -1 the last) or 'all'"


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...") + f" ({len(text):,} characters)"


def parse_int(text: str, where: str, *, what: str = GRAMMAR) -> int:
    """``text`` as an int, or an AttnError naming ``where``: ASCII digits only, at most 64 bits."""
    stripped = text.strip()
    if not _INTEGER.fullmatch(stripped):
        hint = "digits of other scripts are not accepted" if any(
            ch.isdigit() and not ch.isascii() for ch in stripped) else None
        raise AttnError(f"expected {what}, got {_shown(text)}", where=where, hint=hint, kind="usage")
    digits = sum(ch.isdigit() for ch in stripped)
    if digits > MAX_DIGITS:
        raise AttnError(f"is too large (a number of {digits:,} digits)", where=where,
                        hint=f"the limit is {INT64_MAX:,}", kind="usage")
    return check_int64(int(stripped), where)


def check_int64(value: int, where: str) -> int:
    """``value`` unchanged when it fits a signed 64-bit integer."""
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise AttnError(f"is too large ({value})", where=where, hint=f"the limit is {INT64_MAX:,}", kind="usage")
    return value


#: Nouns whose plural is not the noun and an s.
_PLURALS = {"query": "queries", "is": "are", "entry": "entries", "matrix": "matrices", "index": "indices"}


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``count`` and ``noun`` agreeing: ``1 token``, ``2 tokens``, ``1,024 tokens``, ``1 query``, ``3 queries``.

    The one rule for every count a view or a message prints (never "1 tokens"); ``many`` names an
    irregular plural that the table here does not know.
    """
    word = noun if count == 1 else (many or _PLURALS.get(noun) or noun + "s")
    return f"{count:,} {word}"
