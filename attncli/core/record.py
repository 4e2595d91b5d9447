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

from attncli.core.numbers import plural


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
    level: Any | None = None  # (1, R, N) the measure with all heads together (None: the heads' mean)
    ratio: Any | None = None  # (R,) the mixing ratio, the share from other tokens (``--measure mixing``)
    attention: Any | None = None  # (H, R, N) the softmax weights, when ``weights`` holds another measure
    steps: dict | None = None  # a measure's intermediate tensors, for explain
    top_indices: Any | None = None  # (H, R, K) computed with the weights, when they are not kept
    top_weights: Any | None = None  # (H, R, K)
    row_stats: dict | None = None  # --stats: entropy, first_token, top1, each (H, R) (attncli.core.rowstats)
    finite: Any | None = None  # () bool: no raw score overflowed (toy runs; checked once, then dropped)
    #: The same tensors as float64 holding the shortest decimals that read back exactly
    #: (attncli.documents.jsonout.shortest), when a batch computed them for all its lines at once.
    printable: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{name} {tuple(getattr(self, name).shape)}" for name in ("weights", "output")
                           if getattr(self, name) is not None)
        return f"<attncli.Layer {self.index}: {shapes}>"

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
    #: What its document shows (:meth:`show`): layers, heads_mean, rollout, top_k, include.
    view: dict = field(default_factory=dict)
    measure: str = "weights"  # what ``Layer.weights`` holds (attncli.core.measures.MEASURES)
    ablation: dict | None = None  # heads ablated, mode, and what changed (log-probabilities, loss)
    ids: list[int] | None = None  # a model's token ids
    rotary: bool | str = False  # a model's rotary position embeddings (a str: the part of each head rotated)

    @property
    def attentions(self) -> list:
        """Every layer's softmax weights, L x (H, R, N)."""
        return [layer.weights for layer in self.layers]

    @property
    def n(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        what = self.name if self.source == "model" else "toy"
        shown = " ".join(self.texts if len(self.texts) <= 12 else self.texts[:12] + ["..."])
        layers = plural(len(self.layers), "layer")
        return (f"<attncli.Record {what}: {plural(self.n, 'token')} ({shown!r}), {layers} x "
                f"{plural(self.heads, 'head')}{', causal' if self.causal else ''}, "
                f"{self.config['dtype']} on {self.config['device']}>")

    @property
    def device(self) -> str:
        return self.config["device"]

    @property
    def dtype(self) -> str:
        return self.config["dtype"]

    def layer(self, index: int) -> Layer:
        return self.layers[index]

    def show(self, *, layer: int | str | None = None, heads_mean: bool = False, rollout: bool = False,
             top_k: int | None = None, include=()) -> "Record":
        """Choose what :meth:`document` holds, as ``attncli run``'s options do; returns the record.

        ``layer``: a model's layer (0-based, negative from the end, or ``"all"``; default the last);
        ``heads_mean``: the mean of the heads; ``rollout``: the rollout (computed by the run);
        ``top_k``: each query's K strongest keys; ``include``: extras (qkv, raw_scores, head_context,
        all; projections for toy runs). A model's raw scores exist when its run computed them.
        """
        from attncli.documents.build import parse_include
        from attncli.errors import AttnError, option

        model = self.source == "model"
        if not model:
            for param, value in (("layer", layer), ("heads_mean", heads_mean or None), ("rollout", rollout or None)):
                if value is not None:
                    raise AttnError(f"{option(param)} goes with {option('model')}", param=param,
                                    hint=f"e.g. {option('model')} minilm")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise AttnError(f"must be at least 1, got {top_k!r}", param="top_k")
        if rollout and self.rollout is None:
            raise AttnError("this record holds no rollout", param="rollout", hint="run it with rollout")
        wanted = parse_include(include)
        if model and "projections" in wanted:
            raise AttnError(f"{option('include')} projections does not apply to a real model (its projections are "
                            "its weights)", param="include", hint="use qkv, raw_scores, head_context, embeddings or all")
        chosen = parse_layer(None if layer is None else str(layer), len(self.layers)) if model else None
        self.view = {"layers": chosen, "heads_mean": bool(heads_mean), "rollout": bool(rollout), "top_k": top_k,
                     "include": wanted}
        return self

    def document(self, *, precision: int | None = None) -> dict:
        """The JSON document ``attncli run --json`` prints for this record and its :meth:`show` choices."""
        from attncli.documents.build import record_document

        return record_document(self, precision=precision)


# --------------------------------------------------------------------------- options checked against a record


def parse_layer(value: str | None, layers: int, where: str | None = None) -> list[int]:
    """``--layer``: None (the last), ``all``, or a 0-based index (negative counts from the end)."""
    from attncli.errors import AttnError

    if value is None:
        return [layers - 1]
    if value.strip().lower() == "all":
        return list(range(layers))
    from attncli.core.numbers import LAYER_GRAMMAR, parse_int
    from attncli.errors import option

    try:
        index = parse_int(value, where or option("layer"), what=LAYER_GRAMMAR)
    except AttnError as error:
        error.param = error.param or "layer"
        raise
    if not -layers <= index < layers:
        what = f"the model has {layers} layers" if layers > 1 else "this run has 1 layer"
        raise AttnError(f"layer {index} is out of range: {what}", where=where, param="layer",
                        hint=f"use 0 to {layers - 1}, or -1 for the last" if layers > 1 else "use 0 or -1")
    return [index % layers]


def check_head(head: int | None, heads: int, name: str | None = None) -> None:
    """``--head``: a 0-based head of this run."""
    from attncli.errors import AttnError, option

    if head is None or 0 <= head < heads:
        return
    subject = f"{name} has {plural(heads, 'head')}" if name else f"this run has {plural(heads, 'head')}"
    raise AttnError(f"head {head} is out of range: {subject}", param="head",
                    hint=f"use 0 to {heads - 1}" if heads > 1 else f"use {option('head')} 0, or leave {option('head')} out")


def no_text(command: str = "run", model: str | None = None):
    """The one "no TEXT given" error, for every command and source."""
    from attncli.errors import AttnError, option, text_example

    return AttnError(f"no {option('text')} given", param="text", kind="text", hint=text_example(command, model))
