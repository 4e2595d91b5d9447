"""Numbers derived from the settings, checked when the settings are resolved (before any tensor exists).

* The divisor (scale x temperature) must be finite and between :data:`DIVISOR_MIN` and
  :data:`DIVISOR_MAX`: ``--temperature 1e308`` would make it infinite, ``1e-320`` its inverse.
* Every tensor the settings imply (the embedding table, tensors given directly, the projection
  matrices, random ones drawn in float32 first) is sized against the tensor budget
  (``--max-weights-mb``, default :data:`DEFAULT_BUDGET_MB` MiB), so ``--d-k 100000000`` is refused
  by arithmetic instead of by the allocator.

Each check returns problems as ``(key path, message, hint)``; the validator turns the key path
into ``file:line:col`` or the option that set it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from attncli.config.settings import Settings
from attncli.core.dtypes import ELEMENT_SIZE
from attncli.errors import option

DIVISOR_MIN = 1e-30
DIVISOR_MAX = 1e30
#: Default tensor budget in MiB (the same figure as the attention matrices' ``--max-weights-mb``).
DEFAULT_BUDGET_MB = 256.0

Problem = tuple  # (key path, message, hint)


class Block(NamedTuple):
    """One tensor the settings imply: a name, the key path that sets its size, and its shape."""

    name: str
    path: tuple
    rows: int
    cols: int

    @property
    def size(self) -> int:
        return self.rows * self.cols


def check_divisor(s: Settings) -> list[Problem]:
    a = s.attention
    scale, temperature = s.scale_factor, a.temperature
    divisor = scale * temperature
    if math.isfinite(divisor) and DIVISOR_MIN <= divisor <= DIVISOR_MAX:
        return []
    # Blame the factor further from 1: that is the one to change.
    blame_temperature = isinstance(a.scale, bool) or abs(math.log(temperature)) >= abs(math.log(scale))
    path = ("attention", "temperature") if blame_temperature else ("attention", "scale")
    message = (f"the scores' divisor, scale x temperature = {scale:g} x {temperature:g} = {divisor:g}, "
               "is out of range")
    return [(path, message, f"keep scale x temperature between {DIVISOR_MIN:g} and {DIVISOR_MAX:g}")]


def parameter_blocks(s: Settings) -> list[Block]:
    """The tensors the settings imply before any text is seen, largest cost first."""
    a = s.attention
    blocks: list[Block] = []
    if s.embeddings is not None:
        blocks.append(Block("embedding table", ("embeddings",), len(s.embeddings), s.d_model))
    if s.tensors is not None:
        n = len(s.tensors.tokens)
        blocks += [Block("tensors.query", ("tensors", "query"), n, s.d_k),
                   Block("tensors.key", ("tensors", "key"), n, s.d_k),
                   Block("tensors.value", ("tensors", "value"), n, s.d_v)]
    if a.projections in ("random", "explicit"):
        proj = ("attention", "projections")
        random = a.projections == "random"
        # Widths set by d_k/d_v are blamed on them; widths that follow d_model on the projections.
        k_path = ("attention", "d_k") if random and a.d_k is not None else proj
        v_path = ("attention", "d_v") if random and a.d_v is not None else k_path
        blocks += [Block("query projection", k_path, s.d_model, s.d_k),
                   Block("key projection", k_path, s.d_model, s.d_k),
                   Block("value projection", v_path, s.d_model, s.d_v)]
        if a.matrices and "output" in a.matrices:
            blocks.append(Block("output projection", proj, s.d_v, s.d_out))
    return sorted(blocks, key=lambda b: -b.size)


def tensor_bytes(s: Settings, n_tokens: int = 0) -> int:
    """Bytes of the tensors the settings imply, plus a pass over ``n_tokens`` tokens if given.

    Per token: its embedding, query, key, value, each head's output and the context vector
    (the (H, N, N) matrices are budgeted separately, by the engine).
    """
    element = ELEMENT_SIZE[s.dtype]
    total = sum(b.size for b in parameter_blocks(s)) * element
    if s.attention.projections == "random" and s.dtype != "float32":
        total += (2 * s.d_model * s.d_k + s.d_model * s.d_v) * 4  # drawn in float32, then cast
    per_token = s.d_model + 2 * s.d_k + 2 * s.d_v + 2 * s.d_out
    return total + n_tokens * per_token * element


def check_budget(s: Settings, budget_mb: float) -> list[Problem]:
    need = tensor_bytes(s)
    if need <= budget_mb * 2**20:
        return []
    blocks = parameter_blocks(s)
    shapes = ", ".join(f"{b.name} {b.rows:,} x {b.cols:,}" for b in blocks[:4])
    message = (f"the tensors these settings imply ({shapes}) need {need / 2**20:,.0f} MiB in {s.dtype}; "
               f"the budget is {budget_mb:,.0f} MiB")
    return [(blocks[0].path, message, f"use smaller widths, or raise {option('max_weights_mb')}")]


def check_text_budget(s: Settings, n_tokens: int, budget_mb: float = DEFAULT_BUDGET_MB) -> None:
    """Refuse (exit 2) a text whose per-token tensors would not fit the budget, before embedding it.

    For the engine to call once the tokens are counted: a 300,000-wide embedding times 1,000 tokens
    is 1.2 GB of float32 (and more as Python lists) even when the (H, N, N) matrices are small.
    """
    need = tensor_bytes(s, n_tokens)
    if need <= budget_mb * 2**20:
        return
    from attncli.errors import AttnError

    widths = f"d_model {s.d_model:,}, d_k {s.d_k:,}, d_v {s.d_v:,}, d_out {s.d_out:,}"
    raise AttnError(f"{n_tokens:,} tokens at {widths} need {need / 2**20:,.0f} MiB in {s.dtype} for the "
                    f"embeddings, queries, keys, values and outputs; the budget is {budget_mb:,.0f} MiB",
                    param="max_weights_mb", kind="budget",
                    hint=f"use a shorter text or smaller widths, or raise {option('max_weights_mb')}")
