"""Tests of mold.training.losses: hand-computed values, identities, gradients, edge cases."""

from __future__ import annotations

import math

import torch
from torch.testing import assert_close

from mold.training.batching import IGNORE
from mold.training.losses import dss_loss, mmi_loss, shift_for_next_token, target_cross_entropy

LN3 = math.log(3.0)


def test_shift_for_next_token_shapes_and_alignment():
    logits = torch.arange(2 * 4 * 3, dtype=torch.float).view(2, 4, 3)
    labels = torch.arange(8).view(2, 4)
    shifted_logits, shifted_labels = shift_for_next_token(logits, labels)
    assert shifted_logits.shape == (2, 3, 3) and shifted_labels.shape == (2, 3)
    assert torch.equal(shifted_logits, logits[:, :3])
    assert torch.equal(shifted_labels, labels[:, 1:])


# ---------------------------------------------------------------------------
# target_cross_entropy
# ---------------------------------------------------------------------------


def test_target_cross_entropy_hand_computed():
    # 1×3×2: position 0 predicts label[1] = 0 from logits [0, 0] -> -ln(1/2) = ln 2;
    # position 1 predicts label[2] = 1 from logits [ln 3, 0] -> p = 1/4 -> ln 4.
    # Position 2 predicts nothing (its huge logits must not matter). Mean = 1.5 ln 2.
    logits = torch.tensor([[[0.0, 0.0], [LN3, 0.0], [100.0, -100.0]]])
    labels = torch.tensor([[IGNORE, 0, 1]])
    assert_close(target_cross_entropy(logits, labels), torch.tensor(1.5 * math.log(2.0)), rtol=0, atol=1e-6)


def test_target_cross_entropy_ignores_prompt_positions():
    logits = torch.tensor([[[0.0, 0.0], [LN3, 0.0], [0.0, 0.0]]])
    labels = torch.tensor([[IGNORE, IGNORE, 1]])  # only position 1 -> label 1
    assert_close(target_cross_entropy(logits, labels), torch.tensor(math.log(4.0)), rtol=0, atol=1e-6)


def test_target_cross_entropy_is_a_token_mean_over_the_batch():
    # Row 0 has two targets, row 1 one: the mean is over 3 tokens, not over 2 rows.
    logits = torch.zeros(2, 3, 2)
    logits[1, 1] = torch.tensor([LN3, 0.0])
    labels = torch.tensor([[IGNORE, 0, 1], [IGNORE, IGNORE, 1]])
    expected = (math.log(2.0) * 2 + math.log(4.0)) / 3
    assert_close(target_cross_entropy(logits, labels), torch.tensor(expected), rtol=0, atol=1e-6)


def test_target_cross_entropy_without_targets_is_zero_with_a_gradient():
    logits = torch.randn(2, 4, 5, requires_grad=True)
    labels = torch.full((2, 4), IGNORE)
    loss = target_cross_entropy(logits, labels)
    assert loss.item() == 0.0 and not torch.isnan(loss)
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_target_cross_entropy_half_precision_logits_upcast():
    logits = torch.tensor([[[0.0, 0.0], [LN3, 0.0], [0.0, 0.0]]], dtype=torch.bfloat16)
    labels = torch.tensor([[IGNORE, 0, 1]])
    loss = target_cross_entropy(logits, labels)
    assert loss.dtype == torch.float32
    assert_close(loss, torch.tensor(1.5 * math.log(2.0)), rtol=0, atol=1e-2)


# ---------------------------------------------------------------------------
# dss_loss
# ---------------------------------------------------------------------------


def test_dss_loss_weights():
    lp, le = torch.tensor(2.0), torch.tensor(5.0)
    assert_close(dss_loss(lp, le, 0.3), torch.tensor(0.3 * 2.0 + 0.7 * 5.0))
    assert_close(dss_loss(lp, le, 0.5), torch.tensor(3.5))
    assert_close(dss_loss(lp, le, 1.0), lp)
    assert_close(dss_loss(lp, le, 0.0), le)


# ---------------------------------------------------------------------------
# mmi_loss (docs/baselines.md): u = max_t softmax(predict) (stop-grad), w = max_t softmax(explain),
# L = mean_b sum_v u_v (logsumexp(w) - w_v), pooled over target-predicting positions only.
# ---------------------------------------------------------------------------


def _mmi_example():
    # Predict: one target position (position 1 -> label[2]); logits [0, ln 3] -> u = [1/4, 3/4].
    # Positions 0 and 2 carry huge logits that pooling must skip.
    predict_logits = torch.tensor([[[50.0, -50.0], [0.0, LN3], [-50.0, 50.0]]], requires_grad=True)
    predict_labels = torch.tensor([[IGNORE, IGNORE, 1]])
    # Explain: positions 0 and 1 predict targets; softmax [1/2, 1/2] and [3/4, 1/4]
    # -> w = elementwise max = [3/4, 1/2]. Position 2 (after the last token) is skipped.
    explain_logits = torch.tensor([[[0.0, 0.0], [LN3, 0.0], [-50.0, 50.0]]], requires_grad=True)
    explain_labels = torch.tensor([[IGNORE, 0, 1]])
    return predict_logits, predict_labels, explain_logits, explain_labels


def test_mmi_loss_hand_computed():
    # sum_v u_v (lse(w) - w_v) = lse(w) - (1/4 · 3/4 + 3/4 · 1/2) = lse(w) - 0.5625
    lse = math.log(math.exp(0.75) + math.exp(0.5))
    assert_close(mmi_loss(*_mmi_example()), torch.tensor(lse - 0.5625), rtol=0, atol=1e-6)


def test_mmi_loss_three_classes_batch_mean():
    # Row 0: u = softmax([0, 0, 0]) = 1/3 each; w = softmax([0, 0, 0]) = 1/3 each
    #   -> sum_v (1/3)(lse - 1/3) = lse([1/3]*3) - 1/3 = ln 3.
    # Row 1: u = [1, 0, 0] (one-hot in the limit); w = [1/2, 1/4, 1/4] from logits [ln 2, 0, 0]
    #   -> lse(w) - 1/2.
    big = 60.0
    predict_logits = torch.tensor([[[0.0, 0.0, 0.0], [9.0, 9.0, -9.0]], [[big, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    predict_labels = torch.tensor([[IGNORE, 2], [IGNORE, 0]])
    explain_logits = torch.tensor([[[0.0, 0.0, 0.0], [5.0, 0.0, 0.0]], [[math.log(2.0), 0.0, 0.0], [0.0, 0.0, 0.0]]])
    explain_labels = torch.tensor([[IGNORE, 1], [IGNORE, 1]])
    row0 = math.log(3.0)
    row1 = math.log(math.exp(0.5) + 2 * math.exp(0.25)) - 0.5
    loss = mmi_loss(predict_logits, predict_labels, explain_logits, explain_labels)
    assert_close(loss, torch.tensor((row0 + row1) / 2), rtol=0, atol=1e-6)


def test_mmi_loss_equals_soft_target_cross_entropy():
    # The definition in docs/baselines.md: PyTorch's cross-entropy with w as logits and u as (unnormalised) target.
    torch.manual_seed(0)
    predict_logits, explain_logits = torch.randn(3, 6, 7), torch.randn(3, 5, 7)
    predict_labels = torch.tensor([[IGNORE] * 3 + [1, 2, 3]] * 3)
    explain_labels = torch.tensor([[IGNORE, IGNORE, 4, 5, 6], [IGNORE, 1, 2, 3, IGNORE], [IGNORE, IGNORE, IGNORE, 0, 0]])
    u = torch.stack([predict_logits[b, 2:5].softmax(-1).max(0).values for b in range(3)])
    w = torch.stack([explain_logits[b, rows].softmax(-1).max(0).values
                     for b, rows in enumerate([[1, 2, 3], [0, 1, 2], [2, 3]])])
    expected = torch.nn.functional.cross_entropy(w, u)
    assert_close(mmi_loss(predict_logits, predict_labels, explain_logits, explain_labels), expected, rtol=0, atol=1e-6)


def test_mmi_gradient_flows_to_explain_only():
    predict_logits, predict_labels, explain_logits, explain_labels = _mmi_example()
    mmi_loss(predict_logits, predict_labels, explain_logits, explain_labels).backward()
    assert predict_logits.grad is None or torch.count_nonzero(predict_logits.grad) == 0
    assert explain_logits.grad is not None
    # Only explain positions that predict a target (0 and 1) receive gradient; the skipped one does not.
    assert torch.count_nonzero(explain_logits.grad[0, :2]) > 0
    assert torch.equal(explain_logits.grad[0, 2], torch.zeros(2))


def test_mmi_loss_is_finite_for_large_vocab_logits():
    torch.manual_seed(1)
    predict_logits, explain_logits = torch.randn(2, 4, 50) * 30, torch.randn(2, 4, 50) * 30
    labels = torch.tensor([[IGNORE, IGNORE, 3, 4]] * 2)
    loss = mmi_loss(predict_logits, labels, explain_logits, labels)
    assert torch.isfinite(loss)
    # Each u_v <= 1 and lse(w) - w_v <= ln V + 1 (w in [0, 1]): a loose upper bound, and a lower bound > 0.
    assert 0.0 < loss.item() <= 50 * (math.log(50) + 1)
