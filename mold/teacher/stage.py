"""Teacher stage drivers: pretrain a tiny teacher (offline presets), generate rationales."""

from __future__ import annotations

import torch

from mold import paths
from mold.config import ExperimentConfig
from mold.data.schema import Example
from mold.console import log
from mold.io import atomic_dir, write_json_atomic, write_jsonl_atomic
from mold.models.factory import build_tiny_model, default_device, load_pretrained
from mold.models.tokenizers import load_tokenizer
from mold.prepare import read_prepared
from mold.provenance import provenance
from mold.teacher import pretrain
from mold.teacher.generate import TeacherOutcome, run_teacher
from mold.teacher.prompts import PROMPT_VERSION, exemplars_for
from mold.train_loop import clear_checkpoints, train


def _tasks_taught_by(cfg: ExperimentConfig, model: str) -> list[str]:
    return sorted({t for p in cfg.pairs.values() if p.rationale_source == model for t in p.tasks})


def pretrain_teacher(cfg: ExperimentConfig, model: str) -> None:
    spec = cfg.models[model]
    if spec.pretrain is None:
        raise ValueError(f"models.{model} has no pretrain section")
    tokenizer = load_tokenizer(spec, paths.tokenizer_dir(cfg, model))
    teacher = build_tiny_model(spec, tokenizer, seed=spec.pretrain.seed).to(default_device())
    corpora = [pretrain.TeacherCorpus(cfg.tasks[t].answer_kind, _pretraining_examples(cfg, t, spec.pretrain.rationales))
               for t in _tasks_taught_by(cfg, model)]
    training = pretrain.pretrain_spec_as_training(spec.pretrain)
    out_dir = paths.pretrained_teacher_dir(cfg, model)
    work_dir = out_dir.with_name(out_dir.name + ".work")
    history = train(teacher, training, work_dir, spec.pretrain.seed,
                    pretrain.make_batch_fn(corpora, tokenizer, spec.pretrain, cfg.generation, training.max_length),
                    pretrain.make_loss_fn(teacher), description=f"pretrain teacher {model}")
    with atomic_dir(out_dir) as tmp:
        teacher.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        write_json_atomic(tmp / "train_log.json", {"history": history, "provenance": provenance(cfg, seed=spec.pretrain.seed)})
    clear_checkpoints(work_dir)


def _pretraining_examples(cfg: ExperimentConfig, task_key: str, rationales: str) -> list[Example]:
    """The task's prepared train examples, with gold rationales or with PaLM's (kept ones only)."""
    task = cfg.tasks[task_key]
    examples = read_prepared(cfg, task.train)
    if rationales == "gold":
        return examples
    from mold.data.palm import derive_keywords, load_palm_rationales

    spec = cfg.datasets[task.train]
    if getattr(spec, "name", None) not in ("svamp", "csqa"):
        raise ValueError(f"tasks.{task_key}: PaLM rationales exist for real svamp / csqa train sets, not {task.train!r}")
    records, _ = load_palm_rationales(spec.name, spec.split, cfg.resolved_data_dir(), ids={e.id for e in examples})
    rationale_of = {r.id: r.rationale for r in records}
    joined = []
    for example in examples:
        rationale = rationale_of.get(example.id)
        if rationale is None:  # PaLM got it wrong: no rationale to learn from
            continue
        keywords = derive_keywords(example.question, rationale, cfg.generation.num_keywords) if task.answer_kind == "choice" else None
        joined.append(example.model_copy(update={"rationale": rationale, "keywords": keywords}))
    return joined


def load_teacher(cfg: ExperimentConfig, model: str, attn_implementation: str = "sdpa"):
    """A teacher model and tokenizer: the pretrained tiny one, or the hub checkpoint."""
    spec = cfg.models[model]
    if spec.tiny is not None:
        local = paths.pretrained_teacher_dir(cfg, model) if spec.pretrain else None
        tokenizer = load_tokenizer(spec, paths.tokenizer_dir(cfg, model))
        teacher = (load_pretrained(spec, local, attn_implementation) if local
                   else build_tiny_model(spec, tokenizer, seed=0, attn_implementation=attn_implementation))
    else:
        tokenizer = load_tokenizer(spec)
        teacher = load_pretrained(spec, attn_implementation=attn_implementation)
    if spec.device_map != "auto":
        teacher = teacher.to(default_device())
    return teacher, tokenizer


def generate_rationales(cfg: ExperimentConfig, source: str, task_key: str) -> dict:
    task = cfg.tasks[task_key]
    examples = read_prepared(cfg, task.train)
    if source == "palm":
        outcome, total = _palm_outcome(cfg, task.train, examples), len(examples)
    else:
        torch.manual_seed(0)
        teacher, tokenizer = load_teacher(cfg, source)
        exemplars = exemplars_for(examples, task.answer_kind, cfg.generation.few_shot)
        outcome = run_teacher(teacher, tokenizer, examples, exemplars, task.answer_kind, cfg.generation, source,
                              cfg.evaluation.tolerance)
        total = len(examples)
    out = paths.rationale_file(cfg, source, task_key)
    write_jsonl_atomic(out.with_suffix(".dropped.jsonl"), outcome.dropped)
    write_jsonl_atomic(out, outcome.kept)
    summary = outcome.summary(total)
    inputs = [paths.dataset_file(cfg, task.train), out]
    write_json_atomic(paths.rationale_summary(cfg, source, task_key),
                      {**summary, "prompt_version": PROMPT_VERSION, "provenance": provenance(cfg, inputs, source=source, task=task_key)})
    log(f"rationales {source}/{task_key}: kept {summary['kept']}/{total}, dropped {summary['dropped_by_reason']}")
    return summary


def _palm_outcome(cfg: ExperimentConfig, train_dataset: str, examples: list[Example]) -> TeacherOutcome:
    """Hybrid setting (Table 3): PaLM-540B rationales shipped with the DSS data, for the prepared examples."""
    from mold.data.palm import load_palm_rationales

    spec = cfg.datasets[train_dataset]
    records, failures = load_palm_rationales(spec.name, spec.split, cfg.resolved_data_dir(), ids={e.id for e in examples})
    dropped = [{"id": None, "phase": 0, "reason": reason, "detail": "", "reply": "", "final": True}
               for reason, count in failures.items() for _ in range(count)]
    return TeacherOutcome(kept=records, dropped=dropped)
