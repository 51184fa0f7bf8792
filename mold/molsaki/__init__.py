"""MoLSAKI's method: the maths (pure functions), the router, and the stepwise-attention paths.

The public API that outside tests call lives here (docs/paper-to-code.md):
`step_and_critical_groups`, `stepwise_attention`, `teacher_layer_weights`, `StudentMoL`,
`attention_loss`.
"""

from mold.molsaki.maths import (
    NUMBER_RE,
    STEP_END_RES,
    attention_count,
    attention_loss,
    column_gradient,
    find_critical_spans,
    group_matrix,
    mix_layers,
    split_steps,
    step_and_critical_groups,
    stepwise_attention,
    teacher_layer_weights,
)
from mold.molsaki.router import RMSNorm, StudentMoL, pooled_rms

__all__ = [
    "NUMBER_RE", "STEP_END_RES", "RMSNorm", "StudentMoL", "attention_count", "attention_loss", "column_gradient", "find_critical_spans",
    "group_matrix", "mix_layers", "pooled_rms", "split_steps", "step_and_critical_groups", "stepwise_attention",
    "teacher_layer_weights",
]
