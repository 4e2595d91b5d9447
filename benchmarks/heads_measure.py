"""`heads --measure norm` against `heads --measure weights` on SmolLM2 (the 50-token probe, 101 tokens).

In-process, the model loaded once: attncli.core.head_scan.scan_model under each measure, alternated,
the best of --repeat runs each, and their ratio (no target: norm runs the model once, weights twice,
its scores' run and the sink table's norm run).

    python benchmarks/heads_measure.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

from _timing import machine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from attncli.core import head_scan
    from attncli.models.runs import ModelAttention

    runner = ModelAttention("smollm2")
    common = dict(text=None, where="--length", length=50, seed=0, only=None, top=5, precision=None)
    head_scan.scan_model(runner, **common)  # warm-up
    times: dict[str, list[float]] = {"weights": [], "norm": []}
    for _ in range(args.repeat):
        for measure in times:
            start = time.perf_counter()
            head_scan.scan_model(runner, measure=measure, **common)
            times[measure].append(time.perf_counter() - start)
    print(machine())
    for measure, values in times.items():
        print(f"{measure:8} best {min(values):.2f} s  all {' '.join(f'{v:.2f}' for v in values)}")
    print(f"norm / weights (best): {min(times['norm']) / min(times['weights']):.2f}x")


if __name__ == "__main__":
    main()
