"""YAML -> validated Settings, with ``file:line:col`` in every error.

The package, one concept a module:

* :mod:`~attncli.config.files`: locating a config (a path or a bundled name), bounded reads;
* :mod:`~attncli.config.reader`: YAML with positions and guards (depth, aliases, tags);
* :mod:`~attncli.config.values` and :mod:`~attncli.config.validation`: typed values, then the whole
  document, every problem collected;
* :mod:`~attncli.config.derived`: the divisor's range and the tensor budget;
* :mod:`~attncli.config.settings`: the resulting :class:`Settings` and its :class:`AttentionSpec`.

Command-line options override the file; an error about an overridden value names the option
(``--heads``), not the key. Nothing here imports torch or Rich: ``config show`` and ``config
validate`` stay fast.
"""

from __future__ import annotations

import math
from typing import Any

from attncli.config.derived import (
    DEFAULT_BUDGET_MB, DIVISOR_MAX, DIVISOR_MIN, check_budget, check_divisor, check_text_budget, parameter_blocks,
    tensor_bytes,
)
from attncli.config.files import (
    MAX_CONFIG_BYTES, bundled_dir, bundled_names, decode_text, locate, read_document, read_limited,
)
from attncli.config.reader import MAX_CONFIG_NODES, MAX_DEPTH, PLAIN_TAGS, Document, Path_, check_depth, parse_yaml
from attncli.config.settings import AttentionSettings, AttentionSpec, Settings, TensorSpec
from attncli.config.validation import (
    ATTENTION_KEYS, DEVICE_PATTERN, MATRIX_KEYS, POSITIONAL_KINDS, PROJECTION_KINDS, TENSOR_KEYS, TOP_KEYS,
    Validator,
)
from attncli.core.dtypes import DTYPE_ALIASES, DTYPES, canonical_dtype
from attncli.errors import AttnError, option

__all__ = [
    "ATTENTION_KEYS", "DEFAULT_BUDGET_MB", "DEVICE_PATTERN", "DIVISOR_MAX", "DIVISOR_MIN", "DTYPES",
    "DTYPE_ALIASES", "MATRIX_KEYS", "MAX_CONFIG_BYTES", "MAX_CONFIG_NODES", "MAX_DEPTH", "PLAIN_TAGS",
    "POSITIONAL_KINDS", "PROJECTION_KINDS", "TENSOR_KEYS", "TOP_KEYS", "AttentionSettings", "AttentionSpec",
    "Document", "Path_", "Settings", "TensorSpec", "Validator", "bundled_dir", "bundled_names",
    "canonical_dtype", "check_budget", "check_depth", "check_divisor", "check_problems", "check_text_budget", "decode_text",
    "load_settings", "locate", "parameter_blocks", "parse_yaml", "read_document", "read_limited",
    "tensor_bytes",
]


def _set_path(data: dict, path: Path_, value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def _budget(budget_mb: float | None) -> float:
    """The tensor budget in MiB: ``--max-weights-mb`` when given (finite and positive), else the default."""
    if budget_mb is None:
        return DEFAULT_BUDGET_MB
    if isinstance(budget_mb, bool) or not isinstance(budget_mb, (int, float)) or not math.isfinite(budget_mb):
        raise AttnError(f"must be a finite number, got {budget_mb}", param="max_weights_mb")
    if budget_mb <= 0:
        raise AttnError(f"must be greater than 0, got {budget_mb:g}", param="max_weights_mb")
    return float(budget_mb)


def load_settings(
    name_or_path: str | None = None,
    overrides: dict[Path_, tuple[Any, str]] | None = None,
    budget_mb: float | None = None,
) -> Settings:
    """Read a config (or the defaults), apply command-line overrides, validate.

    ``overrides`` maps a key path to ``(value, option name[, parameter])``; the option name is
    what errors about that value mention. ``budget_mb`` is the tensor budget
    (``--max-weights-mb``; default :data:`DEFAULT_BUDGET_MB`).
    """
    budget = _budget(budget_mb)
    if name_or_path is None:
        doc, label, kind = Document({}, {}, None), None, "defaults"
    else:
        doc, label, kind = read_document(name_or_path)
    overrides = {k: v for k, v in (overrides or {}).items() if v[0] is not None}
    if overrides:
        if doc.data is None:
            doc.data = {}
        if isinstance(doc.data, dict):
            for path, (value, *_naming) in overrides.items():
                _set_path(doc.data, path, value)
    settings = Validator(doc, overrides, budget).settings()
    settings.source = label
    settings.source_kind = kind
    return settings


def check_problems(name_or_path: str, budget_mb: float | None = None,
                   where: str | None = None) -> tuple[Settings | None, list[str]]:
    """Every problem in a config, for ``config validate``: (settings or None, lines).

    ``where`` names the argument the config came from (``PATH`` for config validate).
    """
    try:
        doc, label, kind = read_document(name_or_path)
    except AttnError as exc:
        given = option("config")
        if where is not None and exc.where and exc.where.startswith(given):
            exc.where = where + exc.where[len(given):]
        return None, [exc.line()]
    validator = Validator(doc, budget_mb=_budget(budget_mb))
    try:
        settings = validator.settings()
    except AttnError:
        return None, [p.line() for p in validator.problems]
    settings.source, settings.source_kind = label, kind
    return settings, []
