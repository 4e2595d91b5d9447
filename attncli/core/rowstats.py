"""Per-row summaries of attention weights, one chunk of query rows at a time.

What a long input is seen through when its N x N weights are never held (``--stats``, ``--top-k``
without ``--focus``): each chunk of rows is reduced as soon as it is computed. Pure functions on
torch tensors; H heads, C rows in the chunk, N keys.
"""

from __future__ import annotations

import torch

#: The per-row summaries ``--stats`` gives, in document order.
STATS = ("entropy", "first_token", "top1")


def row_stats(pattern: torch.Tensor) -> dict[str, torch.Tensor]:
    """pattern (H, C, N) -> entropy (H, C) in nats (0 log 0 = 0), first_token (H, C) the weight on key 0,
    top1 (H, C) the most-attended key (the first of equal weights)."""
    p = pattern.float() if pattern.dtype in (torch.float16, torch.bfloat16) else pattern
    logs = torch.where(p > 0, torch.log(p.clamp_min(torch.finfo(p.dtype).tiny)), torch.zeros_like(p))  # (H, C, N)
    entropy = -(p * logs).sum(dim=-1)  # (H, C)
    return {"entropy": entropy.clamp_min(0.0), "first_token": p[..., 0].clone(), "top1": p.argmax(dim=-1)}


class RowReducer:
    """Collects, per layer, the top-k links and/or the row summaries of every query row, chunk by chunk.

    Call it as capture's ``reduce``: ``reducer(layer, pattern_rows, q_len)``; afterwards ``top[layer]``
    is ((H, N, K) weights, (H, N, K) indices) and ``stats[layer]`` maps STATS to (H, N) tensors, for each of
    ``layers`` (None: every layer; the others are handed over and skipped)."""

    def __init__(self, *, heads: int, top_k: int | None, stats: bool, causal: bool, chunk_bytes: int,
                 element: int, layers: list[int] | None = None) -> None:
        self.heads, self.top_k, self.want_stats, self.causal = heads, top_k, stats, causal
        self.layers = None if layers is None else set(layers)  # the layers reduced (None: every one)
        self.chunk_bytes, self.element = chunk_bytes, element
        self.top: dict[int, tuple] = {}
        self.stats: dict[int, dict] = {}
        self.seen: set[int] = set()  # the layers handed over

    def chunk(self, n_keys: int) -> int:
        """Rows per chunk: one (H, C, N) pattern under chunk_bytes (at least one row)."""
        return max(1, self.chunk_bytes // max(1, self.heads * n_keys * self.element))

    def __call__(self, layer: int, pattern_rows, q_len: int) -> None:
        from attncli.core.attention import top_links

        self.seen.add(layer)
        if self.layers is not None and layer not in self.layers:
            return  # a layer nobody looks at: its N x N work is skipped
        size = self.chunk(q_len)
        tops_w, tops_i, parts = [], [], []
        for start in range(0, q_len, size):
            stop = min(q_len, start + size)
            # a causal chunk's keys after its last row are masked: only the first ones are computed (at
            # least K, so that every chunk's top-k has K columns)
            width = max(stop, min(q_len, self.top_k or 1)) if self.causal else None
            pattern = pattern_rows(start, stop, width)[0]  # (H, C, N or width)
            if self.top_k:
                positions = torch.arange(start, stop, device=pattern.device) if self.causal else None  # (C,)
                w, i = top_links(pattern, self.top_k, positions)  # (H, C, K) x2
                tops_w.append(w)
                tops_i.append(i)
            if self.want_stats:
                parts.append(row_stats(pattern))
            del pattern
        if self.top_k:
            self.top[layer] = (torch.cat(tops_w, dim=-2), torch.cat(tops_i, dim=-2))  # (H, N, K) x2
        if self.want_stats:
            self.stats[layer] = {name: torch.cat([p[name] for p in parts], dim=-1) for name in STATS}  # (H, N)
