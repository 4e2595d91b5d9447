"""Floating point precisions by name: one table for every option and config key.

``--dtype`` (toy runs, ``--model`` runs, ``bench``) and the config's ``dtype:`` all go
through :func:`canonical_dtype`, so an alias such as ``fp16`` or ``half`` means the same
thing everywhere. This module imports no torch: turning a canonical name into a
``torch.dtype`` is ``getattr(torch, name)``.
"""

from __future__ import annotations

import difflib

from attncli.errors import AttnError

#: The canonical names, in the order messages list them.
DTYPES = ("float32", "float64", "float16", "bfloat16")

#: Accepted spellings (lower-case, after trimming) -> canonical name.
DTYPE_ALIASES = {
    "fp32": "float32", "float": "float32", "f32": "float32", "single": "float32", "torch.float32": "float32",
    "fp64": "float64", "double": "float64", "f64": "float64", "torch.float64": "float64",
    "fp16": "float16", "half": "float16", "f16": "float16", "torch.float16": "float16",
    "bf16": "bfloat16", "bfloat": "bfloat16", "torch.bfloat16": "bfloat16",
}

#: Bytes per element of each canonical dtype.
ELEMENT_SIZE = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2}

#: Largest finite value of each canonical dtype.
FINITE_MAX = {"float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308,
              "float16": 65504.0, "bfloat16": 3.3895313892515355e38}


def lookup_dtype(name: object) -> str | None:
    """The canonical name for ``name`` (any accepted spelling), or None."""
    if not isinstance(name, str):
        return None
    key = name.strip().lower()
    key = DTYPE_ALIASES.get(key, key)
    return key if key in DTYPES else None


def unknown_dtype_message(name: object) -> tuple[str, str | None]:
    """The message and hint for a name that is not a dtype (shared by options and config keys)."""
    if not isinstance(name, str):
        return f"expected one of {', '.join(DTYPES)}; got {type(name).__name__} ({name!r})", None
    key = name.strip().lower()
    close = difflib.get_close_matches(key, DTYPES, n=1) or difflib.get_close_matches(key, tuple(DTYPE_ALIASES), n=1)
    hint = f"did you mean {DTYPE_ALIASES.get(close[0], close[0])!r}?" if close else None
    return f"unknown value {name!r}; expected one of {', '.join(DTYPES)}", hint


def canonical_dtype(name: str, where: str | None = None, *, kind: str = "input") -> str:
    """``name`` as one of :data:`DTYPES`, or an AttnError (exit 2) naming ``where``.

    >>> canonical_dtype("fp16")
    'float16'
    """
    found = lookup_dtype(name)
    if found is None:
        message, hint = unknown_dtype_message(name)
        raise AttnError(message, where=where, param="dtype", hint=hint, kind=kind)
    return found
