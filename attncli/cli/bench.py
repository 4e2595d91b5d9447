"""attncli bench: time naive attention against scaled_dot_product_attention on this machine."""

from __future__ import annotations

from typing import Annotated

import typer

from attncli.cli.options import OutputOptions, finite, output_options
from attncli.cli.boundary import guarded

app = typer.Typer()

#: Default work limit of one bench (``--max-tflop``): the attention arithmetic of every call. The
#: default lengths are 0.27 TFLOP, 256 to 16,384 are 4.7; a CPU does roughly 0.03 to 0.3 TFLOP/s.
DEFAULT_MAX_TFLOP = 5.0

#: Default limit on the calls one bench makes (``--max-calls``): lengths x 2 methods x (repeat + 1 warm-up).
DEFAULT_MAX_CALLS = 10_000


@app.command("bench")
@output_options
def bench(
    lengths: Annotated[str, typer.Option("--lengths", metavar="N,N,...",
                                         help="Sequence lengths to time.")] = "256,1024,4096",
    heads: Annotated[int, typer.Option("--heads", help="Attention heads.")] = 8,
    width: Annotated[int, typer.Option("--width", help="Per-head width (d_k = d_v).")] = 64,
    batch: Annotated[int, typer.Option("--batch", help="Sequences per call.")] = 1,
    device: Annotated[str, typer.Option("--device", metavar="DEVICE",
                                        help="auto, cpu, cuda, cuda:N or mps.")] = "cpu",
    dtype: Annotated[str, typer.Option("--dtype", metavar="DTYPE",
                                       help="float32, float64, float16 or bfloat16.")] = "float32",
    repeat: Annotated[int, typer.Option("--repeat", help="Timed calls per measurement (the median is kept).")] = 3,
    memory_mb: Annotated[float, typer.Option(
        "--memory-mb", metavar="MB", show_default=False,
        help="Memory the benchmark may use (default: 80% of what is free).")] = 0.0,
    max_tflop: Annotated[float, typer.Option(
        "--max-tflop", metavar="TFLOP",
        help="Work limit: the attention arithmetic of all calls together (docs/limits.md).")] = DEFAULT_MAX_TFLOP,
    max_calls: Annotated[int, typer.Option(
        "--max-calls", metavar="N",
        help="The most timed and warm-up calls: lengths x 2 x (repeat + 1).")] = DEFAULT_MAX_CALLS,
    *,
    out: OutputOptions,
) -> None:
    """Show what attention costs here: naive (the full N x N matrix) against PyTorch's fused SDPA.

    Prints time, peak memory, TFLOP/s and the speed-up per length. Lengths whose naive
    attention would not fit in memory are reported as such, not run.

    Example:

      attncli bench --lengths 256,1024,4096,16384 --heads 8 --width 64
    """
    guarded(out, lambda env: _bench(env, lengths, heads, width, batch, device, dtype, repeat, memory_mb,
                                    (max_tflop, max_calls), out))


def _parse_lengths(text: str) -> list[int]:
    from attncli.core.numbers import parse_int
    from attncli.errors import AttnError

    values = []
    for part in text.split(","):
        value = parse_int(part, "--lengths", what="positive whole numbers (ASCII digits 0-9) separated by commas")
        if value < 1:
            raise AttnError(f"expected positive whole numbers separated by commas, got {text!r}", where="--lengths")
        values.append(value)
    return values


def _check_limits(max_tflop, max_calls) -> None:
    from attncli.errors import AttnError

    finite(max_tflop, "--max-tflop", positive=True)
    if max_calls < 1:
        raise AttnError(f"must be at least 1, got {max_calls}", where="--max-calls")


def _check_cost(sizes, heads, width, batch, repeat, max_tflop, max_calls, *, element: int = 4,
                budget_mb: float = float("inf")) -> None:
    """Refuse, before anything is allocated, a bench past --max-tflop or --max-calls (methods that do
    not fit the memory budget are not run, so not counted)."""
    from attncli.core.bench import cost
    from attncli.errors import AttnError

    _check_limits(max_tflop, max_calls)
    total_calls = 2 * (repeat + 1) * len(sizes)
    if total_calls > max_calls:  # whatever fits: a huge --repeat is refused before the device is touched
        raise AttnError(f"this bench makes {total_calls:,} calls ({len(sizes):,} length(s) x 2 methods x "
                        f"{repeat + 1:,}); the limit is {max_calls:,}", where="--max-calls", kind="budget",
                        hint="use fewer --lengths or a smaller --repeat, or raise --max-calls")
    tflop, calls = cost(sizes, heads=heads, width=width, batch=batch, repeat=repeat, element=element,
                        budget_mb=budget_mb)
    if tflop > max_tflop:
        raise AttnError(f"this bench is {tflop:,.1f} TFLOP of attention ({calls:,} calls; the longest, N = "
                        f"{max(sizes):,}, is {tflop_of(max(sizes), heads, width, batch):,.2f} TFLOP a call); "
                        f"the limit is {max_tflop:g} TFLOP", where="--max-tflop", kind="budget",
                        hint="use shorter --lengths or a smaller --repeat, or raise --max-tflop")


def tflop_of(n: int, heads: int, width: int, batch: int) -> float:
    from attncli.core.attention import flops

    return flops(n, n, heads, width, width) * batch / 1e12


def _bench(env, lengths, heads, width, batch, device, dtype, repeat, memory_mb, limits, out: OutputOptions) -> None:
    from attncli.version import SCHEMA_VERSION, __version__
    from attncli.errors import AttnError, finite_option

    finite_option(memory_mb, "--memory-mb")  # nan/inf (also refused when the options are parsed)
    sizes = _parse_lengths(lengths)
    for name, value in (("--heads", heads), ("--width", width), ("--batch", batch), ("--repeat", repeat)):
        if value < 1:
            raise AttnError(f"must be at least 1, got {value}", where=name)
    finite(memory_mb, "--memory-mb")
    _check_limits(*limits)
    from attncli.core.devices import dtype_name

    dtype = dtype_name(dtype)

    from attncli.core import bench as core
    from attncli.core.devices import device_label, resolve_device, resolve_dtype

    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype)
    budget = memory_mb if memory_mb > 0 else 0.8 * core.available_mb(torch_device)
    element = torch_dtype.itemsize if hasattr(torch_dtype, "itemsize") else 4
    _check_cost(sizes, heads, width, batch, repeat, *limits, element=element, budget_mb=budget)
    rows = []
    err = env.err
    from rich.progress import Progress

    with Progress(console=err, transient=True, disable=not err.is_terminal, redirect_stdout=False,
                  redirect_stderr=False) as progress:
        task = progress.add_task("timing", total=len(sizes))
        for n in sizes:
            progress.update(task, description=f"N = {n:,}")
            rows += core.run_length(n, heads=heads, width=width, batch=batch, device=torch_device,
                                    dtype=torch_dtype, repeat=repeat, budget_mb=budget)
            progress.advance(task)
    results = []
    for n in sizes:
        naive = next(r for r in rows if r.length == n and r.method == "naive")
        sdpa = next(r for r in rows if r.length == n and r.method == "sdpa")
        speedup = naive.seconds / sdpa.seconds if naive.seconds and sdpa.seconds else None
        results.append({"length": n, "naive": _row(naive), "sdpa": _row(sdpa), "speedup": speedup})
    doc = {"schema": SCHEMA_VERSION, "version": __version__, "device": device_label(torch_device),
           "dtype": dtype, "heads": heads, "width": width, "batch": batch, "repeat": repeat,
           "memory_budget_mb": budget, "results": results}
    env.emit(doc, out, lambda doc, width: _view(doc))


def _row(row) -> dict:
    return {"seconds": row.seconds, "peak_mb": row.peak_mb, "peak_measured": row.measured_memory,
            "tflops": row.tflops, "status": row.status}


def _view(doc):
    from rich.text import Text

    from attncli.render.layout import Column, Lazy, block_table

    def size(mb):
        return f"{mb / 1024:,.1f} GiB" if mb >= 10_000 else f"{mb:,.0f} MiB"

    notes = []

    def cells(r, length, method):
        if r["status"] != "ok":
            notes.append(f"N = {length:,}: {method} attention {r['status']} (needs ~{size(r['peak_mb'])}, "
                         f"budget {size(doc['memory_budget_mb'])})")
            return [Text("-", style="yellow"), Text("-", style="yellow"), ""]
        memory = size(r["peak_mb"]) if r["peak_measured"] else "~" + size(r["peak_mb"])
        ms = r["seconds"] * 1000
        return [f"{ms:,.2f} ms" if ms < 100 else f"{ms:,.0f} ms", memory, f"{r['tflops']:.3f}"]

    rows = []
    for r in doc["results"]:
        speed = f"{r['speedup']:.1f}x" if r["speedup"] else ""
        rows.append((f"{r['length']:,}", [*cells(r["naive"], r["length"], "naive"),
                                           *cells(r["sdpa"], r["length"], "SDPA"), speed]))
    headers = ("naive", "memory", "TFLOP/s", "SDPA", "memory", "TFLOP/s", "speed-up")
    columns = [Column(h, max([len(str(cells[j])) for _, cells in rows] + [len(h)])) for j, h in enumerate(headers)]
    calls = "call" if doc["repeat"] == 1 else "calls"
    note = (f"{doc['heads']} heads x width {doc['width']}, batch {doc['batch']}, {doc['dtype']} on {doc['device']}; "
            f"median of {doc['repeat']} {calls}. Memory marked ~ is estimated from tensor sizes "
            "(measured only on CUDA).")
    # a table that never cuts a number: split into column blocks on a narrow terminal
    return Lazy(lambda paint, width, height: block_table("N", columns, rows, width) +
                [Text(n, style="yellow") for n in notes] + [Text(note, style="dim")])
