"""The DAG's input/output functions, as plain Python the Snakefile calls (unit-tested)."""

from __future__ import annotations

from pathlib import Path

from mold import paths
from mold.config import ExperimentConfig
from mold.methods import get_method


def method_from_slug(cfg: ExperimentConfig, pair: str, slug: str) -> str:
    for method in cfg.pairs[pair].methods:
        if get_method(method).slug == slug:
            return method
    raise KeyError(f"pair {pair} has no method with slug {slug!r}")


def tokenizer_file(cfg: ExperimentConfig, model: str) -> Path:
    return paths.tokenizer_dir(cfg, model) / "tokenizer.json"


def teacher_marker(cfg: ExperimentConfig, model: str) -> Path:
    return paths.pretrained_teacher_dir(cfg, model) / "train_log.json"


def train_datasets(cfg: ExperimentConfig) -> list[Path]:
    return sorted({paths.dataset_file(cfg, t.train) for t in cfg.tasks.values()})


def model_inputs(cfg: ExperimentConfig, model: str) -> list[Path]:
    """What loading `model` needs: its trained tokenizer and, for tiny teachers, their weights."""
    spec = cfg.models[model]
    needs: list[Path] = []
    if spec.tiny is not None:
        needs.append(tokenizer_file(cfg, model))
    if spec.pretrain is not None:
        needs.append(teacher_marker(cfg, model))
    return needs


def rationale_inputs(cfg: ExperimentConfig, source: str, task: str) -> list[Path]:
    train = paths.dataset_file(cfg, cfg.tasks[task].train)
    return [train] if source == "palm" else [train, *model_inputs(cfg, source)]


def attention_inputs(cfg: ExperimentConfig, teacher: str, source: str, task: str) -> list[Path]:
    return [paths.rationale_file(cfg, source, task), *model_inputs(cfg, teacher)]


def distill_inputs(cfg: ExperimentConfig, pair: str, task: str, slug: str) -> list[Path]:
    spec = cfg.pairs[pair]
    method = method_from_slug(cfg, pair, slug)
    needs = [paths.dataset_file(cfg, cfg.tasks[task].train), *model_inputs(cfg, spec.student)]
    if get_method(method).needs_rationales:
        needs.append(paths.rationale_file(cfg, spec.rationale_source, task))
    if get_method(method).needs_attention:
        needs.append(paths.pair_attention_index(cfg, pair, task))
    return needs


def train_log(cfg: ExperimentConfig, pair: str, task: str, method: str, seed: int) -> Path:
    return paths.run_dir(cfg, pair, task, method, seed) / "train_log.json"


def evaluate_inputs(cfg: ExperimentConfig, pair: str, task: str, slug: str, seed: int) -> list[Path]:
    method = method_from_slug(cfg, pair, slug)
    tests = [paths.dataset_file(cfg, d) for d in cfg.tasks[task].tests]
    return [train_log(cfg, pair, task, method, seed), *tests]


def final_targets(cfg: ExperimentConfig) -> list[Path]:
    """Table 1 always; Table 2 when a pair runs a method only Table 2 shows (the SL ablation); Table 3 when a
    pair is hybrid; each in every variant (evaluation mode x test-set family, mold.reporting.columns)."""
    tables = [1]
    if any(get_method(m).tables == {2} for p in cfg.pairs.values() for m in p.methods):
        tables.append(2)
    if any(p.setting == "hybrid" for p in cfg.pairs.values()):
        tables.append(3)
    from mold.reporting.columns import table_variants
    from mold.reporting.figures import figure_file

    stems = [variant.file_stem(t) for variant in table_variants(cfg) for t in tables]
    return [*(f for stem in stems for f in paths.table_files(cfg, stem)), figure_file(cfg)]
