"""The text scores of every head (attncli.core.detectors), summed over query rows one chunk at a time.

A long text's (L, H, N, N) weights are never held: capture's ``reduce`` hands each layer's exact
weights over in chunks of rows, and :class:`HeadScoreReducer` adds up, per head, what the mean of
each score needs (float64). With ``i`` the query row, ``A`` its weights and ``k_i``/``m_i`` as in
attncli.core.detectors:

* previous: sum over i >= 1 of A[i, i-1], over N-1 rows
* first:    sum over i >= 1 of A[i, 0], over N-1 rows (and first_token_mass: its mean over heads)
* entropy:  sum over rows with k_i > 1 of H_i / ln k_i
* distance: sum over rows with m_i > 0 of (sum_j A[i, j] |i - j|) / m_i

so that the scores equal :func:`attncli.core.detectors.score_all` on the full weights (up to the
order of float64 additions). Pure torch.
"""

from __future__ import annotations

import torch

#: The scores a text gives, row by row (the probe's induction and duplicate need its own rows).
ROW_SCORES = ("previous", "first", "entropy", "distance")


def chunk_sums(pattern: torch.Tensor, start: int, n: int, *, causal: bool) -> dict[str, torch.Tensor]:
    """pattern (H, C, W): the weights of query rows start..start+C-1 over the first W keys (W = N, or for a
    causal chunk at least start+C: the later keys are masked, their weights 0) -> each score's float64 sum (H,)."""
    p = pattern.double()  # (H, C, W)
    c, w = p.shape[-2], p.shape[-1]
    i = torch.arange(start, start + c, device=p.device, dtype=torch.float64)  # (C,)
    j = torch.arange(w, device=p.device, dtype=torch.float64)  # (W,)
    later = i >= 1  # (C,) row 0 is left out of previous and first
    rows = torch.arange(c, device=p.device)
    before = (i.long() - 1).clamp_min(0)  # (C,)
    previous = (p[:, rows, before] * later).sum(-1)  # (H,)
    first = (p[:, :, 0] * later).sum(-1)  # (H,)
    h = -torch.special.xlogy(p, p).sum(-1)  # (H, C) 0 log 0 = 0
    keys = i + 1 if causal else torch.full_like(i, float(n))  # (C,)
    seen = keys > 1
    entropy = (h[:, seen] / keys[seen].log()).sum(-1)  # (H,)
    if causal:  # every key j <= i: sum_j A_ij |i - j| = i sum_j A_ij - sum_j A_ij j
        moved = i * p.sum(-1) - p @ j  # (H, C)
    else:
        moved = (p * (i[:, None] - j[None, :]).abs()).sum(-1)  # (H, C)
    reach = i if causal else torch.maximum(i, n - 1 - i)  # (C,)
    far = reach > 0
    distance = (moved[:, far] / reach[far]).sum(-1)  # (H,)
    return {"previous": previous, "first": first, "entropy": entropy, "distance": distance}


def counts(n: int, *, causal: bool) -> dict[str, int]:
    """How many rows each score's mean is over (detectors: rows 1..N-1; rows with k_i > 1; with m_i > 0)."""
    every = n - 1 if causal else n  # a causal row 0 sees one key at distance 0; an encoder's rows all see n > 1
    return {"previous": n - 1, "first": n - 1, "entropy": every, "distance": every}


class HeadScoreReducer:
    """Capture's ``reduce``: ``reducer(layer, pattern_rows, n)`` sums every layer's scores chunk by chunk.

    ``chunk_rows(n)`` rows at a time (one (H, C, N) pattern under ``chunk_bytes`` with float64 copies);
    afterwards :meth:`scores` gives name -> (L, H) float64, as detectors.score_all without the probe."""

    def __init__(self, *, heads: int, causal: bool, chunk_bytes: int, element: int = 4) -> None:
        self.heads, self.causal, self.chunk_bytes, self.element = heads, causal, chunk_bytes, element
        self.sums: dict[int, dict[str, torch.Tensor]] = {}
        self.n: int | None = None
        self.seen: set[int] = set()

    def chunk_rows(self, n: int) -> int:
        per_row = self.heads * n * (self.element + 3 * 8)  # the weights, their float64 copy, logs, products
        return max(1, self.chunk_bytes // max(1, per_row))

    def __call__(self, layer: int, pattern_rows, n: int) -> None:
        self.seen.add(layer)
        self.n = n
        size = self.chunk_rows(n)
        total: dict[str, torch.Tensor] | None = None
        for start in range(0, n, size):
            stop = min(n, start + size)
            rows = pattern_rows(start, stop, stop if self.causal else None)[0]  # (H, C, N or stop)
            part = chunk_sums(rows, start, n, causal=self.causal)
            total = part if total is None else {name: total[name] + part[name] for name in ROW_SCORES}
        self.sums[layer] = total

    def scores(self) -> dict[str, torch.Tensor]:
        """name -> (L, H) float64 in [0, 1] (previous, first, entropy, distance)."""
        if self.n is None or self.n < 2:
            from attncli.errors import AttnError

            raise AttnError(f"head scores need at least 2 tokens, got {self.n or 0}", where="TEXT", kind="text")
        rows = counts(self.n, causal=self.causal)
        layers = sorted(self.sums)
        return {name: torch.stack([self.sums[l][name] for l in layers]).div(rows[name]).clamp(0.0, 1.0).cpu()
                for name in ROW_SCORES}

    def first_token_mass(self) -> list[float]:
        """Per layer: the mean over heads and rows 1..N-1 of the weight on token 0 (detectors.mean_by_layer)."""
        return [float(self.sums[l]["first"].mean() / (self.n - 1)) for l in sorted(self.sums)]
