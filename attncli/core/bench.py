"""What attention costs on this machine: naive attention (the seeds' way) against PyTorch's SDPA.

Naive attention materializes the (B, H, N, N) score matrix, takes its softmax and multiplies by
the values; ``scaled_dot_product_attention`` picks a fused kernel (flash or memory-efficient
attention where the device has one) that never holds the whole matrix.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

from attncli.core.attention import flops
from attncli.core.devices import import_torch


def memory_mb(n: int, *, heads: int, width: int, batch: int, element: int) -> dict[str, float]:
    """Estimated peak MiB of each method at length ``n``: Q, K, V and the output; naive adds (B, H, N, N)."""
    qkv_mb = 3 * batch * heads * n * width * element / 2**20
    out_mb = batch * heads * n * width * element / 2**20
    return {"naive": qkv_mb + batch * heads * n * n * (2 * element + 4) / 2**20 + out_mb, "sdpa": qkv_mb + out_mb}


def cost(lengths: list[int], *, heads: int, width: int, batch: int, repeat: int, element: int = 4,
         budget_mb: float = math.inf) -> tuple[float, int]:
    """(TFLOP, calls) of a bench before it runs: the warm-up and every repeat of each method that
    fits ``budget_mb`` (a method that does not fit is reported, not run)."""
    calls_per_method = repeat + 1
    tflop, calls = 0.0, 0
    for n in lengths:
        fitting = sum(mb <= budget_mb for mb in memory_mb(n, heads=heads, width=width, batch=batch,
                                                           element=element).values())
        tflop += fitting * calls_per_method * flops(n, n, heads, width, width) * batch / 1e12
        calls += fitting * calls_per_method
    return tflop, calls


@dataclass
class Row:
    length: int
    method: str  # "naive" | "sdpa"
    seconds: float | None  # median wall time of one call, None when skipped
    peak_mb: float | None  # measured on CUDA, estimated (tensor sizes) elsewhere
    tflops: float | None
    status: str  # "ok" | "does not fit" | "out of memory"
    measured_memory: bool


def available_mb(device) -> float:
    """Memory the benchmark may use: free GPU memory, or MemAvailable on Linux."""
    torch = import_torch()
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free / 2**20
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") / 2**20


def naive_attention(q, k, v):
    """The seeds' attention: full scores, softmax, weighted sum."""
    torch = import_torch()
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, N, N)
    weights = torch.softmax(scores.float(), dim=-1).to(q.dtype)  # (B, H, N, N)
    return weights @ v  # (B, H, N, dv)


def sdpa_attention(q, k, v):
    torch = import_torch()
    return torch.nn.functional.scaled_dot_product_attention(q, k, v)  # (B, H, N, dv)


def _sync(device) -> None:
    if device.type == "cuda":
        import_torch().cuda.synchronize(device)


def measure(fn, q, k, v, device, repeat: int) -> tuple[float, float | None]:
    """(median seconds, peak MiB measured on CUDA or None)."""
    torch = import_torch()
    fn(q, k, v)  # warm-up: kernels picked, memory pools filled
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(q, k, v)
        _sync(device)
        times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20 if device.type == "cuda" else None
    return statistics.median(times), peak


def run_length(n: int, *, heads: int, width: int, batch: int, device, dtype, repeat: int,
               budget_mb: float, methods=("naive", "sdpa")) -> list[Row]:
    torch = import_torch()
    element = torch.empty((), dtype=dtype).element_size()
    estimates = memory_mb(n, heads=heads, width=width, batch=batch, element=element)
    naive_mb, sdpa_mb = estimates["naive"], estimates["sdpa"]
    work = flops(n, n, heads, width, width) * batch
    g = torch.Generator(device="cpu").manual_seed(0)
    rows: list[Row] = []
    q = k = v = None
    for method in methods:
        estimate = naive_mb if method == "naive" else sdpa_mb
        if estimate > budget_mb:
            rows.append(Row(n, method, None, estimate, None, "does not fit", False))
            continue
        try:
            if q is None:
                q, k, v = (torch.rand(batch, heads, n, width, generator=g).to(device=device, dtype=dtype)
                           for _ in range(3))
            fn = naive_attention if method == "naive" else sdpa_attention
            seconds, peak = measure(fn, q, k, v, device, repeat)
            measured = peak is not None
            rows.append(Row(n, method, seconds, peak if measured else estimate, work / seconds / 1e12, "ok",
                            measured))
        except (RuntimeError, MemoryError) as exc:
            if "out of memory" not in str(exc).lower() and not isinstance(exc, MemoryError):
                raise
            if device.type == "cuda":
                torch.cuda.empty_cache()
            rows.append(Row(n, method, None, estimate, None, "out of memory", False))
    return rows
