"""Tests of mold.molsaki: hand-computed examples, identities, equivalences, edge cases."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from mold.molsaki import (
    RMSNorm,
    StudentMoL,
    attention_loss,
    column_gradient,
    find_critical_spans,
    group_matrix,
    mix_layers,
    pooled_rms,
    split_steps,
    step_and_critical_groups,
    stepwise_attention,
    teacher_layer_weights,
)

# ---------------------------------------------------------------------------
# Steps and critical words
# ---------------------------------------------------------------------------

# "Tom has 1234 pens. He sold 3.5 of them?\n", tokenised GPT-2 style (leading spaces
# inside tokens), "1234" split as " 12" + "34", "3.5" as " 3" + "." + "5", with a BOS
# and an EOS of empty span and a whitespace-only "\n" token.
#   char index: T0 o1 m2 _3 h4 a5 s6 _7 '1'8 '2'9 '3'10 '4'11 _12 p13..s16 .17
#               _18 H19 e20 _21 s22..d25 _26 '3'27 .28 '5'29 _30 o31 f32 _33 t34..m37 ?38 \n39
TEXT = "Tom has 1234 pens. He sold 3.5 of them?\n"
OFFSETS = [
    (0, 0),  # 0 BOS
    (0, 3),  # 1 "Tom"
    (3, 7),  # 2 " has"
    (7, 10),  # 3 " 12"
    (10, 12),  # 4 "34"
    (12, 17),  # 5 " pens"
    (17, 18),  # 6 "."
    (18, 21),  # 7 " He"
    (21, 26),  # 8 " sold"
    (26, 28),  # 9 " 3"
    (28, 29),  # 10 "."
    (29, 30),  # 11 "5"
    (30, 33),  # 12 " of"
    (33, 38),  # 13 " them"
    (38, 39),  # 14 "?"
    (39, 40),  # 15 "\n" (whitespace only)
    (0, 0),  # 16 EOS
]


def test_groups_number_split_over_tokens_and_question_mark():
    steps, words = step_and_critical_groups(TEXT, OFFSETS)
    # Steps: "Tom has 1234 pens." = tokens 1..6; " He sold 3.5 of them?" = 7..14
    # (the period in 3.5 does not split); BOS, EOS and "\n" are ignored.
    assert steps == [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12, 13, 14]]
    # Words: "1234" (chars 8..11) overlaps " 12" and "34"; "3.5" (27..29) overlaps
    # " 3", "." and "5".
    assert words == [[3, 4], [9, 10, 11]]


def test_offsets_may_be_a_tensor():
    steps, words = step_and_critical_groups(TEXT, torch.tensor(OFFSETS))
    assert steps == [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12, 13, 14]]
    assert words == [[3, 4], [9, 10, 11]]


def test_thousands_and_decimals_are_one_number():
    text = "Pay 1,000 and 3.5 and 7."
    # "1,000" = chars 4..8, "3.5" = 14..16, "7" = 22
    assert find_critical_spans(text) == [(4, 9), (14, 17), (22, 23)]


def test_split_steps_sentences_delimiters():
    text = "It is 3.5 km. Next? Yes!\nNo"
    # "It is 3.5 km." ends at 13; " Next?" at 19; " Yes!\n" (one delimiter run) at 25.
    assert split_steps(text, "sentences") == [(0, 13), (13, 19), (19, 25), (25, 27)]
    assert split_steps("Step one\nStep two", "sentences") == [(0, 9), (9, 17)]
    assert split_steps("Wait... what?! ok", "sentences") == [(0, 7), (7, 14), (14, 17)]
    assert split_steps("", "sentences") == []
    assert split_steps(" \n ", "sentences") == []


def test_split_steps_periods_only_is_the_default():
    """§3.2 "based on periods": '?', '!' and newlines do not end a step; 3.5 is still one number."""
    text = "It is 3.5 km. Next? Yes!\nNo"
    assert split_steps(text) == split_steps(text, "periods") == [(0, 13), (13, 27)]
    # x = question + "\n" + rationale: the question's last sentence joins the rationale's first
    x = "Ann has 5 pens. How many now?\nShe buys 3. 5 + 3 = 8."
    assert [x[s:e] for s, e in split_steps(x)] == ["Ann has 5 pens.", " How many now?\nShe buys 3.", " 5 + 3 = 8."]
    assert split_steps("Wait... what?! ok") == [(0, 7), (7, 17)]
    assert split_steps(" \n ") == []


def test_token_starting_with_space_across_a_boundary():
    # "A. B." as "A", ".", " B", "."; " B" starts at the space ending nothing: its first
    # non-space char "B" (index 3) is in step 2.
    steps, words = step_and_critical_groups("A. B.", [(0, 1), (1, 2), (2, 4), (4, 5)])
    assert steps == [[0, 1], [2, 3]]
    assert words == []


def test_zero_critical_words():
    offsets = [(0, 2), (2, 10), (10, 15), (15, 16), (16, 23), (23, 24)]
    steps, words = step_and_critical_groups("No numbers here. Really.", offsets)
    assert steps == [[0, 1, 2, 3], [4, 5]]
    assert words == []


def test_keywords_whole_word_case_insensitive():
    text = "The river bank. A Bank of money? Banks are not a bank!"
    # word-level tokens with their spans
    tokens = "The river bank . A Bank of money ? Banks are not a bank !".split()
    offsets, cursor = [], 0
    for token in tokens:
        start = text.index(token, cursor)
        offsets.append((start, start + len(token)))
        cursor = start + len(token)
    # "bank" at 10, "Bank" at 18, "bank" at 49; "Banks" is not a whole-word match.
    assert find_critical_spans(text, ["bank"]) == [(10, 14), (18, 22), (49, 53)]
    steps, words = step_and_critical_groups(text, offsets, keywords=["bank"], split="sentences")
    assert steps == [[0, 1, 2, 3], [4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14]]
    assert words == [[2], [5], [13]]
    # Multi-word keyword; ordered by appearance across keywords.
    _, words = step_and_critical_groups(text, offsets, keywords=["money", "river bank"])
    assert words == [[1, 2], [7]]


# ---------------------------------------------------------------------------
# Stepwise attention
# ---------------------------------------------------------------------------

ATTN = torch.tensor(
    [
        [1.0, 0.0, 0.0, 0.0],
        [0.5, 0.5, 0.0, 0.0],
        [0.2, 0.3, 0.5, 0.0],
        [0.1, 0.2, 0.3, 0.4],
    ]
)
STEPS, WORDS = [[0, 1], [2, 3]], [[0], [1, 2]]
# A[0,0] = attn[0,0] + attn[1,0] = 1.0 + 0.5 = 1.5
# A[0,1] = attn[0,1] + attn[0,2] + attn[1,1] + attn[1,2] = 0 + 0 + 0.5 + 0 = 0.5
# A[1,0] = attn[2,0] + attn[3,0] = 0.2 + 0.1 = 0.3
# A[1,1] = attn[2,1] + attn[2,2] + attn[3,1] + attn[3,2] = 0.3 + 0.5 + 0.2 + 0.3 = 1.3
A_HAND = torch.tensor([[1.5, 0.5], [0.3, 1.3]])


def test_group_matrix():
    assert_close(group_matrix([[0, 2], [1]], 3), torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]))
    assert group_matrix([], 3).shape == (0, 3)


def test_stepwise_attention_by_hand():
    assert_close(stepwise_attention(ATTN, STEPS, WORDS), A_HAND)


def test_stepwise_attention_batched_equals_looped_and_is_differentiable():
    attn = torch.stack([ATTN, ATTN.flip(-1), torch.eye(4)]).requires_grad_()  # (L=3, 4, 4)
    batched = stepwise_attention(attn, STEPS, WORDS)
    looped = torch.stack([stepwise_attention(layer, STEPS, WORDS) for layer in attn])
    assert batched.shape == (3, 2, 2)
    assert_close(batched, looped)
    batched.sum().backward()
    # d(sum A)/d attn[i, j] = 1 iff i is in some step and j in some word: column 3 is in no word.
    expected_grad = torch.tensor([[1.0, 1.0, 1.0, 0.0]]).expand(4, 4)
    assert_close(attn.grad, expected_grad.expand(3, 4, 4))


def test_stepwise_attention_zero_words_shape():
    assert stepwise_attention(torch.rand(5, 4, 4), STEPS, []).shape == (5, 2, 0)


# ---------------------------------------------------------------------------
# Teacher Mixture of Layers
# ---------------------------------------------------------------------------

# layer 0: |3-1| + |2-3| + |0-0| + |4-0| = 2 + 1 + 0 + 4 = 7 over 2 steps x 2 pairs -> 7/4 = 1.75
# layer 1: constant rows -> 0
# layer 2: |2-0| + |2-2| + |0-0| + |2-0| = 2 + 0 + 0 + 2 = 4 -> 4/4 = 1.0
A_LAYERS = torch.tensor(
    [
        [[1.0, 3.0, 2.0], [0.0, 0.0, 4.0]],
        [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]],
        [[0.0, 2.0, 2.0], [0.0, 0.0, 2.0]],
    ]
)


def test_column_gradient_by_hand():
    assert_close(column_gradient(A_LAYERS), torch.tensor([1.75, 0.0, 1.0]))


def test_teacher_layer_weights_by_hand():
    two = A_LAYERS[:2]  # G = [1.75, 0]
    # tau = 1: softmax([1.75, 0]) = [e^1.75, 1] / (e^1.75 + 1) = [0.8519528, 0.1480472]
    assert_close(teacher_layer_weights(two, 1.0), torch.tensor([0.8519528, 0.1480472]))
    # tau = 0.5: softmax([3.5, 0]) = [0.9706878, 0.0293122]
    assert_close(teacher_layer_weights(two, 0.5), torch.tensor([0.9706878, 0.0293122]))
    assert teacher_layer_weights(two.double(), 1.0).dtype == torch.float32


def test_teacher_layer_weights_temperature_limits():
    assert_close(teacher_layer_weights(A_LAYERS, 1e-4), torch.tensor([1.0, 0.0, 0.0]))
    assert_close(teacher_layer_weights(A_LAYERS, 1e6), torch.full((3,), 1 / 3))


@pytest.mark.parametrize("num_words", [0, 1])
def test_teacher_layer_weights_uniform_below_two_words(num_words):
    A = torch.rand(4, 3, num_words)
    assert_close(teacher_layer_weights(A, 0.1), torch.full((4,), 0.25))
    assert_close(column_gradient(A), torch.zeros(4))


def test_teacher_layer_weights_rejects_bad_tau():
    with pytest.raises(ValueError):
        teacher_layer_weights(A_LAYERS, 0.0)


def test_mix_layers_by_hand():
    A = torch.tensor([[[1.0, 2.0]], [[3.0, 4.0]]])  # (L=2, 1, 2)
    # 0.25 * [1, 2] + 0.75 * [3, 4] = [2.5, 3.5]
    assert_close(mix_layers(A, torch.tensor([0.25, 0.75])), torch.tensor([[2.5, 3.5]]))
    # one-hot weights select a layer (single-layer ablation, paper §3.3)
    assert_close(mix_layers(A, torch.tensor([0.0, 1.0])), A[1])


def test_mix_layers_batched_equals_looped():
    A = torch.rand(3, 4, 2, 5)  # (B, L, N1, N2)
    weights = torch.softmax(torch.rand(3, 4), dim=-1)
    looped = torch.stack([mix_layers(A[i], weights[i]) for i in range(3)])
    assert_close(mix_layers(A, weights), looped)


# ---------------------------------------------------------------------------
# Student router
# ---------------------------------------------------------------------------


def test_student_router_by_hand():
    router = StudentMoL(num_layers=2, dim=2, tau=0.5, router="shared")
    with torch.no_grad():
        router.proj.weight.copy_(torch.tensor([[1.0, 0.0]]))
        router.proj.bias.zero_()
    # one real token, one padding token (garbage values)
    values = torch.tensor([[[[3.0, 4.0], [7.0, 7.0]], [[1.0, 0.0], [-9.0, 9.0]]]])  # (1, 2, 2, 2)
    mask = torch.tensor([[1, 0]])
    # layer 0: RMS([3, 4]) = sqrt(12.5); first coordinate 3 / sqrt(12.5) = 0.8485281
    # layer 1: RMS([1, 0]) = sqrt(0.5);  first coordinate 1 / sqrt(0.5)  = 1.4142136
    # softmax([0.8485281, 1.4142136] / 0.5) = [0.2439082, 0.7560918]
    assert_close(router(values, mask), torch.tensor([[0.2439082, 0.7560918]]))


def test_layer_bias_router_by_hand():
    """Eq. 5 with b in R^L (the default): logit_l = w . h_l + b_l."""
    router = StudentMoL(num_layers=2, dim=2, tau=0.5)
    assert router.router == "layer_bias" and router.proj.bias is None
    with torch.no_grad():
        router.proj.weight.copy_(torch.tensor([[1.0, 0.0]]))
        router.layer_bias.copy_(torch.tensor([0.5, -0.25]))
    values = torch.tensor([[[[3.0, 4.0], [7.0, 7.0]], [[1.0, 0.0], [-9.0, 9.0]]]])  # as above
    mask = torch.tensor([[1, 0]])
    # logits [0.8485281 + 0.5, 1.4142136 - 0.25] = [1.3485281, 1.1642136]; / 0.5 = [2.6970563, 2.3284271]
    # softmax: 1 / (1 + exp(-0.3686292)) = 0.5911277, and 0.4088723
    assert_close(router(values, mask), torch.tensor([[0.5911277, 0.4088723]]))


def test_layer_bias_alone_learns_a_layer_prior():
    """With identical h_l in every layer, only a per-layer bias can prefer a layer; the shared map's
    scalar bias gets no gradient at all."""
    values = torch.ones(1, 3, 2, 4)  # every layer pools to the same h
    mask = torch.ones(1, 2)
    target_layer = 2
    for kind, learns in (("layer_bias", True), ("shared", False)):
        router = StudentMoL(num_layers=3, dim=4, tau=0.5, router=kind)
        (-router(values, mask)[0, target_layer].log()).backward()
        bias = router.layer_bias if kind == "layer_bias" else router.proj.bias
        assert bool((bias.grad.abs() > 1e-6).any()) == learns


@pytest.mark.parametrize("router_kind", ["layer_bias", "shared", "flat"])
def test_student_router_shape_and_sums_to_one(router_kind):
    torch.manual_seed(0)
    router = StudentMoL(num_layers=5, dim=8, tau=0.5, router=router_kind)
    values = torch.randn(3, 5, 7, 8)
    weights = router(values, torch.ones(3, 7))
    assert weights.shape == (3, 5)
    assert weights.dtype == torch.float32
    assert bool((weights >= 0).all())
    assert_close(weights.sum(-1), torch.ones(3))


def test_flat_router_parameter_shape():
    router = StudentMoL(num_layers=5, dim=8, tau=0.5, router="flat")
    assert router.proj.weight.shape == (5, 40)
    assert StudentMoL(5, 8, 0.5).proj.weight.shape == (1, 8)
    with pytest.raises(ValueError):
        StudentMoL(5, 8, 0.5, router="deep")  # type: ignore[arg-type]


@pytest.mark.parametrize("router_kind", ["layer_bias", "shared", "flat"])
def test_student_router_padding_invariance(router_kind):
    torch.manual_seed(0)
    router = StudentMoL(num_layers=3, dim=4, tau=0.5, router=router_kind)
    real = torch.randn(2, 3, 3, 4)  # (B, L, 3 real tokens, d)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 0, 0]])
    right = torch.cat([real, torch.zeros(2, 3, 2, 4)], dim=2)  # right padding with zeros
    huge = torch.cat([real, torch.full((2, 3, 2, 4), 1e30)], dim=2)  # huge padding
    left = torch.cat([torch.randn(2, 3, 2, 4) * 100, real], dim=2)  # left padding, garbage
    left_mask = mask.flip(-1)
    expected = router(right, mask)
    assert_close(router(huge, mask), expected)
    assert_close(router(left, left_mask), expected)
    assert_close(router(real, torch.ones(2, 3)), expected)
    # no inf/NaN from padding reaches any gradient
    huge.requires_grad_()
    router(huge, mask)[:, 0].sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in router.parameters())
    assert_close(huge.grad[:, :, 3:], torch.zeros(2, 3, 2, 4))


def test_router_pooling_gradient_check_float64():
    """h_l = sum_i RMSNorm(x_li) over real tokens for two layers against numerical gradients (x and the norm
    weight); padding tokens, whose values are garbage, get no gradient."""
    gen = torch.Generator().manual_seed(0)
    xs = [torch.randn(2, 5, 4, dtype=torch.float64, generator=gen, requires_grad=True) for _ in range(2)]
    norm = RMSNorm(4).double()
    keep = torch.tensor([[True] * 5, [True, True, True, False, False]])
    assert torch.autograd.gradcheck(lambda *xs: pooled_rms(xs, keep, norm), tuple(xs))
    pooled_rms(xs, keep, norm).sum().backward()
    for x in xs:
        assert_close(x.grad[1, 3:], torch.zeros(2, 4, dtype=torch.float64))


@pytest.mark.parametrize("router_kind", ["shared", "flat"])
def test_student_router_starts_uniform(router_kind):
    router = StudentMoL(num_layers=4, dim=3, tau=0.5, router=router_kind)
    weights = router(torch.randn(2, 4, 6, 3), torch.ones(2, 6))
    assert_close(weights, torch.full((2, 4), 0.25))


@pytest.mark.parametrize("router_kind", ["shared", "flat"])
def test_student_router_gradients(router_kind):
    torch.manual_seed(0)
    router = StudentMoL(num_layers=3, dim=4, tau=0.5, router=router_kind)
    torch.nn.init.normal_(router.proj.weight)  # away from the (zero) initial map, as after a first step
    values, mask = torch.randn(2, 3, 5, 4), torch.ones(2, 5)
    router(values, mask)[:, 0].sum().backward()
    assert router.norm.weight.grad.abs().sum() > 0
    assert router.proj.weight.grad.abs().sum() > 0
    if router_kind == "shared":
        # One bias added to every layer's logit: softmax is shift-invariant, so b has
        # exactly zero gradient (it is kept only because the paper writes it).
        assert_close(router.proj.bias.grad, torch.zeros(1))
    else:
        assert router.proj.bias.grad.abs().sum() > 0


# ---------------------------------------------------------------------------
# Attention loss
# ---------------------------------------------------------------------------


def test_attention_loss_zero_for_identical_inputs():
    A = torch.randn(4, 3, 5)
    assert_close(attention_loss(A, A.clone()), torch.tensor(0.0))
    assert_close(attention_loss(A[0], A[0].clone()), torch.tensor(0.0))


def test_attention_loss_by_hand():
    # teacher row [0, ln 3] -> [1/4, 3/4]; student row [0, 0] -> [1/2, 1/2]
    # KL = 1/4 ln(1/2) + 3/4 ln(3/2) = -0.1732868 + 0.3040988 = 0.1308120
    A_t = torch.tensor([[0.0, math.log(3.0)]])
    A_s = torch.tensor([[0.0, 0.0]])
    assert_close(attention_loss(A_t, A_s), torch.tensor(0.1308120))
    # a second, identical step has KL 0: mean over steps = 0.1308120 / 2 = 0.0654060
    A_t2 = torch.tensor([[0.0, math.log(3.0)], [1.0, 2.0]])
    A_s2 = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    assert_close(attention_loss(A_t2, A_s2), torch.tensor(0.0654060))


def test_attention_loss_no_words_is_zero():
    A = torch.zeros(3, 0, requires_grad=True)
    loss = attention_loss(A.detach(), A)
    assert_close(loss, torch.tensor(0.0))
    loss.backward()
    assert A.grad.shape == (3, 0)
    assert_close(attention_loss(torch.zeros(2, 0, 0), torch.zeros(2, 0, 0)), torch.tensor(0.0))


def test_attention_loss_batched_equals_looped():
    torch.manual_seed(0)
    A_t, A_s = torch.randn(4, 3, 5), torch.randn(4, 3, 5)
    looped = torch.stack([attention_loss(A_t[i], A_s[i]) for i in range(4)]).mean()
    assert_close(attention_loss(A_t, A_s), looped)


def test_attention_loss_masked_batch_equals_looped_unpadded():
    torch.manual_seed(0)
    A_t, A_s = torch.randn(3, 3, 4), torch.randn(3, 3, 4, requires_grad=True)
    # example 0: full; example 1: 2 steps x 3 words; example 2: no word at all
    step_mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0]])
    word_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0], [0, 0, 0, 0]])
    garbage_t = A_t.masked_fill(~word_mask.bool()[:, None, :], 1e4)
    loss = attention_loss(garbage_t, A_s, step_mask=step_mask, word_mask=word_mask)
    # example 2 has no critical word: it is left out of the batch mean
    expected = (attention_loss(A_t[0], A_s[0]) + attention_loss(A_t[1, :2, :3], A_s[1, :2, :3])) / 2
    assert_close(loss, expected)
    loss.backward()
    assert bool(torch.isfinite(A_s.grad).all())
    assert_close(A_s.grad[1, 2], torch.zeros(4))  # padding step
    assert_close(A_s.grad[1, :, 3], torch.zeros(3))  # padding word
    assert_close(A_s.grad[2], torch.zeros(3, 4))  # example without words


def test_attention_loss_fully_masked_is_zero_not_nan():
    A_s = torch.randn(2, 3, 4, requires_grad=True)
    loss = attention_loss(torch.randn(2, 3, 4), A_s, step_mask=torch.zeros(2, 3), word_mask=torch.zeros(2, 4))
    assert_close(loss, torch.tensor(0.0))
    loss.backward()
    assert_close(A_s.grad, torch.zeros(2, 3, 4))


def test_attention_loss_gradient_reaches_student_only():
    A_t = torch.randn(2, 3, requires_grad=True)
    A_s = torch.randn(2, 3, requires_grad=True)
    attention_loss(A_t, A_s).backward()
    assert A_t.grad is None
    assert A_s.grad is not None and A_s.grad.abs().sum() > 0


def test_attention_loss_shape_mismatch():
    with pytest.raises(ValueError):
        attention_loss(torch.zeros(2, 3), torch.zeros(3, 2))


def test_end_to_end_single_example():
    """Groups -> stepwise attention -> MoL on both sides -> loss, differentiable to the router."""
    torch.manual_seed(0)
    steps, words = step_and_critical_groups(TEXT, OFFSETS)
    n = len(OFFSETS)
    causal = torch.tril(torch.rand(4, n, n)) + 1e-3 * torch.eye(n)
    teacher_attn = causal / causal.sum(-1, keepdim=True)  # (L_t=4, N, N)
    A_t_layers = stepwise_attention(teacher_attn, steps, words)  # (4, 2, 2)
    # causality: word 2 ("3.5", step 2) gets no attention from step 1
    assert_close(A_t_layers[:, 0, 1], torch.zeros(4))
    A_t = mix_layers(A_t_layers, teacher_layer_weights(A_t_layers, 0.1))
    router = StudentMoL(num_layers=3, dim=6, tau=0.5)
    student_attn = torch.softmax(torch.randn(1, 3, n, n), dim=-1)
    p_s = router(torch.randn(1, 3, n, 6), torch.ones(1, n))  # (1, 3)
    A_s = mix_layers(stepwise_attention(student_attn, steps, words), p_s)  # (1, 2, 2)
    loss = attention_loss(A_t[None], A_s)
    loss.backward()
    assert loss.item() > 0
    assert router.proj.weight.grad.abs().sum() > 0


def test_pooled_rms_hand_computed():
    """h = sum over real tokens of x_i / rms(x_i) (norm weight 1) on numbers worked by hand."""
    x = torch.tensor([[[3.0, 4.0], [1.0, 1.0], [5.0, 5.0]]])  # the third token is padding
    keep = torch.tensor([[True, True, False]])
    norm = RMSNorm(2, eps=0.0)
    r1 = 1 / 12.5**0.5  # rms of (3, 4) = sqrt((9 + 16) / 2)
    assert_close(pooled_rms([x], keep, norm), torch.tensor([[[3 * r1 + 1, 4 * r1 + 1]]]))
