"""Named capture and intervention points: what each layer's attention can show, and change.

The names are a contract shared by toy runs (:meth:`attncli.core.record.Layer.point`) and real
models (``Transformer.hooks``, attncli.models.capture). Shapes are per layer with the batch
dimension dropped: H query heads, KV key/value heads (grouped-query attention: query head h reads
key/value head ``h // (H / KV)``), N keys (with a KV cache: the cached positions and the new
ones), R the query rows computed (all the forward's queries by default), d the model width.
No torch here: the interventions are plain dataclasses; the tensors they hold are the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: name -> shape and meaning, in the order the data flows through one layer.
POINTS: dict[str, str] = {
    "resid_pre": "(N, d) the block's input (the residual stream before the layer)",
    "q": "(H, N, dk) queries, after rotary position embeddings where the model applies them",
    "k": "(KV, N, dk) keys, after rotary position embeddings",
    "v": "(KV, N, dv) values",
    "scores": "(H, R, N) scaled scores with the mask applied (masked: -inf): what enters the softmax",
    "pattern": "(H, R, N) softmax weights",
    "z": "(H, R, dv) each head's output (pattern @ v) before the output projection",
    "attn_out": "(R, d) the attention's output projection (the heads' summed contribution, bias included)",
    "attn_sublayer": "(R, d) the attention sublayer's output as the block receives it (BERT: after its "
                     "residual add and layer norm; elsewhere the same as attn_out)",
    "resid_post": "(N, d) the block's output (after its feed-forward sublayer)",
}

#: Points computed inside the attention function (the rest are read by forward hooks).
ATTENTION_POINTS = ("q", "k", "v", "scores", "pattern", "z")
#: Points that hold only the computed query rows when ``rows`` is given.
ROW_POINTS = ("scores", "pattern", "z", "attn_out", "attn_sublayer")

ABLATE_MODES = ("zero", "mean", "first")


@dataclass(frozen=True)
class AblateHead:
    """Knock out one head: ``zero`` its z, replace it by its ``mean`` over the query positions, or send
    its whole pattern to the ``first`` key (z becomes that key's value vector)."""

    layer: int
    head: int
    mode: str = "zero"

    def __post_init__(self) -> None:
        if self.mode not in ABLATE_MODES:
            raise ValueError(f"AblateHead mode must be one of {', '.join(ABLATE_MODES)}, got {self.mode!r}")


@dataclass(frozen=True)
class ReplacePattern:
    """Use ``pattern`` ((R, N): one row per computed query row) as this head's softmax weights."""

    layer: int
    head: int
    pattern: Any


@dataclass(frozen=True)
class ZeroValue:
    """Zero key position ``token``'s value vectors in every head of ``layer`` (None: every layer)."""

    layer: int | None
    token: int


Intervention = AblateHead | ReplacePattern | ZeroValue


def check_names(names) -> tuple[str, ...]:
    """The capture names as a tuple, each one of POINTS (ValueError naming the unknown one)."""
    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    for name in names:
        if name not in POINTS:
            import difflib

            close = difflib.get_close_matches(str(name), POINTS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown capture point {name!r}{hint}; points: {', '.join(POINTS)}")
    return names


def applies(intervention, layer: int) -> bool:
    """Whether ``intervention`` acts on ``layer``."""
    return intervention.layer is None or intervention.layer == layer
