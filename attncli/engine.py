"""The pipeline: settings -> model (weights on a device) -> text -> tokens -> embeddings -> attention -> Result.

``Model`` is built once per invocation (and once for a whole ``--file`` batch):
it resolves the device and dtype and puts the embedding table and projection
matrices there. ``Model.run(text)`` then does one text.

torch is imported here, lazily, by the commands that need tensors.
"""

from __future__ import annotations

import warnings

from attncli.config import Settings
from attncli.errors import AttnError, ExitCode, numeric_error
from attncli.result import Result
from attncli.tokens import check_text, embed, strict_check

#: Default budget for the full (H, N, N) weight tensor, in MiB (``--max-weights-mb``).
DEFAULT_MAX_WEIGHTS_MB = 256.0
#: Texts with more tokens than this are refused outright (the work grows as N^2).
MAX_TOKENS = 262_144


def import_torch():
    """Import torch without its 'Failed to initialize NumPy' warning (numpy is not needed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch
    return torch


def resolve_dtype(name: str, where: str = "--dtype"):
    torch = import_torch()
    table = {"float32": torch.float32, "float64": torch.float64,
             "float16": torch.float16, "bfloat16": torch.bfloat16}
    if name not in table:  # validated by config already; kept for direct callers
        raise AttnError(f"unknown dtype {name!r}", where=where,
                        hint="expected float32, float64, float16 or bfloat16")
    return table[name]


def resolve_device(name: str, where: str = "--device"):
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' | 'mps' -> torch.device, or a clear AttnError."""
    torch = import_torch()
    name = name.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise AttnError(f"no usable CUDA GPU for device {name!r}", where=where, kind="device",
                            hint="this torch build or machine has no CUDA GPU; use --device cpu or auto")
        index = int(name.split(":", 1)[1]) if ":" in name else 0
        count = torch.cuda.device_count()
        if index >= count:
            raise AttnError(f"no CUDA device {index}: this machine has {count}", where=where, kind="device",
                            hint=f"use cuda:0 to cuda:{count - 1}" if count > 1 else "use cuda or cuda:0")
        return torch.device(f"cuda:{index}")
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise AttnError("Apple MPS is not available here", where=where, kind="device",
                            hint="use --device cpu or auto")
        return torch.device("mps")
    raise AttnError(f"unknown device {name!r}", where=where, kind="device",
                    hint="expected auto, cpu, cuda, cuda:N or mps")


def device_label(device) -> str:
    if device.type == "cuda":
        return f"cuda:{device.index or 0}"
    return device.type


class Model:
    """Settings made concrete on one device and dtype."""

    def __init__(self, settings: Settings, *, strict: bool = False,
                 max_weights_mb: float = DEFAULT_MAX_WEIGHTS_MB,
                 device_where: str = "--device", dtype_where: str = "--dtype") -> None:
        torch = import_torch()
        from attncli import attention

        self.torch = torch
        self.settings = settings
        self.strict = strict
        self.max_weights_mb = max_weights_mb
        self.notes: list[str] = []  # warnings of the last run, for the command to print
        self.device = resolve_device(settings.device, device_where)
        self.dtype = resolve_dtype(settings.dtype, dtype_where)
        self.element_size = torch.empty((), dtype=self.dtype).element_size()
        a = settings.attention
        self.w_query = self.w_key = self.w_value = self.w_output = None
        if a.projections == "random":
            wq, wk, wv = attention.random_projections(settings.d_model, settings.d_k, settings.d_v, a.seed)
            self.w_query, self.w_key, self.w_value = (self._tensor(w, "projection") for w in (wq, wk, wv))
        elif a.projections == "explicit" and a.matrices:
            m = a.matrices
            self.w_query = self._tensor(m["query"], "attention.projections.query")
            self.w_key = self._tensor(m["key"], "attention.projections.key")
            self.w_value = self._tensor(m["value"], "attention.projections.value")
            if "output" in m:
                self.w_output = self._tensor(m["output"], "attention.projections.output")

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
                                hint="use --dtype float32 or float64")
        return t

    def plan(self, n: int, rows: list[int] | None, top_k: int | None) -> bool:
        """Whether the (H, R, N) matrices can be kept within the budget (never an OOM crash).

        Returns True to keep them, False to drop them (with a warning) when --top-k gives
        another view; refuses the run otherwise.
        """
        if n > MAX_TOKENS:
            raise AttnError(f"{n:,} tokens is more than attncli handles ({MAX_TOKENS:,})", where="TEXT",
                            kind="budget", hint="split the text")
        h = self.settings.attention.heads
        r = n if rows is None else len(rows)
        element = self.element_size
        need_mb = 3 * h * r * n * element / 2**20  # raw scores, scores and weights
        if need_mb <= self.max_weights_mb:
            return True
        what = f"{r:,} x {n:,} tokens x {h} head(s) need {need_mb:,.0f} MiB for the attention matrices; " \
               f"the budget is {self.max_weights_mb:,.0f} MiB"
        if top_k and rows is None:
            self.notes.append(f"{what}: scores and weights are left out (null); --top-k shows the strongest links")
            return False
        raise AttnError(what, where="--max-weights-mb", kind="budget",
                        hint="view a few rows with --focus, or the strongest links with --top-k, "
                             "or raise --max-weights-mb")

    # -- one pass
    def run(self, text: str, *, where: str = "TEXT", focus: list[str] | None = None,
            top_k: int | None = None) -> Result:
        """One text. ``focus``: query rows to compute (tokens, TOKEN@K or 0-based indices)."""
        self.notes = []
        embedded = self._embed_text(text, where)
        rows = resolve_focus(embedded.tokens, focus)
        keep = self.plan(len(embedded.tokens), rows, top_k)
        x = self._tensor(embedded.vectors, "embeddings")  # (N, d_model)
        trace = self._forward(x, rows=rows, top_k=top_k, keep=keep)
        return self._finish(trace, embedded.tokens, embedded.oov, text)

    def _embed_text(self, text: str, where: str):
        """Text -> checked tokens -> embedding vectors (plain lists)."""
        if self.settings.tensors is not None:
            raise AttnError("this config gives tensors directly; do not give a TEXT as well",
                            where=where, kind="text", hint="drop the TEXT argument")
        tokens = check_text(text, where)
        embedded = embed(tokens, self.settings.embeddings, self.settings.d_model)
        if self.strict:
            strict_check(embedded, where)
        return embedded

    def _forward(self, x, **kwargs):
        """Embeddings (..., N, d_model) -> a Trace, with this model's weights and settings."""
        from attncli import attention

        a = self.settings.attention
        return attention.forward(
            x, w_query=self.w_query, w_key=self.w_key, w_value=self.w_value, w_output=self.w_output,
            heads=a.heads, divisor=self.settings.divisor, causal=a.causal, positional=a.positional,
            residual=a.residual, use_layer_norm=a.layer_norm, **kwargs,
        )

    def run_tensors(self, *, focus: list[str] | None = None, top_k: int | None = None) -> Result:
        spec = self.settings.tensors
        if spec is None:
            raise AttnError("no TEXT given", where="TEXT", kind="text",
                            hint='give a text, e.g. attncli run "She ate the apple", or a tensors config')
        from attncli import attention

        self.notes = []
        a = self.settings.attention
        rows = resolve_focus(spec.tokens, focus)
        keep = self.plan(len(spec.tokens), rows, top_k)
        query = self._tensor(spec.query, "tensors.query")  # (N, D_k)
        key = self._tensor(spec.key, "tensors.key")  # (N, D_k)
        value = self._tensor(spec.value, "tensors.value")  # (N, D_v)
        trace = attention.attend_projected(query, key, value, heads=a.heads, divisor=self.settings.divisor,
                                           causal=a.causal, use_layer_norm=a.layer_norm, rows=rows,
                                           top_k=top_k, keep=keep)
        return self._finish(trace, list(spec.tokens), [False] * len(spec.tokens), None)

    def run_many(self, items: list[tuple[str, str]]) -> list:
        """Many texts at once: ``items`` are (where, text); returns a Result or an AttnError for each.

        Texts with the same number of tokens are stacked and computed as one batch (the math is
        row-wise, so each result equals what ``run`` gives for that text alone).
        """
        settings = self.settings
        out: list = [None] * len(items)
        buckets: dict[int, list] = {}
        for i, (where, text) in enumerate(items):
            try:
                embedded = self._embed_text(text, where)
                tokens = embedded.tokens
                self.plan(len(tokens), None, None)
            except AttnError as error:
                out[i] = error
                continue
            buckets.setdefault(len(tokens), []).append((i, embedded))
        for members in buckets.values():
            try:
                x = self._tensor([e.vectors for _, e in members], "embeddings")  # (B, N, d_model)
            except AttnError as error:
                for i, _ in members:
                    out[i] = error
                continue
            trace = self._forward(x)
            all_finite = bool(self.torch.isfinite(trace.context).all() & trace.finite_scores)
            for one, (i, embedded) in zip(_split(trace, len(members), self.torch, all_finite), members):
                text = items[i][1]
                if all_finite:
                    out[i] = Result(tokens=embedded.tokens, oov=embedded.oov, settings=settings,
                                    device=device_label(self.device), dtype=settings.dtype, trace=one, text=text)
                    continue
                try:
                    out[i] = self._finish(one, embedded.tokens, embedded.oov, text)
                except AttnError as error:
                    out[i] = error
        return out

    def _finish(self, trace, tokens, oov, text) -> Result:
        self._check_finite(trace)
        return Result(tokens=tokens, oov=oov, settings=self.settings, device=device_label(self.device),
                      dtype=self.settings.dtype, trace=trace, text=text)

    def _check_finite(self, trace) -> None:
        """One cheap check on the common path; a closer look only to name what went wrong."""
        torch = self.torch
        ok = torch.isfinite(trace.context).all()
        if trace.finite_scores is not None:
            ok = ok & trace.finite_scores
        if trace.top_weights is not None:
            ok = ok & torch.isfinite(trace.top_weights).all()
        if bool(ok):
            return
        half = self.dtype in (torch.float16, torch.bfloat16)
        hint = "use --dtype float32 or float64" if half else "check the magnitudes of the inputs"
        what = "overflow" if half else "non-finite values"
        for name in ("inputs", "queries", "keys", "values", "raw_scores"):
            t = getattr(trace, name)
            if t is not None and not bool(torch.isfinite(t).all()):
                raise numeric_error(f"{self.settings.dtype} {what} in the {name.replace('_', ' ')}",
                                    where="attention", hint=hint)
        if trace.finite_scores is not None and not bool(trace.finite_scores):
            raise numeric_error(f"{self.settings.dtype} {what} in the raw scores", where="attention", hint=hint)
        raise numeric_error(f"{self.settings.dtype} {what} in the context vectors", where="attention", hint=hint)


_BATCHED = ("embeddings", "inputs", "queries", "keys", "values", "raw_scores", "scores", "weights", "head_context",
            "concat", "output", "residual", "normed", "context", "top_indices", "top_weights")


def _split(trace, count: int, torch, all_finite: bool) -> list:
    """A batched Trace as one Trace per sequence (views; one unbind per tensor)."""
    from dataclasses import fields

    columns = {}
    shared = {}
    for f in fields(trace):
        value = getattr(trace, f.name)
        if f.name in _BATCHED and value is not None:
            columns[f.name] = value.unbind(0)
        else:
            shared[f.name] = value
    ok = torch.ones((), dtype=torch.bool)
    out = []
    for b in range(count):
        kwargs = {**shared, **{name: parts[b] for name, parts in columns.items()}}
        if all_finite:
            kwargs["finite_scores"] = ok
        elif "raw_scores" in columns:
            kwargs["finite_scores"] = torch.isfinite(columns["raw_scores"][b]).all()
        out.append(type(trace)(**kwargs))
    return out


def resolve_focus(tokens: list[str], focus: list[str] | None) -> list[int] | None:
    """``--focus`` values -> 0-based query rows, in the order given.

    All digits: an index. ``TOKEN@K``: the K-th occurrence (1-based). ``TOKEN``: every occurrence.
    """
    if not focus:
        return None
    rows: list[int] = []
    for value in focus:
        text = value.strip()
        if text.isdigit():
            index = int(text)
            if index >= len(tokens):
                raise AttnError(f"index {index} is out of range: the text has {len(tokens)} tokens",
                                where="--focus", hint=f"use 0 to {len(tokens) - 1}", kind="text")
            rows.append(index)
            continue
        name, occurrence = text, None
        if "@" in text[1:]:
            name, _, count = text.rpartition("@")
            if not count.isdigit() or int(count) < 1:
                raise AttnError(f"expected TOKEN@K with K a whole number from 1, got {value!r}", where="--focus")
            occurrence = int(count)
        hits = [i for i, token in enumerate(tokens) if token.lower() == name.lower()]
        if not hits:
            shown = ", ".join(tokens[:12]) + (", ..." if len(tokens) > 12 else "")
            raise AttnError(f"focus token {name!r} is not in the text", where="--focus",
                            hint=f"tokens: {shown}", kind="text")
        if occurrence is not None:
            if occurrence > len(hits):
                raise AttnError(f"{name!r} occurs {len(hits)} time(s), not {occurrence}", where="--focus",
                                kind="text")
            hits = [hits[occurrence - 1]]
        rows.extend(hits)
    return rows


def build_model(settings: Settings, **kwargs) -> Model:
    """Build a model, turning an out-of-memory or driver failure into a runtime error."""
    try:
        return Model(settings, **kwargs)
    except AttnError:
        raise
    except RuntimeError as exc:  # CUDA initialisation failures, out of memory
        raise AttnError(f"could not set up the device: {str(exc).splitlines()[0]}", kind="device",
                        code=ExitCode.FAILURE) from exc
