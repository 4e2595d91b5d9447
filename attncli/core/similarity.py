"""Cosine similarity that holds for any finite vectors, however large or small their components.

The textbook ``a.b / (|a| |b|)`` squares the components: a vector of 1e200 has a squared norm
of 1e400, which overflows to inf in float64, and the cosine comes out 0 or nan. Each vector is
divided by its largest absolute component first (the cosine does not change under scaling),
so every product is at most 1 and the sums at most the dimension.
"""

from __future__ import annotations

import math
from typing import Sequence


def cosine(a: Sequence[float], b: Sequence[float]) -> float | None:
    """The cosine of the angle between ``a`` and ``b`` in [-1, 1]; None when either is all zeros.

    Raises ValueError when a component is not finite (nan or inf: the angle is undefined).
    """
    if not all(math.isfinite(x) for x in a) or not all(math.isfinite(x) for x in b):
        raise ValueError("non-finite component")
    ma, mb = max((abs(x) for x in a), default=0.0), max((abs(x) for x in b), default=0.0)
    if ma == 0 or mb == 0:
        return None
    sa = [x / ma for x in a]  # (D,) largest |component| is 1
    sb = [x / mb for x in b]  # (D,)
    dot = math.fsum(x * y for x, y in zip(sa, sb))
    norms = math.sqrt(math.fsum(x * x for x in sa)) * math.sqrt(math.fsum(y * y for y in sb))
    return max(-1.0, min(1.0, dot / norms))
