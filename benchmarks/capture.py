"""Issue 22: the cost of the capture points (attncli.models.capture) on SmolLM2.

1. ``ModelAttention("smollm2").run(text)`` on a 20-token text, ``--calls`` calls in one process,
   against a plain transformers forward of the same loaded weights on the same ids with eager
   attention and ``output_attentions=True, output_hidden_states=True``. Target: within 1.2x.
2. A 2,000-token SmolLM2 forward capturing only the last query row (``rows=[N - 1]``: q, k,
   scores, pattern, z of every layer) against a plain SDPA forward. Printed: the ratio.

    python benchmarks/capture.py [--calls 100] [--tokens 2000] [--repeat 5]
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import torch

    from attncli.models import capture
    from attncli.models.runs import ModelAttention

    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"machine: {machine()}, torch threads {torch.get_num_threads()}")
    runner = ModelAttention("smollm2")
    t = runner.transformer
    ids = t.encode(TEXT)
    print(f"1. {len(ids)} tokens, {args.calls} calls each, median of {args.repeat}")

    def ours():
        for _ in range(args.calls):
            runner.run(TEXT)

    def plain():
        input_ids = torch.tensor([ids])
        for _ in range(args.calls):
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

    times = interleaved({"attncli": ours, "transformers": eager(plain)}, args.repeat)
    ratio = times["attncli"] / times["transformers"]
    print(f"  ModelAttention.run: {times['attncli'] / args.calls * 1000:.1f} ms/call; transformers eager "
          f"output_attentions: {times['transformers'] / args.calls * 1000:.1f} ms/call")
    print(f"  ratio: {ratio:.2f}x  {verdict(ratio, 1.2)} (target 1.2x)")

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
