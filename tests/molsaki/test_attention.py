"""The two stepwise-attention paths: the value-column path equals the eager reference (values and every
gradient, fp32), and the eager reference equals transformers' own eager attention probabilities."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from mold.molsaki import RMSNorm, pooled_rms, stepwise_attention
from mold.molsaki.attention import register, sdpa_with_word_mass, stepwise_maps

B, T = 3, 23


def _models():
    torch.manual_seed(0)
    yield "gpt2", GPT2LMHeadModel(GPT2Config(vocab_size=61, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                             resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
    yield "llama-gqa", LlamaForCausalLM(LlamaConfig(vocab_size=61, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                                    num_key_value_heads=2, intermediate_size=48))
    yield "qwen2", Qwen2ForCausalLM(Qwen2Config(vocab_size=61, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                                num_key_value_heads=1, intermediate_size=48))
    # Architectures beyond the paper's (docs/adding-a-model.md): sliding-window GQA, a separate
    # head_dim with its own query scale, fused QKV, partial rotary with parallel residuals.
    shared = {"vocab_size": 61, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 48,
              "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    for arch, extra in (("mistral", {"num_key_value_heads": 2}), ("gemma", {"num_key_value_heads": 1, "head_dim": 16}),
                        ("phi3", {"num_key_value_heads": 2}), ("gpt_neox", {})):
        yield arch, AutoModelForCausalLM.from_config(AutoConfig.for_model(arch, **shared, **extra))


def _groups():
    steps = torch.zeros(B, 3, T)
    steps[:, 0, 1:8], steps[:, 1, 8:15], steps[:, 2, 15:] = 1, 1, 1
    words = torch.zeros(B, 4, T)
    words[:, 0, [2, 3]], words[:, 1, 9], words[:, 2, 12], words[:, 3, [16, 17]] = 1, 1, 1, 1
    words[2, 3] = 0  # one example has a padded (absent) word
    return steps, words


def _inputs(model):
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 61, (B, T), generator=gen)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 18:] = 0  # right padding
    steps, words = _groups()
    steps[1, 2, 18:] = 0
    weights = torch.randn(B, model.config.num_hidden_layers, 3, 4, generator=gen)
    return ids, mask, steps, words, weights


def _run(model, kind, ids, mask, steps, words, weights):
    model.set_attn_implementation(register(kind))
    model.zero_grad()
    values: list[torch.Tensor] = []
    with stepwise_maps(model, steps, words, values) as maps:
        logits = model(input_ids=ids, attention_mask=mask).logits
    A = torch.stack(maps, dim=1)  # (B, L, N1, N2)
    H = pooled_rms(values, mask.bool(), RMSNorm(values[0].shape[-1]))  # (B, L, d_v): the router's input
    ((A * weights).sum() + 1e-3 * logits.square().mean() + 1e-2 * H.sin().sum()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return A.detach(), H.detach(), logits.detach(), grads


@pytest.mark.parametrize("name_model", list(_models()), ids=lambda nm: nm[0])
def test_efficient_equals_eager(name_model):
    """A_l, the router's input (pooled values; GQA: the KV heads, before they are repeated) and every
    parameter gradient (through both) agree between the value-column path and the eager reference."""
    _, model = name_model
    model.eval()
    ids, mask, steps, words, weights = _inputs(model)
    A_ref, H_ref, logits_ref, grads_ref = _run(model, "eager", ids, mask, steps, words, weights)
    A, H, logits, grads = _run(model, "efficient", ids, mask, steps, words, weights)
    torch.testing.assert_close(A, A_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(H, H_ref, rtol=1e-5, atol=1e-5)
    valid = mask.bool()
    torch.testing.assert_close(logits[valid], logits_ref[valid], rtol=1e-5, atol=1e-5)
    assert grads.keys() == grads_ref.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, grads_ref[name], rtol=1e-5, atol=1e-5, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("name_model", list(_models()), ids=lambda nm: nm[0])
def test_eager_reference_equals_transformers_eager_probabilities(name_model):
    """The reference's A_l equals S · mean_h(P) · Wᵀ of the probabilities transformers' own eager attention returns."""
    _, model = name_model
    model.eval()
    ids, mask, steps, words, _ = _inputs(model)
    model.set_attn_implementation("eager")
    with torch.no_grad():
        probs = model(input_ids=ids, attention_mask=mask, output_attentions=True).attentions  # L × (B, H, T, T)
    model.set_attn_implementation(register("eager"))
    with torch.no_grad(), stepwise_maps(model, steps, words) as maps:
        model(input_ids=ids, attention_mask=mask)
    for layer, P in enumerate(probs):
        for b in range(B):
            step_groups = [row.nonzero().flatten().tolist() for row in steps[b] if row.any()]
            word_groups = [row.nonzero().flatten().tolist() for row in words[b] if row.any()]
            expected = stepwise_attention(P[b].mean(0), step_groups, word_groups)
            got = maps[layer][b, : len(step_groups), : len(word_groups)]
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["eager", "efficient"])
def test_outside_collection_it_is_plain_attention(kind):
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=61, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         num_key_value_heads=2, intermediate_size=48)).eval()
    ids = torch.randint(0, 61, (2, 9))
    model.set_attn_implementation("sdpa")
    reference = model(input_ids=ids).logits
    model.set_attn_implementation(register(kind))
    torch.testing.assert_close(model(input_ids=ids).logits, reference, rtol=1e-5, atol=1e-5)


def test_collection_needs_a_mold_implementation():
    model = LlamaForCausalLM(LlamaConfig(vocab_size=61, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                         intermediate_size=48))
    model.set_attn_implementation("sdpa")
    with pytest.raises(RuntimeError, match="mold attention implementation"), stepwise_maps(model, *_groups()):
        pass


def test_word_mass_gradient_check_float64():
    """Gradients through the extended-value SDPA call against numerical ones (q, k and v)."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, 6, 3, dtype=torch.float64, generator=gen, requires_grad=True) for _ in range(3))
    words = torch.zeros(2, 2, 6, dtype=torch.float64)
    words[:, 0, 1], words[:, 1, [3, 4]] = 1, 1
    keep = torch.ones(2, 1, 6, 6, dtype=torch.bool).tril()
    keep[1, :, :, 5] = False  # a padded key

    def fn(q, k, v):
        return sdpa_with_word_mass(q, k, v, words, keep, False, 0.5)

    assert torch.autograd.gradcheck(fn, (q, k, v), eps=1e-6, atol=1e-5)
