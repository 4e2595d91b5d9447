"""attncli: a command-line attention inspector, and the Python API under it.

    import attncli

    record = attncli.run("the cat sat on the mat", heads=2)   # a Record: tokens, layers, weights
    attncli.document(record)                                 # what `attncli run --json` prints
    model = attncli.load_model("minilm")                     # a real model, loaded once
    model.run("The cat sat on the mat")

Importing attncli loads no torch, Typer, Rich or Textual: each function imports what it needs.
"""

from attncli.api import (
    AttnError, Layer, Model, Record, compare, document, explain, generate, heads, heads_corpus,
    load_config, load_model, run,
)
from attncli.version import SCHEMA_VERSION, __version__  # noqa: F401  (attncli.__version__)

__all__ = ["AttnError", "Layer", "Model", "Record", "compare", "document", "explain", "generate", "heads",
           "heads_corpus", "load_config", "load_model", "run"]
