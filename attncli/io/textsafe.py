"""Text that is safe to print on a terminal.

Tokens, config keys, file names and model names come from the user (or from a hostile file).
Printed raw, control characters would drive the terminal: ``ESC ] 0 ;`` sets the window title,
``ESC [ 2 J`` clears the screen, bidi overrides reorder what is shown; invisible characters
(zero-width space, joiners, line and paragraph separators) take no cell or break the line and
misalign tables. :func:`visible` spells every such character as an escape (``\\x1b``,
``\\u202e``, ``\\u200d``); the JSON keeps the exact strings.

What is escaped, by Unicode general category: Cc (C0 and C1 controls, DEL), Cf (format
characters: bidi marks, embeddings, overrides and isolates, ZWSP, ZWJ, ZWNJ, word joiner,
BOM, soft hyphen, tag characters), Zl and Zp (U+2028, U+2029) and Cs (lone surrogates, which
is how Python spells file-name bytes that are not UTF-8). Letters, marks (Devanagari vowel
signs, combining accents) and symbols (emoji) are shown as they are.
"""

from __future__ import annotations

import re
import unicodedata

#: The general categories :func:`visible` escapes.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

_ASCII_UNSAFE = re.compile("[\x00-\x1f\x7f]")


def _code(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def unsafe(ch: str) -> bool:
    """Whether one character would drive the terminal or take no cell (it is escaped)."""
    return unicodedata.category(ch) in UNSAFE_CATEGORIES


def visible(text: str) -> str:
    """``text`` with every control, format, separator and surrogate character written as an escape."""
    if text.isascii():
        return text if _ASCII_UNSAFE.search(text) is None else _ASCII_UNSAFE.sub(lambda m: _code(m.group()), text)
    return "".join(_code(ch) if unicodedata.category(ch) in UNSAFE_CATEGORIES else ch for ch in text)


# --------------------------------------------------------------------------- streams that are not UTF-8

#: What the views draw with, spelt in ASCII for a stream that cannot encode it (same width: one column).
_ASCII_GLYPHS = str.maketrans({
    "─": "-", "━": "-", "│": "|", "┃": "|", "┌": "+", "┐": "+", "└": "+", "┘": "+", "├": "+", "┤": "+",
    "┬": "+", "┴": "+", "┼": "+", "╭": "+", "╮": "+", "╰": "+", "╯": "+", "█": "#", "▓": "#", "▒": "+",
    "░": ".", "▀": "#", "▄": "#", "▁": "_", "·": ".", "×": "x", "…": ".", "↵": "/", "␣": "_", "⇥": ">",
    "␍": "<", "◂": "<", "▸": ">", "←": "<", "→": ">", "↑": "^", "↓": "v", "–": "-", "—": "-",
})
_NON_ASCII = re.compile("[^\x00-\x7f]")


def is_utf8(encoding: str | None) -> bool:
    """True for a stream that takes any text: UTF-8 (any spelling), or none named (a StringIO)."""
    if not encoding:
        return True
    import codecs

    try:
        return codecs.lookup(encoding).name in ("utf-8", "utf-16", "utf-32")
    except LookupError:
        return False


def _json_escape(match: re.Match) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xd800 + (code >> 10):04x}\\u{0xdc00 + (code & 0x3ff):04x}"


def ascii_json(text: str) -> str:
    """JSON text with every non-ASCII character escaped (what ``ensure_ascii`` would have written).

    Outside its strings JSON is ASCII, so escaping the whole text escapes exactly the strings'
    characters: the document is the same, and readable through any encoding.
    """
    return _NON_ASCII.sub(_json_escape, text)


def encodable(text: str, encoding: str) -> tuple[str, bool]:
    """``text`` as ``encoding`` can carry it: the views' glyphs in ASCII, anything else left as ``?``.

    The flag is True when a character had to become ``?`` (the glyphs' ASCII spelling loses nothing).
    """
    try:
        text.encode(encoding)
        return text, False
    except UnicodeEncodeError:
        pass
    text = text.translate(_ASCII_GLYPHS)
    try:
        text.encode(encoding)
        return text, False
    except UnicodeEncodeError:
        return text.encode(encoding, "replace").decode(encoding), True
