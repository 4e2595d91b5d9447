"""The value-aware measures on a real model: capture what they need during the forward, then compute.

``norm``, ``mixing`` and ``alti`` need each layer's attention input x (captured at the value module,
so after the pre-layer norm of pre-LN models) besides what the run already has (weights, the block's
input, the attention output); ``value-zeroing`` reruns each chosen block once per token with that
token's value vectors zeroed (batched: several tokens' reruns go through the block together).
The math is :mod:`attncli.core.measures`; the modules per family are :mod:`attncli.models.parts`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

from attncli.errors import AttnError, option

#: value zeroing reruns one layer once per token: N x layers passes. Refused above this many
#: (``--max-passes`` raises it).
MAX_PASSES = 4096
#: One batched rerun holds at most this many bytes of attention weights.
RERUN_BYTES = 256 * 2**20


@contextmanager
def capture_inputs(layers_modules, wanted: list[int]):
    """Capture each wanted layer's attention input (the value module's input) and block call."""
    inputs: dict[int, object] = {}
    calls: dict[int, tuple] = {}
    hooks = []
    for index in wanted:
        family = layers_modules[index]
        hooks.append(family.value.register_forward_pre_hook(
            lambda _m, args, index=index: inputs.__setitem__(index, args[0])))
        hooks.append(family.block.register_forward_pre_hook(
            lambda _m, args, kwargs, index=index: calls.__setitem__(index, (args, dict(kwargs))), with_kwargs=True))
    try:
        yield inputs, calls
    finally:
        for hook in hooks:
            hook.remove()


def layer_parts(family, x, alpha, residual, kv_heads: int):
    """A model layer as :class:`attncli.core.measures.layer.LayerParts` (x, residual (N, d); alpha (H, N, N))."""
    from attncli.core.measures.layer import LayerParts

    w_v, b_v, w_o, b_o = family.weights()
    norm = family.norm()
    gamma = beta = eps = None
    rms = False
    if norm is not None:
        gamma, beta, eps, rms = norm
    return LayerParts(x=x, alpha=alpha, w_v=w_v, b_v=b_v, w_o=w_o, b_o=b_o, kv_heads=kv_heads, residual=residual,
                      ln_gamma=gamma, ln_beta=beta, ln_eps=eps, rms=rms)


def check_passes(n: int, layers: int, limit: int | None) -> int:
    """Value zeroing's cost: n x layers single-layer passes, refused above the limit."""
    limit = MAX_PASSES if limit is None else limit
    passes = n * layers
    if passes > limit:
        raise AttnError(f"value zeroing needs {n} tokens x {layers} layers = {passes:,} layer passes; the limit is "
                        f"{limit:,}", where=f"{option('measure')} value-zeroing", kind="budget",
                        hint=f"raise it with {option('max_passes')}, choose one {option('layer')}, or shorten the text")
    return passes


def _first(output):
    return output[0] if isinstance(output, tuple) else output


def value_zeroing_layer(torch, family, call: tuple, n: int, *, heads: int, progress: Callable | None = None,
                       batch_size: int | None = None):
    """Rerun one block with each token's values zeroed; returns the raw cosine distances (N, N)."""
    from attncli.core.measures import scores

    args, kwargs = call
    hidden = args[0] if args else kwargs["hidden_states"]  # (1, N, d)
    rest = args[1:]
    kwargs = {k: v for k, v in kwargs.items() if k != "hidden_states"}
    cut = family.value_slice()
    with torch.no_grad():
        original = _first(family.block(hidden, *rest, **kwargs))[0]  # (N, d)
        per_token = max(1, heads * n * n * hidden.element_size())
        size = max(1, min(n, RERUN_BYTES // per_token)) if batch_size is None else batch_size
        altered = []
        for start in range(0, n, size):
            tokens = list(range(start, min(n, start + size)))  # (J,)

            def zero(_module, _inputs, output, tokens=tokens):
                out = output.clone()  # (J, N, KV*dv) or GPT-2's (J, N, 3d)
                for b, j in enumerate(tokens):
                    out[b, j, cut] = 0
                return out

            hook = family.value.register_forward_hook(zero)
            try:
                batch = hidden.expand(len(tokens), -1, -1)  # (J, N, d)
                altered.append(_first(family.block(batch, *rest, **kwargs)))  # (J, N, d)
            finally:
                hook.remove()
            if progress is not None:
                progress(len(tokens))
    return scores.cosine_distances(original, torch.cat(altered, dim=0))  # (N, N)
