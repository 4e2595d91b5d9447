"""Text -> tokens -> embedding vectors (plain Python lists; no torch here).

Tokenizing rule (documented in docs/tokens.md and the README): the text is put in Unicode
normalization form NFC first (``cafe`` + U+0301 is ``café``), then

* a word is a run of letters, digits and marks (general categories L*, N*, M*) or underscores,
  with a zero-width joiner or non-joiner (U+200D, U+200C) kept inside it, and optionally joined
  by an apostrophe or a hyphen ("don't", "well-known"): Devanagari "नमस्ते" is one word, its
  vowel signs and virama are marks;
* an emoji is a token of its own, a whole extended grapheme cluster: skin-tone modifiers,
  variation selectors, keycaps, flag pairs, tag sequences and ZWJ sequences ("👨‍👩‍👧") included;
* everything else (punctuation, whitespace, other symbols, controls) is dropped.

For ASCII text this is the same as the regular expression ``\\w+(?:['’-]\\w+)*``. Lookup is
case-insensitive; the tokens keep the case they were typed in.

A token missing from the table gets a stable out-of-vocabulary vector: the
SHAKE-256 digest of its lower-cased UTF-8 text, read as unsigned 64-bit
integers and mapped to [-1, 1). It is the same on every run and every machine
(Python's own ``hash()`` is salted per process and is not used).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from attncli.errors import AttnError, call_example, option
from attncli.core.vocabulary import TOY_VOCABULARY

#: ASCII text: the one regular expression (fast, and the rule every seed was written with).
TOKEN_PATTERN = re.compile(r"\w+(?:['\u2019-]\w+)*")

_JOINERS = "\u200c\u200d"  # ZWNJ, ZWJ: kept inside a word (Persian, Indic conjuncts) and an emoji sequence
_LINKS = "'\u2019-"  # apostrophes and the hyphen join two words into one token
_WORD, _JOIN, _PICTURE, _OTHER = range(4)

#: Texts longer than this many characters are refused outright.
MAX_TEXT_CHARS = 20_000_000


def _kind(ch: str) -> int:
    category = unicodedata.category(ch)
    if category[0] in "LNM" or ch == "_":
        return _WORD
    if ch in _JOINERS:
        return _JOIN
    if category == "So" and (ord(ch) >= 0x2100 or ch in "\u00a9\u00ae"):  # pictographs, not '°' or '¦'
        return _PICTURE
    return _OTHER


def _emoji_extend(ch: str) -> bool:
    """What continues an emoji cluster: marks (VS16, keycap), skin tones (Sk), tag characters."""
    code = ord(ch)
    return unicodedata.category(ch)[0] == "M" or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _word_end(text: str, i: int) -> int:
    """The end of the word that starts at ``i``: letters, digits, marks, joiners and links inside."""
    n = len(text)
    while i < n:
        kind = _kind(text[i])
        if kind == _WORD:
            i += 1
        elif (kind == _JOIN or text[i] in _LINKS) and i + 1 < n and _kind(text[i + 1]) == _WORD:
            i += 1
        else:
            break
    return i


def _emoji_end(text: str, i: int) -> int:
    """The end of the emoji grapheme cluster that starts at ``i``."""
    n = len(text)
    first = text[i]
    i += 1
    if _regional(first) and i < n and _regional(text[i]):  # a flag is a pair of regional indicators
        return i + 1
    while i < n:
        if _emoji_extend(text[i]):
            i += 1
        elif text[i] == "\u200d" and i + 1 < n and _kind(text[i + 1]) == _PICTURE:
            i += 2
        else:
            break
    return i


def tokenize(text: str) -> list[str]:
    """Split a text into word and emoji tokens (NFC first); punctuation and other symbols are dropped."""
    if text.isascii():
        return TOKEN_PATTERN.findall(text)
    text = unicodedata.normalize("NFC", text)
    tokens, i, n = [], 0, len(text)
    while i < n:
        kind = _kind(text[i])
        if kind == _WORD:
            end = _word_end(text, i)
        elif kind == _PICTURE:
            end = _emoji_end(text, i)
        else:
            i += 1
            continue
        tokens.append(text[i:end])
        i = end
    return tokens


def oov_vector(token: str, dim: int) -> list[float]:
    """A deterministic vector in [-1, 1)^dim for a token not in the table."""
    digest = hashlib.shake_256(b"attncli-oov\x00" + token.lower().encode("utf-8")).digest(8 * dim)
    out = []
    for i in range(dim):
        n = int.from_bytes(digest[8 * i : 8 * i + 8], "little")
        out.append(round(n / 2**63 - 1.0, 6))
    return out


@dataclass
class Embedded:
    tokens: list[str]
    vectors: list[list[float]]
    oov: list[bool]

    @property
    def unknown(self) -> list[str]:
        seen: list[str] = []
        for token, missing in zip(self.tokens, self.oov):
            if missing and token not in seen:
                seen.append(token)
        return seen


def check_text(text: str, where: str = "TEXT") -> list[str]:
    """Tokenize a text, refusing empty, whitespace-only and oversized input."""
    if len(text) > MAX_TEXT_CHARS:
        raise AttnError(
            f"text is too long ({len(text):,} characters; the limit is {MAX_TEXT_CHARS:,})",
            where=where, param="text", kind="text",
        )
    if not text.strip():
        raise AttnError("empty text" if not text else "text holds only whitespace", where=where, param="text",
                        hint=f'give some words, e.g. {call_example("run", "She ate the apple")}', kind="text")
    tokens = tokenize(text)
    if not tokens:
        raise AttnError("text has no word tokens (punctuation is dropped)", where=where, param="text", kind="text")
    return tokens


def embed(tokens: list[str], table: dict | None, dim: int) -> Embedded:
    """Look every token up (case-insensitively) in ``table`` (default: the toy vocabulary)."""
    table = TOY_VOCABULARY if table is None else table
    vectors, oov = [], []
    normalized: dict | None = None  # a config's non-ASCII keys in NFC, built when first needed
    for token in tokens:
        key = token.lower()
        vec = table.get(key)
        if vec is None and not key.isascii():
            if normalized is None:
                normalized = {unicodedata.normalize("NFC", k): v for k, v in table.items() if not k.isascii()}
            vec = normalized.get(unicodedata.normalize("NFC", key))
        if vec is None:
            vectors.append(oov_vector(token, dim))
            oov.append(True)
        else:
            vectors.append(list(vec))
            oov.append(False)
    return Embedded(tokens, vectors, oov)


def strict_check(embedded: Embedded, where: str = "TEXT") -> None:
    unknown = embedded.unknown
    if unknown:
        everything = len(unknown) == len(set(t for t in embedded.tokens))
        raise AttnError(
            ("no token is in the vocabulary: " if everything else "unknown tokens: ") + ", ".join(unknown),
            where=where, hint=f"{option('strict')} refuses out-of-vocabulary tokens; add them under embeddings: in a config",
            kind="text",
        )
