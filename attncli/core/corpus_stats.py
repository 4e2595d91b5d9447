"""Head statistics over a corpus: exact sufficient statistics per head, merged in any grouping.

Every score of a head (a float64 in [0, 1]) is a dyadic rational, so the count, the sum and the
sum of squares of any number of them are kept *exactly*, as Python integers over a power of two
(:class:`Exact`); min and max are the float64 values themselves. Merging parts (shards of a
corpus, or texts in any order) adds integers and takes mins and maxes, so it is exact, associative
and commutative: any grouping of any shards gives bit for bit the summary one run makes.

From the statistics, per head: ``mean = sum / count`` and the population standard deviation
``sd = sqrt((count * sumsq - sum**2) / count**2)`` (``statistics.pstdev``; 0 for one text), each
computed exactly as a fraction and rounded once to float64 at the end.

In JSON an exact value is a string ``"0x<hex>p<exp>"``: the integer ``<hex>`` times 2**``<exp>``
(``"0x0p0"`` is 0). Pure Python; no torch.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Iterable, Sequence

from attncli.errors import AttnError

#: The binary exponent of the smallest float64 (subnormal): every float64 is an integer times 2**-1074.
_SHIFT = 1074


def _scaled(x: float) -> int:
    """x * 2**1074 as an integer (exact for every finite float64)."""
    num, den = x.as_integer_ratio()
    return num << (_SHIFT - den.bit_length() + 1)


def to_text(value: int, shift: int) -> str:
    """value * 2**-shift as ``"0x<hex>p<exp>"``, the hex integer odd (or 0)."""
    if value == 0:
        return "0x0p0"
    zeros = (value & -value).bit_length() - 1
    return f"{'-' if value < 0 else ''}0x{abs(value) >> zeros:x}p{zeros - shift}"


def from_text(text: str, shift: int, where: str) -> int:
    """The inverse of :func:`to_text`: the integer that is the value times 2**shift."""
    try:
        sign = -1 if text.startswith("-") else 1
        body = text[1:] if sign < 0 else text
        if not body.startswith("0x"):
            raise ValueError
        digits, exp = body[2:].split("p")
        mantissa, exponent = int(digits, 16), int(exp)
    except (ValueError, AttributeError):
        raise AttnError(f"not an exact sum: {str(text)[:40]!r}", where=where, kind="text") from None
    total = exponent + shift
    if total < 0:
        raise AttnError(f"exact sum {text[:40]!r} is finer than float64 allows", where=where, kind="text")
    return sign * (mantissa << total)


class HeadStats:
    """Count, exact sum and sum of squares, min and max of one score, per (layer, head)."""

    def __init__(self, layers: int, heads: int) -> None:
        self.layers, self.heads = layers, heads
        cells = layers * heads
        self.count = [0] * cells
        self.sum = [0] * cells  # x 2**-1074
        self.sumsq = [0] * cells  # x 2**-2148
        self.min = [math.inf] * cells
        self.max = [-math.inf] * cells

    def add(self, values: Sequence[Sequence[float]]) -> None:
        """One text's (L, H) scores (nested lists of floats)."""
        if len(values) != self.layers or any(len(row) != self.heads for row in values):
            raise ValueError(f"expected {self.layers} x {self.heads} scores")
        cell = 0
        for row in values:
            for x in row:
                x = float(x)
                if not math.isfinite(x):
                    raise ValueError(f"a score is not finite: {x}")
                s = _scaled(x)
                self.count[cell] += 1
                self.sum[cell] += s
                self.sumsq[cell] += s * s
                if x < self.min[cell]:
                    self.min[cell] = x
                if x > self.max[cell]:
                    self.max[cell] = x
                cell += 1

    def merge(self, other: "HeadStats") -> None:
        if (other.layers, other.heads) != (self.layers, self.heads):
            raise ValueError("merging statistics of different shapes")
        for cell in range(self.layers * self.heads):
            self.count[cell] += other.count[cell]
            self.sum[cell] += other.sum[cell]
            self.sumsq[cell] += other.sumsq[cell]
            self.min[cell] = min(self.min[cell], other.min[cell])
            self.max[cell] = max(self.max[cell], other.max[cell])

    def _grid(self, values: list) -> list[list]:
        return [values[l * self.heads:(l + 1) * self.heads] for l in range(self.layers)]

    def means(self) -> list:
        return [float(Fraction(s, n << _SHIFT)) if n else None for n, s in zip(self.count, self.sum)]

    def sds(self) -> list:
        out = []
        for n, s, q in zip(self.count, self.sum, self.sumsq):
            if not n:
                out.append(None)
                continue
            variance = Fraction(n * q - s * s, (n * n) << (2 * _SHIFT))  # exact, >= 0
            out.append(_sqrt(variance))
        return out

    def summary(self) -> dict:
        """count, mean, sd, min, max: each an (L, H) grid (None where no text was scored)."""
        bound = lambda v: None if not math.isfinite(v) else v  # noqa: E731 - no text: no min or max
        return {"count": self._grid(self.count), "mean": self._grid(self.means()), "sd": self._grid(self.sds()),
                "min": self._grid([bound(v) for v in self.min]), "max": self._grid([bound(v) for v in self.max])}

    def to_json(self) -> dict:
        """The sufficient statistics in exact form (what ``merge`` reads back)."""
        bound = lambda v: None if not math.isfinite(v) else v  # noqa: E731
        return {"count": self._grid(self.count),
                "sum": self._grid([to_text(v, _SHIFT) for v in self.sum]),
                "sumsq": self._grid([to_text(v, 2 * _SHIFT) for v in self.sumsq]),
                "min": self._grid([bound(v) for v in self.min]), "max": self._grid([bound(v) for v in self.max])}

    @classmethod
    def from_json(cls, data: dict, where: str) -> "HeadStats":
        try:
            layers, heads = len(data["count"]), len(data["count"][0])
            stats = cls(layers, heads)
            flat = lambda name: [v for row in data[name] for v in row]  # noqa: E731
            stats.count = [int(v) for v in flat("count")]
            stats.sum = [from_text(v, _SHIFT, where) for v in flat("sum")]
            stats.sumsq = [from_text(v, 2 * _SHIFT, where) for v in flat("sumsq")]
            stats.min = [math.inf if v is None else float(v) for v in flat("min")]
            stats.max = [-math.inf if v is None else float(v) for v in flat("max")]
        except (KeyError, IndexError, TypeError, ValueError):
            raise AttnError("its statistics are incomplete or malformed", where=where, kind="text") from None
        cells = layers * heads
        if any(len(getattr(stats, name)) != cells for name in ("count", "sum", "sumsq", "min", "max")):
            raise AttnError("its statistics are not one layer x head grid", where=where, kind="text")
        if any(n < 0 for n in stats.count) or any(v < 0 for v in stats.sumsq):
            raise AttnError("its statistics hold negative counts or sums of squares", where=where, kind="text")
        return stats


def _sqrt(x: Fraction) -> float:
    """sqrt of a non-negative fraction, rounded once (to within an ulp): via an integer square root."""
    if x == 0:
        return 0.0
    # sqrt(p/q) = isqrt(p * q * 4**k) / (q * 2**k), k large enough for 64 significant bits in the root
    p, q = x.numerator, x.denominator
    k = max(0, 64 - (p.bit_length() + q.bit_length()) // 2 + 1)
    root = math.isqrt(p * q << (2 * k))
    return float(Fraction(root, q << k))


class CorpusStats:
    """Every score's :class:`HeadStats`, and the count of texts, tokens and failed lines."""

    #: Failed lines named in a summary (the first ones, by line number); the rest are counted.
    MAX_ERROR_LINES = 20

    def __init__(self, scores: Iterable[str], layers: int, heads: int) -> None:
        self.names = tuple(scores)
        self.layers, self.heads = layers, heads
        self.heads_stats = {name: HeadStats(layers, heads) for name in self.names}
        self.texts = 0  # scored
        self.tokens = 0
        self.errors = 0
        self.error_lines: list[int] = []

    def add(self, scores: dict, tokens: int) -> None:
        """One text's scores: name -> (L, H) nested lists."""
        for name in self.names:
            self.heads_stats[name].add(scores[name])
        self.texts += 1
        self.tokens += int(tokens)

    def add_error(self, line: int) -> None:
        self.errors += 1
        self._note_lines([line])

    def _note_lines(self, lines: Iterable[int]) -> None:
        self.error_lines = sorted(set(self.error_lines).union(lines))[:self.MAX_ERROR_LINES]

    def merge(self, other: "CorpusStats") -> None:
        if other.names != self.names or (other.layers, other.heads) != (self.layers, self.heads):
            raise ValueError("merging statistics of different scores or shapes")
        for name in self.names:
            self.heads_stats[name].merge(other.heads_stats[name])
        self.texts += other.texts
        self.tokens += other.tokens
        self.errors += other.errors
        self._note_lines(other.error_lines)

    def summary(self, top: int) -> dict:
        """The per-head summary of every score, and each score's top heads by mean."""
        summary = {name: self.heads_stats[name].summary() for name in self.names}
        return {"texts": self.texts, "tokens": self.tokens, "errors": self.errors,
                "error_lines": list(self.error_lines), "summary": summary,
                "top": {name: top_heads(summary[name], top) for name in self.names}}

    def to_json(self) -> dict:
        return {"texts": self.texts, "tokens": self.tokens, "errors": self.errors,
                "error_lines": list(self.error_lines),
                "scores": {name: self.heads_stats[name].to_json() for name in self.names}}

    @classmethod
    def from_json(cls, data: dict, where: str) -> "CorpusStats":
        try:
            scores = data["scores"]
            names = tuple(scores)
            first = HeadStats.from_json(scores[names[0]], where)
            stats = cls(names, first.layers, first.heads)
            stats.heads_stats = {name: HeadStats.from_json(scores[name], where) for name in names}
            stats.texts, stats.tokens, stats.errors = int(data["texts"]), int(data["tokens"]), int(data["errors"])
            stats.error_lines = sorted(int(v) for v in data["error_lines"])[:cls.MAX_ERROR_LINES]
        except (KeyError, IndexError, TypeError, ValueError):
            raise AttnError("its statistics are incomplete or malformed", where=where, kind="text") from None
        if any((s.layers, s.heads) != (first.layers, first.heads) for s in stats.heads_stats.values()):
            raise AttnError("its scores have different layer x head grids", where=where, kind="text")
        return stats


def top_heads(summary: dict, k: int) -> list[dict]:
    """The k heads with the highest mean, best first (ties: lower layer, then lower head)."""
    cells = [(mean, l, h) for l, row in enumerate(summary["mean"]) for h, mean in enumerate(row) if mean is not None]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [{"layer": l, "head": h, "mean": mean, "sd": summary["sd"][l][h]} for mean, l, h in cells[:k]]
