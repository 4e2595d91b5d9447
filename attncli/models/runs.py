"""Real models: a local Hugging Face model's attention as a Record, the same container as a toy run.

``ModelAttention`` loads the model once (``attncli.models``: offline) and runs each text through
its capture points (attncli.models.capture: queries, keys and values after rotary embeddings,
scores, weights, each head's output, the attention sublayer's output, the block's input and
output), one :class:`attncli.core.record.Layer` per model layer.
"""

from __future__ import annotations

from attncli.core.record import Record, no_text


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
            top_k: int | None = None, rollout: bool = False, raw_scores: bool = False, progress=None) -> Record:
        """One text through every layer; ``progress(done_layers, layers)`` after each layer."""
        from attncli.core import focus as focus_grammar
        from attncli.core.attention import rollout as attention_rollout
        from attncli.errors import option

        if text is None:
            raise no_text(model=self.name)
        record = self.transformer.run(text, where=where or option("text"), progress=progress)
        focus_notes: list[str] = []
        rows = focus_grammar.rows(record.tokens, focus, notes=focus_notes)
        record.warnings = list(record.warnings) + focus_notes
        if raw_scores:
            from attncli.core.attention import unscaled_scores

            for layer in record.layers:
                layer.raw_scores = unscaled_scores(layer.queries, layer.keys, rows)  # (H, R, N)
        full = record.attentions  # L x (H, N, N)
        if rows is not None:  # per-query tensors keep the focus rows only
            for layer in record.layers:
                for name in ("weights", "scores", "output", "head_context", "projected"):
                    tensor = getattr(layer, name)
                    if tensor is not None:
                        setattr(layer, name, tensor[..., rows, :])
        record.rows = rows
        record.config = self.config
        if rollout:
            record.rollout = attention_rollout(full, rows)  # (R, N)
        return record

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

