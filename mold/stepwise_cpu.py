"""CPU path of the stepwise attention (see mold.stepwise_kernel): no extra value columns.

The flash kernel runs at the model's own head size and returns each query row's log-normaliser
lse_i; the attention probabilities on the M critical-word tokens are then
P_ji = exp(s k_j·q_i + m_ij - lse_i) (m: the additive mask), a small (M × T) product per head, and
mean_h(W P_h) (or, with step memberships, A_l itself) follows. The backward is written by hand
(below). With a `RouterPooling` request the same call pools the router's input
(`mold.molsaki.rms_sums`) from the values it already holds.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from mold.molsaki import RouterPooling, rms_sums, rms_sums_grad, rms_sums_radial

LOG2_E = 1.0 / math.log(2.0)


def repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, KV, T, D) -> (B, KV·groups, T, D): each KV head repeated for the `groups` query heads it serves."""
    return x if groups == 1 else x.repeat_interleave(groups, dim=1)


def sum_repeated_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, KV·groups, T, D) -> (B, KV, T, D): the gradients of `repeat_kv`'s copies summed onto their KV head."""
    if groups == 1:
        return x
    batch, heads, length, head_dim = x.shape
    return x.view(batch, heads // groups, groups, length, head_dim).sum(2)


def per_token(value: torch.Tensor) -> torch.Tensor:
    """(B, KV, T, D) -> (B, T, KV·D), each token's values with heads concatenated, the router's input
    (a view for the usual layouts, where the heads were split off one projection)."""
    return value.transpose(1, 2).flatten(2)


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


def _on_columns(mask: torch.Tensor, rows: int, index: torch.Tensor) -> torch.Tensor:
    """`mask` (B or 1, 1 or H, T, T) read on the key columns `index` (B, M): (B, 1 or H, T, M)."""
    full = mask.expand(index.shape[0], -1, rows, -1)
    return full.gather(3, index[:, None, None, :].expand(-1, full.shape[1], rows, -1))


def _additive(mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    if mask is None or mask.dtype != torch.bool:
        return mask
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, float("-inf"))


def _lift_scale(dtype: torch.dtype) -> float:
    """κ = max^-½ of `dtype` (5e-20 in fp32): lifts are κ |E_i|, so E_i / dO'_i[0] stays below √max."""
    return torch.finfo(dtype).max ** -0.5


def _lift_for_extra(grad_out: torch.Tensor, extra: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(dO', δ) such that dO'_i·(out_i + δ_i e_1) = dO_i·out_i + E_i: the flash backward, handed dO' and
    out' = out + δ e_1, then computes its row terms D_i raised by E_i (any layout: the last dimension is
    the head's, the others are matched elementwise).

    δ_i = E_i / dO'_i[0], where dO'_i[0] = dO_i[0] + sign(dO_i[0]) λ_i (sign + at 0) and λ_i = κ |E_i|
    (κ: `_lift_scale`), so that |δ_i| ≤ 1/κ even where dO_i = 0 (e.g. tokens whose last-layer output no
    loss reads), and below 2^p/κ (p: mantissa bits) where the lift rounds away: finite in fp32/bf16/fp64
    (not in fp16, whose range is too small). Where dO_i[0] is not below ~κ |E_i| the lift is below its
    rounding and changes nothing (dO is then not copied). Elsewhere it adds P_ij λ_i (v_j[0] - out_i[0])
    to dS_ij and Σ_i P_ij λ_i e_1 to dV_j: relative to the P_ij E_i that dS_ij carries, at most
    2κ max_j |v_j[0]| (1e-19·|v| in fp32), so no bound on v needs reading. A row with dO_i[0] = 0 and
    λ_i = 0 (|E_i| < tiny/κ, 2e-19 in fp32) keeps out_i: its E_i is dropped.
    The first coordinates are gathered once (each strided read touches every row of dO).
    """
    extra, first = extra.contiguous(), grad_out[..., 0].contiguous()
    lifted = torch.copysign(extra.abs().mul_(_lift_scale(grad_out.dtype)), first).add_(first)
    if not torch.equal(lifted, first):  # some row is lifted
        grad_out = grad_out.clone()
        grad_out[..., 0] = lifted
    return grad_out, extra.div_(lifted.masked_fill_(lifted == 0, 1.0))


def _flash_backward_raised(grad_out, query, key, value, out, lse, extra, causal: bool, additive, scale: float):
    """The flash backward with every D_i = dO_i·out_i raised by E_i = `extra` (see `_lift_for_extra`).
    out' is written into `out` itself for the call and its first coordinates are put back bit for bit
    afterwards (its autograd version is kept): no copy of out, and a second backward sees out unchanged."""
    grad_out, shift = _lift_for_extra(grad_out, extra)
    first = out[..., 0].clone()
    with torch.autograd._unsafe_preserve_version_counter(out):
        out[..., 0] += shift
        try:
            grads = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
                grad_out, query, key, value, out, lse, 0.0, causal, attn_mask=additive, scale=scale)
        finally:
            out[..., 0] = first
    return grads


def _lowest_exponent(dtype: torch.dtype) -> float:
    """½ log2(tiny): base-2 exponents are raised to it before exp2(), so P_ij ≥ √tiny (1e-19 in fp32)
    where not masked. Products of smaller P with gradients would be subnormal (a slow path on CPU),
    for results that are 0 anyway at the resolution of a word mass (a sum of M probabilities)."""
    return 0.5 * math.log2(torch.finfo(dtype).tiny)


class _FlashWordMassCPU(torch.autograd.Function):
    """CPU path: the flash kernel at the model's own head size, plus P on the word columns only.

    Forward: out, lse = flash(q, k, v); for the M word-token keys, P_ji = exp(s k_j·q_i + m_ij - lse_i),
    so word_mass = mean_h P_word · member (no extra value columns, no padding of q/k). P is computed as
    exp2 of the exponent times log2(e) (folded into the product's scales): torch's exp2 on CPU takes a
    third of exp's time for the same accuracy here.
    Backward: with G the upstream gradient of word_mass, per head g_ji = Σ_c G_ic w_cj / H on the
    word columns and E_i = Σ_j P_ji g_ji,
        dS_ij = P_ij (dO_i·v_j - D_i - E_i) + P_ij g_ij.
    The first part is the flash backward with D_i = dO_i·out_i raised by E_i, obtained by handing
    it out' = out + (E_i / dO'_i[0]) e_1 (dO_i[0] lifted away from 0 where needed: `_lift_for_extra`); the
    second is dense only on the M word columns.
    Word columns are rows here: P is (B, H, M, T), so that every small product has the long token axis
    contiguous in its output or its reduction (measured 15-40% faster than (T, M) products at head size
    16), and (B, H) are folded into one batch dimension for them.

    Where the columns carry the step memberships S, the second output is A_l = S · word_mass (B, N1, N2)
    itself (§3.2), and G = Sᵀ dA_l is never formed: g comes from (dA_l W/H)ᵀ S.

    Keys and values come as the module has them, `groups` query heads per KV head (repeated here, their
    gradients summed back). With `pooling`, the third output is the router's `rms_sums` of this layer's
    values (B, KV·D), taken while the values are in cache; its gradient is added into dV in place.
    The order of the steps follows the cache (with the in-call A_l, ≈ 1% of a mini step in all): the
    values are pooled before the flash call and their radial factor read before the flash backward, which
    read them next; the word columns' dQ and dK products run while P ∘ g is fresh.
    """

    @staticmethod
    def forward(ctx, query, key, value, columns, causal: bool, scale: float, groups: int, pooling: RouterPooling | None):
        batch, heads, length, head_dim = query.shape
        sums = inverse_rms = None
        if pooling is not None:  # §3.3: the router's Σ_i x_i / rms(x_i), x_i = token i's values, heads concatenated
            sums, inverse_rms = rms_sums(per_token(value), pooling.keep, pooling.eps)  # while the values are in cache
        key_all, value_all = repeat_kv(key, groups), repeat_kv(value, groups)
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            query, key_all, value_all, 0.0, causal, attn_mask=columns.additive, scale=scale)
        width, flat = columns.index.shape[2], batch * heads
        # k_j for the word keys (B·H, M, D); queries as (B·H, T, D)
        key_words = key_all.gather(2, columns.index).view(flat, width, head_dim)
        query_flat = query.reshape(flat, length, head_dim)
        # log2(e) (s k_j·q_i - lse_i) on the word columns: -(B·H, 1, T) + (B·H, M, D)(B·H, D, T) -> (B·H, M, T)
        exponent = torch.baddbmm(lse.reshape(flat, 1, length), key_words, query_flat.transpose(1, 2),
                                 beta=-LOG2_E, alpha=scale * LOG2_E)
        exponent = exponent.view(batch, heads, width, length)
        if columns.bias is not None:
            exponent.add_(columns.bias, alpha=LOG2_E)
        # Exponents above 0 are rounding (P ≤ 1) or masked keys (which `allowed` zeroes next, so no inf·0).
        probs = exponent.clamp_(_lowest_exponent(exponent.dtype), 0.0).exp2_()  # P_ji = exp(s k_j·q_i + m_ij - lse_i)
        if columns.allowed.shape[1] > 1:  # a per-head mask; otherwise the mask is applied after the head sum
            probs.mul_(columns.allowed)
        head_sum = probs.sum(dim=1).mul_(columns.allowed_any)  # H mean_h P_h on the word columns (B, M, T)
        if columns.steps is None:  # mean_h W P_h: (B, N2, M)(B, M, T) -> (B, N2, T), with 1/H in `member`; as (B, T, N2)
            mass = torch.bmm(columns.member, head_sum).transpose(1, 2)
        else:  # §3.2: A_l = S mean_h(P_h Wᵀ) = (S (H mean_h P_h)ᵀ)(W/H)ᵀ: (B, N1, T)(B, T, M) -> (B, N1, M), then (B, M, N2)
            steps = columns.steps
            mass = torch.bmm(torch.bmm(steps, head_sum.to(steps.dtype).transpose(1, 2)), columns.member.transpose(1, 2))
        ctx.save_for_backward(query, key_all, value_all, value, out, lse, probs, key_words, query_flat, inverse_rms)
        ctx.columns, ctx.causal, ctx.scale, ctx.groups = columns, causal, scale, groups
        return out, mass, sums

    @staticmethod
    def backward(ctx, grad_out, grad_mass, grad_sums):
        query, key_all, value_all, value, out, lse, probs, key_words, query_flat, inverse_rms = ctx.saved_tensors
        columns, scale, groups = ctx.columns, ctx.scale, ctx.groups
        batch, heads, length, head_dim = query.shape
        width, flat = columns.index.shape[2], batch * heads
        out_used = grad_out is not None
        grad_out = grad_out if out_used else torch.zeros_like(out)
        # the router pooling's per-token factor now: the flash backward then finds the values in cache
        radial = rms_sums_radial(per_token(value), inverse_rms, grad_sums) if grad_sums is not None else None
        # g (with 1/H) on the word columns (B, M, T), zero where masked (which zeroes P ∘ g there)
        if grad_mass is None:
            per_word = out.new_zeros(batch, width, length)
        elif columns.steps is None:  # (B, M, N2)(B, N2, T)
            per_word = torch.bmm(columns.member.transpose(1, 2), grad_mass.transpose(1, 2)).mul_(columns.allowed_any)
        else:  # from dA_l: ((dA_l (W/H)) (B, N1, M))ᵀ S: (B, M, N1)(B, N1, T)
            steps = columns.steps
            per_step = torch.bmm(grad_mass.to(steps.dtype), columns.member)
            per_word = torch.bmm(per_step.transpose(1, 2), steps).to(probs.dtype).mul_(columns.allowed_any)
        d_scores = (probs * per_word[:, None]).view(flat, width, length)  # P ∘ g on the word columns (B·H, M, T)
        extra = d_scores.sum(dim=1).view(batch, heads, length)  # E_i = Σ_j (P ∘ g)_ji
        # the word columns' shares of dQ and dK, while P ∘ g is in cache: (B·H, T, M)(B·H, M, D), (B·H, M, T)(B·H, T, D)
        word_grad_q = torch.bmm(d_scores.transpose(1, 2), key_words).view(batch, heads, length, head_dim)
        grad_key_words = torch.bmm(d_scores, query_flat).mul_(scale)
        del d_scores
        grad_q, grad_k, grad_v = _flash_backward_raised(grad_out, query, key_all, value_all, out, lse, extra, ctx.causal,
                                                        columns.additive, scale)  # D + E
        grad_v = sum_repeated_kv(grad_v, groups) if out_used else None
        if grad_sums is not None:  # while dV is in cache
            grad_v = _add_pooling_grad(grad_v, value, inverse_rms, grad_sums, radial)
        grad_q.add_(word_grad_q, alpha=scale)
        grad_k.scatter_add_(2, columns.index, grad_key_words.view(batch, heads, width, head_dim))
        return grad_q, sum_repeated_kv(grad_k, groups), grad_v, None, None, None, None, None


def _add_pooling_grad(grad_v: torch.Tensor | None, value: torch.Tensor, inverse_rms: torch.Tensor,
                      grad_sums: torch.Tensor, radial: torch.Tensor) -> torch.Tensor:
    """grad_v + d rms_sums / d value for the upstream `grad_sums` (B, KV·D), given `radial` = `rms_sums_radial`,
    added in place where grad_v is float32 (two passes, no temporary of its size): dx_i = r_i g + radial_i x_i
    (`rms_sums_grad`)."""
    batch, kv_heads, length, head_dim = value.shape
    if grad_v is None or grad_v.dtype != inverse_rms.dtype:
        pooled = rms_sums_grad(per_token(value), inverse_rms, grad_sums, radial).view(batch, length, kv_heads, head_dim).transpose(1, 2)
        return pooled.to(value.dtype) if grad_v is None else grad_v.add_(pooled.to(grad_v.dtype))
    per_head = (lambda t: t[:, None, :, None])  # (B, T) -> (B, 1, T, 1)
    return grad_v.addcmul_(value, per_head(radial)).addcmul_(per_head(inverse_rms), grad_sums.view(batch, kv_heads, 1, head_dim))


class WordColumns(NamedTuple):
    """What the CPU path needs of the critical words and the mask, computed once for all layers."""

    index: torch.Tensor  # (B, H, M, D) key positions of the word tokens, expanded for gather/scatter on (B, H, T, D)
    member: torch.Tensor  # (B, N2, M) 1/H where a column belongs to a word (0 for padding columns): × P sums to mean_h;
    # in the dtype of `steps` where those are carried
    bias: torch.Tensor | None  # (B, 1|H, M, T) a float mask's additive values on the word columns
    allowed: torch.Tensor  # (B, 1|H, M, T|1) 0/1: where attention may look
    allowed_any: torch.Tensor  # (B, M, T|1) the same for any head
    additive: torch.Tensor | None  # the full mask, additive, for the flash kernel
    steps: torch.Tensor | None = None  # (B, N1, T) step memberships: the call then returns A_l (B, N1, N2) itself


def word_columns(words: torch.Tensor, mask: torch.Tensor | None, causal: bool, query_shape: torch.Size,
                 dtype: torch.dtype, steps: torch.Tensor | None = None) -> WordColumns:
    """`WordColumns` of `words` (B, N2, T) under `mask` (bool or additive, or None) and `causal`, for
    queries of shape (B, H, T, D); with `steps` (B, N1, T), the CPU call returns A_l (B, N1, N2) computed in
    float32 at least (instead of the word mass (B, T, N2))."""
    _, heads, length, head_dim = query_shape
    index, valid, member = _word_columns(words)
    allowed, bias = valid[:, None, :, None], None  # (B, 1, M, 1)
    if mask is not None:
        on_columns = _on_columns(mask, length, index).transpose(2, 3)  # (B, 1|H, M, T)
        if mask.dtype == torch.bool:
            allowed = allowed & on_columns
        else:
            allowed, bias = allowed & (on_columns > float("-inf")), on_columns.to(dtype).contiguous()
    if causal:  # query i sees column j from i = index_j on; a padding column (limit T) nowhere
        limit = torch.where(valid, index, length)[:, None, :, None]
        reach = torch.arange(length, device=index.device) >= limit  # (B, 1, M, T)
        allowed = reach if mask is None else allowed & reach
    allowed_as = allowed.to(dtype).contiguous()
    allowed_any = allowed_as[:, 0] if allowed.shape[1] == 1 else allowed.any(dim=1).to(dtype)
    if steps is not None:
        steps = steps.to(torch.promote_types(dtype, torch.float32))
    member = member.to(dtype if steps is None else steps.dtype) / heads
    return WordColumns(index[:, None, :, None].expand(-1, heads, -1, head_dim), member, bias,
                       allowed_as, allowed_any, _additive(mask, dtype), steps)


def flash_cpu_with_word_mass(query, key, value, words, mask, causal: bool, scale: float, columns: WordColumns | None = None):
    """`sdpa_with_word_mass` for CPU without dropout: same outputs, at the cost of a plain flash call."""
    out, word_mass, _ = flash_cpu_stepwise(query, key, value, columns or word_columns(words, mask, causal, query.shape, query.dtype),
                                           causal, scale)
    return out, word_mass


def flash_cpu_stepwise(query, key, value, columns: WordColumns, causal: bool, scale: float, groups: int = 1,
                       pooling: RouterPooling | None = None):
    """(out, word mass (B, T, N2) or A_l (B, N1, N2) where `columns` carry steps, router sums or None) for keys
    and values with `groups` query heads each (see `_FlashWordMassCPU`)."""
    return _FlashWordMassCPU.apply(query, key, value, columns, causal, scale, groups, pooling)
