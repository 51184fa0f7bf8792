"""Stepwise attention A_l from a model's own forward pass (paper §3.2; docs/performance.md).

For one forward inside `stepwise_maps(model, steps, words)`, every layer appends
A_l[b, a, c] = Σ_{i∈step a, j∈word c} mean_h P_h[i, j] = S · mean_h(P_h) · Wᵀ
(S: steps × tokens, W: words × tokens, 0/1 memberships) and, when asked, the value vectors the
layer attended over (the router's input, Eq. 5). Two implementations, both registered with
transformers' attention interface, so any model whose attention goes through that interface works:

- `mold_eager` (the reference): materialises P (B, H, T, T), then reduces it;
- `mold_stepwise` (default, every device): the word indicators ride along as extra value columns
  of one fused SDPA call, P_h · [V_h | Wᵀ] = [P_h V_h | P_h Wᵀ], so P is never materialised and the
  kernel's own backward serves L_att. Queries and keys are zero-padded to the extended head size
  (q·k unchanged) so that the fused kernels apply.

Outside a `stepwise_maps` block both are plain attention. They agree within 1e-5 in fp32
(tests/molsaki/test_attention.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

EAGER = "mold_eager"
EFFICIENT = "mold_stepwise"
IMPLEMENTATIONS = {"eager": EAGER, "efficient": EFFICIENT}  # config `loss.attention_impl` -> registered name
HEAD_DIM_MULTIPLE = 8  # CUDA's fused kernels want head sizes in multiples of 8


class _Collector(threading.local):
    steps: torch.Tensor | None = None  # (B, N1, T)
    words: torch.Tensor | None = None  # (B, N2, T)
    maps: list[torch.Tensor] | None = None  # A_l per layer, (B, N1, N2)
    values: list[torch.Tensor] | None = None  # per layer (B, T, KV·D), when the router asks


_collector = _Collector()


def repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, KV, T, D) -> (B, KV·groups, T, D): each KV head repeated for the query heads it serves."""
    return x if groups == 1 else x.repeat_interleave(groups, dim=1)


def per_token(value: torch.Tensor) -> torch.Tensor:
    """(B, KV, T, D) -> (B, T, KV·D): each token's value vectors, heads concatenated (the router's V_l)."""
    return value.transpose(1, 2).flatten(2)


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


def _call_args(module, query, key, attention_mask, dropout, scaling, is_causal):
    """What both implementations share: the layer's KV grouping, causal flag, mask, dropout and scale."""
    groups = getattr(module, "num_key_value_groups", 1)
    causal = query.shape[2] > 1 and attention_mask is None and (is_causal if is_causal is not None else getattr(module, "is_causal", True))
    mask = attention_mask[:, :, :, : key.shape[-2]] if attention_mask is not None else None
    dropout = dropout if module.training else 0.0
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    return groups, causal, mask, dropout, scale


def _record(value: torch.Tensor, layer_map: torch.Tensor) -> None:
    if _collector.values is not None:  # the router's input, before the KV groups are repeated
        _collector.values.append(per_token(value))
    _collector.maps.append(layer_map)


def efficient_forward(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, **kwargs):
    """`mold_stepwise`: SDPA output (B, T, H, D); inside `stepwise_maps`, A_l from the value columns."""
    groups, causal, mask, dropout, scale = _call_args(module, query, key, attention_mask, dropout, scaling, is_causal)
    if _collector.maps is None:
        out = F.scaled_dot_product_attention(query, repeat_kv(key, groups), repeat_kv(value, groups),
                                             attn_mask=mask, dropout_p=dropout, scale=scale, is_causal=causal)
        return out.transpose(1, 2).contiguous(), None
    out, word_mass = sdpa_with_word_mass(query, repeat_kv(key, groups), repeat_kv(value, groups), _collector.words,
                                         mask, causal, scale, dropout)
    acc = torch.promote_types(word_mass.dtype, torch.float32)
    _record(value, _collector.steps.to(acc) @ word_mass.to(acc))  # §3.2: S · mean_h(P_h Wᵀ), (B, N1, T) @ (B, T, N2)
    return out.transpose(1, 2).contiguous(), None


def eager_forward(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, **kwargs):
    """`mold_eager`: the reference. Softmax(q·kᵀ) materialised; inside `stepwise_maps`, A_l = S · mean_h(P) · Wᵀ."""
    groups, causal, mask, dropout, scale = _call_args(module, query, key, attention_mask, dropout, scaling, is_causal)
    key_r, value_r = repeat_kv(key, groups), repeat_kv(value, groups)
    scores = query @ key_r.transpose(-1, -2) * scale  # (B, H, T, T)
    if causal:
        length = scores.shape[-1]
        mask = torch.ones(length, length, dtype=torch.bool, device=scores.device).tril()
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min) if mask.dtype == torch.bool else scores + mask
    probs = torch.softmax(scores.float(), dim=-1).to(query.dtype)
    probs = F.dropout(probs, p=dropout, training=dropout > 0)
    out = probs @ value_r  # (B, H, T, D)
    if _collector.maps is not None:
        acc = torch.promote_types(probs.dtype, torch.float32)
        head_mean = probs.mean(dim=1).to(acc)  # (B, H, T, T) -> (B, T, T)
        _record(value, _collector.steps.to(acc) @ head_mean @ _collector.words.to(acc).transpose(1, 2))  # §3.2
    return out.transpose(1, 2).contiguous(), None


def register(kind: str = "efficient") -> str:
    """Register both implementations with transformers; return the name behind `loss.attention_impl`."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    for name, forward in ((EAGER, eager_forward), (EFFICIENT, efficient_forward)):
        AttentionInterface.register(name, forward)
        ALL_MASK_ATTENTION_FUNCTIONS.register(name, sdpa_mask)
    return IMPLEMENTATIONS[kind]


def group_matrices(groups: list[list[list[int]]], length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per example a list of token-index groups -> padded 0/1 membership (B, G, T) and mask (B, G)."""
    width = max((len(g) for g in groups), default=0)
    member = torch.zeros((len(groups), max(width, 1), length), device=device)
    mask = torch.zeros((len(groups), max(width, 1)), dtype=torch.bool, device=device)
    for b, example_groups in enumerate(groups):
        for g, tokens in enumerate(example_groups):
            member[b, g, tokens] = 1.0
            mask[b, g] = True
    return member, mask


@contextmanager
def stepwise_maps(model, steps: torch.Tensor, words: torch.Tensor,
                  values: list[torch.Tensor] | None = None) -> Iterator[list[torch.Tensor]]:
    """Inside the block, each layer of `model`'s next forward appends its A_l (B, N1, N2) to the yielded list;
    with `values` (a list), each layer's value vectors (B, T, KV·D) are appended to it."""
    if model.config._attn_implementation not in (EAGER, EFFICIENT):
        raise RuntimeError(f"{type(model).__name__} was not loaded with a mold attention implementation "
                           f"(got {model.config._attn_implementation!r}; load it with attn_implementation=register())")
    _collector.steps, _collector.words, _collector.maps, _collector.values = steps, words, [], values
    try:
        yield _collector.maps
    finally:
        _collector.steps = _collector.words = _collector.maps = _collector.values = None
