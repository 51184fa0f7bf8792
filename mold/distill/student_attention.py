"""The student's side of L_att: value vectors and attention maps from the explain pass itself.

Router input (SPEC §5: Σ_i x_i / rms(x_i) over each layer's value vectors x_i, `rms_sums`): with the
efficient attention path, pooled from the value tensors the attention function itself receives; with
eager attention, from forward hooks on each layer's value projection (`v_proj` for Llama/Qwen2, the
value third of GPT-2's fused `c_attn`). Attention maps come from the same forward, so no extra pass is run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import nn

from mold.molsaki import RouterPooling, layer_rms_sums


def value_modules(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """(module, kind) per layer, in layer order: kind 'v_proj' or 'c_attn' (fused q, k, v)."""
    found = [(m, "v_proj") for n, m in model.named_modules() if n.endswith("self_attn.v_proj")]
    if not found:
        found = [(m, "c_attn") for n, m in model.named_modules() if n.endswith("attn.c_attn")]
    if not found:
        raise ValueError(f"no value projection found in {type(model).__name__}")
    return found


@contextmanager
def capture_values(model: nn.Module, values: list) -> Iterator[list[torch.Tensor]]:
    """Append each layer's value vectors (B, T, d_v) to `values` during the forward passes inside the block."""
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


def attention_modules(model: nn.Module) -> list[nn.Module]:
    """Each layer's attention module, in layer order (LlamaAttention, Qwen2Attention, GPT2Attention)."""
    found = [m for _, m in model.named_modules() if type(m).__name__.endswith("Attention")]
    if not found:
        raise ValueError(f"no attention modules found in {type(model).__name__}")
    return found


@contextmanager
def capture_stepwise(model: nn.Module, steps: torch.Tensor, words: torch.Tensor) -> Iterator[list[torch.Tensor]]:
    """Reduce each layer's attention probabilities to A_l (B, N1, N2) as the layer runs (§3.2).

    `steps` (B, N1, T) and `words` (B, N2, T) are 0/1 membership matrices. The hook drops
    the (B, H, T, T) map from the layer's output right away, so a no-grad pass never holds
    more than one layer's map; with grad, autograd keeps what backward needs.
    Needs eager attention (the only implementation that materialises the probabilities).
    """
    maps: list[torch.Tensor] = []
    handles = []

    def hook(_mod, _inp, out):
        attn_output, probs = out[0], out[1]
        if probs is None:
            raise RuntimeError("attention probabilities not returned: load the model with attn_implementation='eager'")
        head_mean = probs.mean(dim=1).to(steps.dtype)  # (B, H, T, T) -> (B, T, T)
        maps.append(steps @ head_mean @ words.transpose(1, 2))  # (B, N1, T)(B, T, T)(B, T, N2)
        return (attn_output, None, *out[2:])

    for module in attention_modules(model):
        handles.append(module.register_forward_hook(hook))
    try:
        yield maps
    finally:
        for handle in handles:
            handle.remove()


def attention_implementation(kind: str) -> str:
    """The transformers attention implementation behind a `loss.attention_impl` setting."""
    if kind == "eager":
        return "eager"
    from mold.stepwise_kernel import register

    return register()


@contextmanager
def stepwise_maps(model: nn.Module, steps: torch.Tensor, words: torch.Tensor,
                  pooling: RouterPooling | None = None) -> Iterator[list[torch.Tensor]]:
    """Collect A_l (B, N1, N2) per layer from the next forward, by whichever path the model was loaded
    with; with `pooling`, each layer's router input (`rms_sums` of its value vectors) goes to `pooling.sums`."""
    from mold.stepwise_kernel import IMPLEMENTATION, collect_stepwise

    if model.config._attn_implementation == IMPLEMENTATION:
        with collect_stepwise(steps, words, pooling) as maps:
            yield maps
        return
    values: list[torch.Tensor] = []
    with capture_values(model, values) if pooling is not None else nullcontext(), \
            capture_stepwise(model, steps, words) as maps:
        yield maps
    if pooling is not None:
        pooling.sums.extend(layer_rms_sums(values, pooling.keep, pooling.eps).unbind(1))
