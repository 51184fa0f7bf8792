"""The method registry: the one place that says what a distillation method is (docs/adding-a-method.md).

A method is its name, its table label, the loss terms it needs and how it composes them
(paper Eq. 1, Eq. 7). The training code computes exactly the terms a method lists:

- `pre`: L_pre, cross-entropy of the answer (the `predict:` sequence);
- `exp`: L_exp, cross-entropy of the rationale (the `explain:` sequence) -> needs rationales;
- `mmi`: L_MMI of MMIloss (docs/baselines.md);
- `att`: L_att, stepwise attention on critical words (Eq. 6) -> needs teacher attention targets.

Config validation, paths, DAG planning, tables and figures ask this module; nothing else
matches method names. `sl:<t>-><s>` names the single-layer ablation family (paper Table 2).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the registry is read when Snakemake parses: no torch import here
    import torch

TERMS = ("pre", "exp", "mmi", "att")
SL_METHOD_RE = re.compile(r"^sl:(last|\d+)->(last|\d+)$")

Compose = Callable[[Mapping[str, "torch.Tensor"], object], "torch.Tensor"]  # (terms, LossSpec) -> loss


@dataclass(frozen=True)
class Method:
    name: str
    label: str  # shown in tables
    terms: frozenset[str]  # which of TERMS the training computes
    compose: Compose  # the loss from those terms and the config's `loss` section
    tables: frozenset[int] = frozenset({1})  # paper tables that show it (1, 2, 3)
    paper_name: str | None = None  # its method name in mold/reporting/paper_numbers.csv, if not `name`
    single_layer: tuple[str, str] | None = None  # L_att on fixed (teacher, student) layers instead of the MoL mixture

    def __post_init__(self) -> None:
        unknown = set(self.terms) - set(TERMS)
        if unknown or "pre" not in self.terms:
            raise ValueError(f"method {self.name}: terms must include 'pre' and come from {TERMS}, got {sorted(self.terms)}")

    @property
    def needs_rationales(self) -> bool:
        return "exp" in self.terms

    @property
    def needs_attention(self) -> bool:
        return "att" in self.terms

    @property
    def uses_router(self) -> bool:
        """MoLSAKI's learned Mixture-of-Layers router (§3.3) serves L_att unless a single layer is fixed."""
        return self.needs_attention and self.single_layer is None

    @property
    def slug(self) -> str:
        """A file-safe name: 'sl:13->8' -> 'sl_13-8'."""
        return self.name.replace(":", "_").replace("->", "-")


def _dss(t, spec) -> torch.Tensor:
    """Distilling step-by-step, Eq. 1 (`mold.training.losses.dss_loss`, imported here: the registry loads without torch)."""
    from mold.training.losses import dss_loss

    return dss_loss(t["pre"], t["exp"], spec.alpha)


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add a method to the registry (the one step a new method needs besides its loss term)."""
    if method.name in METHODS or SL_METHOD_RE.match(method.name):
        raise ValueError(f"method {method.name!r} is already defined")
    METHODS[method.name] = method
    return method


register(Method("vanilla", "Vanilla", frozenset({"pre"}), lambda t, spec: t["pre"]))
register(Method("dss", "DSS", frozenset({"pre", "exp"}), _dss, tables=frozenset({1, 2, 3})))
register(Method("mmi", "MMIloss", frozenset({"pre", "exp", "mmi"}),
                lambda t, spec: _dss(t, spec) + spec.mmi_beta * t["mmi"], tables=frozenset({1, 2, 3})))
register(Method("molsaki", "MoLSAKI", frozenset({"pre", "exp", "att"}),
                lambda t, spec: _dss(t, spec) + spec.molsaki_beta * t["att"],  # Eq. 7
                tables=frozenset({1, 2, 3}), paper_name="mol"))


def single_layer_method(name: str, teacher_layer: str, student_layer: str) -> Method:
    """SL ablation (paper Table 2): MoLSAKI's loss on one fixed teacher layer and one fixed student layer."""
    molsaki = METHODS["molsaki"]
    return Method(name, f"SL {teacher_layer}→{student_layer}", molsaki.terms, molsaki.compose,
                  tables=frozenset({2}), single_layer=(teacher_layer, student_layer))


def get_method(name: str) -> Method:
    """Look a method up; `sl:<t>-><s>` names a single-layer map. Unknown names raise KeyError with the choices."""
    if name in METHODS:
        return METHODS[name]
    match = SL_METHOD_RE.match(name)
    if match is None:
        raise KeyError(f"unknown method {name!r} (known: {', '.join(METHODS)}, sl:<t>-><s>)")
    return single_layer_method(name, *match.groups())


def table_order(names: list[str]) -> list[str]:
    """Methods in the registry's order, single-layer ones after the methods registered before MoLSAKI."""
    def rank(name: str) -> tuple[int, str]:
        keys = list(METHODS)
        if name in METHODS:
            return (keys.index(name) * 2, "")
        return (keys.index("molsaki") * 2 - 1, name)
    return sorted(names, key=rank)


def paper_names() -> dict[str, str]:
    """The paper's method names (in mold/reporting/paper_numbers.csv) that differ from ours: its 'mol' is 'molsaki'."""
    return {m.paper_name: m.name for m in METHODS.values() if m.paper_name}


def resolve_layer(layer: str, num_layers: int) -> int:
    """'last' or a 1-based layer number (as the paper counts) -> a 0-based index."""
    index = num_layers - 1 if layer == "last" else int(layer) - 1
    if not 0 <= index < num_layers:
        raise ValueError(f"layer {layer} out of range for a model with {num_layers} layers")
    return index
