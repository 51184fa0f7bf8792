"""Supervised losses as functions of tensors (SPEC §6, BASELINES.md). Softmax in float32."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mold.distill.batching import IGNORE


def shift_for_next_token(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Align position t's logits with token t+1: (B, T-1, V) and (B, T-1)."""
    return logits[:, :-1, :], labels[:, 1:]


def target_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Token-mean cross-entropy over target tokens only (L_pre / L_exp, Eq. 1); 0 if none."""
    logits, labels = shift_for_next_token(logits, labels)
    mask = labels != IGNORE
    if not mask.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits[mask].float(), labels[mask])


def dss_loss(loss_predict: torch.Tensor, loss_explain: torch.Tensor, alpha: float) -> torch.Tensor:
    """Distilling step-by-step: a·L_pre + (1-a)·L_exp (Eq. 1)."""
    return alpha * loss_predict + (1.0 - alpha) * loss_explain


def _max_pooled_target_probs(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per sequence, max over target-predicting positions of the softmax -> (B, V).

    Positions are gathered before the softmax (BASELINES.md: a full B×T×V softmax is wasteful).
    A sequence without target positions pools to zeros (it then adds nothing to the loss).
    """
    logits, labels = shift_for_next_token(logits, labels)
    pooled = []
    for row in range(logits.shape[0]):
        rows = logits[row][labels[row] != IGNORE].float()  # (T_target, V)
        pooled.append(rows.softmax(-1).max(dim=0).values if rows.shape[0] else logits.new_zeros(logits.shape[-1]).float())
    return torch.stack(pooled)


def mmi_loss(predict_logits: torch.Tensor, predict_labels: torch.Tensor,
             explain_logits: torch.Tensor, explain_labels: torch.Tensor) -> torch.Tensor:
    """MMIloss (BASELINES.md): u = max_t softmax(predict) with stop-gradient, w = max_t softmax(explain);
    L = mean_batch sum_v u_v (logsumexp(w) - w_v): soft-target cross-entropy with w as logits."""
    with torch.no_grad():
        u = _max_pooled_target_probs(predict_logits.detach(), predict_labels)
    w = _max_pooled_target_probs(explain_logits, explain_labels)
    per_row = (u * (torch.logsumexp(w, dim=-1, keepdim=True) - w)).sum(-1)  # (B,)
    valid = (predict_labels[:, 1:] != IGNORE).any(-1) & (explain_labels[:, 1:] != IGNORE).any(-1)
    return per_row[valid].mean() if valid.any() else per_row.sum() * 0.0
