"""The attention record: what one text through attention produced, toy or real model alike.

Like TransformerLens's ``ActivationCache``, one container with fixed shapes for every source,
so that everything downstream (compare figures, explain steps, rollout, head mean, top-k,
documents, views, the browser) is written once:

    text -> tokens -> embeddings (toy vocabulary or a model) -> Record -> documents -> renderers

Shapes: N tokens, R query rows shown (the ``--focus`` rows, or all N), H heads, L layers
(1 for a toy run), d widths. Per-query tensors hold R rows; per-key tensors hold N.
Tensors stay on the run's device and dtype until a document converts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Layer:
    """One attention layer of a run."""

    index: int  # 0-based layer number
    inputs: Any | None  # (N, d) the layer's input (toy: embeddings after positional encoding)
    weights: Any | None  # (H, R, N) softmax weights; None when left out (a long input seen through top-k)
    output: Any  # (R, d_out) the attention output: the context vectors
    scores: Any | None = None  # (H, R, N) what entered the softmax (masked: -inf); toy runs only
    raw_scores: Any | None = None  # (H, R, N) Q K^T before scaling and masking; toy runs only
    queries: Any | None = None  # (H, N, dk) after rope; toy runs only
    keys: Any | None = None  # (H, N, dk)
    values: Any | None = None  # (H, N, dv)
    head_context: Any | None = None  # (H, R, dv) weights @ values, per head
    concat: Any | None = None  # (R, H*dv) the heads side by side
    projected: Any | None = None  # (R, d_out) after the output projection, when there is one
    residual: Any | None = None  # (R, d_out) after adding the input, when configured
    normed: Any | None = None  # (R, d_out) after layer norm, when configured
    positional: Any | None = None  # (N, d) the sinusoidal encoding added to the inputs
    hidden: Any | None = None  # (N, d) the whole layer's output (a model's block, after its MLP)
    top_indices: Any | None = None  # (H, R, K) computed with the weights, when they are not kept
    top_weights: Any | None = None  # (H, R, K)
    row_stats: dict | None = None  # --stats: entropy, first_token, top1, each (H, R) (attncli.core.rowstats)
    #: The same tensors as float64 holding the shortest decimals that read back exactly
    #: (attncli.documents.jsonout.shortest), when a batch computed them for all its lines at once.
    printable: dict = field(default_factory=dict)

    def point(self, name: str):
        """The tensor of a capture point (attncli.core.points.POINTS) in this layer's fields; None when absent.

        q, k, v -> queries, keys, values; pattern -> weights; z -> head_context; attn_out -> projected
        (a toy run without an output projection: its output); attn_sublayer -> output; resid_pre -> inputs;
        resid_post -> hidden (a toy run: normed, residual or output, the last one it has)."""
        if name not in _POINT_FIELDS:
            from attncli.core.points import POINTS

            raise KeyError(f"unknown point {name!r}; points: {', '.join(POINTS)}")
        for attribute in _POINT_FIELDS[name]:
            value = getattr(self, attribute)
            if value is not None:
                return value
        return None

    __getitem__ = point


#: capture point -> the Layer fields that hold it, first present wins.
_POINT_FIELDS = {
    "resid_pre": ("inputs",), "q": ("queries",), "k": ("keys",), "v": ("values",), "scores": ("scores",),
    "pattern": ("weights",), "z": ("head_context",), "attn_out": ("projected", "output"),
    "attn_sublayer": ("output",), "resid_post": ("hidden", "normed", "residual", "output"),
}


@dataclass
class Record:
    """One text (or one tensors config) through attention."""

    source: str  # "toy" or "model"
    tokens: list[str]  # as typed (toy) or as the tokenizer writes them (model)
    texts: list[str]  # each token's text as a reader sees it (decoded sub-words for a model)
    oov: list[bool]  # not in the vocabulary (toy); always False for a model
    special: list[bool]  # special tokens ([CLS], <s>); always False for a toy run
    embeddings: Any | None  # (N, d) as looked up, before any positional encoding; None for tensors
    layers: list[Layer]  # L layers
    heads: int
    causal: bool
    config: dict  # the resolved settings or model description: the documents' "config"
    rows: list[int] | None = None  # the query rows kept (None: all N, in order)
    rollout: Any | None = None  # (R, N) attention rollout, when asked for
    projections: dict = field(default_factory=dict)  # toy: name -> (d_in, d_out) matrix or None
    kv_heads: int | None = None  # a model's key/value heads (grouped-query attention)
    name: str | None = None  # the model's name
    text: str | None = None  # the input text
    warnings: list[str] = field(default_factory=list)  # for the command to print on stderr
    ids: list[int] | None = None  # a model's token ids
    rotary: bool | str = False  # a model's rotary position embeddings (a str: the part of each head rotated)

    @property
    def attentions(self) -> list:
        """Every layer's softmax weights, L x (H, R, N)."""
        return [layer.weights for layer in self.layers]

    @property
    def n(self) -> int:
        return len(self.tokens)

    @property
    def device(self) -> str:
        return self.config["device"]

    @property
    def dtype(self) -> str:
        return self.config["dtype"]

    def layer(self, index: int) -> Layer:
        return self.layers[index]


# --------------------------------------------------------------------------- options checked against a record


def parse_layer(value: str | None, layers: int, where: str = "--layer") -> list[int]:
    """``--layer``: None (the last), ``all``, or a 0-based index (negative counts from the end)."""
    from attncli.errors import AttnError

    if value is None:
        return [layers - 1]
    if value.strip().lower() == "all":
        return list(range(layers))
    from attncli.core.numbers import LAYER_GRAMMAR, parse_int

    index = parse_int(value, where, what=LAYER_GRAMMAR)
    if not -layers <= index < layers:
        what = f"the model has {layers} layers" if layers > 1 else "this run has 1 layer"
        raise AttnError(f"layer {index} is out of range: {what}", where=where,
                        hint=f"use 0 to {layers - 1}, or -1 for the last" if layers > 1 else "use 0 or -1")
    return [index % layers]


def check_head(head: int | None, heads: int, name: str | None = None) -> None:
    """``--head``: a 0-based head of this run."""
    from attncli.errors import AttnError

    if head is None or 0 <= head < heads:
        return
    subject = f"{name} has {heads} heads" if name else f"this run has {heads} head{'s' if heads != 1 else ''}"
    raise AttnError(f"head {head} is out of range: {subject}", where="--head",
                    hint=f"use 0 to {heads - 1}" if heads > 1 else "use --head 0, or leave --head out")


def no_text(command: str = "run", model: str | None = None):
    """The one "no TEXT given" error, for every command and source."""
    from attncli.errors import AttnError

    if model is not None:
        hint = f'e.g. attncli {command} --model {model} "the cat"'
    else:
        hint = f'give a text, e.g. attncli {command} "She ate the apple", or a tensors config'
    return AttnError("no TEXT given", where="TEXT", kind="text", hint=hint)
