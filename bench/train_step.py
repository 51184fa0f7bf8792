"""Step time and peak memory of MoLSAKI, MMIloss and DSS for one student shape (random init), through
the pipeline's own training step (`mold.training.loop.train_step`, `mold.training.distill.DistillLoss`).

    python bench/train_step.py --shape mini
    python bench/train_step.py --shape gpt2-medium --layers 4 --seq 256      # scaled-down paper shape on CPU
    python bench/train_step.py --shape gpt2-large --batch 16 --seq 512        # on a GPU (bf16-mixed by default)

Each method runs in its own subprocess (so CPU peak RSS is per method), interleaved over `--rounds`
rounds, keeping each method's fastest. On CPU the time ratios come from one more measurement with
the three methods' steps interleaved in one process (shared-machine noise then hits all alike), as the
median over cycles of each method's time over DSS's time in the same cycle.
The last line is
`molsaki/dss step time ratio X, peak memory ratio Y`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

METHODS = ("dss", "mmi", "molsaki")


def synthetic_batch(vocab: int, batch: int, seq: int, steps: int, words: int, device, seed: int = 0):
    """Random explain/predict sequences with MoLSAKI groups: `steps` sentences, `words` numbers."""
    import torch

    from mold.training.batching import Batch
    from mold.training.distill import DistillBatch

    gen = torch.Generator().manual_seed(seed)
    def seqs(length: int) -> Batch:
        ids = torch.randint(2, vocab, (batch, length), generator=gen)
        labels = ids.clone()
        labels[:, : length // 2] = -100
        return Batch(ids, torch.ones_like(ids), labels).to(device)

    explain, predict = seqs(seq), seqs(max(8, seq // 3))
    step_tokens = torch.arange(seq).chunk(steps)
    steps_m = torch.zeros(batch, steps, seq)
    for a, toks in enumerate(step_tokens):
        steps_m[:, a, toks] = 1.0
    words_m = torch.zeros(batch, words, seq)
    for b in range(words):
        words_m[:, b, torch.randint(0, seq - 2, (1,), generator=gen) + torch.arange(2)] = 1.0
    attention = {"has": torch.ones(batch, dtype=torch.bool), "steps": steps_m, "words": words_m,
                 "step_mask": torch.ones(batch, steps, dtype=torch.bool), "word_mask": torch.ones(batch, words, dtype=torch.bool),
                 "targets": torch.rand(batch, steps, words, generator=gen)}
    return DistillBatch(predict, explain, {k: v.to(device) for k, v in attention.items()})


def make_step(args, method_name: str, device):
    """One optimizer step of `method_name` on a fixed synthetic batch, as a closure: the pipeline's own
    `mold.training.loop.train_step` (precision policy, accumulation, clipping, AdamW, schedule) with the
    pipeline's `DistillLoss`."""
    import torch

    from mold.config import LossSpec, TrainingSpec
    from mold.methods import get_method
    from mold.molsaki.attention import register
    from mold.training import loop
    from mold.training.attention_loss import build_router
    from mold.training.distill import DistillLoss
    from shapes import SHAPES, build

    torch.manual_seed(0)
    method = get_method(method_name)
    implementation = register(args.attn) if method.needs_attention else "sdpa"
    model = build(args.shape, args.layers, implementation, torch.float32, device)
    router = build_router(model, LossSpec()).to(device) if method.uses_router else None
    params = list(model.parameters()) + (list(router.parameters()) if router else [])
    spec = TrainingSpec(steps=10**6, batch_size=args.batch, lr=1e-5, grad_accum_steps=args.grad_accum, precision=args.precision)
    optimizer, scheduler = loop.build_optimizer(params, spec)
    loss = DistillLoss(method, model, LossSpec(), router)
    micro = args.batch // args.grad_accum
    micro_batches = [synthetic_batch(SHAPES[args.shape]["vocab"], micro, args.seq, args.n_steps, args.n_words, device, seed=i)
                     for i in range(args.grad_accum)]
    precision = loop.resolve_precision(args.precision, device)
    loop.enable_tf32()
    model.train()

    def step():
        loop.train_step(params, optimizer, scheduler, micro_batches, loss, precision, device)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="mini", choices=["mini", "gpt2-medium", "gpt2-large", "tinyllama"])
    parser.add_argument("--layers", type=int, help="fewer layers than the real shape (CPU)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=128, help="explain sequence length")
    parser.add_argument("--n-steps", type=int, default=8, help="steps (sentences) per example")
    parser.add_argument("--n-words", type=int, default=10, help="critical words per example")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; each variant keeps its fastest")
    parser.add_argument("--attn", default="efficient", choices=["efficient", "eager"], help="MoLSAKI's stepwise-attention path")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16-mixed"],
                        help="training.precision (auto: bf16-mixed on CUDA, fp32 on CPU)")
    parser.add_argument("--grad-accum", type=int, default=1, help="training.grad_accum_steps (micro-batches per step)")
    parser.add_argument("--method", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.method:
        from shapes import run_variant

        print(json.dumps(run_variant(make_step, args, args.method)))
        return
    from shapes import describe_interleaved, run_each_in_subprocess, run_interleaved

    results = run_each_in_subprocess(__file__, "--method", METHODS, rounds=args.rounds)
    for method, r in results.items():
        print(f"{args.shape} {method:8s} step {r['seconds'] * 1000:8.1f} ms   peak {r['peak_bytes'] / 2**20:9.1f} MiB   ({r['device']})")
    ratios = {m: r["seconds"] / results["dss"]["seconds"] for m, r in results.items()}
    if results["dss"]["device"] == "cpu":
        interleaved = run_interleaved(make_step, args, METHODS, base="dss")
        ratios = {m: r["ratio"] for m, r in interleaved.items()}
        print(describe_interleaved(interleaved, "dss", "step times"))
    dss, mmi, mol = results["dss"], results["mmi"], results["molsaki"]
    print(f"mmi/dss step time ratio {ratios['mmi']:.3f}, peak memory ratio {mmi['peak_bytes'] / dss['peak_bytes']:.3f}")
    tokens = args.batch * (args.seq + max(8, args.seq // 3))  # explain (seq) + predict (seq // 3) tokens per step
    print(f"dss throughput {tokens / dss['seconds']:.0f} tokens/s ({dss['device']}, precision {args.precision})")
    print(f"molsaki/dss step time ratio {ratios['molsaki']:.3f}, peak memory ratio {mol['peak_bytes'] / dss['peak_bytes']:.3f}")


if __name__ == "__main__":
    main()
