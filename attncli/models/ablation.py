"""Head ablation on a real model: forward hooks on the output projection's input (z), removed after.

``zero``: the head's z is 0; ``mean``: z replaced by its mean over positions; ``first``: the head's
pattern sent entirely to the first key, so z_i = v_0 for every row (the value read at the value module
in the same forward). The modules per family are :mod:`attncli.models.parts`.
"""

from __future__ import annotations

from contextlib import contextmanager

from attncli.errors import AttnError

MODES = ("zero", "mean", "first")


def parse_heads(text: str | None, layers: int, heads: int, where: str = "--ablate") -> list[tuple[int, int]]:
    """``L.H[,L.H...]`` (0-based; a negative layer counts from the end) -> sorted unique (layer, head)."""
    if text is None:
        return []
    out = set()
    for item in text.split(","):
        item = item.strip()
        layer_text, dot, head_text = item.partition(".")
        try:
            layer, head = int(layer_text), int(head_text)
        except ValueError:
            raise AttnError(f"expected LAYER.HEAD, got {item!r}", where=where, hint="e.g. --ablate 3.1,5.0") from None
        if not dot:
            raise AttnError(f"expected LAYER.HEAD, got {item!r}", where=where, hint="e.g. --ablate 3.1,5.0")
        if not -layers <= layer < layers:
            raise AttnError(f"layer {layer} is out of range: {layers} layers", where=where,
                            hint=f"use 0 to {layers - 1}")
        if not 0 <= head < heads:
            raise AttnError(f"head {head} is out of range: {heads} heads", where=where, hint=f"use 0 to {heads - 1}")
        out.add((layer % layers, head))
    return sorted(out)


def check_mode(mode: str, where: str = "--ablate-mode") -> str:
    if mode not in MODES:
        raise AttnError(f"unknown ablation mode {mode!r}", where=where, hint="expected " + ", ".join(MODES))
    return mode


def ablate_z(z, values, heads: list[int], mode: str, n_heads: int, kv_heads: int):
    """z (B, N, H*dv) with ``heads`` ablated; values (B, N, KV*dv) (needed by ``first``). Returns a new z."""
    b, n, width = z.shape
    dv = width // n_heads
    out = z.clone()  # (B, N, H*dv)
    group = n_heads // kv_heads
    for h in heads:
        cut = slice(h * dv, (h + 1) * dv)
        if mode == "zero":
            out[..., cut] = 0
        elif mode == "mean":
            out[..., cut] = z[..., cut].mean(dim=1, keepdim=True)  # (B, 1, dv) over positions
        else:  # first: every row's pattern is one-hot on key 0, so z_i = v_0 of the head's kv head
            kv = h // group
            out[..., cut] = values[:, :1, kv * dv:(kv + 1) * dv]  # (B, 1, dv)
    return out


@contextmanager
def ablated(families, heads: list[tuple[int, int]], mode: str, n_heads: int, kv_heads: int):
    """While inside, the model runs with ``heads`` ablated; every hook is removed on the way out."""
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)
    hooks = []
    try:
        for layer, chosen in by_layer.items():
            family = families[layer]
            seen: dict[str, object] = {}
            if mode == "first":
                cut = family.value_slice()
                hooks.append(family.value.register_forward_hook(
                    lambda _m, _i, output, seen=seen, cut=cut: seen.__setitem__("v", output[..., cut])))

            def replace(_module, args, chosen=chosen, seen=seen):
                z = ablate_z(args[0], seen.get("v"), chosen, mode, n_heads, kv_heads)
                return (z, *args[1:])

            hooks.append(family.output.register_forward_pre_hook(replace))
        yield by_layer
    finally:
        for hook in hooks:
            hook.remove()
