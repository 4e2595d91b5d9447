"""Text -> tokens -> embedding vectors (plain Python lists; no torch here).

Tokenizing rule (documented in the README): a token is a run of letters, digits
or underscores, optionally joined by an apostrophe or a hyphen ("don't",
"well-known"). Punctuation and whitespace are dropped. Lookup is
case-insensitive; the tokens keep the case they were typed in.

A token missing from the table gets a stable out-of-vocabulary vector: the
SHAKE-256 digest of its lower-cased UTF-8 text, read as unsigned 64-bit
integers and mapped to [-1, 1). It is the same on every run and every machine
(Python's own ``hash()`` is salted per process and is not used).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from attncli.errors import AttnError, call_example, option
from attncli.core.vocabulary import TOY_VOCABULARY

TOKEN_PATTERN = re.compile(r"\w+(?:['\u2019-]\w+)*")

#: Texts longer than this many characters are refused outright.
MAX_TEXT_CHARS = 20_000_000


def tokenize(text: str) -> list[str]:
    """Split a text into word tokens; punctuation is dropped."""
    return TOKEN_PATTERN.findall(text)


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
    for token in tokens:
        vec = table.get(token.lower())
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
