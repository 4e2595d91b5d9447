"""Memory for a real model: what a forward pass needs, and allocation failures said plainly.

torch reports a failed allocation like a C library (``DefaultCPUAllocator: can't allocate memory:
you tried to allocate 66960000 bytes. Error code 12``); these turn it into what ran out, during
what, and which option or input shrinks it.
"""

from __future__ import annotations

import re

from attncli.errors import AttnError, ExitCode, option
from attncli.models.folder import memory_limit

_ALLOCATION = ("can't allocate memory", "cannot allocate memory", "defaultcpuallocator", "out of memory",
               "error code 12", "failed to allocate")


def _cap_note() -> str:
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return ""
    if soft == resource.RLIM_INFINITY:
        return ""
    return f"; this process's address space is capped at {soft / 2**30:,.1f} GiB (ulimit -v)"


def allocation_error(exc: BaseException, what: str, *, where: str | None = None) -> AttnError | None:
    """An out-of-memory failure during ``what`` as one line (None when ``exc`` is something else)."""
    text = str(exc)
    if not isinstance(exc, MemoryError) and not any(mark in text.lower() for mark in _ALLOCATION):
        return None
    size = re.search(r"allocate (\d+) bytes", text)
    amount = f": {int(size.group(1)) / 2**20:,.1f} MiB more could not be allocated" if size else ""
    if "forward" in what:
        hint = f"shorten the text, use {option('dtype')} bfloat16, or free memory"
    else:
        hint = "use a smaller model or free memory; the whole model is held in memory"
    return AttnError(f"out of memory during {what}{amount}{_cap_note()}", where=where, kind="memory",
                     code=ExitCode.FAILURE, hint=hint)


def activation_bytes(info: dict, n: int, element: int, *, rows: int | None = None, kept_points=None) -> int:
    """What one forward pass of ``n`` tokens holds at once, from the config's sizes (bytes).

    ``rows``: only that many query rows are computed (the model runs on SDPA, attncli computes those
    rows from the captured queries and keys, in chunks of at most CHUNK_BYTES); None: every row, eagerly."""
    layers, heads, d = info["layers"] or 1, info["heads"] or 1, info["d_model"] or 1
    if rows is None:
        kept = layers * heads * n * n  # every layer's attention weights (H, N, N), returned
        kept += (layers + 1) * n * d + 2 * layers * n * d  # hidden states, attention outputs, head outputs
        transient = 2 * heads * n * n + 8 * n * d  # one layer's scores and softmax, its MLP
        return (kept + transient) * element
    from attncli.core.attention import CHUNK_BYTES

    points = set(kept_points or ())
    per_layer = sum(n * d for p in ("resid_pre", "resid_post", "q", "k", "v") if p in points)  # (N, d) each
    per_layer += 2 * heads * rows * n + 3 * rows * d  # the rows' scores and weights, their outputs
    transient = 3 * CHUNK_BYTES // element + 8 * n * d  # one chunk of rows, the MLP
    return (layers * per_layer + transient) * element


def check_activations(info: dict, n: int, element: int, where: str, *, rows: int | None = None,
                      kept=None) -> None:
    """Refuse a text whose forward pass would not fit in memory, before running it."""
    need = activation_bytes(info, n, element, rows=rows, kept_points=kept)
    limit = memory_limit()
    if limit is not None and need > limit[0]:
        raise AttnError(f"{n:,} tokens need about {need / 2**20:,.0f} MiB for the forward pass (attention weights "
                        f"and hidden states of {info['layers']} layers); the limit is {limit[0] / 2**20:,.0f} MiB "
                        f"({limit[1]})", where=where, kind="memory", code=ExitCode.FAILURE,
                        hint=f"use a smaller {option('length')}" if where == option("length") else "shorten the text")


def nonfinite_hint(model, dtype_name: str) -> str:
    """The advice for non-finite output: float32 only helps a run that is not already float32."""
    if dtype_name != "float32":
        return f"use {option('dtype')} float32"
    import torch

    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return f"the model's weights hold NaN or infinite values ({name}): the weights file is damaged"
    return "the model overflows on this text even in float32; its weights or config.json may be damaged"
