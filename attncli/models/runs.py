"""Real models: a local Hugging Face model's attention as a Record, the same container as a toy run.

``ModelAttention`` loads the model once (``attncli.models``: offline) and runs each text through
its capture points (attncli.models.capture: queries, keys and values after rotary embeddings,
scores, weights, each head's output, the attention sublayer's output, the block's input and
output), one :class:`attncli.core.record.Layer` per model layer.
"""

from __future__ import annotations

from attncli.core.record import Record, no_text
from attncli.errors import option


#: What a record computed row by row keeps per layer: the input, the chosen rows' scores, weights, head
#: outputs and sublayer outputs (never a (H, N, N) tensor; the block's output only where no sublayer is found).
ROW_POINTS = ("resid_pre", "scores", "pattern", "z", "attn_out", "attn_sublayer")
RECORD_POINTS = ("resid_pre", "q", "k", "v", "scores", "pattern", "z", "attn_out", "attn_sublayer", "resid_post")


#: What the refusal of a text too long for its full weights names, per command (``run(hint=...)``).
ROW_HINTS = {
    "run": lambda: (f"{option('focus')} INDEX (-1: the last), {option('rows')} A:B, {option('top_k')} K or "
                    f"{option('stats')} compute only what they show, from the queries and keys"),
    "explain": lambda: (f"{option('focus')} INDEX (-1: the last) or {option('rows')} A:B explain only those rows, "
                        "computed from the queries and keys"),
    "compare": lambda: (f"{option('focus')} TOKEN follows one token: only its rows are computed, from the queries "
                        "and keys"),
    "browse": lambda: (f"browse shows one long text's weights a window of rows at a time (without {option('rollout')}, "
                       f"{option('measure')}, {option('ablate')} or {option('compare')}); attncli run's "
                       f"{option('focus')} INDEX, {option('rows')} A:B, {option('top_k')} K or {option('stats')} "
                       "compute only what they show"),
}


def _row_points(transformer, qkv: bool, hidden: bool = False) -> tuple[str, ...]:
    points = ROW_POINTS + (("q", "k", "v") if qkv else ())
    if not transformer.structure.probed:
        transformer._probe_once(option("model"))
    if hidden or None in transformer.structure.sublayer:
        points += ("resid_post",)
    return points


class ModelAttention:
    """A local model, loaded once, on one device and dtype; ``run`` makes one record per text."""

    def __init__(self, spec: str, *, device: str = "cpu", dtype: str = "float32", bos: bool | None = None,
                 progress=None) -> None:
        """``progress(description, done, total)`` while a packaged model's cache is built."""
        from attncli.core.devices import dtype_name, resolve_device, resolve_dtype
        from attncli.models import Transformer

        torch_device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype)
        self.transformer = Transformer(spec, device=torch_device, dtype=torch_dtype, bos=bos, progress=progress)
        self.dtype = dtype_name(dtype)
        self.config = self._config()

    def _config(self) -> dict:
        t = self.transformer
        self.causal, self.heads, self.kv_heads = bool(t.info["causal"]), int(t.info["heads"]), int(t.info["kv_heads"])
        return t.describe(self.dtype)

    @property
    def name(self) -> str:
        return self.transformer.name

    def run(self, text: str | None, *, where: str | None = None, focus: list[str] | None = None,
            top_k: int | None = None, rollout: bool = False, raw_scores: bool = False, measure: str = "weights",
            layers: list[int] | None = None, max_passes: int | None = None, progress=None,
            ablate: list | None = None, ablate_mode: str = "zero", rows: str | None = None, stats: bool = False,
            qkv: bool = False, hidden: bool = False, hint: str = "run", keep_steps: bool = False) -> Record:
        """One text; ``measure`` (attncli.core.measures) for ``layers`` (None: all), ``ablate`` (layer, head)s.

        ``progress(done_layers, layers)`` after each layer of a plain run. ``focus`` and ``rows`` (``A:B``)
        choose query rows: only those are computed, from the captured queries and keys, while the model
        runs on SDPA (no N x N weights per layer); ``top_k`` or ``stats`` without chosen rows reduce every
        row chunk by chunk when the full weights do not fit (``stats``: always), of ``layers`` only (the
        other layers' ``top_weights`` and ``row_stats`` stay None); ``qkv`` keeps every
        layer's queries, keys and values, ``hidden`` every layer's output on the row path; ``hint``: the
        command (ROW_HINTS) whose row options the refusal of a text too long for its full weights names.
        ``keep_steps``: a measure's intermediate tensors stay on every layer (``Layer.steps``, for explain).
        """
        from attncli.core import focus as focus_grammar
        from attncli.core.attention import rollout as attention_rollout
        from attncli.errors import AttnError, option

        if text is None:
            raise no_text(model=self.name)
        where = where or option("text")
        t = self.transformer
        ids = t.encode(text, where=where)
        tokens = t.tokenizer.convert_ids_to_tokens(ids)
        focus_notes: list[str] = []
        chosen = focus_grammar.rows(tokens, focus, notes=focus_notes)
        if rows is not None:
            chosen = (chosen or []) + focus_grammar.row_range(rows, len(ids))
        if rollout and stats:
            raise AttnError(f"{option('rollout')} needs every layer's full weights; {option('stats')} is for inputs "
                            "seen row by row", param="stats", hint=f"leave out {option('rollout')} or {option('stats')}")
        extra = None
        if measure != "weights" or ablate:
            if stats:
                raise AttnError(f"{option('stats')} summarizes the attention weights; it does not go with "
                                f"{option('measure')} or {option('ablate')}", param="stats")
            from attncli.models.measured import measured_run

            record, extra = measured_run(t, ids, where=where, measure=measure, layers=layers,
                                          rollout=rollout, max_passes=max_passes, progress=progress,
                                          ablate=ablate or [], ablate_mode=ablate_mode, keep_steps=keep_steps)
        elif rollout:
            record = self._full(ids, where, progress, hint)
        elif chosen is not None and not (self._fits(ids, where) and not stats):
            # the rows alone (SDPA elsewhere); a text whose full weights fit keeps the eager path, whose
            # rows equal a whole run's bit for bit (--focus on a short text: the same numbers as without)
            record = t.run_ids(ids, where=where, rows=chosen, points=_row_points(t, raw_scores or qkv, hidden),
                               progress=progress)
            if stats:
                from attncli.core.rowstats import row_stats

                for layer in record.layers:
                    layer.row_stats = row_stats(layer.weights)  # (H, R) each
        elif stats or (top_k and not self._fits(ids, where)):
            from attncli.core.attention import CHUNK_BYTES
            from attncli.core.rowstats import RowReducer

            element = t.torch.empty((), dtype=t.dtype).element_size()
            reducer = RowReducer(heads=self.heads, top_k=top_k, stats=stats, causal=self.causal,
                                 chunk_bytes=CHUNK_BYTES, element=element, layers=layers)
            record = t.run_ids(ids, where=where, points=_row_points(t, raw_scores or qkv), reduce=reducer,
                               progress=progress)
            for layer in record.layers:  # only ``layers`` are reduced (None: all); the others keep None
                if top_k and layer.index in reducer.top:
                    layer.top_weights, layer.top_indices = reducer.top[layer.index]  # (H, N, K) x2
                if stats and layer.index in reducer.stats:
                    layer.row_stats = reducer.stats[layer.index]  # (H, N) each
        else:
            record = self._full(ids, where, progress, hint)
        record.text = text
        record.warnings = list(record.warnings) + focus_notes
        if raw_scores:
            from attncli.core.attention import unscaled_scores

            for layer in record.layers:
                layer.raw_scores = unscaled_scores(layer.queries, layer.keys, chosen)  # (H, R, N)
        full = record.attentions  # L x (H, N, N) on the full path
        if extra is not None:
            from attncli.models.measured import finish

            record.rows, record.config = chosen, self.config
            return finish(record, extra, chosen, rollout=rollout)
        if chosen is not None and record.rows is None:  # the full path: per-query tensors keep the rows only
            for layer in record.layers:
                for name in ("weights", "scores", "output", "head_context", "projected"):
                    tensor = getattr(layer, name)
                    if tensor is not None:
                        setattr(layer, name, tensor[..., chosen, :])
        record.rows = chosen
        record.config = self.config
        if rollout:
            record.rollout = attention_rollout(full, chosen)  # (R, N)
        return record

    def run_rows(self, ids: list[int], rows: list[int], *, where: str | None = None, text: str | None = None,
                 progress=None) -> Record:
        """Only query ``rows`` of the token ``ids``, always on the row path (SDPA, the rows' weights from the
        captured queries and keys), whatever the length: what a caller whose memory must not depend on
        whether the full weights would fit asks for (browse's windows of rows)."""
        t = self.transformer
        where = where or option("text")
        record = t.run_ids(ids, where=where, rows=list(rows), points=_row_points(t, False), progress=progress)
        record.text, record.rows, record.config = text, list(rows), self.config
        return record

    def _full(self, ids: list[int], where: str, progress=None, hint: str = "run") -> Record:
        """Every row of every layer (eager arithmetic); a text too long for that names the options that work."""
        from attncli.errors import AttnError

        try:
            return self.transformer.run_ids(ids, where=where, progress=progress)
        except AttnError as error:
            if error.kind not in ("budget", "memory") or "length" in str(where):
                raise
            error.hint = f"{error.hint}, or look at some query rows: {ROW_HINTS[hint]()}"
            raise

    def run_followed(self, text: str | None, *, where: str | None = None, focus: str | None = None,
                     **kwargs) -> Record:
        """compare's run: every row while the text's full weights fit (as ``run``); past that only the rows
        of ``focus`` (TOKEN: its every occurrence) and every layer's output, from the queries and keys;
        without ``focus`` the refusal names it."""
        where = where or option("text")
        plain = text is None or focus is None or kwargs.get("measure", "weights") != "weights" or kwargs.get("ablate")
        if plain or self._fits(self.transformer.encode(text, where=where), where):
            return self.run(text, where=where, hint="compare", **kwargs)
        return self.run(text, where=where, focus=[focus], hidden=True, hint="compare", **kwargs)

    def _fits(self, ids: list[int], where: str) -> bool:
        """Whether every layer's full weights of ``ids`` fit the limits."""
        from attncli.errors import AttnError

        t = self.transformer
        try:
            t._check_ids(ids, where, rows=None, points=RECORD_POINTS)
        except AttnError as error:
            if error.kind in ("budget", "memory"):
                return False
            raise
        return True

    def run_many(self, items: list[tuple[str, str]], **kwargs) -> list:
        """(where, text) pairs -> a Record or an AttnError for each, one text at a time."""
        from attncli.errors import AttnError

        out: list = []
        for where, text in items:
            try:
                out.append(self.run(text, where=where, **kwargs))
            except AttnError as error:
                out.append(error)
        return out

