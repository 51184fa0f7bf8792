"""The student's side of L_att: value vectors and attention maps from the explain pass itself.

Value vectors (router input, SPEC §5) come from forward hooks on each layer's value projection:
`v_proj` for Llama/Qwen2, the value third of GPT-2's fused `c_attn`. Attention probabilities
come from the same forward (`output_attentions=True`, eager attention), so no extra pass is run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def value_modules(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """(module, kind) per layer, in layer order: kind 'v_proj' or 'c_attn' (fused q, k, v)."""
    found = [(m, "v_proj") for n, m in model.named_modules() if n.endswith("self_attn.v_proj")]
    if not found:
        found = [(m, "c_attn") for n, m in model.named_modules() if n.endswith("attn.c_attn")]
    if not found:
        raise ValueError(f"no value projection found in {type(model).__name__}")
    return found


@contextmanager
def capture_values(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Collect each layer's value vectors (B, T, d_v) during the forward passes inside the block."""
    values: list[torch.Tensor] = []
    handles = []
    for module, kind in value_modules(model):
        def hook(_mod, _inp, out, kind=kind):
            if kind == "c_attn":  # GPT-2: [q | k | v] along the last dim
                out = out.chunk(3, dim=-1)[2]
            values.append(out)

        handles.append(module.register_forward_hook(hook))
    try:
        yield values
    finally:
        for handle in handles:
            handle.remove()


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


def stepwise_from_layers(attentions: tuple[torch.Tensor, ...] | list[torch.Tensor], steps: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
    """A_l[a, b] = Σ_{i∈a, j∈b} I_l[i, j] (§3.2) for every layer, heads averaged: (B, L, N1, N2)."""
    per_layer = []
    for attn in attentions:  # (B, H, T, T)
        head_mean = attn.mean(dim=1)  # (B, T, T)
        per_layer.append(steps @ head_mean @ words.transpose(1, 2))  # (B, N1, T)(B, T, T)(B, T, N2)
    return torch.stack(per_layer, dim=1)
