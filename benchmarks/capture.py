"""Issue 22: the cost of the capture points (attncli.models.capture) on SmolLM2.

1. ``attncli.load_model("smollm2").run(text)`` on a 20-token text, ``--calls`` calls in one process,
   each followed by a plain transformers forward of the same loaded weights on the same ids with eager
   attention and ``output_attentions=True, output_hidden_states=True`` (calls interleaved one by one).
   Printed: the median of each, the median of the per-call ratios and its 90th percentile, and how
   many calls were within the target. Target: each call within 1.2x (the median ratio).
2. A 2,000-token SmolLM2 forward capturing only the last query row (``rows=[N - 1]``: q, k,
   scores, pattern, z of every layer) against a plain SDPA forward. Printed: the ratio.

    python benchmarks/capture.py [--calls 100] [--tokens 2000] [--repeat 5] [--only 1|2] [--threads T]
                                 [--progress]
"""

from __future__ import annotations

import argparse
import statistics
import time

from _timing import machine, verdict

TEXT = "The quick brown fox jumps over the lazy dog while the cat sat on the warm mat by"


def interleaved(runs: dict, repeat: int) -> dict[str, float]:
    """The median seconds of each callable, calls interleaved so that machine noise hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():  # warm-up
        run()
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def paired(first, second, calls: int, progress: bool = False) -> tuple[list[float], list[float]]:
    """Seconds of ``calls`` calls of each, alternating (one warm-up call each first)."""
    first(), second()
    a, b = [], []
    for i in range(calls):
        for run, out in ((first, a), (second, b)):
            start = time.perf_counter()
            run()
            out.append(time.perf_counter() - start)
        if progress:
            print(f"  call {i + 1}: {a[-1] * 1000:.1f} ms, {b[-1] * 1000:.1f} ms, {a[-1] / b[-1]:.2f}x", flush=True)
    return a, b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", choices=("1", "2"))
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--progress", action="store_true", help="print every call pair as it ends")
    args = parser.parse_args()

    import torch

    import attncli
    from attncli.models import capture

    torch.set_num_threads(args.threads or max(1, torch.get_num_threads()))
    print(f"machine: {machine()}, torch threads {torch.get_num_threads()}")
    model = attncli.load_model("smollm2")
    t = model.engine.transformer
    ids = t.encode(TEXT)
    input_ids = torch.tensor([ids])
    if args.only == "2":
        return part_2(t, args)
    print(f"1. {len(ids)} tokens, {args.calls} calls each, interleaved one by one")

    def ours():
        model.run(TEXT)

    def plain():
        with torch.no_grad():
            t.model(input_ids=input_ids, output_attentions=True, output_hidden_states=True, use_cache=False)

    def eager(run):
        def wrapped():
            before = capture._implementation(t.model.config)
            capture._set_implementation(t.model, "eager")
            try:
                run()
            finally:
                capture._set_implementation(t.model, before)
        return wrapped

    a, b = paired(ours, eager(plain), args.calls, args.progress)
    ratios = sorted(x / y for x, y in zip(a, b))
    ratio = statistics.median(ratios)
    p90 = ratios[min(len(ratios) - 1, int(0.9 * len(ratios)))]
    within = sum(r <= 1.2 for r in ratios)
    print(f"  attncli.load_model('smollm2').run: median {statistics.median(a) * 1000:.1f} ms/call; transformers "
          f"eager output_attentions: median {statistics.median(b) * 1000:.1f} ms/call")
    print(f"  per-call ratio: median {ratio:.2f}x, 90th percentile {p90:.2f}x, {within} of {args.calls} calls "
          f"within 1.2x; ratio of medians {statistics.median(a) / statistics.median(b):.2f}x  "
          f"{verdict(ratio, 1.2)} (target 1.2x)")
    if args.only is None:
        part_2(t, args)


def part_2(t, args) -> None:
    import torch

    from attncli.models import capture

    n = args.tokens
    long_ids = torch.randint(100, 40000, (1, n))
    print(f"2. {n} tokens, one forward each, median of {args.repeat}")

    def last_row():
        with t.hooks(capture=("q", "k", "scores", "pattern", "z"), rows=[n - 1]) as cache:
            t.forward(long_ids, backbone=True)
        assert cache[29]["pattern"].shape == (9, 1, n)

    def sdpa():
        t.forward(long_ids, backbone=True)

    times = interleaved({"last row": last_row, "sdpa": sdpa}, args.repeat)
    ratio = times["last row"] / times["sdpa"]
    print(f"  capture the last row: {times['last row']:.3f} s; plain SDPA forward: {times['sdpa']:.3f} s")
    print(f"  ratio: {ratio:.2f}x")


if __name__ == "__main__":
    main()
