"""Tensors into JSON: exact numbers, written as short as they can be, streamed a block at a time.

Numbers: every value is written as the shortest decimal that reads back to the same value in the
run's dtype (a float32 0.1 is written ``0.1``, not ``0.10000000149011612``); with ``-p P`` they
are rounded to P decimals instead. There are never NaN or Infinity literals: masked (-inf)
scores become ``null``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: A lone surrogate: how Python spells a file-name byte that is not UTF-8 (b"\xff" is "\udcff").
_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(obj: Any, **options) -> str:
    """``json.dumps`` that keeps UTF-8 text as it is and writes lone surrogates as ``\\udcff``.

    The JSON stays valid UTF-8, and ``json.loads`` then ``os.fsencode`` give back the exact bytes.
    """
    text = json.dumps(obj, ensure_ascii=False, **options)
    return text if _SURROGATE.search(text) is None else _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)

#: Significant digits that always round-trip, per dtype (float32: 9, float16: 5, bfloat16: 4).
_DIGITS = {"float32": 9, "float16": 5, "bfloat16": 4}


def shortest(tensor):
    """A float tensor -> float64 values whose Python repr is the shortest that reads back exactly.

    For each element, the fewest significant digits p whose rounding, cast back to the tensor's
    dtype, equals the element (found by bisection: if p digits read back, so do p + 1). float64
    is already written that way by Python's repr.

    The search runs on one thread: its elementwise operations are bound by memory, not by
    arithmetic, and torch's spinning worker threads made it three times slower on a machine whose
    cores were busy with other work (measured: 4.6 s against 1.6 s for 3.1M float32 values).
    """
    import torch

    name = str(tensor.dtype).replace("torch.", "")
    if name not in _DIGITS:
        return tensor
    threads = torch.get_num_threads()
    if threads == 1 or tensor.device.type != "cpu":
        return _shortest(tensor, name)
    torch.set_num_threads(1)
    try:
        return _shortest(tensor, name)
    finally:
        torch.set_num_threads(threads)


def _shortest(tensor, name: str):
    import torch

    x = tensor.double()  # exact
    live = torch.isfinite(x) & (x != 0)  # zeros and non-finite values are written as they are
    if not bool(live.all()):
        x = torch.where(live, x, torch.ones_like(x))
    exponent = torch.log10(x.abs()).floor_().long()  # the decimal exponent of each element
    powers = _powers(x.device)  # 10^k for k in 0..308
    low = torch.ones_like(exponent)  # the answer is > low - 1 digits ...
    high = torch.full_like(exponent, _DIGITS[name])  # ... and <= high digits
    best = x
    while True:
        todo = low < high
        if not bool(todo.any()):
            break
        digits = (low + high) // 2
        candidate = _rounded(x, digits - 1 - exponent, powers)
        ok = candidate.to(tensor.dtype) == tensor
        high = torch.where(todo & ok, digits, high)
        low = torch.where(todo & ~ok, digits + 1, low)
    best = _rounded(x, high - 1 - exponent, powers)
    best = torch.where(best.to(tensor.dtype) == tensor, best, x)  # exact value if ever needed
    if not bool(live.all()):
        best = torch.where(live, best, tensor.double())
    return best


_POWERS: dict = {}


def _powers(device):
    import torch

    if device not in _POWERS:
        _POWERS[device] = torch.tensor([10.0 ** k for k in range(0, 309)], dtype=torch.float64, device=device)
    return _POWERS[device]


def _rounded(x, k, powers):
    """x rounded to k decimals (k may be negative), as the float64 nearest that decimal.

    Dividing (or multiplying) an integer by an exact power of ten (10^k, |k| <= 22) is one correctly
    rounded operation, so the result is the float64 nearest the decimal and its repr is that decimal.
    """
    import torch

    scale = powers[k.abs().clamp(max=308)]  # (...)
    if bool((k >= 0).all()):  # the common case (|x| < 10^digits): no branch per element
        return torch.round(x * scale) / scale
    up = k >= 0
    scaled = torch.where(up, x * scale, x / scale)
    return torch.where(up, torch.round(scaled) / scale, torch.round(scaled) * scale)


def to_list(tensor, precision: int | None = None) -> list:
    """A tensor as nested Python numbers, shortest exact decimals (or rounded to ``precision``)."""
    if tensor.device.type != "cpu":
        tensor = tensor.cpu()
    if tensor.is_floating_point():
        if precision is None:
            return shortest(tensor).tolist()
        return _round(tensor.tolist(), precision)
    return tensor.tolist()


class LazyArray:
    """A tensor that turns into JSON only when it is written, a block of rows at a time.

    Long inputs produce arrays of millions of numbers; writing them this way never holds the
    whole array as Python lists, nor the whole document as one string.
    """

    #: Numbers converted per block while streaming (large blocks: few, large tensor operations).
    BLOCK = 1 << 20

    def __init__(self, tensor, precision: int | None = None, masked: bool = False) -> None:
        self.tensor = tensor
        self.precision = precision
        self.masked = masked
        #: Set when the same array appears twice in a document (--layer all's last layer): the text
        #: of the first write is kept and written again, instead of converting the numbers twice.
        self.shared = False
        self._text: list[str] | None = None

    def _convert(self, tensor):
        values = to_list(tensor, self.precision)
        return _masked_to_null(values) if self.masked else values

    def tolist(self) -> list:
        return self._convert(self.tensor)

    def write(self, write) -> None:
        if self._text is not None:
            for part in self._text:
                write(part)
            return
        if self.shared:
            self._text = []
            keep = self._text.append

            def tee(text: str) -> None:
                keep(text)
                write(text)

            self._write(tee)
            return
        self._write(write)

    def _write(self, write) -> None:
        t = self.tensor
        if t.dim() <= 1 or t.numel() <= self.BLOCK:
            write(json.dumps(self.tolist(), allow_nan=False))
            return
        rows = max(1, self.BLOCK // max(1, t[0].numel()))
        write("[")
        for start in range(0, t.shape[0], rows):
            text = json.dumps(self._convert(t[start:start + rows]), allow_nan=False)
            write(("," if start else "") + text[1:-1])
        write("]")


def materialize(doc: Any) -> Any:
    """A document with every LazyArray turned into nested lists (for the views)."""
    if isinstance(doc, LazyArray):
        return doc.tolist()
    if isinstance(doc, dict):
        return {key: materialize(value) for key, value in doc.items()}
    if isinstance(doc, list):
        return [materialize(value) for value in doc]
    return doc


def stream_json(doc: Any, write) -> None:
    """Write a document made of dicts, lists, scalars and LazyArrays as one line of JSON."""
    if isinstance(doc, LazyArray):
        doc.write(write)
    elif isinstance(doc, dict):
        write("{")
        for i, (key, value) in enumerate(doc.items()):
            write(("," if i else "") + _text(key) + ":")
            stream_json(value, write)
        write("}")
    elif isinstance(doc, list) and any(isinstance(v, (LazyArray, dict, list)) for v in doc):
        write("[")
        for i, value in enumerate(doc):
            if i:
                write(",")
            stream_json(value, write)
        write("]")
    else:
        write(_text(doc, allow_nan=False))


def dumps(doc: Any) -> str:
    """A document without LazyArrays on one line (pipe it to ``jq`` to read it); refuses NaN and Infinity."""
    return _text(doc, allow_nan=False)


def _round(values, precision: int):
    if isinstance(values, list):
        return [_round(v, precision) for v in values]
    if values is None or not math.isfinite(values):
        return values
    return round(values, precision)


def _masked_to_null(values):
    if isinstance(values, list):
        return [_masked_to_null(v) for v in values]
    return None if values == float("-inf") else values
