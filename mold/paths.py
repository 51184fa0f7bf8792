"""Where every artefact lives. Plain functions of the config, used by the Snakefile and the CLI."""

from __future__ import annotations

from pathlib import Path

from mold.config import ExperimentConfig
from mold.methods import get_method


def dataset_file(cfg: ExperimentConfig, dataset: str) -> Path:
    return cfg.root / "data" / f"{dataset}.jsonl"


def fetch_record(cfg: ExperimentConfig, benchmark: str) -> Path:
    """Written by fetch_data once every file of `benchmark` is in the data folder with its pinned sha256."""
    return cfg.root / "data" / "sources" / f"{benchmark}.json"


def tokenizer_dir(cfg: ExperimentConfig, model: str) -> Path:
    return cfg.root / "tokenizers" / model


def fetched_model_record(cfg: ExperimentConfig, model: str) -> Path:
    """What `fetch_model` fetched (the weights themselves live in the model cache, outside results)."""
    return cfg.root / "models" / f"{model}.json"


def pretrained_teacher_dir(cfg: ExperimentConfig, model: str) -> Path:
    return cfg.root / "teachers" / model


def rationale_file(cfg: ExperimentConfig, source: str, task: str) -> Path:
    return cfg.root / "rationales" / source / f"{task}.jsonl"


def rationale_summary(cfg: ExperimentConfig, source: str, task: str) -> Path:
    return cfg.root / "rationales" / source / f"{task}.summary.json"


def attention_index(cfg: ExperimentConfig, teacher: str, source: str, task: str) -> Path:
    """Targets depend on the attention teacher, the rationale source and the task only, so
    pairs that share them (e.g. GPT2-Large and GPT2-Medium students) share one extraction."""
    return cfg.root / "attention" / teacher / source / f"{task}.index.json"


def pair_attention_index(cfg: ExperimentConfig, pair: str, task: str) -> Path:
    spec = cfg.pairs[pair]
    return attention_index(cfg, spec.attention_teacher, spec.rationale_source, task)


def run_dir(cfg: ExperimentConfig, pair: str, task: str, method: str, seed: int) -> Path:
    return cfg.root / "runs" / pair / task / get_method(method).slug / f"seed{seed}"


def final_model_dir(cfg: ExperimentConfig, pair: str, task: str, method: str, seed: int) -> Path:
    return run_dir(cfg, pair, task, method, seed) / "final"


def train_log(cfg: ExperimentConfig, pair: str, task: str, method: str, seed: int) -> Path:
    """Losses per logged step (history), data statistics and provenance of one distillation run."""
    return run_dir(cfg, pair, task, method, seed) / "train_log.json"


def eval_file(cfg: ExperimentConfig, pair: str, task: str, method: str, seed: int) -> Path:
    return cfg.root / "eval" / pair / task / get_method(method).slug / f"seed{seed}.json"


def eval_samples_file(cfg: ExperimentConfig, pair: str, task: str, method: str, seed: int) -> Path:
    """Every scored test item of one run, a line each (mold.evaluation.harness.save_eval)."""
    return eval_file(cfg, pair, task, method, seed).with_suffix(".samples.jsonl")


def table_files(cfg: ExperimentConfig, table: str) -> list[Path]:
    return [cfg.root / f"{table}.{ext}" for ext in ("md", "csv", "tex")]


def log_file(cfg: ExperimentConfig, *parts: str) -> Path:
    return cfg.root / "logs" / Path(*parts).with_suffix(".log")


def all_eval_files(cfg: ExperimentConfig) -> list[Path]:
    return [
        eval_file(cfg, pair_key, task, method, seed)
        for pair_key, pair in cfg.pairs.items()
        for task in pair.tasks
        for method in pair.methods
        for seed in cfg.seeds
    ]
