"""Rationale-generation throughput (new tokens/s) with mold's batching: prompts sorted by length,
left-padded batches of `--batch`, greedy `generate` (mold.teacher.generate).

    python bench/generate.py --shape mini
    python bench/generate.py --shape llama3-8b --batch 32 --prompts 128    # on a GPU (bf16)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    import torch

    from mold.teacher.generate import length_sorted_batches
    from shapes import SHAPES, build

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="mini", choices=sorted(SHAPES))
    parser.add_argument("--layers", type=int)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--prompt-len", type=int, nargs=2, default=(150, 400), help="min/max prompt tokens")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = build(args.shape, args.layers, "sdpa", dtype, device).eval()
    vocab = SHAPES[args.shape]["vocab"]
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(args.prompt_len[0], args.prompt_len[1] + 1, (args.prompts,), generator=gen).tolist()
    prompts = [torch.randint(2, vocab, (n,), generator=gen) for n in lengths]
    new_tokens, start = 0, time.perf_counter()
    with torch.no_grad():
        for chunk in length_sorted_batches(lengths, args.batch):
            width = max(lengths[i] for i in chunk)
            ids = torch.full((len(chunk), width), 1, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, i in enumerate(chunk):  # left padding, as in generation
                ids[row, width - lengths[i]:], mask[row, width - lengths[i]:] = prompts[i], 1
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False, pad_token_id=1,
                                 max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, eos_token_id=None)
            new_tokens += (out.shape[1] - width) * len(chunk)
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    print(f"{args.shape} generate: {args.prompts} prompts, batch {args.batch}, {new_tokens} new tokens in {elapsed:.2f} s ({device})")
    print(f"generation throughput {new_tokens / elapsed:.1f} tokens/s")


if __name__ == "__main__":
    main()
