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


def softmax(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over keys; float16/bfloat16 are computed in float32 and cast back."""
    if scores.dtype in HALF_DTYPES:
        return torch.softmax(scores.float(), dim=-1).to(scores.dtype)
    return torch.softmax(scores, dim=-1)


def layer_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Layer norm over the feature axis, without learned gain or bias."""
    return F.layer_norm(x, (x.shape[-1],), eps=eps)  # (N, D)


@dataclass
class Trace:
    """Every intermediate tensor of one self-attention pass (CPU or GPU, one dtype).

    ``rows`` lists the query positions computed (None: all N, in order); every per-query tensor
    below holds R = len(rows) rows. ``scores``, ``raw_scores`` and ``weights`` are None when they
    were not kept (a long input viewed through ``top_k`` only).
    """

    embeddings: torch.Tensor | None  # (N, d_model) as looked up, or None for tensors configs
    positional: torch.Tensor | None  # (N, d_model) the encoding added, sinusoidal only
    inputs: torch.Tensor | None  # (N, d_model) embeddings after positional encoding
    queries: torch.Tensor  # (H, N, dk) every query, after rope when used
    keys: torch.Tensor  # (H, N, dk)
    values: torch.Tensor  # (H, N, dv)
    raw_scores: torch.Tensor | None  # (H, R, N) Q K^T
    scores: torch.Tensor | None  # (H, R, N) scaled, tempered and masked (-inf): what enters the softmax
    weights: torch.Tensor | None  # (H, R, N)
    head_context: torch.Tensor  # (H, R, dv) weights @ values, per head
    concat: torch.Tensor  # (R, H*dv) heads side by side
    output: torch.Tensor | None  # (R, d_out) after the output projection, when one is given
    residual: torch.Tensor | None  # (R, d_out) after adding the inputs, when configured
    normed: torch.Tensor | None  # (R, d_out) after layer norm, when configured
    context: torch.Tensor  # (R, d_out) the final output vectors
    rows: list[int] | None = None
    top_indices: torch.Tensor | None = None  # (H, R, K) the K most-attended keys of each query
    top_weights: torch.Tensor | None = None  # (H, R, K) their weights, largest first


#: Scores of one chunk of query rows are kept under this many bytes (per intermediate).
CHUNK_BYTES = 32 * 2**20


def chunk_rows(heads: int, n_keys: int, element_size: int, budget: int = CHUNK_BYTES) -> int:
    """How many query rows to score at once so that one (H, C, N) tensor stays under budget."""
    return max(1, budget // max(1, heads * n_keys * element_size))


def attend(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    *,
    divisor: float,
    causal: bool,
    rows: torch.Tensor | None = None,
    top_k: int | None = None,
    keep: bool = True,
    chunk: int | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, torch.Tensor,
           torch.Tensor | None, torch.Tensor | None]:
    """Scaled dot-product attention for some or all query rows, in chunks of rows.

    queries (H, N, dk), keys (H, N, dk), values (H, N, dv); rows (R,) query positions or None.
    Returns raw scores (H, R, N), scores (H, R, N), weights (H, R, N) (each None unless ``keep``),
    head context (H, R, dv), and with ``top_k`` the top indices and weights (H, R, K).
    Rows are independent, so chunking changes memory, never the result.
    """
    heads, n, _ = queries.shape  # (H, N, dk)
    positions = rows if rows is not None else torch.arange(n, device=queries.device)  # (R,)
    size = chunk or chunk_rows(heads, keys.shape[-2], queries.element_size())
    raws, scaleds, weights_all, contexts, top_i, top_w = [], [], [], [], [], []
    for start in range(0, positions.numel(), size):
        index = positions[start:start + size]  # (C,)
        query = queries.index_select(1, index)  # (H, C, dk)
        raw = query @ keys.transpose(-2, -1)  # (H, C, N)
        scores = raw / divisor if divisor != 1.0 else raw.clone()  # (H, C, N)
        if causal:
            mask = torch.arange(keys.shape[-2], device=keys.device)[None, :] > index[:, None]  # (C, N)
            scores = scores.masked_fill(mask, float("-inf"))  # (H, C, N)
        weights = softmax(scores)  # (H, C, N)
        contexts.append(weights @ values)  # (H, C, dv)
        if top_k:
            w, i = weights.topk(min(top_k, weights.shape[-1]), dim=-1)  # (H, C, K) x2
            top_w.append(w)
            top_i.append(i)
        if keep:
            raws.append(raw)
            scaleds.append(scores)
            weights_all.append(weights)
    cat = (lambda parts: torch.cat(parts, dim=1)) if len(contexts) > 1 else (lambda parts: parts[0])
    if not contexts:  # no rows asked for
        empty = queries.new_zeros(heads, 0, values.shape[-1])  # (H, 0, dv)
        return None, None, None, empty, None, None
    return (cat(raws) if keep else None, cat(scaleds) if keep else None, cat(weights_all) if keep else None,
            cat(contexts), cat(top_i) if top_k else None, cat(top_w) if top_k else None)


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
    rows: list[int] | None = None,
    top_k: int | None = None,
    keep: bool = True,
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
                             residual_input=x if residual else None, use_layer_norm=use_layer_norm,
                             rows=rows, top_k=top_k, keep=keep)
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
    rows: list[int] | None = None,
    top_k: int | None = None,
    keep: bool = True,
) -> Trace:
    """Projected query (N, D_k), key (N, D_k), value (N, D_v) -> a Trace for ``rows`` (default all)."""
    q = split_heads(query, heads)  # (H, N, dk)
    k = split_heads(key, heads)  # (H, N, dk)
    v = split_heads(value, heads)  # (H, N, dv)
    if rope_positions:
        q = rope(q)  # (H, N, dk)
        k = rope(k)  # (H, N, dk)
    index = None if rows is None else torch.tensor(rows, dtype=torch.long, device=query.device)  # (R,)
    raw, scores, weights, head_context, top_i, top_w = attend(
        q, k, v, divisor=divisor, causal=causal, rows=index, top_k=top_k, keep=keep)
    concat = merge_heads(head_context)  # (R, D_v)
    out = concat
    output = residual = normed = None
    if w_output is not None:
        output = out = concat @ w_output  # (R, d_out)
    if residual_input is not None:
        base = residual_input if index is None else residual_input.index_select(0, index)  # (R, d_model)
        residual = out = out + base  # (R, d_out)
    if use_layer_norm:
        normed = out = layer_norm(out)  # (R, d_out)
    return Trace(
        embeddings=None, positional=None, inputs=None, queries=q, keys=k, values=v,
        raw_scores=raw, scores=scores, weights=weights, head_context=head_context, concat=concat,
        output=output, residual=residual, normed=normed, context=out,
        rows=rows, top_indices=top_i, top_weights=top_w,
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

