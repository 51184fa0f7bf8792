"""The student's Mixture-of-Layers router `p_s` (paper §3.3, Eq. 5; docs/paper-to-code.md).

`h_l = sum over real tokens of RMSNorm(V_l)`, one learnable RMSNorm shared by all layers,
then `p_s = softmax(affine(H) / tau2)`. Plain autograd throughout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

RouterKind = Literal["layer_bias", "shared", "flat"]


class RMSNorm(nn.Module):
    """`x / sqrt(mean(x^2) + eps) * weight` over the last dimension, in float32 at least."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.promote_types(x.dtype, torch.float32))
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight


def pooled_rms(layers: Sequence[torch.Tensor], keep: torch.Tensor, norm: RMSNorm) -> torch.Tensor:
    """`h_l = Σ_i RMSNorm(V_l)[i]` over the real tokens `keep` `(B, N)`: L tensors `(B, N, d)` -> `(B, L, d)`."""
    # Eq. 5: h_l = sum_i RMSNorm(V_l)_i. Padding rows are zeroed by `where` (no NaN from their norm).
    stacked = torch.stack([norm(x) for x in layers], dim=1)  # (B, L, N, d), float32
    return torch.where(keep[:, None, :, None], stacked, 0.0).sum(dim=2)


class StudentMoL(nn.Module):
    """The student's learned layer router `p_s` (paper §3.3, Eq. 5).

    The paper prints the affine map as "softmax(W + b, tau2)"; `router` names the readings
    (docs/paper-to-code.md "Router"):

    - `"layer_bias"` [default]: one `d -> 1` map `w` applied to every `h_l`, plus a bias
      `b in R^L`, one per layer: logit_l = w . h_l + b_l, so a per-layer prior can be learned;
    - `"shared"`: the `d -> 1` affine map alone (its scalar bias shifts all logits
      equally, so softmax ignores it);
    - `"flat"`: one `L*d -> L` affine map on the concatenated `h_1..h_L`.

    The maps and biases start at zero (uniform weights) [choice]. Computes in float32.
    """

    def __init__(self, num_layers: int, dim: int, tau: float, router: RouterKind = "layer_bias", eps: float = 1e-6) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f"tau must be positive, got {tau}")
        if router not in ("layer_bias", "shared", "flat"):
            raise ValueError(f"router must be 'layer_bias', 'shared' or 'flat', got {router!r}")
        self.num_layers, self.dim, self.tau, self.router = num_layers, dim, tau, router
        self.norm = RMSNorm(dim, eps)
        if router == "flat":
            self.proj = nn.Linear(num_layers * dim, num_layers)
        else:  # the per-layer bias replaces the scalar one, which softmax would ignore
            self.proj = nn.Linear(dim, 1, bias=router == "shared")
        self.layer_bias = nn.Parameter(torch.zeros(num_layers)) if router == "layer_bias" else None
        # [choice] the paper gives no initialisation: start from a uniform mixture of layers
        nn.init.zeros_(self.proj.weight)
        if self.proj.bias is not None:
            nn.init.zeros_(self.proj.bias)

    def forward(self, values: torch.Tensor | Sequence[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """`values` `(B, L, N, d)` (or the L layers' `(B, N, d)` tensors), `mask` `(B, N)` (1/True = real token)
        -> weights `(B, L)`."""
        layers = values.unbind(1) if isinstance(values, torch.Tensor) else list(values)
        pooled = pooled_rms(layers, mask.bool(), self.norm)  # (B, L, d)
        batch, num_layers, dim = pooled.shape
        if self.router == "flat":
            logits = self.proj(pooled.reshape(batch, num_layers * dim))  # (B, L*d) -> (B, L)
        else:
            logits = self.proj(pooled).squeeze(-1)  # (B, L, d) -> (B, L, 1) -> (B, L)
        if self.layer_bias is not None:
            logits = logits + self.layer_bias  # b in R^L, broadcast over the batch
        return torch.softmax(logits.float() / self.tau, dim=-1)  # Eq. 5: p_s = softmax((H w + b) / tau2)
