"""``Transformer``: a local model loaded once, and its forward pass with every layer's attention.

Decoders and encoders alike: the causal flag, grouped-query attention (which key/value head each
query head shares), the BOS token (``bos``: None keeps what the tokenizer does, True/False forces
it), special-token flags and each token's decoded text.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

from attncli.core.record import Layer
from attncli.errors import AttnError, ExitCode, option
from attncli.models.load import (
    PACKAGED, _transformers, check_folder, is_causal, load_error, resolve,
)
from attncli.models.memory import allocation_error, check_activations, nonfinite_hint


#: Every layer's attention weights of one forward pass are held at once: refuse texts that need more.
MAX_ATTENTION_MB = 4096.0
#: What a record of a real model holds, per layer.
RECORD_POINTS = ("resid_pre", "q", "k", "v", "scores", "pattern", "z", "attn_out", "attn_sublayer", "resid_post")


class Transformer:
    """A local model, loaded once, on one device and dtype."""

    def __init__(self, spec: str, *, device, dtype, bos: bool | None = None,
                 progress: Callable | None = None, max_attention_mb: float = MAX_ATTENTION_MB) -> None:
        from attncli.core.devices import device_label, import_torch

        self.name, self.path = resolve(spec, progress=progress)
        self.torch = import_torch()
        transformers = _transformers()
        try:
            self._load(transformers, spec)
        except AttnError as error:
            cached = spec in PACKAGED and PACKAGED[spec].gguf is not None
            if not cached or error.kind != "model":
                raise
            from attncli.models import cache as hf_cache  # a cache entry that looked whole but does not load: rebuild it once

            hf_cache.discard(Path(self.path), error.message)
            self.path = hf_cache.ensure(spec, progress=progress)
            self._load(transformers, spec)
        self.lm.eval()
        self.lm.to(device=device, dtype=dtype)
        self.device = device
        self.dtype = dtype
        self.bos = bos
        self.max_attention_mb = max_attention_mb
        self.device_name = device_label(device)
        self.dtype_name = str(dtype).replace("torch.", "")
        config = self.model.config
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        tokenizer_limit = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < 10**8:  # -1 or 1e30: no limit of its own
            limit = min(limit, tokenizer_limit) if limit else tokenizer_limit
        self.max_tokens = limit
        self.architecture = type(self.model).__name__
        from attncli.models.structure import Structure

        self.structure = Structure.of(self.model)
        self.causal = is_causal(config)
        self.info = self._info(config)

    def _load(self, transformers, spec: str) -> None:
        where = f"{option('model')} {spec}"
        raw = check_folder(Path(self.path), where, transformers, checked=spec not in PACKAGED)
        decoder = is_causal(SimpleNamespace(**{k: v for k, v in raw.items() if isinstance(k, str)}))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                    str(self.path), local_files_only=True, trust_remote_code=False)
                #: encoder-decoder (T5, BART, Marian): run, compare and heads read the encoder; generate the rest
                self.seq2seq = bool(raw.get("is_encoder_decoder"))
                if self.seq2seq:
                    self.lm = transformers.AutoModelForSeq2SeqLM.from_pretrained(
                        str(self.path), local_files_only=True, attn_implementation="eager", trust_remote_code=False)
                    self.model = self.lm.get_encoder()
                else:
                    self.lm = _load_model(transformers, str(self.path), decoder)
                    # the backbone (LlamaModel, BertModel...): everything but the logits goes through it
                    self.model = getattr(self.lm, "base_model", self.lm) if self.lm is not None else None
        except (MemoryError, RuntimeError) as exc:
            error = allocation_error(exc, "loading the model's weights", where=where)
            if error is None:
                raise AttnError(f"cannot load the model: {load_error(exc, Path(self.path))}", where=where,
                                kind="model") from None
            raise error from None
        except Exception as exc:  # noqa: BLE001 - transformers raises many kinds; each becomes one line
            raise AttnError(f"cannot load the model: {load_error(exc, Path(self.path))}", where=where,
                            kind="model") from None

    def _info(self, config) -> dict:
        heads = int(getattr(config, "num_attention_heads", 0) or getattr(config, "n_head", 0)
                    or getattr(config, "n_heads", 0))
        kv = int(getattr(config, "num_key_value_heads", None) or heads)
        layers = int(getattr(config, "num_hidden_layers", 0) or getattr(config, "n_layer", 0)
                     or getattr(config, "n_layers", 0))
        d_model = int(getattr(config, "hidden_size", 0) or getattr(config, "n_embd", 0) or getattr(config, "dim", 0))
        group = heads // kv if kv and heads % kv == 0 else 1
        packaged = PACKAGED.get(self.name) if self.name in PACKAGED else None
        return {
            "family": getattr(config, "model_type", None),
            "layers": layers,
            "heads": heads,
            "kv_heads": kv,
            # transformers' repeat_kv: query head h reads key/value head h // (heads / kv_heads)
            "kv_head_of": [h // group for h in range(heads)],
            "d_model": d_model,
            "causal": self.causal,
            "bos": self.tokenizer.bos_token,
            "max_tokens": self.max_tokens,
            "quantized": "4-bit quantized weights (Q4_1 GGUF), dequantized to float32: the attention is that "
                         "model's, not the unquantized original's" if packaged and packaged.gguf else None,
        }

    # ------------------------------------------------------------------ tokens

    def encode(self, text: str, *, where: str = "TEXT") -> list[int]:
        """The text's token ids, with the BOS choice applied."""
        from attncli.core.tokens import MAX_TEXT_CHARS

        if len(text) > MAX_TEXT_CHARS:
            raise AttnError("text is too long", where=where, kind="text")
        if not text.strip():
            raise AttnError("empty text" if not text else "text holds only whitespace", where=where, kind="text")
        ids = list(self.tokenizer(text, truncation=False)["input_ids"])
        bos_id = self.tokenizer.bos_token_id
        if self.bos is True:
            if bos_id is None:
                raise AttnError(f"{self.name}'s tokenizer has no BOS token", param="bos")
            if not ids or ids[0] != bos_id:
                ids = [bos_id] + ids
        elif self.bos is False and bos_id is not None and ids and ids[0] == bos_id:
            ids = ids[1:]
        return ids

    def ordinary_ids(self) -> list[int]:
        """The vocabulary without special and added tokens (the probe draws from these)."""
        tokenizer = self.tokenizer
        excluded = set(tokenizer.all_special_ids)
        excluded.update(getattr(tokenizer, "added_tokens_decoder", {}).keys())
        size = int(getattr(tokenizer, "vocab_size", 0) or len(tokenizer))
        return [i for i in range(size) if i not in excluded]

    def prefix_id(self) -> int | None:
        """The token a probe starts with: BOS (or CLS for encoders), unless --no-bos."""
        if self.bos is False:
            return None
        tokenizer = self.tokenizer
        return tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.cls_token_id

    # ------------------------------------------------------------------ forward

    def hooks(self, capture=("q", "k", "pattern"), layers=None, rows=None, interventions=(), progress=None,
              reduce=None):
        """Capture points and interventions for the forwards inside the ``with`` (attncli.core.points):
        ``with t.hooks(capture=("q", "pattern")) as cache: t.forward(ids)``, then ``cache[layer][name]``."""
        from attncli.models import capture as capture_points

        return capture_points.hooks(self.model, self.structure, self._probe, capture=capture, layers=layers,
                                    rows=rows, interventions=interventions, progress=progress, reduce=reduce)

    def _probe(self) -> None:
        token = self.prefix_id() if self.bos is not False else None
        ids = self.torch.tensor([[token if token is not None else 0] * 2], dtype=self.torch.long, device=self.device)
        with self.torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model(input_ids=ids, use_cache=False)

    def forward(self, ids, *, backbone: bool = False, **kwargs):
        """Token ids (a list, (N,) or (B, N)) through the model, without gradients: the model's output object
        (decoders: ``.logits`` and, with ``use_cache=True``, ``.past_key_values``; ``backbone=True`` or an
        encoder: ``.last_hidden_state``). Accepts transformers' keywords (``past_key_values``, ``use_cache``,
        ``attention_mask``, ``position_ids``...); ``use_cache`` is off unless asked for."""
        torch = self.torch
        input_ids = ids if isinstance(ids, torch.Tensor) else torch.tensor(ids, dtype=torch.long)
        if input_ids.dim() == 1:
            input_ids = input_ids[None]  # (1, N)
        kwargs.setdefault("use_cache", kwargs.get("past_key_values") is not None)
        model = self.model if backbone else self.lm
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return model(input_ids=input_ids.to(self.device), **kwargs)

    def describe(self, dtype: str | None = None) -> dict:
        """The model description that a record's (and a document's) ``config`` holds."""
        info = self.info  # family, layers, heads, kv_heads, kv_head_of, d_model, causal, bos, max_tokens, quantized
        heads = int(info["heads"])
        model = {"name": self.name, "path": str(self.path), "architecture": self.architecture,
                 "family": info["family"], "layers": int(info["layers"]), "heads": heads,
                 "kv_heads": int(info["kv_heads"]), "kv_head_of": list(info["kv_head_of"]),
                 "d_model": int(info["d_model"]), "max_tokens": self.max_tokens, "bos": info["bos"],
                 "quantized": info["quantized"]}
        return {
            "source": str(self.path),
            "source_kind": "model",
            "description": f"{self.name} ({self.architecture})",
            "model": model,
            "attention": {"heads": heads, "causal": bool(info["causal"]), "scale": True, "temperature": 1.0,
                          "positional": "model", "projections": "model",
                          "d_head_k": int(info["d_model"]) // heads if heads else None},
            "device": self.device_name,
            "dtype": dtype or self.dtype_name,
        }

    def run(self, text: str, *, where: str = "TEXT", progress: Callable | None = None, rows=None,
            points=RECORD_POINTS, reduce=None):
        """One text through the model: a Record with one Layer per model layer (see ``run_ids``)."""
        record = self.run_ids(self.encode(text, where=where), where=where, progress=progress, rows=rows,
                              points=points, reduce=reduce)
        record.text = text
        return record

    def run_ids(self, ids: list[int], *, where: str = "TEXT", progress: Callable | None = None, rows=None,
                points=RECORD_POINTS, interventions=(), reduce=None):
        """Token ids through the model: a Record (source "model") whose layers hold the capture points
        (``progress(done_layers, layers)`` after each layer; ``rows``: the query rows kept, None for all;
        ``interventions``: attncli.core.points interventions applied during the forward; ``reduce``:
        capture's row reducer, every row handed over in chunks and no weights kept)."""
        from attncli.core.record import Record

        if reduce is not None:
            points = tuple(p for p in points if p not in ("scores", "pattern", "z"))
        n = self._check_ids(ids, where, rows=[] if reduce is not None else rows, points=points,
                            chunked=reduce is not None)
        if self.structure.probed is False and "attn_sublayer" in points:
            self._probe_once(where)
        names = tuple(p for p in points if p != "attn_sublayer" or None not in self.structure.sublayer)
        try:
            with self.hooks(capture=names, rows=rows, progress=progress, interventions=interventions,
                            reduce=reduce) as cache:
                out = self.forward(ids, backbone=True)
        except (RuntimeError, MemoryError) as exc:
            raise allocation_error(exc, f"the forward pass of {n:,} tokens", where=where) or AttnError(
                f"the model failed: {str(exc).splitlines()[0]}", kind="model", code=ExitCode.FAILURE) from None
        count = len(self.structure.blocks)
        seen = (lambda i: i in reduce.seen) if reduce is not None else (lambda i: "pattern" in cache.get(i, {}))
        if not all(seen(i) for i in range(count)):
            raise AttnError("the model's attention did not go through transformers' attention interface",
                            where=f"{option('model')} {self.name}", kind="model",
                            hint="its architecture is not supported by attncli's capture points")
        notes = [] if "attn_sublayer" in names else ["attention sublayers not found: context is each layer's output"]
        if self.seq2seq:
            notes.append(f"{self.name} is an encoder-decoder model: this is its encoder's self-attention "
                         "(attncli generate shows the decoder's)")
        layers = []
        for i in range(count):
            point = cache.get(i, {})
            hidden = point.get("resid_post")
            if i == count - 1 and hidden is not None:  # as output_hidden_states: after a decoder's final norm
                hidden = out.last_hidden_state[0]
            layers.append(Layer(
                index=i, inputs=point.get("resid_pre"), weights=point.get("pattern"), scores=point.get("scores"),
                output=point.get("attn_sublayer", hidden), head_context=point.get("z"),
                queries=point.get("q"), keys=point.get("k"), values=point.get("v"), projected=point.get("attn_out"),
                hidden=hidden))
        for layer in layers:
            for t in (layer.weights, layer.output):
                if t is not None and not bool(self.torch.isfinite(t).all()):
                    raise AttnError(f"non-finite values in the model's output ({self.dtype_name})", kind="numeric",
                                    code=ExitCode.FAILURE, hint=nonfinite_hint(self.model, self.dtype_name))
        tokenizer = self.tokenizer
        special_ids = set(tokenizer.all_special_ids)
        tokens = tokenizer.convert_ids_to_tokens(ids)
        info = self.info
        return Record(source="model", tokens=list(tokens), texts=[tokenizer.decode([i]) for i in ids],
                      oov=[False] * n, special=[i in special_ids for i in ids], embeddings=layers[0].inputs,
                      layers=layers, heads=int(info["heads"]), causal=bool(self.causal), config=self.describe(),
                      rows=None if rows is None else list(rows), kv_heads=int(info["kv_heads"]), name=self.name,
                      warnings=notes, ids=list(ids), rotary=self._rotary())

    def _rotary(self) -> bool | str:
        rope = getattr(self.model.config, "rope_parameters", None) or {}
        if not rope and getattr(self.model.config, "rope_theta", None) is None:
            return False
        part = rope.get("partial_rotary_factor") if isinstance(rope, dict) else None
        return f"{part:g} of its dimensions" if part not in (None, 1, 1.0) else True

    def _probe_once(self, where: str) -> None:
        try:
            self.structure.probe(self.model, self._probe)
        except RuntimeError as exc:
            raise AttnError(f"the model failed: {str(exc).splitlines()[0]}", where=where, kind="model",
                            code=ExitCode.FAILURE) from None

    def _check_ids(self, ids: list[int], where: str, *, rows, points, chunked: bool = False) -> int:
        n = len(ids)
        if n == 0:
            raise AttnError("no tokens", where=where, kind="text")
        if self.max_tokens and n > self.max_tokens:
            raise AttnError(f"{n} tokens is more than {self.name} takes ({self.max_tokens})", where=where,
                            hint="shorten the text", kind="text")
        info = self.info
        element = self.torch.empty((), dtype=self.dtype).element_size()
        per_row = sum(p in points for p in ("pattern", "scores"))
        r = n if rows is None else len(rows)
        need_mb = per_row * info["layers"] * info["heads"] * r * n * element / 2**20  # every layer's (H, R, N)
        if need_mb > self.max_attention_mb:
            raise AttnError(f"{n:,} tokens x {info['layers']} layers x {info['heads']} heads need {need_mb:,.0f} MiB "
                            f"of attention weights and scores; the limit is {self.max_attention_mb:,.0f} MiB",
                            where=where, kind="budget",
                            hint=f"use a smaller {option('length')}" if where == option("length") else "shorten the text")
        check_activations(info, n, element, where, rows=None if rows is None and not chunked else r,
                          kept=points)
        vocabulary = int(getattr(self.model.config, "vocab_size", 0) or 0)
        if vocabulary and any(not 0 <= i < vocabulary for i in ids):
            raise AttnError("a token id is outside the model's vocabulary", where=where, kind="text")
        return n


def _load_model(transformers, path: str, decoder: bool):
    """The causal-LM class for a decoder (its logits), else the base model; SDPA attention by default."""
    if decoder:
        try:
            return transformers.AutoModelForCausalLM.from_pretrained(
                path, local_files_only=True, attn_implementation="sdpa", trust_remote_code=False)
        except ValueError as exc:  # a decoder family without a causal-LM class: the base model
            if "Unrecognized configuration class" not in str(exc):
                raise
    return transformers.AutoModel.from_pretrained(path, local_files_only=True, attn_implementation="sdpa",
                                                  trust_remote_code=False)
