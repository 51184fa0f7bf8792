"""Efficient stepwise attention: a fused SDPA kernel for the layer output, and only what L_att needs.

Registered with transformers' attention interface as `mold_stepwise`. Outside a
`collect_stepwise(...)` block it is plain SDPA. Inside, each layer runs a fused kernel that
also returns every query row's softmax log-normaliser, and `StepwiseMaps` computes
A_l[b, a, c] = Σ_{i∈step a, j∈word c} mean_h P_h[i, j] (§3.2) from the critical-word columns
only (O(T·C·D), C = critical-word tokens). Its backward recomputes the softmax rows chunk by
chunk, so no (B, H, T, T) probability map is ever stored — neither in a no-grad teacher pass
nor for a student's backward. Equals the eager reference within 1e-5 in fp32
(tests/test_stepwise_kernel.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

IMPLEMENTATION = "mold_stepwise"
ROW_CHUNK = 256  # query rows per recomputed block: memory ~ B·H·ROW_CHUNK·T


def _acc(t: torch.Tensor) -> torch.dtype:
    """Softmax/accumulation dtype: at least float32. Matmuls run in the input dtype (bf16 tensor
    cores under autocast), as fused attention kernels do; fp32 inputs stay fp32 throughout."""
    return torch.promote_types(t.dtype, torch.float32)


def _row_logits(q_rows: torch.Tensor, k: torch.Tensor, keep_rows: torch.Tensor | None, scale: float) -> torch.Tensor:
    """Masked attention logits for a block of query rows: (B, H, R, D), (B, H, T, D) -> (B, H, R, T), >= fp32."""
    logits = (q_rows @ k.transpose(-1, -2)).to(_acc(q_rows)) * scale
    return logits if keep_rows is None else logits.masked_fill(~keep_rows, float("-inf"))


def _row_probs(q_rows: torch.Tensor, k: torch.Tensor, keep_rows: torch.Tensor | None, scale: float) -> torch.Tensor:
    """softmax over keys for a block of query rows: (B, H, R, T), >= fp32; fully masked rows -> 0."""
    probs = torch.softmax(_row_logits(q_rows, k, keep_rows, scale), dim=-1)
    return torch.nan_to_num(probs, nan=0.0)  # fully masked rows (padding queries) -> 0


class StepwiseMaps(torch.autograd.Function):
    """A = S · mean_h softmax(q kᵀ·scale + mask) · Wᵀ without storing the softmax (recomputed in backward)."""

    @staticmethod
    def forward(ctx, q, k, keep, steps, words, scale, lse):
        """q, k: (B, H, T, D); keep: (B, 1|H, T, T) bool or None; lse: (B, H, T) row normalisers (no grad).

        Only the critical-word columns are computed: P[i, j] = exp(q_i·k_j·scale - lse_i), O(T·C·D)."""
        acc, heads = _acc(q), q.shape[1]
        cols = words.sum(dim=(0, 1)).nonzero().squeeze(-1)  # (C,) tokens that belong to some critical word
        logits = (q @ k[:, :, cols].transpose(-1, -2)).to(acc) * scale  # (B, H, T, C)
        if keep is not None:
            logits = logits.masked_fill(~keep[..., cols], float("-inf"))
        probs = torch.exp(logits - lse.to(acc)[..., None]).sum(dim=1) / heads  # (B, T, C), head mean
        out = steps.to(acc) @ probs @ words[:, :, cols].to(acc).transpose(1, 2)  # (B,N1,T)(B,T,C)(B,C,N2)
        ctx.save_for_backward(q, k, keep, steps, words)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx, grad_out):  # grad_out: (B, N1, N2)
        q, k, keep, steps, words = ctx.saved_tensors
        scale, heads = ctx.scale, q.shape[1]
        acc = _acc(q)
        grad_q = torch.zeros_like(q, dtype=acc)
        grad_k = torch.zeros_like(k, dtype=acc)
        # dL/dP_h[i, j] = (1/H) Σ_a,c S[a, i] g[a, c] W[c, j]: the same for every head
        grad_probs_all = steps.to(acc).transpose(1, 2) @ grad_out.to(acc) @ words.to(acc) / heads  # (B, T, T)
        for rows in _row_blocks(q.shape[2]):
            probs = _row_probs(q[:, :, rows], k, None if keep is None else keep[:, :, rows], scale)  # (B, H, R, T)
            grad_probs = grad_probs_all[:, None, rows]  # (B, 1, R, T)
            grad_logits = probs * (grad_probs - (grad_probs * probs).sum(-1, keepdim=True)) * scale  # softmax backward
            grad_logits = grad_logits.to(q.dtype)
            grad_q[:, :, rows] = grad_logits @ k
            grad_k += grad_logits.transpose(-1, -2) @ q[:, :, rows]
        return grad_q.to(q.dtype), grad_k.to(k.dtype), None, None, None, None, None


class _Collector(threading.local):
    steps: torch.Tensor | None = None
    words: torch.Tensor | None = None
    maps: list[torch.Tensor] | None = None


_collector = _Collector()


def _repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    return x if groups == 1 else x.repeat_interleave(groups, dim=1)


def _additive(keep: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill(~keep, torch.finfo(dtype).min)


def attention_with_lse(query, key, value, keep, causal: bool, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """SDPA output (B, H, T, D) and each query row's log-normaliser (B, H, T) from one fused kernel
    (flash on CPU and for bf16/fp16 causal CUDA, memory-efficient otherwise); else a chunked fallback."""
    try:
        if query.device.type == "cpu":
            bias = None if keep is None else _additive(keep, query.dtype)
            out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
                query, key, value, 0.0, causal and bias is None, attn_mask=bias, scale=scale)
            return out, lse
        if keep is None and causal and query.dtype in (torch.float16, torch.bfloat16):
            out, lse = torch.ops.aten._scaled_dot_product_flash_attention(query, key, value, 0.0, True, False, scale=scale)[:2]
            return out, lse
        bias = None if keep is None else _additive(keep, query.dtype).expand(-1, query.shape[1], -1, -1)
        out, lse = torch.ops.aten._scaled_dot_product_efficient_attention(
            query, key, value, bias, True, 0.0, causal and bias is None, scale=scale)[:2]
        return out, lse[..., : query.shape[2]]
    except (RuntimeError, NotImplementedError):  # an unsupported shape/dtype: plain SDPA + chunked normalisers
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=keep, is_causal=causal and keep is None, scale=scale)
        with torch.no_grad():
            lse = torch.cat([_row_logits(query[:, :, r], key, None if keep is None else keep[:, :, r], scale).logsumexp(-1)
                             for r in _row_blocks(query.shape[2])], dim=-1)
        return out, lse


def _row_blocks(length: int) -> list[slice]:
    return [slice(start, start + ROW_CHUNK) for start in range(0, length, ROW_CHUNK)]


def stepwise_sdpa_forward(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, **kwargs):
    """Attention-interface entry: SDPA output (B, T, H, D); records A_l when collecting."""
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = _repeat_kv(key, groups), _repeat_kv(value, groups)
    causal = query.shape[2] > 1 and attention_mask is None and (is_causal if is_causal is not None else getattr(module, "is_causal", True))
    mask = attention_mask[:, :, :, : key.shape[-2]] if attention_mask is not None else None
    if _collector.maps is None:
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout if module.training else 0.0,
                                             scale=scaling, is_causal=causal)
        return out.transpose(1, 2).contiguous(), None
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    keep = mask if mask is None or mask.dtype == torch.bool else mask > torch.finfo(mask.dtype).min / 2
    out, lse = attention_with_lse(query, key, value, keep, causal, scale)
    if keep is None and causal:
        t = query.shape[2]
        keep = torch.ones(t, t, dtype=torch.bool, device=query.device).tril()[None, None]
    keep = None if keep is None else keep.expand(query.shape[0], -1, -1, -1)
    _collector.maps.append(StepwiseMaps.apply(query, key, keep, _collector.steps, _collector.words, scale, lse.detach()))
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
        _collector.steps = _collector.words = _collector.maps = None
