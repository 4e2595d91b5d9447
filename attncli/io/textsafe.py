"""Text that is safe to print on a terminal.

Tokens, config keys, file names and model names come from the user (or from a hostile file).
Printed raw, control characters would drive the terminal: ``ESC ] 0 ;`` sets the window title,
``ESC [ 2 J`` clears the screen, bidi overrides reorder what is shown. :func:`visible` spells
every such character as an escape (``\\x1b``, ``\\u202e``); the JSON keeps the exact strings.
"""

from __future__ import annotations

import re

#: C0 controls, DEL, C1 controls, and the Unicode bidi marks, embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every control and bidi-override character written as an escape."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)
