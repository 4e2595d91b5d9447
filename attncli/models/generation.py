"""Generation with a key/value cache, and what the model attended to for every token it wrote.

A decoder runs the prompt once, then one token at a time with its key/value cache. Each forward
goes through the capture points (:meth:`Transformer.hooks`, ``capture=("pattern",)``) on the
chosen layers only: step k's attention is the single query row of the forward that produced
generated token k (its query is the token before it; for k = 0 the last prompt token), as in
transformers' ``generate(output_attentions=True)``. Nothing N x N is kept: memory grows with
the sequence (the cache, one row per step and chosen layer), never with its square.

``target`` (teacher forcing): the given continuation is fed token by token instead of sampled,
and each token's probability and rank are read from the same forwards.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from attncli.core.numbers import plural
from attncli.core.decoding import DEFAULT_ALTERNATIVES, Sampling, choose, generator, rank_of, top_alternatives
from attncli.errors import AttnError, ExitCode, option
from attncli.models.memory import allocation_error, nonfinite_hint
from attncli.models.steps import Alternative, Step  # noqa: F401  (re-exported: generation.Step)


@dataclass
class Generation:
    """A whole generation: the prompt, the steps, why it stopped, and the settings."""

    model: str
    prompt: str
    prompt_ids: list[int]
    prompt_tokens: list[str]
    prompt_texts: list[str]
    prompt_special: list[bool]
    steps: list[Step]
    layers: list[int]
    heads: int
    sampling: Sampling
    stop: str  # "eos", "length" (max new tokens) or "target"
    target: str | None = None
    chat: bool = False
    system: str | None = None
    config: dict = field(default_factory=dict)
    seconds: float = 0.0
    #: encoder-decoder models: the source the encoder read (the prompt), and the decoder's prefix is
    #: its start token (``prompt_*``)
    source_ids: list[int] | None = None
    source_tokens: list[str] | None = None
    source_texts: list[str] | None = None
    source_special: list[bool] | None = None
    #: what the document's ``settings`` record: the most new tokens asked for, the alternatives kept
    max_new_tokens: int = 32
    alternatives: int = DEFAULT_ALTERNATIVES

    def document(self, *, precision: int | None = None, head: int | None = None, attention: str = "self") -> dict:
        """The JSON document ``attncli generate --json`` prints for this generation (plain lists and numbers).

        ``head``: one head's rows instead of every head's (the mean is there either way); ``precision``
        rounds as ``-p`` does.
        """
        from attncli.documents.generation import generation_document

        return generation_document(self, max_new_tokens=self.max_new_tokens, alternatives=self.alternatives,
                                   head=head, precision=precision, attention=attention)

    @property
    def ids(self) -> list[int]:
        return self.prompt_ids + [s.id for s in self.steps]

    @property
    def tokens(self) -> list[str]:
        return self.prompt_tokens + [s.token for s in self.steps]

    @property
    def texts(self) -> list[str]:
        return self.prompt_texts + [s.text for s in self.steps]

    def text(self, tokenizer=None) -> str:
        """The generated text (special tokens such as EOS left out)."""
        return "".join(s.text for s in self.steps if not s.special)


def eos_ids(transformer) -> set[int]:
    """The ids that end a generation: the generation config's EOS (one or several), else the tokenizer's."""
    ids: set[int] = set()
    lm = getattr(transformer, "lm", None) or transformer.model
    config = getattr(lm, "generation_config", None)
    value = getattr(config, "eos_token_id", None) if config is not None else None
    if value is None:
        value = transformer.tokenizer.eos_token_id
    if isinstance(value, int):
        ids.add(value)
    elif value is not None:
        ids.update(int(v) for v in value)
    return ids


def prompt_ids(transformer, prompt: str, *, chat: bool = False, system: str | None = None) -> list[int]:
    """The prompt's token ids; with ``chat`` the tokenizer's chat template (and its generation prompt)."""
    if not chat:
        if system is not None:
            raise AttnError(f"{option('system')} goes with {option('chat')}", where=option("system"))
        return transformer.encode(prompt, where="PROMPT")
    tokenizer = transformer.tokenizer
    if not getattr(tokenizer, "chat_template", None):
        raise AttnError(f"{transformer.name}'s tokenizer has no chat template", where=option("chat"),
                        hint=f"leave {option('chat')} out to use the prompt as it is")
    if not prompt.strip():
        raise AttnError("empty text" if not prompt else "text holds only whitespace", where="PROMPT", kind="text")
    messages = ([{"role": "system", "content": system}] if system is not None else []) + [
        {"role": "user", "content": prompt}]
    out = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if not isinstance(out, list):  # transformers 5 returns a BatchEncoding
        out = out["input_ids"]
    return [int(i) for i in out]


def check_lengths(transformer, n_prompt: int, new_tokens: int, *, where: str = f"-n/{option('max_new_tokens')}") -> None:
    """A prompt longer than the context, or a generation that would run past it: refused (exit 2)."""
    limit = transformer.max_tokens
    if not limit:
        return
    if n_prompt > limit:
        raise AttnError(f"the prompt is {n_prompt:,} tokens, more than {transformer.name} takes ({limit:,})",
                        where="PROMPT", hint="shorten the prompt", kind="text")
    if n_prompt + new_tokens > limit:
        raise AttnError(f"{n_prompt:,} prompt tokens + {new_tokens:,} new tokens is past {transformer.name}'s "
                        f"context of {limit:,} tokens", where=where,
                        hint=f"use at most {limit - n_prompt:,} new tokens", kind="text")


def steps(transformer, ids: list[int], *, sampling: Sampling, max_new_tokens: int, layers: list[int],
          alternatives: int = DEFAULT_ALTERNATIVES, target: list[int] | None = None,
          stop_ids: set[int] | None = None, interventions=()) -> Iterator[Step]:
    """Yield each generated (or forced) token as soon as its forward is done; the loop keeps the cache.
    ``interventions`` (attncli.core.points, e.g. AblateHead): applied in every forward."""
    torch = transformer.torch
    tokenizer = transformer.tokenizer
    special_ids = set(tokenizer.all_special_ids)
    stop_ids = eos_ids(transformer) if stop_ids is None else stop_ids
    gen = generator(sampling, device=transformer.device)
    count = len(target) if target is not None else max_new_tokens
    n = len(ids)
    state = {"past": None}
    last_only = _last_logits(transformer.lm)  # the prompt's forward: the last position's logits, not (N, V)

    def forward(cache, current, k):
        started = time.perf_counter()
        try:
            out = transformer.forward(current, past_key_values=state["past"], use_cache=True, **last_only)
        except (RuntimeError, MemoryError) as exc:
            raise allocation_error(exc, f"the forward pass of step {k}") or AttnError(
                f"the model failed: {str(exc).splitlines()[0]}", kind="model", code=ExitCode.FAILURE) from None
        state["past"] = out.past_key_values
        logits = out.logits[0, -1].float()  # (V,)
        if not bool(torch.isfinite(logits).all()):
            raise AttnError(f"non-finite logits at step {k} ({transformer.dtype_name})", kind="numeric",
                            code=ExitCode.FAILURE, hint=nonfinite_hint(transformer.lm, transformer.dtype_name))
        log_probs = torch.log_softmax(logits, dim=-1)  # (V,)
        token = target[k] if target is not None else choose(logits, sampling, gen)
        rows = {layer: _own_row(cache[layer]["pattern"]) for layer in layers}  # (H, n + k)
        options = [Alternative(i, tokenizer.convert_ids_to_tokens(i), tokenizer.decode([i]), p)
                   for i, p in top_alternatives(log_probs, alternatives)]
        log_p = float(log_probs[token])
        return Step(index=k, position=n + k, id=token, token=tokenizer.convert_ids_to_tokens(token),
                    text=tokenizer.decode([token]), probability=math.exp(log_p), log_probability=log_p,
                    rank=rank_of(logits, token), alternatives=options, attention=rows,
                    special=token in special_ids, eos=token in stop_ids, seconds=time.perf_counter() - started)

    # The prompt's forward: every row on SDPA, only the last one's weights computed (the row path of
    # attncli.models.capture), so that a prompt whose full weights exceed the budget still runs.
    with transformer.hooks(capture=("pattern",), layers=layers, rows=[n - 1], interventions=interventions) as cache:
        step = forward(cache, torch.tensor([ids], dtype=torch.long, device=transformer.device), 0)  # (1, N)
    yield step
    if count == 1 or (target is None and step.eos):
        return
    # Then one token per forward: its single query row is the pattern captured.
    with transformer.hooks(capture=("pattern",), layers=layers, interventions=interventions) as cache:
        for k in range(1, count):
            step = forward(cache, torch.tensor([[step.id]], dtype=torch.long, device=transformer.device), k)
            yield step
            if target is None and step.eos:
                return


def _last_logits(lm) -> dict:
    """``logits_to_keep=1`` where the model's forward takes it (as transformers' generate passes it)."""
    import inspect

    try:
        return {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(lm.forward).parameters else {}
    except (TypeError, ValueError):
        return {}


def kept_rows_mb(n_prompt: int, new_tokens: int, layers: int, heads: int, element: int = 4) -> float:
    """The attention rows a generation keeps: step k's (H, n + k) per chosen layer, float32 (MiB)."""
    keys = new_tokens * n_prompt + new_tokens * (new_tokens - 1) // 2  # sum over k of n + k
    return layers * heads * keys * element / 2**20


def _mib(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def check_sizes(transformer, n_prompt: int, new_tokens: int, layers: int, heads: int) -> None:
    """Refuse before the first forward what would not fit: the kept rows over the attention budget, or the
    prompt's forward (SDPA, one row of weights per chosen layer) over this machine's memory."""
    from attncli.models.memory import check_activations

    need = kept_rows_mb(n_prompt, new_tokens, layers, heads)
    limit = transformer.max_attention_mb
    if need > limit:
        raise AttnError(f"{new_tokens:,} new tokens after {n_prompt:,} prompt tokens keep {_mib(need)} MiB of attention "
                        f"rows ({plural(layers, 'layer')} x {plural(heads, 'head')}); the limit is "
                        f"{_mib(limit)} MiB", where=option("layer"), kind="budget",
                        hint=f"keep fewer layers ({option('layer')} L) or write fewer tokens (-n/{option('max_new_tokens')})")
    element = transformer.torch.empty((), dtype=transformer.dtype).element_size()
    check_activations(transformer.info, n_prompt, element, "PROMPT", rows=1, kept=("pattern",))


def _own_row(pattern):
    """The last query row of a captured pattern (H, R, N) as float32 (H, N), holding no more memory than
    itself: a fresh single-row pattern is kept as it is (no copy), a row of a larger one is copied."""
    row = pattern[:, -1, :].float()  # (H, N)
    if row.untyped_storage().nbytes() > row.numel() * row.element_size():
        row = row.clone()
    return row


def generate(transformer, prompt: str, *, sampling: Sampling = Sampling(), max_new_tokens: int = 32,
             layers: list[int] | None = None, alternatives: int = DEFAULT_ALTERNATIVES, target: str | None = None,
             chat: bool = False, system: str | None = None,
             on_step: Callable[[Step], None] | None = None, interventions=()) -> Generation:
    """A whole generation (``on_step`` is called with each step as it is produced)."""
    ids = prompt_ids(transformer, prompt, chat=chat, system=system)
    return generate_ids(transformer, ids, prompt=prompt, sampling=sampling, max_new_tokens=max_new_tokens,
                        layers=layers, alternatives=alternatives, target=target, chat=chat, system=system,
                        on_step=on_step, interventions=interventions)


def target_ids(transformer, target: str) -> list[int]:
    """The continuation's ids as the model would write them (no BOS or other added tokens)."""
    if not target:
        raise AttnError("empty target", where=option("target"), kind="text")
    ids = list(transformer.tokenizer(target, add_special_tokens=False)["input_ids"])
    if not ids:
        raise AttnError("the target has no tokens", where=option("target"), kind="text")
    return ids


def generate_ids(transformer, ids: list[int], *, prompt: str = "", sampling: Sampling = Sampling(),
                 max_new_tokens: int = 32, layers: list[int] | None = None,
                 alternatives: int = DEFAULT_ALTERNATIVES, target: str | None = None, chat: bool = False,
                 system: str | None = None, on_step: Callable[[Step], None] | None = None,
                 stop_ids: set[int] | None = None, interventions=()) -> Generation:
    """Like :func:`generate`, from token ids (``stop_ids``: the ids that end it; default the model's EOS)."""
    check_decoder(transformer)
    if max_new_tokens < 1:
        raise AttnError(f"must be at least 1, got {max_new_tokens}", where=f"-n/{option('max_new_tokens')}")
    if not ids:
        raise AttnError("no tokens", where="PROMPT", kind="text")
    forced = target_ids(transformer, target) if target is not None else None
    check_lengths(transformer, len(ids), len(forced) if forced is not None else max_new_tokens,
                  where=option("target") if forced is not None else f"-n/{option('max_new_tokens')}")
    vocabulary = int(getattr(transformer.model.config, "vocab_size", 0) or 0)
    if vocabulary and any(not 0 <= i < vocabulary for i in ids):
        raise AttnError("a token id is outside the model's vocabulary", where="PROMPT", kind="text")
    from attncli.models import seq2seq as s2s

    seq2seq = bool(getattr(transformer, "seq2seq", False))
    count = len(forced) if forced is not None else max_new_tokens
    total, heads = s2s.decoder_shape(transformer)
    if seq2seq:
        check_lengths(transformer, 1, count, where=option("target") if forced is not None else f"-n/{option('max_new_tokens')}")
    chosen = list(range(total)) if layers is None else list(layers)
    tokenizer = transformer.tokenizer
    special_ids = set(tokenizer.all_special_ids)
    started = time.perf_counter()
    made: list[Step] = []
    source = None
    if seq2seq:
        source, ids = list(ids), [s2s.start_id(transformer)]
        produced = s2s.steps(transformer, source, sampling=sampling, max_new_tokens=max_new_tokens, layers=chosen,
                             alternatives=alternatives, target=forced,
                             stop_ids=eos_ids(transformer) if stop_ids is None else stop_ids)
    else:
        check_sizes(transformer, len(ids), count, len(chosen), heads)
        produced = steps(transformer, ids, sampling=sampling, max_new_tokens=max_new_tokens, layers=chosen,
                         alternatives=alternatives, target=forced, stop_ids=stop_ids, interventions=interventions)
    for step in produced:
        made.append(step)
        if on_step is not None:
            on_step(step)
    stop = "target" if forced is not None else ("eos" if made and made[-1].eos else "length")
    return Generation(model=transformer.name, prompt=prompt, prompt_ids=list(ids),
                      prompt_tokens=tokenizer.convert_ids_to_tokens(ids),
                      prompt_texts=[tokenizer.decode([i]) for i in ids],
                      prompt_special=[i in special_ids for i in ids], steps=made, layers=chosen,
                      heads=heads, sampling=sampling, stop=stop, target=target, chat=chat,
                      system=system, config=transformer.describe() if hasattr(transformer, "describe") else {},
                      seconds=time.perf_counter() - started, source_ids=source,
                      source_tokens=None if source is None else tokenizer.convert_ids_to_tokens(source),
                      source_texts=None if source is None else [tokenizer.decode([i]) for i in source],
                      source_special=None if source is None else [i in special_ids for i in source],
                      max_new_tokens=max_new_tokens, alternatives=alternatives)


def check_decoder(transformer) -> None:
    """Only a causal language model writes: an encoder (MiniLM) is refused with one line (exit 2)."""
    if getattr(transformer, "seq2seq", False):
        return
    if not transformer.causal or not hasattr(getattr(transformer, "lm", None), "get_output_embeddings") \
            or transformer.lm.get_output_embeddings() is None:
        raise AttnError(f"{transformer.name} is not a decoder: it has no language-model head to write with",
                        where=f"{option('model')} {transformer.name}", kind="model",
                        hint=f"generate needs a causal language model, e.g. {option('model')} smollm2")


_LOADED: dict = {}


def generate_text(prompt: str, *, model: str = "smollm2", max_new_tokens: int = 32, sample: bool = False,
                  temperature: float | None = None, top_k: int | None = None, top_p: float | None = None,
                  seed: int | None = None, chat: bool = False, system: str | None = None, target: str | None = None,
                  layer: str | int | None = None, alternatives: int = DEFAULT_ALTERNATIVES, device: str = "cpu",
                  dtype: str = "float32", bos: bool | None = None) -> Generation:
    """The Python API of ``attncli generate`` (``attncli.generate`` calls it).

    Returns a :class:`Generation`: ``.text()``, ``.ids``, ``.steps`` (each a :class:`Step`: ``id``, ``token``,
    ``text``, ``probability``, ``rank``, ``alternatives``, ``attention[layer]`` a (H, position) tensor, and for
    encoder-decoder models ``cross[layer]`` (H, source tokens)), ``.stop``. The model is loaded once per
    (model, device, dtype, bos) and kept for later calls. Errors are :class:`attncli.errors.AttnError`.
    """
    from attncli.core.devices import resolve_device, resolve_dtype
    from attncli.core.record import parse_layer
    from attncli.models import Transformer

    settings = Sampling(sample=sample, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed).check()
    key = (model, device, dtype, bos)
    if key not in _LOADED:
        _LOADED[key] = Transformer(model, device=resolve_device(device), dtype=resolve_dtype(dtype), bos=bos)
    transformer = _LOADED[key]
    check_decoder(transformer)
    from attncli.models import seq2seq

    total, _ = seq2seq.decoder_shape(transformer)
    layers = parse_layer(None if layer is None else str(layer), total, where="layer")
    return generate(transformer, prompt, sampling=settings, max_new_tokens=max_new_tokens, layers=layers,
                    alternatives=alternatives, target=target, chat=chat, system=system)
