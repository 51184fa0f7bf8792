"""CPU path of the stepwise attention (see mold.stepwise_kernel): no extra value columns.

The flash kernel runs at the model's own head size and returns each query row's log-normaliser
lse_i; the attention probabilities on the M critical-word tokens are then P_ij = exp(s q_i·k_j - lse_i),
a small (T × M) product, and mean_h(P_h Wᵀ) follows. The backward is written by hand (below).
"""

from __future__ import annotations

import torch

def _word_columns(words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The key positions that belong to some critical word, per example.

    `words` (B, N2, T) -> token index (B, M), valid (B, M) and membership (B, N2, M), M = the
    largest number of word tokens in one example (padding columns: index 0, not valid, no member).
    """
    in_word = words.bool().any(dim=1)  # (B, T)
    width = max(int(in_word.sum(dim=1).max()), 1)
    order = torch.sort(in_word.to(torch.int8), dim=1, descending=True, stable=True)
    index, valid = order.indices[:, :width], order.values[:, :width].bool()
    member = words.gather(2, index[:, None, :].expand(-1, words.shape[1], -1)) * valid[:, None, :]
    return index, valid, member


def _allowed(mask: torch.Tensor | None, causal: bool, rows: int, columns: torch.Tensor) -> torch.Tensor:
    """Which (query row, key column) pairs attention may use: (B, 1 or H, T, M) for the columns `columns` (B, M)."""
    batch, width = columns.shape
    if mask is None:
        allowed = torch.ones(batch, 1, rows, width, dtype=torch.bool, device=columns.device)
    else:
        full = mask if mask.dtype == torch.bool else mask > float("-inf")
        full = full.expand(batch, -1, rows, -1)
        allowed = full.gather(3, columns[:, None, None, :].expand(-1, full.shape[1], rows, -1))
    if causal:
        allowed = allowed & (columns[:, None, None, :] <= torch.arange(rows, device=columns.device)[None, None, :, None])
    return allowed


def _additive(mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    if mask is None or mask.dtype != torch.bool:
        return mask
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, float("-inf"))


class _FlashWordMassCPU(torch.autograd.Function):
    """CPU path: the flash kernel at the model's own head size, plus P on the word columns only.

    Forward: out, lse = flash(q, k, v); for the M word-token keys, P_ij = exp(s q_i·k_j - lse_i),
    so word_mass = mean_h P_word · member (no extra value columns, no padding of q/k).
    Backward: with G the upstream gradient of word_mass, per head g_ij = Σ_c G_ic w_cj / H on the
    word columns and E_i = Σ_j P_ij g_ij,
        dS_ij = P_ij (dO_i·v_j - D_i - E_i) + P_ij g_ij.
    The first part is the flash backward with D_i = dO_i·out_i raised by E_i, obtained by handing
    it out' = out + E_i dO_i / |dO_i|²; the second is dense only on the M word columns. Rows with
    E_i ≠ 0 but dO_i = 0 (tokens whose last-layer output no loss reads) get their E term separately.
    (B, H) are folded into one batch dimension for the small matrix products.
    """

    @staticmethod
    def forward(ctx, query, key, value, columns, causal: bool, scale: float):
        batch, heads, length, head_dim = query.shape
        index, member, allowed, additive = columns
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            query, key, value, 0.0, causal, attn_mask=additive, scale=scale)
        width = index.shape[1]
        key_words = key.gather(2, index[:, None, :, None].expand(-1, heads, -1, head_dim))  # (B, H, M, D)
        flat = batch * heads
        query_flat = query.reshape(flat, length, head_dim)
        # P_ij = exp(s q_i·k_j - lse_i) on the word columns: (B·H, T, D)(B·H, D, M) -> (B·H, T, M)
        probs = torch.baddbmm(-lse.reshape(flat, length, 1), query_flat,
                              key_words.reshape(flat, width, head_dim).transpose(1, 2), alpha=scale)
        probs = probs.exp_().view(batch, heads, length, width).masked_fill_(~allowed, 0.0)
        word_mass = torch.bmm(probs.mean(dim=1), member.transpose(1, 2))  # (B, T, M)(B, M, N2) -> (B, T, N2)
        ctx.save_for_backward(query, key, value, out, lse, additive, index, member, probs, key_words, query_flat)
        ctx.causal, ctx.scale = causal, scale
        return out, word_mass

    @staticmethod
    def backward(ctx, grad_out, grad_mass):
        query, key, value, out, lse, additive, index, member, probs, key_words, query_flat = ctx.saved_tensors
        batch, heads, length, head_dim = query.shape
        width, flat, scale = index.shape[1], batch * heads, ctx.scale
        grad_out = torch.zeros_like(out) if grad_out is None else grad_out
        if grad_mass is None:
            grad_mass = out.new_zeros(batch, length, member.shape[1])
        per_word = torch.bmm(grad_mass, member).div_(heads)  # g: (B, T, N2)(B, N2, M) -> (B, T, M)
        d_scores = probs * per_word[:, None]  # P ∘ g on the word columns (B, H, T, M)
        extra = d_scores.sum(dim=-1)  # E_i (B, H, T)
        norm2 = torch.linalg.vecdot(grad_out, grad_out)
        usable = norm2 > torch.finfo(norm2.dtype).tiny ** 0.5
        coefficient = torch.where(usable, extra / torch.where(usable, norm2, 1.0), 0.0)
        shifted = torch.addcmul(out, coefficient[..., None], grad_out, out=torch.empty_like(out))  # dO·out' = D + E
        grad_q, grad_k, grad_v = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
            grad_out, query, key, value, shifted, lse, 0.0, ctx.causal, attn_mask=additive, scale=scale)
        d_scores = d_scores.view(flat, length, width)
        grad_q = torch.baddbmm(grad_q.reshape(flat, length, head_dim), d_scores,
                               key_words.reshape(flat, width, head_dim), alpha=scale).view_as(query)
        grad_key_words = torch.bmm(d_scores.transpose(1, 2), query_flat).mul_(scale)
        index4 = index[:, None, :, None].expand(-1, heads, -1, head_dim)
        grad_k.scatter_add_(2, index4, grad_key_words.view(batch, heads, width, head_dim))
        stuck = (~usable) & (extra != 0)
        if stuck.any():
            grad_q, grad_k = _explicit_normaliser_grad(query, key, lse, extra, stuck, additive, ctx.causal, scale, grad_q, grad_k)
        return grad_q, grad_k, grad_v, None, None, None


DENSE_FALLBACK_LIMIT = 1 << 22  # B·H·T² up to which the rows below are done densely (16 MiB in fp32)


def _explicit_normaliser_grad(query, key, lse, extra, rows, additive, causal, scale, grad_q, grad_k):
    """Add -E_i ∂lse_i for `rows` (B, H, T): dq_i -= s E_i Σ_j P_ij k_j, dk_j -= s Σ_i E_i P_ij q_i.

    Small problems: densely, one transient (B·H, T, T) map. Large ones: one more flash backward,
    with value v_j = e_1, out = 0 and grad_out_i = -E_i e_1, whose dS_ij = P_ij (dO_i·v_j - dO_i·out_i)
    = -E_i P_ij, so its dq and dk are exactly these terms.
    """
    batch, heads, length, head_dim = query.shape
    row_weight = torch.where(rows, -extra, 0.0)  # (B, H, T)
    if batch * heads * length * length <= DENSE_FALLBACK_LIMIT:
        flat = batch * heads
        q, k = query.reshape(flat, length, head_dim), key.reshape(flat, length, head_dim)
        probs = torch.baddbmm(-lse.reshape(flat, length, 1), q, k.transpose(1, 2), alpha=scale).exp_()
        probs = probs.view(batch, heads, length, length)
        if additive is not None:
            probs = probs.masked_fill_(additive == float("-inf"), 0.0)
        if causal:
            probs = probs.tril_()
        weights = probs.mul_((scale * row_weight)[..., None]).view(flat, length, length)
        more_q = torch.bmm(weights, k).view_as(query)
        more_k = torch.bmm(weights.transpose(1, 2), q).view_as(key)
        return grad_q + more_q, grad_k + more_k
    direction = torch.zeros_like(query)
    direction[..., 0] = 1.0
    more_q, more_k, _ = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
        direction * row_weight[..., None], query, key, direction, torch.zeros_like(query), lse, 0.0, causal,
        attn_mask=additive, scale=scale)
    return grad_q + more_q, grad_k + more_k


def word_columns(words: torch.Tensor, mask: torch.Tensor | None, causal: bool, length: int, dtype: torch.dtype) -> tuple:
    """What the CPU path needs of `words` (B, N2, T) and the mask, computed once for all layers:
    word-token index (B, M), membership (B, N2, M), allowed (B, 1|H, T, M), additive mask."""
    index, valid, member = _word_columns(words)
    allowed = _allowed(mask, causal, length, index) & valid[:, None, None, :]
    return index, member.to(dtype), allowed, _additive(mask, dtype)


def flash_cpu_with_word_mass(query, key, value, words, mask, causal: bool, scale: float, columns: tuple | None = None):
    """`sdpa_with_word_mass` for CPU without dropout: same outputs, at the cost of a plain flash call."""
    columns = columns or word_columns(words, mask, causal, query.shape[2], query.dtype)
    return _FlashWordMassCPU.apply(query, key, value, columns, causal, scale)
