"""Efficient stepwise attention: one fused SDPA call gives the layer output and A_l together.

Registered with transformers' attention interface as `mold_stepwise`. Outside a
`collect_stepwise(...)` block it is plain SDPA. Inside, each layer appends
A_l[b, a, c] = Σ_{i∈step a, j∈word c} mean_h P_h[i, j] (§3.2), computed without ever
materialising the (B, H, T, T) probabilities:

    P_h · [V_h | Wᵀ] = [P_h V_h | P_h Wᵀ]          (W: (N2, T) critical-word membership)

so the value vectors are extended with one indicator column per critical word, and the
fused kernel (flash / memory-efficient) returns the layer output and, per query token, its
attention mass on every critical word. A_l = S · mean_h(P_h Wᵀ). Gradients flow through the
kernel's own backward, which recomputes attention block by block: no N × N map is stored,
neither in a no-grad teacher pass nor for a student's backward. Queries and keys are padded
with zeros to the extended head size (q·k is unchanged) so the fused kernels apply.
Equals the eager reference within 1e-5 in fp32 (tests/test_stepwise_kernel.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

IMPLEMENTATION = "mold_stepwise"
HEAD_DIM_MULTIPLE = 8  # CUDA's fused kernels want head sizes in multiples of 8


class _Collector(threading.local):
    steps: torch.Tensor | None = None
    words: torch.Tensor | None = None
    maps: list[torch.Tensor] | None = None
    columns: tuple | None = None  # CPU path: word columns and their allowed mask, shared by all layers


_collector = _Collector()


def _repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    return x if groups == 1 else x.repeat_interleave(groups, dim=1)


def _pad_last(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.pad(x, (0, size - x.shape[-1]))


def sdpa_with_word_mass(query, key, value, words, mask, causal: bool, scale: float, dropout: float = 0.0):
    """SDPA output (B, H, T, D) and each query's head-averaged attention mass on each critical word (B, T, N2).

    `words` (B, N2, T) is the 0/1 word membership: its transpose rides along as extra value columns.
    """
    batch, heads, _, head_dim = value.shape
    extended = head_dim + words.shape[1]
    if query.device.type == "cuda":
        extended += -extended % HEAD_DIM_MULTIPLE
    indicators = words.transpose(1, 2).to(value.dtype)[:, None].expand(batch, heads, -1, -1)  # (B, H, T, N2)
    value = _pad_last(torch.cat([value, indicators], dim=-1), extended)
    query, key = _pad_last(query, extended), _pad_last(key, extended)  # zeros: q·k unchanged
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout, is_causal=causal, scale=scale)
    return out[..., :head_dim], out[..., head_dim : head_dim + words.shape[1]].mean(dim=1)


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


def stepwise_sdpa_forward(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, **kwargs):
    """Attention-interface entry: SDPA output (B, T, H, D); records A_l (B, N1, N2) when collecting."""
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = _repeat_kv(key, groups), _repeat_kv(value, groups)
    causal = query.shape[2] > 1 and attention_mask is None and (is_causal if is_causal is not None else getattr(module, "is_causal", True))
    mask = attention_mask[:, :, :, : key.shape[-2]] if attention_mask is not None else None
    dropout = dropout if module.training else 0.0
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    if _collector.maps is None:
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout, scale=scale, is_causal=causal)
        return out.transpose(1, 2).contiguous(), None
    if query.device.type == "cpu" and dropout == 0.0:
        if _collector.columns is None:
            _collector.columns = word_columns(_collector.words, mask, causal, query.shape[2], query.dtype)
        out, word_mass = flash_cpu_with_word_mass(query, key, value, _collector.words, mask, causal, scale, _collector.columns)
    else:
        out, word_mass = sdpa_with_word_mass(query, key, value, _collector.words, mask, causal, scale, dropout)
    acc = torch.promote_types(word_mass.dtype, torch.float32)
    # §3.2: A_l = S · mean_h(P_h Wᵀ): (B, N1, T) @ (B, T, N2)
    _collector.maps.append(_collector.steps.to(acc) @ word_mass.to(acc))
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    """Make `mold_stepwise` known to transformers (attention function + SDPA-style masks)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(IMPLEMENTATION, stepwise_sdpa_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(IMPLEMENTATION, sdpa_mask)
    return IMPLEMENTATION


@contextmanager
def collect_stepwise(steps: torch.Tensor, words: torch.Tensor) -> Iterator[list[torch.Tensor]]:
    """Inside the block, each `mold_stepwise` layer appends its A_l (B, N1, N2) to the yielded list."""
    _collector.steps, _collector.words, _collector.maps = steps, words, []
    try:
        yield _collector.maps
    finally:
        _collector.steps = _collector.words = _collector.maps = _collector.columns = None
