"""The attention math: pure torch functions, nothing else.

Conventions (the seeds' row-vector convention): a sequence is a matrix of row
vectors ``x`` of shape (N, d_model) and a projection is ``x @ W`` with ``W`` of
shape (d_in, d_out). Heads split the projected width into equal contiguous
chunks, as ``torch.nn.MultiheadAttention`` does.

Shapes: N tokens, H heads, dk / dv per-head key / value widths, D widths of all
heads together. Every function also takes leading batch dimensions (B, ...): a batch of
sequences of one length is computed in one go by ``attncli run --file``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from attncli.core.devices import import_torch
from attncli.core.record import Layer
from attncli.core.reduce import head_mean, top_links, visible_keys  # noqa: F401  (re-exported)
from attncli.core.spec import AttentionSpec as Spec

torch = import_torch()  # quietly: no "Failed to initialize NumPy" warning where numpy is absent
import torch.nn.functional as F  # noqa: E402

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
    """(..., N, D) -> (..., H, N, D/H): contiguous chunks of the feature axis."""
    *lead, n, width = x.shape  # (..., N, D)
    return x.view(*lead, n, heads, width // heads).transpose(-3, -2)  # (..., H, N, D/H)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(..., H, N, d) -> (..., N, H*d): the heads concatenated in order."""
    *lead, heads, n, d = x.shape  # (..., H, N, d)
    return x.transpose(-3, -2).reshape(*lead, n, heads * d)  # (..., N, H*d)


def softmax(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over keys; float16/bfloat16 are computed in float32 and cast back."""
    if scores.dtype in HALF_DTYPES:
        return torch.softmax(scores.float(), dim=-1).to(scores.dtype)
    return torch.softmax(scores, dim=-1)


def layer_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Layer norm over the feature axis, without learned gain or bias."""
    return F.layer_norm(x, (x.shape[-1],), eps=eps)  # (N, D)


@dataclass
class Projections:
    """W_query, W_key, W_value (d_in x d_out each) and the optional W_output; None means identity."""

    query: torch.Tensor | None = None  # (d_model, D_k)
    key: torch.Tensor | None = None  # (d_model, D_k)
    value: torch.Tensor | None = None  # (d_model, D_v)
    output: torch.Tensor | None = None  # (D_v, d_out)

    def as_dict(self) -> dict:
        return {"query": self.query, "key": self.key, "value": self.value, "output": self.output}


#: Scores of one chunk of query rows are kept under this many bytes (per intermediate).
CHUNK_BYTES = 64 * 2**20


def chunk_rows(heads: int, n_keys: int, element_size: int, budget: int = CHUNK_BYTES) -> int:
    """How many query rows to score at once so that one (H, C, N) tensor stays under budget."""
    return max(1, budget // max(1, heads * n_keys * element_size))


class Attended(NamedTuple):
    """What :func:`attend` computes for R query rows."""

    raw: torch.Tensor | None  # (H, R, N) Q K^T, when kept
    scores: torch.Tensor | None  # (H, R, N) divided and masked, when kept
    weights: torch.Tensor | None  # (H, R, N) when kept
    context: torch.Tensor  # (H, R, dv)
    top_indices: torch.Tensor | None  # (H, R, K) with top_k
    top_weights: torch.Tensor | None  # (H, R, K) with top_k
    finite: torch.Tensor  # () bool: every raw score was finite (no overflow), checked chunk by chunk


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
) -> Attended:
    """Scaled dot-product attention for some or all query rows, in chunks of rows.

    queries (H, N, dk), keys (H, N, dk), values (H, N, dv); rows (R,) query positions or None
    for all. Rows are independent, so chunking changes the memory used, never the result.
    """
    heads, n = queries.shape[-3], queries.shape[-2]  # (..., H, N, dk)
    n_keys = keys.shape[-2]
    count = n if rows is None else rows.numel()
    size = chunk or chunk_rows(heads, n_keys, queries.element_size())
    key_t = keys.transpose(-2, -1)  # (..., H, dk, N)
    raws, scaleds, weights_all, contexts, top_i, top_w = [], [], [], [], [], []
    finite = torch.ones((), dtype=torch.bool, device=queries.device)  # ()
    check = True
    if queries.shape[-2] * n_keys > 1 << 20:
        # Large inputs: |q . k| <= |q| |k| bounds every score; when the bound fits the dtype no
        # score can overflow, and the pass over each chunk's scores is saved.
        bound = queries.norm(dim=-1).amax().double() * keys.norm(dim=-1).amax().double()  # ()
        check = not bool(bound < torch.finfo(queries.dtype).max / 4)
    for start in range(0, count, size):
        if rows is None and size >= n:  # everything at once: no gather
            index = None
            query = queries  # (H, C, dk)
        else:
            index = (torch.arange(start, min(start + size, n), device=queries.device) if rows is None
                     else rows[start:start + size])  # (C,)
            query = queries.index_select(-2, index)  # (..., H, C, dk)
        if keep:
            raw = query @ key_t  # (H, C, N)
            scores = raw / divisor if divisor != 1.0 else raw  # (H, C, N)
        else:  # raw scores are not kept: scale the (small) queries instead of the (large) scores
            raw = scores = (query / divisor if divisor != 1.0 else query) @ key_t  # (H, C, N)
        if check:
            finite = finite & torch.isfinite(raw).all()  # ()
        if causal:
            position = (torch.arange(query.shape[-2], device=keys.device) if index is None else index)  # (C,)
            mask = torch.arange(n_keys, device=keys.device)[None, :] > position[:, None]  # (C, N)
            scores = scores.masked_fill(mask, float("-inf")) if keep else scores.masked_fill_(mask, float("-inf"))
        weights = softmax(scores)  # (H, C, N)
        contexts.append(weights @ values)  # (H, C, dv)
        if top_k:
            position = (torch.arange(start, start + query.shape[-2], device=keys.device) if index is None
                        else index)  # (C,)
            w, i = top_links(weights, top_k, position if causal else None)  # (H, C, K) x2
            top_w.append(w)
            top_i.append(i)
        if keep:
            raws.append(raw)
            scaleds.append(scores)
            weights_all.append(weights)

    def cat(parts: list) -> torch.Tensor | None:
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-2)  # (..., H, R, *)

    if not contexts:  # no rows asked for
        contexts = [queries.new_zeros(*queries.shape[:-2], 0, values.shape[-1])]  # (..., H, 0, dv)
    return Attended(cat(raws), cat(scaleds), cat(weights_all), cat(contexts), cat(top_i), cat(top_w), finite)


def forward(
    x: torch.Tensor,
    weights: Projections,
    spec: Spec,
    *,
    rows: list[int] | None = None,
    top_k: int | None = None,
    keep: bool = True,
) -> Layer:
    """Embeddings (..., N, d_model) -> one self-attention layer, for ``rows`` (default all).

    The Layer's ``inputs`` are the embeddings after the positional encoding (``positional``, when
    sinusoidal); the embeddings themselves are the caller's ``x``.
    """
    encoding = None
    if spec.positional == "sinusoidal":
        encoding = sinusoidal_encoding(x.shape[-2], x.shape[-1], dtype=x.dtype, device=x.device)  # (N, d_model)
        x = x + encoding  # (N, d_model)
    query = x if weights.query is None else x @ weights.query  # (N, D_k)
    key = x if weights.key is None else x @ weights.key  # (N, D_k)
    value = x if weights.value is None else x @ weights.value  # (N, D_v)
    layer = attend_projected(query, key, value, spec, w_output=weights.output,
                             residual_input=x if spec.residual else None, rows=rows, top_k=top_k, keep=keep)
    layer.positional, layer.inputs = encoding, x
    return layer


def attend_projected(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    spec: Spec,
    *,
    w_output: torch.Tensor | None = None,
    residual_input: torch.Tensor | None = None,
    rows: list[int] | None = None,
    top_k: int | None = None,
    keep: bool = True,
) -> Layer:
    """Projected query (N, D_k), key (N, D_k), value (N, D_v) -> a Layer for ``rows`` (default all).

    Every per-query tensor holds R = len(rows) rows. ``scores``, ``raw_scores`` and ``weights`` are
    None when they were not kept (a long input viewed through ``top_k`` only); ``output`` is the
    final context vectors, ``projected`` / ``residual`` / ``normed`` the steps that made them.
    """
    q = split_heads(query, spec.heads)  # (H, N, dk)
    k = split_heads(key, spec.heads)  # (H, N, dk)
    v = split_heads(value, spec.heads)  # (H, N, dv)
    if spec.positional == "rope":
        q = rope(q)  # (H, N, dk)
        k = rope(k)  # (H, N, dk)
    index = None if rows is None else torch.tensor(rows, dtype=torch.long, device=query.device)  # (R,)
    attended = attend(q, k, v, divisor=spec.divisor, causal=spec.causal, rows=index, top_k=top_k, keep=keep)
    head_context = attended.context  # (H, R, dv)
    concat = merge_heads(head_context)  # (R, D_v)
    out = concat
    output = residual = normed = None
    if w_output is not None:
        output = out = concat @ w_output  # (R, d_out)
    if residual_input is not None:
        base = residual_input if index is None else residual_input.index_select(-2, index)  # (R, d_model)
        residual = out = out + base  # (R, d_out)
    if spec.layer_norm:
        normed = out = layer_norm(out)  # (R, d_out)
    return Layer(
        index=0, inputs=None, queries=q, keys=k, values=v,
        raw_scores=attended.raw, scores=attended.scores, weights=attended.weights, head_context=head_context,
        concat=concat, projected=output, residual=residual, normed=normed, output=out,
        top_indices=attended.top_indices, top_weights=attended.top_weights, finite=attended.finite,
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


def rollout(layers: list, rows: list[int] | None = None):
    """Attention rollout (Abnar and Zuidema, 2020) through ``layers``, each (H, N, N).

    Per layer: the heads' mean A, plus the identity for the residual path, rows renormalized
    (Â = (A + I) / rowsum); then the product through the layers, the last on the left:
    R = Â_L ... Â_1. Each row of Â sums to 1, so R's rows do too. With causal weights every
    Â is lower triangular, so R is too: a token's rollout never reaches a later token.
    Computed in float64; returns (R, N) for ``rows`` (default every row).
    """
    result = None
    for weights in layers:
        mean = weights.double().mean(dim=0)  # (N, N)
        augmented = mean + torch.eye(mean.shape[-1], dtype=mean.dtype, device=mean.device)  # (N, N)
        augmented = augmented / augmented.sum(dim=-1, keepdim=True)  # (N, N)
        result = augmented if result is None else augmented @ result  # (N, N)
    return result if rows is None else result[rows]  # (R, N)


def flops(n_query: int, n_key: int, heads: int, d_k: int, d_v: int) -> float:
    """Floating point operations of attention: Q K^T plus weights @ V (2 per multiply-add)."""
    return 2.0 * heads * n_query * n_key * (d_k + d_v)



def unscaled_scores(queries, keys, rows: list[int] | None = None):
    """Q K^T per head, before scaling and masking: queries (H, N, dk), keys (KV, N, dk) -> (H, R, N);
    query head h reads key head h // (H / KV) (grouped-query attention)."""
    heads, kv = queries.shape[0], keys.shape[0]
    picked = queries if rows is None else queries[:, rows]  # (H, R, dk)
    return picked @ keys.repeat_interleave(heads // kv, dim=0).transpose(1, 2)  # (H, R, N)
