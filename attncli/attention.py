"""The attention math: pure torch functions, nothing else.

Conventions (the seeds' row-vector convention): a sequence is a matrix of row
vectors ``x`` of shape (N, d_model) and a projection is ``x @ W`` with ``W`` of
shape (d_in, d_out). Heads split the projected width into equal contiguous
chunks, as ``torch.nn.MultiheadAttention`` does.

Shapes: N tokens, H heads, dk / dv per-head key / value widths, D widths of all
heads together.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

HALF_DTYPES = (torch.float16, torch.bfloat16)


def sinusoidal_encoding(n: int, d: int, *, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """Positional encodings of "Attention Is All You Need": sin on even, cos on odd features."""
    position = torch.arange(n, dtype=torch.float64, device=device).unsqueeze(1)  # (N, 1)
    i = torch.arange(0, d, 2, dtype=torch.float64, device=device)  # (ceil(d/2),)
    angle = position / (10000.0 ** (i / d))  # (N, ceil(d/2))
    encoding = torch.zeros(n, d, dtype=torch.float64, device=device)  # (N, d)
    encoding[:, 0::2] = torch.sin(angle)  # (N, ceil(d/2))
    encoding[:, 1::2] = torch.cos(angle[:, : d // 2])  # (N, floor(d/2))
    return encoding.to(dtype)  # (N, d)


def rope(x: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """Rotary position embedding (RoFormer): rotate feature pairs (2i, 2i+1) by pos * theta_i.

    ``x`` is (..., N, d) with d even; theta_i = 10000^(-2i/d).
    """
    n, d = x.shape[-2], x.shape[-1]
    position = torch.arange(offset, offset + n, dtype=torch.float64, device=x.device)  # (N,)
    theta = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64, device=x.device) / d)  # (d/2,)
    angle = torch.outer(position, theta)  # (N, d/2)
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)  # (N, d/2)
    even, odd = x[..., 0::2], x[..., 1::2]  # (..., N, d/2)
    rotated = torch.empty_like(x)  # (..., N, d)
    rotated[..., 0::2] = even * cos - odd * sin
    rotated[..., 1::2] = even * sin + odd * cos
    return rotated


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(N, D) -> (H, N, D/H): contiguous chunks of the feature axis."""
    n, width = x.shape  # (N, D)
    return x.view(n, heads, width // heads).transpose(0, 1)  # (H, N, D/H)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(H, N, d) -> (N, H*d): the heads concatenated in order."""
    heads, n, d = x.shape  # (H, N, d)
    return x.transpose(0, 1).reshape(n, heads * d)  # (N, H*d)


def causal_mask(n_query: int, n_key: int, *, device, query_offset: int = 0) -> torch.Tensor:
    """True where query i (at position query_offset + i) may NOT see key j (j > position)."""
    rows = torch.arange(query_offset, query_offset + n_query, device=device).unsqueeze(1)  # (Nq, 1)
    cols = torch.arange(n_key, device=device).unsqueeze(0)  # (1, Nk)
    return cols > rows  # (Nq, Nk)


def softmax(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over keys; float16/bfloat16 are computed in float32 and cast back."""
    if scores.dtype in HALF_DTYPES:
        return torch.softmax(scores.float(), dim=-1).to(scores.dtype)
    return torch.softmax(scores, dim=-1)


def attention_scores(
    query: torch.Tensor, key: torch.Tensor, *, divisor: float, causal: bool, query_offset: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw scores Q K^T and what enters the softmax: divided, and masked with -inf.

    query (H, Nq, dk), key (H, Nk, dk) -> raw (H, Nq, Nk), scaled (H, Nq, Nk).
    """
    raw = query @ key.transpose(-2, -1)  # (H, Nq, Nk)
    scaled = raw / divisor if divisor != 1.0 else raw.clone()  # (H, Nq, Nk)
    if causal:
        mask = causal_mask(query.shape[-2], key.shape[-2], device=query.device, query_offset=query_offset)  # (Nq, Nk)
        scaled = scaled.masked_fill(mask, float("-inf"))  # (H, Nq, Nk)
    return raw, scaled


def layer_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Layer norm over the feature axis, without learned gain or bias."""
    return F.layer_norm(x, (x.shape[-1],), eps=eps)  # (N, D)


@dataclass
class Trace:
    """Every intermediate tensor of one self-attention pass (CPU or GPU, one dtype)."""

    embeddings: torch.Tensor | None  # (N, d_model) as looked up, or None for tensors configs
    positional: torch.Tensor | None  # (N, d_model) the encoding added, sinusoidal only
    inputs: torch.Tensor | None  # (N, d_model) embeddings after positional encoding
    queries: torch.Tensor  # (H, N, dk) after rope when used
    keys: torch.Tensor  # (H, N, dk)
    values: torch.Tensor  # (H, N, dv)
    raw_scores: torch.Tensor  # (H, N, N) Q K^T
    scores: torch.Tensor  # (H, N, N) scaled, tempered and masked (-inf): what enters the softmax
    weights: torch.Tensor  # (H, N, N)
    head_context: torch.Tensor  # (H, N, dv) weights @ values, per head
    concat: torch.Tensor  # (N, H*dv) heads side by side
    output: torch.Tensor | None  # (N, d_out) after the output projection, when one is given
    residual: torch.Tensor | None  # (N, d_out) after adding the inputs, when configured
    normed: torch.Tensor | None  # (N, d_out) after layer norm, when configured
    context: torch.Tensor  # (N, d_out) the final output vectors


def self_attention(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    *,
    divisor: float,
    causal: bool,
    rope_positions: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention over heads, returning every intermediate.

    queries (H, N, dk), keys (H, N, dk), values (H, N, dv) ->
    (queries, keys, raw scores, scores, weights, head context) with queries/keys rotated by rope.
    """
    if rope_positions:
        queries = rope(queries)  # (H, N, dk)
        keys = rope(keys)  # (H, N, dk)
    raw, scores = attention_scores(queries, keys, divisor=divisor, causal=causal)  # (H, N, N) x2
    weights = softmax(scores)  # (H, N, N)
    head_context = weights @ values  # (H, N, dv)
    return queries, keys, raw, scores, weights, head_context


def forward(
    x: torch.Tensor,
    *,
    w_query: torch.Tensor | None,
    w_key: torch.Tensor | None,
    w_value: torch.Tensor | None,
    w_output: torch.Tensor | None,
    heads: int,
    divisor: float,
    causal: bool,
    positional: str,
    residual: bool,
    use_layer_norm: bool,
) -> Trace:
    """Embeddings -> one self-attention layer. ``w_*`` None means identity."""
    embeddings = x  # (N, d_model)
    encoding = None
    if positional == "sinusoidal":
        encoding = sinusoidal_encoding(x.shape[0], x.shape[1], dtype=x.dtype, device=x.device)  # (N, d_model)
        x = x + encoding  # (N, d_model)
    query = x if w_query is None else x @ w_query  # (N, D_k)
    key = x if w_key is None else x @ w_key  # (N, D_k)
    value = x if w_value is None else x @ w_value  # (N, D_v)
    trace = attend_projected(query, key, value, heads=heads, divisor=divisor, causal=causal,
                             rope_positions=positional == "rope", w_output=w_output,
                             residual_input=x if residual else None, use_layer_norm=use_layer_norm)
    trace.embeddings, trace.positional, trace.inputs = embeddings, encoding, x
    return trace


def attend_projected(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    *,
    heads: int,
    divisor: float,
    causal: bool,
    rope_positions: bool = False,
    w_output: torch.Tensor | None = None,
    residual_input: torch.Tensor | None = None,
    use_layer_norm: bool = False,
) -> Trace:
    """Projected query (N, D_k), key (N, D_k), value (N, D_v) -> a full Trace."""
    q = split_heads(query, heads)  # (H, N, dk)
    k = split_heads(key, heads)  # (H, N, dk)
    v = split_heads(value, heads)  # (H, N, dv)
    q, k, raw, scores, weights, head_context = self_attention(
        q, k, v, divisor=divisor, causal=causal, rope_positions=rope_positions)
    concat = merge_heads(head_context)  # (N, D_v)
    out = concat
    output = residual = normed = None
    if w_output is not None:
        output = out = concat @ w_output  # (N, d_out)
    if residual_input is not None:
        residual = out = out + residual_input  # (N, d_out)
    if use_layer_norm:
        normed = out = layer_norm(out)  # (N, d_out)
    return Trace(
        embeddings=None, positional=None, inputs=None, queries=q, keys=k, values=v,
        raw_scores=raw, scores=scores, weights=weights, head_context=head_context, concat=concat,
        output=output, residual=residual, normed=normed, context=out,
    )


def random_projections(d_model: int, d_k: int, d_v: int, seed: int) -> tuple[torch.Tensor, ...]:
    """torch.manual_seed(seed); torch.rand for query, key, value, in that order (float32, CPU).

    A private generator gives the same numbers as the global one after
    ``torch.manual_seed(seed)`` without touching the global state.
    """
    generator = torch.Generator().manual_seed(seed)
    w_query = torch.rand(d_model, d_k, generator=generator)  # (d_model, D_k)
    w_key = torch.rand(d_model, d_k, generator=generator)  # (d_model, D_k)
    w_value = torch.rand(d_model, d_v, generator=generator)  # (d_model, D_v)
    return w_query, w_key, w_value


def cosine(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """Cosine similarity of two vectors; None when either is all zeros."""
    na, nb = float(a.double().norm()), float(b.double().norm())
    if na == 0.0 or nb == 0.0:
        return None
    return float((a.double() @ b.double()) / (na * nb))


def flops(n_query: int, n_key: int, heads: int, d_k: int, d_v: int) -> float:
    """Floating point operations of attention: Q K^T plus weights @ V (2 per multiply-add)."""
    return 2.0 * heads * n_query * n_key * (d_k + d_v)

