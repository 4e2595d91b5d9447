"""One layer's measure from its parts: what a toy run or a model gives, in one shape.

A layer is read as: the attention input x (N, d) (after the pre-layer norm in pre-LN models), the
weights alpha (H, R, N), the value and output projections W_V (d, KV*dv), b_V, W_O (H*dv, d), b_O,
the residual added after attention (the block's input h; None when there is none) and, for post-LN
blocks, the layer norm after the residual. Then, for row i and key j:

    f^h(x_j) = (x_j W_V^h + b_V^h) W_O^h                                  (H, N, d)
    z_ij     = sum_h alpha_ij^h f^h(x_j) + [i = j] h_i                    (R, N, d)
    post-LN:  T_i(x_j) = g_i(z_ij),  y_i = sum_j T_i(x_j) + g_i(b_O) + beta  (y_i = LN(z_i + b_O))
    pre-LN:   T_i(x_j) = z_ij,       y_i = sum_j T_i(x_j) + b_O              (the residual stream after attention)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attncli.core.measures import scores, vectors


@dataclass
class LayerParts:
    """What a layer's measure needs (tensors of one dtype and device)."""

    x: Any  # (N, d_in) the attention's input (what W_V multiplies)
    alpha: Any  # (H, R, N) softmax weights
    w_v: Any | None  # (d_in, KV*dv); None: identity
    b_v: Any | None  # (KV*dv,)
    w_o: Any | None  # (H*dv, d); None: identity
    b_o: Any | None  # (d,)
    kv_heads: int
    residual: Any | None = None  # (N, d) added after attention: the block's input; None: no residual
    ln_gamma: Any | None = None  # (d,) the post-attention layer norm's gain (post-LN blocks)
    ln_beta: Any | None = None  # (d,)
    ln_eps: float | None = None  # None: no layer norm after attention (pre-LN blocks, toy without it)
    rms: bool = False  # the layer norm is an RMSNorm
    rows: list[int] | None = None  # the R query rows (None: all N)
    #: (KV, N, dv) the value vectors x W_V + b_V as the model's key/value cache holds them; when given,
    #: x, w_v and b_v are not used (a generation step: f is computed from the cache, not from x)
    values: Any | None = None
    residual_rows: bool = False  # residual is (R, d), row r's own (a generation step keeps only the new token's)

    @property
    def heads(self) -> int:
        return int(self.alpha.shape[0])


@dataclass
class Measured:
    """One layer under one measure."""

    values: Any  # (H, R, N) per head, or (1, R, N) for measures without heads
    level: Any  # (1, R, N) all heads together
    ratio: Any | None = None  # (R,) mixing ratio: the share from other tokens (mixing only)
    steps: dict | None = None  # intermediate tensors for ``explain`` (f, z, terms, resultant)


def transformed_values(parts: LayerParts):
    """f^h(x_j) for every head and token: (H, N, d)."""
    if parts.values is not None:
        return vectors.transformed(parts.values, parts.w_o, parts.heads)  # (H, N, d)
    x = parts.x  # (N, d_in)
    if parts.w_v is None:
        kv_values = vectors.head_values(x, _eye(x), parts.b_v, parts.kv_heads)  # (KV, N, d_in)
    else:
        kv_values = vectors.head_values(x, parts.w_v, parts.b_v, parts.kv_heads)  # (KV, N, dv)
    return vectors.transformed(kv_values, parts.w_o, parts.heads)  # (H, N, d)


def _eye(x):
    from attncli.core.devices import import_torch

    return import_torch().eye(x.shape[-1], dtype=x.dtype, device=x.device)  # (d, d)


def block_terms(parts: LayerParts, f):
    """T_i(x_j) (R, N, d) and the block output y_i (R, d) rebuilt from them (see the module doc)."""
    weighted = vectors.weighted_sum(parts.alpha, f)  # (R, N, d)
    z = weighted if parts.residual is None else vectors.with_residual(
        weighted, parts.residual, parts.rows, per_row=parts.residual_rows)  # (R, N, d)
    bias = parts.b_o  # (d,)
    if parts.ln_eps is None:
        resultant = z.sum(1) + (bias if bias is not None else 0)  # (R, d)
        return weighted, z, z, resultant
    pre_norm = z.sum(1) + (bias if bias is not None else 0)  # (R, d) what the layer norm sees
    terms = vectors.layer_norm_terms(z, pre_norm, parts.ln_gamma, parts.ln_eps, rms=parts.rms)  # (R, N, d)
    resultant = terms.sum(1)  # (R, d)
    if bias is not None:
        resultant = resultant + vectors.layer_norm_terms(bias.expand(z.shape[0], 1, -1), pre_norm, parts.ln_gamma,
                                                         parts.ln_eps, rms=parts.rms)[:, 0]  # (R, d)
    if parts.ln_beta is not None:
        resultant = resultant + parts.ln_beta  # (R, d)
    return weighted, z, terms, resultant


def measure_layer(name: str, parts: LayerParts, *, keep_steps: bool = False) -> Measured:
    """``norm``, ``mixing`` or ``alti`` for one layer (``weights`` is the weights themselves)."""
    if name == "weights":
        from attncli.core.attention import head_mean

        return Measured(values=parts.alpha, level=head_mean(parts.alpha))
    f = transformed_values(parts)  # (H, N, d)
    if name == "norm":
        weighted = vectors.weighted_sum(parts.alpha, f)  # (R, N, d)
        steps = {"f": f, "weighted": weighted} if keep_steps else None
        return Measured(values=scores.norm_per_head(parts.alpha, f), level=scores.norm_layer(weighted), steps=steps)
    weighted, z, terms, resultant = block_terms(parts, f)
    steps = {"f": f, "weighted": weighted, "z": z, "terms": terms, "resultant": resultant} if keep_steps else None
    if name == "mixing":
        c = scores.mixing(terms)  # (1, R, N)
        return Measured(values=c, level=c, ratio=scores.mixing_ratio(c, parts.rows), steps=steps)
    if name == "alti":
        c = scores.alti(terms, resultant, parts.rows)  # (1, R, N)
        return Measured(values=c, level=c, steps=steps)
    raise ValueError(f"measure_layer does not compute {name!r}")


def measure_row(name: str, values, alpha, *, w_o, b_o, position: int, residual=None) -> Measured:
    """One query row of a pre-LN layer from what a key/value cache holds: a generation step's measure.

    values (KV, N, dv) the cached value vectors (x_j W_V + b_V, every key so far); alpha (H, 1, N) the
    row's softmax weights; w_o (H*dv, d), b_o (d,); position: the query's index among the N keys;
    residual (1, d) the query token's block input (``mixing``/``alti``). Returns values (H or 1, 1, N),
    level (1, 1, N) and, for ``mixing``, ratio (1,): row ``position`` of :func:`measure_layer` on the
    whole sequence, with nothing of size N x N.
    """
    parts = LayerParts(x=None, alpha=alpha, w_v=None, b_v=None, w_o=w_o, b_o=b_o, kv_heads=int(values.shape[0]),
                       residual=residual, rows=[position], values=values, residual_rows=True)
    return measure_layer(name, parts)
