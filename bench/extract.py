"""Teacher attention-target extraction vs a plain no-grad forward with efficient attention (SDPA).

    python bench/extract.py --shape mini
    python bench/extract.py --shape llama3-8b --layers 2 --seq 512     # scaled-down paper shape on CPU
    python bench/extract.py --shape qwen2.5-32b --batch 8 --seq 1024   # on a GPU (bf16)

Each variant runs in its own subprocess; the last line is
`extract/forward time ratio X, peak memory ratio Y`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

VARIANTS = ("forward", "extract", "extract_eager")


def groups(batch: int, seq: int, n_steps: int, n_words: int, device):
    import torch

    steps = torch.zeros(batch, n_steps, seq, device=device)
    for a, toks in enumerate(torch.arange(seq).chunk(n_steps)):
        steps[:, a, toks] = 1.0
    words = torch.zeros(batch, n_words, seq, device=device)
    for b, start in enumerate(torch.linspace(1, seq - 3, n_words).long().tolist()):
        words[:, b, start : start + 2] = 1.0
    return steps, words


def make_once(args, variant: str, device):
    """One no-grad pass of `variant` (plain forward, or extraction of A_l) as a closure."""
    import torch

    from mold.molsaki.attention import register, stepwise_maps
    from shapes import SHAPES, build

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    implementation = {"forward": "sdpa", "extract": register("efficient"), "extract_eager": register("eager")}[variant]
    model = build(args.shape, args.layers, implementation, dtype, device).eval()
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(2, SHAPES[args.shape]["vocab"], (args.batch, args.seq), generator=gen).to(device)
    mask = torch.ones_like(ids)
    steps, words = groups(args.batch, args.seq, args.n_steps, args.n_words, device)

    @torch.no_grad()
    def once():
        if variant == "forward":
            model(input_ids=ids, attention_mask=mask, use_cache=False)
            return
        with stepwise_maps(model, steps, words) as maps:
            model(input_ids=ids, attention_mask=mask, use_cache=False)
        torch.stack(maps, 1).float().cpu()

    return once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="mini", choices=["mini", "llama3-8b", "qwen2.5-32b"])
    parser.add_argument("--layers", type=int)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--n-steps", type=int, default=8)
    parser.add_argument("--n-words", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; each variant keeps its fastest")
    parser.add_argument("--skip-eager", action="store_true", help="do not run the eager reference (large shapes)")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        from shapes import run_variant

        print(json.dumps(run_variant(make_once, args, args.variant)))
        return
    from shapes import describe_interleaved, run_each_in_subprocess, run_interleaved

    results = run_each_in_subprocess(__file__, "--variant", VARIANTS if not args.skip_eager else VARIANTS[:2], rounds=args.rounds)
    for variant, r in results.items():
        print(f"{args.shape} {variant:14s} {r['seconds'] * 1000:9.1f} ms   peak {r['peak_bytes'] / 2**20:9.1f} MiB   ({r['device']})")
    ratios = {v: r["seconds"] / results["forward"]["seconds"] for v, r in results.items()}
    if results["forward"]["device"] == "cpu":
        interleaved = run_interleaved(make_once, args, list(results), base="forward")
        ratios = {v: r["ratio"] for v, r in interleaved.items()}
        print(describe_interleaved(interleaved, "forward", "times"))
    fwd, ext = results["forward"], results["extract"]
    if "extract_eager" in results:
        eager = results["extract_eager"]
        print(f"eager-extract/forward time ratio {ratios['extract_eager']:.3f}, "
              f"peak memory ratio {eager['peak_bytes'] / fwd['peak_bytes']:.3f}")
    print(f"extract/forward time ratio {ratios['extract']:.3f}, peak memory ratio {ext['peak_bytes'] / fwd['peak_bytes']:.3f}")


if __name__ == "__main__":
    main()
