"""The data behind the paper's layer figures: teacher layer weights p_t and column gradients G per
teacher layer (§3.3, App. E), and the students' learned router weights p_s, as one long CSV.

    who,model,pair,task,seed,layer,quantity,value
    teacher,llama3-8b,,math,,13,p_t,0.041          (mean over the task's examples; layer 1-based)
    teacher,llama3-8b,,math,,13,column_gradient,0.11
    student,gpt2-large,llama3-8b_gpt2-large,math,0,36,p_s,0.93   (last logged step of a MoL run)
"""

from __future__ import annotations

from pathlib import Path

from mold import paths
from mold.config import ExperimentConfig
from mold.methods import get_method
from mold.io import read_json, write_csv_atomic

COLUMNS = ("who", "model", "pair", "task", "seed", "layer", "quantity", "value")


def figure_file(cfg: ExperimentConfig) -> Path:
    return cfg.root / "figures" / "layer_weights.csv"


def teacher_rows(cfg: ExperimentConfig) -> list[dict]:
    rows, seen = [], set()
    for pair in cfg.pairs.values():
        if not any(get_method(m).needs_attention for m in pair.methods):
            continue
        for task in pair.tasks:
            index = paths.attention_index(cfg, pair.attention_teacher, pair.rationale_source, task)
            if index in seen:
                continue
            seen.add(index)
            summary = read_json(index)
            for quantity, key in (("p_t", "mean_teacher_layer_weights"), ("column_gradient", "mean_column_gradient")):
                for layer, value in enumerate(summary[key], start=1):
                    rows.append({"who": "teacher", "model": pair.attention_teacher, "pair": "", "task": task,
                                 "seed": "", "layer": layer, "quantity": quantity, "value": value})
    return rows


def student_rows(cfg: ExperimentConfig) -> list[dict]:
    rows = []
    for key, pair in cfg.pairs.items():
        for method in (m for m in pair.methods if get_method(m).uses_router):
            for task, seed in ((t, s) for t in pair.tasks for s in cfg.seeds):
                history = read_json(paths.train_log(cfg, key, task, method, seed))["history"]
                last = next((h for h in reversed(history) if any(k.startswith("p_s/") for k in h)), {})
                for name, value in sorted(((k, v) for k, v in last.items() if k.startswith("p_s/")), key=lambda kv: int(kv[0][4:])):
                    rows.append({"who": "student", "model": pair.student, "pair": key, "task": task, "seed": seed,
                                 "layer": int(name[4:]) + 1, "quantity": "p_s", "value": value})
    return rows


def write_layer_weights(cfg: ExperimentConfig) -> Path:
    out = figure_file(cfg)
    write_csv_atomic(out, COLUMNS, [*teacher_rows(cfg), *student_rows(cfg)])  # creates figures/ as needed
    return out


def top_layers(weights: dict[int, float], k: int = 3) -> list[int]:
    """The `k` layers with the largest weight, largest first (ties: lower layer first)."""
    return sorted(weights, key=lambda layer: (-weights[layer], layer))[:k]


def _mean_by_layer(rows: list[dict], quantity: str) -> dict[int, float]:
    by_layer: dict[int, list[float]] = {}
    for row in rows:
        if row["quantity"] == quantity:
            by_layer.setdefault(row["layer"], []).append(float(row["value"]))
    return {layer: sum(values) / len(values) for layer, values in by_layer.items()}


def top_layers_note(cfg: ExperimentConfig, pair: str) -> str:
    """Our own top-three layers (paper §4.5 picks SL layers as "the top three highest-weighted layers" of its
    Fig. 6): the teacher's by mean p_t, the student's by its MoL runs' last p_s, 1-based."""
    spec = cfg.pairs[pair]
    if not any(get_method(m).needs_attention for m in spec.methods):
        return ""
    teacher = [r for r in teacher_rows(cfg) if r["model"] == spec.attention_teacher and r["task"] in spec.tasks]
    student = [r for r in student_rows(cfg) if r["pair"] == pair]
    parts = [f"teacher {spec.attention_teacher} by mean p_t: {', '.join(map(str, top_layers(_mean_by_layer(teacher, 'p_t'))))}"]
    if student:
        parts.append(f"student {spec.student} by p_s: {', '.join(map(str, top_layers(_mean_by_layer(student, 'p_s'))))}")
    return "Our top three layers (1-based; the SL rows' layers are the paper's): " + "; ".join(parts) + "."
