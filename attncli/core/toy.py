"""Toy attention: settings -> weights on a device -> text -> tokens -> embeddings -> Record.

``ToyAttention`` is built once per invocation (and once for a whole ``--file`` batch): it
resolves the device and dtype and puts the embedding table and projection matrices there.
``run(text)`` then does one text; ``run_many`` a batch, stacking texts of one length.
"""

from __future__ import annotations

from dataclasses import fields

from attncli.config import Settings, check_text_budget
from attncli.core.devices import device_label, import_torch, resolve_device, resolve_dtype
from attncli.errors import AttnError, ExitCode, numeric_error, option
from attncli.core.record import Layer, Record, no_text
from attncli.core.tokens import check_text, embed, strict_check

#: Default work budget (``max_scores``): the attention scores, queries x keys x heads, one text computes.
#: About 15 s of one CPU core (6e7 scores/s measured with top_k); 262,144 tokens would be 20 minutes.
DEFAULT_MAX_SCORES = 1_000_000_000

#: Default budget for the attention matrices (raw scores, scores, weights), in MiB (``max_weights_mb``).
DEFAULT_MAX_WEIGHTS_MB = 256.0
#: Texts with more tokens than this are refused outright (the work grows as N^2).
MAX_TOKENS = 262_144


class ToyAttention:
    """Settings made concrete on one device and dtype."""

    def __init__(self, settings: Settings, *, strict: bool = False,
                 max_weights_mb: float = DEFAULT_MAX_WEIGHTS_MB, device_given: bool = True,
                 max_scores: int = DEFAULT_MAX_SCORES) -> None:
        """``device_given``: the device was a parameter, not the config's ``device:`` (errors name it)."""
        torch = import_torch()
        from attncli.core import attention

        self.torch = torch
        self.settings = settings
        self.strict = strict
        self.max_weights_mb = max_weights_mb
        self.max_scores = max_scores
        from_config = not device_given and settings.source_kind != "defaults"
        self.device = resolve_device(settings.device, f"device in {settings.source or 'config'}" if from_config
                                     else option("device"))
        self.dtype = resolve_dtype(settings.dtype)
        self.element_size = torch.empty((), dtype=self.dtype).element_size()
        a = settings.attention
        self.spec = settings.spec
        self.weights = attention.Projections()
        if a.projections == "random":
            wq, wk, wv = attention.random_projections(settings.d_model, settings.d_k, settings.d_v, a.seed)
            self.weights = attention.Projections(*(self._tensor(w, "projection") for w in (wq, wk, wv)))
        elif a.projections == "explicit" and a.matrices:
            m = a.matrices
            self.weights = attention.Projections(
                *(self._tensor(m[name], f"attention.projections.{name}") for name in ("query", "key", "value")),
                output=self._tensor(m["output"], "attention.projections.output") if "output" in m else None)
        self.config = settings.to_dict()
        self.config["device"] = device_label(self.device)
        self.config["dtype"] = settings.dtype

    # -- helpers
    def _tensor(self, data, where: str):
        torch = self.torch
        if isinstance(data, torch.Tensor):
            t = data.to(device=self.device, dtype=self.dtype)
        elif self.dtype in (torch.float32, torch.float64) and self.device.type == "cpu":
            t = torch.tensor(data, dtype=self.dtype)  # one step on the common path
        else:
            t = torch.tensor(data, dtype=torch.float64).to(device=self.device, dtype=self.dtype)
        # Config values are finite (validated); only a cast to a half type can overflow.
        if self.dtype in (torch.float16, torch.bfloat16) and not bool(torch.isfinite(t).all()):
            raise numeric_error(f"values do not fit in {self.settings.dtype}", where=where,
                                hint=f"use {option('dtype')} float32 or float64")
        return t

    def plan(self, n: int, rows: list[int] | None, top_k: int | None, warnings: list[str]) -> bool:
        """Whether the (H, R, N) matrices fit the budget: True keeps them, False drops them (with a
        warning) when top_k gives another view; any other run is refused (never an OOM crash)."""
        if n > MAX_TOKENS:
            raise AttnError(f"{n:,} tokens is more than attncli handles ({MAX_TOKENS:,})", param="text",
                            kind="budget", hint="split the text")
        h = self.settings.attention.heads
        r = n if rows is None else len(rows)
        scores = r * n * h  # the work: every score is computed, kept or not (top_k keeps K per row)
        if scores > self.max_scores:
            raise AttnError(f"{r:,} x {n:,} tokens x {h} head(s) is {scores:,} attention scores to compute; "
                            f"the limit is {self.max_scores:,}", param="max_scores", kind="budget",
                            hint=f"view a few rows with {option('focus')}, split the text, or raise "
                                 f"{option('max_scores')}")
        need_mb = 3 * h * r * n * self.element_size / 2**20  # raw scores, scores and weights
        if need_mb <= self.max_weights_mb:
            return True
        what = f"{r:,} x {n:,} tokens x {h} head(s) need {need_mb:,.0f} MiB for the attention matrices; " \
               f"the budget is {self.max_weights_mb:,.0f} MiB"
        if top_k and rows is None:
            warnings.append(f"{what}: scores and weights are left out (null); {option('top_k')} shows the "
                            "strongest links")
            return False
        raise AttnError(what, param="max_weights_mb", kind="budget",
                        hint=f"view a few rows with {option('focus')}, or the strongest links with "
                             f"{option('top_k')}, or raise {option('max_weights_mb')}")

    def _embed_text(self, text: str, where: str):
        """Text -> checked tokens -> embedding vectors (plain lists)."""
        if self.settings.tensors is not None:
            raise AttnError(f"this config gives tensors directly; do not give a {option('text')} as well",
                            where=where, kind="text", hint=f"drop the {option('text')} argument")
        tokens = check_text(text, where)
        check_text_budget(self.settings, len(tokens), self.max_weights_mb)  # before a vector exists
        embedded = embed(tokens, self.settings.embeddings, self.settings.d_model)
        if self.strict:
            strict_check(embedded, where)
        return embedded

    # -- runs
    def run(self, text: str | None, *, where: str | None = None, focus: list[str] | None = None,
            top_k: int | None = None, rollout: bool = False, measure: str = "weights", **_model_only) -> Record:
        """One text (None: the config's tensors). ``focus``: values naming the query rows.

        ``rollout`` is part of the runners' common call; toy attention has one layer, so there is
        nothing to roll out (the API and the options refuse it before a toy run).
        """
        from attncli.core import attention, focus as focus_grammar

        if measure != "weights":
            from attncli.core.measures.toy import apply_toy

            return apply_toy(self.run(text, where=where, focus=focus, top_k=top_k), measure, self.spec)
        if text is None:
            return self._run_tensors(focus, top_k)
        where = where or option("text")
        warnings: list[str] = []
        embedded = self._embed_text(text, where)
        rows = focus_grammar.rows(embedded.tokens, focus, notes=warnings)
        keep = self.plan(len(embedded.tokens), rows, top_k, warnings)
        x = self._tensor(embedded.vectors, "embeddings")  # (N, d_model)
        layer = attention.forward(x, self.weights, self.spec, rows=rows, top_k=top_k, keep=keep)
        return self._finish(layer, x, rows, embedded.tokens, embedded.oov, text, warnings)

    def _run_tensors(self, focus, top_k) -> Record:
        from attncli.core import attention, focus as focus_grammar

        spec = self.settings.tensors
        if spec is None:
            raise no_text()
        warnings: list[str] = []
        rows = focus_grammar.rows(spec.tokens, focus, notes=warnings)
        keep = self.plan(len(spec.tokens), rows, top_k, warnings)
        query = self._tensor(spec.query, "tensors.query")  # (N, D_k)
        key = self._tensor(spec.key, "tensors.key")  # (N, D_k)
        value = self._tensor(spec.value, "tensors.value")  # (N, D_v)
        layer = attention.attend_projected(query, key, value, self.spec, rows=rows, top_k=top_k, keep=keep)
        return self._finish(layer, None, rows, list(spec.tokens), [False] * len(spec.tokens), None, warnings)

    def run_many(self, items: list[tuple[str, str]], *, focus: list[str] | None = None,
                 top_k: int | None = None, rollout: bool = False, measure: str = "weights", **_model_only) -> list:
        """Many texts: ``items`` are (where, text); returns a Record or an AttnError for each.

        Plain runs stack texts with the same number of tokens and compute them as one batch (the
        math is row-wise, so each record equals what ``run`` gives for that text alone); runs with
        ``focus`` or ``top_k`` go one text at a time.
        """
        from attncli.core import attention

        out: list = [None] * len(items)
        if focus or top_k or measure != "weights":
            for i, (where, text) in enumerate(items):
                try:
                    out[i] = self.run(text, where=where, focus=focus, top_k=top_k, measure=measure)
                except AttnError as error:
                    out[i] = error
            return out
        buckets: dict[int, list] = {}
        for i, (where, text) in enumerate(items):
            try:
                embedded = self._embed_text(text, where)
                self.plan(len(embedded.tokens), None, None, [])
            except AttnError as error:
                out[i] = error
                continue
            buckets.setdefault(len(embedded.tokens), []).append((i, embedded))
        for members in buckets.values():
            try:
                x = self._tensor([e.vectors for _, e in members], "embeddings")  # (B, N, d_model)
            except AttnError as error:
                for i, _ in members:
                    out[i] = error
                continue
            batch = attention.forward(x, self.weights, self.spec)  # every tensor (B, ...)
            all_finite = bool(self.torch.isfinite(batch.output).all() & batch.finite)
            printable = _printable(batch) if all_finite else {}
            for b, (one, (i, embedded)) in enumerate(zip(_split(batch, len(members), self.torch, all_finite),
                                                         members)):
                try:
                    out[i] = self._finish(one, x[b], None, embedded.tokens, embedded.oov, items[i][1], [],
                                          checked=all_finite)
                    out[i].layers[0].printable = {name: parts[b] for name, parts in printable.items()}
                except AttnError as error:
                    out[i] = error
        return out

    def _finish(self, layer: Layer, embeddings, rows, tokens, oov, text, warnings, checked: bool = False) -> Record:
        """The layer the math built (index 0), checked, as this text's Record."""
        if not checked:
            self._check_finite(layer)
        layer.finite = None  # checked: nothing downstream reads it
        return Record(source="toy", tokens=tokens, texts=list(tokens), oov=oov, special=[False] * len(tokens),
                      embeddings=embeddings, layers=[layer], heads=self.spec.heads, causal=self.spec.causal,
                      config=self.config, rows=rows, projections=self.weights.as_dict(), text=text,
                      warnings=warnings)

    def _check_finite(self, layer: Layer) -> None:
        """One cheap check on the common path; a closer look only to name what went wrong."""
        torch = self.torch
        ok = torch.isfinite(layer.output).all()
        if layer.finite is not None:
            ok = ok & layer.finite
        if layer.top_weights is not None:
            ok = ok & torch.isfinite(layer.top_weights).all()
        if bool(ok):
            return
        half = self.dtype in (torch.float16, torch.bfloat16)
        hint = f"use {option('dtype')} float32 or float64" if half else "check the magnitudes of the inputs"
        what = "overflow" if half else "non-finite values"
        for name in ("inputs", "queries", "keys", "values", "raw_scores"):
            t = getattr(layer, name)
            if t is not None and not bool(torch.isfinite(t).all()):
                raise numeric_error(f"{self.settings.dtype} {what} in the {name.replace('_', ' ')}",
                                    where="attention", hint=hint)
        if layer.finite is not None and not bool(layer.finite):
            raise numeric_error(f"{self.settings.dtype} {what} in the raw scores", where="attention", hint=hint)
        raise numeric_error(f"{self.settings.dtype} {what} in the context vectors", where="attention", hint=hint)


def _printable(batch: Layer) -> dict:
    """The batch's printed tensors as shortest exact decimals, computed once for every line (B, ...)."""
    from attncli.documents.jsonout import shortest

    tensors = {"inputs": batch.inputs, "scores": batch.scores, "weights": batch.weights, "output": batch.output}
    return {name: shortest(t).unbind(0) for name, t in tensors.items() if t is not None}


#: The Layer fields that a batch computes with a leading (B, ...) axis (``positional`` is shared).
_BATCHED = ("inputs", "queries", "keys", "values", "raw_scores", "scores", "weights", "head_context",
            "concat", "projected", "residual", "normed", "output", "top_indices", "top_weights")


def _split(batch: Layer, count: int, torch, all_finite: bool) -> list[Layer]:
    """A batched Layer as one Layer per sequence (views; one unbind per tensor)."""
    columns, shared = {}, {}
    for f in fields(batch):
        value = getattr(batch, f.name)
        if f.name in _BATCHED and value is not None:
            columns[f.name] = value.unbind(0)
        else:
            shared[f.name] = value
    ok = torch.ones((), dtype=torch.bool)
    out = []
    for b in range(count):
        kwargs = {**shared, **{name: parts[b] for name, parts in columns.items()}}
        if all_finite:
            kwargs["finite"] = ok
        elif "raw_scores" in columns:
            kwargs["finite"] = torch.isfinite(columns["raw_scores"][b]).all()
        kwargs["printable"] = {}
        out.append(Layer(**kwargs))
    return out


def build(settings: Settings, **kwargs) -> ToyAttention:
    """Build the toy attention, turning an out-of-memory or driver failure into a runtime error."""
    try:
        return ToyAttention(settings, **kwargs)
    except AttnError:
        raise
    except RuntimeError as exc:  # CUDA initialisation failures, out of memory
        raise AttnError(f"could not set up the device: {str(exc).splitlines()[0]}", kind="device",
                        code=ExitCode.FAILURE) from exc
