"""Supervised losses as functions of tensors (paper Eq. 1; docs/baselines.md). Softmax in float32.

Each loss takes `reduction="mean"` (its definition) or `"sum"` (for gradient accumulation: the step
divides the sums by the counts of the whole step, `*_count`).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from mold.training.batching import IGNORE

Reduction = Literal["mean", "sum"]


def shift_for_next_token(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Align position t's logits with token t+1: (B, T-1, V) and (B, T-1)."""
    return logits[:, :-1, :], labels[:, 1:]


def target_count(labels: torch.Tensor) -> int:
    """How many target tokens `target_cross_entropy` averages over."""
    return int((labels[:, 1:] != IGNORE).sum())


def target_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
    """Cross-entropy over target tokens only (L_pre / L_exp, Eq. 1): token mean (or sum); 0 if none."""
    logits, labels = shift_for_next_token(logits, labels)
    mask = labels != IGNORE
    if not mask.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits[mask].float(), labels[mask], reduction=reduction)


def dss_loss(loss_predict: torch.Tensor, loss_explain: torch.Tensor, alpha: float) -> torch.Tensor:
    """Distilling step-by-step: a·L_pre + (1-a)·L_exp (Eq. 1)."""
    return alpha * loss_predict + (1.0 - alpha) * loss_explain


def _max_pooled_target_probs(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per sequence, max over target-predicting positions of the softmax -> (B, V).

    Positions are gathered before the softmax (a full B×T×V softmax is wasteful).
    A sequence without target positions pools to zeros (it then adds nothing to the loss).
    """
    logits, labels = shift_for_next_token(logits, labels)
    pooled = []
    for row in range(logits.shape[0]):
        rows = logits[row][labels[row] != IGNORE].float()  # (T_target, V)
        pooled.append(rows.softmax(-1).max(dim=0).values if rows.shape[0] else logits.new_zeros(logits.shape[-1]).float())
    return torch.stack(pooled)


def _mmi_rows(predict_labels: torch.Tensor, explain_labels: torch.Tensor) -> torch.Tensor:
    """(B,) bool: rows with target tokens in both sequences (the rows L_MMI averages over)."""
    return (predict_labels[:, 1:] != IGNORE).any(-1) & (explain_labels[:, 1:] != IGNORE).any(-1)


def mmi_count(predict_labels: torch.Tensor, explain_labels: torch.Tensor) -> int:
    return int(_mmi_rows(predict_labels, explain_labels).sum())


def mmi_loss(predict_logits: torch.Tensor, predict_labels: torch.Tensor,
             explain_logits: torch.Tensor, explain_labels: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
    """MMIloss (docs/baselines.md): u = max_t softmax(predict) with stop-gradient, w = max_t softmax(explain);
    L = mean_batch sum_v u_v (logsumexp(w) - w_v): soft-target cross-entropy with w as logits."""
    with torch.no_grad():
        u = _max_pooled_target_probs(predict_logits.detach(), predict_labels)
    w = _max_pooled_target_probs(explain_logits, explain_labels)
    per_row = (u * (torch.logsumexp(w, dim=-1, keepdim=True) - w)).sum(-1)  # (B,)
    valid = _mmi_rows(predict_labels, explain_labels)
    if not valid.any():
        return per_row.sum() * 0.0
    return per_row[valid].mean() if reduction == "mean" else per_row[valid].sum()
