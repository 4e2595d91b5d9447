"""Generation with an encoder-decoder model (T5, BART, Marian): self- and cross-attention per token.

The encoder runs once over the source (the prompt); the decoder starts from the model's decoder
start token and writes one token per forward with its key/value cache. The rows come from the
model's own ``output_attentions`` (these models load with eager attention): per step and chosen
layer, the decoder's self-attention row (H, tokens so far) and its cross-attention row (H, source
tokens), the same tensors as ``generate(output_attentions=True, return_dict_in_generate=True)``'s
``decoder_attentions`` and ``cross_attentions``.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Iterator

from attncli.core.decoding import Sampling, choose, generator, rank_of, top_alternatives
from attncli.errors import AttnError, ExitCode, option
from attncli.models.memory import allocation_error, nonfinite_hint


def start_id(transformer) -> int:
    lm = transformer.lm
    value = getattr(getattr(lm, "generation_config", None), "decoder_start_token_id", None)
    if value is None:
        value = getattr(lm.config, "decoder_start_token_id", None)
    if value is None:
        raise AttnError(f"{transformer.name} names no decoder start token", where=f"{option('model')} {transformer.name}",
                        kind="model")
    return int(value)


def steps(transformer, source: list[int], *, sampling: Sampling, max_new_tokens: int, layers: list[int],
          alternatives: int, target: list[int] | None, stop_ids: set[int]) -> Iterator:
    from attncli.models.steps import Alternative, Step

    torch = transformer.torch
    lm = transformer.lm
    tokenizer = transformer.tokenizer
    special_ids = set(tokenizer.all_special_ids)
    gen = generator(sampling, device=transformer.device)
    count = len(target) if target is not None else max_new_tokens
    device = transformer.device
    with torch.no_grad():
        encoded = lm.get_encoder()(input_ids=torch.tensor([source], device=device))
    past = None
    current = torch.tensor([[start_id(transformer)]], device=device)  # (1, 1)
    for k in range(count):
        started = time.perf_counter()
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = lm(encoder_outputs=encoded, decoder_input_ids=current, past_key_values=past, use_cache=True,
                         output_attentions=True)
        except (RuntimeError, MemoryError) as exc:
            raise allocation_error(exc, f"the forward pass of step {k}") or AttnError(
                f"the model failed: {str(exc).splitlines()[0]}", kind="model", code=ExitCode.FAILURE) from None
        past = out.past_key_values
        logits = out.logits[0, -1].float()  # (V,)
        if not bool(torch.isfinite(logits).all()):
            raise AttnError(f"non-finite logits at step {k}", kind="numeric", code=ExitCode.FAILURE,
                            hint=nonfinite_hint(lm, transformer.dtype_name))
        log_probs = torch.log_softmax(logits, dim=-1)  # (V,)
        token = target[k] if target is not None else choose(logits, sampling, gen)
        log_p = float(log_probs[token])
        step = Step(index=k, position=k + 1, id=token, token=tokenizer.convert_ids_to_tokens(token),
                    text=tokenizer.decode([token]), probability=math.exp(log_p), log_probability=log_p,
                    rank=rank_of(logits, token),
                    alternatives=[Alternative(i, tokenizer.convert_ids_to_tokens(i), tokenizer.decode([i]), p)
                                  for i, p in top_alternatives(log_probs, alternatives)],
                    attention={l: out.decoder_attentions[l][0, :, -1, :].float().clone() for l in layers},  # (H, k+1)
                    cross={l: out.cross_attentions[l][0, :, -1, :].float().clone() for l in layers},  # (H, S)
                    special=token in special_ids, eos=token in stop_ids, seconds=time.perf_counter() - started)
        yield step
        if target is None and step.eos:
            return
        current = torch.tensor([[token]], device=device)


def decoder_layers(transformer) -> int:
    config = transformer.lm.config
    return int(getattr(config, "num_decoder_layers", None) or getattr(config, "decoder_layers", None)
               or transformer.info["layers"])


def decoder_heads(transformer) -> int:
    config = transformer.lm.config
    return int(getattr(config, "decoder_attention_heads", None) or transformer.info["heads"])


def decoder_shape(transformer) -> tuple[int, int]:
    """The (layers, heads) whose attention generation reports: an encoder-decoder model's decoder, else the model's."""
    if getattr(transformer, "seq2seq", False):
        return decoder_layers(transformer), decoder_heads(transformer)
    return int(transformer.info["layers"]), int(transformer.info["heads"])
