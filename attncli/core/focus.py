"""One grammar for ``--focus``, shared by run, compare, explain and browse.

A value is one of:

* ``INDEX``: ASCII digits, a 0-based token position (``7``); ``-K`` counts from the end (``-1``: the
  last token), unless a token of the text is spelled ``-K``;
* ``TOKEN@K``: the K-th occurrence of TOKEN (1-based, ASCII digits), compared case-insensitively;
* ``TOKEN``: every occurrence of TOKEN (run), or its first (compare, which follows one token).

TOKEN is matched, case-insensitively, in this order (the first rule that finds something wins):

1. the tokenizer's own string (``Ġbank``, ``##ing``);
2. the token as views show it (``␣bank``);
3. the token's text without its leading space or continuation mark (``bank``): what a user types;
4. a whole word split into several tokens (``collapsed`` = ``␣collaps`` + ``ed``): its last
   token, the one that has read the whole word, with a note saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from attncli.documents.tokens_display import SPACE, NEWLINE, TAB, display_tokens, scheme_of
from attncli.errors import AttnError, option
from attncli.core.numbers import plural

_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also accepts '²' and '٣'


def _number(text: str, where: str) -> int:
    """ASCII digits as an int, through the one integer grammar (at most 30 digits, 64 bits)."""
    from attncli.core.numbers import parse_int
    from attncli.errors import option

    try:
        return parse_int(text, where or option("focus"))
    except AttnError as error:
        error.param = error.param or "focus"
        raise


@dataclass(frozen=True)
class Focus:
    """A parsed --focus value: an ``index``, or a ``token`` with an optional 1-based ``occurrence``."""

    text: str
    index: int | None = None
    token: str | None = None
    occurrence: int | None = None


@dataclass(frozen=True)
class Hit:
    """Where a focus value matched: the ``index`` followed and the ``word`` (positions) it stands for."""

    index: int
    word: tuple[int, ...]
    rule: str  # "index", "token", "shown", "text" or "word"


def parse(value: str, where: str | None = None) -> Focus:
    text = value.strip()
    if _DIGITS.fullmatch(text):
        return Focus(value, index=_number(text, where))
    token, occurrence = text, None
    if "@" in text[1:]:
        token, _, count = text.rpartition("@")
        if not _DIGITS.fullmatch(count) or _number(count, where) < 1:
            raise AttnError(f"expected TOKEN@K with K a whole number from 1, got {value!r}", where=where, param="focus")
        occurrence = _number(count, where)
    token = token.strip()
    if not token:
        raise AttnError("empty focus token", where=where, param="focus")
    return Focus(value, token=token, occurrence=occurrence)


def _shown(tokens: list[str], limit: int = 12) -> str:
    return ", ".join(tokens[:limit]) + (", ..." if len(tokens) > limit else "")


_LEADING = SPACE + NEWLINE + TAB + " "


def word_texts(tokens: list[str]) -> tuple[list[str], list[bool]]:
    """Each token's text as typed (no leading space or ``##``) and whether it starts a word."""
    scheme = scheme_of(tokens)
    shown = display_tokens(tokens)
    texts, starts = [], []
    for i, (token, view) in enumerate(zip(tokens, shown)):
        if scheme == "plain":
            continued = token.startswith("##") and len(token) > 2
            texts.append(token[2:] if continued else token)
            starts.append(not continued)
        else:
            texts.append(view.lstrip(_LEADING))
            special = token.startswith("<") and token.endswith(">") and len(token) > 2
            starts.append(i == 0 or view[:1] in _LEADING or special or
                          (tokens[i - 1].startswith("<") and tokens[i - 1].endswith(">")))
    return texts, starts


def _hits(name: str, tokens: list[str]) -> list[Hit]:
    """Every match of ``name`` (lower case) by the first rule that finds one."""
    for rule, forms in (("token", tokens), ("shown", display_tokens(tokens))):
        found = [Hit(i, (i,), rule) for i, t in enumerate(forms) if t.lower() == name]
        if found:
            return found
    texts, starts = word_texts(tokens)
    found = [Hit(i, (i,), "text") for i, t in enumerate(texts) if t and t.lower() == name]
    if found:
        return found
    out = []
    for start, begins in enumerate(starts):
        if not begins:
            continue
        joined = texts[start]
        end = start
        while name.startswith(joined.lower()) and len(joined) < len(name) and end + 1 < len(tokens) \
                and not starts[end + 1]:
            end += 1
            joined += texts[end]
        if end > start and joined.lower() == name:
            out.append(Hit(end, tuple(range(start, end + 1)), "word"))
    return out


def hits(focus: Focus, tokens: list[str], *, label: str = "the text", every: bool = True,
         where: str | None = None) -> list[Hit]:
    """What ``focus`` names in ``tokens`` (``label`` names them in messages)."""
    if focus.index is None and re.fullmatch(r"-[0-9]+", focus.token or "") and focus.occurrence is None \
            and not _hits(focus.token.lower(), tokens):
        back = _number(focus.token[1:], where)
        if not 1 <= back <= len(tokens):
            raise AttnError(f"index {focus.token} is out of range: {label} has {plural(len(tokens), 'token')}",
                            where=where, hint=f"use -1 to -{len(tokens)}, or 0 to {len(tokens) - 1}", kind="text")
        return [Hit(len(tokens) - back, (len(tokens) - back,), "index")]
    if focus.index is not None:
        if focus.index >= len(tokens):
            raise AttnError(f"index {focus.index} is out of range: {label} has {plural(len(tokens), 'token')}",
                            where=where, param="focus", hint=f"use 0 to {len(tokens) - 1}", kind="text")
        return [Hit(focus.index, (focus.index,), "index")]
    found = _hits(focus.token.lower(), tokens)
    if not found:
        digits = "an index is written in ASCII digits 0-9; " if focus.token.isdecimal() else ""
        raise AttnError(f"focus token {focus.token!r} is not in {label}", where=where, param="focus",
                        hint=f"{digits}tokens: {_shown(display_tokens(tokens))}", kind="text")
    if focus.occurrence is not None:
        if focus.occurrence > len(found):
            if label == "the text":
                message = f"{focus.token!r} occurs {len(found)} time(s), not {focus.occurrence}"
            else:
                message = f"{label} has {len(found)} occurrence(s) of {focus.token!r}, not {focus.occurrence}"
            raise AttnError(message, where=where, param="focus", kind="text")
        return [found[focus.occurrence - 1]]
    return found if every else found[:1]


def positions(focus: Focus, tokens: list[str], *, label: str = "the text", every: bool = True,
              where: str | None = None) -> list[int]:
    """The 0-based positions ``focus`` names in ``tokens`` (``label`` names them in messages)."""
    return [hit.index for hit in hits(focus, tokens, label=label, every=every, where=where)]


def describe(focus: Focus, hit: Hit, tokens: list[str], label: str = "") -> str | None:
    """A note for a word split in several tokens (None for a plain match): which token is followed."""
    if hit.rule != "word":
        return None
    shown = display_tokens(tokens)
    parts = " + ".join(shown[i] for i in hit.word)
    where = f" in {label}" if label else ""
    return (f"{option('focus')} {focus.token!r}{where} is split into {len(hit.word)} tokens ({parts}, positions "
            f"{hit.word[0]}-{hit.word[-1]}); following its last, {shown[hit.index]!r} at {hit.index}")


def rows(tokens: list[str], values: list[str] | None, where: str | None = None,
         notes: list[str] | None = None) -> list[int] | None:
    """``--focus`` values -> query rows, in the order given (None: every row); ``notes`` gets what to say."""
    if not values:
        return None
    out: list[int] = []
    for value in values:
        spec = parse(value, where)
        for hit in hits(spec, tokens, where=where):
            out.append(hit.index)
            note = describe(spec, hit, tokens)
            if note and notes is not None and note not in notes:
                notes.append(note)
    return out


def row_range(value: str, n: int, where: str | None = None) -> list[int]:
    """``rows`` ``A:B``: query rows A to B-1 (0-based, B exclusive, as a Python slice; either end may be left
    out, and a negative one counts from the end: ``-16:`` is the last 16 rows)."""
    where = where or option("rows")
    text = value.strip()
    match = re.fullmatch(r"(-?[0-9]*):(-?[0-9]*)", text)
    if not match:
        raise AttnError(f"not a range of rows: {value!r}", where=where,
                        hint="write A:B (0-based, B exclusive), e.g. 0:64, 100: or -16:")
    start, stop = ((int(part) if part not in ("", "-") else None) for part in match.groups())
    if "-" in match.groups():
        raise AttnError(f"not a range of rows: {value!r}", where=where, hint="write A:B, e.g. 0:64")
    picked = list(range(n))[slice(start, stop)]
    if not picked:
        raise AttnError(f"the range {text} holds no row of the {plural(n, 'token')}", where=where, kind="text",
                        hint=f"use rows 0 to {n - 1}, e.g. 0:{min(n, 64)} or -{min(n, 16)}:")
    return picked
