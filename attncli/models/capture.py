"""Capture and intervention points on a loaded model (the names: attncli.core.points).

Inside a layer's attention, through transformers' attention interface: attncli registers the
attention function ``"attncli"`` (and, for it, transformers' SDPA mask function) and switches the
model to it for the length of a :class:`Session`. The function receives the queries and keys after
rotary embeddings, the values, the mask and the scaling exactly as the model computed them; for a
captured layer it computes scores, pattern and z itself (:mod:`attncli.models.attend`), for every
other layer, or for the rows not asked for, it hands the call to transformers' SDPA function.

Outside the attention (resid_pre, resid_post, attn_out, attn_sublayer): forward hooks on the
block, its attention sublayer and its output projection, located once per model by a two-token
probe forward (the blocks: the model's list of identical layers; the output projection: the first
linear layer a block calls after its attention function returns). Everything is undone in a
``finally``: hooks removed, attention implementation restored.
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager

import torch

from attncli.core.points import ATTENTION_POINTS, AblateHead, ReplacePattern, ZeroValue, applies, check_names
from attncli.models import attend

NAME = "attncli"
_ACTIVE: list = []  # the sessions in effect, innermost last
_REGISTERED: list[bool] = []


def register() -> None:
    """Make ``"attncli"`` a valid attention implementation (once per process)."""
    if _REGISTERED:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    _REGISTERED.append(True)


def _sdpa(module, query, key, value, attention_mask, scaling, dropout, kwargs):
    if kwargs.get("softcap") is not None or kwargs.get("position_bias") is not None:
        # SDPA refuses soft-capping and knows no position bias (T5): the eager arithmetic, nothing kept
        return _eager(module, query, key, value, attention_mask, scaling, dropout, kwargs)
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                  **kwargs)


def _eager(module, query, key, value, attention_mask, scaling, dropout, kwargs):
    groups = query.shape[1] // key.shape[1]
    keep = attend.allowed(attention_mask, causal=_causal(module, kwargs), q_len=query.shape[2],
                          kv_len=key.shape[2], rows=None, device=query.device)
    pattern = attend.softmax(attend.scores(query, attend.expand_kv(key, groups), _scale(query, scaling), keep,
                                           kwargs.get("softcap"), _bias(attention_mask, kwargs, key.shape[2], None)),
                             query.dtype)
    pattern = torch.nn.functional.dropout(pattern, p=dropout, training=module.training)
    return attend.head_outputs(pattern, attend.expand_kv(value, groups)).transpose(1, 2).contiguous(), None


def _bias(mask, kwargs, kv_len: int, rows):
    """What eager attention adds to the scores: an additive float mask and T5's relative position bias."""
    added = attend.bias(mask, kv_len, rows)
    position = attend.bias(kwargs.get("position_bias"), kv_len, rows)
    if position is None:
        return added
    return position if added is None else added + position


def _causal(module, kwargs) -> bool:
    causal = kwargs.get("is_causal")
    return bool(getattr(module, "is_causal", False) if causal is None else causal)


def _scale(query, scaling) -> float:
    return query.shape[-1] ** -0.5 if scaling is None else scaling


def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers' attention-interface signature: query (B, H, Q, dk), key/value (B, KV, N, d)."""
    session = _ACTIVE[-1] if _ACTIVE else None
    layer = session.layer_of(module) if session is not None else None
    if layer is None or not session.acts_on(layer):
        return _sdpa(module, query, key, value, attention_mask, scaling, dropout, kwargs)
    return session.attend(layer, module, query, key, value, attention_mask, scaling, dropout, kwargs)


def _keep(tensor):
    tensor = tensor.detach()
    return tensor[0] if tensor.shape[0] == 1 else tensor


class Session:
    """One ``hooks(...)`` context: what to capture where, what to change, and the cache it fills."""

    def __init__(self, owner: dict, *, capture, layers, rows, interventions, reduce=None) -> None:
        self.owner = owner  # id(module) -> layer index
        #: reduce(layer, pattern_rows, q_len): called once per captured layer while the model runs on SDPA;
        #: pattern_rows(start, stop) -> (B, H, C, N) the exact softmax weights of query rows start..stop-1
        self.reduce = reduce
        self.names = set(check_names(capture))
        self.inside = bool(self.names & set(ATTENTION_POINTS))  # a point inside the attention is captured
        self.layers = None if layers is None else {int(i) for i in layers}
        self.rows = None if rows is None else [int(r) for r in rows]
        self.interventions = tuple(interventions)
        for item in self.interventions:
            if not isinstance(item, (AblateHead, ReplacePattern, ZeroValue)):
                raise TypeError(f"not an intervention: {item!r} (AblateHead, ReplacePattern or ZeroValue)")
        self.cache: dict[int, dict] = {}
        self.local_rows: list[int] | None = None  # the rows of the latest forward's queries (None: all)

    def layer_of(self, module) -> int | None:
        layer = self.owner.get(id(module))
        return layer

    def captures(self, layer: int) -> bool:
        return self.layers is None or layer in self.layers

    def acts_on(self, layer: int) -> bool:
        if self.reduce is not None and self.captures(layer):
            return True
        return (self.inside and self.captures(layer)) or any(
            applies(item, layer) for item in self.interventions)

    def store(self, layer: int, name: str, tensor) -> None:
        if name in self.names and self.captures(layer):
            self.cache.setdefault(layer, {})[name] = _keep(tensor)

    def _rows_here(self, q_len: int, kv_len: int) -> list[int] | None:
        """``rows`` (absolute positions) as indices into this forward's queries; None for all."""
        if self.rows is None:
            return None
        offset = kv_len - q_len  # the cached positions before this forward's queries
        return [r - offset for r in self.rows if offset <= r < kv_len]

    def attend(self, layer, module, query, key, value, mask, scaling, dropout, kwargs):
        b, h, q_len, _ = query.shape
        kv, kv_len = key.shape[1], key.shape[2]
        groups = h // kv
        mine = [item for item in self.interventions if applies(item, layer)]
        zeroed = [item.token for item in mine if isinstance(item, ZeroValue)]
        if zeroed:
            for token in zeroed:
                if not 0 <= token < kv_len:
                    raise ValueError(f"ZeroValue token {token} is outside the {kv_len} key positions")
            value = value.clone()
            value[:, :, zeroed] = 0
        heads = [item for item in mine if not isinstance(item, ZeroValue)]
        for item in heads:
            if not 0 <= item.head < h:
                raise ValueError(f"{type(item).__name__} head {item.head} is out of range: layer {layer} has {h}")
        self.store(layer, "q", query)
        self.store(layer, "k", key)
        self.store(layer, "v", value)
        rows = self._rows_here(q_len, kv_len)
        self.local_rows = rows
        if self.reduce is not None and self.captures(layer):
            out = _sdpa(module, query, key, value, mask, scaling, dropout, kwargs)[0]  # (B, Q, H, dv)
            keys = attend.expand_kv(key, groups)  # (B, H, N, dk)
            causal = _causal(module, kwargs)

            def pattern_rows(start: int, stop: int, width: int | None = None):
                """The weights of query rows start..stop-1 (B, H, C, N); with ``width`` only the first
                ``width`` keys (B, H, C, width) when every later key is masked for these rows (a causal
                chunk needs the keys up to its last row only), else all N."""
                chosen = list(range(start, stop))
                keep = attend.allowed(mask, causal=causal, q_len=q_len, kv_len=kv_len, rows=chosen,
                                      device=query.device)  # (B or 1, 1, C, N)
                added = _bias(mask, kwargs, kv_len, chosen)
                n = kv_len
                if width is not None and width < kv_len and keep is not None and not bool(keep[..., width:].any()):
                    n = width
                    keep = keep[..., :n]
                    added = None if added is None else added[..., :n]
                scores = attend.scores(query[:, :, start:stop], keys[:, :, :n], _scale(query, scaling), keep,
                                       kwargs.get("softcap"), added)  # (B, H, C, n)
                return attend.softmax(scores, query.dtype)  # (B, H, C, n)

            self.reduce(layer, pattern_rows, q_len)
            return out, None
        want = self.captures(layer) and bool(self.names & {"scores", "pattern", "z"})
        # only weights asked for (no z, no intervention), of some rows or of a forward's single query (a
        # generation step): the output is SDPA's, the weights are computed from the keys as the model keeps them
        weights_only = want and not heads and "z" not in self.names and (rows is not None or q_len == 1)
        if rows is not None or weights_only or not (want or heads):
            out = _sdpa(module, query, key, value, mask, scaling, dropout, kwargs)[0]  # (B, Q, H, dv)
            if not (want or heads):
                return out, None
        if weights_only:
            keep = attend.allowed(mask, causal=_causal(module, kwargs), q_len=q_len, kv_len=kv_len, rows=rows,
                                  device=query.device)
            added = _bias(mask, kwargs, kv_len, rows)
            scores = attend.scores(query if rows is None else query[:, :, rows], key, _scale(query, scaling), keep,
                                   kwargs.get("softcap"), added)  # (B, H, R, N)
            self.store(layer, "scores", scores)
            self.store(layer, "pattern", attend.softmax(scores, query.dtype,
                                                        masked=keep is not None or added is not None))
            return out, None
        keys, values = attend.expand_kv(key, groups), attend.expand_kv(value, groups)  # (B, H, N, d)
        picked = query if rows is None else query[:, :, rows]  # (B, H, R, dk)
        keep = attend.allowed(mask, causal=_causal(module, kwargs), q_len=q_len, kv_len=kv_len, rows=rows,
                              device=query.device)
        scores = attend.scores(picked, keys, _scale(query, scaling), keep, kwargs.get("softcap"),
                               _bias(mask, kwargs, kv_len, rows))  # (B, H, R, N)
        pattern = attend.softmax(scores, query.dtype)
        for item in heads:
            if isinstance(item, ReplacePattern):
                pattern[:, item.head] = torch.as_tensor(item.pattern, dtype=pattern.dtype, device=pattern.device)
            elif item.mode == "first":
                pattern[:, item.head] = attend.first_key_pattern(pattern[:, item.head])
        if rows is None:
            pattern = torch.nn.functional.dropout(pattern, p=dropout, training=module.training)
        z = attend.head_outputs(pattern, values)  # (B, H, R, dv)
        if rows is None:
            out = z.transpose(1, 2).contiguous()  # (B, Q, H, dv)
        else:
            out = out.clone()
            out[:, rows] = torch.where(self._replaced(heads, h, z.device), z.transpose(1, 2), out[:, rows])
            for item in heads:
                if isinstance(item, AblateHead) and item.mode == "first":
                    out[:, :, item.head] = values[:, item.head, :1]
        for item in heads:
            if isinstance(item, AblateHead) and item.mode != "first":
                if item.mode == "zero":
                    out[:, :, item.head] = 0
                else:
                    out[:, :, item.head] = out[:, :, item.head].mean(dim=1, keepdim=True)
                z[:, item.head] = out[:, :, item.head] if rows is None else out[:, rows, item.head]
        self.store(layer, "scores", scores)
        self.store(layer, "pattern", pattern)
        self.store(layer, "z", z)
        return out, None

    @staticmethod
    def _replaced(heads, h: int, device):
        """(1, 1, H, 1) True for the heads whose rows take the computed z (a replaced pattern)."""
        chosen = torch.zeros(h, dtype=torch.bool, device=device)
        for item in heads:
            if isinstance(item, ReplacePattern):
                chosen[item.head] = True
        return chosen[None, None, :, None]


def _implementation(config):
    return getattr(config, "_attn_implementation_internal", None) or getattr(config, "_attn_implementation", None)


_CONFIGS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> its configs, found once


def _configs(model) -> list:
    """The model's config and any other config its modules hold (sub-models), found once."""
    known = _CONFIGS.get(model)
    if known is not None:
        return known
    configs = {id(model.config): model.config}
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation_internal"):
            configs.setdefault(id(config), config)
    _CONFIGS[model] = list(configs.values())
    return _CONFIGS[model]


def _set_implementation(model, name) -> None:
    """Every config in the model on ``name``."""
    for config in _configs(model):
        config._attn_implementation_internal = name


@contextmanager
def switched(model):
    """The model on the ``"attncli"`` attention implementation, its own restored afterwards."""
    register()
    before = _implementation(model.config)
    _set_implementation(model, NAME)
    try:
        yield
    finally:
        _set_implementation(model, before)


def _first(value):
    return value[0] if isinstance(value, (tuple, list)) else value


@contextmanager
def hooks(model, structure, probe_forward, *, capture=("q", "k", "pattern"), layers=None, rows=None,
          interventions=(), progress=None, reduce=None):
    """The ``Transformer.hooks`` context: yields the cache, ``cache[layer][name]`` (see POINTS).
    ``reduce`` (see :class:`Session`): every query row of every captured layer handed over in chunks,
    nothing of size N x N kept; it takes no interventions."""
    if reduce is not None and interventions:
        raise ValueError("reduce takes no interventions")
    session = Session(structure.owner, capture=capture, layers=layers, rows=rows, interventions=interventions,
                      reduce=reduce)
    count = len(structure.blocks)
    if not count:
        raise ValueError(f"{type(model).__name__}: its list of layers was not found")
    for item in session.interventions:
        if item.layer is not None and not 0 <= item.layer < count:
            raise ValueError(f"{type(item).__name__} layer {item.layer} is out of range: the model has {count}")
    outside = session.names & {"attn_out", "attn_sublayer"}
    if outside:
        structure.probe(model, probe_forward)
    handles = []

    def rows_of(tensor):
        rows = session.local_rows
        return tensor if rows is None else tensor[:, rows]

    try:
        for index, block in enumerate(structure.blocks):
            if not session.captures(index):
                continue
            if "resid_pre" in session.names:
                handles.append(block.register_forward_pre_hook(
                    lambda _m, args, kwargs, i=index: session.store(
                        i, "resid_pre", args[0] if args else kwargs.get("hidden_states")), with_kwargs=True))
            if "resid_post" in session.names:
                handles.append(block.register_forward_hook(
                    lambda _m, _i, out, i=index: session.store(i, "resid_post", _first(out))))
            for name, modules in (("attn_out", structure.projection), ("attn_sublayer", structure.sublayer)):
                if name in session.names:
                    if modules[index] is None:
                        raise ValueError(f"{name} of layer {index} was not found in {type(model).__name__}")
                    handles.append(modules[index].register_forward_hook(
                        lambda _m, _i, out, i=index, name=name: session.store(i, name, rows_of(_first(out)))))
        if progress is not None:
            for index, block in enumerate(structure.blocks):
                handles.append(block.register_forward_hook(lambda *_a, done=index + 1: progress(done, count)))
        with switched(model):
            _ACTIVE.append(session)
            try:
                yield session.cache
            finally:
                _ACTIVE.remove(session)
    finally:
        for handle in handles:
            handle.remove()
