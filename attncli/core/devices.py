"""Where and in what precision tensors live: ``--device`` and ``--dtype``, parsed once for every command.

torch is imported lazily (``import_torch``), so commands that need no tensors stay fast.
"""

from __future__ import annotations

import warnings

from attncli.core.dtypes import canonical_dtype
from attncli.errors import AttnError, option

def import_torch():
    """Import torch without its 'Failed to initialize NumPy' warning (numpy is not needed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch
    return torch


def dtype_name(name: str, where: str | None = None) -> str:
    """A dtype name or alias (fp16, half, bf16, double, ...) -> its canonical name."""
    return canonical_dtype(name, where)


def resolve_dtype(name: str, where: str | None = None):
    torch = import_torch()
    return getattr(torch, dtype_name(name, where))


def resolve_device(name: str, where: str | None = None):
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' | 'mps' -> torch.device, or a clear AttnError."""
    torch = import_torch()
    where = where or option("device")
    name = name.strip().lower()
    mps = getattr(torch.backends, "mps", None)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isascii() and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise AttnError(f"no usable CUDA GPU for device {name!r}", where=where, param="device", kind="device",
                            hint=f"this torch build or machine has no CUDA GPU; use {option('device')} cpu or auto")
        index = int(name.split(":", 1)[1]) if ":" in name else 0
        count = torch.cuda.device_count()
        if index >= count:
            raise AttnError(f"no CUDA device {index}: this machine has {count}", where=where, param="device", kind="device",
                            hint=f"use cuda:0 to cuda:{count - 1}" if count > 1 else "use cuda or cuda:0")
        return torch.device(f"cuda:{index}")
    if name == "mps":
        if mps is None or not mps.is_available():
            raise AttnError("Apple MPS is not available here", where=where, param="device", kind="device",
                            hint=f"use {option('device')} cpu or auto")
        return torch.device("mps")
    raise AttnError(f"unknown device {name!r}", where=where, param="device", kind="device",
                    hint="expected auto, cpu, cuda, cuda:N or mps")


def device_label(device) -> str:
    if device.type == "cuda":
        return f"cuda:{device.index or 0}"
    return device.type
