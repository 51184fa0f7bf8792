"""The DAG's input/output functions, as plain Python the Snakefile calls (unit-tested)."""

from __future__ import annotations

from pathlib import Path

from mold import paths
from mold.config import ExperimentConfig, RealDatasetSpec
from mold.gpus import gpus_needed
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


def benchmarks(cfg: ExperimentConfig) -> list[str]:
    """Benchmarks whose pinned files the preset reads (rule fetch_data, one job each)."""
    return sorted({s.name for s in cfg.datasets.values() if isinstance(s, RealDatasetSpec) and s.source == "local"})


def dataset_inputs(cfg: ExperimentConfig, dataset: str) -> list[Path]:
    """What `prepare_data` reads besides the config: a built-in benchmark's fetched files (their fetch
    record), or a `kind: file` dataset's own file (so Snakemake reports it missing before any job, and
    reruns `prepare_data` when it changes); synthetic and hub datasets have none."""
    spec = cfg.datasets[dataset]
    if isinstance(spec, RealDatasetSpec) and spec.source == "local":
        return [paths.fetch_record(cfg, spec.name)]
    if spec.kind == "file":
        from mold.data.templated import dataset_path

        return [dataset_path(spec.path, cfg.resolved_data_dir())]
    return []


def model_gpus(cfg: ExperimentConfig, model: str) -> int:
    """GPUs a job holding `model` claims: none for the shipped PaLM rationales, enough cards of
    `gpu_memory_gb` for the weights of a hub model of known size, else one."""
    spec = cfg.models.get(model)
    if spec is None:
        return 0
    if spec.params_billion is None:
        return 1
    return gpus_needed(spec.params_billion, spec.dtype, cfg.gpu_memory_gb)


def model_inputs(cfg: ExperimentConfig, model: str) -> list[Path]:
    """What loading `model` needs: its trained tokenizer and, for tiny teachers, their weights; for a
    pretrained model (or one made from another's layers), the fetched weights."""
    spec = cfg.models[model]
    if spec.layers_from is not None:
        return model_inputs(cfg, spec.layers_from.source)
    if spec.gguf is not None or spec.hub_id is not None:
        return [paths.fetched_model_record(cfg, model)]
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


def evaluate_inputs(cfg: ExperimentConfig, pair: str, task: str, slug: str, seed: int) -> list[Path]:
    method = method_from_slug(cfg, pair, slug)
    tests = [paths.dataset_file(cfg, d) for d in cfg.tasks[task].tests]
    return [paths.train_log(cfg, pair, task, method, seed), *tests]


def final_targets(cfg: ExperimentConfig) -> list[Path]:
    """Table 1 always; Table 2 when a pair runs a method only Table 2 shows (the SL ablation); Table 3 when a
    pair is hybrid; each in every variant (evaluation mode x test-set family, mold.reporting.columns)."""
    from mold.reporting.columns import table_variants, tables_written
    from mold.reporting.figures import figure_file
    from mold.reporting.report import report_files

    stems = [variant.file_stem(t) for variant in table_variants(cfg) for t in tables_written(cfg)]
    return [*(f for stem in stems for f in paths.table_files(cfg, stem)), figure_file(cfg), *report_files(cfg)]
