"""The efficient stepwise-attention path equals the eager reference (values and gradients, fp32)."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from mold import stepwise_cpu, stepwise_kernel
from mold.distill.student_attention import attention_implementation, stepwise_maps
from mold.molsaki import RouterPooling

B, T = 3, 23


def _models():
    torch.manual_seed(0)
    yield "gpt2", GPT2LMHeadModel(GPT2Config(vocab_size=61, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                             resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
    yield "llama-gqa", LlamaForCausalLM(LlamaConfig(vocab_size=61, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                                    num_key_value_heads=2, intermediate_size=48))
    yield "qwen2", Qwen2ForCausalLM(Qwen2Config(vocab_size=61, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                                num_key_value_heads=1, intermediate_size=48))


def _groups():
    steps = torch.zeros(B, 3, T)
    steps[:, 0, 1:8], steps[:, 1, 8:15], steps[:, 2, 15:] = 1, 1, 1
    words = torch.zeros(B, 4, T)
    words[:, 0, [2, 3]], words[:, 1, 9], words[:, 2, 12], words[:, 3, [16, 17]] = 1, 1, 1, 1
    words[2, 3] = 0  # one example has a padded (absent) word
    return steps, words


def _run(model, implementation, ids, mask, steps, words, weights):
    model.set_attn_implementation(implementation)
    model.zero_grad()
    pooling = RouterPooling(mask.bool(), 1e-6)
    with stepwise_maps(model, steps, words, pooling) as maps:
        logits = model(input_ids=ids, attention_mask=mask).logits
    A = torch.stack(maps, dim=1)  # (B, L, N1, N2)
    S = torch.stack(pooling.sums, dim=1)  # (B, L, d_v): the router's input, Σ_i x_i / rms(x_i) of the values
    ((A * weights).sum() + 1e-3 * logits.square().mean() + 1e-2 * S.sin().sum()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return A.detach(), S.detach(), logits.detach(), grads


@pytest.mark.parametrize("path", ["cpu", "value_columns"])
@pytest.mark.parametrize("name_model", list(_models()), ids=lambda nm: nm[0])
def test_efficient_equals_eager(name_model, path, monkeypatch):
    """A_l, the router's input (pooled values) and every parameter gradient (through both) agree with eager
    attention (GQA: the router pools the KV heads, before they are repeated), on the CPU path and on the
    value-column path that GPUs take (forced here on CPU)."""
    if path == "value_columns":
        monkeypatch.setattr(stepwise_kernel, "_cpu_path", lambda query, dropout: False)
    _, model = name_model
    model.eval()
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 61, (B, T), generator=gen)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 18:] = 0  # right padding
    steps, words = _groups()
    steps[1, 2, 18:] = 0
    weights = torch.randn(B, model.config.num_hidden_layers, 3, 4, generator=gen)
    A_ref, S_ref, logits_ref, grads_ref = _run(model, "eager", ids, mask, steps, words, weights)
    A, S, logits, grads = _run(model, attention_implementation("efficient"), ids, mask, steps, words, weights)
    torch.testing.assert_close(A, A_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(S, S_ref, rtol=1e-5, atol=1e-5)
    valid = mask.bool()
    torch.testing.assert_close(logits[valid], logits_ref[valid], rtol=1e-5, atol=1e-5)
    assert grads.keys() == grads_ref.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, grads_ref[name], rtol=1e-5, atol=1e-5, msg=lambda m, n=name: f"{n}: {m}")


def test_outside_collection_it_is_plain_sdpa():
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=61, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         num_key_value_heads=2, intermediate_size=48)).eval()
    ids = torch.randint(0, 61, (2, 9))
    model.set_attn_implementation("sdpa")
    reference = model(input_ids=ids).logits
    model.set_attn_implementation(attention_implementation("efficient"))
    torch.testing.assert_close(model(input_ids=ids).logits, reference, rtol=1e-6, atol=1e-6)


def test_word_mass_gradient_check_float64():
    """Gradients through the extended-value SDPA call against numerical ones (q, k and v)."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, 6, 3, dtype=torch.float64, generator=gen, requires_grad=True) for _ in range(3))
    words = torch.zeros(2, 2, 6, dtype=torch.float64)
    words[:, 0, 1], words[:, 1, [3, 4]] = 1, 1
    keep = torch.ones(2, 1, 6, 6, dtype=torch.bool).tril()
    keep[1, :, :, 5] = False  # a padded key

    def fn(q, k, v):
        out, mass = stepwise_kernel.sdpa_with_word_mass(q, k, v, words, keep, False, 0.5)
        return out, mass

    assert torch.autograd.gradcheck(fn, (q, k, v), eps=1e-6, atol=1e-5)


def _small_inputs():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, 6, 3, dtype=torch.float64, generator=gen, requires_grad=True) for _ in range(3))
    words = torch.zeros(2, 2, 6, dtype=torch.float64)
    words[:, 0, 1], words[:, 1, [3, 4]] = 1, 1
    words[1, 1] = 0  # the second example has one word only
    keep = torch.ones(2, 1, 6, 6, dtype=torch.bool).tril()
    keep[1, :, :, 5] = False  # a padded key
    return q, k, v, words, keep


@pytest.mark.parametrize("outputs", ["both", "mass_only", "mixed"])
@pytest.mark.parametrize("masking", ["bool", "additive", "finite", "causal"])
def test_cpu_flash_path_gradient_check_float64(outputs, masking):
    """The CPU path's hand-written backward against numerical gradients. gradcheck takes one output
    element at a time, so `both` and `mass_only` see dO = 0 on every row whenever a word mass is
    differentiated (all rows lifted); `mixed` sums out's last rows into every mass entry, so that
    rows with and without dO meet in one backward. `finite` masks with the dtype's lowest value."""
    q, k, v, words, keep = _small_inputs()
    lowest = torch.finfo(torch.float64).min
    mask = {"bool": keep, "additive": torch.zeros(keep.shape, dtype=torch.float64).masked_fill(~keep, float("-inf")),
            "finite": torch.zeros(keep.shape, dtype=torch.float64).masked_fill(~keep, lowest), "causal": None}[masking]

    def fn(q, k, v):
        out, mass = stepwise_cpu.flash_cpu_with_word_mass(q, k, v, words, mask, masking == "causal", 0.5)
        if outputs == "mixed":
            return mass + out[:, :, 3:].sum()
        return (out, mass) if outputs == "both" else mass

    assert torch.autograd.gradcheck(fn, (q, k, v), eps=1e-6, atol=1e-5)


def test_lifted_rows_leave_the_other_gradients_untouched():
    """dO = 0 on the first rows: the lift changes the gradients only at rounding level (float32)."""
    q, k, v, words, keep = (t.detach().float() if t.is_floating_point() else t for t in _small_inputs())
    q, k, v = (t.requires_grad_() for t in (q, k, v))
    grad_out = torch.randn(q.shape, generator=torch.Generator().manual_seed(3))
    grad_out[:, :, :3] = 0
    grad_mass = torch.randn(2, 6, 2, generator=torch.Generator().manual_seed(4))
    expected = stepwise_kernel.sdpa_with_word_mass(q, k, v, words, keep, False, 0.5)
    want = torch.autograd.grad(expected, (q, k, v), (grad_out, grad_mass))
    got = stepwise_cpu.flash_cpu_with_word_mass(q, k, v, words, keep, False, 0.5)
    for a, b in zip(torch.autograd.grad(got, (q, k, v), (grad_out, grad_mass)), want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_cpu_flash_path_equals_value_column_path():
    q, k, v, words, keep = _small_inputs()
    expected = stepwise_kernel.sdpa_with_word_mass(q, k, v, words, keep, False, 0.5)
    got = stepwise_cpu.flash_cpu_with_word_mass(q, k, v, words, keep, False, 0.5)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("outputs", ["all", "sums_only", "mass_and_sums"])
def test_cpu_path_with_router_pooling_gradient_check_float64(groups, outputs):
    """Grouped KV heads (repeated inside, gradients summed back) and the router's pooled values, whose
    gradient the backward adds into dV: numerical gradients, and the sums equal `rms_sums` of the values."""
    from mold.molsaki import rms_sums

    q, _, _, words, keep = _small_inputs()
    q = torch.cat([q, q.detach().flip(1)], dim=1).detach().requires_grad_()  # 4 query heads
    gen = torch.Generator().manual_seed(5)
    k, v = (torch.randn(2, 4 // groups, 6, 3, dtype=torch.float64, generator=gen, requires_grad=True) for _ in range(2))
    tokens = torch.tensor([[True] * 6, [True] * 5 + [False]])
    columns = stepwise_cpu.word_columns(words, keep, False, q.shape, torch.float64)

    def fn(q, k, v):
        out, mass, sums = stepwise_cpu.flash_cpu_stepwise(q, k, v, columns, False, 0.5, groups,
                                                          RouterPooling(tokens, 1e-6))
        return {"all": (out, mass, sums), "sums_only": sums, "mass_and_sums": (mass, sums)}[outputs]

    assert torch.autograd.gradcheck(fn, (q, k, v), eps=1e-6, atol=1e-5)
    sums = fn(q, k, v)[-1] if outputs != "sums_only" else fn(q, k, v)
    torch.testing.assert_close(sums, rms_sums(v.transpose(1, 2).flatten(2), tokens, 1e-6)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("masking", ["bool", "causal"])
def test_cpu_path_returns_layer_maps_when_columns_carry_steps(masking):
    """With step memberships in the columns, the call returns A_l = S · word mass itself (B, N1, N2): equal
    to the product of the word mass (float64), and its backward passes gradcheck with the output and the
    router pooling in the same call."""
    q, k, v, words, keep = _small_inputs()
    mask, causal = (None, True) if masking == "causal" else (keep, False)
    steps = torch.zeros(2, 3, 6, dtype=torch.float64)
    steps[:, 0, :2], steps[:, 1, 2:5], steps[0, 2, 5] = 1, 1, 1  # 3 steps in the first example, 2 in the second
    tokens = torch.tensor([[True] * 6, [True] * 5 + [False]])
    plain = stepwise_cpu.word_columns(words, mask, causal, q.shape, torch.float64)
    with_steps = stepwise_cpu.word_columns(words, mask, causal, q.shape, torch.float64, steps)
    _, mass, _ = stepwise_cpu.flash_cpu_stepwise(q, k, v, plain, causal, 0.5)
    _, layer_map, _ = stepwise_cpu.flash_cpu_stepwise(q, k, v, with_steps, causal, 0.5)
    assert layer_map.shape == (2, 3, 2)
    torch.testing.assert_close(layer_map, steps @ mass, rtol=1e-12, atol=1e-12)

    def fn(q, k, v):
        out, layer_map, sums = stepwise_cpu.flash_cpu_stepwise(q, k, v, with_steps, causal, 0.5, 1, RouterPooling(tokens, 1e-6))
        return layer_map + out[:, :, 3:].sum(), sums

    assert torch.autograd.gradcheck(fn, (q, k, v), eps=1e-6, atol=1e-5)


def test_backward_leaves_the_saved_output_as_it_was():
    """out' is written into out for the flash call and put back: a second backward (retain_graph) gives the
    same gradients, and out is bit for bit what the forward returned."""
    q, k, v, words, keep = (t.detach().float() if t.is_floating_point() else t for t in _small_inputs())
    q, k, v = (t.requires_grad_() for t in (q, k, v))
    out, mass = stepwise_cpu.flash_cpu_with_word_mass(q, k, v, words, keep, False, 0.5)
    before = out.detach().clone()
    loss = mass.square().sum() + out[:, :, 3:].sum()  # rows 0-2 have dO = 0: lifted
    first = torch.autograd.grad(loss, (q, k, v), retain_graph=True)
    assert torch.equal(out.detach(), before)
    for a, b in zip(torch.autograd.grad(loss, (q, k, v)), first):
        assert torch.equal(a, b)


def test_large_values_do_not_disturb_lifted_rows():
    """The lift needs no bound on v: with values of size 1e4 and dO = 0 on some rows, gradients still equal
    the value-column path's (float32)."""
    q, k, v, words, keep = (t.detach().float() if t.is_floating_point() else t for t in _small_inputs())
    v = (v * 1e4).requires_grad_()
    q, k = q.requires_grad_(), k.requires_grad_()
    grad_out = torch.randn(q.shape, generator=torch.Generator().manual_seed(3))
    grad_out[:, :, :3] = 0
    grad_mass = torch.randn(2, 6, 2, generator=torch.Generator().manual_seed(4))
    want = torch.autograd.grad(stepwise_kernel.sdpa_with_word_mass(q, k, v, words, keep, False, 0.5), (q, k, v), (grad_out, grad_mass))
    got = torch.autograd.grad(stepwise_cpu.flash_cpu_with_word_mass(q, k, v, words, keep, False, 0.5), (q, k, v), (grad_out, grad_mass))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())
