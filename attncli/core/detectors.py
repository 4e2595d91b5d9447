"""Head detectors: what every layer x head does, as scores in [0, 1].

Every function takes attention weights ``A`` of shape (L, H, N, N) (rows: queries, columns:
keys, each row summing to 1) and returns an (L, H) float64 tensor. With ``i`` the query and
``j`` the key position (0-based):

* ``previous``  = mean over i = 1..N-1 of A[i, i-1]
* ``first``     = mean over i = 1..N-1 of A[i, 0] (the attention sink; row 0 is left out, as a
  causal row 0 can only attend to itself)
* ``entropy``   = mean over rows with k_i > 1 of (-sum_j A[i,j] ln A[i,j]) / ln k_i, where k_i is
  the number of keys row i may see (i + 1 when causal, N otherwise)
* ``distance``  = mean over rows with m_i > 0 of (sum_j A[i,j] |i - j|) / m_i, where m_i is the
  largest distance row i may see (i when causal, max(i, N-1-i) otherwise)

On the probe (a prefix of P tokens, then T random distinct tokens r_0..r_{T-1}, then the same T
again, so r_k sits at P+k and at P+T+k):

* ``induction`` = mean over k = 0..T-1 of A[P+T+k, P+k+1]: from the second copy to the token
  that followed the same token's first occurrence
* ``duplicate`` = mean over k = 0..T-1 of A[P+T+k, P+k]: to the same token's first occurrence

Pure torch; the probe's tokens come from :func:`probe_ids`.
"""

from __future__ import annotations

from attncli.errors import AttnError, option

SCORES = ("previous", "induction", "duplicate", "first", "entropy", "distance")
#: A head is listed as a top head of these scores only from this score up: below it the score is noise
#: (a bidirectional encoder's best induction score is about 0.01; SmolLM2's induction heads score 0.3-0.9).
THRESHOLDS = {"induction": 0.2}
TEXT_SCORES = ("previous", "first", "entropy", "distance")
#: What the maps are under a measure other than the weights (attncli.core.head_scan.score_maps): the
#: heads document's ``measure_rows`` and the views' headings.
MEASURE_ROWS = {"norm": "per head ||alpha_ij f(x_j)||, rows as shares c_ij / sum_j c_ij"}
DESCRIPTIONS = {
    "previous": "attention to the position before",
    "induction": "second copy -> the token after its first occurrence",
    "duplicate": "second copy -> the same token's first occurrence",
    "first": "attention to the first position (the sink)",
    "entropy": "row entropy / log(keys visible): 1 = uniform",
    "distance": "mean |query - key| / the largest possible",
}


def _torch():
    from attncli.core.devices import import_torch

    return import_torch()


def _check(weights, minimum: int = 2) -> int:
    if weights.dim() != 4 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(f"expected (L, H, N, N) weights, got {tuple(weights.shape)}")
    n = int(weights.shape[-1])
    if n < minimum:
        raise AttnError(f"head scores need at least {minimum} tokens, got {n}", where="TEXT", kind="text")
    return n


def _unit(values):
    return values.clamp(0.0, 1.0)


def previous(weights):
    torch = _torch()
    n = _check(weights)
    i = torch.arange(1, n, device=weights.device)  # (N-1,)
    return _unit(weights[..., i, i - 1].double().mean(dim=-1))  # (L, H)


def first(weights):
    _check(weights)
    return _unit(weights[..., 1:, 0].double().mean(dim=-1))  # (L, H)


def _visible_keys(n: int, causal: bool, device):
    torch = _torch()
    i = torch.arange(n, device=device, dtype=torch.float64)  # (N,)
    return i + 1 if causal else torch.full_like(i, float(n))  # (N,)


def entropy(weights, *, causal: bool):
    torch = _torch()
    n = _check(weights)
    p = weights.double()  # (L, H, N, N)
    logs = torch.where(p > 0, p.log(), torch.zeros_like(p))  # (L, H, N, N)
    h = -(p * logs).sum(dim=-1)  # (L, H, N)
    keys = _visible_keys(n, causal, weights.device)  # (N,)
    rows = keys > 1  # (N,)
    return _unit((h[..., rows] / keys[rows].log()).mean(dim=-1))  # (L, H)


def distance(weights, *, causal: bool):
    torch = _torch()
    n = _check(weights)
    i = torch.arange(n, device=weights.device, dtype=torch.float64)  # (N,)
    gap = (i[:, None] - i[None, :]).abs()  # (N, N)
    reach = i if causal else torch.maximum(i, n - 1 - i)  # (N,)
    rows = reach > 0  # (N,)
    mean_gap = (weights.double() * gap).sum(dim=-1)  # (L, H, N)
    return _unit((mean_gap[..., rows] / reach[rows]).mean(dim=-1))  # (L, H)


def _copies(weights, start: int, length: int, shift: int):
    torch = _torch()
    n = _check(weights)
    if length < 1 or start + 2 * length > n:
        raise ValueError(f"a probe of {length} tokens repeated twice after {start} does not fit in {n}")
    k = torch.arange(length, device=weights.device)  # (T,)
    return _unit(weights[..., start + length + k, start + k + shift].double().mean(dim=-1))  # (L, H)


def induction(weights, *, start: int, length: int):
    return _copies(weights, start, length, 1)


def duplicate(weights, *, start: int, length: int):
    return _copies(weights, start, length, 0)


def score_all(weights, *, causal: bool, probe: tuple[int, int] | None = None) -> dict:
    """name -> (L, H) scores; ``probe`` = (start, length) adds induction and duplicate."""
    out = {"previous": previous(weights)}
    if probe is not None:
        start, length = probe
        out["induction"] = induction(weights, start=start, length=length)
        out["duplicate"] = duplicate(weights, start=start, length=length)
    out["first"] = first(weights)
    out["entropy"] = entropy(weights, causal=causal)
    out["distance"] = distance(weights, causal=causal)
    return out


def top_heads(scores, k: int) -> list[tuple[int, int, float]]:
    """The k highest (layer, head, score), best first (ties: lower layer, then lower head)."""
    layers, heads = scores.shape
    cells = [(float(scores[l, h]), l, h) for l in range(layers) for h in range(heads)]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [(l, h, v) for v, l, h in cells[:k]]


def probe_ids(candidates: list, *, length: int, seed: int, prefix=None) -> tuple[list, int]:
    """``prefix`` (if any), then ``length`` distinct candidates drawn with the seed, then the same again.

    Returns (the sequence, its start P). Drawn with ``torch.randperm`` on a CPU generator, so a
    seed gives the same probe on every machine.
    """
    torch = _torch()
    if length < 2:
        raise AttnError(f"must be at least 2, got {length}", param="length")
    if length > len(candidates):
        raise AttnError(f"the vocabulary has only {len(candidates)} ordinary tokens to draw {length} distinct "
                        "ones from", param="length", hint=f"use {option('length')} {len(candidates)} or less")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(candidates), generator=generator)[:length].tolist()
    drawn = [candidates[i] for i in order]
    head = [] if prefix is None else [prefix]
    return head + drawn + drawn, len(head)


def mean_by_layer(weights, column: int = 0) -> list[float]:
    """Per layer: the mean over heads and rows 1..N-1 of the attention to ``column`` (first-token mass)."""
    return [float(v) for v in weights[..., 1:, column].double().mean(dim=(-1, -2))]
