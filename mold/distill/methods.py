"""The method registry (SPEC §6): one explicit dict of what each method's loss uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mold.config import SL_METHOD_RE

Kind = Literal["vanilla", "dss", "mmi", "molsaki", "sl"]


@dataclass(frozen=True)
class Method:
    name: str
    kind: Kind
    display: str
    uses_rationales: bool
    uses_attention: bool
    teacher_layer: str | None = None  # SL ablation: fixed teacher layer ('last' or index)
    student_layer: str | None = None  # SL ablation: fixed student layer


METHODS: dict[str, Method] = {
    "vanilla": Method("vanilla", "vanilla", "Vanilla", uses_rationales=False, uses_attention=False),  # L_pre only
    "dss": Method("dss", "dss", "DSS", uses_rationales=True, uses_attention=False),  # a·L_pre + (1-a)·L_exp
    "mmi": Method("mmi", "mmi", "MMIloss", uses_rationales=True, uses_attention=False),  # DSS + b·L_MMI
    "molsaki": Method("molsaki", "molsaki", "MoLSAKI", uses_rationales=True, uses_attention=True),  # DSS + b·L_att, MoL
}


def get_method(name: str) -> Method:
    """Look a method up; `sl:<t>-><s>` names a single-layer map (paper Table 2)."""
    if name in METHODS:
        return METHODS[name]
    match = SL_METHOD_RE.match(name)
    if match is None:
        raise KeyError(f"unknown method {name!r}")
    teacher_layer, student_layer = match.groups()
    return Method(name, "sl", f"SL {teacher_layer}→{student_layer}", uses_rationales=True, uses_attention=True,
                  teacher_layer=teacher_layer, student_layer=student_layer)


def resolve_layer(layer: str, num_layers: int) -> int:
    """'last' or a 1-based layer number (as the paper counts) -> a 0-based index."""
    index = num_layers - 1 if layer == "last" else int(layer) - 1
    if not 0 <= index < num_layers:
        raise ValueError(f"layer {layer} out of range for a model with {num_layers} layers")
    return index
