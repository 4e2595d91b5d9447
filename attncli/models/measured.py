"""A real model's run under a value-aware measure and/or with heads ablated: the forward, then the math.

``measured_run`` runs the model once with the captures (:mod:`attncli.models.flows`) and ablation hooks
(:mod:`attncli.models.ablation`) in place, all removed afterwards, and computes each chosen layer's
measure; ``finish`` puts it into the Record (``Layer.weights`` holds the measure, ``Layer.level`` the
layer-level values, ``Layer.attention`` the softmax weights).

Under ablation the measures see each ablated head's effective pattern: ``zero``: all 0 (the head's
output is 0); ``mean``: every row is the column mean of the pattern (z averaged over positions is
sum_j mean_i(alpha_ij) v_j); ``first``: one-hot on the first key. The JSON's weights show the same.
"""

from __future__ import annotations

from contextlib import ExitStack

from attncli.errors import AttnError, option


def effective_pattern(alpha, heads: list[int], mode: str):
    """alpha (H, N, N) with the ablated heads' effective patterns (see the module doc)."""
    out = alpha.clone()  # (H, N, N)
    for h in heads:
        if mode == "zero":
            out[h] = 0
        elif mode == "mean":
            out[h] = alpha[h].mean(dim=0, keepdim=True).expand_as(alpha[h])  # (N, N)
        else:
            out[h] = 0
            out[h, :, 0] = 1
    return out


def lm_head(transformer):
    """The output embedding (V, d) of a decoder: its LM head, the tied input embedding, or lm_head.weight."""
    lm = getattr(transformer, "lm", None)
    if lm is not None and lm is not transformer.model and lm.get_output_embeddings() is not None:
        return lm.get_output_embeddings().weight
    model = transformer.model
    config = model.config
    text_config = getattr(config, "get_text_config", lambda: config)()
    if getattr(text_config, "tie_word_embeddings", False) or getattr(config, "tie_word_embeddings", False):
        return model.get_input_embeddings().weight
    try:
        from safetensors import safe_open

        for path in sorted(transformer.path.glob("*.safetensors")):
            with safe_open(str(path), framework="pt") as handle:
                if "lm_head.weight" in handle.keys():
                    return handle.get_tensor("lm_head.weight").to(device=transformer.device, dtype=transformer.dtype)
    except (ImportError, OSError):
        return None
    return None


def _logprobs(torch, last, head, ids):
    """Each token's log-probability given the tokens before it: last (N, d), head (V, d) -> (N-1,)."""
    logits = last[:-1].float() @ head.float().T  # (N-1, V)
    target = torch.tensor(ids[1:], device=logits.device)  # (N-1,)
    return torch.log_softmax(logits, dim=-1).gather(1, target[:, None])[:, 0]  # (N-1,)


def measured_run(t, ids, *, where, measure, layers, rollout, max_passes=None, progress=None, ablate=(),
                 ablate_mode="zero", keep_steps=False):
    """(Record, extra): the run with ablation applied (every query row), and per-layer measures.

    ``keep_steps``: every layer keeps its intermediate tensors (``Layer.steps``: f, the weighted vectors,
    the residual and layer norm terms, several (R, N, d) each) for ``explain``; without it only the
    measure's values are kept (what run, compare, heads and the JSON show)."""
    from attncli.core.measures import scores
    from attncli.core.measures.layer import measure_layer
    from attncli.models import ablation, flows
    from attncli.models.parts import family_layers

    torch = t.torch
    families = family_layers(t)
    count = len(families)
    wanted = list(range(count)) if layers is None or (rollout and measure != "weights") else list(layers)
    n = len(ids)
    if measure == "value-zeroing":
        flows.check_passes(n, len(wanted), max_passes)
    heads, kv_heads = int(t.info["heads"]), int(t.info["kv_heads"])
    last_hidden: dict[str, object] = {}
    before = None
    if ablate:
        before = _reference(t, ids, where)
    with ExitStack() as stack:
        stack.enter_context(torch.no_grad())  # the measures multiply the model's parameters: no graph
        inputs, calls = stack.enter_context(flows.capture_inputs(families, wanted if measure != "weights" else []))
        ablations = ablation.interventions(ablate, ablate_mode)
        by_layer: dict[int, list[int]] = {}
        for layer, head in ablate:
            by_layer.setdefault(layer, []).append(head)
        hook = t.model.register_forward_hook(
            lambda _m, _i, output: last_hidden.__setitem__("h", _last(output)))
        stack.callback(hook.remove)
        run = t.run_ids(ids, where=where, interventions=ablations)
        if ablations:  # value zeroing's reruns of single blocks keep the heads ablated
            stack.enter_context(t.hooks(capture=(), interventions=ablations))
        for layer, chosen in by_layer.items():
            run.layers[layer].weights = effective_pattern(run.layers[layer].weights, chosen, ablate_mode)
        measured = {}
        if measure == "value-zeroing":
            done = [0]

            def step(k):
                done[0] += k
                if progress is not None:
                    progress(done[0], n * len(wanted))
            for layer in wanted:
                args, kwargs = calls[layer]
                kwargs = {k: (None if "Cache" in type(v).__name__ else v) for k, v in kwargs.items()}
                if "use_cache" in kwargs:
                    kwargs["use_cache"] = False
                distances = flows.value_zeroing_layer(torch, families[layer], (args, kwargs), n, heads=heads,
                                                      progress=step)  # (N, N)
                c = scores.value_zeroing(distances, run.causal)  # (1, N, N)
                measured[layer] = (c, c, None, {"distances": distances})
        elif measure != "weights":
            for layer in wanted:
                parts = flows.layer_parts(families[layer], inputs[layer][0], run.layers[layer].weights,
                                          run.layers[layer].inputs, kv_heads)
                m = measure_layer(measure, parts, keep_steps=keep_steps)
                measured[layer] = (m.values, m.level, m.ratio, m.steps)
    extra = {"measure": measure, "layers": measured, "attentions": run.attentions, "ids": list(ids)}
    if ablate:
        with torch.no_grad():
            extra["ablation"] = _changes(t, ids, ablate, ablate_mode, before, last_hidden.get("h"), run)
    return run, extra


def _last(output):
    h = getattr(output, "last_hidden_state", None)
    if h is None:
        h = output[0] if isinstance(output, tuple) else output
    return h[0]  # (N, d)


def _reference(t, ids, where):
    """The unablated run's final hidden states (N, d)."""
    seen = {}
    hook = t.model.register_forward_hook(lambda _m, _i, output: seen.__setitem__("h", _last(output)))
    try:
        t.run_ids(ids, where=where)
    finally:
        hook.remove()
    return seen["h"]


def _changes(t, ids, heads, mode, before, after, run) -> dict:
    """What ablation changed: for decoders each token's log-probability and the loss, before and after."""
    torch = t.torch
    out = {"heads": [[layer, head] for layer, head in heads], "mode": mode}
    if run.causal and len(ids) > 1:
        head = lm_head(t)
        if head is None:
            out["note"] = "no output embedding in the model folder: log-probabilities left out"
        else:
            lp_before = _logprobs(torch, before, head, ids)  # (N-1,)
            lp_after = _logprobs(torch, after, head, ids)  # (N-1,)
            out.update({"logprobs_before": lp_before.tolist(), "logprobs_after": lp_after.tolist(),
                        "loss_before": float(-lp_before.mean()), "loss_after": float(-lp_after.mean())})
    cos = torch.nn.functional.cosine_similarity(before.float(), after.float(), dim=-1)  # (N,)
    out["output_change"] = (1 - cos).clamp_min(0).tolist()
    return out


def finish(record, extra, rows, *, rollout: bool):
    """The Record's layers carry the measure (weights kept as ``attention``); heads 1 for headless measures."""
    from attncli.core import measures
    from attncli.core.attention import rollout as attention_rollout
    from attncli.core.measures import scores

    def shown(tensor):
        return tensor if tensor is None or rows is None else tensor[..., rows, :]

    for layer in record.layers:  # per-query tensors keep the focus rows only
        for field in ("scores", "output", "head_context", "projected", "raw_scores"):
            tensor = getattr(layer, field)
            if tensor is not None and rows is not None and field != "raw_scores":
                setattr(layer, field, shown(tensor))
    name = extra["measure"]
    record.measure = name
    for index, layer in enumerate(record.layers):
        layer.attention = shown(layer.weights)
        layer.weights = layer.attention
        if index in extra["layers"]:
            values, level, ratio, steps = extra["layers"][index]
            layer.weights, layer.level = shown(values), shown(level)
            layer.ratio = ratio if ratio is None or rows is None else ratio[rows]
            layer.steps = steps
        elif name != "weights":
            layer.weights = layer.level = None
    if name != "weights" and not measures.has_heads(name):
        record.heads = 1
    if rollout:
        if name == "weights":
            record.rollout = attention_rollout(extra["attentions"], rows)  # (R, N)
        else:
            if not measures.normalized(name):
                raise AttnError(f"{option('rollout')} does not apply to {option('measure')} {name} (its rows do not sum to 1)",
                                param="rollout", hint=f"use it with {option('measure')} weights, alti or value-zeroing")
            matrix = scores.rollout_contributions([extra["layers"][i][0][0] for i in sorted(extra["layers"])])
            record.rollout = shown(matrix)  # (R, N)
    if "ablation" in extra:
        record.ablation = extra["ablation"]
    return record
