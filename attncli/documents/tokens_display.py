"""How a model's tokens are shown in views: sub-word markers made readable.

Tokenizers write their tokens with marker letters: byte-level BPE (GPT-2, Llama 3, SmolLM2,
Qwen2) maps every byte to a printable character, so a leading space is ``Ġ`` and a newline
``Ċ``; SentencePiece (Llama 2, Gemma, Mistral) writes a leading space as ``▁`` and raw bytes as
``<0x0A>``. Views show a visible space mark ``␣``, a newline ``↵`` and a tab ``⇥`` instead; the
JSON keeps the tokenizer's own strings. Control characters are escaped (attncli.io.textsafe).
Pure functions, no torch.
"""

from __future__ import annotations

import re

from attncli.io.textsafe import visible

SPACE, NEWLINE, TAB, RETURN = "␣", "↵", "⇥", "␍"
_WHITESPACE = {" ": SPACE, "\n": NEWLINE, "\t": TAB, "\r": RETURN}
_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def _byte_level_table() -> dict[str, int]:
    """GPT-2's bytes_to_unicode, inverted: printable character -> the byte it stands for."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(printable, chars)}


BYTE_LEVEL = _byte_level_table()
#: Characters that only byte-level BPE writes (the bytes it moves above U+00FF: space, newline...).
_BYTE_LEVEL_ONLY = set(chr(c) for c in range(256, 256 + 68))


def _show_whitespace(text: str) -> str:
    return visible("".join(_WHITESPACE.get(ch, ch) for ch in text))


def scheme_of(tokens: list[str]) -> str:
    """'metaspace' (SentencePiece ▁), 'byte_level' (Ġ, Ċ) or 'plain' (WordPiece and the rest)."""
    if any("▁" in t for t in tokens):
        return "metaspace"
    if any(ch in _BYTE_LEVEL_ONLY for t in tokens for ch in t):
        return "byte_level"
    return "plain"


def display_token(token: str, scheme: str | None = None) -> str:
    """One token as a view shows it; ``scheme`` from :func:`scheme_of` (guessed from the token if None)."""
    scheme = scheme or scheme_of([token])
    if scheme == "metaspace":
        match = _BYTE_TOKEN.fullmatch(token)
        if match:
            byte = int(match.group(1), 16)
            return _show_whitespace(chr(byte)) if byte < 0x80 else token
        return _show_whitespace(token.replace("▁", " "))
    if scheme == "byte_level":
        if any(ch not in BYTE_LEVEL for ch in token):  # a special token such as <|im_start|>
            return visible(token)
        raw = bytes(BYTE_LEVEL[ch] for ch in token)
        text = raw.decode("utf-8", errors="backslashreplace")
        return _show_whitespace(text)
    return visible(token)


def display_tokens(tokens: list[str]) -> list[str]:
    """Every token of one text, with the scheme decided once for the whole list."""
    scheme = scheme_of(tokens)
    return [display_token(t, scheme) for t in tokens]


def shorten(shown: str, width: int) -> str:
    """A shown token in at most ``width`` cells: cut with "…" (never silently), as every view cuts."""
    if width <= 0:
        return ""
    return shown if len(shown) <= width else shown[: width - 1] + "…"
