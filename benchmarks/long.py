"""Target 4: long sequences on the CPU.

A 16,384-token input (`--file long.txt --join`), 8 heads of width 64 (random projections,
d_k = d_v = 512). Naive attention would hold 8 x 16,384 x 16,384 float32 weights: 8 GiB.

* `--focus 100 --json`: peak memory under 1 GB.
* `--top-k 5 --json`: every token's context vector and each query's 5 most-attended keys, peak
  memory under 1.5 GB, wall time within 3x of one scaled_dot_product_attention call plus one
  json.dumps of the same context vectors (the floor, measured in the same run).

    python benchmarks/long.py [--tokens 16384] [--device cpu] [--dtype float32]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import textwrap

from _timing import attncli, machine, peak_rss_mb

FLOOR = textwrap.dedent('''
    import json, sys, time, warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch
    import torch.nn.functional as F
    n, device, dtype = int(sys.argv[1]), sys.argv[2], getattr(torch, sys.argv[3])
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.rand(1, 8, n, 64, generator=g).to(device=device, dtype=dtype) for _ in range(3))
    start = time.perf_counter()
    context = F.scaled_dot_product_attention(q, k, v)          # (1, 8, N, 64)
    context = context[0].transpose(0, 1).reshape(n, 512)     # (N, 512)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    middle = time.perf_counter()
    text = json.dumps(context.float().cpu().tolist())
    sys.stderr.write(f"sdpa {middle - start:.3f} s, json {time.perf_counter() - middle:.3f} s, {len(text) / 1e6:.0f} MB\\n")
''')

CONFIG = textwrap.dedent('''
    description: 8 heads of width 64 over the toy vocabulary (benchmark)
    attention:
      heads: 8
      projections: random
      seed: 0
      d_k: 512
''')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=16_384)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    print(f"machine: {machine()}; {args.tokens:,} tokens, 8 heads x 64, {args.dtype} on {args.device}")
    from attncli.core.vocabulary import TOY_VOCABULARY

    rng = random.Random(0)
    words = list(TOY_VOCABULARY)
    with tempfile.TemporaryDirectory() as folder:
        text_path = os.path.join(folder, "long.txt")
        with open(text_path, "w") as handle:
            for start in range(0, args.tokens, 16):
                handle.write(" ".join(rng.choice(words) for _ in range(min(16, args.tokens - start))) + "\n")
        config = os.path.join(folder, "long.yaml")
        with open(config, "w") as handle:
            handle.write(CONFIG)
        floor = os.path.join(folder, "floor.py")
        with open(floor, "w") as handle:
            handle.write(FLOOR)
        common = attncli() + ["run", "--file", text_path, "--join", "-c", config, "--device", args.device,
                              "--dtype", args.dtype, "--json"]
        out = os.path.join(folder, "out.json")

        floor_mb, floor_s = peak_rss_mb([sys.executable, floor, str(args.tokens), args.device, args.dtype])
        with open(out, "w") as sink:
            focus_mb, focus_s = peak_rss_mb(common + ["--focus", "100"], stdout=sink)
        focus_size = os.path.getsize(out) / 1e6
        with open(out, "w") as sink:
            top_mb, top_s = peak_rss_mb(common + ["--top-k", "5"], stdout=sink)
        top_size = os.path.getsize(out) / 1e6

    print(f"\n  floor: one SDPA call + json.dumps of the context   {floor_s:7.2f} s  {floor_mb:7.0f} MiB peak")
    print(f"  attncli --focus 100 --json                       {focus_s:7.2f} s  {focus_mb:7.0f} MiB peak"
          f"  ({focus_size:.1f} MB of JSON)")
    print(f"  attncli --top-k 5 --json                         {top_s:7.2f} s  {top_mb:7.0f} MiB peak"
          f"  ({top_size:.0f} MB of JSON)")
    ok = focus_mb < 1000
    print(f"\n  --focus peak memory {focus_mb:.0f} MiB (target < 1000) {'PASS' if ok else 'FAIL'}")
    ok = top_mb < 1500
    print(f"  --top-k peak memory {top_mb:.0f} MiB (target < 1500) {'PASS' if ok else 'FAIL'}")
    ratio = top_s / floor_s
    print(f"  --top-k wall / floor: {ratio:.2f}x (target <= 3x) {'PASS' if ratio <= 3 else 'FAIL'}")


if __name__ == "__main__":
    main()
