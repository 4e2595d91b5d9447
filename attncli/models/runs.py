"""Real models: a local Hugging Face model's attention as a Record, the same container as a toy run.

``ModelAttention`` loads the model once (``attncli.models``: offline, eager attention) and turns
each text's ``ModelRun`` (transformers' own ``output_attentions``, hidden states and attention
sublayer outputs) into a :class:`attncli.core.record.Record` with one Layer per model layer.
"""

from __future__ import annotations

from attncli.core.record import Layer, Record, no_text


class ModelAttention:
    """A local model, loaded once, on one device and dtype; ``run`` makes one record per text."""

    def __init__(self, spec: str, *, device: str = "cpu", dtype: str = "float32", bos: bool | None = None) -> None:
        from attncli.core.devices import dtype_name, resolve_device, resolve_dtype
        from attncli.models import Transformer

        torch_device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype)
        self.transformer = Transformer(spec, device=torch_device, dtype=torch_dtype, bos=bos)
        self.dtype = dtype_name(dtype)
        self.config = self._config()

    def _config(self) -> dict:
        t = self.transformer
        info = t.info  # family, layers, heads, kv_heads, kv_head_of, d_model, causal, bos, max_tokens, quantized
        self.causal, self.heads, self.kv_heads = bool(info["causal"]), int(info["heads"]), int(info["kv_heads"])
        model = {"name": t.name, "path": str(t.path), "architecture": t.architecture, "family": info["family"],
                 "layers": int(info["layers"]), "heads": self.heads, "kv_heads": self.kv_heads,
                 "kv_head_of": list(info["kv_head_of"]), "d_model": int(info["d_model"]),
                 "max_tokens": t.max_tokens, "bos": info["bos"], "quantized": info["quantized"]}
        return {
            "source": str(t.path),
            "source_kind": "model",
            "description": f"{t.name} ({t.architecture})",
            "model": model,
            "attention": {"heads": self.heads, "causal": self.causal, "scale": True, "temperature": 1.0,
                          "positional": "model", "projections": "model",
                          "d_head_k": int(info["d_model"]) // self.heads if self.heads else None},
            "device": t.device_name,
            "dtype": self.dtype,
        }

    @property
    def name(self) -> str:
        return self.transformer.name

    def run(self, text: str | None, *, where: str = "TEXT", focus: list[str] | None = None, top_k: int | None = None,
            rollout: bool = False, measure: str = "weights", layers: list[int] | None = None,
            max_passes: int | None = None, progress=None, ablate: list | None = None,
            ablate_mode: str = "zero") -> Record:
        """One text; ``measure`` (attncli.core.measures) for ``layers`` (None: all), ``ablate`` (layer, head)s."""
        from attncli.core import focus as focus_grammar
        from attncli.core.attention import rollout as attention_rollout

        if text is None:
            raise no_text(model=self.name)
        ids = self.transformer.encode(text, where=where)
        if measure != "weights" or ablate:
            from attncli.models.measured import measured_run

            run, extra = measured_run(self, ids, where=where, measure=measure, layers=layers, rollout=rollout,
                                      max_passes=max_passes, progress=progress, ablate=ablate or [],
                                      ablate_mode=ablate_mode)
        else:
            run, extra = self.transformer.run_ids(ids, where=where), None
        rows = focus_grammar.rows(run.tokens, focus)

        def shown(tensor):  # per-query tensors keep the focus rows only
            return tensor if tensor is None or rows is None else tensor[..., rows, :]

        layers = []
        for i, weights in enumerate(run.attentions):
            head_outputs = run.head_outputs[i] if run.head_outputs is not None else None
            layers.append(Layer(index=i, inputs=run.hidden_states[i], weights=shown(weights),
                                output=shown(run.attention_outputs[i]), head_context=shown(head_outputs),
                                hidden=run.hidden_states[i + 1]))
        record = Record(
            source="model", tokens=list(run.tokens), texts=list(run.texts or run.tokens),
            oov=[False] * len(run.tokens), special=list(run.special), embeddings=run.hidden_states[0],
            layers=layers, heads=int(run.attentions[0].shape[0]), causal=bool(run.causal),
            config=self.config, rows=rows, kv_heads=self.kv_heads, name=run.name, text=text,
            warnings=list(run.notes))
        if extra is not None:
            from attncli.models.measured import finish

            return finish(record, extra, rows, rollout=rollout)
        if rollout:
            record.rollout = attention_rollout(run.attentions, rows)  # (R, N)
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
