"""Efficient stepwise attention: the layer output and A_l from one fused attention kernel.

Registered with transformers' attention interface as `mold_stepwise`. Outside a
`collect_stepwise(...)` block it is plain SDPA. Inside, each layer appends
A_l[b, a, c] = Σ_{i∈step a, j∈word c} mean_h P_h[i, j] (§3.2) = S · mean_h(P_h Wᵀ)
(S: steps × tokens, W: words × tokens memberships), never materialising the (B, H, T, T)
probabilities, neither in a no-grad teacher pass nor for a student's backward.

Two implementations of `mean_h(P_h Wᵀ)`:
- here, for GPUs (and dropout): the indicators ride along as extra value columns of one fused
  SDPA call, P_h · [V_h | Wᵀ] = [P_h V_h | P_h Wᵀ], and the kernel's own backward (which recomputes
  attention block by block) serves L_att. Queries and keys are zero-padded to the extended head
  size (q·k unchanged) so that the fused kernels apply;
- `mold.stepwise_cpu` on CPU: the flash kernel at the model's own head size plus the word columns
  of P from its log-normalisers, with a hand-written backward; it also pools the router's input from
  the values while they are in cache.
Both equal the eager reference within 1e-5 in fp32 (tests/test_stepwise_kernel.py).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from mold.molsaki import RouterPooling, layer_rms_sums
from mold.stepwise_cpu import WordColumns, flash_cpu_stepwise, per_token, repeat_kv, word_columns

IMPLEMENTATION = "mold_stepwise"
HEAD_DIM_MULTIPLE = 8  # CUDA's fused kernels want head sizes in multiples of 8


class _Collector(threading.local):
    steps: torch.Tensor | None = None
    words: torch.Tensor | None = None
    maps: list[torch.Tensor] | None = None
    pooling: RouterPooling | None = None  # when asked for: the router's input
    values: list[torch.Tensor] | None = None  # with pooling, off the CPU path: each layer's values (B, T, KV·D)
    columns: WordColumns | None = None  # CPU path: `word_columns(...)`, shared by all layers of one forward


_collector = _Collector()


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


def _cpu_path(query: torch.Tensor, dropout: float) -> bool:
    """Whether `mold.stepwise_cpu` serves this call (CPU without dropout, not fp16, whose range its backward's
    lift does not fit); otherwise the value columns do."""
    return query.device.type == "cpu" and dropout == 0.0 and query.dtype != torch.float16


def stepwise_sdpa_forward(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, **kwargs):
    """Attention-interface entry: SDPA output (B, T, H, D); records A_l (B, N1, N2) when collecting."""
    groups = getattr(module, "num_key_value_groups", 1)
    causal = query.shape[2] > 1 and attention_mask is None and (is_causal if is_causal is not None else getattr(module, "is_causal", True))
    mask = attention_mask[:, :, :, : key.shape[-2]] if attention_mask is not None else None
    dropout = dropout if module.training else 0.0
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    if _collector.maps is None:
        key, value = repeat_kv(key, groups), repeat_kv(value, groups)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout, scale=scale, is_causal=causal)
        return out.transpose(1, 2).contiguous(), None
    if _cpu_path(query, dropout):
        if _collector.columns is None:
            _collector.columns = word_columns(_collector.words, mask, causal, query.shape, query.dtype, _collector.steps)
        out, layer_map, sums = flash_cpu_stepwise(query, key, value, _collector.columns, causal, scale, groups, _collector.pooling)
        _collector.maps.append(layer_map)  # A_l, from the call itself
        if sums is not None:
            _collector.pooling.sums.append(sums)
        return out.transpose(1, 2).contiguous(), None
    if _collector.pooling is not None:  # the router's input, before the KV groups are repeated
        _collector.values.append(per_token(value))
    out, word_mass = sdpa_with_word_mass(query, repeat_kv(key, groups), repeat_kv(value, groups), _collector.words,
                                         mask, causal, scale, dropout)
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
def collect_stepwise(steps: torch.Tensor, words: torch.Tensor, pooling: RouterPooling | None = None) -> Iterator[list[torch.Tensor]]:
    """Inside the block, each `mold_stepwise` layer appends its A_l (B, N1, N2) to the yielded list; with
    `pooling`, its router input goes to `pooling.sums` (pooled from the very values attention reads, so
    that their gradients meet there)."""
    _collector.steps, _collector.words, _collector.maps, _collector.pooling = steps, words, [], pooling
    _collector.values = [] if pooling is not None else None
    try:
        yield _collector.maps
        if _collector.values:  # off the CPU path: pool the collected values now
            pooling.sums.extend(layer_rms_sums(_collector.values, pooling.keep, pooling.eps).unbind(1))
    finally:
        _collector.steps = _collector.words = _collector.maps = _collector.columns = None
        _collector.pooling = _collector.values = None
