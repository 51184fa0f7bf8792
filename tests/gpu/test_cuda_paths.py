"""GPU checks (marker `gpu`, skipped without CUDA; `bench/gpu.sh` runs them): the value-column path against
the eager reference in bf16 on CUDA, and a short distillation of every method under bf16-mixed."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from mold.molsaki.attention import register, stepwise_maps

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

# bf16 keeps 8 bits of mantissa: both paths round differently, so compare at bf16's resolution.
BF16_TOLERANCE = dict(rtol=2e-2, atol=2e-2)


def _model(name: str):
    torch.manual_seed(0)
    if name == "gpt2":
        return GPT2LMHeadModel(GPT2Config(vocab_size=101, n_embd=128, n_layer=2, n_head=4, n_positions=256,
                                          resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
    return LlamaForCausalLM(LlamaConfig(vocab_size=101, hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                                        num_key_value_heads=2, intermediate_size=256))


@pytest.mark.parametrize("name", ["gpt2", "llama-gqa"])
def test_value_columns_match_eager_in_bf16(name):
    device = torch.device("cuda")
    batch, length = 4, 96
    model = _model(name).to(device).eval()
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 101, (batch, length), generator=gen).to(device)
    mask = torch.ones_like(ids)
    mask[1, 80:] = 0
    steps = torch.zeros(batch, 4, length, device=device)
    for a in range(4):
        steps[:, a, a * 24 : (a + 1) * 24] = 1
    words = torch.zeros(batch, 6, length, device=device)
    for b in range(6):
        words[:, b, 5 + b * 14 : 7 + b * 14] = 1
    results = {}
    for kind in ("eager", "efficient"):
        model.set_attn_implementation(register(kind))
        model.zero_grad()
        with torch.autocast("cuda", dtype=torch.bfloat16), stepwise_maps(model, steps, words) as maps:
            logits = model(input_ids=ids, attention_mask=mask).logits
        A = torch.stack(maps, 1).float()
        (A.square().sum() + 1e-3 * logits.float().square().mean()).backward()  # every parameter gets a gradient
        results[kind] = (A.detach(), {n: p.grad.float().clone() for n, p in model.named_parameters() if p.grad is not None})
    (A_ref, grads_ref), (A, grads) = results["eager"], results["efficient"]
    torch.testing.assert_close(A, A_ref, **BF16_TOLERANCE)
    assert grads.keys() == grads_ref.keys()
    for key in grads:
        scale = grads_ref[key].abs().max().clamp(min=1e-6)
        torch.testing.assert_close(grads[key] / scale, grads_ref[key] / scale, **BF16_TOLERANCE)


@pytest.mark.parametrize("method_name", ["vanilla", "dss", "mmi", "molsaki", "sl:last->last"])
def test_twenty_step_distillation_in_bf16_mixed(method_name, tmp_path, bpe_tokenizer):
    """Every method trains 20 steps on CUDA under bf16-mixed (fp32 master weights): finite losses, every
    trainable parameter moves, the weights stay fp32."""
    from mold.config import LossSpec, ModelSpec, TrainingSpec
    from mold.methods import get_method
    from mold.models.factory import build_tiny_model
    from mold.training.attention_loss import build_router
    from mold.training.batching import encode
    from mold.training.distill import DistillLoss, TrainItem, make_batch_fn
    from mold.training.loop import train

    method, device = get_method(method_name), torch.device("cuda")
    spec = ModelSpec.model_validate({"arch": "gpt2", "tokenizer": {"kind": "bpe"},
                                     "tiny": {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "max_positions": 128}})
    student = build_tiny_model(spec, bpe_tokenizer, seed=0,
                               attn_implementation=register("efficient") if method.needs_attention else "sdpa").to(device)
    before = {n: p.detach().clone() for n, p in student.named_parameters()}
    items = []
    for i in range(8):
        q, r = f"Tom has {i} pens and buys {i + 3} more. How many?", f"{i} + {i + 3} = {2 * i + 3}. So {2 * i + 3}."
        item = TrainItem(encode(bpe_tokenizer, f"predict: {q}\n", str(2 * i + 3), 96),
                         encode(bpe_tokenizer, f"explain: {q}\n", r, 96) if method.needs_rationales else None)
        if method.needs_attention:
            item.steps, item.words, item.target = [[1, 2, 3], [4, 5, 6]], [[2], [5]], torch.tensor([[0.6, 0.4], [0.3, 0.7]])
        items.append(item)
    router = build_router(student, LossSpec()).to(device) if method.uses_router else None
    training = TrainingSpec(steps=20, batch_size=4, lr=1e-3, grad_accum_steps=2, precision="bf16-mixed",
                            checkpoint_every=10, log_every=5)
    history = train(student, training, tmp_path, 0, make_batch_fn(items, 4, 2, 0, bpe_tokenizer.pad_token_id, device),
                    DistillLoss(method, student, LossSpec(), router), extra_modules={"router": router} if router else None)
    assert len(history) == 4 and all(torch.isfinite(torch.tensor(h["loss"])) for h in history)
    for name, param in student.named_parameters():
        assert param.dtype == torch.float32
        assert not torch.equal(param.detach(), before[name]), f"{name} did not move"
