"""A generation's steps under a value-aware measure (``generate --measure``), from the key/value cache.

Step k's row is the one query of the forward that produced generated token k. ``norm``, ``mixing``
and ``alti`` need, besides that row's softmax weights, every key's value vector x_j W_V + b_V: the
model's key/value cache already holds them, and the capture point ``v`` hands them over (KV, N, dv)
at each forward, so f^h(x_j) = v_j W_O^h is computed from the cache. ``norm`` and ``mixing`` keep,
per chosen layer, each key's H x H inner products of its f^h (attncli.core.measures.rows) and compute
f for the step's new key only; ``alti`` (L1 distances of whole vectors) computes f for every key at
each step. Nothing else is kept from one step to the next but the step's own rows: memory grows with
the sequence, never with its square.
``mixing`` and ``alti`` also need the query token's residual (the block's input, capture point
``resid_pre``: one token per step); decoders are pre-LN, so there is no layer norm to fix
(attncli.core.measures.layer).

Refused, each with one line: ``value-zeroing`` (one rerun of the layer per key at every step), and
the measures on encoder-decoder models (the decoder's layers hold cross-attention too).
"""

from __future__ import annotations

from attncli.errors import AttnError, option

#: What each measure needs from the capture points, besides the pattern.
CAPTURE = {"weights": (), "norm": ("v",), "mixing": ("v", "resid_pre"), "alti": ("v", "resid_pre")}


def check_name(name: str | None) -> str:
    """The measure's name (None: weights); value zeroing refused (needs no model: checked before it loads)."""
    from attncli.core.measures import check_measure

    name = check_measure(name)
    if name == "value-zeroing":
        raise AttnError("not during a generation: value zeroing would rerun the layer once per earlier token at "
                        "every step", where=f"{option('measure')} value-zeroing",
                        hint=f"use {option('measure')} norm, mixing or alti, or attncli run {option('measure')} "
                             "value-zeroing on the whole text")
    return name


def check(transformer, name: str | None) -> str:
    """The measure's name, refused where a generation cannot compute it (before the first forward)."""
    name = check_name(name)
    if name == "weights":
        return name
    if getattr(transformer, "seq2seq", False):
        raise AttnError(f"{transformer.name} is an encoder-decoder model: generate computes the measures on "
                        "decoder-only models", where=f"{option('measure')} {name}", kind="model",
                        hint=f"leave {option('measure')} out (weights)")
    from attncli.models.parts import family_layers

    family_layers(transformer)  # a family whose modules are not known: one clear line
    return name


class StepMeasure:
    """Each chosen layer's W_O and b_O, found once; called with a forward's capture cache."""

    def __init__(self, transformer, name: str, layers: list[int], interventions=()) -> None:
        from attncli.core.points import AblateHead
        from attncli.models.parts import family_layers

        self.name = name
        self.torch = transformer.torch
        families = family_layers(transformer)
        self.projections = {layer: families[layer].weights()[2:] for layer in layers}  # (H*dv, d), (d,)
        #: layer -> [(head, mode)]: the heads ``--ablate`` removes
        self.ablated: dict[int, list[tuple[int, str]]] = {}
        for item in interventions:
            if isinstance(item, AblateHead):
                self.ablated.setdefault(item.layer, []).append((item.head, item.mode))
        #: layer -> (N, H, H) float64: <f^h(x_j), f^g(x_j)> of every key so far (norm, mixing), grown a key a step
        self.grams: dict[int, object] = {}

    @property
    def capture(self) -> tuple[str, ...]:
        return ("pattern", *CAPTURE[self.name])

    def __call__(self, cache: dict, layer: int):
        """(values (H or 1, N), level (N,), mixing ratio or None) of the forward's last query row."""
        from attncli.models.measured import effective_pattern

        got = cache[layer]
        alpha = got["pattern"][:, -1:, :]  # (H, 1, N) the query that produced the token
        for head, mode in self.ablated.get(layer, ()):  # a head removed: its effective pattern, as run shows
            alpha = effective_pattern(alpha, [head], mode)
        values = got["v"]  # (KV, N, dv) the cache's values, every key so far
        w_o, b_o = self.projections[layer]
        residual = got["resid_pre"][-1:] if "resid_pre" in got else None  # (1, d) the query token's
        with self.torch.no_grad():
            if self.name == "alti":  # L1 distances of whole vectors: f of every key, this step
                from attncli.core.measures.layer import measure_row

                m = measure_row(self.name, values, alpha, w_o=w_o, b_o=b_o, position=int(values.shape[1]) - 1,
                                residual=residual)
                return m.values[:, 0].float(), m.level[0, 0].float(), None  # (1, N), (N,)
            return self._from_gram(layer, values, alpha[:, 0], w_o, residual)

    def _from_gram(self, layer: int, values, alpha, w_o, residual):
        """norm and mixing from each key's inner products, f computed for the new keys only (core.measures.rows)."""
        from attncli.core.measures import rows, vectors

        known = self.grams.get(layer)
        start = 0 if known is None else int(known.shape[0])
        f_new = vectors.transformed(values[:, start:], w_o, int(alpha.shape[0]))  # (H, K, d) the new keys'
        gram = rows.head_gram(f_new)  # (K, H, H)
        self.grams[layer] = gram = gram if known is None else self.torch.cat([known, gram])  # (N, H, H)
        per_head, level = rows.norm_row(alpha, gram)  # (H, N), (N,)
        if self.name == "norm":
            return per_head.float(), level.float(), None
        row, ratio = rows.mixing_row(level, alpha[:, -1], f_new[:, -1], residual[0])  # the query is the last key
        return row[None].float(), row.float(), ratio
