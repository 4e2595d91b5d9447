"""Generation -> documents: the ``generate --json`` document and the ``--jsonl`` records.

Every step holds the probability of its token in the model's own distribution, its rank among
the vocabulary, the ``alternatives`` (the most likely tokens at that step) and, per chosen layer,
the attention row of the forward that produced it: ``weights[h][j]`` for head h and key j
(j over the prompt and the tokens generated before it, ``position`` keys in all) and ``mean``,
the mean over heads. Numbers are exact (the shortest decimal that reads back) unless ``-p``.

Under ``--measure`` (norm, mixing, alti; the document's ``measure``), as in run's documents, every value
is a contribution of key j to the step's query: ``weights[h][j]`` the measure per head (norm only) and
``level`` the layer level (all heads together) in place of ``mean``; ``mixing_ratio`` for mixing.
"""

from __future__ import annotations

from attncli.documents.build import header
from attncli.documents.jsonout import to_list


def _number(value: float, precision: int | None) -> float:
    return round(float(value), precision) if precision is not None else float(value)


def attention_part(step, *, head: int | None, precision: int | None, cross: bool = False,
                   measure: str = "weights") -> list[dict]:
    """Per chosen layer: the heads shown, their rows [H][K] (or the one head's) and the mean over heads."""
    if measure != "weights" and not cross:
        return measure_part(step, head=head, precision=precision, measure=measure)
    rows = step.cross if cross else step.attention
    out = []
    for layer in sorted(rows):
        weights = rows[layer]  # (H, K)
        heads = list(range(int(weights.shape[0]))) if head is None else [head]
        shown = weights if head is None else weights[head:head + 1]
        out.append({"layer": layer, "heads": heads, "weights": to_list(shown, precision),
                    "mean": to_list(weights.mean(dim=0), precision)})
    return out


def measure_part(step, *, head: int | None, precision: int | None, measure: str) -> list[dict]:
    """Per chosen layer under a measure: per-head values [H][K] (measures with heads), the level [K]."""
    from attncli.core.measures import has_heads

    out = []
    for layer in sorted(step.measure):
        entry: dict = {"layer": layer}
        if has_heads(measure):
            values = step.measure[layer]  # (H, K)
            entry["heads"] = list(range(int(values.shape[0]))) if head is None else [head]
            entry["weights"] = to_list(values if head is None else values[head:head + 1], precision)
        entry["level"] = to_list(step.level[layer], precision)  # (K,) all heads together
        if layer in step.mixing_ratio:
            entry["mixing_ratio"] = _number(step.mixing_ratio[layer], precision)
        out.append(entry)
    return out


def step_part(step, *, head: int | None, precision: int | None, measure: str = "weights") -> dict:
    part = {
        "index": step.index, "position": step.position, "id": step.id, "token": step.token, "text": step.text,
        "probability": _number(step.probability, precision),
        "log_probability": _number(step.log_probability, precision), "rank": step.rank,
        "special": step.special, "eos": step.eos,
        "alternatives": [{"id": a.id, "token": a.token, "text": a.text,
                          "probability": _number(a.probability, precision)} for a in step.alternatives],
        "attention": attention_part(step, head=head, precision=precision, measure=measure),
    }
    if step.cross:
        part["cross_attention"] = attention_part(step, head=head, precision=precision, cross=True)
    return part


def settings_part(gen, *, max_new_tokens: int, alternatives: int, head: int | None, attention: str = "self") -> dict:
    return {**gen.sampling.to_dict(), "max_new_tokens": max_new_tokens, "target": gen.target, "chat": gen.chat,
            "system": gen.system, "layers": list(gen.layers), "head": head, "alternatives": alternatives,
            "attention": attention}


def prompt_part(gen) -> dict:
    return {"text": gen.prompt, "ids": list(gen.prompt_ids), "tokens": list(gen.prompt_tokens),
            "texts": list(gen.prompt_texts), "special": list(gen.prompt_special)}


def source_part(gen) -> dict:
    """Encoder-decoder models: ``source`` is what the encoder read (the prompt); ``prompt`` the decoder's start."""
    if gen.source_ids is None:
        return {}
    return {"source": {"text": gen.prompt, "ids": list(gen.source_ids), "tokens": list(gen.source_tokens),
                       "texts": list(gen.source_texts)}}


def generated_part(gen) -> dict:
    return {"text": gen.text(), "ids": [s.id for s in gen.steps], "tokens": [s.token for s in gen.steps],
            "texts": [s.text for s in gen.steps]}


def generation_document(gen, *, max_new_tokens: int, alternatives: int, head: int | None = None,
                        precision: int | None = None, attention: str = "self") -> dict:
    """The one ``--json`` document of a generation."""
    return {
        **header(), "command": "generate", "model": gen.config.get("model", {"name": gen.model}),
        "device": gen.config.get("device"), "dtype": gen.config.get("dtype"),
        "settings": settings_part(gen, max_new_tokens=max_new_tokens, alternatives=alternatives, head=head,
                                  attention=attention),
        "measure": gen.measure,
        "prompt": prompt_part(gen), **source_part(gen), "generated": generated_part(gen), "stop": gen.stop,
        "steps": [step_part(s, head=head, precision=precision, measure=gen.measure) for s in gen.steps],
        "seconds": gen.seconds,
    }


def step_record(step, *, head: int | None, precision: int | None, measure: str = "weights") -> dict:
    """One ``--jsonl`` line, written as soon as the token is produced."""
    return {"type": "step", **step_part(step, head=head, precision=precision, measure=measure)}


def summary_record(gen, *, max_new_tokens: int, alternatives: int, head: int | None = None,
                   attention: str = "self") -> dict:
    """The last ``--jsonl`` line: everything but the steps."""
    return {"type": "summary", **header(), "command": "generate",
            "model": gen.config.get("model", {"name": gen.model}), "device": gen.config.get("device"),
            "dtype": gen.config.get("dtype"),
            "settings": settings_part(gen, max_new_tokens=max_new_tokens, alternatives=alternatives, head=head,
                                      attention=attention),
            "measure": gen.measure,
            "prompt": prompt_part(gen), **source_part(gen), "generated": generated_part(gen), "stop": gen.stop,
            "seconds": gen.seconds}


def ablation_part(changes: dict, precision: int | None) -> dict:
    """``generate --ablate``'s ``ablation`` (attncli.models.ablation.score_generation), rounded with ``-p``."""
    out = dict(changes)
    for key in ("logprobs_ablated", "logprobs_intact"):
        out[key] = [_number(v, precision) for v in out[key]]
    for key in ("loss_ablated", "loss_intact"):
        out[key] = _number(out[key], precision)
    return out
