"""``Transformer``: a local model loaded once, and its forward pass with every layer's attention.

Decoders and encoders alike: the causal flag, grouped-query attention (which key/value head each
query head shares), the BOS token (``bos``: None keeps what the tokenizer does, True/False forces
it), special-token flags and each token's decoded text.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

from attncli.errors import AttnError, ExitCode
from attncli.models.load import (
    PACKAGED, ModelRun, _attention_modules, _heads_module, _layer_modules, _transformers, check_folder, is_causal,
    load_error, resolve,
)
from attncli.models.memory import allocation_error, check_activations, nonfinite_hint


#: Every layer's attention weights of one forward pass are held at once: refuse texts that need more.
MAX_ATTENTION_MB = 4096.0


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
        self.model.eval()
        self.model.to(device=device, dtype=dtype)
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
        self.modules = _attention_modules(self.model)
        self.layer_modules = _layer_modules(self.model)
        self.causal = is_causal(config)
        self.info = self._info(config)

    def _load(self, transformers, spec: str) -> None:
        where = f"--model {spec}"
        check_folder(Path(self.path), where, transformers, checked=spec not in PACKAGED)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                    str(self.path), local_files_only=True, trust_remote_code=False)
                self.model = transformers.AutoModel.from_pretrained(
                    str(self.path), local_files_only=True, attn_implementation="eager", trust_remote_code=False)
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
                raise AttnError(f"{self.name}'s tokenizer has no BOS token", where="--bos")
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

    def run(self, text: str, *, where: str = "TEXT", progress: Callable | None = None) -> ModelRun:
        return self.run_ids(self.encode(text, where=where), where=where, progress=progress)

    def run_ids(self, ids: list[int], *, where: str = "TEXT", progress: Callable | None = None) -> ModelRun:
        """Token ids through the model; ``progress(done_layers, layers)`` after each layer."""
        torch = self.torch
        n = len(ids)
        if n == 0:
            raise AttnError("no tokens", where=where, kind="text")
        if self.max_tokens and n > self.max_tokens:
            raise AttnError(f"{n} tokens is more than {self.name} takes ({self.max_tokens})", where=where,
                            hint="shorten the text", kind="text")
        info = self.info
        element = self.torch.empty((), dtype=self.dtype).element_size()
        need_mb = info["layers"] * info["heads"] * n * n * element / 2**20  # every layer's (H, N, N)
        if need_mb > self.max_attention_mb:
            raise AttnError(f"{n:,} tokens x {info['layers']} layers x {info['heads']} heads need {need_mb:,.0f} MiB "
                            f"of attention weights; the limit is {self.max_attention_mb:,.0f} MiB", where=where,
                            kind="budget", hint="use a smaller --length" if where == "--length" else "shorten the text")
        check_activations(info, n, element, where)
        vocabulary = int(getattr(self.model.config, "vocab_size", 0) or 0)
        if vocabulary and any(not 0 <= i < vocabulary for i in ids):
            raise AttnError("a token id is outside the model's vocabulary", where=where, kind="text")
        captured: dict[int, object] = {}
        heads_captured: dict[int, object] = {}
        hooks = []
        for index, module in enumerate(self.modules or []):
            def keep(_module, _inputs, output, index=index):
                captured[index] = output[0] if isinstance(output, tuple) else output
            hooks.append(module.register_forward_hook(keep))
            inner, when = _heads_module(module)
            if when == "post":
                hooks.append(inner.register_forward_hook(
                    lambda _m, _i, output, index=index: heads_captured.__setitem__(
                        index, output[0] if isinstance(output, tuple) else output)))
            elif when == "pre":
                hooks.append(inner.register_forward_pre_hook(
                    lambda _m, inputs, index=index: heads_captured.__setitem__(index, inputs[0])))
        if progress is not None and self.layer_modules:
            total = len(self.layer_modules)
            for index, layer in enumerate(self.layer_modules):
                hooks.append(layer.register_forward_hook(
                    lambda *_args, done=index + 1: progress(done, total)))
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.device)  # (1, N)
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = self.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                 output_attentions=True, output_hidden_states=True)
        except (RuntimeError, MemoryError) as exc:
            raise allocation_error(exc, f"the forward pass of {n:,} tokens", where=where) or AttnError(
                f"the model failed: {str(exc).splitlines()[0]}", kind="model", code=ExitCode.FAILURE) from None
        finally:
            for h in hooks:
                h.remove()
        if not out.attentions or out.attentions[0] is None:
            raise AttnError("the model returned no attentions", where=f"--model {self.name}", kind="model",
                            hint="its architecture may not support output_attentions")
        attentions = [a[0] for a in out.attentions]  # L x (H, N, N)
        hidden = [h[0] for h in out.hidden_states]  # (L + 1) x (N, d)
        notes = []
        if len(captured) == len(attentions):
            outputs = [captured[i][0] for i in range(len(attentions))]  # L x (N, d)
        else:
            outputs = hidden[1:]
            notes.append("attention sublayers not found: context is each layer's output")
        for t in attentions + outputs:
            if not bool(torch.isfinite(t).all()):
                raise AttnError(f"non-finite values in the model's output ({self.dtype_name})", kind="numeric",
                                code=ExitCode.FAILURE, hint=nonfinite_hint(self.model, self.dtype_name))
        head_outputs = None
        heads = int(attentions[0].shape[0])
        if len(heads_captured) == len(attentions):
            head_outputs = []
            for i in range(len(attentions)):
                concat = heads_captured[i][0]  # (N, H*dh)
                head_outputs.append(concat.reshape(concat.shape[0], heads, -1).transpose(0, 1))  # (H, N, dh)
        tokenizer = self.tokenizer
        special_ids = set(tokenizer.all_special_ids)
        return ModelRun(name=self.name, architecture=self.architecture,
                        tokens=tokenizer.convert_ids_to_tokens(ids), special=[i in special_ids for i in ids],
                        attentions=attentions, attention_outputs=outputs, head_outputs=head_outputs,
                        hidden_states=hidden, device=self.device_name, dtype=self.dtype_name, notes=notes,
                        texts=[tokenizer.decode([i]) for i in ids], causal=self.causal, ids=list(ids))
