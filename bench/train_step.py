"""Step time and peak memory of MoLSAKI, MMIloss and DSS for one student shape (random init).

    python bench/train_step.py --shape mini
    python bench/train_step.py --shape gpt2-medium --layers 4 --seq 256      # scaled-down paper shape on CPU
    python bench/train_step.py --shape gpt2-large --batch 16 --seq 512        # on a GPU

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


def synthetic_batch(vocab: int, batch: int, seq: int, steps: int, words: int, device):
    """Random explain/predict sequences with MoLSAKI groups: `steps` sentences, `words` numbers."""
    import torch

    from mold.training.batching import Batch
    from mold.training.distill import DistillBatch

    gen = torch.Generator().manual_seed(0)
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
    """One optimizer step of `method_name` on a fixed synthetic batch, as a closure."""
    import torch

    from mold.config import LossSpec, load_preset
    from mold.training.attention_loss import build_router
    from mold.methods import get_method
    from mold.training.distill import make_loss_fn
    from mold.molsaki.attention import attention_implementation
    from shapes import SHAPES, build

    torch.manual_seed(0)
    method = get_method(method_name)
    implementation = attention_implementation(args.attn) if method.uses_attention else "sdpa"
    model = build(args.shape, args.layers, implementation, torch.float32, device)
    router = build_router(model, LossSpec()).to(device) if method.kind == "molsaki" else None
    params = list(model.parameters()) + (list(router.parameters()) if router else [])
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    loss_fn = make_loss_fn(method, model, load_preset("mini"), router)
    batch = synthetic_batch(SHAPES[args.shape]["vocab"], args.batch, args.seq, args.n_steps, args.n_words, device)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda" and args.bf16):
            loss, _ = loss_fn(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

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
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast on GPU (weights and optimizer stay fp32)")
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
    print(f"molsaki/dss step time ratio {ratios['molsaki']:.3f}, peak memory ratio {mol['peak_bytes'] / dss['peak_bytes']:.3f}")


if __name__ == "__main__":
    main()
