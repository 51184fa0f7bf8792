"""The student's explain pass with L_att (paper §3.3, Eq. 6): the MoL router or a fixed single layer."""

from __future__ import annotations

import torch

from mold.config import LossSpec
from mold.methods import Method, resolve_layer
from mold.molsaki import StudentMoL, attention_loss, mix_layers
from mold.molsaki.attention import stepwise_maps
from mold.training.batching import forward_logits


def build_router(student, spec: LossSpec) -> StudentMoL:
    """The learned router over the student's layers; input = value vectors (KV heads concatenated)."""
    config = student.config
    num_layers = config.num_hidden_layers
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return StudentMoL(num_layers, heads * head_dim, spec.tau2, router=spec.router)


def explain_with_attention(student, batch, method: Method, router: StudentMoL | None, reduction: str = "mean"):
    """One explain forward: logits for L_exp, plus L_att from its own attention maps and value vectors."""
    explain, att = batch.explain, batch.attention
    if att is None:  # no example of this batch has critical words: plain pass, L_att = 0
        logits = forward_logits(student, explain)
        return logits, logits.sum() * 0.0, {}
    values: list[torch.Tensor] | None = [] if method.uses_router else None
    with stepwise_maps(student, att["steps"], att["words"], values) as maps:
        logits = forward_logits(student, explain)
    A_layers = torch.stack(maps, dim=1)  # (B, L2, N1, N2)
    metrics: dict[str, float] = {}
    if method.single_layer is not None:
        A_s = A_layers[:, resolve_layer(method.single_layer[1], A_layers.shape[1])]
    else:
        p_s = router(values, explain.attention_mask)  # (B, L2)
        A_s = mix_layers(A_layers, p_s)
        kept, weights = att["has"], p_s.detach()  # metrics only: no graph
        mean_p_s = weights[kept].mean(0) if kept.any() else weights.mean(0)
        metrics = {f"p_s/{layer}": w for layer, w in enumerate(mean_p_s.tolist())}
    loss = attention_loss(att["targets"], A_s, att["step_mask"], att["word_mask"], reduction)
    return logits, loss, metrics
